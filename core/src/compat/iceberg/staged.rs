//! The files of a commit an engine writes before it commits through the catalog: PyIceberg,
//! Spark and the others put a snapshot's data files, manifests and manifest list under the
//! table's location (`.iceberg/{table}/…`, through the S3 gateway, with a staging key from the
//! load, [`super::creds`]) and then ask the catalog to commit the snapshot ([`super::commit`]).
//! Here they are stored as objects of the dataset (hashed as every upload is, inside the
//! namespace's quota) and recorded per user (`iceberg_staged`): in no revision, read back and
//! deleted only by the user who put them, forgotten by the commit that takes them and, unclaimed,
//! after [`KEPT_SECS`]; the objects a commit does not link are the garbage collector's.

use bytes::Bytes;
use futures_util::Stream;

use super::files::{self, ROOT};
use crate::compat::s3::objects::{self, Content, Found, Written};
use crate::datasets::gate::Gated;
use crate::db::IcebergStaged;
use crate::error::{Error, Result};
use crate::Core;

/// How long a staged file waits for its commit.
pub const KEPT_SECS: i64 = 24 * 3600;
/// Files one user has staged in one dataset at most.
pub const MOST: i64 = 10_000;
/// The longest key a staged file has.
const LONGEST_KEY: usize = 1024;

/// Checks that `key` names a file a commit may stage: under a table's `data/` or `metadata/`,
/// of plain segments, and not one of the names the catalog gives its own files.
pub fn check_key(key: &str) -> Result<()> {
    let refuse = |why: &str| Err(Error::bad_request(format!("{key:?}: {why}")));
    let Some(rest) = key.strip_prefix(ROOT) else {
        return refuse("a staged file is under .iceberg/{table}/");
    };
    let Some((table, path)) = rest.split_once('/') else {
        return refuse("a staged file is under .iceberg/{table}/data/ or metadata/");
    };
    if key.len() > LONGEST_KEY {
        return refuse("the key is too long");
    }
    if table.is_empty()
        || path
            .split('/')
            .any(|s| s.is_empty() || s == "." || s == ".." || s.contains('\\'))
    {
        return refuse("every part of the key must be a plain name");
    }
    if !(path.starts_with("data/") || path.starts_with("metadata/")) {
        return refuse("a staged file is under .iceberg/{table}/data/ or metadata/");
    }
    if files::is_made_here(path) {
        return refuse("this name is of a file the catalog makes itself: pick another");
    }
    Ok(())
}

/// The staging user of a caller (staging is for signed-in users).
fn user_of(gated: &Gated) -> Result<i64> {
    match &gated.who {
        crate::auth::Principal::User { user, .. } => Ok(user.id),
        _ => Err(Error::unauthorized(
            "staging a commit's files needs a signed-in user's key",
        )),
    }
}

/// Stores `body` as the file `key` the caller stages in the dataset of `gated` (which the
/// gateway opened for writing); its ETag.
pub async fn put<S, E>(
    core: &Core,
    gated: &Gated,
    key: &str,
    length: u64,
    body: S,
) -> Result<String>
where
    S: Stream<Item = std::result::Result<Bytes, E>>,
    E: std::fmt::Display,
{
    check_key(key)?;
    let user = user_of(gated)?;
    if core.db.iceberg_staged_count(gated.id, user).await? >= MOST {
        return Err(Error::new(
            crate::error::Kind::TooMany,
            format!("you have {MOST} files staged in this dataset: commit or wait a day"),
        ));
    }
    crate::quotas::check(core, gated, None, length).await?;
    let written = objects::ingest(core, gated, body).await?;
    record(core, gated, key, written).await
}

