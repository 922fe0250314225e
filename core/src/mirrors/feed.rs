//! Region feeds: a dataset as one region may hold it, for a strata in that region to follow as a
//! pull mirror. A dataset's admin makes a feed for a region (pinned then: a caller of the feed
//! never claims one) and gets its token, shown once. The feed is a git repository of its own
//! (under `data_dir/feeds`), served at `/_feeds/{id}.git` with its own LFS endpoint to that
//! token alone. Before each fetch it is brought up to date (`snapshot`): each source branch and
//! tag becomes a snapshot of its files as the policies let that region hold them (decided with
//! `processingLocation` the feed's region, as the feed's maker reads): a table the region may
//! hold only transformed is replaced by its governed version in its own format, a denied one is
//! left out with its resource, and `.lfsconfig` (the source's LFS URL) is dropped. Commit ids
//! are not the source's; each snapshot names the source revision and the policies' version it
//! was built at. The token downloads only the objects the feed's snapshots name
//! (`feed_objects`, which also records what each governed version was made from, and under which
//! decision); garbage collection keeps them while the feed is, and erasing a source object takes
//! it, and what was made from it, out of the feed and out of its history (`snapshot`).

use std::collections::HashMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use strata_lfs::wire::{
    Action as LfsAction, Actions, BatchRequest, BatchResponse, ObjectError, Operation,
    ResponseObject,
};

use crate::auth::scope::Action;
use crate::auth::{secrets, Principal, Scopes};
use crate::datasets::gate;
use crate::datasets::gated::Gated;
use crate::datasets::policies::{self, Surface};
use crate::db::{FeedObject, FeedRow};
use crate::error::{Error, Result};
use crate::Core;

/// A dataset has at most this many feeds.
const MAX_PER_DATASET: usize = 10;

/// What a feed is made with.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedInput {
    /// The region the feed's snapshots are decided for (`action.processingLocation`).
    pub region: String,
    /// What it is for (shown to the dataset's admins).
    #[serde(default)]
    pub note: Option<String>,
}

/// A feed as its dataset's admins see it (never its token).
#[derive(Debug, Clone, Serialize)]
pub struct Feed {
    pub id: i64,
    pub dataset: String,
    pub region: String,
    /// The git URL a pull mirror in that region follows (with the token).
    pub url: String,
    /// Whose reading the snapshots are decided as.
    pub created_by: String,
    pub note: String,
    pub built_at: Option<i64>,
    pub error: Option<String>,
    /// When erasure on the source last took objects out of the feed (its history is rewritten
    /// without them at its next build).
    pub erased_at: Option<i64>,
    pub created_at: i64,
}

/// A governed version a feed holds, with the decision applied.
#[derive(Debug, Clone, Serialize)]
pub struct Copy {
    #[serde(flatten)]
    pub object: FeedObject,
    pub decided: serde_json::Value,
}

/// A feed with the governed versions it holds (the latest 1,000).
#[derive(Debug, Clone, Serialize)]
pub struct FeedDetail {
    #[serde(flatten)]
    pub feed: Feed,
    pub copies: Vec<Copy>,
}

/// The per-feed locks: one build of a feed at a time in this process.
#[derive(Debug, Default)]
pub struct Builds(std::sync::Mutex<HashMap<i64, Arc<tokio::sync::Mutex<()>>>>);

impl Builds {
    pub(super) fn of(&self, id: i64) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() > 1024 {
            map.retain(|_, l| Arc::strong_count(l) > 1);
        }
        map.entry(id).or_default().clone()
    }
}

async fn view(core: &Core, repo: &crate::db::Repo, row: &FeedRow) -> Result<Feed> {
    let maker = core.db.user_by_id(row.created_by).await?;
    Ok(Feed {
        id: row.id,
        dataset: repo.path(),
        region: row.region.clone(),
        url: format!(
            "{}/_feeds/{}.git",
            core.settings.public_url.trim_end_matches('/'),
            row.id
        ),
        created_by: maker.map(|u| u.username).unwrap_or_default(),
        note: row.note.clone(),
        built_at: row.built_at,
        error: row.error.clone(),
        erased_at: row.erased_at,
        created_at: row.created_at,
    })
}

/// Checks a region name: what `--region` would be given.
fn check_region(region: &str) -> Result<()> {
    let ok = !region.is_empty()
        && region.len() <= 64
        && region
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !ok {
        return Err(Error::unprocessable(
            "region: 1 to 64 letters, digits, '-', '_' or '.'",
        ));
    }
    Ok(())
}

