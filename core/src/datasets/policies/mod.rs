//! Governance: the policies of `--policy-dataset` and the decisions the read gate asks them for.
//!
//! The policies are every `.rego` file at the head of the policy dataset's default branch,
//! compiled together ([`strata_policy::Policies`]). They are loaded again when that head moves:
//! at once after a commit or push through this server ([`Governance::written`]), and otherwise
//! within a second (another replica's push). A set that does not compile (only possible if it was
//! there before `--policy-dataset` named it: commits and pushes of broken policies are refused)
//! denies every governed read until it is fixed: fail closed. The policy dataset itself is
//! governed by its permissions only, so a policy can never lock its authors out; and only site
//! admins may create or write it ([`trust`]): while anyone else could, its policies are not
//! loaded and governed reads are denied (the reason in the log and in `/readyz`).
//!
//! A read's input is the dataset's catalog (`crate::datasets::catalog`) at the revision read,
//! with the tags of the default branch's head added, the subject (user, role, organisations,
//! teams, and for an app's token the app), `--region` as the processing location, the caller's
//! intent (or else the one the app's manifest declares) and the app's declared workload. Decisions that fire a
//! rule, deny, or fail are written to the audit log with the policies' version and files.
//!
//! Raw bytes ([`raw`]) are refused while a decision governs them, and so are the objects that
//! were ever the content of a governed table on the default branch ([`index`]).

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use serde_json::json;
use strata_policy::table::Hasher;
use strata_policy::{Decision, Input, Policies, PolicyFile, Subject};

use crate::auth::Principal;
use crate::datasets::catalog::{Catalog, Table};
use crate::datasets::gated::Gated;
use crate::datasets::git_on;
use crate::error::Result;
use crate::Core;

pub(crate) mod index;
mod raw;
pub(crate) mod trust;

pub use raw::refusal;
pub(crate) use raw::{governed_among, raw_objects};

/// Tables streaming at once, per process.
const MAX_STREAMS: usize = 64;

/// How long another replica's policy change may take to be seen.
const RECHECK: Duration = Duration::from_secs(1);

/// The policies in force, and where they came from.
#[derive(Debug)]
pub(crate) struct Loaded {
    /// The policy dataset's head they were read at (`None`: no such dataset, or empty).
    head: Option<String>,
    pub(crate) policies: std::result::Result<Policies, String>,
    checked: Instant,
}

/// The server's governance: the policy dataset, the region, and the policies loaded from it.
#[derive(Debug)]
pub struct Governance {
    dataset: Option<(String, String)>,
    region: Option<String>,
    limit: Duration,
    hasher: Hasher,
    loaded: RwLock<Arc<Loaded>>,
    reload: tokio::sync::Mutex<()>,
    /// Tables streaming at once (each holds a blocking thread): bounded, so slow readers cannot
    /// take the blocking pool everyone shares.
    pub(crate) streams: Arc<tokio::sync::Semaphore>,
}

impl Governance {
    /// `dataset` is `ns/name` (checked by the caller); `hash_key` keys [`Hasher`].
    pub fn new(
        dataset: Option<(String, String)>,
        region: Option<String>,
        limit: Duration,
        hash_key: &[u8],
    ) -> Governance {
        Governance {
            dataset,
            region,
            limit,
            hasher: Hasher::new(hash_key),
            loaded: RwLock::new(Arc::new(Loaded {
                head: None,
                policies: Ok(Policies::default()),
                checked: Instant::now() - RECHECK * 2,
            })),
            reload: tokio::sync::Mutex::new(()),
            streams: Arc::new(tokio::sync::Semaphore::new(MAX_STREAMS)),
        }
    }

    /// Whether reads must be decided: policies are loaded, or failed to load (which denies).
    /// False without `--policy-dataset` or with an empty policy set, so the read paths skip the
    /// catalog reads entirely.
    pub async fn in_force(&self, core: &Core) -> bool {
        if self.dataset.is_none() {
            return false;
        }
        !matches!(&self.current(core).await.policies, Ok(p) if p.is_empty())
    }

    /// Where this server processes data (`--region`).
    pub fn region(&self) -> Option<&str> {
        self.region.as_deref()
    }

    /// The policy dataset's revision the policies in force were read at.
    pub async fn version(&self, core: &Core) -> Option<String> {
        self.current(core).await.head.clone()
    }

