//! `.lfsconfig` is strata's: it points every clone's git-lfs at the dataset's own LFS endpoint
//! (`Package::files` writes it). A writer who could change where it points would send every
//! clone's uploads and downloads elsewhere, so a write may neither remove it nor change the
//! settings that say where git-lfs goes ([`endpoints`]: `lfs.url`, `lfs.pushurl`,
//! `remote.<name>.lfsurl`, `remote.<name>.lfspushurl` and the `url.<base>.insteadOf` rewrites);
//! its other settings are free ([`check_change`]). The file is read as git reads config files,
//! without includes (git-lfs reads `.lfsconfig` that way).

use std::collections::BTreeSet;

/// The settings of a `.lfsconfig` that decide where git-lfs sends and fetches objects, each as
/// (key, value): the section and setting names lowercased as git compares them, a quoted
/// subsection as written. `Err` when the text is not a config file git would read.
pub fn endpoints(data: &[u8]) -> Result<BTreeSet<(String, String)>, String> {
    let text = std::str::from_utf8(data).map_err(|_| "it is not UTF-8 text".to_owned())?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text.lines();
    let mut out = BTreeSet::new();
    let mut section: Option<(String, Option<String>)> = None;
    while let Some(line) = lines.next() {
        let mut rest = line.trim_start();
        if rest.starts_with('[') {
            let (found, after) = header(rest)?;
            section = Some(found);
            rest = after.trim_start();
        }
        if rest.is_empty() || rest.starts_with('#') || rest.starts_with(';') {
            continue;
        }
        let Some((name, sub)) = &section else {
            return Err(format!("{rest:?} is outside any [section]"));
        };
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
            .unwrap_or(rest.len());
        let key = rest[..end].to_ascii_lowercase();
        if !key.starts_with(|c: char| c.is_ascii_alphabetic()) {
            return Err(format!("{rest:?} is no setting"));
        }
        let after = rest[end..].trim_start();
        let value = if after.is_empty() || after.starts_with('#') || after.starts_with(';') {
            // A setting without `=` is a boolean true.
            "true".to_owned()
        } else if let Some(v) = after.strip_prefix('=') {
            value(v, &mut lines)?
        } else {
            return Err(format!("{rest:?} is no setting"));
        };
        let endpoint = match (name.as_str(), sub) {
            ("lfs", None) => ["url", "pushurl"].contains(&key.as_str()),
            ("remote", Some(_)) => ["lfsurl", "lfspushurl"].contains(&key.as_str()),
            ("url", Some(_)) => ["insteadof", "pushinsteadof"].contains(&key.as_str()),
            _ => false,
        };
        if endpoint {
            let full = match sub {
                Some(sub) => format!("{name}.{sub}.{key}"),
                None => format!("{name}.{key}"),
            };
            out.insert((full, value));
        }
    }
    Ok(out)
}

/// A section header at the start of `s` (`[name]`, `[name "subsection"]` or the old
/// `[name.subsection]`), and what follows it on the line.
fn header(s: &str) -> Result<((String, Option<String>), &str), String> {
    let bad = || format!("{s:?} is no section header");
    let inner = s.strip_prefix('[').ok_or_else(bad)?;
    let end = inner
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '.'))
        .ok_or_else(bad)?;
    let name = inner[..end].to_ascii_lowercase();
    if name.is_empty() {
        return Err(bad());
    }
    let rest = &inner[end..];
    if let Some(after) = rest.strip_prefix(']') {
        // `[name.sub]`: the old spelling, its subsection compared lowercased.
        return Ok(match name.split_once('.') {
            Some((n, sub)) => ((n.to_owned(), Some(sub.to_owned())), after),
            None => ((name, None), after),
        });
    }
    if name.contains('.') {
        return Err(bad());
    }
    let quoted = rest
        .trim_start_matches([' ', '\t'])
        .strip_prefix('"')
        .ok_or_else(bad)?;
    let mut sub = String::new();
    let mut chars = quoted.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some((_, e)) => sub.push(e),
                None => return Err(bad()),
            },
            '"' => {
                let after = quoted[i + 1..].strip_prefix(']').ok_or_else(bad)?;
                return Ok(((name, Some(sub)), after));
            }
            c => sub.push(c),
        }
    }
    Err(bad())
}

/// A setting's value from just after its `=`: quotes joined, escapes read, a comment outside
/// quotes dropped, surrounding blanks trimmed, a final backslash continuing on the next line.
fn value<'a>(first: &'a str, lines: &mut impl Iterator<Item = &'a str>) -> Result<String, String> {
    let mut out = String::new();
    let mut blanks = String::new();
    let mut quoted = false;
    let mut line = first;
    loop {
        let mut chars = line.chars();
        let mut continued = false;
        while let Some(c) = chars.next() {
            match c {
                '\\' => {
                    let e = match chars.next() {
                        None => {
                            continued = true;
                            break;
                        }
                        Some('n') => '\n',
                        Some('t') => '\t',
                        Some('b') => '\u{8}',
                        Some(e @ ('"' | '\\')) => e,
                        Some(e) => return Err(format!("\"\\{e}\" is no escape git knows")),
                    };
                    out.push_str(&std::mem::take(&mut blanks));
                    out.push(e);
                }
                '"' => {
                    out.push_str(&std::mem::take(&mut blanks));
                    quoted = !quoted;
                }
                '#' | ';' if !quoted => break,
                ' ' | '\t' if !quoted => {
                    if !out.is_empty() {
                        blanks.push(c);
                    }
                }
                c => {
                    out.push_str(&std::mem::take(&mut blanks));
                    out.push(c);
                }
            }
        }
        if !continued {
            break;
        }
        line = lines
            .next()
            .ok_or_else(|| "a value ends with a backslash".to_owned())?;
    }
    if quoted {
        return Err("a quoted value does not end on its line".into());
    }
    Ok(out)
}

