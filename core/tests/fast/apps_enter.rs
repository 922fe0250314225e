//! The app proxy's one decision (`apps::enter`), asked directly: who passes to which instance
//! with which credential (a session, a token, the app's cookie, nothing), the owner's one
//! spelling, consent, and on a wildcard `--apps-origin` the ticket over to the instance's own
//! host, the cookie it trades for, and every host and ticket that must not pass.

use strata_core::apps::enter::{self, Credential, Decision, Visit};
use strata_core::auth::session;
use strata_core::config::Config;
use strata_core::db::{Role, User};
use strata_core::error::Kind;
use strata_core::{accounts, apps, Core};

use crate::common::{new_user, own_core, run, Tally};

const APP: &str = "viewer";
const STRATA: &str = "strata.test";

fn manifest(image: &str) -> String {
    format!(
        "id = \"{APP}\"\nname = \"Viewer\"\nscopes = [\"dataset:*:read\"]\n\
         [runner]\nkind = \"kubernetes\"\nimage = \"{image}\"\nport = 8080\n"
    )
}

/// A core serving apps as `change` says, with `ann`'s install of the viewer shared with `bob`
/// (and not with `cy`): the core, its directory, and ann, bob, cy, the admin.
async fn apps_core(
    change: impl FnOnce(&mut Config),
) -> (std::sync::Arc<Core>, tempfile::TempDir, [User; 4]) {
    let (core, dir) = own_core(|c| {
        c.public_url = Some(format!("http://{STRATA}"));
        change(c)
    })
    .await;
    let admin = new_user(&core, "root", Role::Admin).await;
    let [ann, bob, cy] = [
        new_user(&core, "ann", Role::Scientist).await,
        new_user(&core, "bob", Role::Scientist).await,
        new_user(&core, "cy", Role::Scientist).await,
    ];
    apps::add(
        &core,
        &admin,
        &manifest(&format!("example/viewer@sha256:{}", "1".repeat(64))),
    )
    .await
    .expect("the manifest");
    apps::install(&core, &ann, APP, &["dataset:*:read".into()])
        .await
        .expect("ann installs it");
    apps::share(&core, &ann, APP, "bob", true)
        .await
        .expect("shared with bob");
    (core, dir, [ann, bob, cy, admin])
}

/// A signed-in session of `user`: its cookie's value.
async fn session_of(core: &Core, user: &User) -> String {
    session::start(core, user.id).await.expect("a session")
}

async fn token(core: &Core, user: &User, scopes: &str) -> String {
    let name = format!("t{}", serial());
    accounts::create_token(core, &user.username, user, &name, scopes, None)
        .await
        .expect("a token")
}

/// A name no other token of the test has.
fn serial() -> usize {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    N.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
}

async fn ask(core: &Core, owner: &str, credential: Credential, host: &str) -> Decision {
    try_ask(core, owner, credential, host)
        .await
        .expect("a decision")
}

async fn try_ask(
    core: &Core,
    owner: &str,
    credential: Credential,
    host: &str,
) -> strata_core::error::Result<Decision> {
    let target = format!("/apps/{owner}/{APP}/notebooks/a%20b.ipynb?x=1");
    let visit = Visit {
        owner,
        app: APP,
        credential,
        host,
        target: &target,
    };
    enter::enter(core, visit).await
}

/// What a decision is, in a word, with the visitor's name for a pass.
fn said(d: &strata_core::error::Result<Decision>) -> String {
    match d {
        Ok(Decision::Pass(p)) => format!(
            "pass {}",
            p.visitor.as_ref().map_or("nobody", |v| v.username.as_str())
        ),
        Ok(Decision::SignIn { .. }) => "sign in".into(),
        Ok(Decision::Moved { .. }) => "moved".into(),
        Ok(Decision::Ticket { .. }) => "ticket".into(),
        Ok(Decision::NeedsConsent { .. }) => "consent".into(),
        Err(e) => format!("{:?}", e.kind),
    }
}

