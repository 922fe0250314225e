//! The S3 gateway's ETags, as S3 clients check them: the MD5 of the bytes for an object put
//! whole (32 hex characters), the MD5 of the parts' MD5s and their count (`{hex}-{parts}`) for a
//! multipart upload, each part's MD5 for the part. What the gateway stores it records per dataset
//! and object (`s3_etags`), so reads, heads, listings and conditions answer what the upload did.
//!
//! Bytes whose MD5 strata does not know — objects stored by git-lfs, the browser or REST, a
//! governed view — answer an ETag that cannot pass for an MD5 (`{sha256}-1`: S3's own ETags of
//! multipart uploads and of encrypted objects are no MD5 either); clients that check MD5s
//! (s3cmd, rclone) check only ETags of 32 hex characters without a `-`. A file kept in git is
//! small and read whole: its ETag is the MD5 of its bytes.

use std::collections::HashMap;

use md5::Digest;
use strata_lfs::Oid;

use crate::error::Result;
use crate::Core;

/// Small text that is no data (a datapackage, a README) is kept in git when at most this big;
/// everything else becomes an LFS object.
pub const MAX_INLINE: u64 = 256 << 10;

/// An MD5 taken as bytes go by.
#[derive(Default)]
pub struct Md5Sum(md5::Md5);

impl Md5Sum {
    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    /// The MD5 in lowercase hex, as S3 spells ETags.
    pub fn hex(self) -> String {
        let digest: [u8; 16] = self.0.finalize().into();
        hex::encode(digest)
    }
}

/// The MD5 of `bytes` in hex: the ETag of an object put whole.
pub fn md5_hex(bytes: &[u8]) -> String {
    let mut sum = Md5Sum::default();
    sum.update(bytes);
    sum.hex()
}

/// Whether `etag` is an MD5 as an ETag spells it (32 hex characters).
pub fn is_md5(etag: &str) -> bool {
    etag.len() == 32 && etag.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The ETag of a multipart upload made of parts whose ETags (their MD5s) are `parts`, in order:
/// the MD5 of the parts' binary MD5s, `-`, their count. `None` if a part's ETag is no MD5.
pub fn multipart<S: AsRef<str>>(parts: &[S]) -> Option<String> {
    let mut sum = Md5Sum::default();
    for part in parts {
        let part = part.as_ref();
        if !is_md5(part) {
            return None;
        }
        sum.update(&hex::decode(part).ok()?);
    }
    Some(format!("{}-{}", sum.hex(), parts.len()))
}

/// The ETag of bytes whose MD5 is not known, named by `id` (an oid, a git blob id, a view): one
/// no client takes for an MD5.
pub fn opaque(id: &str) -> String {
    format!("{id}-1")
}

/// The ETag of a file kept in git (blob `blob`): the MD5 of its bytes when it is small enough
/// to be read whole (`data`), else [`opaque`]. Reads and listings answer the same one.
pub fn of_blob(blob: &str, data: Option<&[u8]>) -> String {
    match data {
        Some(d) if d.len() as u64 <= MAX_INLINE => md5_hex(d),
        _ => opaque(blob),
    }
}

/// The ETag of object `oid` in dataset `repo_id`: the one recorded when the gateway stored it,
/// else [`opaque`].
pub async fn object(core: &Core, repo_id: i64, oid: &Oid) -> Result<String> {
    Ok(objects(core, repo_id, &[*oid])
        .await?
        .remove(oid)
        .unwrap_or_else(|| opaque(&oid.to_string())))
}

/// The ETags of `oids` in dataset `repo_id` (see [`object`]), one query for a listing's page.
pub async fn objects(core: &Core, repo_id: i64, oids: &[Oid]) -> Result<HashMap<Oid, String>> {
    let mut known = core.db.s3_etags(repo_id, oids).await?;
    for oid in oids {
        known
            .entry(*oid)
            .or_insert_with(|| opaque(&oid.to_string()));
    }
    Ok(known)
}

/// Records `etag` as what object `oid` of dataset `repo_id` answers from now on.
pub async fn record(core: &Core, repo_id: i64, oid: &Oid, etag: &str) -> Result<()> {
    Ok(core.db.record_s3_etag(repo_id, oid, etag).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_are_s3s() {
        assert_eq!(md5_hex(b""), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(md5_hex(b"hello\n"), "b1946ac92492d2347c6235b4d2611184");
        // Two parts, "a" and "b": md5(md5("a") ++ md5("b")), then the count.
        let (a, b) = (md5_hex(b"a"), md5_hex(b"b"));
        let mut both = hex::decode(&a).unwrap();
        both.extend(hex::decode(&b).unwrap());
        assert_eq!(
            multipart(&[a.as_str(), b.as_str()]).unwrap(),
            format!("{}-2", md5_hex(&both))
        );
        assert_eq!(multipart(&["nope"]), None);
        let oid = Oid::of(b"x").to_string();
        assert!(!is_md5(&opaque(&oid)) && opaque(&oid).contains('-'));
        assert_eq!(of_blob("abc", Some(b"hello\n")), md5_hex(b"hello\n"));
        assert_eq!(of_blob("abc", None), "abc-1");
    }
}
