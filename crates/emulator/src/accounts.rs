//! The `--accounts FILE` of the portal API: the signed-in person's accounts
//! and roles as a JSON list, read and checked once, when the flags are parsed,
//! so a mistake stops the start with a message naming the file and the spot.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use ssoflow_test_transport::PortalAccount;

/// An accounts file, read and checked: a JSON array of
/// `{"accountId": "111122223333", "accountName": "Dev", "emailAddress":
/// "dev@example.com", "roles": ["AdministratorAccess", "ReadOnlyAccess"]}`,
/// where `accountName`, `emailAddress` and `roles` may be left out and no
/// other member is allowed. Account ids must be non-empty and distinct, role
/// names non-empty and distinct within their account. An empty array is
/// allowed (a person with no assignments).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountsFile {
    /// Where it was read from.
    pub path: PathBuf,
    /// Its accounts, in file order (the order ListAccounts lists them in).
    pub accounts: Vec<PortalAccount>,
}

/// Why an accounts file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum AccountsFileError {
    /// Reading failed (missing file, permissions).
    #[error("cannot read the accounts file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The file is not a valid list of accounts.
    #[error(
        "the accounts file {path} is invalid: {detail} (expected a JSON array of \
         {{\"accountId\": \"111122223333\", \"accountName\": \"Dev\", \"emailAddress\": \
         \"dev@example.com\", \"roles\": [\"ReadOnlyAccess\"]}})"
    )]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the line and column for a JSON error.
        detail: String,
    },
}

impl AccountsFile {
    /// Reads and checks the file at `path`.
    pub fn read(path: impl AsRef<Path>) -> Result<AccountsFile, AccountsFileError> {
        let path = path.as_ref().to_owned();
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(source) => return Err(AccountsFileError::Read { path, source }),
        };
        match parse(&bytes) {
            Ok(accounts) => Ok(AccountsFile { path, accounts }),
            Err(detail) => Err(AccountsFileError::Invalid { path, detail }),
        }
    }
}

/// A path on the command line, read at once: clap reports a bad file as a
/// usage error of `--accounts`.
impl FromStr for AccountsFile {
    type Err = String;

    fn from_str(path: &str) -> Result<Self, Self::Err> {
        AccountsFile::read(path).map_err(|error| error.to_string())
    }
}

/// The accounts in `json`, or what is wrong with them.
fn parse(json: &[u8]) -> Result<Vec<PortalAccount>, String> {
    let accounts: Vec<PortalAccount> =
        serde_json::from_slice(json).map_err(|error| error.to_string())?;
    let mut seen = std::collections::HashSet::new();
    for (index, account) in accounts.iter().enumerate() {
        let id = &account.account_id;
        if id.trim().is_empty() {
            return Err(format!("account {} has an empty accountId", index + 1));
        }
        if !seen.insert(id.as_str()) {
            return Err(format!("the accountId {id:?} appears more than once"));
        }
        let mut roles = std::collections::HashSet::new();
        for role in &account.roles {
            if role.trim().is_empty() {
                return Err(format!("account {id:?} has an empty role name"));
            }
            if !roles.insert(role.as_str()) {
                return Err(format!(
                    "account {id:?} lists the role {role:?} more than once"
                ));
            }
        }
    }
    Ok(accounts)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn a_list_of_accounts_with_optional_members() {
        let accounts = parse(
            br#"[
                {"accountId": "111122223333", "accountName": "Dev", "emailAddress": "dev@example.com",
                 "roles": ["AdministratorAccess", "ReadOnlyAccess"]},
                {"accountId": "444455556666", "roles": ["Billing"]},
                {"accountId": "777788889999"}
            ]"#,
        )
        .unwrap();
        assert_eq!(
            accounts[0],
            PortalAccount {
                account_name: Some("Dev".into()),
                email_address: Some("dev@example.com".into()),
                ..PortalAccount::new("111122223333", ["AdministratorAccess", "ReadOnlyAccess"])
            }
        );
        assert_eq!(accounts[1], PortalAccount::new("444455556666", ["Billing"]));
        assert!(accounts[2].roles.is_empty());
        assert_eq!(parse(b"[]").unwrap(), []);
    }

    #[test]
    fn mistakes_are_named() {
        for (json, says) in [
            (&br#"{"accountId": "1"}"#[..], "expected a sequence"),
            (br#"[{"accountId": 111122223333}]"#, "expected a string"),
            (
                br#"[{"accountId": "1", "role": ["R"]}]"#,
                "unknown field `role`",
            ),
            (br#"[{"roles": ["R"]}]"#, "missing field `accountId`"),
            (
                br#"[{"accountId": " "}]"#,
                "account 1 has an empty accountId",
            ),
            (
                br#"[{"accountId": "1"}, {"accountId": "1"}]"#,
                "\"1\" appears more than once",
            ),
            (br#"[{"accountId": "1", "roles": [""]}]"#, "empty role name"),
            (
                br#"[{"accountId": "1", "roles": ["R", "R"]}]"#,
                "the role \"R\" more than once",
            ),
            (b"[{\"accountId\": \"1\",\n", "line 2"),
        ] {
            let error = parse(json).unwrap_err();
            assert!(error.contains(says), "{error:?} lacks {says:?}");
        }
    }

    #[test]
    fn errors_name_the_file() {
        let dir =
            std::env::temp_dir().join(format!("ssoflow-emulator-accounts-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let missing = dir.join("missing.json");
        let error = AccountsFile::read(&missing).unwrap_err().to_string();
        assert!(error.contains(&missing.display().to_string()), "{error}");
        let bad = dir.join("bad.json");
        std::fs::write(&bad, "[1]").unwrap();
        let error = bad.to_str().unwrap().parse::<AccountsFile>().unwrap_err();
        assert!(error.contains("bad.json is invalid"), "{error}");
        assert!(error.contains("expected a JSON array of"), "{error}");
        let good = dir.join("good.json");
        std::fs::write(&good, r#"[{"accountId": "1", "roles": ["R"]}]"#).unwrap();
        let file: AccountsFile = good.to_str().unwrap().parse().unwrap();
        assert_eq!(file.path, good);
        assert_eq!(file.accounts, [PortalAccount::new("1", ["R"])]);
    }
}