#[test]
fn same_origin_passes_the_owner_and_whom_they_share_with() {
    run(async {
        let (core, _dir, [ann, bob, cy, _]) = apps_core(|c| c.apps_same_origin = true).await;
        let mut tally = Tally::default();
        let session = |u| session_of(&core, u);
        let cases: Vec<(&str, &str, Credential, String)> = vec![
            (
                "ann's session",
                "ann",
                Credential::Session(session(&ann).await),
                "pass ann".into(),
            ),
            (
                "bob's session (shared)",
                "ann",
                Credential::Session(session(&bob).await),
                "pass bob".into(),
            ),
            (
                "cy's session (not shared)",
                "ann",
                Credential::Session(session(&cy).await),
                format!("{:?}", Kind::Forbidden),
            ),
            (
                "ann's * token",
                "ann",
                Credential::Token(token(&core, &ann, "*").await),
                "pass ann".into(),
            ),
            (
                "ann's read token",
                "ann",
                Credential::Token(token(&core, &ann, "dataset:*:read").await),
                format!("{:?}", Kind::Forbidden),
            ),
            (
                "a made-up token",
                "ann",
                Credential::Token("strata_pat_nope".into()),
                format!("{:?}", Kind::Unauthenticated),
            ),
            (
                "a made-up session",
                "ann",
                Credential::Session("ab".repeat(32)),
                "sign in".into(),
            ),
            ("nothing", "ann", Credential::None, "sign in".into()),
            (
                "an app cookie on strata's origin",
                "ann",
                Credential::AppCookie("x.y".into()),
                "sign in".into(),
            ),
            (
                "the owner spelled ANN",
                "ANN",
                Credential::Session(session(&ann).await),
                "moved".into(),
            ),
            (
                "nobody's app",
                "cy",
                Credential::Session(session(&cy).await),
                format!("{:?}", Kind::NotFound),
            ),
        ];
        for (case, owner, credential, want) in cases {
            // Asked twice: the second answer may come from the decision cache, and must agree.
            for round in ["first", "cached"] {
                let got = said(&try_ask(&core, owner, credential.clone(), STRATA).await);
                tally.check(got == want, || {
                    format!("{case} ({round}): {got}, want {want}")
                });
            }
        }
        // Where each redirect goes.
        let Decision::SignIn { to } = ask(&core, "ann", Credential::None, STRATA).await else {
            unreachable!()
        };
        tally.check(
            to == "http://strata.test/login?next=%2Fapps%2Fann%2Fviewer%2Fnotebooks%2Fa%2520b.ipynb%3Fx%3D1",
            || format!("sign-in goes to {to}"),
        );
        let s = session(&ann).await;
        let Decision::Moved { to } = ask(&core, "ANN", Credential::Session(s), STRATA).await else {
            unreachable!()
        };
        tally.check(to == "/apps/ann/viewer/notebooks/a%20b.ipynb?x=1", || {
            format!("the one spelling is {to}")
        });
        tally.finish("same-origin entries");
    })
}

