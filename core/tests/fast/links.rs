//! Share links: made on a folder, a file and the whole dataset, opened by their secret without an
//! account (the gate they give reaches exactly the linked path, for reading, at the current
//! version), behind a password (wrong guesses counted, then 429), revoked, expired, gone with
//! their dataset; and hostile inputs: bad paths, `..`, empty segments, missing and very long
//! paths, short passwords, past expiries, and secrets of every wrong shape.

use strata_core::auth::{Action, On, Role};
use strata_core::datasets::{self, gate};
use strata_core::db::Visibility;
use strata_core::error::Kind;
use strata_core::sharing::links;

use crate::common::*;
use crate::matrix::under;

/// Paths a link's holder might ask for.
const ASKED: &[&str] = &[
    "",
    "data",
    "data/a.csv",
    "data/sub/b.csv",
    "data2/c.csv",
    "other.csv",
    "other.csvx",
    "datum",
    "Data/a.csv",
];

#[test]
fn links_reach_their_path_only_until_revoked_or_expired() {
    run(async {
        let f = fixture().await;
        let core = &f.core;
        let mut t = Tally::default();
        let owner = new_user(core, "lkowner", Role::Scientist).await;
        let repo = dataset(core, "lkowner", "files", &owner, Visibility::Private, FILES).await;
        let owner_p = pat(core, &owner, "all", "*").await;
        let admin = gate::dataset(core, &owner_p, "lkowner", "files", Action::Admin)
            .await
            .unwrap();
        for (linked, want_path) in [
            ("data", "data"),
            ("/other.csv", "other.csv"),
            ("", ""),
            ("data/sub/", "data/sub"),
        ] {
            let made = links::create(core, &owner_p, &admin, linked, None, None)
                .await
                .expect("a link");
            t.eq(
                made.row.path.as_str(),
                want_path,
                &format!("link {linked:?}: its path"),
            );
            t.eq(made.secret.len(), 48, "a 48-character secret");
            t.eq(made.row.password_hash.is_none(), true, "no password");
            let opened = links::open(core, &made.secret).await.expect("opened");
            let g = &opened.gated;
            t.eq(
                g.who().is_anonymous(),
                true,
                "the holder is nobody in particular",
            );
            t.eq(g.limited(), true, &format!("link {linked:?} is limited"));
            for path in ASKED {
                t.eq(
                    g.covers(path),
                    under(path, want_path),
                    &format!("link {linked:?} covers {path:?}"),
                );
            }
            for (a, want) in [
                (Action::Read, true),
                (Action::Verify, false),
                (Action::Write, false),
                (Action::Admin, false),
            ] {
                t.eq(
                    g.allows(On::Dataset, a),
                    want,
                    &format!("link {linked:?} allows {a:?}"),
                );
                t.eq(
                    g.allows(On::Objects, a),
                    want,
                    &format!("link {linked:?} allows {a:?} on objects"),
                );
            }
            t.eq(
                g.writes(want_path),
                false,
                &format!("link {linked:?} writes nothing"),
            );
            t.eq(kind(&g.check_rev(None)), None, "the current version");
            t.eq(kind(&g.check_rev(Some("main"))), None, "main by name");
            t.eq(
                kind(&g.check_rev(Some("HEAD~1"))),
                Some(Kind::Forbidden),
                "history",
            );
            // Its object decisions: linked objects of this dataset only.
            let (oid, size) = crate::access::object();
            core.db.link_object(repo.id, &oid, size).await.unwrap();
            let d = g.objects(core, &[oid], Action::Read).await.unwrap();
            t.eq(
                d,
                vec![gate::Decision::Linked(size)],
                "the dataset's object",
            );

            t.eq(
                links::list(core, &admin)
                    .await
                    .unwrap()
                    .iter()
                    .any(|l| l.id == made.row.id),
                true,
                "listed",
            );
            links::revoke(core, &owner_p, &admin, made.row.id)
                .await
                .expect("revoked");
            t.eq(
                kind(&links::open(core, &made.secret).await),
                Some(Kind::NotFound),
                "revoked link",
            );
            t.eq(
                links::list(core, &admin)
                    .await
                    .unwrap()
                    .iter()
                    .any(|l| l.id == made.row.id),
                false,
                "not listed",
            );
            let twice = links::revoke(core, &owner_p, &admin, made.row.id).await;
            t.eq(kind(&twice), Some(Kind::NotFound), "revoked twice");
        }

        // An expiry: in the past is refused; once passed, the link is gone.
        let past = links::create(core, &owner_p, &admin, "data", None, Some(now() - 1)).await;
        t.eq(kind(&past), Some(Kind::Invalid), "an expiry in the past");
        let made = links::create(core, &owner_p, &admin, "data", None, Some(now() + 600))
            .await
            .unwrap();
        t.eq(
            kind(&links::open(core, &made.secret).await),
            None,
            "before its expiry",
        );
        sqlx::query("UPDATE share_links SET expires_at = $1 WHERE id = $2")
            .bind(now() - 1)
            .bind(made.row.id)
            .execute(core.db.pool())
            .await
            .unwrap();
        t.eq(
            kind(&links::open(core, &made.secret).await),
            Some(Kind::NotFound),
            "after its expiry",
        );

        // A link dies with its dataset.
        let made = links::create(core, &owner_p, &admin, "data", None, None)
            .await
            .unwrap();
        datasets::delete(core, &repo).await.unwrap();
        t.eq(
            kind(&links::open(core, &made.secret).await),
            Some(Kind::NotFound),
            "dataset deleted",
        );
        t.finish("links: life of a link");
    })
}

