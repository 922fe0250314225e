//! The tests' S3 server (s3s-fs with SigV4 checked) as a process, for benchmarks: serves a bucket
//! `strata-test` on `127.0.0.1:0`, prints its endpoint on the first line (and the directory it
//! keeps the bucket in on the second), and runs until killed.
//!
//! ```text
//! s3_server   # → http://127.0.0.1:PORT
//!             #   /tmp/.tmpXXXXXX
//! ```
//! Credentials: `AKIASTRATATEST` / `strata-test-secret-key-0123456789`.

#[path = "../tests/it/common/s3.rs"]
#[allow(dead_code)]
mod s3;

#[tokio::main]
async fn main() {
    let server = s3::S3Server::start().await;
    println!("{}", server.endpoint);
    println!("{}", server.root.path().display());
    std::future::pending::<()>().await;
}