    /// How many decisions the policies in force found kept and made afresh since they were
    /// loaded ([`strata_policy::Policies::counts`]).
    pub async fn decision_counts(&self, core: &Core) -> strata_policy::DecisionCounts {
        match &self.current(core).await.policies {
            Ok(p) => p.counts(),
            Err(_) => strata_policy::DecisionCounts::default(),
        }
    }

    /// How long one evaluation may run.
    pub fn limit(&self) -> Duration {
        self.limit
    }

    /// The keyed hash of `HashAction`.
    pub fn hasher(&self) -> &Hasher {
        &self.hasher
    }

    /// Whether `ns/name` is the policy dataset.
    pub fn is_policy_dataset(&self, ns: &str, name: &str) -> bool {
        self.dataset
            .as_ref()
            .is_some_and(|(n, m)| n.eq_ignore_ascii_case(ns) && m.eq_ignore_ascii_case(name))
    }

    /// After a write to `ns/name`: if it is the policy dataset, the next decision reloads.
    pub fn written(&self, ns: &str, name: &str) {
        if self.is_policy_dataset(ns, name) {
            let mut l = self.loaded.write().unwrap_or_else(|e| e.into_inner());
            *l = Arc::new(Loaded {
                head: l.head.clone(),
                policies: l.policies.clone(),
                checked: Instant::now() - RECHECK * 2,
            });
        }
    }

    fn snapshot(&self) -> Arc<Loaded> {
        self.loaded
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The policies in force now, reloaded if the policy dataset's head moved.
    pub(crate) async fn current(&self, core: &Core) -> Arc<Loaded> {
        let Some((ns, name)) = &self.dataset else {
            return self.snapshot();
        };
        let seen = self.snapshot();
        if seen.checked.elapsed() < RECHECK {
            return seen;
        }
        let _one = self.reload.lock().await;
        let seen = self.snapshot();
        if seen.checked.elapsed() < RECHECK {
            return seen;
        }
        // A failure to read the policy dataset denies (and is tried again at the next read);
        // only a dataset that does not exist or has no revision yet means "no policies".
        let looked = match core.db.repo_by_path(ns, name).await {
            Ok(Some(repo)) => match trust::untrusted(core, &repo).await {
                Ok(None) => match git_on(core, &repo, |ms, ds| ms.resolve(ds, None)).await {
                    Ok(id) => Ok(Some(id.to_string())),
                    Err(e) if e.kind == crate::error::Kind::NotFound => Ok(None),
                    Err(e) => Err(e.message),
                },
                Ok(Some(why)) => return self.distrust(&seen, why),
                Err(e) => Err(e.message),
            },
            Ok(None) => Ok(None),
            Err(e) => Err(e.to_string()),
        };
        let head = match looked {
            Ok(head) => head,
            Err(e) => {
                tracing::error!(error = %e, "could not read the policy dataset: governed reads are denied");
                let failed = Arc::new(Loaded {
                    head: None,
                    policies: Err(format!("the policy dataset could not be read: {e}")),
                    checked: Instant::now() - RECHECK * 2,
                });
                *self.loaded.write().unwrap_or_else(|e| e.into_inner()) = failed.clone();
                return failed;
            }
        };
        let loaded = if head == seen.head && seen.policies.is_ok() {
            Loaded {
                head,
                policies: seen.policies.clone(),
                checked: Instant::now(),
            }
        } else {
            let policies = match &head {
                None => Ok(Policies::default()),
                Some(rev) => self.load(core, ns, name, rev).await,
            };
            match &policies {
                Ok(p) => {
                    tracing::info!(dataset = %format!("{ns}/{name}"), version = ?head, files = ?p.files(), "policies loaded")
                }
                Err(e) => {
                    tracing::error!(dataset = %format!("{ns}/{name}"), version = ?head, error = %e, "the policies do not compile: governed reads are denied until they are fixed")
                }
            }
            // A failure is not kept: the next read tries again (commits and pushes keep the
            // policies compiling, so a failure here is one of reading them).
            let retry = policies.is_err();
            Loaded {
                head: if retry { None } else { head },
                policies,
                checked: if retry {
                    Instant::now() - RECHECK * 2
                } else {
                    Instant::now()
                },
            }
        };
        let loaded = Arc::new(loaded);
        *self.loaded.write().unwrap_or_else(|e| e.into_inner()) = loaded.clone();
        loaded
    }

    /// The policy dataset may be written by others than site admins: nothing of it is loaded,
    /// governed reads are denied (said once in the log, and by `/readyz` while it lasts).
    fn distrust(&self, seen: &Loaded, why: String) -> Arc<Loaded> {
        if seen.policies.as_ref().err() != Some(&why) {
            tracing::error!(reason = %why, "the policy dataset is not trusted: governed reads are denied");
        }
        let loaded = Arc::new(Loaded {
            head: None,
            policies: Err(why),
            checked: Instant::now(),
        });
        *self.loaded.write().unwrap_or_else(|e| e.into_inner()) = loaded.clone();
        loaded
    }

    /// Why governed reads are denied now, if they are (`/readyz`): the policy dataset cannot be
    /// read, its policies do not compile, or others than site admins may write it.
    pub async fn failing(&self, core: &Core) -> Option<String> {
        self.dataset.as_ref()?;
        self.current(core).await.policies.as_ref().err().cloned()
    }

    /// Reads and compiles the `.rego` files of `ns/name` at `rev`.
    async fn load(
        &self,
        core: &Core,
        ns: &str,
        name: &str,
        rev: &str,
    ) -> std::result::Result<Policies, String> {
        let Ok(Some(repo)) = core.db.repo_by_path(ns, name).await else {
            return Err("the policy dataset could not be read".into());
        };
        let rev = rev.to_owned();
        let files = git_on(core, &repo, move |ms, ds| read_policies(ms, ds, &rev))
            .await
            .map_err(|e| e.to_string())?;
        let version = files.0.clone();
        let limit = self.limit;
        tokio::task::spawn_blocking(move || Policies::compile(version, files.1, limit))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())
    }

