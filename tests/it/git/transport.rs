//! git smart HTTP as a transport, with the stock `git` and raw sockets:
//!
//! - a large push of incompressible data lands through NGINX set up as the Helm chart's ingress
//!   (request bodies streamed: `proxy_request_buffering off`), on one server;
//! - the `git http-backend` of a request (and everything it runs) ends with the request: a push
//!   whose client goes away halfway leaves no git process behind, and neither does a shutdown
//!   with a push in flight.

use std::path::Path;
use std::time::{Duration, Instant};

use base64::Engine as _;
use strata_core::db::Visibility;
use tokio::io::AsyncWriteExt;

use crate::common::cluster::Nginx;
use crate::common::*;

/// `len` bytes nothing compresses: xorshift64* from a fixed seed.
fn incompressible(len: usize) -> Vec<u8> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        out.extend_from_slice(&state.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(len);
    out
}

fn port(url: &str) -> u16 {
    url.rsplit(':').next().unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_incompressible_push_lands_through_nginx() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    server.repo("alice/big", Visibility::Private).await;
    let nginx = Nginx::start(&server.dir.path().join("nginx"), &[port(&server.url)]).await;
    let home = server.dir.path().join("home");
    setup_home(&home, &nginx.url, &alice);
    let work = home.join("big");
    run(git(&home, &home).args([
        "clone",
        "-q",
        &format!("{}/alice/big.git", nginx.url),
        "big",
    ]));
    // Plain git, no LFS: the pack is as large as the file (git cannot compress it).
    std::fs::write(work.join("noise.bin"), incompressible(32 << 20)).unwrap();
    run(git(&home, &work).args(["add", "noise.bin"]));
    run(git(&home, &work).args(["commit", "-qm", "32 MiB of noise"]));
    let started = Instant::now();
    let out = tokio::task::spawn_blocking({
        let (home, work) = (home.clone(), work.clone());
        move || {
            // Packed without compression the pack streams out faster than the server takes it
            // in, as from a fast client: NGINX's socket to strata fills, which is when NGINX
            // would stop sending a body whose response has begun.
            git(&home, &work)
                .args([
                    "-c",
                    "pack.compression=0",
                    "push",
                    "-q",
                    "origin",
                    "HEAD:main",
                ])
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "the push through NGINX failed after {:?}: {}\nNGINX: {}",
        started.elapsed(),
        String::from_utf8_lossy(&out.stderr),
        nginx.error_log()
    );
    let local = run(git(&home, &work).args(["rev-parse", "HEAD"]));
    let remote = run(git(&home, &work).args(["ls-remote", "origin", "refs/heads/main"]));
    assert!(remote.starts_with(local.trim()), "{remote} vs {local}");
}

/// The live or zombie processes whose environment names the repositories under `root` (`git
/// http-backend` and what it runs), with their start times (which tell a reused pid apart).
fn git_processes(root: &Path) -> Vec<(i32, u64)> {
    let want = format!("GIT_PROJECT_ROOT={}", root.display());
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(env) = std::fs::read(entry.path().join("environ")) else {
            continue;
        };
        if env.split(|b| *b == 0).any(|v| v == want.as_bytes()) {
            if let Some(start) = start_time(pid) {
                found.push((pid, start));
            }
        }
    }
    found
}

/// Field 22 of `/proc/{pid}/stat`, while the process (or its zombie) exists.
fn start_time(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split(' ').nth(19)?.parse().ok()
}

/// `POST …/git-receive-pack` announcing 1,000,000 bytes and sending 1,000; the socket stays
/// open. Returns once git runs for it: the socket and git's processes.
async fn partial_push(
    server: &TestServer,
    token: &str,
) -> (tokio::net::TcpStream, Vec<(i32, u64)>) {
    let host = server.url.trim_start_matches("http://");
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("alice:{token}"));
    let mut tcp = tokio::net::TcpStream::connect(host).await.unwrap();
    let head = format!(
        "POST /alice/p.git/git-receive-pack HTTP/1.1\r\nHost: {host}\r\nAuthorization: Basic {auth}\r\n\
         Content-Type: application/x-git-receive-pack-request\r\nContent-Length: 1000000\r\n\r\n"
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    tcp.write_all(&[b'0'; 1000]).await.unwrap();
    let root = server.state.metastore.root().to_owned();
    let started = Instant::now();
    loop {
        let found = git_processes(&root);
        if !found.is_empty() {
            return (tcp, found);
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "git never ran for the push"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits (60 s at most) until none of `seen`, and no other process of the server's
/// repositories, exists any more, not even as a zombie.
async fn assert_all_gone(server_root: &Path, seen: &[(i32, u64)], what: &str) {
    let started = Instant::now();
    loop {
        let left: Vec<(i32, u64)> = seen
            .iter()
            .filter(|(pid, start)| start_time(*pid) == Some(*start))
            .copied()
            .chain(git_processes(server_root))
            .collect();
        if left.is_empty() {
            return;
        }
        if started.elapsed() > Duration::from_secs(60) {
            let shown: Vec<String> = left
                .iter()
                .map(|(pid, _)| {
                    let stat =
                        std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
                    format!(
                        "{pid}: {}",
                        stat.split(' ').take(3).collect::<Vec<_>>().join(" ")
                    )
                })
                .collect();
            panic!("{what}: git processes left behind: {shown:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_push_leaves_no_git_process() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    server.repo("alice/p", Visibility::Private).await;
    let root = server.state.metastore.root().to_owned();
    let (tcp, seen) = partial_push(&server, &alice).await;
    drop(tcp);
    assert_all_gone(&root, &seen, "a push whose client went away").await;
    // The server still serves pushes.
    let home = server.dir.path().join("home");
    setup_home(&home, &server.url, &alice);
    run(git(&home, &home).args(["clone", "-q", &format!("{}/alice/p.git", server.url), "p"]));
    let work = home.join("p");
    std::fs::write(work.join("a.txt"), "a\n").unwrap();
    run(git(&home, &work).args(["add", "a.txt"]));
    run(git(&home, &work).args(["commit", "-qm", "a"]));
    run(git(&home, &work).args(["push", "-q", "origin", "HEAD:main"]));
    assert_all_gone(&root, &[], "finished pushes").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shutdown_leaves_no_git_process() {
    let server = TestServer::start_with(Backend::Local, |c| {
        c.shutdown_grace_secs = 1;
        c.drain_delay_secs = 0;
    })
    .await;
    let alice = server.user("alice").await;
    server.repo("alice/p", Visibility::Private).await;
    let root = server.state.metastore.root().to_owned();
    // The client stays connected and silent: only the shutdown ends its push.
    let (tcp, seen) = partial_push(&server, &alice).await;
    server.stop().await;
    assert_all_gone(&root, &seen, "a shutdown with a push in flight").await;
    drop(tcp);
}
