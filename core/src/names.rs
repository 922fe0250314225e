//! Names that end up in URLs and on disk: user, organisation and repository names.

/// First path segments the server uses itself, so no user or organisation may take them.
const RESERVED: &[&str] = &[
    "api",
    "oauth",
    "orgs",
    "_transfer",
    "_feeds",
    "apps",
    "app-catalog",
    "_apps",
    "admin",
    "healthz",
    "login",
    "logout",
    "settings",
    "signup",
    "static",
    "ui",
];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind} {name:?}: {reason}")]
pub struct NameError {
    pub kind: &'static str,
    pub name: String,
    pub reason: &'static str,
}

/// 1–64 of `A-Z a-z 0-9 _ . -`, not starting with `.` or `-`, not ending in `.git`.
pub fn check(kind: &'static str, name: &str) -> Result<(), NameError> {
    let err = |reason| {
        Err(NameError {
            kind,
            name: name.to_owned(),
            reason,
        })
    };
    if name.is_empty() || name.len() > 64 {
        return err("use 1 to 64 characters");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
    {
        return err("use only letters, digits, '_', '.' and '-'");
    }
    if name.starts_with('.') || name.starts_with('-') {
        return err("must not start with '.' or '-'");
    }
    if name.ends_with(".git") {
        return err("must not end in .git");
    }
    Ok(())
}

/// A user or organisation name: [`check`], and not a reserved word.
pub fn check_namespace(name: &str) -> Result<(), NameError> {
    check("namespace", name)?;
    if RESERVED.contains(&name.to_ascii_lowercase().as_str()) {
        return Err(NameError {
            kind: "namespace",
            name: name.to_owned(),
            reason: "this name is reserved",
        });
    }
    Ok(())
}

/// A dataset path as it goes into a URL path: every byte but unreserved ones and `/` encoded, so
/// that a file named `a?b#c` is that file and not a query.
pub fn url_path(path: &str) -> String {
    path.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["alice", "acme-corp", "survey_2024", "v1.2"] {
            assert!(check("repository", ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            ".",
            "..",
            ".hidden",
            "-x",
            "a/b",
            "a b",
            "x.git",
            "é",
            &"a".repeat(65),
        ] {
            assert!(check("repository", bad).is_err(), "{bad}");
        }
        assert!(check_namespace("api").is_err());
        assert!(check_namespace("API").is_err());
    }
}
