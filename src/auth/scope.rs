//! The scope grammar of strata's tokens.
//!
//! ```text
//! scopes   = scope *(" " scope)
//! scope    = "*"                                   ; everything the token's user may do
//!          / "obj:" target [":meta"] [":" actions] ; LFS objects (giftless compatible)
//!          / "dataset:" repos [":" actions]        ; whole datasets
//! target   = repos ["/" (oid / "*")]
//! repos    = segment *("/" segment)                ; a prefix of the repository path;
//!                                                  ; a segment "*" matches any one segment
//! actions  = action *("," action) / "*"            ; omitted: all of read, write, verify
//! action   = "read" / "write" / "verify" / "admin"
//! ```
//!
//! So `obj:acme/survey/*:read` reads every object of `acme/survey`, `obj:acme:read` reads every
//! repository of `acme`, `obj:*:read` reads everything, `obj:acme/team/survey/<oid>:write` writes one
//! object of a nested repository, and `dataset:acme/*:admin` administers every dataset of `acme`.
//! `write` implies `read` and `verify`; `admin` implies everything. The last `/`-segment of an `obj`
//! target counts as the object part only when it is an oid, or `*` after at least two repository
//! segments (giftless's `obj:{org}/{repo}/*`). `:meta` scopes (giftless's metadata-only access)
//! are accepted and grant no transfer.

use std::fmt;

use strata_lfs::Oid;

/// The OpenID Connect scopes, accepted beside strata's own.
pub const OIDC_SCOPES: [&str; 4] = ["openid", "profile", "email", "offline_access"];

/// What a request wants to do to a repository or one of its objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Read,
    Verify,
    Write,
    Admin,
}

impl Action {
    /// Whether holding `self` is enough for `wanted`.
    pub fn covers(self, wanted: Action) -> bool {
        match self {
            Action::Admin => true,
            Action::Write => wanted != Action::Admin,
            Action::Verify => wanted == Action::Verify,
            Action::Read => wanted == Action::Read,
        }
    }

