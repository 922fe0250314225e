//! The strings a set of policies names: every string literal of their Rego text (`"…"` with its
//! escapes, and raw `` `…` `` strings), comments left out. strata asks it which names of a
//! datapackage a policy reads (a column or resource a rule names, e.g.
//! `input.resource.metadata.columns[i].name == "ssn"`), so that a write changing such a name is
//! governed as a change of tags is.

use std::collections::BTreeSet;

/// The string literals of one Rego text.
pub(crate) fn strings(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            // A comment runs to the end of its line.
            '#' => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
            }
            '`' => {
                let mut s = String::new();
                for c in chars.by_ref() {
                    if c == '`' {
                        break;
                    }
                    s.push(c);
                }
                out.insert(s);
            }
            '"' => {
                let mut s = String::new();
                while let Some(c) = chars.next() {
                    match c {
                        '"' | '\n' => break,
                        '\\' => match chars.next() {
                            Some('n') => s.push('\n'),
                            Some('t') => s.push('\t'),
                            Some('r') => s.push('\r'),
                            // `\"`, `\\`, `\/` and the rest: the character itself (a `\u` escape
                            // keeps its digits, which no datapackage name needs).
                            Some(other) => s.push(other),
                            None => break,
                        },
                        c => s.push(c),
                    }
                }
                out.insert(s);
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_of_rego_text_without_comments() {
        let text = r#"package dataapi.authz
# "not this": a comment
rule[{"action": {"name": "RedactAction", "columns": ["ssn"]}, "policy": "say \"hi\""}] {
  input.resource.metadata.columns[i].name == `salary`
  input.resource.metadata.resource == "pay-csv" # "nor this"
}
"#;
        let found = strings(text);
        for s in [
            "action",
            "name",
            "RedactAction",
            "columns",
            "ssn",
            "policy",
            "say \"hi\"",
            "salary",
            "pay-csv",
        ] {
            assert!(found.contains(s), "{s} in {found:?}");
        }
        assert!(!found.iter().any(|s| s.contains("this")), "{found:?}");
    }
}