/// Whether a write may take `.lfsconfig` from `before` to `after` (`None`: no such file): the
/// file may not be removed, and where git-lfs goes ([`endpoints`]) may not change, except to
/// `own`, the dataset's own LFS endpoint (what strata writes itself). A new `.lfsconfig` may say
/// nothing of where git-lfs goes, or point at `own`. `Err` is the refusal's reason.
pub fn check_change(
    before: Option<&[u8]>,
    after: Option<&[u8]>,
    own: Option<&str>,
) -> Result<(), String> {
    let refusal = |why: String| {
        format!(
            ".lfsconfig is strata's: it points every clone's git-lfs at this dataset{}, and a \
             write may not change where it points nor remove it ({why})",
            own.map(|u| format!(" ({u})")).unwrap_or_default()
        )
    };
    let Some(after) = after else {
        return match before {
            Some(_) => Err(refusal("this write removes it".into())),
            None => Ok(()),
        };
    };
    if before == Some(after) {
        return Ok(());
    }
    let now = endpoints(after).map_err(|e| refusal(format!("the new one cannot be read: {e}")))?;
    let was = match before {
        Some(before) => endpoints(before).ok(),
        None => Some(BTreeSet::new()),
    };
    let to_own =
        own.is_some_and(|u| now.len() == 1 && now.contains(&("lfs.url".to_owned(), u.to_owned())));
    if was.as_ref() == Some(&now) || to_own {
        return Ok(());
    }
    let shown: Vec<String> = now.iter().map(|(k, v)| format!("{k} = {v}")).collect();
    Err(refusal(match shown.is_empty() {
        true => "this write takes its LFS URL away".into(),
        false => format!("this write makes it say {}", shown.join(", ")),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(pairs: &[(&str, &str)]) -> BTreeSet<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn reads_where_git_lfs_goes_as_git_reads_config() {
        let own = "http://h/ns/d.git/info/lfs";
        let cases: [(&str, BTreeSet<(String, String)>); 7] = [
            (
                "[lfs]\n\turl = http://h/ns/d.git/info/lfs\n",
                set(&[("lfs.url", own)]),
            ),
            (
                "\u{feff}[LFS]\n  URL = \"http://h/ns/d.git/info/lfs\" # strata's\n",
                set(&[("lfs.url", own)]),
            ),
            (
                "[lfs] url = http://e/x\n",
                set(&[("lfs.url", "http://e/x")]),
            ),
            (
                "[remote \"origin\"]\n\tlfsurl = http://e/\\\nx\n",
                set(&[("remote.origin.lfsurl", "http://e/x")]),
            ),
            (
                "[url \"http://e/\"]\n\tinsteadOf = http://h/\n",
                set(&[("url.http://e/.insteadof", "http://h/")]),
            ),
            (
                "[lfs.x]\naccess = basic\n[lfs]\nlocksverify\npushurl=http://e/;c\n",
                set(&[("lfs.pushurl", "http://e/")]),
            ),
            ("; nothing\n[core]\n\tbare = false\n", set(&[])),
        ];
        for (text, want) in cases {
            assert_eq!(endpoints(text.as_bytes()).unwrap(), want, "{text:?}");
        }
        for bad in [
            "url = x\n",
            "[lfs\nurl = x\n",
            "[lfs]\nurl = \"x\n",
            "[lfs]\n=x\n",
        ] {
            assert!(endpoints(bad.as_bytes()).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_write_may_not_repoint_or_remove_it() {
        let own = Some("http://h/ns/d.git/info/lfs");
        let strata = b"[lfs]\n\turl = http://h/ns/d.git/info/lfs\n".as_slice();
        let elsewhere = b"[lfs]\n\turl = http://evil/x\n".as_slice();
        let more = b"[lfs]\n\turl = http://h/ns/d.git/info/lfs\n\tlocksverify = true\n".as_slice();
        let old = b"[lfs]\n\turl = http://old/ns/d.git/info/lfs\n".as_slice();
        // Other settings change freely; the same URL, or strata's own, pass.
        assert!(check_change(Some(strata), Some(more), own).is_ok());
        assert!(check_change(Some(old), Some(strata), own).is_ok());
        assert!(check_change(None, Some(strata), own).is_ok());
        let settings = b"[lfs]\n\tlocksverify = true\n".as_slice();
        assert!(check_change(None, Some(settings), own).is_ok());
        assert!(check_change(None, None, own).is_ok());
        // Pointing elsewhere, taking the URL away, removing the file, or garbling it: refused.
        for (before, after) in [
            (Some(strata), Some(elsewhere)),
            (None, Some(elsewhere)),
            (Some(strata), Some(settings)),
            (Some(strata), None),
            (Some(strata), Some(b"[remote \"origin\"]\nlfsurl = http://evil\n[lfs]\nurl = http://h/ns/d.git/info/lfs\n".as_slice())),
            (Some(strata), Some(b"[lfs\nurl = http://evil\n".as_slice())),
        ] {
            let refused = check_change(before, after, own).unwrap_err();
            assert!(refused.contains(".lfsconfig is strata's"), "{refused}");
        }
    }
}