    /// The policy dataset, `(namespace, name)`, if there is one.
    pub fn policy_dataset(&self) -> Option<(&str, &str)> {
        self.dataset
            .as_ref()
            .map(|(ns, name)| (ns.as_str(), name.as_str()))
    }

    /// The policies' version and files, or why they do not compile (`/api/v1/catalog` shows
    /// them to callers who may read the policy dataset: `crate::datasets::gate::policies`).
    pub async fn describe(&self, core: &Core) -> serde_json::Value {
        let l = self.current(core).await;
        match &l.policies {
            Ok(p) => json!({"version": l.head, "files": p.files(), "compiles": true}),
            Err(e) => json!({"version": l.head, "compiles": false, "error": e}),
        }
    }
}

/// After a write to `repo` through this server (REST, file manager, revert): the policies reload
/// if it is the policy dataset, and the index of table objects catches up ([`index`]).
pub async fn written(core: &Core, repo: &crate::db::Repo) {
    core.governance.written(&repo.namespace, &repo.name);
    index::written(core, repo).await;
}

/// The `.rego` files of a dataset at `rev`, as text (LFS files and files that are not UTF-8 are
/// errors: a policy must be readable).
/// REST commits, reverts and file-manager writes to the policy dataset's default branch: the
/// policies of the new head must compile, or the write is refused (422) before the branch moves.
/// (Pushes are checked by the pre-receive hook, `crate::hook`.)
impl strata_metastore::HeadCheck for Governance {
    fn check(
        &self,
        ms: &strata_metastore::Metastore,
        ds: strata_metastore::DatasetId<'_>,
        commit: strata_metastore::ObjectId,
        _how: strata_metastore::Write,
    ) -> strata_metastore::Result<()> {
        if !self.is_policy_dataset(ds.ns, ds.name) {
            return Ok(());
        }
        let rev = commit.to_string();
        let (_, files) = read_policies(ms, ds, &rev)?;
        Policies::compile(rev, files, self.limit)
            .map(drop)
            .map_err(|e| {
                strata_metastore::Error::Invalid(format!("the policies do not compile: {e}"))
            })
    }
}

/// The `.rego` files of a dataset at `rev`, compiled as policies would be (the push hook's check).
pub fn compile_at(
    ms: &strata_metastore::Metastore,
    ds: strata_metastore::DatasetId<'_>,
    rev: &str,
    limit: Duration,
) -> std::result::Result<Vec<String>, String> {
    let (_, files) = read_policies(ms, ds, rev).map_err(|e| e.to_string())?;
    Policies::compile(rev, files, limit)
        .map(|p| p.files().to_vec())
        .map_err(|e| e.to_string())
}

