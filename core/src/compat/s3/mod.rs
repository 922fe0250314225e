//! The S3 gateway's view of datasets (the S3 API itself is `crate::http::compat::s3`, outside
//! the core): a **bucket** is a dataset, named `{ns}.{name}`; a **key** is `{ref}/{path}`, a
//! branch, a tag or a commit id and then a file's path. Reads go through the same gates as REST
//! (shares, scopes, policies: a governed table is served as its governed view, never raw);
//! writes go to branches only, each object (or each batch of deletes) one commit, through the
//! same commit as REST (links, contracts, protected branches).
//!
//! A dataset name may hold dots, so `a.b.c` could be `a/b.c` or `a.b/c`: the shortest namespace
//! whose dataset the caller can see wins. A branch may hold `/`; git never lets a branch and
//! a branch inside it (`x` and `x/y`) both exist, and the shortest ref a key starts with wins
//! (branches before tags, then a 40-character commit id). `CreateBucket` makes a dataset as
//! REST does ([`create_bucket`]).

pub mod etags;
mod listing;
pub mod objects;
pub mod uploads;

pub use listing::{list, ListPage, ListQuery, Listed, Listings};

use strata_metastore::DEFAULT_BRANCH;

use crate::auth::{Action, Principal};
pub use crate::datasets::buckets::bucket_name;
use crate::datasets::buckets::named;
use crate::datasets::gate::{self, Gated};
use crate::datasets::git_on;
use crate::datasets::NewDataset;
use crate::db::Visibility;
use crate::error::{Error, Kind, Result};
use crate::Core;

/// The S3 gateway's commits, one dataset's at a time on this server: S3 clients send many objects
/// at once (`aws s3 sync`: ten), each its own commit on the same branch, which would otherwise
/// race for the branch's head (and its `.gitattributes`) and retry each other out.
#[derive(Default)]
pub struct Writes(
    std::sync::Mutex<std::collections::HashMap<i64, std::sync::Arc<tokio::sync::Mutex<()>>>>,
);

impl Writes {
    /// Waits for dataset `id`'s turn; it lasts as long as the guard.
    pub async fn turn(&self, id: i64) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = {
            let mut locks = self.0.lock().unwrap_or_else(|e| e.into_inner());
            // Locks nobody holds or waits for are dropped as the map grows.
            if locks.len() > 1024 {
                locks.retain(|_, l| std::sync::Arc::strong_count(l) > 1);
            }
            locks.entry(id).or_default().clone()
        };
        lock.lock_owned().await
    }
}

/// Keys a listing page holds at most (S3's limit).
pub const MAX_KEYS: usize = 1000;

/// A bucket as `ListBuckets` shows it.
#[derive(Debug, Clone)]
pub struct Bucket {
    pub name: String,
    pub created_at: i64,
}

