//! Quotas on a core of their own (1,000 bytes per namespace): admissions take turns per
//! namespace, so separate and simultaneous admissions share one room (an object asked for again
//! counts once, room under an upload's key is given back when released); content a commit keeps
//! in git counts and is refused past the quota; a commit that changes nothing makes no revision
//! and counts nothing; and no commit may repoint or remove `.lfsconfig`.

use strata_core::auth::{Action, Role};
use strata_core::commits;
use strata_core::datasets::gate;
use strata_core::db::Visibility;
use strata_core::error::Kind;
use strata_core::quotas;
use strata_lfs::Oid;
use strata_metastore::Op;

use crate::common::*;

#[test]
fn admissions_share_one_room_even_at_once() {
    run(async {
        let (core, _dir) = own_core(|c| c.quota_bytes = 1000).await;
        let owner = new_user(&core, "roomy", Role::Scientist).await;
        let repo = dataset(&core, "roomy", "r", &owner, Visibility::Private, &[]).await;
        let objects: Vec<(Oid, u64)> = (0..4u8).map(|i| (Oid::of(&[i]), 400)).collect();
        // Four admissions at once, one object each: two fit.
        let tries = objects
            .iter()
            .map(|o| quotas::admit(&core, &repo, std::slice::from_ref(o)));
        let decided = futures_util::future::join_all(tries).await;
        let admitted: Vec<bool> = decided
            .into_iter()
            .map(|d| d.expect("decided").first() == Some(&Ok(())))
            .collect();
        assert_eq!(admitted.iter().filter(|a| **a).count(), 2, "{admitted:?}");
        // One admitted before counts once when asked for again.
        let first = objects[admitted.iter().position(|a| *a).unwrap()];
        let again = quotas::admit(&core, &repo, &[first, first]).await.unwrap();
        assert_eq!(again, [Ok(()), Ok(())]);
        // 200 bytes are left: an upload of 150 fits, one of 100 more does not until the first
        // gives its room back.
        let hold = std::time::Duration::from_secs(60);
        quotas::reserve(&core, &repo, "upload:a", 150, hold)
            .await
            .expect("fits");
        let refused = quotas::reserve(&core, &repo, "upload:b", 100, hold).await;
        assert_eq!(kind(&refused), Some(Kind::Quota));
        quotas::release(&core, &repo, "upload:a").await.unwrap();
        quotas::reserve(&core, &repo, "upload:b", 100, hold)
            .await
            .expect("fits once the first is given back");
        // Room becomes the object's once its bytes hash to it; linked, the object counts instead
        // (once, not twice).
        let (oid, size) = (Oid::of(b"uploaded"), 100);
        quotas::convert(&core, &repo, "upload:b", &oid)
            .await
            .unwrap();
        let used = core.db.namespace_used("roomy").await.unwrap();
        core.db.link_object(repo.id, &oid, size).await.unwrap();
        assert_eq!(core.db.namespace_used("roomy").await.unwrap(), used);
    })
}

#[test]
fn commits_count_what_they_keep_in_git() {
    run(async {
        let (core, _dir) = own_core(|c| c.quota_bytes = 1000).await;
        let owner = new_user(&core, "keeper", Role::Scientist).await;
        dataset(&core, "keeper", "k", &owner, Visibility::Private, &[]).await;
        let who = pat(&core, &owner, "t", "*").await;
        let gated = gate::dataset(&core, &who, "keeper", "k", Action::Write)
            .await
            .expect("the owner writes");
        let text = |n: usize| "x".repeat(n);
        // Past the quota: refused, nothing counted.
        let big = text(2000);
        let refused = put(&core, &who, &gated, &[("big.txt", big.as_str())]).await;
        assert_eq!(kind(&refused), Some(Kind::Quota));
        assert_eq!(quotas::usage_of(&core, "keeper").await.unwrap().used, 0);
        // Within it: counted; the same write again makes no revision and counts nothing.
        let small = text(300);
        let first = put(&core, &who, &gated, &[("small.txt", small.as_str())])
            .await
            .expect("fits");
        let again = put(&core, &who, &gated, &[("small.txt", small.as_str())])
            .await
            .expect("nothing to do");
        assert_eq!(again.id, first.id);
        let usage = quotas::usage_of(&core, "keeper").await.unwrap();
        assert_eq!(usage.used, 300);
        assert_eq!(usage.datasets, [("k".to_owned(), 300)]);
        let more = text(800);
        let refused = put(&core, &who, &gated, &[("more.txt", more.as_str())]).await;
        assert_eq!(kind(&refused), Some(Kind::Quota));
        // `.lfsconfig` is strata's: repointed or removed, refused.
        for op in [
            Op::Put {
                path: ".lfsconfig".into(),
                data: b"[lfs]\n\turl = https://elsewhere.example/lfs\n".to_vec(),
            },
            Op::Delete {
                path: ".lfsconfig".into(),
            },
        ] {
            let change = commits::Change {
                summary: "elsewhere".into(),
                at_head: true,
                ops: vec![op],
                ..commits::Change::default()
            };
            let refused = commits::commit(&core, &who, &gated, change).await;
            assert_eq!(kind(&refused), Some(Kind::Forbidden));
        }
    })
}
