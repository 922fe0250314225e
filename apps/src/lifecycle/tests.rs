//! The supervisor with python's http.server: one start under concurrent requests, idle stops,
//! pauses, limits, failed starts, and a stop during a start.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;
use crate::process::{free_port, wait_healthy, Launch};

fn server(dir: &std::path::Path) -> impl Future<Output = Started> {
    let port = free_port().unwrap();
    let launch = Launch {
        command: "python3".into(),
        args: vec![
            "-m".into(),
            "http.server".into(),
            port.to_string(),
            "--bind".into(),
            "127.0.0.1".into(),
        ],
        env: Vec::new(),
        workdir: dir.to_owned(),
        log_lines: 50,
        memory: None,
        sandbox: None,
    };
    async move {
        let mut i = Instance::start(&launch).map_err(|e| (e.to_string(), Vec::new()))?;
        let mut ended = None;
        if wait_healthy(port, "/", Duration::from_secs(20), || {
            ended = i.exited();
            ended.is_none()
        })
        .await
        {
            Ok((
                Box::new(i) as Box<dyn Running>,
                ([127, 0, 0, 1], port).into(),
            ))
        } else {
            Err((
                format!("the app did not start ({ended:?})"),
                i.log().lines(),
            ))
        }
    }
}

async fn ready(mut rx: watch::Receiver<Status>) -> Status {
    rx.wait_for(|s| *s != Status::Starting)
        .await
        .unwrap()
        .clone()
}

#[tokio::test]
async fn concurrent_requests_start_once_idle_stops_and_limits_hold() {
    let dir = tempfile::tempdir().unwrap();
    let sup = Arc::new(Supervisor::new(1));
    let starts = Arc::new(AtomicUsize::new(0));
    let mut waits = Vec::new();
    for _ in 0..8 {
        let (starts, d) = (starts.clone(), dir.path().to_owned());
        let rx = sup
            .ensure(
                "alice",
                "web",
                Duration::from_millis(300),
                OnIdle::Stop,
                move |_| {
                    starts.fetch_add(1, Ordering::SeqCst);
                    server(&d)
                },
            )
            .await
            .unwrap();
        waits.push(tokio::spawn(ready(rx)));
    }
    let mut ports = Vec::new();
    for w in waits {
        match w.await.unwrap() {
            Status::Ready { addr } => ports.push(addr.port()),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(starts.load(Ordering::SeqCst), 1);
    assert!(ports.windows(2).all(|p| p[0] == p[1]));
    // One live instance per user here: a second app is refused; another user is not.
    let d = dir.path().to_owned();
    assert!(sup
        .ensure(
            "alice",
            "other",
            Duration::from_secs(60),
            OnIdle::Stop,
            |_| server(&d)
        )
        .await
        .is_err());
    // Activity keeps it; idleness stops it.
    tokio::time::sleep(Duration::from_millis(200)).await;
    sup.touch("alice", "web");
    assert!(sup.cull().await.is_empty());
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(sup.cull().await, [("alice".to_owned(), "web".to_owned())]);
    assert!(!wait_healthy(ports[0], "/", Duration::from_millis(300), || true).await);
    assert_eq!(sup.status("alice", "web"), None);
}

#[tokio::test]
async fn idle_instances_pause_and_the_next_request_resumes_them() {
    let dir = tempfile::tempdir().unwrap();
    let sup = Supervisor::new(2);
    let d = dir.path().to_owned();
    let rx = sup
        .ensure(
            "carol",
            "web",
            Duration::from_millis(200),
            OnIdle::Pause,
            |_| server(&d),
        )
        .await
        .unwrap();
    let Status::Ready { addr } = ready(rx).await else {
        panic!("not ready")
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(sup.cull().await.is_empty(), "paused, not stopped");
    assert!(sup.list()[0].paused);
    assert!(!wait_healthy(addr.port(), "/", Duration::from_millis(300), || true).await);
    let d = dir.path().to_owned();
    let rx = sup
        .ensure(
            "carol",
            "web",
            Duration::from_millis(200),
            OnIdle::Pause,
            |_| server(&d),
        )
        .await
        .unwrap();
    assert_eq!(ready(rx).await, Status::Ready { addr }, "the same instance");
    assert!(!sup.list()[0].paused);
    assert!(wait_healthy(addr.port(), "/", Duration::from_secs(5), || true).await);
    sup.stop("carol", "web").await;
}

#[tokio::test]
async fn a_stop_during_the_start_stops_what_the_start_made() {
    let dir = tempfile::tempdir().unwrap();
    let sup = Supervisor::new(2);
    let d = dir.path().to_owned();
    let (port_tx, port_rx) = tokio::sync::oneshot::channel();
    let rx = sup
        .ensure(
            "dave",
            "web",
            Duration::from_secs(60),
            OnIdle::Stop,
            move |_| {
                let started = server(&d);
                async move {
                    let out = started.await;
                    if let Ok((_, addr)) = &out {
                        let _ = port_tx.send(addr.port());
                    }
                    out
                }
            },
        )
        .await
        .unwrap();
    // Stopped while starting: the slot goes at once.
    sup.stop("dave", "web").await;
    assert_eq!(sup.status("dave", "web"), None);
    let port = port_rx.await.unwrap();
    let mut rx = rx;
    let _ = rx.wait_for(|s| *s != Status::Starting).await;
    assert!(
        !wait_healthy(port, "/", Duration::from_millis(500), || true).await,
        "the instance started during the stop still runs"
    );
}

#[tokio::test]
async fn a_failed_start_shows_its_log_and_the_next_request_tries_again() {
    let dir = tempfile::tempdir().unwrap();
    let sup = Supervisor::new(2);
    let crash = |_| async {
        let launch = Launch {
            command: "sh".into(),
            args: vec!["-c".into(), "echo no such module >&2; exit 1".into()],
            env: Vec::new(),
            workdir: std::env::temp_dir(),
            log_lines: 10,
            memory: None,
            sandbox: None,
        };
        let mut i = Instance::start(&launch).map_err(|e| (e.to_string(), Vec::new()))?;
        while i.exited().is_none() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        Err::<(Box<dyn Running>, SocketAddr), _>(("the app exited".to_owned(), i.log().lines()))
    };
    let rx = sup
        .ensure("bob", "web", Duration::from_secs(60), OnIdle::Stop, crash)
        .await
        .unwrap();
    match ready(rx).await {
        Status::Failed { log, .. } => assert_eq!(log, ["no such module"]),
        other => panic!("{other:?}"),
    }
    // The failure is shown to the next request too; the one after that starts again.
    let d = dir.path().to_owned();
    let rx = sup
        .ensure("bob", "web", Duration::from_secs(60), OnIdle::Stop, |_| {
            server(&d)
        })
        .await
        .unwrap();
    assert!(matches!(ready(rx).await, Status::Failed { .. }));
    let rx = sup
        .ensure("bob", "web", Duration::from_secs(60), OnIdle::Stop, |_| {
            server(&d)
        })
        .await
        .unwrap();
    assert!(matches!(ready(rx).await, Status::Ready { .. }));
    sup.stop("bob", "web").await;
}
