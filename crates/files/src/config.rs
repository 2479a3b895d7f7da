//! The AWS config file (`~/.aws/config`), read as botocore reads it, and
//! resolved to what a sign-in and role credentials need (`aws-cli-compat.md`
//! §2, §3, §8, §12; `wire-protocol.md` §10.4; `portal-api.md` §3.4, §9.2).
//!
//! Three steps, each a value you can inspect:
//! 1. [`ConfigFile::load`] (or [`ConfigFile::parse`]) reads the file into
//!    profiles, sso-sessions and services sections;
//! 2. [`ConfigFile::sso_settings`] picks a profile or sso-session with a
//!    [`Selector`] and returns the start URL, region and scopes
//!    ([`SsoSettings`]); [`ConfigFile::role_settings`] does the same for a
//!    profile that gives role credentials and adds its account and role
//!    ([`RoleSettings`]);
//! 3. [`ConfigFile::oidc_endpoint`] decides where SSO OIDC requests go and
//!    [`ConfigFile::portal_endpoint`] where SSO portal requests go
//!    ([`EndpointChoice`]), and [`EndpointChoice::to_endpoint`] validates it
//!    into an [`ssoflow_core::Endpoint`].
//!
//! Nothing here reads the process environment behind your back: variables come
//! in as an [`Environment`], which [`Environment::from_process`] fills from the
//! process and tests build from pairs. [`Environment::config_file_path`] says
//! where the file is.
//!
//! # The dialect
//!
//! Python's `configparser.RawConfigParser` with its defaults, as botocore uses
//! it, reproduced rule for rule:
//! * `[section]` headers (case-sensitive; the header runs to the last `]` on
//!   the line); `name = value` or `name: value`, split at the first `=` or
//!   `:`; names are lower-cased; names and values are stripped;
//! * comments are whole lines starting with `#` or `;` (indented or not);
//!   there are **no inline comments**: `sso_region = us-east-1 # x` is
//!   `us-east-1 # x`;
//! * a line indented deeper than the setting it follows continues that
//!   setting's value; the lines are joined with `\n` and blank lines inside
//!   are kept. If the setting's own line has nothing after the `=`, the
//!   indented lines are a block of `key = value` lines ([`Value::Nested`]),
//!   like the `sso_oidc =` block of a `[services NAME]` section. As in
//!   botocore, keys inside a block keep their case and are split at `=` only;
//!   otherwise the value is text with embedded line breaks ([`Value::Text`]);
//! * `[DEFAULT]` is special: every other section inherits its settings;
//! * `[default]` is the profile `default`; a header that starts with `profile`,
//!   `sso-session` or `services` is split into words with POSIX shell rules
//!   (`[profile 'my dev']`, `[profile "my dev"]` and `[profile my\ dev]` all
//!   name `my dev`) and must have exactly two words; botocore silently ignores
//!   a section that does not, and so do we, but we list it in
//!   [`ConfigFile::ignored_sections`] so you can warn. Other sections
//!   (`[plugins]`, …) are not kept;
//! * two sections that end up with the same name (`[default]` and
//!   `[profile default]`, or `[profile a]` and `[profile 'a']`): the later one
//!   in the file wins whole, as botocore's dictionary update does; the earlier
//!   one is listed as ignored;
//! * errors, as in botocore, where Python refuses the whole file: a repeated
//!   header or a repeated setting within a section (`strict` mode, Python's
//!   default), text before the first header, a line that is none of the
//!   above, a setting without a name, a block line without `=`, bytes that
//!   are not UTF-8, and a byte-order mark.
//!
//! # Example
//!
//! ```
//! use ssoflow_files::config::{ConfigFile, Environment, Selector};
//!
//! let text = "\
//! [profile dev]
//! sso_session = my-sso
//! sso_account_id = 111122223333
//! sso_role_name = SampleRole
//!
//! [sso-session my-sso]
//! sso_region = us-east-1
//! sso_start_url = https://my-sso-portal.awsapps.com/start
//! ";
//! let config = ConfigFile::parse(text, "example config")?;
//! let env = Environment::from_iter([("AWS_PROFILE", "dev")]);
//!
//! let sso = config.sso_settings(&Selector::Default, &env)?;
//! assert_eq!(sso.session_name.as_deref(), Some("my-sso"));
//! assert_eq!(sso.start_url, "https://my-sso-portal.awsapps.com/start");
//! assert_eq!(sso.scopes, ["sso:account:access"]);
//! assert!(!sso.registration_scopes_configured);
//!
//! let endpoint = config.oidc_endpoint(&sso, &env)?.to_endpoint()?;
//! assert_eq!(endpoint.base_url(), "https://oidc.us-east-1.amazonaws.com");
//!
//! let role = config.role_settings(&Selector::Default, &env)?;
//! assert_eq!((role.account_id.as_str(), role.role_name.as_str()), ("111122223333", "SampleRole"));
//! assert_eq!(role.sso, sso);
//! assert_eq!(role.cache_key().file_name(), "5a6d67f0141c391d87d6e15ac122ad86af2cdb81.json");
//! let portal = config.portal_endpoint(&role.sso, &env)?.to_endpoint()?;
//! assert_eq!(portal.base_url(), "https://portal.sso.us-east-1.amazonaws.com");
//! # Ok::<(), ssoflow_files::config::ConfigError>(())
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

