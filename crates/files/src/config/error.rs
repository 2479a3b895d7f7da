//! What can be wrong with a config file or with what it selects. Every message
//! names the file, the section as written and the line, and says what to do.

use std::fmt;
use std::path::PathBuf;

use super::shell;

/// A place in a config file: the file, a section header as written between
/// the brackets (`profile dev`, `default`, `sso-session 'my sso'`), and a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The path given to [`ConfigFile::load`](super::ConfigFile::load), or the
    /// name given to [`ConfigFile::parse`](super::ConfigFile::parse).
    pub file: String,
    /// The section header without its brackets.
    pub section: String,
    /// 1-based: the line of the setting in question, or of the header when
    /// the setting is missing.
    pub line: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "in {} line {}, [{}]", self.file, self.line, self.section)
    }
}

/// Who named the profile that was looked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProfileSource {
    /// The caller, with [`Selector::Profile`](super::Selector::Profile) (a `--profile` flag).
    Caller,
    /// The `AWS_PROFILE` environment variable.
    AwsProfile,
    /// The `AWS_DEFAULT_PROFILE` environment variable.
    AwsDefaultProfile,
    /// Nobody: neither variable is set, so the profile is `default`.
    Default,
}

/// Why the file cannot be read as botocore reads it. botocore refuses the
/// whole file in each of these cases, so the AWS CLI cannot use it either.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SyntaxProblem {
    /// The file starts with a UTF-8 byte-order mark (Notepad writes one).
    ByteOrderMark,
    /// The bytes are not UTF-8.
    NotUtf8,
    /// A line that is not blank or a comment comes before the first `[section]`.
    BeforeFirstSection,
    /// A line that is none of: header, `name = value`, comment, continuation.
    NotASetting,
    /// A setting with nothing before its `=` or `:`.
    EmptyName,
    /// The same header appears twice.
    DuplicateSection {
        /// The header without brackets.
        header: String,
        /// Where it first appears.
        first_line: usize,
    },
    /// The same setting (names compared lower-cased) appears twice in one section.
    DuplicateKey {
        /// The section header without brackets.
        section: String,
        /// The setting's name, lower-cased.
        key: String,
        /// Where it first appears.
        first_line: usize,
    },
    /// A line of an indented block (`sso_oidc =` and the lines below it) without `=`.
    BlockLineWithoutEquals {
        /// The section header without brackets.
        section: String,
        /// The setting that opens the block.
        key: String,
    },
}

impl fmt::Display for SyntaxProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SyntaxProblem::ByteOrderMark => f.write_str(
                "the file starts with a byte-order mark (U+FEFF), which the AWS CLI cannot read; save it as UTF-8 without a BOM",
            ),
            SyntaxProblem::NotUtf8 => {
                f.write_str("this line is not valid UTF-8; save the file as UTF-8")
            }
            SyntaxProblem::BeforeFirstSection => f.write_str(
                "this line comes before the first [section] header; put settings under a header such as [default] or [profile NAME]",
            ),
            SyntaxProblem::NotASetting => f.write_str(
                "this line is not a [section] header, a `name = value` setting, a comment or an indented continuation; fix or remove it",
            ),
            SyntaxProblem::EmptyName => f.write_str(
                "this setting has no name before its `=` or `:`; add the name or remove the line",
            ),
            SyntaxProblem::DuplicateSection { header, first_line } => write!(
                f,
                "[{header}] appears a second time (first on line {first_line}); the AWS CLI refuses a file with a repeated section: merge the two"
            ),
            SyntaxProblem::DuplicateKey {
                section,
                key,
                first_line,
            } => write!(
                f,
                "{key} is set a second time in [{section}] (first on line {first_line}); the AWS CLI refuses a file with a repeated setting: keep one"
            ),
            SyntaxProblem::BlockLineWithoutEquals { section, key } => write!(
                f,
                "this line of the indented block under {key} in [{section}] has no `=`; write each line of the block as `name = value`"
            ),
        }
    }
}