/// Makes a feed of `{ns}/{name}` for `input.region` (its admins'); returns it and its token,
/// which is shown this once.
pub async fn create(
    core: &Core,
    who: &Principal,
    (ns, name): (&str, &str),
    input: FeedInput,
) -> Result<(Feed, String)> {
    let repo = gate::dataset(core, who, ns, name, Action::Admin).await?;
    // Not by an app's or a workload's token (an OAuth grant): a feed's token outlives any grant
    // and is read with its maker's whole reach.
    let Principal::User {
        user, family: None, ..
    } = who
    else {
        return Err(Error::forbidden(
            "region feeds are made by a signed-in person or with a personal access token, \
             not with an app's or a workload's token",
        ));
    };
    check_region(&input.region)?;
    let note = input.note.unwrap_or_default();
    if note.chars().count() > 200 || note.chars().any(char::is_control) {
        return Err(Error::unprocessable(
            "note: at most 200 characters, no control characters",
        ));
    }
    if core.db.feeds_of(repo.id).await?.len() >= MAX_PER_DATASET {
        return Err(Error::unprocessable(format!(
            "a dataset has at most {MAX_PER_DATASET} region feeds"
        )));
    }
    let token = format!("sfd_{}", secrets::random_hex(32));
    let row = core
        .db
        .feed_create(
            repo.id,
            &input.region,
            user.id,
            &secrets::stored(&token),
            &note,
        )
        .await?;
    core.db
        .audit(
            "feed.create",
            Some(&user.username),
            Some(&repo.path()),
            Some(&crate::context::current().ip),
            &serde_json::json!({"feed": row.id, "region": row.region}),
        )
        .await?;
    Ok((view(core, &repo, &row).await?, token))
}

/// The feeds of `{ns}/{name}` (its admins').
pub async fn list(core: &Core, who: &Principal, (ns, name): (&str, &str)) -> Result<Vec<Feed>> {
    let repo = gate::dataset(core, who, ns, name, Action::Admin).await?;
    let mut out = Vec::new();
    for row in core.db.feeds_of(repo.id).await? {
        out.push(view(core, &repo, &row).await?);
    }
    Ok(out)
}

/// Feed `id` of `{ns}/{name}` with the governed versions it holds (its admins').
pub async fn get(
    core: &Core,
    who: &Principal,
    (ns, name): (&str, &str),
    id: i64,
) -> Result<FeedDetail> {
    let repo = gate::dataset(core, who, ns, name, Action::Admin).await?;
    let row = of(core, &repo, id).await?;
    let copies = core
        .db
        .feed_copies(row.id, 1000)
        .await?
        .into_iter()
        .map(|object| Copy {
            decided: object
                .decision
                .as_deref()
                .and_then(|d| serde_json::from_str(d).ok())
                .unwrap_or_default(),
            object,
        })
        .collect();
    Ok(FeedDetail {
        feed: view(core, &repo, &row).await?,
        copies,
    })
}

/// Deletes feed `id` of `{ns}/{name}` (its admins'): its token stops working at once, its
/// repository goes, and what only it kept is collected.
pub async fn delete(core: &Core, who: &Principal, (ns, name): (&str, &str), id: i64) -> Result<()> {
    let repo = gate::dataset(core, who, ns, name, Action::Admin).await?;
    let row = of(core, &repo, id).await?;
    let lock = core.mirrors.builds.of(row.id);
    let _held = lock.lock().await;
    core.db.feed_delete(repo.id, row.id).await?;
    core.db
        .audit(
            "feed.delete",
            Some(&who.display_name()),
            Some(&repo.path()),
            Some(&crate::context::current().ip),
            &serde_json::json!({"feed": row.id, "region": row.region}),
        )
        .await?;
    let dir = super::snapshot::repo_dir(core, row.id);
    if let Err(e) = tokio::fs::remove_dir_all(&dir).await {
        if e.kind() != std::io::ErrorKind::NotFound {
            tracing::warn!(error = %e, feed = row.id, "a deleted feed's repository stays");
        }
    }
    Ok(())
}

async fn of(core: &Core, repo: &crate::db::Repo, id: i64) -> Result<FeedRow> {
    match core.db.feed(id).await? {
        Some(row) if row.repo_id == repo.id => Ok(row),
        _ => Err(Error::not_found(format!(
            "dataset {} has no region feed {id}",
            repo.path()
        ))),
    }
}

/// Feed `id` for a caller holding `token` (a feed's token reaches that feed only). A wrong token
/// and an unknown feed are one answer.
pub async fn open(core: &Core, id: i64, token: Option<&str>) -> Result<FeedRow> {
    let Some(token) = token.filter(|t| t.starts_with("sfd_")) else {
        return Err(Error::unauthorized(
            "a region feed is read with its token (Authorization: Bearer sfd_…)",
        ));
    };
    core.db
        .feed_by_token(id, &secrets::stored(token))
        .await?
        .ok_or_else(|| Error::not_found(format!("no region feed {id} for this token")))
}

/// Feed `id` for `token`, and still served: its maker still administers the dataset, and the
/// policies do not deny the feed's region the dataset as a whole (now, not as at its last build).
async fn open_live(core: &Core, id: i64, token: Option<&str>) -> Result<FeedRow> {
    let feed = open(core, id, token).await?;
    let gated = source(core, &feed).await?;
    let catalog = match policies::catalog(core, &gated, None).await {
        Ok(c) => c,
        Err(e) if e.kind == crate::error::Kind::NotFound => return Ok(feed),
        Err(e) => return Err(e),
    };
    let whole = policies::decide(core, &gated, &catalog, None, None, Surface::Feed).await?;
    if whole.denied() {
        return Err(Error::forbidden(format!(
            "the policies let region {} hold nothing of {}",
            feed.region, catalog.dataset
        )));
    }
    Ok(feed)
}

