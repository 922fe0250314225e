//! The app proxy's load generator (run by `scripts/apps_bench.sh`): closed-loop GETs with a
//! fixed number of connections for a while, then websocket round trips, against a URL given with
//! its `Authorization` value (or none). Prints one JSON line per measurement.
//!
//! ```text
//! apps_bench http <url> <authorization|-> <connections> <seconds>
//! apps_bench ws <host:port> <path> <authorization|-> <round trips>
//! ```

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let at = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[at].as_secs_f64() * 1000.0
}

async fn http(url: String, auth: Option<String>, connections: usize, secs: u64) {
    let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(connections)
        .build_http();
    let end = Instant::now() + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (client, url, auth) = (client.clone(), url.clone(), auth.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0u64;
            while Instant::now() < end {
                let mut req = hyper::Request::get(&url);
                if let Some(a) = &auth {
                    req = req.header("authorization", a);
                }
                let req = req.body(Empty::new()).expect("a request");
                let t = Instant::now();
                match client.request(req).await {
                    Ok(r) if r.status() == 200 => {
                        let _ = r.into_body().collect().await;
                        lat.push(t.elapsed());
                    }
                    Ok(r) => {
                        let _ = r.into_body().collect().await;
                        errors += 1;
                    }
                    Err(_) => errors += 1,
                }
            }
            (lat, errors)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (lat, e) = t.await.expect("a load task");
        all.extend(lat);
        errors += e;
    }
    all.sort();
    println!(
        "{{\"kind\":\"http\",\"url\":\"{url}\",\"requests\":{},\"errors\":{errors},\"rps\":{:.0},\"median_ms\":{:.3},\"p99_ms\":{:.3}}}",
        all.len(),
        all.len() as f64 / secs as f64,
        percentile(&all, 0.5),
        percentile(&all, 0.99)
    );
}

async fn ws(addr: String, path: String, auth: Option<String>, trips: usize) {
    let mut s = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    s.set_nodelay(true).expect("nodelay");
    let auth = auth
        .map(|a| format!("Authorization: {a}\r\n"))
        .unwrap_or_default();
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{auth}\r\n"
    );
    s.write_all(req.as_bytes()).await.expect("handshake");
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut b = [0u8; 1];
        s.read_exact(&mut b).await.expect("handshake answer");
        head.push(b[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    let msg = b"ping from the benchmark";
    let mask = [9u8, 8, 7, 6];
    let mut frame = vec![0x81, 0x80 | msg.len() as u8];
    frame.extend_from_slice(&mask);
    frame.extend(msg.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    let mut lat = Vec::with_capacity(trips);
    for _ in 0..trips {
        let t = Instant::now();
        s.write_all(&frame).await.expect("send");
        let mut h = [0u8; 2];
        s.read_exact(&mut h).await.expect("frame head");
        let mut data = vec![0u8; (h[1] & 0x7f) as usize];
        s.read_exact(&mut data).await.expect("frame");
        lat.push(t.elapsed());
    }
    lat.sort();
    println!(
        "{{\"kind\":\"ws\",\"addr\":\"{addr}{path}\",\"trips\":{trips},\"median_ms\":{:.3},\"p99_ms\":{:.3}}}",
        percentile(&lat, 0.5),
        percentile(&lat, 0.99)
    );
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let auth = |a: &str| (a != "-").then(|| a.to_owned());
    match args.get(1).map(String::as_str) {
        Some("http") if args.len() == 6 => {
            http(
                args[2].clone(),
                auth(&args[3]),
                args[4].parse().expect("connections"),
                args[5].parse().expect("seconds"),
            )
            .await
        }
        Some("ws") if args.len() == 6 => {
            ws(
                args[2].clone(),
                args[3].clone(),
                auth(&args[4]),
                args[5].parse().expect("round trips"),
            )
            .await
        }
        _ => {
            eprintln!("usage: apps_bench http <url> <authorization|-> <connections> <seconds>\n       apps_bench ws <host:port> <path> <authorization|-> <round trips>");
            std::process::exit(2);
        }
    }
}
