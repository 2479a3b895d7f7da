//! The outputs of `ssoflow credentials`: the `credential_process` JSON and the
//! shell formats, byte for byte as `aws configure export-credentials` writes
//! them (`portal-api.md` §11, §12).

use std::time::SystemTime;

use ssoflow_files::format_timestamp;

/// `--format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub(crate) enum ExportFormat {
    /// The `credential_process` JSON (Version 1).
    #[default]
    Process,
    /// `export NAME=value` lines for POSIX shells.
    Env,
    /// `NAME=value` lines.
    EnvNoExport,
    /// `$Env:NAME="value"` lines.
    Powershell,
    /// `set NAME=value` lines.
    WindowsCmd,
    /// `set -gx NAME "value"` lines.
    Fish,
}

/// What is printed: the keys, and the token and expiry when there are some.
pub(crate) struct Exported<'a> {
    pub(crate) access_key_id: &'a str,
    pub(crate) secret_access_key: &'a str,
    pub(crate) session_token: Option<&'a str>,
    pub(crate) expiration: Option<SystemTime>,
}

/// The AWS CLI's `isoformat()` of a UTC time: `2030-06-01T13:00:00+00:00`.
fn expiration_text(at: SystemTime) -> String {
    let zulu = format_timestamp(at);
    match zulu.strip_suffix('Z') {
        Some(bare) => format!("{bare}+00:00"),
        None => zulu,
    }
}

/// The whole output, ending with a newline.
pub(crate) fn render(format: ExportFormat, credentials: &Exported<'_>) -> String {
    let expiration = credentials.expiration.map(expiration_text);
    if format == ExportFormat::Process {
        // Python's json.dumps(indent=2, separators=(',', ': ')), keys in the CLI's order.
        #[derive(serde::Serialize)]
        #[serde(rename_all = "PascalCase")]
        struct Process<'a> {
            version: u8,
            access_key_id: &'a str,
            secret_access_key: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            session_token: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            expiration: Option<&'a str>,
        }
        let body = Process {
            version: 1,
            access_key_id: credentials.access_key_id,
            secret_access_key: credentials.secret_access_key,
            session_token: credentials.session_token,
            expiration: expiration.as_deref(),
        };
        return serde_json::to_string_pretty(&body).unwrap_or_default() + "\n";
    }
    let mut lines = vec![
        ("AWS_ACCESS_KEY_ID", credentials.access_key_id),
        ("AWS_SECRET_ACCESS_KEY", credentials.secret_access_key),
    ];
    if let Some(token) = credentials.session_token {
        lines.push(("AWS_SESSION_TOKEN", token));
    }
    if let Some(expiration) = &expiration {
        lines.push(("AWS_CREDENTIAL_EXPIRATION", expiration));
    }
    lines
        .into_iter()
        .map(|(name, value)| match format {
            ExportFormat::Env => format!("export {name}={value}\n"),
            ExportFormat::EnvNoExport => format!("{name}={value}\n"),
            ExportFormat::Powershell => format!("$Env:{name}=\"{value}\"\n"),
            ExportFormat::WindowsCmd => format!("set {name}={value}\n"),
            ExportFormat::Fish | ExportFormat::Process => format!("set -gx {name} \"{value}\"\n"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// portal-api.md §12.4, as the AWS CLI printed it.
    #[test]
    fn every_format_of_the_spec_vector() {
        let credentials = Exported {
            access_key_id: "ASIAIOSFODNN7EXAMPLE",
            secret_access_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            session_token: Some("IQoJb3JpZ2luX2VjEXAMPLE"),
            expiration: Some(SystemTime::UNIX_EPOCH + Duration::from_millis(1_906_549_200_000)),
        };
        let expected = [
            (
                ExportFormat::Process,
                "{\n  \"Version\": 1,\n  \"AccessKeyId\": \"ASIAIOSFODNN7EXAMPLE\",\n  \"SecretAccessKey\": \"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\",\n  \"SessionToken\": \"IQoJb3JpZ2luX2VjEXAMPLE\",\n  \"Expiration\": \"2030-06-01T13:00:00+00:00\"\n}\n",
            ),
            (
                ExportFormat::Env,
                "export AWS_ACCESS_KEY_ID=ASIAIOSFODNN7EXAMPLE\nexport AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\nexport AWS_SESSION_TOKEN=IQoJb3JpZ2luX2VjEXAMPLE\nexport AWS_CREDENTIAL_EXPIRATION=2030-06-01T13:00:00+00:00\n",
            ),
            (
                ExportFormat::EnvNoExport,
                "AWS_ACCESS_KEY_ID=ASIAIOSFODNN7EXAMPLE\nAWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\nAWS_SESSION_TOKEN=IQoJb3JpZ2luX2VjEXAMPLE\nAWS_CREDENTIAL_EXPIRATION=2030-06-01T13:00:00+00:00\n",
            ),
            (
                ExportFormat::Powershell,
                "$Env:AWS_ACCESS_KEY_ID=\"ASIAIOSFODNN7EXAMPLE\"\n$Env:AWS_SECRET_ACCESS_KEY=\"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\"\n$Env:AWS_SESSION_TOKEN=\"IQoJb3JpZ2luX2VjEXAMPLE\"\n$Env:AWS_CREDENTIAL_EXPIRATION=\"2030-06-01T13:00:00+00:00\"\n",
            ),
            (
                ExportFormat::WindowsCmd,
                "set AWS_ACCESS_KEY_ID=ASIAIOSFODNN7EXAMPLE\nset AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\nset AWS_SESSION_TOKEN=IQoJb3JpZ2luX2VjEXAMPLE\nset AWS_CREDENTIAL_EXPIRATION=2030-06-01T13:00:00+00:00\n",
            ),
            (
                ExportFormat::Fish,
                "set -gx AWS_ACCESS_KEY_ID \"ASIAIOSFODNN7EXAMPLE\"\nset -gx AWS_SECRET_ACCESS_KEY \"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\"\nset -gx AWS_SESSION_TOKEN \"IQoJb3JpZ2luX2VjEXAMPLE\"\nset -gx AWS_CREDENTIAL_EXPIRATION \"2030-06-01T13:00:00+00:00\"\n",
            ),
        ];
        for (format, text) in expected {
            assert_eq!(render(format, &credentials), text, "{format:?}");
        }
        // Static credentials: no token, no expiry (the spec's other vector).
        let static_keys = Exported {
            access_key_id: "AKIAIOSFODNN7EXAMPLE",
            secret_access_key: "secret",
            session_token: None,
            expiration: None,
        };
        assert_eq!(
            render(ExportFormat::Process, &static_keys),
            "{\n  \"Version\": 1,\n  \"AccessKeyId\": \"AKIAIOSFODNN7EXAMPLE\",\n  \"SecretAccessKey\": \"secret\"\n}\n"
        );
    }
}
