//! The access matrix of the dataset gate (`gate::open`): every subject of `matrix::SUBJECTS`
//! (roles × owner, organisation, collaborator, team, share relations, anonymous) with a `*`
//! token, then users and JWTs with each scoped token of `matrix::TOKENS`, × public, internal and
//! private datasets × read, verify, write, admin × the dataset or its objects: each cell allowed,
//! or refused with the status kind the docs give (401, 403 or 404). Then the per-object
//! decisions of `Gated::objects` and the link checks, and datasets that do not exist.

use strata_core::auth::{Action, Principal};
use strata_core::datasets::gate::{self, Decision, Reach};
use strata_core::error::Kind;
use strata_lfs::Oid;

use crate::common::*;
use crate::matrix::*;

/// The object linked to every `acme` dataset, and its size.
pub fn object() -> (Oid, u64) {
    const BYTES: &[u8] = b"the one object of acme";
    (Oid::of(BYTES), BYTES.len() as u64)
}

/// An object linked nowhere.
fn stranger() -> Oid {
    Oid::of(b"an object nobody uploaded")
}

/// `scopes` with `{oid}` filled in.
fn scopes(raw: &str) -> String {
    raw.replace("{oid}", &object().0.to_string())
}

fn star(_: &str, _: Reach, _: Action) -> bool {
    true
}

#[test]
fn every_subject_on_every_dataset_action_and_reach() {
    run(async {
        let f = fixture().await;
        let mut t = Tally::default();
        for s in SUBJECTS {
            let who = f.principal(s.name);
            let bearer = if who.is_anonymous() {
                Bearer::Anonymous
            } else {
                Bearer::User
            };
            for (d, _) in ACME {
                for a in ACTIONS {
                    for r in REACHES {
                        let got = gate::open(&f.core, who, "acme", d, a, r).await;
                        let want = expect_open(bearer, s, star, d, r, a);
                        t.eq(
                            kind(&got),
                            want,
                            &format!("{} {a:?} {r:?} acme/{d}", s.name),
                        );
                    }
                }
            }
        }
        assert_eq!(t.cases(), SUBJECTS.len() * 3 * 4 * 2);
        t.finish("access: subjects × datasets × actions × reaches");
    })
}

/// Users whose grants differ, each with every scoped token.
const SCOPED_USERS: [&str; 7] = [
    "owner",
    "writer",
    "reader",
    "outsider",
    "pathwriter",
    "analysta",
    "viewerw",
];

#[test]
fn scoped_tokens_narrow_each_users_grant() {
    run(async {
        let f = fixture().await;
        let mut t = Tally::default();
        for name in SCOPED_USERS {
            let s = subject(name);
            for (label, raw, reaches) in TOKENS {
                let who = pat(
                    &f.core,
                    f.user(name),
                    &format!("matrix-{label}"),
                    &scopes(raw),
                )
                .await;
                for (d, _) in ACME {
                    for a in ACTIONS {
                        for r in REACHES {
                            let got = gate::open(&f.core, &who, "acme", d, a, r).await;
                            let want = expect_open(Bearer::User, s, *reaches, d, r, a);
                            let case = format!("{name} with {raw:?}: {a:?} {r:?} acme/{d}");
                            t.eq(kind(&got), want, &case);
                        }
                    }
                }
            }
        }
        t.finish("access: users × scoped tokens × datasets × actions × reaches");
    })
}

#[test]
fn jwt_capabilities_grant_exactly_their_scopes() {
    run(async {
        let f = fixture().await;
        let mut t = Tally::default();
        let nobody = subject("anonymous");
        for (label, raw, reaches) in TOKENS {
            let who = jwt(&f.core, &format!("service-{label}"), &scopes(raw)).await;
            t.check(matches!(who, Principal::Jwt { .. }), || {
                format!("{raw:?}: a JWT without a user is a capability")
            });
            for (d, _) in ACME {
                for a in ACTIONS {
                    for r in REACHES {
                        let got = gate::open(&f.core, &who, "acme", d, a, r).await;
                        let want = expect_open(Bearer::Jwt, nobody, *reaches, d, r, a);
                        t.eq(
                            kind(&got),
                            want,
                            &format!("JWT {raw:?}: {a:?} {r:?} acme/{d}"),
                        );
                    }
                }
            }
        }
        t.finish("access: JWT scopes × datasets × actions × reaches");
    })
}

