//! Browser upload benchmark for `scripts/upload_bench.sh`: headless Chromium uploads a file through
//! the drive page's own module (`upload.js`: staged parts through strata to its disk or the
//! bucket, hashed by strata as they arrive; with `--browser-uploads direct` on S3, sha256 in a
//! worker and `multipart-basic` parts 4 at a time straight to the bucket, then the commit) to a
//! release strata on the local disk and on S3 (s3s-fs in process, the same server and CORS rule
//! as the tests), beside `curl -T` of a file of the same size to the same place (a `basic`
//! upload URL from the batch API). Then strata's peak RSS while the browser sends a larger file
//! to the local disk. Prints Markdown; nothing here passes or fails on timing.
//!
//! ```text
//! upload_bench <strata-binary> <MiB for the throughput runs> <GiB for the RSS run>
//! ```

#[path = "../tests/it/common/chromium.rs"]
#[allow(dead_code)]
mod chromium;
#[path = "../tests/it/common/s3.rs"]
#[allow(dead_code)]
mod s3;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use fantoccini::Locator;
use serde_json::{json, Value};

const PASSWORD: &str = "a long benchmark passphrase";
const RUNS: usize = 3;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Writes dirty pages out, so one run's writeback does not land in the next one's time.
fn settle() {
    let _ = Command::new("sync").status();
}

struct Strata {
    bin: PathBuf,
    dir: PathBuf,
    url: String,
    env: Vec<(String, String)>,
    child: Child,
}

impl Strata {
    fn start(bin: &Path, dir: PathBuf, env: Vec<(String, String)>) -> Strata {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("http://127.0.0.1:{port}");
        let mut env = env;
        env.extend([
            ("STRATA_DATA_DIR".into(), dir.display().to_string()),
            ("STRATA_LISTEN".into(), format!("127.0.0.1:{port}")),
            ("STRATA_LOG".into(), "warn".into()),
        ]);
        let child = Command::new(bin)
            .arg("serve")
            .envs(env.iter().cloned())
            .spawn()
            .expect("strata starts");
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let strata = Strata {
            bin: bin.to_owned(),
            dir,
            url,
            env,
            child,
        };
        strata.admin(&["create-user", "bench"], None);
        strata.admin(&["set-password", "bench"], Some(PASSWORD));
        strata
    }

    fn admin(&self, args: &[&str], stdin: Option<&str>) -> String {
        let mut child = Command::new(&self.bin)
            .arg("admin")
            .args(args)
            .envs(self.env.iter().cloned())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        if let Some(input) = stdin {
            writeln!(child.stdin.take().unwrap(), "{input}").unwrap();
        }
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "strata admin {args:?} failed");
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    /// The peak resident memory of the server so far (VmHWM), in MiB.
    fn peak_rss_mib(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let kib: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap();
        kib / 1024.0
    }
}

