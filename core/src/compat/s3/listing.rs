//! `ListObjects` over a dataset's refs. A ref's files are read from git once per commit and
//! kept ([`Listings`]): an S3 client pages through a large dataset a thousand keys at a time,
//! and reading every file's pointer again for each page made listing 10,000 files take seconds.
//! The ETags of a page's objects are asked once per page (an upload may record one after the
//! commit's files were kept: a put of bytes the key held already makes no commit).

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use strata_lfs::Oid;

use crate::datasets::gated::Gated;
use crate::datasets::git_on;
use crate::error::{Kind, Result};
use crate::Core;

use super::etags::MAX_INLINE;
use super::{etags, refs, MAX_KEYS};

/// One object of a listing.
#[derive(Debug, Clone)]
pub struct Listed {
    pub key: String,
    /// The file's size (an LFS file's object's).
    pub size: u64,
    /// The S3 ETag, as a read answers it (`super::etags`).
    pub etag: String,
    /// When its revision was made (the ref's head commit).
    pub modified: i64,
}

/// What a listing asks for.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub prefix: String,
    pub delimiter: Option<String>,
    /// Keys after this one only (a continuation token or `start-after`).
    pub after: Option<String>,
    pub max_keys: usize,
}

/// One page of a listing: objects, common prefixes, and the last key given if more follow.
#[derive(Debug, Clone, Default)]
pub struct ListPage {
    pub objects: Vec<Listed>,
    pub prefixes: Vec<String>,
    pub next: Option<String>,
}

/// What a file's ETag comes from.
#[derive(Debug, Clone)]
enum Tag {
    /// An LFS file: its object's, asked for per page.
    Object(Oid),
    /// A file kept in git: known from its bytes.
    Known(String),
}

/// Every file of one commit, sorted by path: (path, size, tag).
struct Files {
    modified: i64,
    files: Vec<(String, u64, Tag)>,
}

/// The files of commits listed lately, by dataset and commit id (a commit's files never change).
/// Unfiltered: what a caller may see is chosen per page.
#[derive(Default)]
pub struct Listings(Mutex<HashMap<(i64, String), Arc<Files>>>);

impl std::fmt::Debug for Listings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("s3::Listings")
    }
}

/// Files kept at most, over all commits (about 100 bytes each).
const KEPT_FILES: usize = 1_000_000;

impl Listings {
    fn get(&self, key: &(i64, String)) -> Option<Arc<Files>> {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.get(key).cloned()
    }

    fn put(&self, key: (i64, String), files: Arc<Files>) {
        if files.files.len() > KEPT_FILES {
            return;
        }
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let kept: usize = map.values().map(|f| f.files.len()).sum();
        if kept + files.files.len() > KEPT_FILES || map.len() >= 64 {
            map.clear();
        }
        map.insert(key, files);
    }
}