#[test]
fn object_decisions_follow_the_token_and_the_links() {
    run(async {
        let f = fixture().await;
        let (oid, size) = object();
        let other = stranger();
        let owner = f.user("owner");
        let mut t = Tally::default();
        // (caller, dataset, action, decisions for [the linked object, an unlinked one])
        let linked = Decision::Linked(size);
        let cases: Vec<(Principal, &str, &str, Action, [Decision; 2])> = vec![
            (
                f.principal("owner").clone(),
                "*",
                "priv",
                Action::Read,
                [linked, Decision::Unlinked],
            ),
            (
                f.principal("anonymous").clone(),
                "-",
                "pub",
                Action::Read,
                [linked, Decision::Unlinked],
            ),
            (
                f.principal("writer").clone(),
                "*",
                "int",
                Action::Write,
                [linked, Decision::Unlinked],
            ),
            (
                pat(
                    &f.core,
                    owner,
                    "obj-one",
                    &scopes("obj:acme/pub/{oid}:write"),
                )
                .await,
                "obj-one",
                "pub",
                Action::Write,
                [linked, Decision::Denied],
            ),
            (
                pat(
                    &f.core,
                    owner,
                    "obj-one-read",
                    &scopes("obj:acme/pub/{oid}:read"),
                )
                .await,
                "obj-one-read",
                "pub",
                Action::Read,
                [linked, Decision::Denied],
            ),
            (
                pat(&f.core, owner, "obj-ns", "obj:acme:write").await,
                "obj:acme:write",
                "priv",
                Action::Verify,
                [linked, Decision::Unlinked],
            ),
            (
                pat(&f.core, owner, "obj-verify", "obj:*:verify").await,
                "obj:*:verify",
                "pub",
                Action::Verify,
                [linked, Decision::Unlinked],
            ),
            // A public dataset's objects are anyone's to read; elsewhere a JWT reaches its oid.
            (
                jwt(&f.core, "svc-one", &scopes("obj:acme/pub/{oid}:write")).await,
                "JWT obj-one",
                "pub",
                Action::Read,
                [linked, Decision::Unlinked],
            ),
            (
                jwt(&f.core, "svc-one", &scopes("obj:acme/priv/{oid}:read")).await,
                "JWT obj-one",
                "priv",
                Action::Read,
                [linked, Decision::Denied],
            ),
            (
                jwt(&f.core, "svc-one", &scopes("obj:acme/pub/{oid}:write")).await,
                "JWT obj-one",
                "pub",
                Action::Write,
                [linked, Decision::Denied],
            ),
        ];
        for (who, label, d, action, want) in cases {
            let case = format!(
                "{} ({label}) {action:?} objects of acme/{d}",
                who.display_name()
            );
            let gated = match gate::open(&f.core, &who, "acme", d, action, Reach::Objects).await {
                Ok(g) => g,
                Err(e) => {
                    t.check(false, || format!("{case}: the gate refused: {e}"));
                    continue;
                }
            };
            let got = gated
                .objects(&f.core, &[oid, other], action)
                .await
                .expect("decided");
            t.eq(got, want.to_vec(), &case);
            if action == Action::Read {
                let read = gated.read_object(&f.core, &oid, size).await;
                t.eq(
                    kind(&read),
                    None,
                    &format!("{case}: read the linked object"),
                );
                let wrong_size = gated.read_object(&f.core, &oid, size + 1).await;
                t.eq(
                    kind(&wrong_size),
                    Some(Kind::NotFound),
                    &format!("{case}: wrong size"),
                );
                let unlinked = gated.read_object(&f.core, &other, 3).await;
                let want = if want[1] == Decision::Denied {
                    Kind::Forbidden
                } else {
                    Kind::NotFound
                };
                t.eq(
                    kind(&unlinked),
                    Some(want),
                    &format!("{case}: the unlinked object"),
                );
            }
            let missing = gated.check_linked(&f.core, [(other, 3)].into_iter()).await;
            t.eq(
                kind(&missing),
                Some(Kind::Invalid),
                &format!("{case}: metadata naming it"),
            );
            if let Err(e) = &missing {
                let named = e
                    .extra
                    .as_ref()
                    .is_some_and(|x| x.to_string().contains(&other.to_string()));
                t.check(named, || {
                    format!("{case}: the 422 lists the missing object: {:?}", e.extra)
                });
            }
            let ok = gated.check_linked(&f.core, [(oid, size)].into_iter()).await;
            t.eq(
                kind(&ok),
                None,
                &format!("{case}: metadata naming the linked object"),
            );
        }
        t.finish("access: object decisions and link checks");
    })
}

#[test]
fn missing_datasets_look_like_private_ones_and_names_ignore_case() {
    run(async {
        let f = fixture().await;
        let mut t = Tally::default();
        for s in SUBJECTS {
            let who = f.principal(s.name);
            for (ns, name) in [
                ("acme", "nothing"),
                ("nobody", "priv"),
                ("acme", "priv.git"),
            ] {
                for a in ACTIONS {
                    let got = gate::dataset(&f.core, who, ns, name, a).await;
                    let want = if who.is_anonymous() {
                        Kind::Unauthenticated
                    } else {
                        Kind::NotFound
                    };
                    t.eq(
                        kind(&got),
                        Some(want),
                        &format!("{} {a:?} {ns}/{name}", s.name),
                    );
                }
            }
        }
        for (ns, name) in [("ACME", "PRIV"), ("Acme", "Priv"), ("acme", "pRiV")] {
            let got = gate::dataset(&f.core, f.principal("reader"), ns, name, Action::Read).await;
            t.check(got.as_ref().is_ok_and(|g| g.path() == "acme/priv"), || {
                format!("{ns}/{name} is acme/priv for its reader: {:?}", kind(&got))
            });
            let got = gate::dataset(&f.core, f.principal("outsider"), ns, name, Action::Read).await;
            t.eq(
                kind(&got),
                Some(Kind::NotFound),
                &format!("outsider reads {ns}/{name}"),
            );
        }
        t.finish("access: missing datasets and case");
    })
}