/// A setting that a profile and its sso-session both set, to different values
/// (botocore: "The value for … is inconsistent between profile and sso-session").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingMismatch {
    /// The setting's name, lower-cased.
    pub key: String,
    /// Its line in the profile.
    pub profile_at: Location,
    /// Its value there (`(indented block)` for a block).
    pub profile_value: String,
    /// Its line in the sso-session.
    pub session_at: Location,
    /// Its value there.
    pub session_value: String,
}

impl fmt::Display for SettingMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {key} = {} disagrees with {key} = {} on line {} in [{}]; make the two equal, or remove the line from the profile",
            self.profile_at,
            self.profile_value,
            self.session_value,
            self.session_at.line,
            self.session_at.section,
            key = self.key,
        )
    }
}

/// Everything that can go wrong reading the config file and resolving what a
/// sign-in needs from it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The config file exists but cannot be read (permissions, a directory, I/O).
    #[error(
        "cannot read the AWS config file {}: {error}; make it a file you can read, or set AWS_CONFIG_FILE to another path",
        .path.display()
    )]
    Unreadable {
        /// The path tried.
        path: PathBuf,
        /// What the operating system said.
        error: std::io::Error,
    },
    /// No home directory is known, so `~/.aws/config` has no meaning.
    #[error(
        "cannot find the home directory, which holds .aws/config; set HOME (USERPROFILE on Windows), or set AWS_CONFIG_FILE to the config file's path"
    )]
    NoHomeDirectory,
    /// The file is not in the dialect botocore reads.
    #[error("in {file} line {line}: {problem}")]
    Syntax {
        /// The file's path or name.
        file: String,
        /// 1-based.
        line: usize,
        /// What is wrong there.
        problem: SyntaxProblem,
    },
    /// The selected profile has no section.
    #[error("{}", profile_not_found(.file, .profile, *.chosen_by))]
    ProfileNotFound {
        /// The file's path or name.
        file: String,
        /// The profile looked for.
        profile: String,
        /// Who named it.
        chosen_by: ProfileSource,
    },
    /// The sso-session selected directly has no section.
    #[error(
        "{file} has no [{}] section; add one with sso_start_url and sso_region, or choose another session",
        header("sso-session", .session)
    )]
    SessionNotFound {
        /// The file's path or name.
        file: String,
        /// The session looked for.
        session: String,
    },
    /// A profile's `sso_session` names a section that does not exist.
    #[error(
        "{at}: sso_session = {session} names a section [{}] that does not exist; add it or fix the name",
        header("sso-session", .session)
    )]
    MissingSessionSection {
        /// The profile's `sso_session` line.
        at: Location,
        /// The name it gives.
        session: String,
    },
    /// A profile's `services` names a section that does not exist or is empty
    /// (botocore raises `InvalidConfigError` for both).
    #[error(
        "{at}: services = {services} names a section [{}] that does not exist or is empty; add it (with an `sso_oidc =` block for sign-in, or an `sso =` block for the portal) or remove the setting",
        header("services", .services)
    )]
    MissingServicesSection {
        /// The profile's `services` line.
        at: Location,
        /// The name it gives.
        services: String,
    },
    /// A profile with neither `sso_session` nor `sso_start_url`/`sso_region`.
    #[error(
        "{at}: the profile has no SSO settings; add `sso_session = NAME` and an [sso-session NAME] section with sso_start_url and sso_region, or (the legacy form) sso_start_url and sso_region in the profile"
    )]
    NoSsoSettings {
        /// The profile's header.
        at: Location,
    },
    /// Role credentials were asked of a profile (or an sso-session) without
    /// `sso_account_id` and `sso_role_name`: it gives an SSO token only.
    #[error(
        "{at}: no sso_account_id and sso_role_name here, so it gives an SSO token but no role credentials; add both to the profile (e.g. `sso_account_id = 111122223333` and `sso_role_name = ReadOnly`), or name the account and role another way"
    )]
    NoRoleSettings {
        /// The profile's or sso-session's header.
        at: Location,
    },
    /// A profile for role credentials lacks some of `sso_start_url`,
    /// `sso_region`, `sso_role_name` and `sso_account_id` (or has them
    /// empty); botocore's `InvalidConfigError`, with its wording.
    #[error("{}", incomplete_role(.at, .profile, .missing))]
    IncompleteRole {
        /// The profile's header.
        at: Location,
        /// The profile's name.
        profile: String,
        /// The missing or empty keys, in botocore's order.
        missing: Vec<&'static str>,
    },
    /// A required setting is missing or empty.
    #[error("{at}: {key} is missing or empty; set it, e.g. `{key} = {}`", example(.key))]
    MissingKey {
        /// The section's header, or the empty setting's line.
        at: Location,
        /// `sso_start_url` or `sso_region`.
        key: &'static str,
    },
    /// A setting in both a profile and its sso-session, with different values.
    #[error("{0}")]
    Mismatch(Box<SettingMismatch>),
    /// A setting whose value cannot be used.
    #[error("{at}: {key} = {value} {problem}")]
    InvalidValue {
        /// The setting's line.
        at: Location,
        /// The setting's name.
        key: &'static str,
        /// Its value, or `(indented block)`.
        value: String,
        /// What is wrong and what to do, starting with a verb ("is not …").
        problem: &'static str,
    },
    /// An endpoint URL override (or a region) that `ssoflow-core` refuses.
    #[error("the {service} endpoint from {origin} is not usable: {error}; fix or remove it")]
    UnusableEndpoint {
        /// The service it is for.
        service: super::Service,
        /// Where the URL or region came from.
        origin: String,
        /// Why the core refuses it.
        error: ssoflow_core::ConfigError,
    },
}

