//! The path gate (`gate::path`), the path-share dimension of the access matrix: every subject
//! of `matrix::SUBJECTS` with a `*` token, and the folder-share holders with each scoped token,
//! × `acme/pub`, `acme/int`, `acme/priv` × paths inside the shared folder `data`, beside it, a
//! prefix of its name, another case, the root, missing paths and hostile spellings (`..`, `.`,
//! empty segments) × read and write; for each pass, whether the gate is limited to the share and
//! what it says about writing there.

use strata_core::auth::Action;
use strata_core::datasets::gate;

use crate::common::*;
use crate::matrix::*;

/// Paths asked for: in the shared folder `data`, beside it, missing, and spelled to escape it.
const PATHS: &[&str] = &[
    "",
    "data",
    "data/a.csv",
    "data/sub",
    "data/sub/b.csv",
    "data/missing.csv",
    "data2",
    "data2/c.csv",
    "datum/none.csv",
    "other.csv",
    "Data/a.csv",
    "../data",
    "data/../other.csv",
    "data//a.csv",
    "/data",
    "data/",
    "./data/a.csv",
    "data/.",
];

fn star(_: &str, _: gate::Reach, _: Action) -> bool {
    true
}

#[test]
fn path_gate_for_every_subject_dataset_path_and_action() {
    run(async {
        let f = fixture().await;
        let mut t = Tally::default();
        let mut callers = Vec::new();
        for s in SUBJECTS {
            let bearer = if s.name == "anonymous" {
                Bearer::Anonymous
            } else {
                Bearer::User
            };
            callers.push((
                s,
                format!("{} *", s.name),
                f.principal(s.name).clone(),
                bearer,
                star as Reaches,
            ));
        }
        for name in ["pathwriter", "readerpathwriter", "pathreader"] {
            for (label, raw, reaches) in TOKENS.iter().filter(|(l, ..)| !l.starts_with("obj-one")) {
                let who = pat(&f.core, f.user(name), &format!("path-{label}"), raw).await;
                callers.push((
                    subject(name),
                    format!("{name} {raw:?}"),
                    who,
                    Bearer::User,
                    *reaches,
                ));
            }
        }
        for (s, label, who, bearer, reaches) in &callers {
            for (d, _) in ACME {
                for path in PATHS {
                    for a in [Action::Read, Action::Write] {
                        let got = gate::path(&f.core, who, "acme", d, path, a).await;
                        let want = expect_path(*bearer, s, *reaches, d, path, a);
                        let case = format!("{label}: {a:?} acme/{d}:{path:?}");
                        t.eq(kind(&got), want, &case);
                        if let Ok(g) = &got {
                            // What pages ask to show their forms says what the write gate says.
                            let writes = expect_path(*bearer, s, *reaches, d, path, Action::Write);
                            t.eq(g.writes(path), writes.is_none(), &format!("{case}: writes"));
                            let whole = can(
                                *bearer,
                                s.grant[index(d)],
                                *reaches,
                                d,
                                gate::Reach::Dataset,
                                a,
                            );
                            t.eq(g.limited(), !whole, &format!("{case}: limited"));
                        }
                    }
                }
            }
        }
        t.finish("paths: subjects × datasets × paths × read/write");
    })
}
