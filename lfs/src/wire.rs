//! JSON bodies of the batch, verify and locking APIs, as `batch.md`, `basic-transfers.md` and
//! `locking.md` define them. Requests are parsed leniently where the spec allows (unknown fields,
//! missing optional ones) and object-level fields stay raw so that a bad oid or size becomes a
//! per-object error rather than a failed request.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The media type of every LFS API body.
pub const MEDIA_TYPE: &str = "application/vnd.git-lfs+json";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Operation {
    Upload,
    Download,
}

#[derive(Debug, Clone, Deserialize)]
pub struct BatchRequest {
    pub operation: Operation,
    #[serde(default)]
    pub transfers: Option<Vec<String>>,
    #[serde(default, rename = "ref")]
    pub git_ref: Option<RefSpec>,
    pub objects: Vec<RequestObject>,
    #[serde(default)]
    pub hash_algo: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
pub struct RefSpec {
    pub name: String,
}

/// One object of a batch request, unvalidated: `oid` may be any string and `size` any number.
#[derive(Debug, Clone, Deserialize)]
pub struct RequestObject {
    pub oid: String,
    pub size: serde_json::Number,
}

#[derive(Debug, Clone, Serialize)]
pub struct BatchResponse {
    pub transfer: String,
    pub objects: Vec<ResponseObject>,
    pub hash_algo: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ResponseObject {
    pub oid: String,
    pub size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authenticated: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actions: Option<Actions>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ObjectError>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Actions {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub download: Option<Action>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upload: Option<Action>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verify: Option<Action>,
    /// `multipart-basic` (giftless's transfer adapter): the parts still to upload, in order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parts: Option<Vec<PartAction>>,
    /// `multipart-basic`: assembles the parts once they are all uploaded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit: Option<RequestAction>,
    /// `multipart-basic`: throws the uploaded parts away.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub abort: Option<RequestAction>,
}

/// One part of a `multipart-basic` upload: the bytes `[pos, pos + size)` of the object, sent with
/// `PUT` to `href`.
#[derive(Debug, Clone, Serialize)]
pub struct PartAction {
    pub href: String,
    /// Always present (some clients index it without a default).
    pub header: BTreeMap<String, String>,
    pub pos: u64,
    pub size: u64,
    pub expires_in: i64,
    pub expires_at: String,
}

/// A `multipart-basic` request without a body of the client's own (`commit`, `abort`).
#[derive(Debug, Clone, Serialize)]
pub struct RequestAction {
    pub href: String,
    pub header: BTreeMap<String, String>,
    pub method: String,
    pub expires_in: i64,
    pub expires_at: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Action {
    pub href: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub header: BTreeMap<String, String>,
    pub expires_in: i64,
    pub expires_at: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ObjectError {
    pub code: u16,
    pub message: String,
}

/// Body of a whole-request error: `{message, request_id, documentation_url?}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorBody {
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub documentation_url: Option<String>,
}

/// Body the client POSTs to a verify action.
#[derive(Debug, Clone, Deserialize)]
pub struct VerifyRequest {
    pub oid: String,
    pub size: serde_json::Number,
}

// ---- locking ----

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Lock {
    pub id: String,
    pub path: String,
    pub locked_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<LockOwner>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct LockOwner {
    pub name: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CreateLockRequest {
    pub path: String,
    #[serde(default, rename = "ref")]
    pub git_ref: Option<RefSpec>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LockResponse {
    pub lock: Lock,
}

/// The 409 body of a lock create that found an existing lock.
#[derive(Debug, Clone, Serialize)]
pub struct LockConflict {
    pub lock: Lock,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LockList {
    pub locks: Vec<Lock>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct VerifyLocksRequest {
    #[serde(default)]
    pub cursor: Option<String>,
    #[serde(default)]
    pub limit: Option<i64>,
    #[serde(default, rename = "ref")]
    pub git_ref: Option<RefSpec>,
}

#[derive(Debug, Clone, Serialize)]
pub struct VerifyLocksResponse {
    pub ours: Vec<Lock>,
    pub theirs: Vec<Lock>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct UnlockRequest {
    #[serde(default)]
    pub force: Option<bool>,
    #[serde(default, rename = "ref")]
    pub git_ref: Option<RefSpec>,
}

/// Reads a JSON number as a byte size: a non-negative integer within `i64` (as git-lfs reads
/// sizes, and as the database keeps them).
pub fn size_of(n: &serde_json::Number) -> Option<u64> {
    n.as_u64().filter(|s| i64::try_from(*s).is_ok())
}

impl ObjectError {
    pub fn new(code: u16, message: impl Into<String>) -> ObjectError {
        ObjectError {
            code,
            message: message.into(),
        }
    }
}

impl BatchRequest {
    /// Each object's oid and size, or its error as the batch answers it: 409 for a hash other
    /// than sha256, 422 for an oid that is not 64 lowercase hex digits, a size that is not a
    /// non-negative integer, or (uploads) a size over `max_size` bytes (0: no limit).
    pub fn checked(&self, max_size: u64) -> Vec<Result<(crate::Oid, u64), ObjectError>> {
        let hash_ok = self.hash_algo.as_deref().is_none_or(|h| h == "sha256");
        self.objects
            .iter()
            .map(|o| {
                if !hash_ok {
                    return Err(ObjectError::new(
                        409,
                        format!(
                            "hash algorithm {:?} is not supported; use sha256",
                            self.hash_algo.as_deref().unwrap_or("")
                        ),
                    ));
                }
                let oid: crate::Oid = o
                    .oid
                    .parse()
                    .map_err(|e| ObjectError::new(422, format!("invalid oid: {e}")))?;
                let size = size_of(&o.size).ok_or_else(|| {
                    ObjectError::new(
                        422,
                        "size must be a non-negative integer of at most 9223372036854775807",
                    )
                })?;
                if self.operation == Operation::Upload && max_size > 0 && size > max_size {
                    return Err(ObjectError::new(
                        422,
                        format!("object is larger than this server's limit of {max_size} bytes"),
                    ));
                }
                Ok((oid, size))
            })
            .collect()
    }

    /// The first transfer adapter the client offers that the server has: `basic` (git-lfs's,
    /// and the default when none is offered), or giftless's `multipart-basic` for uploads where
    /// `multipart` (the store takes them). `Err` says what is supported.
    pub fn transfer(&self, multipart: bool) -> Result<&'static str, String> {
        let multipart = multipart && self.operation == Operation::Upload;
        let Some(offered) = &self.transfers else {
            return Ok("basic");
        };
        for t in offered {
            match t.as_str() {
                "basic" => return Ok("basic"),
                "multipart-basic" if multipart => return Ok("multipart-basic"),
                _ => {}
            }
        }
        Err(format!(
            "none of the offered transfer adapters {offered:?} is supported here; strata supports basic{}",
            if multipart { " and multipart-basic" } else { "" }
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(json: &str) -> BatchRequest {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn each_object_is_checked_and_a_transfer_chosen() {
        let oid = "a".repeat(64);
        let b = batch(&format!(
            r#"{{"operation":"upload","objects":[{{"oid":"{oid}","size":3}},{{"oid":"x","size":1}},
            {{"oid":"{oid}","size":-1}},{{"oid":"{oid}","size":1.5}},{{"oid":"{oid}","size":11}},
            {{"oid":"{oid}","size":9223372036854775808}}]}}"#
        ));
        let codes: Vec<Option<u16>> = b
            .checked(10)
            .iter()
            .map(|c| c.as_ref().err().map(|e| e.code))
            .collect();
        assert_eq!(
            codes,
            [None, Some(422), Some(422), Some(422), Some(422), Some(422)]
        );
        assert_eq!(b.checked(0).iter().filter(|c| c.is_ok()).count(), 2);
        let sha1 = batch(&format!(
            r#"{{"operation":"download","hash_algo":"sha1","objects":[{{"oid":"{oid}","size":3}}]}}"#
        ));
        assert_eq!(sha1.checked(0)[0].as_ref().unwrap_err().code, 409);
        assert_eq!(b.transfer(false), Ok("basic"));
        let offered =
            batch(r#"{"operation":"upload","transfers":["tus","multipart-basic"],"objects":[]}"#);
        assert_eq!(offered.transfer(true), Ok("multipart-basic"));
        assert!(offered
            .transfer(false)
            .unwrap_err()
            .contains("supports basic"));
        let down =
            batch(r#"{"operation":"download","transfers":["multipart-basic"],"objects":[]}"#);
        assert!(down.transfer(true).is_err());
    }
}
