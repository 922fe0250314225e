//! Staged uploads whose requests end badly: a part whose request is dropped mid-write (the
//! connection cut, the handler's future dropped with it) is not "being sent" for ever; it is
//! missing, and sent again it is taken whole.

use bytes::Bytes;
use futures_util::StreamExt;
use strata_core::auth::Role;
use strata_core::db::Visibility;

use crate::common::*;

#[test]
fn a_part_whose_request_is_dropped_mid_write_can_be_sent_again() {
    run(async {
        let f = fixture().await;
        let core = &f.core;
        let owner = new_user(core, "stager", Role::Scientist).await;
        let repo = dataset(core, "stager", "up", &owner, Visibility::Private, &[]).await;
        let key = format!("user:{}", owner.id);
        let data = Bytes::from(vec![7u8; 1000]);
        let up = core
            .storage
            .stage_start(repo.id, &key, data.len() as u64, u64::MAX)
            .await
            .expect("started");
        // Half a part, then nothing: the request hangs until it is dropped.
        let half = futures_util::stream::iter([Ok::<_, std::io::Error>(data.slice(..500))])
            .chain(futures_util::stream::pending());
        let cut = tokio::time::timeout(
            std::time::Duration::from_millis(300),
            core.storage.stage_part(repo.id, &key, (&up.id, 1), half),
        )
        .await;
        assert!(cut.is_err(), "the hanging part never finishes");
        let again = futures_util::stream::iter([Ok::<_, std::io::Error>(data.clone())]);
        core.storage
            .stage_part(repo.id, &key, (&up.id, 1), again)
            .await
            .expect("the part is sent again once its first request is gone");
        let (oid, size) = core
            .storage
            .stage_complete(repo.id, &key, &up.id)
            .await
            .expect("complete");
        assert_eq!((oid, size), (strata_lfs::Oid::of(&data), 1000));
    })
}
