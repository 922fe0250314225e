//! Gated datasets at the gate, in namespaces of their own: who reads a gated public and a gated
//! internal dataset (the owner, a member of its organisation, a stranger, the anonymous, a user
//! whose request was accepted, then ran out, then was reopened, a member of an organisation the
//! gate accepts at once), each refusal the gated one (401 or 403 saying where to ask) and every
//! other refusal unchanged (a private dataset still looks missing); what the preview shows; the
//! form's checks.

use std::collections::BTreeMap;

use strata_core::auth::{Action, Role};
use strata_core::datasets::gate;
use strata_core::db::Visibility;
use strata_core::error::Kind;
use strata_core::orgs;
use strata_core::sharing::access::requests::{self, Answer};
use strata_core::sharing::access::{self, is_gated, Gate, Mode};

use crate::common::*;

#[test]
fn who_reads_a_gated_dataset() {
    run(async {
        let f = fixture().await;
        let core = &f.core;
        let mut t = Tally::default();
        let boss = new_user(core, "gt-boss", Role::Engineer).await;
        let member = new_user(core, "gt-member", Role::Viewer).await;
        let stranger = new_user(core, "gt-stranger", Role::Scientist).await;
        let partner = new_user(core, "gt-partner", Role::Viewer).await;
        let friend = new_user(core, "gt-friend", Role::Engineer).await;
        orgs::create(core, &boss, "gt").await.unwrap();
        orgs::set_member_role(core, &boss, "gt", "gt-member", "member")
            .await
            .unwrap();
        orgs::create(core, &friend, "gt-friends").await.unwrap();
        orgs::set_member_role(core, &friend, "gt-friends", "gt-partner", "member")
            .await
            .unwrap();
        for (name, vis) in [
            ("open", Visibility::Public),
            ("inside", Visibility::Internal),
            ("closed", Visibility::Private),
        ] {
            dataset(core, "gt", name, &boss, vis, FILES).await;
        }
        let boss_p = as_user(&boss);
        let gate_of = |name: &'static str| {
            let boss_p = boss_p.clone();
            async move {
                gate::dataset(core, &boss_p, "gt", name, Action::Admin)
                    .await
                    .unwrap()
            }
        };
        let manual = Gate {
            mode: Some(Mode::Manual),
            ..Gate::default()
        };
        for name in ["open", "inside"] {
            let g = gate_of(name).await;
            access::set_gate(core, &boss_p, &g, manual.clone())
                .await
                .unwrap();
        }
        let closed = gate_of("closed").await;
        t.eq(
            kind(&access::set_gate(core, &boss_p, &closed, manual.clone()).await),
            Some(Kind::Invalid),
            "a private dataset is not gated",
        );

        let reads = |who: strata_core::auth::Principal, name: &'static str| async move {
            let got = gate::dataset(core, &who, "gt", name, Action::Read).await;
            match got {
                Ok(_) => "reads",
                Err(e) if is_gated(&e) && e.kind == Kind::Unauthenticated => "gated 401",
                Err(e) if is_gated(&e) && e.kind == Kind::Forbidden => "gated 403",
                Err(e) if e.kind == Kind::NotFound => "404",
                Err(e) if e.kind == Kind::Unauthenticated => "401",
                Err(_) => "other",
            }
        };
        let anon = strata_core::auth::Principal::Anonymous;
        for (who, name, want) in [
            (as_user(&boss), "open", "reads"),
            (as_user(&member), "open", "reads"),
            (as_user(&member), "inside", "reads"),
            (as_user(&stranger), "open", "gated 403"),
            (as_user(&stranger), "inside", "gated 403"),
            (as_user(&stranger), "closed", "404"),
            (anon.clone(), "open", "gated 401"),
            (anon.clone(), "inside", "401"),
            (anon.clone(), "closed", "401"),
        ] {
            let case = format!("{} {name}", who.display_name());
            t.eq(reads(who, name).await, want, &case);
        }

        // The preview: for the stranger and the anonymous on the public one, not on the private.
        let seen = access::preview(core, &as_user(&stranger), "gt", "open").await;
        t.check(
            seen.as_ref()
                .is_ok_and(|p| !p.access && p.gated == Some(Mode::Manual)),
            || format!("the stranger's preview: {seen:?}"),
        );
        t.eq(
            kind(&access::preview(core, &anon, "gt", "open").await),
            None,
            "the anonymous preview",
        );
        t.eq(
            kind(&access::preview(core, &as_user(&stranger), "gt", "closed").await),
            Some(Kind::NotFound),
            "no preview of a private dataset",
        );

        // Accepted until a second from now; reads; runs out; reopened.
        let answers = BTreeMap::from([
            ("name".to_owned(), "S".to_owned()),
            ("organization".to_owned(), "O".to_owned()),
            ("purpose".to_owned(), "P".to_owned()),
        ]);
        let stranger_p = as_user(&stranger);
        let filed = requests::file(core, &stranger_p, "gt", "open", answers.clone())
            .await
            .unwrap();
        t.eq(filed.status.as_str(), "pending", "filed");
        let open = gate_of("open").await;
        let accept = Answer::Accept {
            expires_at: Some(now() + 1),
        };
        requests::answer(core, &boss_p, &open, "gt-stranger", &accept)
            .await
            .unwrap();
        t.eq(reads(as_user(&stranger), "open").await, "reads", "accepted");
        t.eq(
            reads(as_user(&stranger), "inside").await,
            "gated 403",
            "accepted for the other dataset only",
        );
        let write = gate::dataset(core, &stranger_p, "gt", "open", Action::Write).await;
        t.eq(
            kind(&write),
            Some(Kind::Forbidden),
            "an accepted reader writes nothing",
        );
        tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
        t.eq(
            reads(as_user(&stranger), "open").await,
            "gated 403",
            "ran out",
        );
        let again = requests::file(core, &stranger_p, "gt", "open", answers.clone())
            .await
            .unwrap();
        t.eq(
            again.status.as_str(),
            "pending",
            "filed again after it ran out",
        );
        requests::answer(
            core,
            &boss_p,
            &open,
            "gt-stranger",
            &Answer::Accept { expires_at: None },
        )
        .await
        .unwrap();
        t.eq(
            reads(as_user(&stranger), "open").await,
            "reads",
            "accepted again",
        );
        requests::answer(core, &boss_p, &open, "gt-stranger", &Answer::Reopen)
            .await
            .unwrap();
        t.eq(
            reads(as_user(&stranger), "open").await,
            "gated 403",
            "reopened",
        );

        // A member of an organisation the gate names is accepted at once.
        let inside = gate_of("inside").await;
        let by_org = Gate {
            auto_orgs: vec!["GT-FRIENDS".into()],
            ..manual.clone()
        };
        access::set_gate(core, &boss_p, &inside, by_org)
            .await
            .unwrap();
        let partner_p = as_user(&partner);
        let filed = requests::file(core, &partner_p, "gt", "inside", answers.clone())
            .await
            .unwrap();
        t.eq(
            filed.status.as_str(),
            "accepted",
            "a listed organisation's member",
        );
        t.eq(
            reads(as_user(&partner), "inside").await,
            "reads",
            "reads at once",
        );

        // The form's checks.
        let g = gate_of("open").await;
        for (bad, case) in [
            (
                Gate {
                    remind_days: 30,
                    expire_days: 30,
                    ..manual.clone()
                },
                "reminded no earlier than it expires",
            ),
            (
                Gate {
                    grant_days: Some(5000),
                    ..manual.clone()
                },
                "a grant of 5000 days",
            ),
            (
                Gate {
                    message: "x".repeat(5000),
                    ..manual.clone()
                },
                "a long message",
            ),
        ] {
            t.eq(
                kind(&access::set_gate(core, &boss_p, &g, bad).await),
                Some(Kind::Invalid),
                case,
            );
        }
        t.finish("gated datasets");
    })
}
