//! The files a load names, as the S3 gateway serves them under a table's location
//! (`.iceberg/{table}/` in its dataset's bucket): the metadata (`metadata/{warehouse}.{digest}.metadata.json`),
//! each snapshot's manifest list (`metadata/snap-{seq}-{rev}-{schema}-{view}.avro`) and manifest
//! (`metadata/{seq}-{rev}-{schema}-{view}-m0.avro`), and its data file, the caller's view
//! (`data/{rev}-{view}.parquet`). Each name says what it is made from; a read opens the table at
//! that revision for the caller again, through the gate and the policies, and serves only if the
//! caller's view there is still the one named (else 404: load the table again). The Avro files
//! are made again on each read, the same bytes each time; reads of a snapshot's files (a data
//! file's ranges, its manifests) share what the first one found for [`DATA_KEPT`] (same caller,
//! scopes, policies).

use super::avro::{self, DataFile, Snapshot};
use super::load::{self, snapshot_id};
use super::{schema, Warehouse};
use crate::compat::s3::objects::{Content, Found};
use crate::datasets::gate::Gated;
use crate::datasets::git_on;
use crate::datasets::policies::Surface;
use crate::error::{Error, Result};
use crate::tables::{self, view};
use crate::Core;

/// Where a table's files are in its bucket.
pub const ROOT: &str = ".iceberg/";

/// Which file of a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    List,
    Manifest,
    Data,
}

/// What a snapshot's files are made from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileName {
    pub sequence: i64,
    pub rev: String,
    pub schema: i32,
    /// The view's key.
    pub key: String,
}

impl FileName {
    /// The file's path under the table's location.
    pub fn path(&self, which: Which) -> String {
        let FileName {
            sequence,
            rev,
            schema,
            key,
        } = self;
        match which {
            Which::List => format!("metadata/snap-{sequence}-{rev}-{schema}-{key}.avro"),
            Which::Manifest => format!("metadata/{sequence}-{rev}-{schema}-{key}-m0.avro"),
            Which::Data => format!("data/{sequence}-{rev}-{schema}-{key}.parquet"),
        }
    }

    fn parse(path: &str) -> Option<(Which, FileName)> {
        let (which, rest) = if let Some(r) = path.strip_prefix("metadata/snap-") {
            (Which::List, r.strip_suffix(".avro")?)
        } else if let Some(r) = path.strip_prefix("metadata/") {
            (Which::Manifest, r.strip_suffix("-m0.avro")?)
        } else {
            (
                Which::Data,
                path.strip_prefix("data/")?.strip_suffix(".parquet")?,
            )
        };
        let mut parts = rest.split('-');
        let sequence = parts.next()?.parse().ok()?;
        let rev = parts.next()?.to_owned();
        let schema = parts.next()?.parse().ok()?;
        let key = parts.next()?.to_owned();
        let hex = |s: &str, lens: &[usize]| {
            lens.contains(&s.len())
                && s.bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        };
        (parts.next().is_none() && hex(&rev, &[40, 64]) && hex(&key, &[64]) && sequence > 0)
            .then_some((
                which,
                FileName {
                    sequence,
                    rev,
                    schema,
                    key,
                },
            ))
    }
}

/// Whether `path` (under a table's location) is a name the catalog gives its own files.
pub fn is_made_here(path: &str) -> bool {
    FileName::parse(path).is_some()
        || (path.starts_with("metadata/") && path.ends_with(".metadata.json"))
}

/// The data file of the snapshot whose manifest list is at `url` (`{location}/metadata/snap-…`),
/// when the catalog made that list.
pub(super) fn data_of_list(url: &str) -> Option<String> {
    let at = url.rfind("/metadata/snap-")?;
    let (location, rel) = (&url[..at], &url[at + 1..]);
    match FileName::parse(rel)? {
        (Which::List, name) => Some(format!("{location}/{}", name.path(Which::Data))),
        _ => None,
    }
}

/// The table a key under [`ROOT`] is of.
pub fn table_of(key: &str) -> Option<&str> {
    key.strip_prefix(ROOT)?.split_once('/').map(|(t, _)| t)
}

fn missing() -> Error {
    Error::not_found(
        "no such file: the table changed for you since it was loaded (a new revision, a policy): \
         load it again",
    )
}