/// The object `oid` of `size` bytes if `feed`'s snapshots name it (else 404: a feed's token
/// downloads nothing else, whatever the dataset holds).
pub async fn object(core: &Core, feed: &FeedRow, oid: &str) -> Result<FeedObject> {
    core.db
        .feed_object(feed.id, oid)
        .await?
        .ok_or_else(|| Error::not_found(format!("region feed {} names no object {oid}", feed.id)))
}

/// The dataset `feed` is of, gated as its maker, decided for the feed's region: refused when the
/// maker no longer administers it.
pub(super) async fn source(core: &Core, feed: &FeedRow) -> Result<Gated> {
    let gone = || Error::conflict("the region feed's maker no longer administers its dataset");
    let user = core
        .db
        .user_by_id(feed.created_by)
        .await?
        .ok_or_else(gone)?;
    let who = Principal::User {
        user,
        scopes: Scopes::parse("*").map_err(Error::internal)?,
        family: None,
    };
    let repo = core.db.repo_by_id(feed.repo_id).await?.ok_or_else(gone)?;
    let mut gated = gate::dataset(core, &who, &repo.namespace, &repo.name, Action::Admin)
        .await
        .map_err(|e| match e.kind {
            crate::error::Kind::Forbidden | crate::error::Kind::NotFound => gone(),
            _ => e,
        })?;
    gated.region = Some(feed.region.clone());
    Ok(gated)
}

/// The most objects one batch request of a feed may name.
const MAX_BATCH: usize = 1000;

/// The LFS batch answer of feed `id` to `token`: a download action (carrying the token) for each
/// object its snapshots name, and a 404 for any other; uploads are refused.
pub async fn batch(
    core: &Core,
    id: i64,
    token: Option<&str>,
    req: &BatchRequest,
) -> Result<BatchResponse> {
    let feed = open_live(core, id, token).await?;
    if req.operation != Operation::Download {
        return Err(Error::forbidden("a region feed is read-only"));
    }
    if req.objects.len() > MAX_BATCH {
        return Err(Error::unprocessable(format!(
            "a batch names at most {MAX_BATCH} objects"
        )));
    }
    let base = core.settings.public_url.trim_end_matches('/');
    let ttl = 3600;
    let expires_at = crate::db::rfc3339(crate::db::now() + ttl);
    let header = std::collections::BTreeMap::from([(
        "Authorization".to_owned(),
        format!("Bearer {}", token.unwrap_or_default()),
    )]);
    let mut objects = Vec::with_capacity(req.objects.len());
    for o in &req.objects {
        let size = o.size.as_u64().unwrap_or(0);
        let named = match o.oid.parse::<strata_lfs::Oid>() {
            Ok(oid) => core.db.feed_object(feed.id, &oid.to_string()).await?,
            Err(_) => None,
        };
        let answer = match named {
            Some(f) if u64::try_from(f.size).ok() == o.size.as_u64() => ResponseObject {
                oid: f.oid.clone(),
                size,
                authenticated: Some(true),
                actions: Some(Actions {
                    download: Some(LfsAction {
                        href: format!("{base}/_feeds/{}.git/info/lfs/objects/{}", feed.id, f.oid),
                        header: header.clone(),
                        expires_in: ttl,
                        expires_at: expires_at.clone(),
                    }),
                    ..Actions::default()
                }),
                error: None,
            },
            _ => ResponseObject {
                oid: o.oid.clone(),
                size,
                authenticated: None,
                actions: None,
                error: Some(ObjectError {
                    code: 404,
                    message: format!("region feed {} names no such object", feed.id),
                }),
            },
        };
        objects.push(answer);
    }
    Ok(BatchResponse {
        transfer: "basic".into(),
        objects,
        hash_algo: "sha256".into(),
    })
}

/// The dataset and object a download from feed `id` with `token` reads: only an object its
/// snapshots name.
pub async fn download(
    core: &Core,
    id: i64,
    token: Option<&str>,
    oid: &str,
) -> Result<(i64, strata_lfs::Oid)> {
    let feed = open_live(core, id, token).await?;
    let parsed: strata_lfs::Oid = oid
        .parse()
        .map_err(|_| Error::not_found(format!("region feed {id} names no such object")))?;
    object(core, &feed, &parsed.to_string()).await?;
    Ok((feed.repo_id, parsed))
}

/// Feed `id` for `token`, brought up to date: where `git http-backend` finds its repository.
pub async fn fetchable(
    core: &Core,
    id: i64,
    token: Option<&str>,
    build: bool,
) -> Result<(std::path::PathBuf, String)> {
    let feed = open_live(core, id, token).await?;
    if build {
        super::snapshot::build(core, &feed).await?;
    }
    Ok(super::snapshot::git_root(core, feed.id))
}
