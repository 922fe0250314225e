//! Shares, in namespaces of their own: a share made (slashes trimmed, the grantee in any case),
//! used to read and to commit inside its folder only and never the dataset as a whole or another
//! revision, made again (the same share, changed), changed, expired and made live again, revoked,
//! listed as shared with its grantee and made by its author; a whole-dataset share as a grant;
//! team shares following team membership; and the refusals of bad shares. The path gate for every
//! subject is in `paths.rs`.

use strata_core::auth::{Action, Role};
use strata_core::datasets::gate;
use strata_core::db::Visibility;
use strata_core::error::Kind;
use strata_core::orgs;
use strata_core::sharing::shares::{self, Access, Grantee, NewShare};

use crate::common::*;

#[test]
fn a_share_is_made_used_changed_expired_and_revoked() {
    run(async {
        let f = fixture().await;
        let core = &f.core;
        let mut t = Tally::default();
        let owner = new_user(core, "showner", Role::Scientist).await;
        let bob = new_user(core, "shbob", Role::Scientist).await;
        dataset(core, "showner", "files", &owner, Visibility::Private, FILES).await;
        let owner_p = pat(core, &owner, "all", "*").await;
        let bob_p = pat(core, &bob, "all", "*").await;
        let admin = gate::dataset(core, &owner_p, "showner", "files", Action::Admin)
            .await
            .unwrap();
        let read = |path: &'static str| NewShare {
            path: path.into(),
            grantee: Grantee::User("SHBOB".into()),
            access: Access::Read,
            expires_at: None,
        };
        let gate_says = |a: Action, path: &'static str| {
            let bob_p = bob_p.clone();
            async move { kind(&gate::path(core, &bob_p, "showner", "files", path, a).await) }
        };
        t.eq(
            gate_says(Action::Read, "data/a.csv").await,
            Some(Kind::NotFound),
            "before any share",
        );

        let share = shares::create(core, &owner_p, &admin, read("/data/"))
            .await
            .expect("shared");
        t.eq(
            share.path.as_str(),
            "data",
            "slashes around the path are dropped",
        );
        t.eq(
            share.grantee.as_str(),
            "shbob",
            "the grantee as the user spells it",
        );
        for (a, path, want) in [
            (Action::Read, "data/a.csv", None),
            (Action::Read, "data", None),
            (Action::Read, "other.csv", Some(Kind::Forbidden)),
            (Action::Write, "data/a.csv", Some(Kind::Forbidden)),
        ] {
            t.eq(
                gate_says(a, path).await,
                want,
                &format!("read share: {a:?} {path}"),
            );
        }
        let whole = gate::dataset(core, &bob_p, "showner", "files", Action::Read).await;
        t.eq(
            kind(&whole),
            Some(Kind::Forbidden),
            "a folder share does not open the dataset",
        );
        let limited = gate::path(core, &bob_p, "showner", "files", "data", Action::Read)
            .await
            .unwrap();
        t.eq(
            kind(&limited.check_rev(Some("main"))),
            None,
            "the current version",
        );
        t.eq(
            kind(&limited.check_rev(Some("HEAD~1"))),
            Some(Kind::Forbidden),
            "another revision",
        );
        let listed =
            shares::shared_with(core, &bob, &strata_core::auth::Scopes::parse("*").unwrap())
                .await
                .unwrap();
        t.eq(
            listed.iter().map(|s| s.path.as_str()).collect::<Vec<_>>(),
            vec!["data"],
            "shared with bob",
        );
        let narrow = strata_core::auth::Scopes::parse("dataset:other/thing:read").unwrap();
        t.eq(
            shares::shared_with(core, &bob, &narrow)
                .await
                .unwrap()
                .len(),
            0,
            "a token that reaches elsewhere",
        );
        t.eq(
            shares::made_by(core, &owner).await.unwrap().len(),
            1,
            "made by the owner",
        );

        // Sharing the same path again changes that share: now bob writes inside it, only there.
        let again = NewShare {
            access: Access::Write,
            ..read("data")
        };
        let changed = shares::create(core, &owner_p, &admin, again).await.unwrap();
        t.eq(changed.id, share.id, "the same share");
        t.eq(changed.access.as_str(), "write", "its new access");
        let w = gate::path(
            core,
            &bob_p,
            "showner",
            "files",
            "data/new.csv",
            Action::Write,
        )
        .await;
        t.eq(kind(&w), None, "write share: write inside");
        if let Ok(w) = w {
            let inside = put(core, &bob_p, &w, &[("data/new.csv", "n\n")]).await;
            t.eq(kind(&inside), None, "a commit inside the folder");
            let outside = put(
                core,
                &bob_p,
                &w,
                &[("data/ok.csv", "1\n"), ("other.csv", "2\n")],
            )
            .await;
            t.eq(
                kind(&outside),
                Some(Kind::Forbidden),
                "a commit touching a path beside it",
            );
        }
        t.eq(
            gate_says(Action::Read, "data/new.csv").await,
            None,
            "reads what it wrote",
        );

        // Expiry: an expiry in the past is refused; one that passes ends the share at once.
        let past = shares::change(
            core,
            &owner_p,
            &admin,
            share.id,
            Access::Write,
            Some(now() - 5),
        )
        .await;
        t.eq(
            kind(&past),
            Some(Kind::Invalid),
            "change to an expiry in the past",
        );
        let later = shares::change(
            core,
            &owner_p,
            &admin,
            share.id,
            Access::Read,
            Some(now() + 600),
        )
        .await;
        t.eq(kind(&later), None, "change to an expiry in the future");
        t.eq(
            gate_says(Action::Write, "data/a.csv").await,
            Some(Kind::Forbidden),
            "changed to read",
        );
        core.db
            .update_share(share.id, "read", Some(now() - 1))
            .await
            .unwrap();
        t.eq(
            gate_says(Action::Read, "data/a.csv").await,
            Some(Kind::NotFound),
            "expired",
        );
        let listed =
            shares::shared_with(core, &bob, &strata_core::auth::Scopes::parse("*").unwrap())
                .await
                .unwrap();
        t.eq(listed.len(), 0, "an expired share is not listed as shared");
        let rows = shares::list(core, &admin).await.unwrap();
        t.check(rows.len() == 1 && !rows[0].live(), || {
            format!("its admins still see it, expired: {rows:?}")
        });
        core.db.update_share(share.id, "read", None).await.unwrap();
        t.eq(
            gate_says(Action::Read, "data/a.csv").await,
            None,
            "live again",
        );

        shares::revoke(core, &owner_p, &admin, share.id)
            .await
            .expect("revoked");
        t.eq(
            gate_says(Action::Read, "data/a.csv").await,
            Some(Kind::NotFound),
            "revoked",
        );
        let twice = shares::revoke(core, &owner_p, &admin, share.id).await;
        t.eq(kind(&twice), Some(Kind::NotFound), "revoked twice");
        t.eq(
            kind(&shares::get(core, &admin, share.id).await),
            Some(Kind::NotFound),
            "get a revoked one",
        );

        // A whole-dataset share is a grant like a collaborator's.
        let whole = shares::create(core, &owner_p, &admin, read(""))
            .await
            .unwrap();
        let g = gate::dataset(core, &bob_p, "showner", "files", Action::Read).await;
        t.eq(kind(&g), None, "whole share: the dataset gate");
        let g = gate::dataset(core, &bob_p, "showner", "files", Action::Write).await;
        t.eq(
            kind(&g),
            Some(Kind::Forbidden),
            "whole read share: no write",
        );
        shares::revoke(core, &owner_p, &admin, whole.id)
            .await
            .unwrap();
        t.finish("shares: one share's life");
    })
}

