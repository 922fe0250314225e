//! One run: each dataset's refs walked, its links marked or swept, then the objects no dataset
//! links (see the module above for the rules).

use std::collections::{HashMap, HashSet};

use strata_lfs::Oid;
use strata_metastore::Reached;

use super::{Item, Options, Report};
use crate::db::{now, GcRepo};
use crate::error::Result;
use crate::Core;

/// Days in seconds.
const DAY: i64 = 86_400;

/// How long tombstones of deleted bytes are remembered (an upload's link checks its bytes when
/// they were deleted this recently).
const TOMBSTONE_DAYS: i64 = 7;

pub(super) async fn run(core: &Core, id: i64, options: &Options) -> Result<Report> {
    let now = start(options).await;
    let grace = options.grace.as_secs() as i64;
    let cutoff = now - grace;
    let mut report = Report {
        run: id,
        dry_run: options.dry_run,
        grace_secs: grace as u64,
        started_at: now,
        ..Report::default()
    };
    if !options.dry_run {
        // Bytes a run died deleting.
        for (repo_id, oid) in core.db.gc_unfinished().await? {
            delete(core, &mut report, repo_id, &oid).await;
        }
    }
    if !options.dry_run {
        core.db.gc_forget_deleted().await?;
    }
    let repos = core.db.gc_repos().await?;
    for (n, repo) in repos.iter().enumerate() {
        if n % 10 == 9 && !options.dry_run {
            core.db.gc_heartbeat(id).await?;
        }
        let started = std::time::Instant::now();
        if let Err(e) = dataset(core, &mut report, repo, options, cutoff).await {
            report
                .errors
                .push(format!("{}/{}: {}", repo.namespace, repo.name, e.message));
        }
        pace(options, started).await;
    }
    report.datasets = repos.len() as u64;
    objects(core, &mut report, options, cutoff).await?;
    if !options.dry_run {
        core.db
            .gc_forget_tombstones(now - TOMBSTONE_DAYS * DAY)
            .await?;
    }
    Ok(report)
}

/// When the run starts (unix seconds), its cut-off being that minus the grace. Links are timed
/// in whole seconds, and a run marks only those made before its cut-off (one made during the
/// run never is). With no grace the run starts at the next whole second, waited for: whatever
/// was linked before the run (a commit just before it, in the same second) is before the
/// cut-off and goes in this run, and what is linked once it started is not.
async fn start(options: &Options) -> i64 {
    let first = now();
    if !options.grace.is_zero() {
        return first;
    }
    loop {
        let into = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let rest = std::time::Duration::from_nanos(u64::from(1_000_000_000 - into));
        tokio::time::sleep(rest + std::time::Duration::from_millis(1)).await;
        let at = now();
        if at > first {
            return at;
        }
    }
}

/// What the refs of `repo` reach now, within its retention, the xorbs of its Xet storage that
/// the files among those use (`chunks`), and what its region feeds keep.
async fn reach(core: &Core, repo: &GcRepo, cutoff: i64) -> Result<Reached> {
    let since = repo.retention_days.map(|d| now() - d * DAY);
    let (ns, name) = (repo.namespace.clone(), repo.name.clone());
    let mut reached = crate::datasets::git(core, move |ms| {
        ms.reached(
            strata_metastore::DatasetId {
                ns: &ns,
                name: &name,
            },
            since,
        )
    })
    .await?;
    for oid in super::chunks::live_xorbs(core, repo.id, &reached.objects, cutoff).await? {
        reached.objects.entry(oid).or_insert(0);
    }
    // What the dataset's region feeds have published stays while they do.
    for oid in core.db.feed_kept(repo.id).await? {
        if let Ok(oid) = oid.parse() {
            reached.objects.entry(oid).or_insert(0);
        }
    }
    Ok(reached)
}