mod env;
mod error;
mod ini;
mod resolve;
mod shell;

pub use env::Environment;
pub use error::{ConfigError, Location, ProfileSource, SettingMismatch, SyntaxProblem};
pub use resolve::{EndpointChoice, EndpointSource, RoleSettings, Selector, Service, SsoSettings};

/// A setting's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// A plain value, stripped; several lines joined with `\n` if it had
    /// continuation lines.
    Text(String),
    /// An indented block of `key = value` lines under a setting with nothing
    /// after its `=`. Keys keep their case, as in botocore.
    Nested(BTreeMap<String, String>),
}

impl Value {
    /// The text, if this is [`Value::Text`].
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Value::Text(text) => Some(text),
            Value::Nested(_) => None,
        }
    }
}

/// One setting: its value and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    value: Value,
    /// The `name = value` line (in `[DEFAULT]` for an inherited setting).
    line: usize,
    /// For a block: each key's line.
    block_lines: BTreeMap<String, usize>,
}

impl Entry {
    /// A key of a block, with its line.
    fn block_setting(&self, key: &str) -> Option<(&str, usize)> {
        let Value::Nested(block) = &self.value else {
            return None;
        };
        let value = block.get(key)?;
        Some((
            value,
            self.block_lines.get(key).copied().unwrap_or(self.line),
        ))
    }
}

/// One section of the file: a profile, an sso-session or a services section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    header: String,
    line: usize,
    /// The section's own settings.
    entries: BTreeMap<String, Entry>,
    /// The settings of `[DEFAULT]`, shared by every section of the file.
    defaults: Arc<BTreeMap<String, Entry>>,
}

impl Section {
    /// The header as written between the brackets, e.g. `profile 'my dev'`.
    pub fn header(&self) -> &str {
        &self.header
    }

    /// The 1-based line of the header.
    pub fn line(&self) -> usize {
        self.line
    }

    /// A setting, looked up by its name lower-cased (names are
    /// case-insensitive). Settings of `[DEFAULT]` are included unless the
    /// section sets them itself.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.entry(&key.to_lowercase()).map(|e| &e.value)
    }

    /// The 1-based line of a setting (in `[DEFAULT]` for an inherited one).
    pub fn line_of(&self, key: &str) -> Option<usize> {
        self.entry(&key.to_lowercase()).map(|e| e.line)
    }

    /// All settings by lower-cased name: the section's own, then those it
    /// inherits from `[DEFAULT]`.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.entries().map(|(k, e)| (k.as_str(), &e.value))
    }

    /// A setting by its lower-cased name.
    fn entry(&self, key: &str) -> Option<&Entry> {
        self.entries.get(key).or_else(|| self.defaults.get(key))
    }

    /// Own settings, then inherited ones that the section does not override.
    fn entries(&self) -> impl Iterator<Item = (&String, &Entry)> {
        let inherited = self
            .defaults
            .iter()
            .filter(|(key, _)| !self.entries.contains_key(*key));
        self.entries.iter().chain(inherited)
    }

    fn is_empty(&self) -> bool {
        self.entries.is_empty() && self.defaults.is_empty()
    }
}

