//! Organisations and teams: who may create one and under which names, the last-owner rule,
//! who may change members and teams, team membership requiring organisation membership, platform
//! roles set by site admins only, and what each change does at the dataset gate at once.

use strata_core::auth::{self, Action, Principal, Role};
use strata_core::datasets::{gate, settings};
use strata_core::db::{OrgRole, Permission, Visibility};
use strata_core::error::Kind;
use strata_core::{accounts, orgs, Core};

use crate::common::*;

/// What `name`'s `*` token may do to `ns/ds` now (the user row is read again, as each request
/// does).
async fn gate_says(core: &Core, secret: &str, ns: &str, ds: &str, a: Action) -> Option<Kind> {
    let who = auth::authenticate(core, secret).await.expect("the token");
    kind(&gate::dataset(core, &who, ns, ds, a).await)
}

#[test]
fn creating_organisations_needs_a_role_and_a_free_name() {
    run(async {
        let f = fixture().await;
        let core = &f.core;
        let mut t = Tally::default();
        for (role, name, want) in [
            (Role::Scientist, "orgs-sci", Some(Kind::Forbidden)),
            (Role::Analyst, "orgs-ana", Some(Kind::Forbidden)),
            (Role::Viewer, "orgs-view", Some(Kind::Forbidden)),
            (Role::Engineer, "orgs-eng", None),
            (Role::Admin, "orgs-adm", None),
        ] {
            let actor = new_user(core, &format!("{name}-maker"), role).await;
            let got = orgs::create(core, &actor, name).await;
            t.eq(kind(&got), want, &format!("a {role:?} creates {name}"));
            if let Ok(d) = got {
                t.eq(
                    d.members,
                    vec![(actor.username.clone(), OrgRole::Owner)],
                    "its creator owns it",
                );
            }
        }
        let engineer = f.user("engineer");
        // A namespace that still holds datasets (its user gone) is not taken over.
        let someone = new_user(core, "orgs-someone", Role::Scientist).await;
        dataset(core, "ghostns", "left", &someone, Visibility::Private, &[]).await;
        for (name, want) in [
            ("orgs-eng", Kind::Conflict),
            ("ORGS-ENG", Kind::Conflict),
            ("outsider", Kind::Conflict),
            ("Outsider", Kind::Conflict),
            ("ghostns", Kind::Conflict),
            ("api", Kind::Invalid),
            ("Settings", Kind::Invalid),
            ("", Kind::Invalid),
            ("a/b", Kind::Invalid),
            ("-lead", Kind::Invalid),
            ("x.git", Kind::Invalid),
        ] {
            t.eq(
                kind(&orgs::create(core, engineer, name).await),
                Some(want),
                &format!("create {name:?}"),
            );
        }
        t.finish("orgs: creation");
    })
}