/// The datasets the caller may read, as buckets (at most 10,000).
pub async fn buckets(core: &Core, who: &Principal) -> Result<Vec<Bucket>> {
    let mut out = Vec::new();
    let mut after = 0;
    loop {
        let page = crate::datasets::listing::list(core, who, after, 500, None).await?;
        out.extend(page.datasets.iter().map(|r| Bucket {
            name: bucket_name(&r.namespace, &r.name),
            created_at: r.created_at,
        }));
        match page.next_cursor {
            Some(next) if out.len() < 10_000 => after = next,
            _ => break,
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// The dataset bucket `bucket` names, through the gate for `action` (a caller who reaches only
/// shared paths passes, limited to them). Not found: no dataset the caller may see has the name.
/// A name two datasets share (made before names were checked for it) names neither.
pub async fn open(core: &Core, who: &Principal, bucket: &str, action: Action) -> Result<Gated> {
    match named(core, bucket).await?.as_slice() {
        [(ns, name)] => match gate::shared(core, who, ns, name, action).await {
            // An unsigned caller is told to sign, never whether the dataset exists.
            Err(e) if e.kind == Kind::NotFound => Err(no_bucket(bucket)),
            other => other,
        },
        [] => Err(match who {
            Principal::Anonymous => Error::unauthorized(
                "sign your request: anonymous callers read public datasets only",
            ),
            _ => no_bucket(bucket),
        }),
        _ => Err(Error::conflict(format!(
            "bucket {bucket:?} names more than one dataset: rename one of them in strata"
        ))),
    }
}

/// What `CreateBucket` found or made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MadeBucket {
    /// A new dataset, with its first revision on the default branch.
    Created,
    /// The dataset exists and the caller may write it (S3's `BucketAlreadyOwnedByYou`, which
    /// clients that create a bucket before writing to it take as done).
    Yours,
    /// The dataset exists and the caller may not write it (S3's `BucketAlreadyExists`).
    Taken,
}

/// `CreateBucket`: the dataset bucket `bucket` names, made for the caller as REST makes one
/// ([`crate::datasets::create_as`]: in their namespace or an organisation's where their role
/// creates datasets, if their token's scopes allow it), private unless `public`. `a.b.c` is made
/// in the first of `a` and `a.b` that is a user's or organisation's namespace the caller may
/// create datasets in. A bucket that exists already is [`MadeBucket::Yours`] or
/// [`MadeBucket::Taken`]; one the caller cannot see is answered as if it were to be made (a
/// stranger is refused making datasets in its namespace, never told it exists).
pub async fn create_bucket(
    core: &Core,
    who: &Principal,
    bucket: &str,
    public: bool,
) -> Result<MadeBucket> {
    if who.is_anonymous() {
        return Err(Error::unauthorized(
            "sign your request: anonymous callers only read",
        ));
    }
    match named(core, bucket).await?.as_slice() {
        [] => {}
        [(ns, name)] => match gate::shared(core, who, ns, name, Action::Write).await {
            Ok(_) => return Ok(MadeBucket::Yours),
            Err(e) if e.kind == Kind::NotFound => {}
            Err(_) => return Ok(MadeBucket::Taken),
        },
        _ => {
            return Err(Error::conflict(format!(
                "bucket {bucket:?} names more than one dataset: rename one of them in strata"
            )))
        }
    }
    let mut refused = None;
    for (i, _) in bucket.match_indices('.') {
        let (ns, name) = (&bucket[..i], &bucket[i + 1..]);
        let valid = crate::names::check_namespace(ns).is_ok()
            && crate::names::check("dataset name", name).is_ok();
        if !valid
            || (core.db.user_by_name(ns).await?.is_none()
                && core.db.org_by_name(ns).await?.is_none())
        {
            continue;
        }
        let new = NewDataset {
            namespace: ns.to_owned(),
            name: name.to_owned(),
            visibility: if public {
                Visibility::Public
            } else {
                Visibility::Private
            },
            datapackage: None,
            message: Some("Create dataset (S3 CreateBucket)".into()),
        };
        match crate::datasets::create_as(core, who, new).await {
            Ok(_) => return Ok(MadeBucket::Created),
            // Made meanwhile, or under the same bucket name by someone else.
            Err(e) if e.kind == Kind::Conflict => return Ok(MadeBucket::Taken),
            // Another way of cutting the name may be a namespace of the caller's.
            Err(e) if e.kind == Kind::Forbidden => refused = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(refused.unwrap_or_else(|| {
        Error::unprocessable(format!(
            "bucket {bucket:?} names no namespace: a bucket is {{namespace}}.{{name}}, \
             {{namespace}} a user or an organisation"
        ))
    }))
}

fn no_bucket(bucket: &str) -> Error {
    Error::not_found(format!(
        "no dataset you may see is bucket {bucket:?}: a bucket is a dataset, named {{namespace}}.{{name}}"
    ))
}

/// A key split into the revision it names and the path in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    /// The branch, tag or commit id the key starts with.
    pub rev: String,
    /// Whether `rev` is a branch (writes need one).
    pub branch: bool,
    /// The file's path (may be empty: the key is the revision's root).
    pub path: String,
}

/// The refs of a dataset the caller may address: `(name, is_branch)`, branches first (the
/// default branch even before the first commit). A caller who reaches only shared paths reaches
/// the default branch alone.
pub async fn refs(core: &Core, gated: &Gated) -> Result<Vec<(String, bool)>> {
    if gated.limited() {
        return Ok(vec![(DEFAULT_BRANCH.to_owned(), true)]);
    }
    let (branches, tags) =
        git_on(core, gated, |ms, ds| Ok((ms.branches(ds)?, ms.tags(ds)?))).await?;
    let mut out: Vec<(String, bool)> = branches.into_iter().map(|(b, _)| (b, true)).collect();
    // A dataset without a commit yet takes its first one on the default branch.
    if out.is_empty() {
        out.push((DEFAULT_BRANCH.to_owned(), true));
    }
    out.extend(tags.into_iter().map(|t| (t.name, false)));
    Ok(out)
}

/// Where `key` points: the shortest ref it starts with (`{ref}/…`), branches before tags, then a
/// commit id. `None`: no ref of the dataset starts the key.
pub fn locate(refs: &[(String, bool)], key: &str, limited: bool) -> Option<Located> {
    let mut ends: Vec<usize> = key.match_indices('/').map(|(i, _)| i).collect();
    ends.push(key.len());
    for end in ends {
        let head = &key[..end];
        let path = key.get(end + 1..).unwrap_or("").to_owned();
        for want_branch in [true, false] {
            if refs.iter().any(|(r, b)| *b == want_branch && r == head) {
                return Some(Located {
                    rev: head.to_owned(),
                    branch: want_branch,
                    path,
                });
            }
        }
        if !limited && head.len() == 40 && head.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Some(Located {
                rev: head.to_ascii_lowercase(),
                branch: false,
                path,
            });
        }
    }
    None
}

/// [`locate`] for a file: the key must name a ref and a path in it, and the path must be one a
/// dataset can hold.
pub async fn locate_file(core: &Core, gated: &Gated, key: &str) -> Result<Located> {
    let refs = refs(core, gated).await?;
    let at = locate(&refs, key, gated.limited()).ok_or_else(|| {
        Error::not_found(format!(
            "no branch, tag or commit of {} starts key {key:?}: keys are {{branch, tag or commit}}/{{path}}",
            gated.path()
        ))
    })?;
    if at.path.is_empty() {
        return Err(Error::not_found(format!(
            "key {key:?} names revision {:?}, not a file in it",
            at.rev
        )));
    }
    gate::check_path(&at.path)?;
    if !gated.covers(&at.path) {
        return Err(Error::forbidden(format!(
            "{:?} of {} is not shared with you",
            at.path,
            gated.path()
        )));
    }
    Ok(at)
}

/// The longest a presigned URL may live (S3's own limit: a week).
pub const MAX_PRESIGNED_SECS: i64 = 7 * 24 * 3600;

/// Whether a request's query string makes a presigned URL live longer than S3 lets one (SigV4's
/// `X-Amz-Expires` in seconds, SigV2's `Expires` a Unix time, `now` being the time now), or
/// gives either as something other than a number. Otherwise a URL would live as long as its token.
pub fn presigned_too_long(query: &str, now: i64) -> bool {
    url::form_urlencoded::parse(query.as_bytes()).any(|(k, v)| match k.as_ref() {
        "X-Amz-Expires" => v.parse::<i64>().map_or(true, |s| s > MAX_PRESIGNED_SECS),
        "Expires" => v
            .parse::<i64>()
            .map_or(true, |t| t > now.saturating_add(MAX_PRESIGNED_SECS)),
        _ => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refs() -> Vec<(String, bool)> {
        vec![
            ("main".into(), true),
            ("feature/x".into(), true),
            ("v1".into(), false),
            ("main".into(), false),
        ]
    }

    #[test]
    fn a_key_is_the_shortest_ref_it_starts_with_and_a_path() {
        let at = |key: &str| locate(&refs(), key, false);
        let main = at("main/data/a.csv").unwrap();
        assert_eq!(
            (main.rev.as_str(), main.branch, main.path.as_str()),
            ("main", true, "data/a.csv")
        );
        let feature = at("feature/x/a.csv").unwrap();
        assert_eq!(
            (feature.rev.as_str(), feature.path.as_str()),
            ("feature/x", "a.csv")
        );
        let tag = at("v1/a.csv").unwrap();
        assert!(!tag.branch);
        assert_eq!(at("feature/a.csv"), None);
        assert_eq!(at("nope/a.csv"), None);
        assert_eq!(at("main").unwrap().path, "");
        let id = "AB".repeat(20);
        let c = at(&format!("{id}/a.csv")).unwrap();
        assert_eq!((c.rev, c.branch), ("ab".repeat(20), false));
        assert_eq!(locate(&refs(), &format!("{id}/a.csv"), true), None);
    }

    #[test]
    fn presigned_urls_live_a_week_at_most() {
        let now = 1_700_000_000;
        assert!(!presigned_too_long("X-Amz-Expires=604800&a=b", now));
        assert!(presigned_too_long("X-Amz-Expires=604801", now));
        assert!(presigned_too_long("X-Amz-Expires=soon", now));
        assert!(!presigned_too_long(&format!("Expires={}", now + 3600), now));
        assert!(presigned_too_long(
            &format!("Expires={}", now + 604_801),
            now
        ));
        assert!(presigned_too_long("Expires=9223372036854775807", now));
        assert!(!presigned_too_long("", now));
    }
}
