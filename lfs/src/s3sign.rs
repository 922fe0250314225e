//! AWS Signature Version 4 for S3-compatible stores: presigned URLs (query-string authentication)
//! and, for some of strata's own requests, signed headers. The signatures are the `aws-sigv4`
//! crate's; this module builds the requests it signs (path-style or virtual-hosted URLs, the key
//! percent-encoded once, S3's settings: no path normalisation, no double encoding).
//!
//! `object_store` 0.13 can presign, but only over the `host` header. strata needs more: an upload
//! URL must pin `x-amz-checksum-sha256` so that the bucket itself refuses bytes that do not hash to
//! the oid, and writes carry the SSE headers. [`S3Presigner::presign`] signs any extra headers the
//! caller names. `aws-sigv4` leaves `x-amz-checksum-mode` out of presigned URLs (a URL's user would
//! not send it), so the request that asks the bucket for its checksum is signed in its headers
//! instead ([`S3Presigner::sign_request`]).

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    sign, PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest,
    SignatureLocation, SigningSettings, UriPathNormalizationMode,
};
use aws_sigv4::sign::v4;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
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
    credentials: Credentials,
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

/// A request that could not be signed (a header value that cannot be sent, for one).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("SigV4 signing failed: {0}")]
pub struct SignError(pub String);

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
        // A scheme's own port is left out of the URLs, as clients leave it out of `Host` (git-lfs
        // keeps a port the URL names): the signed host is then the one every client sends.
        let authority = match (scheme, authority.rsplit_once(':')) {
            ("https", Some((host, "443"))) | ("http", Some((host, "80"))) => host,
            _ => authority,
        };
        if !(scheme == "http" || scheme == "https")
            || authority.is_empty()
            || authority.contains('/')
        {
            return Err(EndpointError(endpoint.clone()));
        }
        let presigner = S3Presigner {
            scheme: scheme.to_owned(),
            authority: authority.to_owned(),
            bucket: bucket.to_owned(),
            region: region.to_owned(),
            credentials: Credentials::new(
                creds.access_key_id,
                creds.secret_access_key,
                creds.session_token,
                None,
                "strata",
            ),
            path_style,
        };
        // A URL that does not parse (a stray character in the host or the bucket) is refused
        // here, not at every signature.
        presigner
            .presign("GET", "x", &[], 1, OffsetDateTime::UNIX_EPOCH)
            .map_err(|_| EndpointError(endpoint.clone()))?;
        Ok(presigner)
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

    /// Presigns `method` on object `key`, signing `headers` too (names are lowercased), for
    /// `expires_secs` (1 s to [`MAX_EXPIRES_SECS`]) from `now`.
    pub fn presign(
        &self,
        method: &str,
        key: &str,
        headers: &[(&str, &str)],
        expires_secs: u64,
        now: OffsetDateTime,
    ) -> Result<Presigned, SignError> {
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
    ) -> Result<Presigned, SignError> {
        let expires = Duration::from_secs(expires_secs.clamp(1, MAX_EXPIRES_SECS));
        let (url, _) = self.sign(
            method,
            key,
            params,
            headers,
            SignableBody::UnsignedPayload,
            Some(expires),
            now,
        )?;
        Ok(Presigned {
            url,
            headers: owned(headers),
        })
    }

    /// Signs a request strata sends itself (not a URL handed out) in its headers: `Authorization`,
    /// `x-amz-date`, `x-amz-content-sha256` (the sha256 of `body`) and, with a session token,
    /// `x-amz-security-token`. Every header in `headers` is signed, `x-amz-checksum-mode` too. The
    /// headers returned are all those the request must carry: `headers` and the signature's.
    pub fn sign_request(
        &self,
        method: &str,
        key: &str,
        params: &[(&str, &str)],
        headers: &[(&str, &str)],
        body: &[u8],
        now: OffsetDateTime,
    ) -> Result<Presigned, SignError> {
        let (url, signature) = self.sign(
            method,
            key,
            params,
            headers,
            SignableBody::Bytes(body),
            None,
            now,
        )?;
        let mut all = owned(headers);
        all.extend(signature);
        Ok(Presigned { url, headers: all })
    }

    /// The URL of `key` with `params`, signed by `aws-sigv4`: in its query when `expires` is set
    /// (a presigned URL), else in headers, which are returned.
    #[allow(clippy::too_many_arguments)]
    fn sign(
        &self,
        method: &str,
        key: &str,
        params: &[(&str, &str)],
        headers: &[(&str, &str)],
        body: SignableBody<'_>,
        expires: Option<Duration>,
        now: OffsetDateTime,
    ) -> Result<(String, Vec<(String, String)>), SignError> {
        let failed = |e: &dyn std::fmt::Display| SignError(e.to_string());
        let (host, path) = if self.path_style {
            (self.authority.clone(), format!("/{}/{}", self.bucket, key))
        } else {
            (
                format!("{}.{}", self.bucket, self.authority),
                format!("/{key}"),
            )
        };
        let mut url = format!(
            "{}://{host}{}",
            self.scheme,
            utf8_percent_encode(&path, PATH)
        );
        if !params.is_empty() {
            url.push('?');
            url.push_str(&query(params.iter().map(|(k, v)| (*k, *v))));
        }

        let mut settings = SigningSettings::default();
        // The path is encoded once, here, as S3 expects; S3 keys are not normalised.
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        settings.expires_in = expires;
        if expires.is_some() {
            settings.signature_location = SignatureLocation::QueryParams;
        } else {
            settings.signature_location = SignatureLocation::Headers;
            // S3 wants the payload's hash in a header when the signature is in headers.
            settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        }
        let identity = self.credentials.clone().into();
        let signing = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("s3")
            .time(SystemTime::from(now))
            .settings(settings)
            .build()
            .map_err(|e| failed(&e))?
            .into();
        let request = SignableRequest::new(method, url.as_str(), headers.iter().copied(), body)
            .map_err(|e| failed(&e))?;
        let (instructions, _) = sign(request, &signing)
            .map_err(|e| failed(&e))?
            .into_parts();
        let (signed_headers, signed_params) = instructions.into_parts();
        if !signed_params.is_empty() {
            url.push(if params.is_empty() { '?' } else { '&' });
            url.push_str(&query(signed_params.iter().map(|(k, v)| (*k, &**v))));
        }
        let signed_headers = signed_headers
            .iter()
            .map(|h| (h.name().to_owned(), h.value().to_owned()))
            .collect();
        Ok((url, signed_headers))
    }
}

