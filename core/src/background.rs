//! The server's background work, started once it serves: the hourly purge (expired rows,
//! abandoned multipart uploads, table views nobody reads, events older than 30 days), the sweep of
//! access requests (every ten minutes), the event dispatcher, the views of new revisions' tables made ahead of time (`crate::tables::ahead`), the runs commits start (`crate::jobs::trigger`), git maintenance, garbage collection (`crate::gc`), the chunking of objects that arrived whole (`crate::xet::chunking`), the mirrors' syncs (`crate::mirrors::sync`), the apps' culling
//! and token renewal, and the sealing of objects stored before encryption was on. Work that must run once among replicas
//! takes a leader lock in the database. All of it stops with [`Core::tasks`].

use std::sync::Arc;

use crate::Core;

/// Starts every background task of `core`.
pub async fn start(core: &Arc<Core>) {
    let tasks = core.tasks.clone();
    let db = core.db.clone();
    // Expired sessions, codes, tokens and old login failures go once an hour.
    // So do the parts of multipart uploads nobody touched for a while, and never while the part
    // URLs handed out for them may still be in use.
    tasks.every("purge", std::time::Duration::from_secs(3600), {
        let (db, storage) = (db.clone(), core.storage.clone());
        let urls_live = core.settings.action_ttl
            + std::time::Duration::from_secs(crate::storage::SIGNATURE_GRACE_SECS as u64);
        let idle = core.settings.multipart_idle.max(urls_live);
        move || {
            let (db, storage) = (db.clone(), storage.clone());
            async move {
                // With several replicas, one of them purges at a time.
                let led = db
                    .as_leader("purge", async {
                        purge(&db, &storage, idle).await;
                    })
                    .await;
                if let Ok(None) = led {
                    tracing::debug!("another replica is purging");
                }
            }
        }
    });
    // Pushes run no `git gc --auto` (it would detach from its request, and replicas sharing the
    // repositories would collect at once): one replica at a time does it every six hours.
    tasks.every(
        "git maintenance",
        std::time::Duration::from_secs(6 * 3600),
        {
            let core = core.clone();
            move || {
                let core = core.clone();
                async move {
                    let _ = core.db.as_leader("git-maintenance", maintain(&core)).await;
                }
            }
        },
    );
    // Garbage collection on its schedule (one run at a time among replicas; see `crate::gc`).
    if !core.settings.gc_interval.is_zero() {
        tasks.every("gc", core.settings.gc_interval, {
            let core = core.clone();
            move || {
                let core = core.clone();
                async move {
                    let options = crate::gc::Options {
                        dry_run: false,
                        grace: core.settings.gc_grace,
                        pace: crate::gc::PACE,
                    };
                    match crate::gc::run(&core, &options, None).await {
                        Ok(r) => tracing::info!(
                            links = r.links_removed,
                            objects = r.objects_removed,
                            bytes = r.bytes_freed,
                            marked = r.marked,
                            "garbage collection done"
                        ),
                        Err(e) => tracing::info!(error = %e.message, "garbage collection skipped"),
                    }
                }
            }
        });
    }
    // Objects that arrived whole, cut into chunks (one replica at a time; see
    // `crate::xet::chunking`).
    if !core.settings.chunking_interval.is_zero() {
        tasks.every("chunking", core.settings.chunking_interval, {
            let core = core.clone();
            move || {
                let core = core.clone();
                async move {
                    let _ = core
                        .db
                        .as_leader("xet-chunking", async {
                            while let Ok(n) = crate::xet::chunking::pass(&core).await {
                                if n == 0 {
                                    break;
                                }
                            }
                        })
                        .await;
                }
            }
        });
    }
    // Access requests to gated datasets: reminded, then expired; grants that ran out told.
    tasks.every("access requests", std::time::Duration::from_secs(600), {
        let core = core.clone();
        move || {
            let core = core.clone();
            async move {
                let at = crate::db::now();
                let sweep = crate::sharing::access::requests::sweep(&core, at);
                match core.db.as_leader("access-requests", sweep).await {
                    Ok(Some(Ok(s))) if s.reminded + s.expired > 0 => tracing::info!(
                        reminded = s.reminded,
                        expired = s.expired,
                        "access requests swept"
                    ),
                    Ok(Some(Err(e))) => {
                        tracing::warn!(error = %e.message, "sweeping access requests failed")
                    }
                    _ => {}
                }
            }
        }
    });
    // Events fanned out to webhooks and delivered.
    crate::delivery::start(core);
    // The views of tables new revisions hold, made ahead of their first reader.
    views_ahead(core).await;
    jobs_on_push(core).await;
    // Mirrors synced when due, asked, or told by their remote (`crate::mirrors`).
    crate::mirrors::sync::start(core);
    // Imports by reference, run as they are asked for (`crate::imports`).
    crate::imports::start_loop(core);
    // App instances: idle ones culled, tokens renewed, all stopped at shutdown.
    crate::apps::launch::background(core);
    // A store that was plain before `--encryption on` is sealed in the background, resumably.
    if core.storage.unsealed_left().await {
        let storage = core.storage.clone();
        tasks.spawn("seal", move |stop| async move {
            tracing::info!("sealing the objects stored before encryption was on");
            let (mut after, mut total) = (String::new(), 0);
            while !stop.is_cancelled() {
                match storage.seal_existing(&after, 100).await {
                    Ok((next, made)) => {
                        total += made;
                        match next {
                            Some(next) => after = next,
                            None => {
                                tracing::info!(copies = total, "every stored object is sealed");
                                break;
                            }
                        }
                    }
                    Err(e) => {
                        tracing::error!(error = %e.message, "sealing stopped; it goes on at the next start");
                        break;
                    }
                }
            }
        });
    }
}