    fn parse(word: &str) -> Option<Action> {
        match word {
            "read" => Some(Action::Read),
            "write" => Some(Action::Write),
            "verify" => Some(Action::Verify),
            "admin" => Some(Action::Admin),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    /// `*`: whatever the token's user may do.
    All,
    /// An OpenID Connect scope (`openid`, `profile`, `email`, `offline_access`): it says what
    /// the userinfo endpoint may tell, and grants nothing on datasets.
    Oidc,
    Repos {
        pattern: Vec<String>,
        object: Option<Oid>,
        actions: Vec<Action>,
        meta: bool,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    raw: String,
    target: Target,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid scope {scope:?}: {reason}")]
pub struct ScopeError {
    pub scope: String,
    pub reason: &'static str,
}

impl Scope {
    pub fn parse(raw: &str) -> Result<Scope, ScopeError> {
        let err = |reason| ScopeError {
            scope: raw.to_owned(),
            reason,
        };
        if raw == "*" {
            return Ok(Scope {
                raw: raw.into(),
                target: Target::All,
            });
        }
        if OIDC_SCOPES.contains(&raw) {
            return Ok(Scope {
                raw: raw.into(),
                target: Target::Oidc,
            });
        }
        let (kind, rest) = raw
            .split_once(':')
            .ok_or_else(|| err("expected obj:… or dataset:…"))?;
        let mut parts = rest.split(':');
        let target = parts
            .next()
            .filter(|t| !t.is_empty())
            .ok_or_else(|| err("missing target"))?;
        let mut meta = false;
        let mut actions_text = None;
        for part in parts {
            match part {
                "meta" if kind == "obj" && !meta && actions_text.is_none() => meta = true,
                _ if actions_text.is_none() => actions_text = Some(part),
                _ => return Err(err("too many ':'-separated parts")),
            }
        }
        let actions = match actions_text {
            None | Some("*") => vec![Action::Write],
            Some(list) => list
                .split(',')
                .map(|w| Action::parse(w.trim()).ok_or_else(|| err("unknown action")))
                .collect::<Result<_, _>>()?,
        };
        let mut segments: Vec<String> = target.split('/').map(str::to_owned).collect();
        if segments
            .iter()
            .any(|s| s.is_empty() || s == "." || s == "..")
        {
            return Err(err("empty, '.' or '..' path segment"));
        }
        let object = match kind {
            "obj" => {
                let last = segments.last().map(String::as_str).unwrap_or_default();
                if let Ok(oid) = last.parse::<Oid>() {
                    segments.pop();
                    Some(oid)
                } else {
                    if last == "*" && segments.len() >= 3 {
                        segments.pop();
                    }
                    None
                }
            }
            "dataset" => None,
            _ => return Err(err("unknown scope kind")),
        };
        if segments.is_empty() {
            return Err(err("missing repository"));
        }
        Ok(Scope {
            raw: raw.into(),
            target: Target::Repos {
                pattern: segments,
                object,
                actions,
                meta,
            },
        })
    }

    /// Whether this scope allows `action` on repository `repo` (`ns/name`), on object `oid` or,
    /// with `None`, on the repository as a whole.
    pub fn allows(&self, repo: &str, oid: Option<&Oid>, action: Action) -> bool {
        match &self.target {
            Target::All => true,
            Target::Oidc => false,
            Target::Repos {
                pattern,
                object,
                actions,
                meta,
            } => {
                if *meta {
                    return false;
                }
                let path: Vec<&str> = repo.split('/').collect();
                let repo_matches = pattern.len() <= path.len()
                    && pattern.iter().zip(&path).all(|(p, s)| p == "*" || p == s);
                let object_matches = match (object, oid) {
                    (None, _) => true,
                    (Some(granted), Some(wanted)) => granted == wanted,
                    (Some(_), None) => false,
                };
                repo_matches && object_matches && actions.iter().any(|a| a.covers(action))
            }
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

/// A token's scopes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Scopes(pub Vec<Scope>);

impl Scopes {
    /// Parses a space-separated list.
    pub fn parse(list: &str) -> Result<Scopes, ScopeError> {
        list.split_whitespace()
            .map(Scope::parse)
            .collect::<Result<_, _>>()
            .map(Scopes)
    }

    pub fn allows(&self, repo: &str, oid: Option<&Oid>, action: Action) -> bool {
        self.0.iter().any(|s| s.allows(repo, oid, action))
    }

    /// Whether the OpenID Connect scope `name` is among these.
    pub fn has_oidc(&self, name: &str) -> bool {
        self.0
            .iter()
            .any(|s| s.target == Target::Oidc && s.raw == name)
    }

    /// Whether these scopes are `*`: everything the token's user may do.
    pub fn allows_everything(&self) -> bool {
        self.0.iter().any(|s| s.target == Target::All)
    }

    /// Whether some object of `repo` may be the subject of `action`.
    pub fn allows_some(&self, repo: &str, action: Action) -> bool {
        self.0.iter().any(|s| match &s.target {
            Target::All => true,
            Target::Oidc => false,
            Target::Repos {
                object: Some(oid), ..
            } => s.allows(repo, Some(oid), action),
            Target::Repos { object: None, .. } => s.allows(repo, None, action),
        })
    }
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list: Vec<&str> = self.0.iter().map(|s| s.raw.as_str()).collect();
        f.write_str(&list.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oid() -> Oid {
        Oid::of(b"x")
    }

    #[test]
    fn giftless_scopes() {
        let s = Scope::parse("obj:acme/survey/*:read").unwrap();
        assert!(s.allows("acme/survey", Some(&oid()), Action::Read));
        assert!(s.allows("acme/survey", None, Action::Read));
        assert!(!s.allows("acme/survey", Some(&oid()), Action::Write));
        assert!(!s.allows("acme/other", Some(&oid()), Action::Read));
        assert!(!s.allows("acmex/survey", Some(&oid()), Action::Read));

        let w = Scope::parse("obj:acme/survey/*:write").unwrap();
        assert!(w.allows("acme/survey", Some(&oid()), Action::Read));
        assert!(w.allows("acme/survey", Some(&oid()), Action::Verify));
        assert!(!w.allows("acme/survey", None, Action::Admin));

        let v = Scope::parse("obj:acme/survey/*:verify").unwrap();
        assert!(v.allows("acme/survey", Some(&oid()), Action::Verify));
        assert!(!v.allows("acme/survey", Some(&oid()), Action::Read));

        let all = Scope::parse("obj:acme/survey/*").unwrap();
        assert!(all.allows("acme/survey", Some(&oid()), Action::Write));
    }

    #[test]
    fn one_object_and_nested_namespaces() {
        let s = Scope::parse(&format!("obj:acme/team/survey/{}:read", oid())).unwrap();
        assert!(s.allows("acme/team/survey", Some(&oid()), Action::Read));
        assert!(!s.allows("acme/team/survey", Some(&Oid::of(b"y")), Action::Read));
        assert!(!s.allows("acme/team/survey", None, Action::Read));
        assert!(Scopes(vec![s]).allows_some("acme/team/survey", Action::Read));
    }

    #[test]
    fn global_and_namespace_grants() {
        let g = Scope::parse("obj:*:read").unwrap();
        assert!(g.allows("anyone/anything", Some(&oid()), Action::Read));
        assert!(!g.allows("anyone/anything", Some(&oid()), Action::Write));
        let ns = Scope::parse("obj:acme:write").unwrap();
        assert!(ns.allows("acme/x", None, Action::Write));
        assert!(!ns.allows("other/x", None, Action::Write));
        let d = Scope::parse("dataset:acme/*:admin").unwrap();
        assert!(d.allows("acme/x", None, Action::Admin));
    }

    #[test]
    fn meta_scopes_grant_no_transfer() {
        let m = Scope::parse("obj:acme/survey/*:meta:read").unwrap();
        assert!(!m.allows("acme/survey", Some(&oid()), Action::Read));
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "obj",
            "obj:",
            "obj:a/../b:read",
            "obj:a/b/*:fly",
            "repo:a/b",
            "obj:a//b",
            "obj:a/b/*:read:write",
        ] {
            assert!(Scope::parse(bad).is_err(), "{bad}");
        }
        assert!(Scopes::parse("obj:a/b/*:read  dataset:c/d:write").is_ok());
    }
}