fn read_policies(
    ms: &strata_metastore::Metastore,
    ds: strata_metastore::DatasetId<'_>,
    rev: &str,
) -> strata_metastore::Result<(String, Vec<PolicyFile>)> {
    let (id, tree) = ms.tree(ds, Some(rev))?;
    let mut files = Vec::new();
    for entry in tree.into_iter().filter(|e| e.path.ends_with(".rego")) {
        let bad = |why: &str| strata_metastore::Error::Invalid(format!("{}: {why}", entry.path));
        if entry.lfs.is_some() {
            return Err(bad(
                "a policy must be a plain file in git, not an LFS object",
            ));
        }
        let data = ms.read_file(ds, Some(&id), &entry.path)?;
        let text = String::from_utf8(data).map_err(|_| bad("not UTF-8 text"))?;
        files.push(PolicyFile {
            path: entry.path,
            text,
        });
    }
    Ok((id, files))
}

/// What a read of one file or table is for.
#[derive(Debug, Clone, Copy)]
pub enum Surface {
    /// Raw bytes: REST raw, pages, share links.
    Raw,
    /// The LFS batch API (downloads; clones and pulls).
    Lfs,
    /// The tabular endpoint.
    Table,
    /// Arrow Flight.
    Flight,
    /// SQL queries (REST and Flight SQL).
    Sql,
    /// git clone and fetch.
    Git,
    /// A write of a table (REST commits, uploads, the file manager, the S3 gateway, pushes).
    Write,
    /// The Iceberg catalog and the files it names.
    Iceberg,
    /// Delta Sharing: a recipient's metadata, files and change feed.
    DeltaSharing,
    /// A region feed's snapshots (`crate::mirrors::feed`).
    Feed,
}

impl Surface {
    fn name(self) -> &'static str {
        match self {
            Surface::Raw => "raw",
            Surface::Lfs => "lfs",
            Surface::Table => "table",
            Surface::Flight => "flight",
            Surface::Sql => "sql",
            Surface::Git => "git",
            Surface::Write => "write",
            Surface::Iceberg => "iceberg",
            Surface::DeltaSharing => "delta_sharing",
            Surface::Feed => "feed",
        }
    }
}

/// The catalog of `gated` at `rev` (default: the default branch's head), with the head's tags
/// added. A dataset without a datapackage has an empty catalog.
pub async fn catalog(core: &Core, gated: &Gated, rev: Option<&str>) -> Result<Catalog> {
    let path = gated.path();
    let rev = rev.map(str::to_owned);
    let packages = git_on(core, gated, move |ms, ds| {
        let head = match ms.fetch_any(ds, None) {
            Ok((r, p)) => Some((r.id, p)),
            Err(strata_metastore::Error::NotFound(_)) => None,
            Err(e) => return Err(e),
        };
        let at = match &rev {
            None => None,
            Some(r) => Some(ms.fetch_any(ds, Some(r))?),
        };
        Ok((head, at))
    })
    .await?;
    let read = |p: &Option<strata_metastore::Package>| {
        p.as_ref()
            .map(|p| Catalog::read(&path, &p.json))
            .unwrap_or_else(|| Catalog {
                dataset: path.clone(),
                ..Catalog::default()
            })
    };
    let mut head = packages.0.as_ref().map(|(_, p)| read(p));
    if let (Some(h), Some((id, _))) = (&mut head, &packages.0) {
        h.revision = Some(id.to_string());
    }
    let head = head.unwrap_or_else(|| read(&None));
    Ok(match packages.1 {
        None => head,
        Some((r, p)) => Catalog {
            revision: Some(r.id.to_string()),
            ..read(&p).with_head(&head)
        },
    })
}