#[test]
fn hostile_link_inputs_are_refused() {
    run(async {
        let f = fixture().await;
        let core = &f.core;
        let mut t = Tally::default();
        let owner = new_user(core, "lhowner", Role::Scientist).await;
        dataset(core, "lhowner", "files", &owner, Visibility::Public, FILES).await;
        let owner_p = pat(core, &owner, "all", "*").await;
        let admin = gate::dataset(core, &owner_p, "lhowner", "files", Action::Admin)
            .await
            .unwrap();
        let deep = "a/".repeat(2000) + "b";
        let wide = "x".repeat(5000);
        let paths: Vec<(&str, Kind)> = vec![
            ("..", Kind::Invalid),
            ("../lhowner", Kind::Invalid),
            ("data/..", Kind::Invalid),
            ("data/../other.csv", Kind::Invalid),
            ("data//a.csv", Kind::Invalid),
            ("./data", Kind::Invalid),
            ("data/./a.csv", Kind::Invalid),
            ("nope", Kind::NotFound),
            ("data/nope.csv", Kind::NotFound),
            ("DATA", Kind::NotFound),
            ("data/a.csv/x", Kind::NotFound),
            (&deep, Kind::NotFound),
            (&wide, Kind::NotFound),
        ];
        for (path, want) in paths {
            let got = links::create(core, &owner_p, &admin, path, None, None).await;
            let shown: String = path.chars().take(40).collect();
            t.eq(
                kind(&got),
                Some(want),
                &format!("a link to {shown:?} ({} bytes)", path.len()),
            );
        }
        for short in ["short", "1234567", "ééééééé"] {
            let got = links::create(core, &owner_p, &admin, "data", Some(short.into()), None).await;
            t.eq(
                kind(&got),
                Some(Kind::Invalid),
                &format!("password {short:?}"),
            );
        }
        let empty = links::create(core, &owner_p, &admin, "data", Some(String::new()), None)
            .await
            .unwrap();
        t.eq(
            empty.row.password_hash.is_none(),
            true,
            "an empty password is none",
        );
        t.eq(
            links::list(core, &admin).await.unwrap().len(),
            1,
            "only that link was made",
        );

        let real = empty.secret.clone();
        let secrets = vec![
            String::new(),
            "x".into(),
            "g".repeat(48),
            "0".repeat(47),
            "0".repeat(49),
            "0".repeat(48),
            real.to_uppercase(),
            format!(" {}", &real[1..]),
            format!("{real}\n"),
            format!("{}/..", &real[..45]),
            real[..47].to_owned(),
        ];
        for secret in secrets {
            let got = links::open(core, &secret).await;
            t.eq(
                kind(&got),
                Some(Kind::NotFound),
                &format!("secret {secret:?}"),
            );
        }
        t.eq(
            kind(&links::open(core, &real).await),
            None,
            "the real secret",
        );
        t.finish("links: hostile inputs");
    })
}

#[test]
fn link_passwords_are_checked_and_guesses_limited() {
    run(async {
        let f = fixture().await;
        let core = &f.core;
        let mut t = Tally::default();
        let owner = new_user(core, "lpowner", Role::Scientist).await;
        dataset(core, "lpowner", "files", &owner, Visibility::Private, FILES).await;
        let owner_p = pat(core, &owner, "all", "*").await;
        let admin = gate::dataset(core, &owner_p, "lpowner", "files", Action::Admin)
            .await
            .unwrap();
        let made = links::create(
            core,
            &owner_p,
            &admin,
            "data",
            Some("correct horse".into()),
            None,
        )
        .await
        .unwrap();
        let row = links::open(core, &made.secret).await.unwrap().link;
        let unlock = links::unlock_token(&made.secret, &row);
        t.eq(
            unlock.is_some(),
            true,
            "a password-protected link has an unlock token",
        );
        t.check(unlock != links::unlock_token(&"0".repeat(48), &row), || {
            "the token depends on the secret".into()
        });
        let check = |pw: &'static str, ip: &'static str| {
            let row = row.clone();
            from_ip(ip, async move {
                links::check_password(core, &row, pw.into())
                    .await
                    .map_err(|e| e.kind)
            })
        };
        t.eq(
            check("correct horse", "10.1.0.1").await,
            Ok(true),
            "the password",
        );
        t.eq(
            check("Correct horse", "10.1.0.1").await,
            Ok(false),
            "another case",
        );
        for i in 0..9 {
            t.eq(
                check("wrong guess", "10.1.0.2").await,
                Ok(false),
                &format!("wrong guess {i}"),
            );
        }
        // Ten wrong guesses for this link: even the right password waits now, from anywhere.
        t.eq(
            check("correct horse", "10.1.0.3").await,
            Err(Kind::TooMany),
            "after ten wrong guesses",
        );
        t.eq(
            check("wrong guess", "10.1.0.4").await,
            Err(Kind::TooMany),
            "another address",
        );
        // Another link is not affected.
        let other = links::create(
            core,
            &owner_p,
            &admin,
            "other.csv",
            Some("battery staple".into()),
            None,
        )
        .await
        .unwrap();
        let other_row = links::open(core, &other.secret).await.unwrap().link;
        let got = from_ip(
            "10.1.0.5",
            links::check_password(core, &other_row, "battery staple".into()),
        )
        .await;
        t.eq(got.map_err(|e| e.kind), Ok(true), "another link's password");
        t.finish("links: passwords");
    })
}
