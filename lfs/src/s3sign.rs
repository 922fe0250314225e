//! AWS Signature Version 4 presigned URLs (query-string authentication) for S3-compatible stores.
//!
//! `object_store` can presign, but only over the `host` header. strata needs more: an upload URL
//! must pin `x-amz-checksum-sha256` so that the bucket itself refuses bytes that do not hash to the
//! oid. This module signs any extra headers the caller names, and nothing else.

use std::collections::BTreeMap;

use hmac::{Hmac, KeyInit, Mac};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

/// RFC 3986 unreserved characters stay, everything else is percent-encoded.
const STRICT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');
/// The same, but keeping `/` for object keys in the path.
const PATH: &AsciiSet = &STRICT.remove(b'/');

/// The longest lifetime S3 accepts for a presigned URL.
pub const MAX_EXPIRES_SECS: u64 = 7 * 24 * 3600;

#[derive(Clone)]
pub struct S3Presigner {
    /// `http` or `https`.
    scheme: String,
    /// `host[:port]` of the endpoint, without the bucket.
    authority: String,
    bucket: String,
    region: String,
    access_key_id: String,
    secret_access_key: String,
    session_token: Option<String>,
    path_style: bool,
}

impl std::fmt::Debug for S3Presigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Presigner")
            .field("endpoint", &format!("{}://{}", self.scheme, self.authority))
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .field("path_style", &self.path_style)
            .finish_non_exhaustive()
    }
}

/// A presigned request: the URL, and the headers the client must send with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presigned {
    pub url: String,
    pub headers: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid S3 endpoint {0:?}: expected http://host[:port] or https://host[:port]")]
pub struct EndpointError(pub String);

pub struct S3Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

impl S3Presigner {
    /// `endpoint` is e.g. `https://s3.eu-west-1.amazonaws.com` or `http://127.0.0.1:9000`; `None`
    /// means AWS itself for `region`.
    pub fn new(
        endpoint: Option<&str>,
        bucket: &str,
        region: &str,
        creds: S3Credentials,
        path_style: bool,
    ) -> Result<S3Presigner, EndpointError> {
        let endpoint = endpoint
            .map(str::to_owned)
            .unwrap_or_else(|| format!("https://s3.{region}.amazonaws.com"));
        let (scheme, rest) = endpoint
            .split_once("://")
            .ok_or_else(|| EndpointError(endpoint.clone()))?;
        let authority = rest.trim_end_matches('/');
        if !(scheme == "http" || scheme == "https")
            || authority.is_empty()
            || authority.contains('/')
        {
            return Err(EndpointError(endpoint.clone()));
        }
        Ok(S3Presigner {
            scheme: scheme.to_owned(),
            authority: authority.to_owned(),
            bucket: bucket.to_owned(),
            region: region.to_owned(),
            access_key_id: creds.access_key_id,
            secret_access_key: creds.secret_access_key,
            session_token: creds.session_token,
            path_style,
        })
    }

    /// The bucket's name.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The origin (`scheme://host[:port]`) that presigned URLs point at: what a page's CSP must
    /// allow for a browser to send parts straight to the bucket.
    pub fn origin(&self) -> String {
        if self.path_style {
            format!("{}://{}", self.scheme, self.authority)
        } else {
            format!("{}://{}.{}", self.scheme, self.bucket, self.authority)
        }
    }

    /// Presigns `method` on object `key`, signing `headers` too (names are lowercased).
    pub fn presign(
        &self,
        method: &str,
        key: &str,
        headers: &[(&str, &str)],
        expires_secs: u64,
        now: OffsetDateTime,
    ) -> Presigned {
        self.presign_query(method, key, &[], headers, expires_secs, now)
    }