/// `[kind NAME]` as a header the AWS CLI would write, quoting the name if needed.
pub(super) fn header(kind: &str, name: &str) -> String {
    format!("{kind} {}", shell::quote(name))
}

fn profile_not_found(file: &str, profile: &str, chosen_by: ProfileSource) -> String {
    let section = if profile == "default" {
        "[default]".to_owned()
    } else {
        format!("[{}]", header("profile", profile))
    };
    match chosen_by {
        ProfileSource::Caller => format!(
            "{file} has no profile {profile}; add a {section} section or choose another profile"
        ),
        ProfileSource::AwsProfile | ProfileSource::AwsDefaultProfile => {
            let variable = if chosen_by == ProfileSource::AwsProfile {
                "AWS_PROFILE"
            } else {
                "AWS_DEFAULT_PROFILE"
            };
            format!(
                "{variable} names the profile {profile}, but {file} has no {section} section; add it, or change or unset {variable}"
            )
        }
        ProfileSource::Default => format!(
            "{file} has no {section} section and neither AWS_PROFILE nor AWS_DEFAULT_PROFILE is set; add a {section} profile or choose a profile"
        ),
    }
}

fn example(key: &str) -> &'static str {
    match key {
        "sso_start_url" => "https://d-1234567890.awsapps.com/start",
        "sso_region" => "us-east-1",
        "sso_account_id" => "111122223333",
        "sso_role_name" => "ReadOnly",
        _ => "…",
    }
}

/// botocore's sentence, then what to add.
fn incomplete_role(at: &Location, profile: &str, missing: &[&'static str]) -> String {
    let examples = missing
        .iter()
        .map(|key| format!("`{key} = {}`", example(key)))
        .collect::<Vec<_>>()
        .join(" and ");
    let sign_in_keys = if missing.contains(&"sso_start_url") || missing.contains(&"sso_region") {
        " (in the [sso-session] section if the profile has sso_session, else in the profile)"
    } else {
        ""
    };
    format!(
        "{at}: The profile \"{profile}\" is configured to use SSO but is missing required configuration: {}; set {}{sign_in_keys}, e.g. {examples} (an empty value counts as missing)",
        missing.join(", "),
        if missing.len() == 1 { "it" } else { "them" },
    )
}
