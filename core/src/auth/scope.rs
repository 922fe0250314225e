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
//!
//! What a scope reaches ([`On`]): `obj:` scopes reach LFS objects only (the batch API, transfers,
//! verify, locks): never the dataset's metadata, its git history, or another token. `dataset:`
//! scopes and `*` reach both.

use std::fmt;

use strata_lfs::Oid;

/// The OpenID Connect scopes, accepted beside strata's own (`groups`: the user's organisations
/// and teams, as `org` and `org/team`, in the id token and userinfo; `roles`, as `profile`
/// does: the user's platform role).
pub const OIDC_SCOPES: [&str; 6] = [
    "openid",
    "profile",
    "email",
    "offline_access",
    "groups",
    "roles",
];

/// What a request wants to do to a repository or one of its objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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

/// What a request touches in a dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum On<'a> {
    /// The dataset itself: its datapackage, files, history, refs, settings (REST, git, pages).
    Dataset,
    /// Every LFS object of the dataset (a repository-wide object grant).
    Objects,
    /// One LFS object of the dataset.
    Object(&'a Oid),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    /// `*`: whatever the token's user may do.
    All,
    /// An OpenID Connect scope (`openid`, `profile`, `email`, `offline_access`): it says what
    /// the userinfo endpoint may tell, and grants nothing on datasets.
    Oidc,
    Repos {
        /// `dataset:` scopes reach the dataset; `obj:` scopes only its objects.
        dataset: bool,
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
                dataset: kind == "dataset",
                pattern: segments,
                object,
                actions,
                meta,
            },
        })
    }

    /// Whether this scope allows `action` on `on` in repository `repo` (`ns/name`).
    pub fn allows(&self, repo: &str, on: On<'_>, action: Action) -> bool {
        match &self.target {
            Target::All => true,
            Target::Oidc => false,
            Target::Repos {
                dataset,
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
                let reaches = match (on, object) {
                    (On::Dataset, _) => *dataset,
                    (On::Objects, granted) => granted.is_none(),
                    (On::Object(_), None) => true,
                    (On::Object(wanted), Some(granted)) => granted == wanted,
                };
                repo_matches && reaches && actions.iter().any(|a| a.covers(action))
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

    pub fn allows(&self, repo: &str, on: On<'_>, action: Action) -> bool {
        self.0.iter().any(|s| s.allows(repo, on, action))
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
    pub fn allows_some_object(&self, repo: &str, action: Action) -> bool {
        self.0.iter().any(|s| match &s.target {
            Target::All => true,
            Target::Oidc => false,
            Target::Repos {
                object: Some(oid), ..
            } => s.allows(repo, On::Object(oid), action),
            Target::Repos { object: None, .. } => s.allows(repo, On::Objects, action),
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
        let o = oid();
        let s = Scope::parse("obj:acme/survey/*:read").unwrap();
        assert!(s.allows("acme/survey", On::Object(&o), Action::Read));
        assert!(s.allows("acme/survey", On::Objects, Action::Read));
        assert!(!s.allows("acme/survey", On::Dataset, Action::Read));
        assert!(!s.allows("acme/survey", On::Object(&o), Action::Write));
        assert!(!s.allows("acme/other", On::Object(&o), Action::Read));
        assert!(!s.allows("acmex/survey", On::Object(&o), Action::Read));

        let w = Scope::parse("obj:acme/survey/*:write").unwrap();
        assert!(w.allows("acme/survey", On::Object(&o), Action::Read));
        assert!(w.allows("acme/survey", On::Object(&o), Action::Verify));
        assert!(!w.allows("acme/survey", On::Objects, Action::Admin));
        assert!(!w.allows("acme/survey", On::Dataset, Action::Write));

        let v = Scope::parse("obj:acme/survey/*:verify").unwrap();
        assert!(v.allows("acme/survey", On::Object(&o), Action::Verify));
        assert!(!v.allows("acme/survey", On::Object(&o), Action::Read));

        let all = Scope::parse("obj:acme/survey/*").unwrap();
        assert!(all.allows("acme/survey", On::Object(&o), Action::Write));
    }

    #[test]
    fn one_object_and_nested_namespaces() {
        let (o, y) = (oid(), Oid::of(b"y"));
        let s = Scope::parse(&format!("obj:acme/team/survey/{o}:read")).unwrap();
        assert!(s.allows("acme/team/survey", On::Object(&o), Action::Read));
        assert!(!s.allows("acme/team/survey", On::Object(&y), Action::Read));
        assert!(!s.allows("acme/team/survey", On::Objects, Action::Read));
        assert!(!s.allows("acme/team/survey", On::Dataset, Action::Read));
        assert!(Scopes(vec![s]).allows_some_object("acme/team/survey", Action::Read));
    }

    #[test]
    fn global_and_namespace_grants() {
        let o = oid();
        let g = Scope::parse("obj:*:read").unwrap();
        assert!(g.allows("anyone/anything", On::Object(&o), Action::Read));
        assert!(!g.allows("anyone/anything", On::Object(&o), Action::Write));
        let ns = Scope::parse("obj:acme:write").unwrap();
        assert!(ns.allows("acme/x", On::Objects, Action::Write));
        assert!(!ns.allows("other/x", On::Objects, Action::Write));
        let d = Scope::parse("dataset:acme/*:admin").unwrap();
        assert!(d.allows("acme/x", On::Dataset, Action::Admin));
        assert!(d.allows("acme/x", On::Object(&o), Action::Write));
    }
    #[test]
    fn meta_scopes_grant_no_transfer() {
        let m = Scope::parse("obj:acme/survey/*:meta:read").unwrap();
        assert!(!m.allows("acme/survey", On::Object(&oid()), Action::Read));
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