    /// [`S3Presigner::presign`] for a request with its own query parameters (`uploadId`,
    /// `partNumber`, `uploads`…), which the signature covers.
    pub fn presign_query(
        &self,
        method: &str,
        key: &str,
        params: &[(&str, &str)],
        headers: &[(&str, &str)],
        expires_secs: u64,
        now: OffsetDateTime,
    ) -> Presigned {
        let expires_secs = expires_secs.clamp(1, MAX_EXPIRES_SECS);
        let (host, path) = if self.path_style {
            (self.authority.clone(), format!("/{}/{}", self.bucket, key))
        } else {
            (
                format!("{}.{}", self.bucket, self.authority),
                format!("/{key}"),
            )
        };
        let canonical_uri = utf8_percent_encode(&path, PATH).to_string();

        let now = now.to_offset(time::UtcOffset::UTC);
        let date = format!(
            "{:04}{:02}{:02}",
            now.year(),
            u8::from(now.month()),
            now.day()
        );
        let amz_date = format!(
            "{date}T{:02}{:02}{:02}Z",
            now.hour(),
            now.minute(),
            now.second()
        );
        let scope = format!("{date}/{}/s3/aws4_request", self.region);

        let mut signed: BTreeMap<String, String> = BTreeMap::new();
        signed.insert("host".into(), host.clone());
        for (name, value) in headers {
            signed.insert(name.to_ascii_lowercase(), value.trim().to_owned());
        }
        let signed_names = signed.keys().cloned().collect::<Vec<_>>().join(";");

        let mut query: BTreeMap<String, String> = params
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        query.insert("X-Amz-Algorithm".into(), "AWS4-HMAC-SHA256".into());
        query.insert(
            "X-Amz-Credential".into(),
            format!("{}/{scope}", self.access_key_id),
        );
        query.insert("X-Amz-Date".into(), amz_date.clone());
        query.insert("X-Amz-Expires".into(), expires_secs.to_string());
        query.insert("X-Amz-SignedHeaders".into(), signed_names.clone());
        if let Some(token) = &self.session_token {
            query.insert("X-Amz-Security-Token".into(), token.clone());
        }
        let canonical_query = query
            .iter()
            .map(|(k, v)| {
                format!(
                    "{}={}",
                    utf8_percent_encode(k, STRICT),
                    utf8_percent_encode(v, STRICT)
                )
            })
            .collect::<Vec<_>>()
            .join("&");
        let canonical_headers: String = signed.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
        let canonical_request =
            format!("{method}\n{canonical_uri}\n{canonical_query}\n{canonical_headers}\n{signed_names}\nUNSIGNED-PAYLOAD");
        let string_to_sign = format!(
            "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
            hex::encode(Sha256::digest(canonical_request.as_bytes()))
        );

        let k_date = hmac(
            format!("AWS4{}", self.secret_access_key).as_bytes(),
            date.as_bytes(),
        );
        let k_region = hmac(&k_date, self.region.as_bytes());
        let k_service = hmac(&k_region, b"s3");
        let k_signing = hmac(&k_service, b"aws4_request");
        let signature = hex::encode(hmac(&k_signing, string_to_sign.as_bytes()));

        let url = format!(
            "{}://{host}{canonical_uri}?{canonical_query}&X-Amz-Signature={signature}",
            self.scheme
        );
        let headers = headers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Presigned { url, headers }
    }
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worked example of AWS's "Authenticating Requests: Using Query Parameters" page.
    #[test]
    fn matches_the_aws_documented_example() {
        let signer = S3Presigner::new(
            Some("https://s3.amazonaws.com"),
            "examplebucket",
            "us-east-1",
            S3Credentials {
                access_key_id: "AKIAIOSFODNN7EXAMPLE".into(),
                secret_access_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(),
                session_token: None,
            },
            false,
        )
        .unwrap();
        let now = time::macros::datetime!(2013-05-24 0:00 UTC);
        let p = signer.presign("GET", "test.txt", &[], 86400, now);
        assert!(p
            .url
            .starts_with("https://examplebucket.s3.amazonaws.com/test.txt?"));
        assert!(
            p.url.ends_with(
                "X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
            ),
            "{}",
            p.url
        );
    }

    #[test]
    fn signs_extra_headers_and_path_style() {
        let signer = S3Presigner::new(
            Some("http://127.0.0.1:9000"),
            "b",
            "us-east-1",
            S3Credentials {
                access_key_id: "ak".into(),
                secret_access_key: "sk".into(),
                session_token: None,
            },
            true,
        )
        .unwrap();
        let now = time::macros::datetime!(2024-01-01 0:00 UTC);
        let p = signer.presign(
            "PUT",
            "lfs/ab/cd/x y",
            &[("x-amz-checksum-sha256", "abc=")],
            60,
            now,
        );
        assert!(
            p.url
                .starts_with("http://127.0.0.1:9000/b/lfs/ab/cd/x%20y?"),
            "{}",
            p.url
        );
        assert!(p
            .url
            .contains("X-Amz-SignedHeaders=host%3Bx-amz-checksum-sha256"));
        assert_eq!(
            p.headers.get("x-amz-checksum-sha256").map(String::as_str),
            Some("abc=")
        );
    }

    #[test]
    fn rejects_bad_endpoints() {
        let creds = || S3Credentials {
            access_key_id: "a".into(),
            secret_access_key: "b".into(),
            session_token: None,
        };
        assert!(S3Presigner::new(Some("ftp://x"), "b", "r", creds(), true).is_err());
        assert!(S3Presigner::new(Some("http://x/y"), "b", "r", creds(), true).is_err());
    }
}
