//! Views made ahead of time (a core of its own, its event dispatcher running): a commit of a
//! table is answered before any view exists, the background then makes the table's unrestricted
//! view, and the first reader finds it made; a table that breaks its schema fails in the
//! background (counted), never the write, and its first reader hears why (422); a view made
//! from an object erased meanwhile is not kept.

use std::time::Duration;

use serde_json::json;
use strata_core::auth::{Action, Role};
use strata_core::datasets::gate;
use strata_core::datasets::policies::Surface;
use strata_core::db::Visibility;
use strata_core::error::Kind;
use strata_core::tables::{self, ahead, view};
use strata_core::Core;

use crate::common::*;

/// Runs turns of the background work until `done` holds of its figures (20 s at most).
async fn turns_until(
    core: &Core,
    state: &mut ahead::State,
    done: impl Fn(&ahead::Figures) -> bool,
) -> ahead::Figures {
    for _ in 0..200 {
        ahead::turn(core, state).await.expect("a turn");
        let f = core.tables.ahead.figures();
        if done(&f) {
            return f;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "the background work never got there: {:?}",
        core.tables.ahead.figures()
    );
}

#[test]
fn a_commit_is_answered_first_then_its_tables_view_is_made_for_the_first_reader() {
    run(async {
        let (core, _dir) = own_core(|_| {}).await;
        strata_core::delivery::start(&core);
        let core = &*core;
        let mut state = ahead::State::default();
        // Where the stream stands now: what follows is new.
        ahead::turn(core, &mut state).await.expect("a first turn");
        let owner = new_user(core, "aowner", Role::Scientist).await;
        let who = as_user(&owner);
        dataset(core, "aowner", "t", &owner, Visibility::Public, &[]).await;
        let gated = gate::dataset(core, &who, "aowner", "t", Action::Write)
            .await
            .unwrap();
        let good = b"id,v\n1,2\n2,3\n";
        let bad = b"id,v\n1,2\n2,x\n";
        let typed = json!({"fields": [{"name": "id", "type": "integer"},
            {"name": "v", "type": "integer"}]});
        let package = json!({"name": "t", "resources": [
            resource("good", "good.csv", good, typed.clone()),
            resource("bad", "bad.csv", bad, typed)]});
        let mut t = Tally::default();
        commit_tables(
            core,
            &who,
            &gated,
            None,
            &package,
            &[("good.csv", good), ("bad.csv", bad)],
        )
        .await
        .expect("the write is answered whatever its tables hold");
        // The write was answered before any view: none is made by the write itself.
        t.eq(
            core.tables.ahead.figures(),
            ahead::Figures::default(),
            "nothing made before a turn",
        );
        let figures = turns_until(core, &mut state, |f| f.made + f.failed >= 2).await;
        t.eq(figures.made, 1, "the good table's view made ahead");
        t.eq(figures.failed, 1, "the broken table counted, not retried");
        t.eq(
            figures.retried,
            0,
            "a table that breaks its schema is not retried",
        );
        // The first reader's view is the one made: it is found.
        let reader = pat(core, &owner, "read", "*").await;
        let read = gate::dataset(core, &reader, "aowner", "t", Action::Read)
            .await
            .unwrap();
        let opened = tables::open(core, &read, "good", None, None, Surface::Table)
            .await
            .expect("the table opens");
        t.eq(
            view::ahead(core, read.id, &opened, false)
                .await
                .map(|(_, made)| made)
                .map_err(|e| e.kind),
            Ok(false),
            "the reader's view is made already",
        );
        let made = view::view(core, read.id, &opened).await.expect("the view");
        t.eq(made.rows, 2, "its rows");
        // The broken table: its reader hears why.
        let opened = tables::open(core, &read, "bad", None, None, Surface::Table)
            .await
            .expect("the table opens");
        let refused = view::view(core, read.id, &opened).await;
        t.eq(
            kind(&refused),
            Some(Kind::Invalid),
            "the broken table's read",
        );
        // A move of a branch to a revision whose views exist makes nothing again.
        let branch = strata_core::datasets::refs::create_branch(core, &gated, "b", None).await;
        t.eq(branch.is_ok(), true, "a branch");
        let again = turns_until(core, &mut state, |f| f.found >= 1).await;
        t.eq(again.made, 1, "nothing made twice");
        // A view made from an object an erasure takes meanwhile is not kept: recorded after the
        // erasure deleted what derives from the object, it deletes itself, and says so.
        let opened = tables::open(core, &read, "good", None, None, Surface::Table)
            .await
            .expect("the table opens");
        core.db
            .erase_links(read.id, &[opened.object.0.to_string()])
            .await
            .expect("the object erased");
        for round in ["made", "made again, not found"] {
            let made = view::text_view(core, read.id, &opened).await;
            t.eq(kind(&made), Some(Kind::Gone), round);
        }
        t.finish("views ahead of time");
        assert!(core.tasks.shutdown(Duration::from_secs(5)).await, "stopped");
    })
}