impl Drop for Strata {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A file of `mib` MiB whose 1 MiB blocks all differ (`seed` makes files differ).
fn make_file(path: &Path, mib: usize, seed: u8) {
    let mut block: Vec<u8> = (0..1024 * 1024)
        .map(|i: usize| (i * 7 % 253) as u8 ^ seed)
        .collect();
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    for n in 0..mib {
        block[..8].copy_from_slice(&(n as u64).to_le_bytes());
        out.write_all(&block).unwrap();
    }
    out.flush().unwrap();
}

fn sha256_of(path: &Path) -> String {
    use sha2::{Digest, Sha256};
    let mut f = std::fs::File::open(path).unwrap();
    let mut hash = Sha256::new();
    let mut buf = vec![0; 1 << 20];
    loop {
        let n = std::io::Read::read(&mut f, &mut buf).unwrap();
        if n == 0 {
            break;
        }
        hash.update(&buf[..n]);
    }
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Seconds spent hashing, sending the parts, and in all (with the commit), from the page.
struct Timing {
    hash: f64,
    send: f64,
    total: f64,
    /// Staged on strata's disk: nothing hashed in the browser, strata hashes as parts arrive.
    staged: bool,
}

/// Signs in to a fresh Chromium profile (kept in `profile`), starts the drive and chooses `file`
/// in its upload form.
async fn drive_page(
    driver: &chromium::Driver,
    strata: &Strata,
    file: &Path,
    profile: &Path,
) -> fantoccini::Client {
    let c = chromium::browser(driver, profile).await;
    c.goto(&format!("{}/login", strata.url)).await.unwrap();
    chromium::fill(&c, "username", "bench").await;
    chromium::fill(&c, "password", PASSWORD).await;
    chromium::click(&c, "form[action=\"/login\"] button").await;
    c.goto(&format!("{}/drive", strata.url)).await.unwrap();
    if c.find(Locator::Css("form[action=\"/drive\"] button"))
        .await
        .is_ok()
    {
        chromium::click(&c, "form[action=\"/drive\"] button").await;
    }
    let input = c.find(Locator::Css("#upload-files")).await.unwrap();
    input.send_keys(&file.display().to_string()).await.unwrap();
    c
}

/// Waits for the page's `window.benchDone`.
async fn bench_done(c: &fantoccini::Client) -> Value {
    loop {
        let v = c
            .execute("return window.benchDone || null", vec![])
            .await
            .unwrap();
        if !v.is_null() {
            assert!(v.get("error").is_none(), "the upload failed: {v}");
            return v;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// Uploads `file` through the drive page's upload module in a fresh profile, timing its phases
/// in the page.
async fn browser_upload(driver: &chromium::Driver, strata: &Strata, file: &Path) -> Timing {
    let profile = tempfile::tempdir().unwrap();
    let c = drive_page(driver, strata, file, profile.path()).await;
    let script = r#"
        const form = document.querySelector("form[data-upload]");
        const file = form.querySelector("input[type=file]").files[0];
        window.benchDone = null;
        import(form.dataset.module).then(async ({ upload }) => {
          const t0 = performance.now();
          let hashed = null, sent = null;
          await upload(file, {
            batch: form.dataset.batch, staged: form.dataset.staged,
            worker: form.dataset.worker, sha256: form.dataset.sha256,
            headers: { "X-CSRF-Token": form.querySelector("input[name=csrf]").value },
            parallel: PARALLEL,
            onProgress: (p) => {
              const t = performance.now();
              if (p.phase !== "hashing" && hashed === null) hashed = t;
              if (p.phase === "uploading" && p.done >= p.total) sent = sent || t;
            },
          });
          const end = performance.now();
          window.benchDone = { hash: (hashed - t0) / 1000, send: ((sent || end) - hashed) / 1000,
                               total: (end - t0) / 1000, staged: !!form.dataset.staged };
        }).catch((e) => { window.benchDone = { error: String(e) }; });
        return true;"#;
    let parallel = std::env::var("UPLOAD_PARALLEL").unwrap_or_else(|_| "4".into());
    let script = script.replace("PARALLEL", &parallel);
    c.execute(&script, vec![]).await.unwrap();
    let done = bench_done(&c).await;
    c.close().await.unwrap();
    Timing {
        hash: done["hash"].as_f64().unwrap(),
        send: done["send"].as_f64().unwrap(),
        total: done["total"].as_f64().unwrap(),
        staged: done["staged"].as_bool().unwrap_or(false),
    }
}

/// What a cut upload sends again: the bytes that left the page (the last upload progress of
/// every part request, cut ones included) before and after the cut, and the parts strata stored.
struct Resume {
    before: f64,
    after: f64,
    parts_after: u64,
    stored: u64,
}

/// Starts a staged upload of `file` in the drive page, cuts it (aborts every request) once half
/// of it is sent, then sends the same file again from the same page, as the upload form does.
async fn browser_resume(driver: &chromium::Driver, strata: &Strata, file: &Path) -> Resume {
    let profile = tempfile::tempdir().unwrap();
    let c = drive_page(driver, strata, file, profile.path()).await;
    let stored_before = parts_stored(strata).await;
    let script = r#"
        const form = document.querySelector("form[data-upload]");
        const file = form.querySelector("input[type=file]").files[0];
        // Every byte a part request gets out, cut requests included.
        const wire = new Map();
        const send = XMLHttpRequest.prototype.send;
        XMLHttpRequest.prototype.send = function (body) {
          if (body instanceof Blob) {
            wire.set(this, 0);
            this.upload.addEventListener("progress", (e) => wire.set(this, e.loaded));
            this.upload.addEventListener("load", () => wire.set(this, body.size));
          }
          return send.call(this, body);
        };
        const sent = () => { let n = 0; for (const v of wire.values()) n += v; wire.clear(); return n; };
        window.benchDone = null;
        import(form.dataset.module).then(async ({ upload }) => {
          const options = {
            batch: form.dataset.batch, staged: form.dataset.staged,
            worker: form.dataset.worker, sha256: form.dataset.sha256,
            headers: { "X-CSRF-Token": form.querySelector("input[name=csrf]").value },
          };
          const cut = new AbortController();
          try {
            await upload(file, { ...options, signal: cut.signal,
              onProgress: (p) => { if (p.done * 2 >= p.total) cut.abort(); } });
            throw new Error("the upload was not cut");
          } catch (e) {
            if (e.name !== "AbortError") throw e;
          }
          const before = sent();
          // What strata still writes of the cut parts is dropped; then the same file again.
          await new Promise((r) => setTimeout(r, 1000));
          const done = await upload(file, options);
          window.benchDone = { before, after: sent(), parts: done.sentParts };
        }).catch((e) => { window.benchDone = { error: String(e) }; });
        return true;"#;
    c.execute(script, vec![]).await.unwrap();
    let done = bench_done(&c).await;
    c.close().await.unwrap();
    Resume {
        before: done["before"].as_f64().unwrap(),
        after: done["after"].as_f64().unwrap(),
        parts_after: done["parts"].as_u64().unwrap_or(0),
        stored: parts_stored(strata).await - stored_before,
    }
}

/// Staged parts strata has stored (204 answers to their `PUT`), from `/metrics`.
async fn parts_stored(strata: &Strata) -> u64 {
    let metrics = reqwest::get(format!("{}/metrics", strata.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    metrics
        .lines()
        .filter(|l| {
            l.starts_with("strata_http_requests_total{")
                && l.contains("method=\"PUT\"")
                && l.contains("/uploads/{id}/parts/{n}")
                && l.contains("status=\"204\"")
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// Seconds for `curl -T` of `file` to the `basic` upload URL the batch API gives for it.
async fn curl_upload(strata: &Strata, file: &Path) -> f64 {
    let token = strata.admin(&["token", "--user", "bench"], None);
    let size = std::fs::metadata(file).unwrap().len();
    let req = json!({"operation": "upload", "transfers": ["basic"],
        "objects": [{"oid": sha256_of(file), "size": size}]});
    let v: Value = reqwest::Client::new()
        .post(format!(
            "{}/bench/drive.git/info/lfs/objects/batch",
            strata.url
        ))
        .basic_auth("bench", Some(&token))
        .header("Content-Type", "application/vnd.git-lfs+json")
        .header("Accept", "application/vnd.git-lfs+json")
        .body(req.to_string())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let action = &v["objects"][0]["actions"]["upload"];
    let mut cmd = tokio::process::Command::new("curl");
    cmd.args(["-sf", "-o", "/dev/null", "-T"]).arg(file);
    for (k, val) in action["header"].as_object().into_iter().flatten() {
        cmd.args(["-H", &format!("{k}: {}", val.as_str().unwrap())]);
    }
    cmd.arg(action["href"].as_str().expect("an upload action"));
    let started = Instant::now();
    let status = cmd.status().await.unwrap();
    assert!(status.success(), "curl -T failed");
    started.elapsed().as_secs_f64()
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let bin = PathBuf::from(&args[1]);
    let mib: usize = args.get(2).map_or(1024, |a| a.parse().unwrap());
    let big_gib: usize = args.get(3).map_or(5, |a| a.parse().unwrap());
    let work = tempfile::tempdir().unwrap();
    let driver = tokio::task::spawn_blocking(chromium::Driver::start)
        .await
        .unwrap();
    let bucket = s3::S3Server::start().await;
    let on_s3 = |uploads: &str| {
        vec![
            ("STRATA_STORAGE", "s3".to_owned()),
            ("STRATA_BUCKET", bucket.bucket.clone()),
            ("STRATA_S3_ENDPOINT", bucket.endpoint.clone()),
            ("STRATA_S3_PATH_STYLE", "true".to_owned()),
            ("STRATA_S3_ACCESS_KEY_ID", s3::ACCESS_KEY.to_owned()),
            ("STRATA_S3_SECRET_ACCESS_KEY", s3::SECRET_KEY.to_owned()),
            ("STRATA_BROWSER_UPLOADS", uploads.to_owned()),
        ]
    };
    let backends = [
        ("local disk", vec![]),
        ("S3 (s3s-fs), staged through strata", on_s3("staged")),
        ("S3 (s3s-fs), `--browser-uploads direct`", on_s3("direct")),
    ];
    let browser_file = work.path().join("browser.bin");
    let curl_file = work.path().join("curl.bin");
    println!(
        "Browser upload of {mib} MiB, {} cores, headless Chromium, MiB/s (median of {RUNS} runs, \
         browser and curl taking turns, each with a file of its own):\n",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!("| to | in-browser sha256 | browser parts | browser total (what a person waits) | curl -T | parts / curl | total / curl |");
    println!("|---|---|---|---|---|---|---|");
    for (i, (name, env)) in backends.iter().enumerate() {
        let env = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect();
        let strata = Strata::start(&bin, work.path().join(format!("strata-{i}")), env);
        let (mut hash, mut send, mut total, mut curl) = (vec![], vec![], vec![], vec![]);
        let mut staged = false;
        let rate = |secs: f64| mib as f64 / secs;
        for run in 0..RUNS {
            let seed = (10 * i + 2 * run) as u8;
            make_file(&browser_file, mib, seed + 1);
            settle();
            let t = browser_upload(&driver, &strata, &browser_file).await;
            staged = t.staged;
            hash.push(rate(t.hash));
            send.push(rate(t.send));
            total.push(rate(t.total));
            make_file(&curl_file, mib, seed + 2);
            settle();
            curl.push(rate(curl_upload(&strata, &curl_file).await));
        }
        let (send, curl, total) = (median(send), median(curl), median(total));
        let hashed = match staged {
            true => "none (staged: strata hashes)".to_owned(),
            false => format!("{:.0}", median(hash)),
        };
        println!(
            "| {name} | {hashed} | {send:.0} | {total:.0} | {curl:.0} | {:.0} % | {:.0} % |",
            100.0 * send / curl,
            100.0 * total / curl
        );
    }
    let _ = std::fs::remove_file(&curl_file);

    // A staged upload to the disk cut half-way, then sent again: what goes twice.
    let strata = Strata::start(&bin, work.path().join("strata-resume"), vec![]);
    make_file(&browser_file, mib, 77);
    settle();
    let r = browser_resume(&driver, &strata, &browser_file).await;
    let size = (mib * 1024 * 1024) as f64;
    let parts = (mib as u64).div_ceil(16);
    let again = r.before + r.after - size;
    println!(
        "\nResume: {mib} MiB to the local disk, cut once half of it was sent, then sent again from \
         the same page. Before the cut {:.0} MiB left the page, after it {:.0} MiB in {} parts; \
         {:.1} MiB sent twice ({:.1} % of the file: the parts in flight at the cut); \
         {} parts stored for {parts} parts of the file ({} stored twice).",
        r.before / 1048576.0,
        r.after / 1048576.0,
        r.parts_after,
        again / 1048576.0,
        100.0 * again / size,
        r.stored,
        r.stored.saturating_sub(parts),
    );
    drop(strata);

    if big_gib == 0 {
        return;
    }
    let strata = Strata::start(&bin, work.path().join("strata-rss"), vec![]);
    make_file(&browser_file, big_gib * 1024, 99);
    settle();
    let before = strata.peak_rss_mib();
    let t = browser_upload(&driver, &strata, &browser_file).await;
    let after = strata.peak_rss_mib();
    println!(
        "\nstrata's peak RSS while the browser sends {big_gib} GiB to the local disk in {} parts: \
         {after:.0} MiB (before the upload: {before:.0} MiB); parts at {:.0} MiB/s, \
         {:.0} s in all.",
        big_gib * 1024 / 16,
        (big_gib * 1024) as f64 / t.send,
        t.total
    );
}