/// A section botocore ignores, for a warning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IgnoredSection {
    /// The header as written between the brackets.
    pub header: String,
    /// The 1-based line of the header.
    pub line: usize,
    /// Why it is ignored.
    pub reason: IgnoredBecause,
}

/// Why a section is ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum IgnoredBecause {
    /// The header does not split into exactly two words (the kind and one name).
    NotTwoWords,
    /// The header's quotes or backslashes do not pair up.
    BadQuoting,
    /// A later section of the same kind and name, on this line, replaces it.
    Replaced {
        /// The replacing section's header line.
        by_line: usize,
    },
}

impl fmt::Display for IgnoredSection {
    /// A warning sentence without the file name (see [`ConfigFile::source_name`]).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {}: [{}] is ignored, as the AWS CLI ignores it: ",
            self.line, self.header
        )?;
        match &self.reason {
            IgnoredBecause::NotTwoWords => f.write_str(
                "the header needs exactly two words, the kind and one name; quote a name that has spaces, as in [profile 'my dev']",
            ),
            IgnoredBecause::BadQuoting => {
                f.write_str("its quotes or backslashes do not pair up; close the quote")
            }
            IgnoredBecause::Replaced { by_line } => write!(
                f,
                "the section on line {by_line} has the same name and replaces it; merge the two"
            ),
        }
    }
}

/// Which map a section goes to.
#[derive(Clone, Copy)]
enum Kind {
    Profile,
    SsoSession,
    Services,
}

/// The parsed config file: profiles, sso-sessions and services sections by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigFile {
    /// The path or name used in messages.
    source: String,
    profiles: BTreeMap<String, Section>,
    sso_sessions: BTreeMap<String, Section>,
    services: BTreeMap<String, Section>,
    ignored: Vec<IgnoredSection>,
}

