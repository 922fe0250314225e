//! Table views, kept and forgotten: a read makes a table's view once and later reads find it; the
//! hourly purge forgets views nobody read since its cutoff (and keeps the others); the next read
//! makes the view again, the same.

use bytes::Bytes;
use serde_json::json;
use strata_core::auth::{Action, Principal, Role, Scopes};
use strata_core::commits;
use strata_core::datasets::gate;
use strata_core::db::Visibility;
use strata_core::tables::{self, At};
use strata_lfs::pointer::Pointer;
use strata_lfs::Oid;
use strata_metastore::Op;

use crate::common::*;

#[test]
fn views_are_made_once_and_forgotten_once_idle() {
    run(async {
        let f = fixture().await;
        let core = &f.core;
        let owner = new_user(core, "viewowner", Role::Scientist).await;
        let repo = dataset(core, "views", "t", &owner, Visibility::Private, &[]).await;
        let text = Bytes::from_static(b"id,name\n1,ann\n2,bob\n3,cy\n");
        let p = Pointer {
            oid: Oid::of(&text),
            size: text.len() as u64,
        };
        core.storage
            .receive(
                repo.id,
                &p.oid,
                p.size,
                futures_util::stream::iter([Ok::<_, std::io::Error>(text)]),
            )
            .await
            .expect("stored");
        let who = Principal::User {
            user: owner.clone(),
            scopes: Scopes::parse("*").unwrap(),
            family: None,
        };
        let gated = gate::dataset(core, &who, "views", "t", Action::Write)
            .await
            .unwrap();
        let package = json!({"name": "t", "resources": [{"name": "t", "path": "t.csv",
            "format": "csv", "bytes": p.size, "hash": format!("sha256:{}", p.oid)}]});
        let change = commits::Change {
            summary: "a table".into(),
            at_head: true,
            ops: vec![
                Op::Put {
                    path: "t.csv".into(),
                    data: p.encode().into_bytes(),
                },
                Op::Put {
                    path: "datapackage.json".into(),
                    data: package.to_string().into_bytes(),
                },
            ],
            lfs_paths: vec!["t.csv".into()],
            ..Default::default()
        };
        commits::commit(core, &who, &gated, change)
            .await
            .expect("committed");

        let gated = gate::dataset(core, &who, "views", "t", Action::Read)
            .await
            .unwrap();
        let at = At {
            resource: "t".into(),
            ..At::default()
        };
        let made = patiently(|| tables::view_of(core, &gated, &at))
            .await
            .expect("a view");
        assert_eq!(made.rows, 3);
        let row = core
            .db
            .table_view(&made.key)
            .await
            .unwrap()
            .expect("recorded");
        assert!(
            (now() - row.used_at).abs() < 60,
            "used now: {}",
            row.used_at
        );
        let found = patiently(|| tables::view_of(core, &gated, &at))
            .await
            .expect("found");
        assert_eq!(
            (found.key.as_str(), found.oid),
            (made.key.as_str(), made.oid)
        );

        // Read since the cutoff: kept. Not read since: forgotten, then made again, the same.
        core.db.forget_table_views(row.used_at).await.unwrap();
        assert!(core.db.table_view(&made.key).await.unwrap().is_some());
        assert!(core.db.forget_table_views(now() + 1).await.unwrap() >= 1);
        assert!(core.db.table_view(&made.key).await.unwrap().is_none());
        let again = patiently(|| tables::view_of(core, &gated, &at))
            .await
            .expect("made again");
        assert_eq!(
            (again.key.as_str(), again.oid, again.rows),
            (made.key.as_str(), made.oid, 3)
        );
        assert!(core.db.table_view(&made.key).await.unwrap().is_some());
    })
}