#[test]
fn a_changed_app_waits_for_its_owners_consent_and_sharing_is_undone_at_once() {
    run(async {
        let (core, _dir, [ann, bob, _, admin]) = apps_core(|c| c.apps_same_origin = true).await;
        let (sa, sb) = (session_of(&core, &ann).await, session_of(&core, &bob).await);
        // Both pass (and the decisions are cached), then the catalog changes what runs.
        assert_eq!(
            said(&try_ask(&core, "ann", Credential::Session(sa.clone()), STRATA).await),
            "pass ann"
        );
        assert_eq!(
            said(&try_ask(&core, "ann", Credential::Session(sb.clone()), STRATA).await),
            "pass bob"
        );
        apps::add(
            &core,
            &admin,
            &manifest(&format!("example/viewer@sha256:{}", "2".repeat(64))),
        )
        .await
        .expect("the change");
        for (who, s, consent) in [("ann", &sa, true), ("bob", &sb, false)] {
            match ask(&core, "ann", Credential::Session(s.clone()), STRATA).await {
                Decision::NeedsConsent {
                    consent_url,
                    error,
                    owner,
                    ..
                } => {
                    assert_eq!(owner, "ann");
                    assert_eq!(error.kind, Kind::Conflict);
                    assert_eq!(consent_url.is_some(), consent, "{who}: {consent_url:?}");
                }
                other => panic!("{who}: {other:?}"),
            }
        }
        apps::install(&core, &ann, APP, &["dataset:*:read".into()])
            .await
            .expect("ann consents again");
        assert_eq!(
            said(&try_ask(&core, "ann", Credential::Session(sb.clone()), STRATA).await),
            "pass bob"
        );
        // Unsharing is seen by the very next request, cache or not.
        apps::share(&core, &ann, APP, "bob", false)
            .await
            .expect("unshared");
        assert_eq!(
            said(&try_ask(&core, "ann", Credential::Session(sb), STRATA).await),
            format!("{:?}", Kind::Forbidden)
        );
    })
}

#[test]
fn apps_are_not_served_unless_the_admin_says_where() {
    run(async {
        let (core, _dir, [ann, ..]) = apps_core(|_| {}).await;
        let s = session_of(&core, &ann).await;
        let got = try_ask(&core, "ann", Credential::Session(s), STRATA).await;
        assert_eq!(said(&got), format!("{:?}", Kind::NotFound));
    })
}

