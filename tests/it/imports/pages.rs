//! An import by reference in headless Chromium: alice opens her dataset's settings, sees the
//! source open to her namespace, is told why a folder that is no folder is refused, starts an
//! import of a bucket's folder, sees it listed and, once done, its commit; the file is then on
//! the dataset's page.

use super::{create, ended, source, API};
use crate::common::forms::PASSWORD;
use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_started_and_followed_in_chromium() {
    use crate::common::chromium::*;

    let bucket = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(bucket.path().join("exports")).unwrap();
    std::fs::write(
        bucket.path().join("exports/weather.csv"),
        b"day,temp\n1,12\n2,14\n",
    )
    .unwrap();
    let sources = vec![source("archive", bucket.path(), &["alice"])];
    let server = TestServer::start_with(Backend::Local, |c| c.import_sources = sources).await;
    let alice = server.user("alice").await;
    strata::cli::admin::set_password(&server.state, "alice", PASSWORD)
        .await
        .unwrap();
    create(&server, &alice, "alice", "climate").await;

    let base = server.url.clone();
    let driver = tokio::task::spawn_blocking(Driver::start).await.unwrap();
    let c = browser(&driver, &server.dir.path().join("profile")).await;
    sign_in(&c, &base, "alice").await;
    c.goto(&format!("{base}/datasets/alice/climate/settings"))
        .await
        .unwrap();
    let page = text(&c).await;
    assert!(page.contains("Import from a bucket"), "{page}");
    // A folder that is no folder: refused, the reason shown.
    fill(&c, "prefix", "../etc").await;
    click(&c, "#start-import button").await;
    let page = text(&c).await;
    assert!(page.contains("prefix:"), "{page}");
    // The bucket's folder, into the dataset's `raw`.
    fill(&c, "prefix", "exports").await;
    fill(&c, "path", "raw").await;
    click(&c, "#start-import button").await;
    let page = text(&c).await;
    assert!(page.contains("archive:exports/ → /raw/"), "{page}");
    let (_, v) = super::call(
        reqwest::Method::GET,
        &format!("{base}{API}/alice/climate/imports"),
        &alice,
        None,
    )
    .await;
    let id = v["imports"][0]["id"].as_i64().unwrap();
    let done = ended(&server, &alice, "alice/climate", id).await;
    assert_eq!(done["state"], "done", "{done}");
    c.refresh().await.unwrap();
    let page = text(&c).await;
    let short: String = done["revision"].as_str().unwrap().chars().take(8).collect();
    assert!(page.contains(&format!("done ({short})")), "{page}");
    screenshot(&c, "import-settings").await;
    c.goto(&format!(
        "{base}/datasets/alice/climate/files/raw/weather.csv"
    ))
    .await
    .unwrap();
    let page = text(&c).await;
    assert!(
        page.contains("weather.csv") && page.contains("temp"),
        "{page}"
    );
    c.close().await.unwrap();
}
