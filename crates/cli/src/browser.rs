//! Opening the verification page in the person's browser, only when that is
//! safe and useful: an `https` URL (or `http` on a loopback host, for the
//! emulator), and a display to show it on.

use std::process::{Command, Stdio};

use ssoflow_core::Endpoint;

/// Whether `url` may be handed to a browser: `https`, or `http` to a
/// loopback host. Anything else (a `file:` or `javascript:` URL from a hostile
/// service) is never opened.
pub(crate) fn may_open(url: &str) -> bool {
    let Some((scheme, rest)) = url.split_once("://") else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    let host = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host.split(':').next().unwrap_or_default(),
    };
    match scheme.to_ascii_lowercase().as_str() {
        "https" => !host.is_empty(),
        "http" => Endpoint::is_loopback_host(host),
        _ => false,
    }
}

/// Whether there is a graphical session to open a browser in.
pub(crate) fn has_display(env: &dyn Fn(&str) -> Option<String>) -> bool {
    if cfg!(target_os = "macos") || cfg!(windows) {
        return true;
    }
    ["DISPLAY", "WAYLAND_DISPLAY"]
        .iter()
        .any(|name| env(name).is_some_and(|value| !value.is_empty()))
}

/// Whether a browser launcher is there to run: `$BROWSER`'s command, or
/// `xdg-open` on Linux and the BSDs (macOS and Windows always have one).
/// `Err` says what is missing.
pub(crate) fn launcher(env: &dyn Fn(&str) -> Option<String>) -> Result<(), String> {
    let command = match env("BROWSER").filter(|b| !b.is_empty()) {
        Some(browser) => browser,
        None if cfg!(target_os = "macos") || cfg!(windows) => return Ok(()),
        None => "xdg-open".to_owned(),
    };
    let found = if command.contains('/') {
        is_executable(std::path::Path::new(&command))
    } else {
        env("PATH").is_some_and(|path| {
            std::env::split_paths(&path).any(|dir| is_executable(&dir.join(&command)))
        })
    };
    match found {
        true => Ok(()),
        false => Err(format!("`{command}` is not installed or not on PATH")),
    }
}

/// A file the current user may run (on Windows: any file).
fn is_executable(path: &std::path::Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    }
    #[cfg(not(unix))]
    {
        path.is_file()
    }
}

/// Asks the desktop to open `url`; `$BROWSER` wins when set. Returns whether
/// a launcher started (not whether a page appeared).
pub(crate) fn open(url: &str, env: &dyn Fn(&str) -> Option<String>) -> bool {
    let mut command = if let Some(browser) = env("BROWSER").filter(|b| !b.is_empty()) {
        let mut command = Command::new(browser);
        command.arg(url);
        command
    } else if cfg!(target_os = "macos") {
        let mut command = Command::new("open");
        command.arg(url);
        command
    } else if cfg!(windows) {
        let mut command = Command::new("rundll32");
        command.args(["url.dll,FileProtocolHandler", url]);
        command
    } else {
        let mut command = Command::new("xdg-open");
        command.arg(url);
        command
    };
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_or_loopback_http_is_opened() {
        for url in [
            "https://device.sso.us-east-1.amazonaws.com/?user_code=AB",
            "HTTPS://example.com",
            "http://127.0.0.1:8123/device?user_code=X",
            "http://localhost/device",
            "http://[::1]:9/device",
        ] {
            assert!(may_open(url), "{url}");
        }
        for url in [
            "http://evil.example/device",
            "http://127.0.0.1.evil.example/",
            "file:///etc/passwd",
            "javascript:alert(1)",
            "https://",
            "device.sso.amazonaws.com",
            "http://user@evil.example/",
        ] {
            assert!(!may_open(url), "{url}");
        }
    }

    #[test]
    fn a_display_is_needed_on_linux() {
        if cfg!(target_os = "macos") || cfg!(windows) {
            return;
        }
        assert!(!has_display(&|_| None));
        assert!(!has_display(&|_| Some(String::new())));
        assert!(has_display(
            &|name| (name == "WAYLAND_DISPLAY").then(|| "wayland-0".into())
        ));
    }
}
