//! Environment variables as a value, so that resolution never reads the
//! process environment itself and tests can hand in any environment.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use super::ConfigError;

/// A snapshot of environment variables.
///
/// Build one from the process with [`Environment::from_process`], or from
/// pairs for tests: `Environment::from_iter([("AWS_PROFILE", "dev")])`.
/// `Debug` prints the variable names only, never their values.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Environment {
    vars: BTreeMap<String, String>,
}

/// Variable names are case-insensitive on Windows, as the OS treats them.
fn normalize(name: &str) -> String {
    if cfg!(windows) {
        name.to_ascii_uppercase()
    } else {
        name.to_owned()
    }
}

impl Environment {
    /// The process's variables, read once. Variables whose name or value is
    /// not valid Unicode are left out.
    pub fn from_process() -> Environment {
        std::env::vars_os()
            .filter_map(|(name, value)| Some((name.into_string().ok()?, value.into_string().ok()?)))
            .collect()
    }

    /// The value of `name`, if set (possibly empty).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars.get(&normalize(name)).map(String::as_str)
    }

    /// Where the AWS config file is: `AWS_CONFIG_FILE` if set and not empty,
    /// with `$NAME` / `${NAME}` replaced by variables of this environment
    /// (unknown names stay as written) and then a leading `~` by the home
    /// directory, as botocore does; else `.aws/config` in the home directory.
    ///
    /// The home directory is `HOME` (on Windows `USERPROFILE`, then
    /// `HOMEDRIVE` + `HOMEPATH`); an empty value counts as unset. Unlike
    /// Python, `~user` is not expanded and `%NAME%` is not replaced on
    /// Windows. The path may name a file that does not exist:
    /// [`ConfigFile::load`](super::ConfigFile::load) reads that as empty.
    pub fn config_file_path(&self) -> Result<PathBuf, ConfigError> {
        match self.get("AWS_CONFIG_FILE").filter(|path| !path.is_empty()) {
            Some(path) => self.expand_home(&self.expand_variables(path)),
            None => Ok(PathBuf::from(self.home()?).join(".aws").join("config")),
        }
    }

    fn home(&self) -> Result<String, ConfigError> {
        let set = |name| self.get(name).filter(|value| !value.is_empty());
        let home = if cfg!(windows) {
            set("USERPROFILE")
                .map(str::to_owned)
                .or_else(|| Some(format!("{}{}", set("HOMEDRIVE")?, set("HOMEPATH")?)))
        } else {
            set("HOME").map(str::to_owned)
        };
        home.ok_or(ConfigError::NoHomeDirectory)
    }

    /// Python's `os.path.expandvars`: `$NAME` (letters, digits, `_`) and
    /// `${NAME}`; a name that is not set is left as written.
    fn expand_variables(&self, path: &str) -> String {
        let mut out = String::with_capacity(path.len());
        let mut rest = path;
        while let Some((before, after)) = rest.split_once('$') {
            out.push_str(before);
            if let Some((name, tail)) = after.strip_prefix('{').and_then(|a| a.split_once('}')) {
                match self.get(name) {
                    Some(value) => out.push_str(value),
                    None => {
                        out.push_str("${");
                        out.push_str(name);
                        out.push('}');
                    }
                }
                rest = tail;
                continue;
            }
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            let (name, tail) = after.split_at(end);
            match self.get(name).filter(|_| !name.is_empty()) {
                Some(value) => out.push_str(value),
                None => {
                    out.push('$');
                    out.push_str(name);
                }
            }
            rest = tail;
        }
        out.push_str(rest);
        out
    }

    /// Python's `os.path.expanduser` for `~` and `~/…` only.
    fn expand_home(&self, path: &str) -> Result<PathBuf, ConfigError> {
        let is_separator = |c: char| c == '/' || (cfg!(windows) && c == '\\');
        match path.strip_prefix('~') {
            Some(rest) if rest.is_empty() || rest.starts_with(is_separator) => {
                let home = self.home()?;
                let joined = format!("{}{rest}", home.trim_end_matches(is_separator));
                Ok(PathBuf::from(if joined.is_empty() { "/" } else { &joined }))
            }
            _ => Ok(PathBuf::from(path)),
        }
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Environment {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(pairs: I) -> Environment {
        let vars = pairs
            .into_iter()
            .map(|(name, value)| (normalize(&name.into()), value.into()))
            .collect();
        Environment { vars }
    }
}

impl fmt::Debug for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Values can be secrets (AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN).
        f.debug_struct("Environment")
            .field("names", &self.vars.keys().collect::<Vec<_>>())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Environment {
        pairs.iter().copied().collect()
    }

    #[test]
    fn default_path_is_in_home() {
        let e = env(&[("HOME", "/home/me")]);
        assert_eq!(
            e.config_file_path().unwrap(),
            PathBuf::from("/home/me/.aws/config")
        );
        let e = env(&[("HOME", "/home/me"), ("AWS_CONFIG_FILE", "")]);
        assert_eq!(
            e.config_file_path().unwrap(),
            PathBuf::from("/home/me/.aws/config")
        );
    }

    #[test]
    fn no_home_is_an_error_only_when_needed() {
        assert!(matches!(
            env(&[]).config_file_path(),
            Err(ConfigError::NoHomeDirectory)
        ));
        assert!(matches!(
            env(&[("HOME", "")]).config_file_path(),
            Err(ConfigError::NoHomeDirectory)
        ));
        assert!(matches!(
            env(&[("AWS_CONFIG_FILE", "~/x")]).config_file_path(),
            Err(ConfigError::NoHomeDirectory)
        ));
        assert_eq!(
            env(&[("AWS_CONFIG_FILE", "/etc/aws")])
                .config_file_path()
                .unwrap(),
            PathBuf::from("/etc/aws")
        );
    }

    #[test]
    fn aws_config_file_expands_variables_then_tilde() {
        let e = env(&[
            ("HOME", "/home/me/"),
            ("DIR", "cfg"),
            ("AWS_CONFIG_FILE", "~/$DIR/${DIR}_x/$NOPE/${NOPE}/$/a$"),
        ]);
        assert_eq!(
            e.config_file_path().unwrap(),
            PathBuf::from("/home/me/cfg/cfg_x/$NOPE/${NOPE}/$/a$")
        );
        let e = env(&[("HOME", "/h"), ("AWS_CONFIG_FILE", "~")]);
        assert_eq!(e.config_file_path().unwrap(), PathBuf::from("/h"));
        // A variable may itself start with `~`: expansion of variables comes first.
        let e = env(&[("HOME", "/h"), ("T", "~/t"), ("AWS_CONFIG_FILE", "$T")]);
        assert_eq!(e.config_file_path().unwrap(), PathBuf::from("/h/t"));
        // `~user` and a `~` further in are left alone.
        let e = env(&[("HOME", "/h"), ("AWS_CONFIG_FILE", "~bob/c")]);
        assert_eq!(e.config_file_path().unwrap(), PathBuf::from("~bob/c"));
        let e = env(&[("HOME", "/h"), ("AWS_CONFIG_FILE", "a/~/c")]);
        assert_eq!(e.config_file_path().unwrap(), PathBuf::from("a/~/c"));
        // `${` without `}` and `${}` stay as written.
        let e = env(&[("AWS_CONFIG_FILE", "/a/${x/${}")]);
        assert_eq!(e.config_file_path().unwrap(), PathBuf::from("/a/${x/${}"));
    }

    #[test]
    fn debug_hides_values() {
        let e = env(&[("AWS_SECRET_ACCESS_KEY", "hunter2")]);
        let shown = format!("{e:?}");
        assert!(shown.contains("AWS_SECRET_ACCESS_KEY"));
        assert!(!shown.contains("hunter2"));
    }
}
