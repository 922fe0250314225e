//! Accounts: sign-up (names taken in any case, by an organisation or by a namespace holding
//! datasets, reserved and malformed names, emails, passwords; closed and invite-only sign-up; a
//! core with passwords off and no provider refused), password login and its throttling (five
//! failures per user, any address), and password changes ending the other sessions. Tokens are
//! in `pats.rs`.

use strata_core::accounts::{self, NewAccount};
use strata_core::auth::{self, session, Role};
use strata_core::config::{Signup, Switch};
use strata_core::error::Kind;
use strata_core::Core;

use crate::common::*;

const PW: &str = "a long enough password";

fn form<'a>(
    username: &'a str,
    email: &'a str,
    password: &'a str,
    password2: &'a str,
) -> NewAccount<'a> {
    NewAccount {
        username,
        email,
        password,
        password2,
        invite: "",
    }
}

async fn sign_up(core: &Core, f: NewAccount<'_>) -> Option<Kind> {
    kind(&accounts::sign_up(core, f).await)
}

#[test]
fn sign_up_refuses_taken_reserved_and_malformed_input() {
    run(async {
        let f = fixture().await;
        let core = &f.core;
        let mut t = Tally::default();
        let (user, id) = accounts::sign_up(core, form("Signer", "signer@example.test", PW, PW))
            .await
            .expect("signed up");
        t.eq(user.role, Role::Scientist, "a new account's role");
        let live = session::lookup(core, &id).await.unwrap();
        t.eq(
            live.map(|(_, s)| s.user.id),
            Some(user.id),
            "the new session is the user's",
        );
        // A namespace that still holds datasets (its user gone) is taken too.
        let someone = new_user(core, "signup-someone", Role::Scientist).await;
        dataset(
            core,
            "leftover",
            "x",
            &someone,
            strata_core::db::Visibility::Private,
            &[],
        )
        .await;
        let long = "n".repeat(65);
        let cases: Vec<(NewAccount<'_>, Kind)> = vec![
            (form("signer", "x@example.test", PW, PW), Kind::Conflict),
            (form("SIGNER", "x@example.test", PW, PW), Kind::Conflict),
            (form("acme", "x@example.test", PW, PW), Kind::Conflict),
            (form("ACME", "x@example.test", PW, PW), Kind::Conflict),
            (form("owner", "x@example.test", PW, PW), Kind::Conflict),
            (form("LeftOver", "x@example.test", PW, PW), Kind::Conflict),
            (form("admin", "x@example.test", PW, PW), Kind::Invalid),
            (form("API", "x@example.test", PW, PW), Kind::Invalid),
            (form("", "x@example.test", PW, PW), Kind::Invalid),
            (form("-dash", "x@example.test", PW, PW), Kind::Invalid),
            (form(".dot", "x@example.test", PW, PW), Kind::Invalid),
            (form("a b", "x@example.test", PW, PW), Kind::Invalid),
            (form("a/b", "x@example.test", PW, PW), Kind::Invalid),
            (form("name.git", "x@example.test", PW, PW), Kind::Invalid),
            (form("émile", "x@example.test", PW, PW), Kind::Invalid),
            (form(&long, "x@example.test", PW, PW), Kind::Invalid),
            (form("fresh1", "no-at-sign", PW, PW), Kind::Invalid),
            (form("fresh1", "a b@example.test", PW, PW), Kind::Invalid),
            (
                form("fresh1", "x@example.test", "short", "short"),
                Kind::Invalid,
            ),
            (
                form("fresh1", "x@example.test", "fresh1", "fresh1"),
                Kind::Invalid,
            ),
            (
                form(
                    "freshpass10",
                    "x@example.test",
                    "FRESHPASS10",
                    "FRESHPASS10",
                ),
                Kind::Invalid,
            ),
            (
                form("fresh1", "x@example.test", PW, "another long password"),
                Kind::Invalid,
            ),
        ];
        for (form, want) in cases {
            let case = format!("sign up {:?} <{}>", form.username, form.email);
            t.eq(sign_up(core, form).await, Some(want), &case);
        }
        for name in ["fresh1", "freshpass10"] {
            t.eq(
                core.db.user_by_name(name).await.unwrap(),
                None,
                &format!("no {name} was made"),
            );
        }
        t.finish("accounts: sign-up");
    })
}