/// Records an object stored for the caller (a put's, or a multipart upload's) as the file `key`
/// they stage; its ETag.
pub async fn record(core: &Core, gated: &Gated, key: &str, written: Written) -> Result<String> {
    check_key(key)?;
    let user = user_of(gated)?;
    let Written::Stored { oid, size, etag } = written else {
        return Err(Error::internal("a staged file is stored as an object"));
    };
    let etag = etag.unwrap_or_else(|| oid.to_string()[..32].to_owned());
    let file = IcebergStaged {
        key: key.to_owned(),
        oid: oid.to_string(),
        size: size as i64,
        etag: etag.clone(),
        created: crate::db::now(),
    };
    core.db.iceberg_stage(gated.id, user, &file).await?;
    Ok(etag)
}

/// The file `key` the caller staged in the dataset of `gated`, if they did.
pub async fn find(
    core: &Core,
    gated: &Gated,
    key: &str,
) -> Result<Option<(strata_lfs::Oid, u64, Found)>> {
    let Ok(user) = user_of(gated) else {
        return Ok(None);
    };
    let Some(file) = core.db.iceberg_staged(gated.id, user, key).await? else {
        return Ok(None);
    };
    if file.created < crate::db::now() - KEPT_SECS {
        return Ok(None);
    }
    let oid: strata_lfs::Oid = file
        .oid
        .parse()
        .map_err(|_| Error::internal("a staged file's oid"))?;
    let size = file.size.max(0) as u64;
    let found = Found {
        content: Content::Object {
            place: crate::storage::Place::Dataset(gated.id),
            oid,
            size,
        },
        etag: file.etag,
        modified: file.created,
        commit: String::new(),
    };
    Ok(Some((oid, size, found)))
}

/// The bytes of a small staged file (a manifest, a manifest list), at most `most` of them.
pub async fn bytes(core: &Core, gated: &Gated, key: &str, most: u64) -> Result<Option<Vec<u8>>> {
    let Some((oid, size, _)) = find(core, gated, key).await? else {
        return Ok(None);
    };
    if size > most {
        return Err(Error::unprocessable(format!(
            "{key:?} is {size} bytes: a manifest or manifest list here is at most {most}"
        )));
    }
    Ok(Some(read_object(core, gated.id, &oid).await?))
}

/// An object of dataset `repo_id`, whole.
pub(super) async fn read_object(
    core: &Core,
    repo_id: i64,
    oid: &strata_lfs::Oid,
) -> Result<Vec<u8>> {
    use futures_util::StreamExt;
    let Some(crate::storage::Read::Found { mut object, .. }) =
        core.storage.read(repo_id, oid, None).await?
    else {
        return Err(Error::not_found("a staged file is missing from storage"));
    };
    let mut out = Vec::with_capacity(object.len as usize);
    while let Some(chunk) = object.body.next().await {
        out.extend_from_slice(&chunk.map_err(Error::internal)?);
    }
    Ok(out)
}

/// Forgets the files `keys` the caller staged (their commit took them).
pub async fn forget(core: &Core, gated: &Gated, keys: &[String]) -> Result<()> {
    let user = user_of(gated)?;
    core.db.iceberg_unstage(gated.id, user, keys).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_keys_under_a_table_stage() {
        for ok in [
            ".iceberg/t/data/00000-0-abc.parquet",
            ".iceberg/t/metadata/snap-1-0-abc.avro",
            ".iceberg/t/metadata/abc-m0.avro",
        ] {
            assert!(check_key(ok).is_ok(), "{ok}");
        }
        let made = format!(
            ".iceberg/t/data/1-{}-0-{}.parquet",
            "a".repeat(40),
            "b".repeat(64)
        );
        for bad in [
            "main/t.csv",
            ".iceberg/t",
            ".iceberg//data/x",
            ".iceberg/t/other/x",
            ".iceberg/t/data/../x",
            ".iceberg/t/data//x",
            ".iceberg/t/metadata/main.0123456789abcdef.metadata.json",
            made.as_str(),
        ] {
            assert!(check_key(bad).is_err(), "{bad}");
        }
    }
}