#[test]
fn a_wildcard_apps_origin_hands_a_ticket_over_to_the_instances_own_host() {
    run(async {
        let (core, _dir, [ann, bob, cy, _]) =
            apps_core(|c| c.apps_origin = Some("http://*.apps.test".into())).await;
        let mut tally = Tally::default();
        let own = format!("{}.apps.test", apps::instance_label("ann", APP));
        let other = format!("{}.apps.test", apps::instance_label("bob", APP));

        // On strata's origin a session gets a ticket to the instance's own host.
        let sb = session_of(&core, &bob).await;
        let Decision::Ticket { to } =
            ask(&core, "ann", Credential::Session(sb.clone()), STRATA).await
        else {
            panic!("no ticket")
        };
        tally.check(
            to.starts_with(&format!("http://{own}/_apps/enter?ticket=")),
            || format!("ticket goes to {to}"),
        );
        let query: Vec<(String, String)> =
            serde_urlencoded::from_str(to.split_once('?').unwrap().1).unwrap();
        let ticket = &query[0].1;
        let next = &query[1].1;
        tally.check(next == "/apps/ann/viewer/notebooks/a%20b.ipynb?x=1", || {
            format!("next: {next}")
        });

        // The ticket is traded for the app's cookie on that host only, for paths under the app.
        let refused = |r: strata_core::error::Result<enter::Admitted>| r.err().map(|e| e.kind);
        for (case, host, ticket, next, want) in [
            (
                "on strata's origin",
                STRATA,
                ticket.as_str(),
                next.as_str(),
                Some(Kind::NotFound),
            ),
            (
                "on another instance's host",
                other.as_str(),
                ticket,
                next,
                Some(Kind::NotFound),
            ),
            (
                "a tampered ticket",
                own.as_str(),
                &format!("{ticket}x"),
                next,
                Some(Kind::Forbidden),
            ),
            (
                "next outside the app",
                own.as_str(),
                ticket,
                "/apps/ann/other/",
                Some(Kind::BadRequest),
            ),
            (
                "next elsewhere",
                own.as_str(),
                ticket,
                "//evil.test/",
                Some(Kind::BadRequest),
            ),
            ("on its own host", own.as_str(), ticket, next, None),
        ] {
            let got = refused(enter::admit(&core, host, ticket, next).await);
            tally.check(got == want, || {
                format!("admit {case}: {got:?}, want {want:?}")
            });
        }
        let admitted = enter::admit(&core, &own, ticket, next)
            .await
            .expect("admitted");
        tally.check(
            admitted.prefix == "/apps/ann/viewer/" && !admitted.secure,
            || format!("{admitted:?}"),
        );

        // The cookie lets bob in on the instance's host, and nowhere else.
        let cookie = Credential::AppCookie(admitted.cookie.clone());
        for (case, owner, host, credential, want) in [
            (
                "the cookie on its host",
                "ann",
                own.as_str(),
                cookie.clone(),
                "pass bob".to_owned(),
            ),
            (
                "the cookie on another instance's host",
                "ann",
                other.as_str(),
                cookie.clone(),
                format!("{:?}", Kind::NotFound),
            ),
            (
                "the cookie for another owner's app",
                "cy",
                own.as_str(),
                cookie.clone(),
                "sign in".into(),
            ),
            (
                "no cookie on the instance's host",
                "ann",
                own.as_str(),
                Credential::None,
                "sign in".into(),
            ),
            (
                "a forged cookie",
                "ann",
                own.as_str(),
                Credential::AppCookie("eA.eA".into()),
                "sign in".into(),
            ),
            (
                "a session cookie on the apps host",
                "ann",
                own.as_str(),
                Credential::Session(session_of(&core, &ann).await),
                "sign in".into(),
            ),
            (
                "a * token on the apps host",
                "ann",
                own.as_str(),
                Credential::Token(token(&core, &ann, "*").await),
                "pass ann".into(),
            ),
        ] {
            let got = said(&try_ask(&core, owner, credential, host).await);
            tally.check(got == want, || format!("{case}: {got}, want {want}"));
        }
        // Without a cookie, the browser goes back to strata's origin for a ticket.
        let Decision::SignIn { to } = ask(&core, "ann", Credential::None, &own).await else {
            unreachable!()
        };
        tally.check(
            to == "http://strata.test/apps/ann/viewer/notebooks/a%20b.ipynb?x=1",
            || format!("back to {to}"),
        );
        // cy, whom ann does not share with, gets no ticket.
        let s = session_of(&core, &cy).await;
        let got = said(&try_ask(&core, "ann", Credential::Session(s), STRATA).await);
        tally.check(got == format!("{:?}", Kind::Forbidden), || {
            format!("cy: {got}")
        });
        // Signing out of strata ends the app cookie too, once the second a decision is reused
        // for has passed.
        let (hash, _) = session::lookup(&core, &sb).await.unwrap().unwrap();
        session::end(&core, &hash).await.expect("signed out");
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        let got = said(&try_ask(&core, "ann", cookie, &own).await);
        tally.check(got == "sign in", || {
            format!("the cookie after signing out: {got}")
        });
        tally.finish("apps-origin entries");
    })
}

#[test]
fn an_apps_origin_that_would_hold_strata_or_be_strata_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let with = |public: &str, apps: &str| {
        let mut c = Config::with_data_dir(dir.path());
        c.public_url = Some(public.into());
        c.apps_origin = Some(apps.into());
        strata_core::apps::Apps::load(&c).err().unwrap_or_default()
    };
    let mut tally = Tally::default();
    for (public, apps, refused) in [
        // Shared instances live at `{app}.{apps host}`: strata's own host may not be one of them.
        (
            "https://data.example.org",
            "https://example.org",
            "under it",
        ),
        (
            "https://data.example.org",
            "https://*.example.org",
            "under it",
        ),
        (
            "https://example.org",
            "https://example.org",
            "strata's own origin",
        ),
        ("https://example.org", "https://apps.example.org", ""),
        ("https://example.org", "https://*.apps.example.org", ""),
    ] {
        let got = with(public, apps);
        tally.check(
            if refused.is_empty() {
                got.is_empty()
            } else {
                got.contains(refused)
            },
            || format!("{public} with apps at {apps}: {got:?}"),
        );
    }
    tally.finish("apps origins");
}