#[test]
fn team_shares_follow_team_membership() {
    run(async {
        let f = fixture().await;
        let core = &f.core;
        let mut t = Tally::default();
        let boss = new_user(core, "tsboss", Role::Engineer).await;
        let carol = new_user(core, "tscarol", Role::Scientist).await;
        let dave = new_user(core, "tsdave", Role::Scientist).await;
        orgs::create(core, &boss, "tsorg").await.unwrap();
        orgs::new_team(core, &boss, "tsorg", "crew").await.unwrap();
        for u in ["tscarol", "tsdave"] {
            orgs::set_member_role(core, &boss, "tsorg", u, "member")
                .await
                .unwrap();
        }
        orgs::join_team(core, &boss, "tsorg", "crew", "tscarol")
            .await
            .unwrap();
        dataset(core, "tsboss", "files", &boss, Visibility::Private, FILES).await;
        let boss_p = pat(core, &boss, "all", "*").await;
        let admin = gate::dataset(core, &boss_p, "tsboss", "files", Action::Admin)
            .await
            .unwrap();
        let new = NewShare {
            path: "data/sub".into(),
            grantee: Grantee::Team("tsorg/crew".into()),
            access: Access::Read,
            expires_at: Some(now() + 3600),
        };
        let row = shares::create(core, &boss_p, &admin, new).await.unwrap();
        t.eq(
            (row.kind.as_str(), row.grantee.as_str()),
            ("team", "tsorg/crew"),
            "a team share",
        );
        let carol_p = pat(core, &carol, "all", "*").await;
        let dave_p = pat(core, &dave, "all", "*").await;
        for (who, name, path, want) in [
            (&carol_p, "carol", "data/sub/b.csv", None),
            (&carol_p, "carol", "data/a.csv", Some(Kind::Forbidden)),
            (&dave_p, "dave", "data/sub/b.csv", Some(Kind::NotFound)),
        ] {
            let got = gate::path(core, who, "tsboss", "files", path, Action::Read).await;
            t.eq(kind(&got), want, &format!("{name} reads {path}"));
        }
        orgs::leave_team(core, &boss, "tsorg", "crew", "tscarol")
            .await
            .unwrap();
        let got = gate::path(
            core,
            &carol_p,
            "tsboss",
            "files",
            "data/sub/b.csv",
            Action::Read,
        )
        .await;
        t.eq(kind(&got), Some(Kind::NotFound), "carol left the team");
        t.finish("shares: teams");
    })
}