/// Marks and sweeps the links of one dataset.
async fn dataset(
    core: &Core,
    report: &mut Report,
    repo: &GcRepo,
    options: &Options,
    cutoff: i64,
) -> Result<()> {
    let path = format!("{}/{}", repo.namespace, repo.name);
    // No xorb is made for a file not recorded yet meanwhile.
    let _turn = core.storage.chunking().await?;
    // Xorbs compacted first: the old ones, unused now, are then marked as any other.
    super::chunks::compact(core, report, (repo.id, &path), options, cutoff).await?;
    let mut reached = reach(core, repo, cutoff).await?;
    report.refs += reached.refs as u64;
    report.revisions += reached.revisions as u64;
    report.reachable += reached.objects.len() as u64;
    let live = |reached: &Reached, oid: &str| {
        oid.parse::<Oid>()
            .is_ok_and(|o| reached.objects.contains_key(&o))
    };
    let links = core.db.gc_links(repo.id).await?;
    let candidates: HashMap<String, i64> =
        core.db.gc_candidates(repo.id).await?.into_iter().collect();
    let why = match repo.retention_days {
        Some(d) => format!("no ref of {path} reaches it within its retention ({d} days)"),
        None => format!("no ref of {path} reaches it"),
    };
    let again: Vec<String> = candidates
        .keys()
        .filter(|o| live(&reached, o))
        .cloned()
        .collect();
    report.kept += again.len() as u64;
    let sizes: HashMap<&str, i64> = links.iter().map(|(o, s, _)| (o.as_str(), *s)).collect();
    let mut to_mark = Vec::new();
    let mut due: Vec<String> = Vec::new();
    for (oid, size, linked_at) in &links {
        if live(&reached, oid) {
            continue;
        }
        match candidates.get(oid) {
            Some(marked) if *marked <= cutoff => due.push(oid.clone()),
            Some(_) => {}
            None if *linked_at < cutoff => {
                to_mark.push(oid.clone());
                // With no grace, what is marked is due at once.
                if options.grace.is_zero() {
                    due.push(oid.clone());
                } else {
                    let action = if options.dry_run {
                        "would mark"
                    } else {
                        "marked"
                    };
                    report.item(Item {
                        dataset: Some(path.clone()),
                        oid: oid.clone(),
                        size: *size as u64,
                        action,
                        reason: why.clone(),
                    });
                }
            }
            None => {}
        }
    }
    report.marked += to_mark.len() as u64;
    if options.dry_run {
        report.links_removed += due.len() as u64;
        for oid in due {
            report.item(Item {
                dataset: Some(path.clone()),
                oid: oid.clone(),
                size: sizes.get(oid.as_str()).copied().unwrap_or(0) as u64,
                action: "would remove",
                reason: format!("{why} (its object goes once no dataset links it)"),
            });
        }
        return Ok(());
    }
    core.db.gc_unmark(repo.id, &again).await?;
    core.db.gc_mark(repo.id, &to_mark, cutoff).await?;
    if due.is_empty() {
        return Ok(());
    }
    // The refs read again just before removing: a push that landed since counts.
    reached = reach(core, repo, cutoff).await?;
    let sealed = core.storage.sealed();
    for oid in due {
        if live(&reached, &oid) {
            core.db
                .gc_unmark(repo.id, std::slice::from_ref(&oid))
                .await?;
            report.kept += 1;
            continue;
        }
        let Some(derived) = core
            .db
            .gc_unlink(repo.id, &oid, due_by(options, cutoff), sealed)
            .await?
        else {
            report.kept += 1;
            continue;
        };
        // Its Parquet views and residency copies go with it.
        for (view, store) in derived {
            if let Err(e) = core
                .storage
                .delete_derived(repo.id, &view, store.as_deref())
                .await
            {
                report.errors.push(format!("{view}: {}", e.message));
            }
        }
        super::chunks::forget(core, repo.id, &oid).await?;
        report.links_removed += 1;
        let size = sizes.get(oid.as_str()).copied().unwrap_or(0) as u64;
        report.item(Item {
            dataset: Some(path.clone()),
            oid: oid.clone(),
            size,
            action: "removed",
            reason: why.clone(),
        });
        if sealed && delete(core, report, repo.id, &oid).await {
            report.bytes_freed += size;
        }
    }
    Ok(())
}