/// The file `key` (under [`ROOT`]) of the dataset of `gated`, as its caller reads it: one the
/// catalog makes, or one they staged for a commit ([`super::staged`]).
pub async fn read(core: &Core, gated: &Gated, key: &str) -> Result<Found> {
    let (table, path) = key
        .strip_prefix(ROOT)
        .and_then(|k| k.split_once('/'))
        .ok_or_else(missing)?;
    if !is_made_here(path) {
        return match super::staged::find(core, gated, key).await? {
            Some((_, _, found)) => Ok(found),
            None => Err(missing()),
        };
    }
    let mut ns = vec![gated.namespace.clone()];
    ns.extend(gated.name.split('/').map(str::to_owned));
    if let Some(file) = path
        .strip_prefix("metadata/")
        .and_then(|f| f.strip_suffix(".metadata.json"))
    {
        let (prefix, _) = file.rsplit_once('.').ok_or_else(missing)?;
        let warehouse = Warehouse::from_prefix(prefix).map_err(|_| missing())?;
        let (loaded, _) = load::load(core, &gated.who, &ns, table, &warehouse).await?;
        if !loaded.metadata_location.ends_with(key) {
            return Err(missing());
        }
        let bytes = loaded.metadata.to_string().into_bytes();
        return Ok(inline(bytes, 0, String::new()));
    }
    let (which, name) = FileName::parse(path).ok_or_else(missing)?;
    let hit = view_at(core, gated, table, &name).await?;
    let view = &hit.view;
    if which == Which::Data {
        return Ok(Found {
            content: Content::Object {
                place: view.place(),
                oid: view.oid,
                size: view.size,
            },
            etag: view.oid.to_string()[..32].to_owned(),
            modified: hit.time,
            commit: hit.commit,
        });
    }
    let columns = load::columns(core, view).await?;
    let ids = load::ids(core, gated.id, table, &columns).await?;
    let schema = schema::iceberg(&columns, &ids, name.schema);
    let snap = Snapshot {
        id: snapshot_id(&name.rev),
        sequence: name.sequence,
        schema: &schema,
    };
    let bucket = crate::compat::s3::bucket_name(&gated.namespace, &gated.name);
    let location = format!("s3://{bucket}/{ROOT}{table}");
    let file = DataFile {
        path: format!("{location}/{}", name.path(Which::Data)),
        rows: view.rows,
        size: view.size,
        stats: super::stats::of(core, view, &columns, &ids).await?,
    };
    let manifest = avro::manifest(&snap, &file)?;
    let bytes = match which {
        Which::Manifest => manifest,
        _ => avro::manifest_list(
            &snap,
            &format!("{location}/{}", name.path(Which::Manifest)),
            manifest.len() as u64,
            view.rows,
        )?,
    };
    Ok(inline(bytes, hit.time, hit.commit))
}

/// What a read of a snapshot's file found: the caller's view, the table's path and the
/// revision's time and id.
#[derive(Debug, Clone)]
pub(super) struct Hit {
    view: view::View,
    path: String,
    time: i64,
    commit: String,
}

/// How long what a read found is kept for the same caller, scopes and policies (an engine reads
/// a data file in many ranges, and the three files of a snapshot one after another: each deciding
/// again would open the table each time), and how many.
const DATA_KEPT: std::time::Duration = std::time::Duration::from_secs(30);
const DATA_KEPT_MOST: usize = 1000;

/// The caller's view of `table` at the revision `name` is made from, while it is the one named
/// (else 404): opened and decided for the caller, or as a read a moment ago found it for the same
/// caller, scopes and policies (the gate has let them into the dataset again for this request; a
/// share of some files is checked again against the table's path).
async fn view_at(core: &Core, gated: &Gated, table: &str, name: &FileName) -> Result<Hit> {
    let key = format!(
        "{}|{}|{table}|{}|{}",
        super::caller_key(core, &gated.who).await,
        gated.id,
        name.rev,
        name.key,
    );
    match core.iceberg.data.get(&key, DATA_KEPT) {
        Some(hit) if gated.covers(&hit.path) => Ok(hit),
        Some(_) => Err(missing()),
        None => {
            let at = (!gated.limited()).then_some(name.rev.as_str());
            let opened = tables::open(core, gated, table, at, None, Surface::Iceberg).await?;
            let view = view::view(core, gated.id, &opened).await?;
            if view.key != name.key {
                return Err(missing());
            }
            let rev = name.rev.clone();
            let revision = git_on(core, gated, move |ms, ds| ms.revision(ds, &rev)).await?;
            let hit = Hit {
                view,
                path: opened.table.path,
                time: revision.time,
                commit: revision.id,
            };
            core.iceberg
                .data
                .put(key, hit.clone(), DATA_KEPT, DATA_KEPT_MOST);
            Ok(hit)
        }
    }
}

fn inline(bytes: Vec<u8>, modified: i64, commit: String) -> Found {
    use sha2::Digest;
    let etag = strata_lfs::lower_hex(&sha2::Sha256::digest(&bytes));
    Found {
        content: Content::Inline(bytes),
        etag: etag[..32].to_owned(),
        modified,
        commit,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_name_reads_back_and_odd_ones_do_not() {
        let name = FileName {
            sequence: 3,
            rev: "a".repeat(40),
            schema: 1,
            key: "b".repeat(64),
        };
        for which in [Which::List, Which::Manifest, Which::Data] {
            assert_eq!(
                FileName::parse(&name.path(which)),
                Some((which, name.clone()))
            );
        }
        for bad in [
            "metadata/snap-0-aaaa-1-bbbb.avro",
            &format!("data/3-{}-1-{}.parquet", "A".repeat(40), "b".repeat(64)),
            &format!("data/3-{}-1-{}-x.parquet", "a".repeat(40), "b".repeat(64)),
            "data/../x.parquet",
            "other",
        ] {
            assert_eq!(FileName::parse(bad), None, "{bad}");
        }
        assert_eq!(table_of(".iceberg/t/data/x"), Some("t"));
        assert_eq!(table_of("main/t.csv"), None);
    }
}