/// The files of ref `rev`, from [`Listings`] when its head was listed before. `None`: the
/// default branch of a dataset without a commit yet.
async fn files_of(core: &Core, gated: &Gated, rev: &str) -> Result<Option<Arc<Files>>> {
    let r = rev.to_owned();
    let commit = match git_on(core, gated, move |ms, ds| ms.resolve(ds, Some(&r))).await {
        Ok(id) => id.to_string(),
        Err(e) if e.kind == Kind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let key = (gated.id, commit.clone());
    if let Some(files) = core.s3_listings.get(&key) {
        return Ok(Some(files));
    }
    let files = git_on(core, gated, move |ms, ds| {
        let modified = ms.revision(ds, &commit)?.time;
        let (_, entries) = ms.tree(ds, Some(&commit))?;
        let blobs = ms.files(ds, Some(&commit))?;
        let mut files = Vec::with_capacity(entries.len());
        for e in entries {
            files.push(match e.lfs {
                Some(p) => (e.path, p.size, Tag::Object(p.oid)),
                None => {
                    // Small files are read for their MD5, as a read answers it.
                    let data = if e.size <= MAX_INLINE {
                        blobs.blob(&e.path, MAX_INLINE)?.2
                    } else {
                        None
                    };
                    let tag = Tag::Known(etags::of_blob(&e.oid, data.as_deref()));
                    (e.path, e.size, tag)
                }
            });
        }
        Ok(Files { modified, files })
    })
    .await?;
    let files = Arc::new(files);
    core.s3_listings.put(key, files.clone());
    Ok(Some(files))
}

/// `ListObjects`: the keys of every ref the prefix can reach, in key order. With a delimiter,
/// keys with it past the prefix collapse into one common prefix (refs with `/` included).
pub async fn list(core: &Core, gated: &Gated, q: &ListQuery) -> Result<ListPage> {
    let refs = refs(core, gated).await?;
    let mut keys: Vec<(String, Option<(Listed, Tag)>)> = Vec::new();
    let mut prefixes = BTreeSet::new();
    let delim = q.delimiter.as_deref().filter(|d| !d.is_empty());
    let collapse = |key: &str| -> Option<String> {
        let rest = key.get(q.prefix.len()..)?;
        let d = delim?;
        rest.find(d)
            .map(|i| format!("{}{}", q.prefix, &rest[..i + d.len()]))
    };
    // In key order: each ref's keys start with `{ref}/`, so a page stops reading refs once it is
    // full and the next ref's keys all come after it.
    let mut roots: Vec<String> = refs.iter().map(|(r, _)| format!("{r}/")).collect();
    roots.sort();
    roots.dedup();
    let after = q.after.as_deref().unwrap_or("");
    let max = q.max_keys.min(MAX_KEYS);
    for root in roots {
        if !(q.prefix.starts_with(&root) || root.starts_with(&q.prefix)) {
            continue;
        }
        // Every key of this ref comes before where the page starts.
        if after > root.as_str() && !after.starts_with(&root) {
            continue;
        }
        let listed = keys.len() + prefixes.len();
        let last = keys
            .iter()
            .map(|(k, _)| k.as_str())
            .chain(prefixes.iter().map(String::as_str))
            .max()
            .unwrap_or("");
        if listed > max && root.as_str() > last {
            break;
        }
        // A prefix that stops inside the ref's name collapses before the files are read.
        if !q.prefix.starts_with(&root) {
            if let Some(p) = collapse(&root) {
                if p.len() <= root.len() {
                    if p.as_str() > after {
                        prefixes.insert(p);
                    }
                    continue;
                }
            }
        }
        let Some(files) = files_of(core, gated, root.trim_end_matches('/')).await? else {
            continue;
        };
        // Keys up to `after` are skipped without being looked at (a prefix never sorts after
        // the key it was cut from, so they hold no prefix of this page either).
        let from = match after.strip_prefix(root.as_str()) {
            Some(path) => files.files.partition_point(|(p, ..)| p.as_str() <= path),
            None => 0,
        };
        for (path, size, tag) in &files.files[from..] {
            if !gated.covers(path) {
                continue;
            }
            let key = format!("{root}{path}");
            if !key.starts_with(&q.prefix) {
                continue;
            }
            if let Some(p) = collapse(&key) {
                if p.as_str() > after {
                    prefixes.insert(p);
                }
                continue;
            }
            keys.push((
                key.clone(),
                Some((
                    Listed {
                        key,
                        size: *size,
                        etag: String::new(),
                        modified: files.modified,
                    },
                    tag.clone(),
                )),
            ));
        }
    }
    keys.extend(prefixes.into_iter().map(|p| (p, None)));
    keys.sort_by(|a, b| a.0.cmp(&b.0));
    keys.dedup_by(|a, b| a.0 == b.0);
    let mut page = ListPage::default();
    let mut tags = Vec::new();
    let mut rest = keys.into_iter().filter(|(k, _)| k.as_str() > after);
    let mut last = None;
    for (key, listed) in rest.by_ref().take(max) {
        match listed {
            Some((l, tag)) => {
                page.objects.push(l);
                tags.push(tag);
            }
            None => page.prefixes.push(key.clone()),
        }
        last = Some(key);
    }
    if rest.next().is_some() {
        page.next = last;
    }
    let oids: Vec<Oid> = tags
        .iter()
        .filter_map(|t| match t {
            Tag::Object(oid) => Some(*oid),
            Tag::Known(_) => None,
        })
        .collect();
    let known = etags::objects(core, gated.id, &oids).await?;
    for (listed, tag) in page.objects.iter_mut().zip(tags) {
        listed.etag = match tag {
            Tag::Object(oid) => known
                .get(&oid)
                .cloned()
                .unwrap_or_else(|| etags::opaque(&oid.to_string())),
            Tag::Known(etag) => etag,
        };
    }
    Ok(page)
}