#[test]
fn owners_members_and_teams_and_what_they_change_at_the_gate() {
    run(async {
        let f = fixture().await;
        let core = &f.core;
        let mut t = Tally::default();
        let boss = new_user(core, "lo-boss", Role::Engineer).await;
        let ann = new_user(core, "lo-ann", Role::Scientist).await;
        let ben = new_user(core, "lo-ben", Role::Scientist).await;
        new_user(core, "lo-cat", Role::Scientist).await;
        let admin = f.user("siteadmin");
        orgs::create(core, &boss, "lo").await.unwrap();
        dataset(core, "lo", "data", &boss, Visibility::Private, FILES).await;
        let secret = |u: &strata_core::db::User| {
            let u = u.clone();
            async move {
                accounts::create_token(core, &u.username, &u, "lo", "*", None)
                    .await
                    .unwrap()
            }
        };
        let (ann_s, ben_s) = (secret(&ann).await, secret(&ben).await);

        // The last owner stays an owner.
        let demote_self = orgs::set_member_role(core, &boss, "lo", "lo-boss", "member").await;
        t.eq(
            kind(&demote_self),
            Some(Kind::Invalid),
            "the last owner demotes themself",
        );
        t.eq(
            kind(&orgs::remove_member(core, &boss, "lo", "lo-boss").await),
            Some(Kind::Invalid),
            "the last owner leaves",
        );
        t.eq(
            gate_says(core, &ann_s, "lo", "data", Action::Read).await,
            Some(Kind::NotFound),
            "ann before joining",
        );
        for (actor, member, role, want) in [
            (&boss, "lo-ann", "member", None),
            (&boss, "lo-ben", "boss", Some(Kind::Invalid)),
            (&boss, "nobody-here", "member", Some(Kind::NotFound)),
            (&ann, "lo-ben", "member", Some(Kind::Forbidden)),
            (&ann, "lo-ann", "owner", Some(Kind::Forbidden)),
            (&ben, "lo-ben", "member", Some(Kind::Forbidden)),
            (admin, "lo-ben", "member", None),
        ] {
            let got = orgs::set_member_role(core, actor, "lo", member, role).await;
            t.eq(
                kind(&got),
                want,
                &format!("{} makes {member} {role}", actor.username),
            );
        }
        let unknown = orgs::set_member_role(core, &boss, "no-such-org", "lo-ann", "member").await;
        t.eq(
            kind(&unknown),
            Some(Kind::NotFound),
            "an unknown organisation",
        );
        // Members read the organisation's datasets; owners administer them.
        t.eq(
            gate_says(core, &ann_s, "lo", "data", Action::Read).await,
            None,
            "a member reads",
        );
        t.eq(
            gate_says(core, &ann_s, "lo", "data", Action::Write).await,
            Some(Kind::Forbidden),
            "a member writes",
        );
        orgs::set_member_role(core, &boss, "lo", "lo-ann", "owner")
            .await
            .unwrap();
        t.eq(
            gate_says(core, &ann_s, "lo", "data", Action::Admin).await,
            None,
            "an owner administers",
        );
        t.eq(
            kind(&orgs::set_member_role(core, &boss, "lo", "lo-boss", "member").await),
            None,
            "one of two owners steps down",
        );
        t.eq(
            kind(&orgs::remove_member(core, &ann, "lo", "lo-ann").await),
            Some(Kind::Invalid),
            "the new last owner leaves",
        );
        t.eq(
            kind(&orgs::set_member_role(core, &boss, "lo", "lo-ben", "owner").await),
            Some(Kind::Forbidden),
            "a former owner",
        );
        let d = orgs::detail(core, &ann, "lo").await.unwrap();
        t.eq(d.yours, true, "an owner may change it");
        t.eq(
            orgs::detail(core, &ben, "lo").await.unwrap().yours,
            false,
            "a member may not",
        );
        t.eq(
            orgs::detail(core, admin, "lo").await.unwrap().yours,
            true,
            "a site admin may",
        );

        // Teams: made by owners, joined by members only, and a collaborator like anyone.
        for (actor, team, want) in [
            (&ann, "crew", None),
            (&ann, "crew", Some(Kind::Conflict)),
            (&ann, "bad/name", Some(Kind::Invalid)),
            (&ann, "", Some(Kind::Invalid)),
            (&ben, "other", Some(Kind::Forbidden)),
        ] {
            let got = orgs::new_team(core, actor, "lo", team).await;
            t.eq(
                kind(&got),
                want,
                &format!("{} makes team {team:?}", actor.username),
            );
        }
        for (member, team, want) in [
            ("lo-cat", "crew", Some(Kind::Invalid)),
            ("lo-ben", "nope", Some(Kind::NotFound)),
            ("lo-ben", "crew", None),
        ] {
            let got = orgs::join_team(core, &ann, "lo", team, member).await;
            t.eq(kind(&got), want, &format!("{member} joins {team}"));
        }
        let ann_p = auth::authenticate(core, &ann_s).await.unwrap();
        let admin_gate = gate::dataset(core, &ann_p, "lo", "data", Action::Admin)
            .await
            .unwrap();
        settings::set_collaborator(core, &ann_p, &admin_gate, "team:crew", Permission::Write)
            .await
            .unwrap();
        t.eq(
            gate_says(core, &ben_s, "lo", "data", Action::Write).await,
            None,
            "the team writes",
        );
        let groups = core.db.groups_of(ben.id).await.unwrap();
        t.eq(
            groups,
            vec!["lo".to_owned(), "lo/crew".to_owned()],
            "ben's groups",
        );
        t.eq(
            kind(&orgs::leave_team(core, &ann, "lo", "crew", "lo-cat").await),
            Some(Kind::NotFound),
            "cat leaves a team she is not in",
        );
        orgs::remove_member(core, &ann, "lo", "lo-ben")
            .await
            .unwrap();
        t.eq(
            core.db.groups_of(ben.id).await.unwrap(),
            Vec::<String>::new(),
            "removed from its teams too",
        );
        t.eq(
            gate_says(core, &ben_s, "lo", "data", Action::Read).await,
            Some(Kind::NotFound),
            "a removed member",
        );
        t.eq(
            kind(&orgs::remove_member(core, &ann, "lo", "lo-ben").await),
            Some(Kind::NotFound),
            "removed twice",
        );
        t.finish("orgs: members and teams");
    })
}