impl ConfigFile {
    /// Reads and parses the file at `path`. A file that does not exist (or a
    /// path through something that is not a directory) is an empty config, as
    /// in botocore; a file that exists but cannot be read is an error (botocore
    /// would silently read it as empty).
    pub fn load(path: impl AsRef<Path>) -> Result<ConfigFile, ConfigError> {
        let path = path.as_ref();
        let source = path.display().to_string();
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(error)
                if matches!(
                    error.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
                ) =>
            {
                return Ok(ConfigFile::empty(source));
            }
            Err(error) => {
                return Err(ConfigError::Unreadable {
                    path: path.to_owned(),
                    error,
                });
            }
        };
        let text = String::from_utf8(bytes).map_err(|error| {
            let valid = error.as_bytes().get(..error.utf8_error().valid_up_to());
            let valid = valid
                .and_then(|v| std::str::from_utf8(v).ok())
                .unwrap_or("");
            ConfigError::Syntax {
                file: source.clone(),
                line: ini::line_count(valid),
                problem: SyntaxProblem::NotUtf8,
            }
        })?;
        ConfigFile::parse(&text, &source)
    }

    /// Parses `text`; `source_name` (a path, or e.g. `"test config"`) names the
    /// file in messages.
    pub fn parse(text: &str, source_name: &str) -> Result<ConfigFile, ConfigError> {
        let syntax = |line, problem| ConfigError::Syntax {
            file: source_name.to_owned(),
            line,
            problem,
        };
        let raw = ini::parse(text).map_err(|(line, problem)| syntax(line, problem))?;
        let mut config = ConfigFile::empty(source_name.to_owned());
        // Settings of [DEFAULT], joined once and shared. A bad block there is
        // an error only if some section inherits it, as in botocore, which
        // parses blocks per section.
        let mut defaults = BTreeMap::new();
        let mut bad_defaults = Vec::new();
        for (key, setting) in &raw.defaults {
            match entry(setting) {
                Ok(entry) => {
                    defaults.insert(key.clone(), entry);
                }
                Err(line) => bad_defaults.push((key, line)),
            }
        }
        let defaults = Arc::new(defaults);
        for section in raw.sections {
            let mut entries = BTreeMap::new();
            for (key, setting) in &section.settings {
                let entry = entry(setting)
                    .map_err(|line| syntax(line, block_problem(&section.header, key)))?;
                entries.insert(key.clone(), entry);
            }
            if let Some((key, line)) = bad_defaults
                .iter()
                .find(|(key, _)| !entries.contains_key(*key))
            {
                return Err(syntax(*line, block_problem("DEFAULT", key)));
            }
            config.file(Section {
                header: section.header,
                line: section.line,
                entries,
                defaults: Arc::clone(&defaults),
            });
        }
        config.ignored.sort_by_key(|ignored| ignored.line);
        Ok(config)
    }

    fn empty(source: String) -> ConfigFile {
        ConfigFile {
            source,
            profiles: BTreeMap::new(),
            sso_sessions: BTreeMap::new(),
            services: BTreeMap::new(),
            ignored: Vec::new(),
        }
    }

    /// botocore's `build_profile_map` for one section.
    fn file(&mut self, section: Section) {
        let header = section.header.as_str();
        let kind = if header.starts_with("profile") {
            Kind::Profile
        } else if header.starts_with("sso-session") {
            Kind::SsoSession
        } else if header.starts_with("services") {
            Kind::Services
        } else if header == "default" {
            self.insert(Kind::Profile, "default".to_owned(), section);
            return;
        } else {
            return;
        };
        let reason = match shell::split(header) {
            Ok(words) => match <[String; 2]>::try_from(words) {
                Ok([_, name]) => {
                    self.insert(kind, name, section);
                    return;
                }
                Err(_) => IgnoredBecause::NotTwoWords,
            },
            Err(_) => IgnoredBecause::BadQuoting,
        };
        self.ignored.push(IgnoredSection {
            header: section.header,
            line: section.line,
            reason,
        });
    }

    fn insert(&mut self, kind: Kind, name: String, section: Section) {
        let by_line = section.line;
        let map = match kind {
            Kind::Profile => &mut self.profiles,
            Kind::SsoSession => &mut self.sso_sessions,
            Kind::Services => &mut self.services,
        };
        if let Some(earlier) = map.insert(name, section) {
            self.ignored.push(IgnoredSection {
                header: earlier.header,
                line: earlier.line,
                reason: IgnoredBecause::Replaced { by_line },
            });
        }
    }

    /// The path or name the file was read from, as used in messages.
    pub fn source_name(&self) -> &str {
        &self.source
    }

    /// Profiles by name (`[default]` is `default`).
    pub fn profiles(&self) -> &BTreeMap<String, Section> {
        &self.profiles
    }

    /// `[sso-session NAME]` sections by name.
    pub fn sso_sessions(&self) -> &BTreeMap<String, Section> {
        &self.sso_sessions
    }

    /// `[services NAME]` sections by name.
    pub fn services(&self) -> &BTreeMap<String, Section> {
        &self.services
    }

    /// Profile, sso-session and services sections that botocore ignores, in
    /// file order, so a caller can warn about them.
    pub fn ignored_sections(&self) -> &[IgnoredSection] {
        &self.ignored
    }
}

/// A setting's joined value, or the line of a bad block line.
fn entry(setting: &ini::RawSetting) -> Result<Entry, usize> {
    Ok(match ini::join(setting)? {
        ini::Joined::Text(text) => Entry {
            value: Value::Text(text),
            line: setting.line,
            block_lines: BTreeMap::new(),
        },
        ini::Joined::Nested(block) => Entry {
            block_lines: block
                .iter()
                .map(|(k, (_, line))| (k.clone(), *line))
                .collect(),
            value: Value::Nested(block.into_iter().map(|(k, (v, _))| (k, v)).collect()),
            line: setting.line,
        },
    })
}

fn block_problem(section: &str, key: &str) -> SyntaxProblem {
    SyntaxProblem::BlockLineWithoutEquals {
        section: section.to_owned(),
        key: key.to_owned(),
    }
}
