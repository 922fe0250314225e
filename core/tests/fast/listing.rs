//! What a caller may list (`datasets::listing`): for every subject of the matrix, then for users
//! and JWTs with each scoped token, the `acme` datasets listed are those they may read as a whole
//! (whole-dataset shares count, folder shares and expired shares do not) that the token reaches,
//! plus public ones; pages and their cursors skip what a narrow token may not see; the name query
//! is a case-insensitive substring with `%` and `_` taken literally; visibility changes show at
//! once.

use strata_core::auth::{Action, Principal, Role};
use strata_core::datasets::{gate, listing, settings};
use strata_core::db::Visibility;

use crate::common::*;
use crate::matrix::*;

/// The names of the `acme` datasets `who` lists, by id.
async fn listed(who: &Principal, limit: i64, query: &str) -> (Vec<String>, usize) {
    let core = &fixture().await.core;
    let mut names = Vec::new();
    let mut after = 0;
    let mut pages = 0;
    loop {
        let page = listing::list(core, who, after, limit, Some(query))
            .await
            .expect("a page");
        pages += 1;
        assert!(
            page.datasets.len() as i64 <= limit,
            "a page holds at most its limit"
        );
        names.extend(page.datasets.iter().map(|r| r.path()));
        match page.next_cursor {
            Some(c) => after = c,
            None => return (names, pages),
        }
    }
}

/// The `acme` datasets, in id order, that the rule lets the caller list.
fn expected(bearer: Bearer, s: &Subject, token: Reaches) -> Vec<String> {
    ACME.iter()
        .filter(|(d, _)| {
            let public = *d == "pub";
            match bearer {
                Bearer::Anonymous | Bearer::Jwt => public,
                Bearer::User => {
                    s.grant[index(d)] != Level::None
                        && (public || token(d, gate::Reach::Dataset, Action::Read))
                }
            }
        })
        .map(|(d, _)| format!("acme/{d}"))
        .collect()
}

#[test]
fn every_subject_and_token_lists_what_it_may_read() {
    run(async {
        let f = fixture().await;
        let mut t = Tally::default();
        for s in SUBJECTS {
            let bearer = if s.name == "anonymous" {
                Bearer::Anonymous
            } else {
                Bearer::User
            };
            let want = expected(bearer, s, |_, _, _| true);
            for limit in [100, 1] {
                let (got, _) = listed(f.principal(s.name), limit, "acme/").await;
                t.eq(&got, &want, &format!("{} lists (pages of {limit})", s.name));
            }
        }
        for name in [
            "owner",
            "reader",
            "outsider",
            "pathreader",
            "wholeshare",
            "expired",
        ] {
            let s = subject(name);
            for (label, raw, reaches) in TOKENS.iter().filter(|(l, ..)| *l != "obj-one") {
                let who = pat(&f.core, f.user(name), &format!("list-{label}"), raw).await;
                let want = expected(Bearer::User, s, *reaches);
                for limit in [100, 1] {
                    let (got, _) = listed(&who, limit, "acme/").await;
                    t.eq(
                        &got,
                        &want,
                        &format!("{name} with {raw:?} lists (pages of {limit})"),
                    );
                }
            }
        }
        for (label, raw, _) in TOKENS.iter().filter(|(l, ..)| *l != "obj-one") {
            let who = jwt(&f.core, &format!("lister-{label}"), raw).await;
            let (got, _) = listed(&who, 100, "acme/").await;
            t.eq(
                got,
                expected(Bearer::Jwt, subject("anonymous"), |_, _, _| true),
                &format!("JWT {raw:?} lists"),
            );
        }
        t.finish("listing: subjects and tokens");
    })
}

#[test]
fn pages_queries_and_visibility_changes() {
    run(async {
        let f = fixture().await;
        let core = &f.core;
        let mut t = Tally::default();
        // A narrow token's pages skip what it may not see, and so do their cursors.
        let narrow = pat(
            core,
            f.user("owner"),
            "list-narrow",
            "dataset:acme/priv:read",
        )
        .await;
        let (got, pages) = listed(&narrow, 1, "acme/").await;
        t.eq(
            got,
            vec!["acme/pub".to_owned(), "acme/priv".to_owned()],
            "the narrow token's pages",
        );
        t.eq(pages, 3, "two full pages and an empty last one");
        let first = listing::list(core, &narrow, 0, 1, Some("acme/"))
            .await
            .unwrap();
        let second = listing::list(core, &narrow, first.next_cursor.unwrap(), 1, Some("acme/"))
            .await
            .unwrap();
        let int = core.db.repo_by_path("acme", "int").await.unwrap().unwrap();
        t.check(second.next_cursor != Some(int.id), || {
            "no cursor points at acme/int".into()
        });
        // The query: a case-insensitive substring; % and _ are characters, not patterns.
        let admin = f.principal("siteadmin");
        for (query, want) in [
            ("ACME/P", vec!["acme/pub", "acme/priv"]),
            ("cme/in", vec!["acme/int"]),
            ("acme/%", vec![]),
            ("acme/_ub", vec![]),
            ("acme/pub", vec!["acme/pub"]),
            ("acme/pubx", vec![]),
        ] {
            let (got, _) = listed(admin, 100, query).await;
            t.eq(
                got,
                want.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
                &format!("query {query:?}"),
            );
        }
        // Visibility: a private dataset shows to others once internal, to everyone once public.
        let owner = new_user(core, "vis-owner", Role::Scientist).await;
        dataset(core, "vis-owner", "data", &owner, Visibility::Private, &[]).await;
        let owner_p = pat(core, &owner, "all", "*").await;
        let g = gate::dataset(core, &owner_p, "vis-owner", "data", Action::Admin)
            .await
            .unwrap();
        let mine = || vec!["vis-owner/data".to_owned()];
        for (vis, outsider, anonymous) in [
            (Visibility::Private, vec![], vec![]),
            (Visibility::Internal, mine(), vec![]),
            (Visibility::Public, mine(), mine()),
            (Visibility::Private, vec![], vec![]),
        ] {
            settings::set_visibility(core, &owner_p, &g, vis)
                .await
                .unwrap();
            t.eq(
                listed(f.principal("outsider"), 10, "vis-owner/").await.0,
                outsider,
                &format!("an outsider, {vis}"),
            );
            t.eq(
                listed(&Principal::Anonymous, 10, "vis-owner/").await.0,
                anonymous,
                &format!("anonymous, {vis}"),
            );
            t.eq(
                listed(&owner_p, 10, "vis-owner/").await.0,
                mine(),
                &format!("the owner, {vis}"),
            );
            let reads = gate::dataset(
                core,
                f.principal("outsider"),
                "vis-owner",
                "data",
                Action::Read,
            )
            .await;
            t.eq(
                reads.is_ok(),
                vis != Visibility::Private,
                &format!("an outsider reads it, {vis}"),
            );
        }
        t.finish("listing: pages, queries, visibility");
    })
}