/// Marks and sweeps the objects no dataset links.
async fn objects(core: &Core, report: &mut Report, options: &Options, cutoff: i64) -> Result<()> {
    let unlinked = core.db.gc_unlinked_objects(cutoff).await?;
    let candidates: HashMap<String, i64> = core.db.gc_candidates(0).await?.into_iter().collect();
    let sizes: HashMap<&str, i64> = unlinked.iter().map(|(o, s)| (o.as_str(), *s)).collect();
    let mut to_mark = Vec::new();
    let mut due = Vec::new();
    for (oid, size) in &unlinked {
        match candidates.get(oid) {
            Some(marked) if *marked <= cutoff => due.push(oid.clone()),
            Some(_) => {}
            None => {
                to_mark.push(oid.clone());
                if options.grace.is_zero() {
                    due.push(oid.clone());
                } else {
                    report.item(Item {
                        dataset: None,
                        oid: oid.clone(),
                        size: *size as u64,
                        action: if options.dry_run {
                            "would mark"
                        } else {
                            "marked"
                        },
                        reason: "no dataset links it".into(),
                    });
                }
            }
        }
    }
    report.marked += to_mark.len() as u64;
    if options.dry_run {
        for oid in due {
            let size = sizes.get(oid.as_str()).copied().unwrap_or(0) as u64;
            report.objects_removed += 1;
            report.bytes_freed += size;
            report.item(Item {
                dataset: None,
                oid,
                size,
                action: "would remove",
                reason: "no dataset links it".into(),
            });
        }
        return Ok(());
    }
    core.db.gc_mark(0, &to_mark, cutoff).await?;
    let mut seen = HashSet::new();
    let mut started = std::time::Instant::now();
    for (n, oid) in due.into_iter().enumerate() {
        if n % 50 == 49 {
            pace(options, started).await;
            started = std::time::Instant::now();
        }
        if !seen.insert(oid.clone()) {
            continue;
        }
        if n % 200 == 199 {
            core.db.gc_heartbeat(report.run).await?;
        }
        // A link made since (an upload of the same bytes) fails this, and keeps the object.
        let forgotten = match core
            .db
            .gc_forget_object(&oid, due_by(options, cutoff))
            .await
        {
            Ok(f) => f,
            Err(e) => {
                tracing::debug!(%oid, error = %e, "an object stays: it was linked meanwhile");
                false
            }
        };
        if !forgotten {
            report.kept += 1;
            continue;
        }
        let size = sizes.get(oid.as_str()).copied().unwrap_or(0) as u64;
        report.objects_removed += 1;
        report.item(Item {
            dataset: None,
            oid: oid.clone(),
            size,
            action: "removed",
            reason: "no dataset links it".into(),
        });
        if delete(core, report, 0, &oid).await {
            report.bytes_freed += size;
        }
    }
    Ok(())
}

/// Waits `options.pace` times as long as the work since `started` took.
async fn pace(options: &Options, started: std::time::Instant) {
    if options.pace > 0.0 {
        tokio::time::sleep(started.elapsed().mul_f64(options.pace)).await;
    }
}

/// Candidates marked by when are due: those marked before the cut-off, or with no grace, all
/// (this run's too).
fn due_by(options: &Options, cutoff: i64) -> i64 {
    if options.grace.is_zero() {
        now()
    } else {
        cutoff
    }
}

/// Deletes the bytes of a tombstone and records them deleted; whether that worked (a failure is
/// reported, and the next run tries again).
async fn delete(core: &Core, report: &mut Report, repo_id: i64, oid: &str) -> bool {
    let Ok(parsed) = oid.parse::<Oid>() else {
        report.errors.push(format!("{oid}: not an object id"));
        return false;
    };
    // Bytes a table view or residency copy also is (someone uploaded a view) stay for it.
    // (Unknown when the database cannot say: kept, and tried again next run.)
    let needed = match repo_id {
        0 => match core.db.gc_known(&[oid.to_owned()]).await {
            Ok(known) => !known.is_empty(),
            Err(e) => {
                report.errors.push(format!("{oid}: {e}"));
                return false;
            }
        },
        _ => false,
    };
    let deleted = match needed {
        true => Ok(()),
        false => core.storage.delete_bytes(repo_id, &parsed).await,
    };
    let done = match deleted {
        Ok(()) => core.db.gc_deleted(repo_id, oid).await.map_err(Into::into),
        Err(e) => Err(e),
    };
    match done {
        Ok(()) => true,
        Err(e) => {
            report.errors.push(format!("{oid}: {}", e.message));
            false
        }
    }
}