#[test]
fn platform_roles_are_set_by_site_admins_and_cap_grants_at_once() {
    run(async {
        let f = fixture().await;
        let core = &f.core;
        let mut t = Tally::default();
        let owner = new_user(core, "role-owner", Role::Scientist).await;
        let sam = new_user(core, "role-sam", Role::Scientist).await;
        dataset(
            core,
            "role-owner",
            "data",
            &owner,
            Visibility::Private,
            FILES,
        )
        .await;
        let owner_p = Principal::User {
            user: owner.clone(),
            scopes: auth::Scopes::parse("*").unwrap(),
            family: None,
        };
        let admin_gate = gate::dataset(core, &owner_p, "role-owner", "data", Action::Admin)
            .await
            .unwrap();
        settings::set_collaborator(core, &owner_p, &admin_gate, "role-sam", Permission::Admin)
            .await
            .unwrap();
        let sam_s = accounts::create_token(core, "role-sam", &sam, "t", "*", None)
            .await
            .unwrap();
        for (actor, role, want) in [
            ("engineer", "viewer", Some(Kind::Forbidden)),
            ("role-sam", "admin", Some(Kind::Forbidden)),
            ("siteadmin", "boss", Some(Kind::Invalid)),
            ("siteadmin", "Admin", Some(Kind::Invalid)),
        ] {
            let actor = core.db.user_by_name(actor).await.unwrap().unwrap();
            let got = orgs::set_platform_role(core, &actor, "role-sam", role).await;
            t.eq(
                kind(&got),
                want,
                &format!("{} sets role {role:?}", actor.username),
            );
        }
        let unknown =
            orgs::set_platform_role(core, f.user("siteadmin"), "nobody-here", "viewer").await;
        t.eq(
            kind(&unknown),
            Some(Kind::NotFound),
            "an unknown user's role",
        );
        // An admin collaborator, then as each role: the role caps the grant at the next request.
        for (role, allowed) in [
            ("scientist", [true, true, true, true]),
            ("analyst", [true, true, true, false]),
            ("viewer", [true, false, false, false]),
            ("engineer", [true, true, true, true]),
            ("admin", [true, true, true, true]),
        ] {
            orgs::set_platform_role(core, f.user("siteadmin"), "role-sam", role)
                .await
                .unwrap();
            for (a, allowed) in [Action::Read, Action::Verify, Action::Write, Action::Admin]
                .into_iter()
                .zip(allowed)
            {
                let got = gate_says(core, &sam_s, "role-owner", "data", a).await;
                let want = (!allowed).then_some(Kind::Forbidden);
                t.eq(
                    got,
                    want,
                    &format!("an admin collaborator as {role}: {a:?}"),
                );
            }
        }
        t.finish("orgs: platform roles");
    })
}
