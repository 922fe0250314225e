//! A real S3 server for tests: s3s-fs, in process on `127.0.0.1:0`, with SigV4 authentication
//! enforced (forged, tampered or expired signatures get 403). In front of it, what a real bucket
//! adds or a test needs: the bucket's CORS rule (any origin may GET, PUT, POST and HEAD and read
//! `ETag`, as the README asks of a bucket that takes browser uploads), a count of the parts it
//! stored, a switch that cuts every connection (the network gone), a number of part uploads to
//! refuse as S3 refuses an expired URL, and an access log (`METHOD /bucket/key?query`).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;

pub const ACCESS_KEY: &str = "AKIASTRATATEST";
pub const SECRET_KEY: &str = "strata-test-secret-key-0123456789";

pub struct S3Server {
    pub endpoint: String,
    pub bucket: String,
    pub root: tempfile::TempDir,
    /// `UploadPart` requests the bucket stored.
    pub parts_stored: Arc<AtomicUsize>,
    /// While set, every request is cut off without an answer.
    pub offline: Arc<AtomicBool>,
    /// The next this many part uploads get S3's 403 for an expired URL.
    pub expire_parts: Arc<AtomicUsize>,
    /// Every request it answered, as `METHOD /path?query`.
    pub log: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl S3Server {
    pub async fn start() -> S3Server {
        let root = tempfile::tempdir().unwrap();
        let bucket = "strata-test".to_owned();
        std::fs::create_dir(root.path().join(&bucket)).unwrap();
        let fs = s3s_fs::FileSystem::new(root.path()).unwrap();
        let mut builder = S3ServiceBuilder::new(fs);
        builder.set_auth(SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
        let service = builder.build();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let parts_stored = Arc::new(AtomicUsize::new(0));
        let offline = Arc::new(AtomicBool::new(false));
        let expire_parts = Arc::new(AtomicUsize::new(0));
        let log = Arc::new(Mutex::new(Vec::new()));
        let switches = Switches {
            parts: parts_stored.clone(),
            offline: offline.clone(),
            expire: expire_parts.clone(),
            log: log.clone(),
        };
        let task = tokio::spawn(async move {
            let http = ConnBuilder::new(TokioExecutor::new());
            loop {
                let Ok((socket, _)) = listener.accept().await else {
                    break;
                };
                let (service, switches) = (service.clone(), switches.clone());
                let bucket = hyper::service::service_fn(move |req| {
                    let (service, switches) = (service.clone(), switches.clone());
                    async move { cors_bucket(&service, &switches, req).await }
                });
                let conn = http
                    .serve_connection(TokioIo::new(socket), bucket)
                    .into_owned();
                tokio::spawn(async move {
                    let _ = conn.await;
                });
            }
        });
        S3Server {
            endpoint,
            bucket,
            root,
            parts_stored,
            offline,
            expire_parts,
            log,
            task,
        }
    }

    /// The access log since the last call, emptied.
    pub fn take_log(&self) -> Vec<String> {
        std::mem::take(&mut *self.log.lock().unwrap())
    }

    /// Files stored below the bucket (objects and s3s-fs metadata), for consistency checks.
    pub fn object_path(&self, key: &str) -> std::path::PathBuf {
        self.root.path().join(&self.bucket).join(key)
    }
}

#[derive(Clone)]
struct Switches {
    parts: Arc<AtomicUsize>,
    offline: Arc<AtomicBool>,
    expire: Arc<AtomicUsize>,
    log: Arc<Mutex<Vec<String>>>,
}

/// One request through the bucket's CORS rule to s3s, counting stored parts; an error (the
/// connection cut) while offline.
async fn cors_bucket(
    service: &s3s::service::S3Service,
    switches: &Switches,
    req: hyper::Request<hyper::body::Incoming>,
) -> Result<hyper::Response<s3s::Body>, std::io::Error> {
    use http_body_util::BodyExt;
    if switches.offline.load(Ordering::SeqCst) {
        return Err(std::io::Error::other("the network is cut"));
    }
    switches
        .log
        .lock()
        .unwrap()
        .push(format!("{} {}", req.method(), req.uri()));
    let origin = req.headers().get("origin").cloned();
    let allow = |response: &mut hyper::Response<s3s::Body>| {
        if let Some(origin) = &origin {
            let h = response.headers_mut();
            h.insert("access-control-allow-origin", origin.clone());
            h.insert("access-control-expose-headers", "ETag".parse().unwrap());
            h.insert("vary", "Origin".parse().unwrap());
        }
    };
    if req.method() == hyper::Method::OPTIONS {
        let mut response = hyper::Response::new(s3s::Body::empty());
        allow(&mut response);
        let h = response.headers_mut();
        h.insert(
            "access-control-allow-methods",
            "GET, PUT, POST, HEAD".parse().unwrap(),
        );
        if let Some(asked) = req.headers().get("access-control-request-headers") {
            h.insert("access-control-allow-headers", asked.clone());
        }
        h.insert("access-control-max-age", "3000".parse().unwrap());
        return Ok(response);
    }
    let is_part = req.method() == hyper::Method::PUT
        && req.uri().query().is_some_and(|q| q.contains("partNumber="));
    let expire = is_part
        && switches
            .expire
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
    if expire {
        // Read the body first, as S3 does, so the client gets the answer and not a reset.
        let _ = req.into_body().collect().await;
        let xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>AccessDenied</Code>\
                   <Message>Request has expired</Message></Error>";
        let mut response = hyper::Response::new(s3s::Body::from(xml.to_owned()));
        *response.status_mut() = hyper::StatusCode::FORBIDDEN;
        allow(&mut response);
        return Ok(response);
    }
    let parts = &switches.parts;
    let mut response = service
        .call(req.map(s3s::Body::from))
        .await
        .map_err(|e| std::io::Error::other(format!("{e:?}")))?;
    if is_part && response.status().is_success() {
        parts.fetch_add(1, Ordering::SeqCst);
    }
    allow(&mut response);
    Ok(response)
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}