/// Follows the event stream every second and makes the views of the tables new revisions hold
/// (`crate::tables::ahead`), one replica at a time.
async fn views_ahead(core: &Arc<Core>) {
    // Where the stream stands before the first request: every write from now on is followed.
    let mut state = crate::tables::ahead::State::default();
    if let Err(e) = crate::tables::ahead::start(core, &mut state).await {
        tracing::warn!(error = %e.message, "views ahead of time: the event stream is unreadable");
    }
    let core = core.clone();
    core.tasks
        .clone()
        .spawn("views ahead", move |stop| async move {
            loop {
                tokio::select! {
                    () = stop.cancelled() => break,
                    () = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
                }
                let turn = crate::tables::ahead::turn(&core, &mut state);
                match core.db.as_leader("views-ahead", turn).await {
                    Ok(Some(Err(e))) => {
                        tracing::warn!(error = %e.message, "views ahead of time: a turn failed")
                    }
                    Err(e) => tracing::warn!(error = %e, "views ahead of time: no turn"),
                    Ok(_) => {}
                }
            }
        });
}

/// Follows the event stream every second: keeps the jobs datasets declare and starts the runs
/// commits and schedules start (`crate::jobs::trigger`), one replica at a time.
async fn jobs_on_push(core: &Arc<Core>) {
    let mut state = crate::jobs::trigger::Follow::default();
    if let Err(e) = crate::jobs::trigger::start(core, &mut state).await {
        tracing::warn!(error = %e.message, "jobs: the event stream is unreadable");
    }
    let core = core.clone();
    core.tasks
        .clone()
        .spawn("jobs on push", move |stop| async move {
            loop {
                tokio::select! {
                    () = stop.cancelled() => break,
                    () = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
                }
                let turn = crate::jobs::trigger::turn(&core, &mut state);
                match core.db.as_leader("jobs-on-push", turn).await {
                    Ok(Some(Err(e))) => tracing::warn!(error = %e.message, "jobs: a turn failed"),
                    Err(e) => tracing::warn!(error = %e, "jobs: no turn"),
                    Ok(_) => {}
                }
            }
        });
}

/// The hourly purge: expired rows, and multipart uploads idle for `idle`.
async fn purge(db: &crate::db::Db, storage: &crate::storage::Storage, idle: std::time::Duration) {
    match db.purge_expired().await {
        Ok(n) if n > 0 => tracing::info!(rows = n, "purged expired rows"),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "purging expired rows failed"),
    }
    match db
        .forget_table_views(crate::db::now() - crate::tables::view::IDLE)
        .await
    {
        Ok(n) if n > 0 => tracing::info!(views = n, "forgot table views nobody read for a week"),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "forgetting idle table views failed"),
    }
    match db
        .forget_events(crate::db::now() - crate::events::KEPT_SECS)
        .await
    {
        Ok(n) if n > 0 => tracing::info!(events = n, "forgot events older than 30 days"),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "forgetting old events failed"),
    }
    let now = crate::db::now();
    match db
        .forget_notifications(
            now - crate::events::KEPT_SECS,
            now - 6 * crate::events::KEPT_SECS,
        )
        .await
    {
        Ok(n) if n > 0 => tracing::info!(notifications = n, "forgot old notifications"),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "forgetting old notifications failed"),
    }
    match db
        .iceberg_purge_staged(crate::db::now() - crate::compat::iceberg::staged::KEPT_SECS)
        .await
    {
        Ok(n) if n > 0 => tracing::info!(files = n, "forgot files staged for Iceberg commits"),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "forgetting staged Iceberg files failed"),
    }
    match crate::compat::s3::uploads::purge(storage, idle).await {
        Ok(n) if n > 0 => tracing::info!(uploads = n, "purged abandoned S3 multipart uploads"),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e.message, "purging S3 multipart uploads failed"),
    }
    match storage.purge_multipart(idle).await {
        Ok(n) if n > 0 => tracing::info!(uploads = n, "purged abandoned multipart uploads"),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e.message, "purging multipart uploads failed"),
    }
}

/// `git gc --auto` in every dataset's repository (`{root}/{ns}/{name}.git`), one at a time and
/// in the foreground (so the leader lock covers it), each first brought up to the ledger (with
/// `--refs sql`) so no object a ref of the ledger needs looks unreachable. It stops when the
/// server does.
async fn maintain(core: &Core) {
    let Ok(namespaces) = std::fs::read_dir(core.metastore.root()) else {
        return;
    };
    for ns in namespaces.flatten() {
        let Ok(repos) = std::fs::read_dir(ns.path()) else {
            continue;
        };
        for repo in repos.flatten() {
            if core.draining.load(std::sync::atomic::Ordering::Relaxed) {
                return;
            }
            let file = repo.file_name().to_string_lossy().into_owned();
            let Some(name) = file.strip_suffix(".git").map(str::to_owned) else {
                continue;
            };
            let ns_name = ns.file_name().to_string_lossy().into_owned();
            let synced = crate::datasets::git(core, move |ms| {
                ms.open(strata_metastore::DatasetId {
                    ns: &ns_name,
                    name: &name,
                })
                .map(|_| ())
            })
            .await;
            if synced.is_err() {
                continue;
            }
            let mut gc = tokio::process::Command::new("git");
            gc.arg("-C").arg(repo.path()).args([
                "-c",
                "gc.autoDetach=false",
                "gc",
                "--auto",
                "--quiet",
            ]);
            // In a group of its own, killed at shutdown: a collection cut short is harmless.
            let done = match core.children.spawn(&mut gc) {
                Ok(mut group) => group.wait().await,
                Err(e) => Err(e),
            };
            if !done.is_ok_and(|s| s.success()) {
                tracing::warn!(repo = %repo.path().display(), "git gc --auto failed");
            }
        }
    }
}