#[test]
fn closed_and_invite_only_sign_up() {
    run(async {
        let mut t = Tally::default();
        let (closed, _dir) = own_core(|_| {}).await;
        t.eq(
            accounts::signup_closed(&closed),
            true,
            "the default is admin-only sign-up",
        );
        t.eq(
            sign_up(&closed, form("someone", "s@example.test", PW, PW)).await,
            Some(Kind::Forbidden),
            "closed",
        );
        let (invite, _dir2) = own_core(|c| c.signup = Signup::Invite).await;
        let host = invite.db.create_user("host", None, true).await.unwrap();
        let code = "an-invitation-code";
        invite
            .db
            .create_invitation(&auth::secrets::stored(code), host.id, now() + 600)
            .await
            .unwrap();
        let with = |invite_code| NewAccount {
            invite: invite_code,
            ..form("guest", "g@example.test", PW, PW)
        };
        t.eq(
            sign_up(&invite, with("")).await,
            Some(Kind::Forbidden),
            "no invitation",
        );
        t.eq(
            sign_up(&invite, with("another-code")).await,
            Some(Kind::Forbidden),
            "a wrong invitation",
        );
        t.eq(sign_up(&invite, with(code)).await, None, "the invitation");
        let again = NewAccount {
            invite: code,
            ..form("guest2", "g@example.test", PW, PW)
        };
        t.eq(
            sign_up(&invite, again).await,
            Some(Kind::Forbidden),
            "an invitation used already",
        );
        // Passwords off with no identity provider: nobody could sign in, so no core starts.
        let dir = data_dir();
        let mut config = strata_core::config::Config::with_data_dir(dir.path());
        config.password_login = Switch::Off;
        t.eq(
            Core::build(&config).await.is_err(),
            true,
            "passwords off without a provider",
        );
        t.finish("accounts: closed sign-up");
    })
}

#[test]
fn log_in_throttles_failures_per_user_and_changes_passwords() {
    run(async {
        let f = fixture().await;
        let core = &f.core;
        let mut t = Tally::default();
        for name in ["loginuser", "loginother"] {
            accounts::sign_up(core, form(name, "l@example.test", PW, PW))
                .await
                .unwrap();
        }
        let log_in = |name: &'static str, pw: &'static str, ip: &'static str| {
            from_ip(ip, async move {
                kind(&accounts::log_in(core, name, pw, None).await)
            })
        };
        t.eq(
            log_in("loginuser", PW, "10.2.0.1").await,
            None,
            "the right password",
        );
        t.eq(
            log_in("LOGINUSER", PW, "10.2.0.1").await,
            None,
            "the name in another case",
        );
        t.eq(
            log_in("nobody-at-all", PW, "10.2.0.1").await,
            Some(Kind::Unauthenticated),
            "an unknown user",
        );
        for i in 0..5 {
            let ip = ["10.2.0.2", "10.2.0.3"][i % 2];
            let got = log_in("loginuser", "a wrong password", ip).await;
            t.eq(
                got,
                Some(Kind::Unauthenticated),
                &format!("wrong password {i}"),
            );
        }
        // Five failures for this user: refused from any address, even with the right password.
        t.eq(
            log_in("loginuser", PW, "10.2.0.4").await,
            Some(Kind::TooMany),
            "throttled",
        );
        t.eq(
            log_in("loginuser", "a wrong password", "10.2.0.4").await,
            Some(Kind::TooMany),
            "still",
        );
        for spelling in ["LoginUser", "LOGINUSER"] {
            t.eq(
                log_in(spelling, PW, "10.2.0.7").await,
                Some(Kind::TooMany),
                &format!("throttled however it is spelt: {spelling}"),
            );
        }
        t.eq(
            log_in("loginother", PW, "10.2.0.2").await,
            None,
            "another user from the same address",
        );

        // Changing the password: the current one is checked, the new one typed twice.
        let user = core.db.user_by_name("loginother").await.unwrap().unwrap();
        let (_, id) = from_ip("10.2.0.5", accounts::log_in(core, "loginother", PW, None))
            .await
            .unwrap();
        let (keep, _) = session::lookup(core, &id)
            .await
            .unwrap()
            .expect("a session");
        let (_, other_id) = from_ip("10.2.0.5", accounts::log_in(core, "loginother", PW, None))
            .await
            .unwrap();
        let new = "a brand new password";
        for (current, a, b, want) in [
            ("wrong current one", new, new, Some(Kind::Forbidden)),
            (PW, "short", "short", Some(Kind::Invalid)),
            (PW, "loginother", "loginother", Some(Kind::Invalid)),
            (PW, new, "a different new password", Some(Kind::Invalid)),
            (PW, new, new, None),
        ] {
            let got = accounts::change_password(core, &user, &keep, current, a, b).await;
            t.eq(
                kind(&got),
                want,
                &format!("change from {current:?} to {a:?}/{b:?}"),
            );
        }
        t.eq(
            session::lookup(core, &id).await.unwrap().is_some(),
            true,
            "this session stays",
        );
        t.eq(
            session::lookup(core, &other_id).await.unwrap().is_some(),
            false,
            "other sessions end",
        );
        t.eq(
            log_in("loginother", PW, "10.2.0.6").await,
            Some(Kind::Unauthenticated),
            "the old password",
        );
        t.eq(
            log_in("loginother", "a brand new password", "10.2.0.6").await,
            None,
            "the new password",
        );
        t.finish("accounts: log in and passwords");
    })
}