/// The decision for `who` reading `table` of `catalog` (`None`: a file no resource lists) through
/// `surface`, or writing it ([`Surface::Write`]: `actionType` `write`). Decisions that fire a rule, deny or fail are audited.
pub async fn decide(
    core: &Core,
    gated: &Gated,
    catalog: &Catalog,
    table: Option<&Table>,
    intent: Option<&str>,
    surface: Surface,
) -> Result<Decision> {
    let gov = &core.governance;
    if gov.is_policy_dataset(&gated.namespace, &gated.name) {
        return Ok(Decision::default());
    }
    let loaded = gov.current(core).await;
    let decision = match &loaded.policies {
        Ok(p) if p.is_empty() => return Ok(Decision::default()),
        Ok(_) => {
            // The subject is looked up once per gate (a batch decides for every resource).
            let subject = gated
                .policy_subject
                .get_or_try_init(|| subject(core, gated.who()))
                .await?
                .clone();
            let validated = match &catalog.revision {
                Some(rev) => core.db.validated(gated.id, rev).await?.unwrap_or(false),
                None => false,
            };
            let input = Input {
                action_type: match surface {
                    Surface::Write => "write",
                    _ => "read",
                }
                .into(),
                processing_location: gated.region.clone().or_else(|| gov.region.clone()),
                metadata: catalog.metadata(table),
                intent: intent.map(str::to_owned),
                subject,
                validated,
            };
            // A write is decided by the rules that are about writes: what fires for `write` and
            // not for an input that names no action (rules that do not look at `actionType` are
            // read rules, as they were before writes were decided).
            let neutral = matches!(surface, Surface::Write).then(|| Input {
                action_type: String::new(),
                ..input.clone()
            });
            let kept = loaded.policies.as_ref().ok().and_then(|p| {
                let d = p.kept_decision(&input)?;
                match &neutral {
                    Some(n) => Some(d.beyond(&p.kept_decision(n)?)),
                    None => Some(d),
                }
            });
            match kept {
                Some(d) => d,
                // Off the async workers: an evaluation may run up to its time limit.
                None => {
                    let policies = loaded.clone();
                    tokio::task::spawn_blocking(move || match &policies.policies {
                        Ok(p) => match neutral {
                            Some(n) => p.decide(&input).beyond(&p.decide(&n)),
                            None => p.decide(&input),
                        },
                        Err(e) => Decision::failed(e),
                    })
                    .await
                    .unwrap_or_else(|e| Decision::failed(&e.to_string()))
                }
            }
        }
        Err(e) => Decision::failed(e),
    };
    if decision.denied() || decision.transforms() || !decision.policies.is_empty() {
        let detail = json!({
            "dataset": catalog.dataset,
            "resource": table.map(|t| &t.name),
            "surface": surface.name(),
            "intent": intent,
            "decision": decision.to_audit(),
            "policies": {
                "version": loaded.head,
                "files": loaded.policies.as_ref().map(|p| p.files().to_vec()).unwrap_or_default(),
            },
        });
        let who = gated.who();
        let actor = (!who.is_anonymous()).then(|| who.display_name());
        let ip = crate::context::current().ip;
        core.db
            .audit(
                if decision.denied() {
                    "policy.deny"
                } else {
                    "policy.decision"
                },
                actor.as_deref(),
                Some(&catalog.dataset),
                Some(&ip),
                &detail,
            )
            .await?;
    }
    Ok(decision)
}

/// The subject as policies see it.
async fn subject(core: &Core, who: &Principal) -> Result<Subject> {
    Ok(match who {
        Principal::User { user, family, .. } => {
            let groups = core.db.groups_of(user.id).await?;
            let (teams, organizations) = groups.into_iter().partition(|g| g.contains('/'));
            // An app's token: the app, and the workload its manifest declares.
            let app = match family.as_deref().filter(|f| f.starts_with("app:")) {
                Some(f) => core.db.app_of_family(f).await?,
                None => None,
            };
            let mut workload = match &app {
                Some(id) => crate::manifests::entry(core, id)
                    .await
                    .ok()
                    .and_then(|e| e.manifest.workload)
                    .and_then(|w| serde_json::to_value(w).ok()),
                None => None,
            };
            // A workload registered over REST: its name stands for the app.
            let mut app = app;
            if let Some(f) = family.as_deref().filter(|f| f.starts_with("wl:")) {
                if let Some(w) = core.db.workload(f).await? {
                    app = Some(w.name.clone());
                    workload = Some(crate::workloads::policy_view(&w));
                }
            }
            Subject {
                user: Some(user.username.clone()),
                roles: vec![user.role.as_str().to_owned()],
                organizations,
                teams,
                app,
                workload,
                ..Subject::default()
            }
        }
        _ => Subject::default(),
    })
}