/// `pairs` as a query string, every name and value percent-encoded but for unreserved characters.
fn query<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> String {
    pairs
        .map(|(k, v)| {
            format!(
                "{}={}",
                utf8_percent_encode(k, STRICT),
                utf8_percent_encode(v, STRICT)
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

fn owned(headers: &[(&str, &str)]) -> BTreeMap<String, String> {
    headers
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// AWS's example credentials, used by its worked examples.
    fn example() -> S3Presigner {
        S3Presigner::new(
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
        .unwrap()
    }

    /// The worked example of AWS's "Authenticating Requests: Using Query Parameters" page.
    #[test]
    fn matches_the_aws_documented_example() {
        let now = time::macros::datetime!(2013-05-24 0:00 UTC);
        let p = example()
            .presign("GET", "test.txt", &[], 86400, now)
            .unwrap();
        assert!(p
            .url
            .starts_with("https://examplebucket.s3.amazonaws.com/test.txt?"));
        assert!(
            p.url.contains(
                "X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
            ),
            "{}",
            p.url
        );
        assert!(p.url.contains("X-Amz-Expires=86400"), "{}", p.url);
        assert!(p.headers.is_empty());
    }

    /// The "GET Object" example of AWS's "Authenticating Requests: Using the Authorization
    /// Header" page: the signature goes in headers, over `range` too.
    #[test]
    fn signs_headers_as_the_aws_documented_example() {
        let now = time::macros::datetime!(2013-05-24 0:00 UTC);
        let p = example()
            .sign_request("GET", "test.txt", &[], &[("Range", "bytes=0-9")], b"", now)
            .unwrap();
        assert_eq!(p.url, "https://examplebucket.s3.amazonaws.com/test.txt");
        let auth = &p.headers["authorization"];
        assert!(
            auth.contains("SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"),
            "{auth}"
        );
        assert!(
            auth.ends_with(
                "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
            ),
            "{auth}"
        );
        assert_eq!(p.headers["x-amz-date"], "20130524T000000Z");
        assert_eq!(p.headers["Range"], "bytes=0-9");
    }

    /// Extra signed headers, query parameters, a session token and a path-style endpoint with a
    /// port. The expected signature is SigV4's as AWS specifies it (canonical request, string to
    /// sign, derived key), computed apart from this code: what strata's earlier hand-written
    /// signer gave for this request.
    #[test]
    fn signs_extra_headers_params_and_session_token() {
        let signer = S3Presigner::new(
            Some("http://127.0.0.1:9000"),
            "b",
            "us-east-1",
            S3Credentials {
                access_key_id: "ak".into(),
                secret_access_key: "sk".into(),
                session_token: Some("tok+en/=".into()),
            },
            true,
        )
        .unwrap();
        let now = time::macros::datetime!(2024-01-01 0:00 UTC);
        let p = signer
            .presign_query(
                "PUT",
                "lfs/ab/cd/x y",
                &[("partNumber", "3"), ("uploadId", "u+1/2")],
                &[
                    ("x-amz-checksum-sha256", "abc="),
                    ("x-amz-server-side-encryption", "AES256"),
                ],
                60,
                now,
            )
            .unwrap();
        assert!(
            p.url.starts_with(
                "http://127.0.0.1:9000/b/lfs/ab/cd/x%20y?partNumber=3&uploadId=u%2B1%2F2&"
            ),
            "{}",
            p.url
        );
        for part in [
            "X-Amz-SignedHeaders=host%3Bx-amz-checksum-sha256%3Bx-amz-server-side-encryption",
            "X-Amz-Credential=ak%2F20240101%2Fus-east-1%2Fs3%2Faws4_request",
            "X-Amz-Security-Token=tok%2Ben%2F%3D",
            "X-Amz-Expires=60",
            "X-Amz-Signature=f4c8da19e6dbc1f4bd672abcd78df7341c4e94cf633eb6351ec1c16c15108e7b",
        ] {
            assert!(p.url.contains(part), "{part} in {}", p.url);
        }
        assert_eq!(p.headers["x-amz-checksum-sha256"], "abc=");
        assert_eq!(p.headers["x-amz-server-side-encryption"], "AES256");
    }

    /// Without a token; the lifetime is clamped to what S3 accepts.
    #[test]
    fn signs_a_pinned_upload_path_style() {
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
        let p = signer
            .presign(
                "PUT",
                "lfs/ab/cd/x y",
                &[("x-amz-checksum-sha256", "abc=")],
                60,
                now,
            )
            .unwrap();
        assert!(
            p.url
                .starts_with("http://127.0.0.1:9000/b/lfs/ab/cd/x%20y?"),
            "{}",
            p.url
        );
        assert!(p
            .url
            .contains("X-Amz-SignedHeaders=host%3Bx-amz-checksum-sha256"));
        assert!(p.url.contains(
            "X-Amz-Signature=6b34bece01363b9aaf386d2fc1d3d77e470a43b8135133809334984714f546bc"
        ));
        assert!(!p.url.contains("X-Amz-Security-Token"));
        assert_eq!(
            p.headers.get("x-amz-checksum-sha256").map(String::as_str),
            Some("abc=")
        );
        let long = signer.presign("GET", "k", &[], u64::MAX, now).unwrap();
        assert!(long.url.contains("X-Amz-Expires=604800"), "{}", long.url);
    }

    /// The request asking the bucket for its checksum: `x-amz-checksum-mode` is signed (a
    /// presigned URL would leave it out), and so is the session token. Expected values computed
    /// as for [`signs_extra_headers_params_and_session_token`].
    #[test]
    fn signs_checksum_mode_in_headers() {
        let signer = S3Presigner::new(
            None,
            "b",
            "eu-west-1",
            S3Credentials {
                access_key_id: "ak".into(),
                secret_access_key: "sk".into(),
                session_token: Some("tok".into()),
            },
            false,
        )
        .unwrap();
        let now = time::macros::datetime!(2024-01-01 0:00 UTC);
        let p = signer
            .sign_request(
                "HEAD",
                "staging/x",
                &[],
                &[("x-amz-checksum-mode", "ENABLED")],
                b"",
                now,
            )
            .unwrap();
        assert_eq!(p.url, "https://b.s3.eu-west-1.amazonaws.com/staging/x");
        let auth = &p.headers["authorization"];
        assert!(
            auth.contains(
                "SignedHeaders=host;x-amz-checksum-mode;x-amz-content-sha256;x-amz-date;x-amz-security-token,"
            ),
            "{auth}"
        );
        assert!(
            auth.ends_with(
                "Signature=acdbd0b205e0a64b4ce8bad5e7129d68636e70bd55c18835047139ded4bf053d"
            ),
            "{auth}"
        );
        assert_eq!(p.headers["x-amz-security-token"], "tok");
        assert_eq!(p.headers["x-amz-checksum-mode"], "ENABLED");
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
        assert!(S3Presigner::new(Some("http://x y"), "b", "r", creds(), true).is_err());
    }

    /// A scheme's own port is not in the URLs (nor so in the signed host), so the `Host` a client
    /// sends is the one signed whether or not it would have kept the port; another port stays.
    #[test]
    fn a_schemes_own_port_is_left_out() {
        let creds = || S3Credentials {
            access_key_id: "a".into(),
            secret_access_key: "b".into(),
            session_token: None,
        };
        let at = |endpoint: &str| {
            S3Presigner::new(Some(endpoint), "b", "r", creds(), true)
                .unwrap()
                .origin()
        };
        assert_eq!(at("https://s3.example.com:443"), "https://s3.example.com");
        assert_eq!(at("http://127.0.0.1:80/"), "http://127.0.0.1");
        assert_eq!(at("http://127.0.0.1:9000"), "http://127.0.0.1:9000");
        assert_eq!(at("https://s3.example.com:80"), "https://s3.example.com:80");
    }
}