#[test]
fn bad_shares_are_refused() {
    run(async {
        let f = fixture().await;
        let core = &f.core;
        let owner = new_user(core, "bsowner", Role::Scientist).await;
        new_user(core, "bsgrantee", Role::Scientist).await;
        dataset(core, "bsowner", "files", &owner, Visibility::Private, FILES).await;
        let owner_p = &pat(core, &owner, "all", "*").await;
        let admin = gate::dataset(core, owner_p, "bsowner", "files", Action::Admin)
            .await
            .unwrap();
        let mut t = Tally::default();
        let user = |n: &str| Grantee::User(n.into());
        let team = |n: &str| Grantee::Team(n.into());
        let cases: Vec<(&str, Grantee, Option<i64>, Kind)> = vec![
            ("nope.csv", user("bsgrantee"), None, Kind::NotFound),
            ("data/missing", user("bsgrantee"), None, Kind::NotFound),
            ("../etc", user("bsgrantee"), None, Kind::Invalid),
            ("data/../other.csv", user("bsgrantee"), None, Kind::Invalid),
            ("data//a.csv", user("bsgrantee"), None, Kind::Invalid),
            ("data/./a.csv", user("bsgrantee"), None, Kind::Invalid),
            ("data", user("bsgrantee"), Some(now() - 10), Kind::Invalid),
            ("data", user("bsgrantee"), Some(now()), Kind::Invalid),
            ("data", user("bsowner"), None, Kind::Invalid),
            ("data", user("BSOWNER"), None, Kind::Invalid),
            ("data", user("nobody-here"), None, Kind::NotFound),
            ("data", user(""), None, Kind::NotFound),
            ("data", team("eng"), None, Kind::Invalid),
            ("data", team("acme/nope"), None, Kind::NotFound),
            ("data", team("nowhere/eng"), None, Kind::NotFound),
        ];
        for (path, grantee, expires_at, want) in cases {
            let case = format!("share {path:?} with {grantee:?} until {expires_at:?}");
            let new = NewShare {
                path: path.into(),
                grantee,
                access: Access::Read,
                expires_at,
            };
            let got = shares::create(core, owner_p, &admin, new).await;
            t.eq(kind(&got), Some(want), &case);
        }
        for word in ["admin", "READ", "", "rw"] {
            t.eq(
                word.parse::<Access>().err().map(|e| e.kind),
                Some(Kind::Invalid),
                &format!("access {word:?}"),
            );
        }
        for (word, want) in [("read", Access::Read), ("write", Access::Write)] {
            t.eq(
                word.parse::<Access>().ok(),
                Some(want),
                &format!("access {word:?}"),
            );
        }
        t.eq(
            shares::list(core, &admin).await.unwrap().iter().len(),
            0,
            "nothing was made",
        );
        t.finish("shares: refusals");
    })
}
