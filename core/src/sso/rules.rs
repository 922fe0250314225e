//! The role mapping: `[[provider.rule]]` entries from a provider's users, groups or claims to a
//! platform role and organisation or team memberships. Evaluated at every sign-in.

use serde::Deserialize;

use super::Claims;
use crate::db::Role;

/// One rule: one matcher (`subject`, `user`, `group`, or `claim` with `value`) and what it gives.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// The provider's stable subject (OIDC: `sub`; GitHub: the numeric user id). The safest
    /// matcher: it never changes and is never reused.
    pub subject: Option<String>,
    /// The provider's username (OIDC: the username claim, a verified address if that claim is
    /// `email`; GitHub: the login), any case. Usernames can be renamed and taken over: give
    /// powerful roles by `subject` or `group`.
    pub user: Option<String>,
    /// A group the provider lists (OIDC: the groups claim; GitHub: `org/team-slug` or `org`).
    pub group: Option<String>,
    /// A claim of the id token and the value it must have (or contain, for a list).
    pub claim: Option<String>,
    pub value: Option<String>,
    /// The platform role this gives; the highest role of all matching rules wins.
    #[serde(default, deserialize_with = "super::role_opt")]
    pub role: Option<Role>,
    /// Membership of this organisation (which must exist) …
    pub org: Option<String>,
    /// … and of this team in it (which must exist).
    pub team: Option<String>,
}

impl Rule {
    pub(super) fn check(&self) -> Result<(), String> {
        let matchers = [
            self.subject.is_some(),
            self.user.is_some(),
            self.group.is_some(),
            self.claim.is_some(),
        ];
        if matchers.iter().filter(|m| **m).count() != 1 {
            return Err("a rule needs exactly one of subject, user, group or claim".into());
        }
        if self.claim.is_some() != self.value.is_some() {
            return Err("claim and value go together".into());
        }
        if self.role.is_none() && self.org.is_none() {
            return Err("a rule gives a role, an org (and team), or both".into());
        }
        if self.team.is_some() && self.org.is_none() {
            return Err("a team needs its org".into());
        }
        Ok(())
    }

    fn matches(&self, who: &Claims) -> bool {
        if let Some(subject) = &self.subject {
            return *subject == who.subject;
        }
        if let Some(user) = &self.user {
            return !who.login.is_empty() && user.eq_ignore_ascii_case(&who.login);
        }
        if let Some(group) = &self.group {
            return who.groups.iter().any(|g| g == group);
        }
        let (Some(claim), Some(value)) = (&self.claim, &self.value) else {
            return false;
        };
        match who.extra.get(claim) {
            Some(serde_json::Value::String(s)) => s == value,
            Some(serde_json::Value::Array(items)) => {
                items.iter().any(|i| i.as_str() == Some(value.as_str()))
            }
            Some(serde_json::Value::Bool(b)) => value == &b.to_string(),
            Some(serde_json::Value::Number(n)) => value == &n.to_string(),
            _ => false,
        }
    }
}

/// What a provider's rules give a user at one sign-in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Whether any rule matched (sign-up `admin` admits only such users).
    pub matched: bool,
    /// The highest role of the matching rules.
    pub role: Option<Role>,
    /// `(org, team)` memberships, sorted, without duplicates.
    pub memberships: Vec<(String, Option<String>)>,
}

pub(super) fn rank(role: Role) -> u8 {
    match role {
        Role::Admin => 5,
        Role::Engineer => 4,
        Role::Scientist => 3,
        Role::Analyst => 2,
        Role::Viewer => 1,
    }
}

/// Applies `rules` to a signed-in user's claims.
pub fn evaluate(rules: &[Rule], who: &Claims) -> Outcome {
    let mut out = Outcome::default();
    for rule in rules.iter().filter(|r| r.matches(who)) {
        out.matched = true;
        if let Some(role) = rule.role {
            if out.role.is_none_or(|r| rank(role) > rank(r)) {
                out.role = Some(role);
            }
        }
        if let Some(org) = &rule.org {
            out.memberships.push((org.clone(), None));
            if let Some(team) = &rule.team {
                out.memberships.push((org.clone(), Some(team.clone())));
            }
        }
    }
    out.memberships.sort();
    out.memberships.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(text: &str) -> Rule {
        let r: Rule = basic_toml::from_str(text).unwrap();
        r.check().unwrap();
        r
    }

    #[test]
    fn highest_role_and_memberships() {
        let rules = [
            rule("group = \"staff\"\nrole = \"viewer\""),
            rule("group = \"admins\"\nrole = \"admin\"\norg = \"acme\""),
            rule("user = \"Carol\"\norg = \"acme\"\nteam = \"analysts\""),
            rule("claim = \"dept\"\nvalue = \"research\"\nrole = \"scientist\""),
            rule("subject = \"42\"\nrole = \"engineer\""),
        ];
        let mut who = Claims {
            login: "carol".into(),
            groups: vec!["staff".into()],
            ..Claims::default()
        };
        let out = evaluate(&rules, &who);
        assert!(out.matched);
        assert_eq!(out.role, Some(Role::Viewer));
        assert_eq!(
            out.memberships,
            [
                ("acme".to_owned(), None),
                ("acme".into(), Some("analysts".into()))
            ]
        );
        who.groups.push("admins".into());
        who.extra
            .insert("dept".into(), serde_json::json!(["research"]));
        assert_eq!(evaluate(&rules, &who).role, Some(Role::Admin));
        who.login = "dave".into();
        who.groups.clear();
        who.extra.clear();
        assert_eq!(evaluate(&rules, &who), Outcome::default());
        who.subject = "42".into();
        assert_eq!(evaluate(&rules, &who).role, Some(Role::Engineer));
        // No username (none given, or an unverified address): no `user` rule matches.
        who.login.clear();
        assert!(!rule("user = \"\"\nrole = \"admin\"").matches(&who));
    }
}
