//! git smart HTTP (`git clone`, `fetch`, `push`) for datasets, by running `git http-backend` as a
//! CGI program after strata's own permission check: reads for `git-upload-pack`, writes for
//! `git-receive-pack`. Request and response bodies stream through; nothing is buffered whole.

use std::process::Stdio;

use axum::body::Body;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{header, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use futures_util::TryStreamExt;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio_util::io::{ReaderStream, StreamReader};

use crate::auth::{Action, Principal};
use crate::datasets::gate;
use crate::http::error::{ApiError, ApiResult};
use crate::http::lfs::repo_name;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/{ns}/{repo}/info/refs", get(info_refs))
        .route("/{ns}/{repo}/git-upload-pack", post(upload_pack))
        .route("/{ns}/{repo}/git-receive-pack", post(receive_pack))
}

async fn info_refs(
    State(state): State<AppState>,
    Path((ns, repo)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    who: Principal,
    request: Request,
) -> ApiResult<Response> {
    let action = match query.as_deref() {
        Some("service=git-upload-pack") => Action::Read,
        Some("service=git-receive-pack") => Action::Write,
        _ => {
            return Err(ApiError::forbidden(
                "only the smart HTTP protocol is served: use git 1.6.6 or newer",
            ))
        }
    };
    cgi(&state, &who, &ns, &repo, "info/refs", action, request).await
}

async fn upload_pack(
    State(state): State<AppState>,
    Path((ns, repo)): Path<(String, String)>,
    who: Principal,
    request: Request,
) -> ApiResult<Response> {
    cgi(
        &state,
        &who,
        &ns,
        &repo,
        "git-upload-pack",
        Action::Read,
        request,
    )
    .await
}

async fn receive_pack(
    State(state): State<AppState>,
    Path((ns, repo)): Path<(String, String)>,
    who: Principal,
    request: Request,
) -> ApiResult<Response> {
    cgi(
        &state,
        &who,
        &ns,
        &repo,
        "git-receive-pack",
        Action::Write,
        request,
    )
    .await
}

/// Checks `action` on the dataset, then hands the request to `git http-backend`; counted in the
/// metrics by service and outcome.
async fn cgi(
    state: &AppState,
    who: &Principal,
    ns: &str,
    repo: &str,
    rest: &str,
    action: Action,
    request: Request,
) -> ApiResult<Response> {
    let result = backend(state, who, ns, repo, rest, action, request).await;
    let ok = result.as_ref().is_ok_and(|r| r.status().as_u16() < 400);
    state.metrics.git(rest, ok);
    result
}

async fn backend(
    state: &AppState,
    who: &Principal,
    ns: &str,
    repo: &str,
    rest: &str,
    action: Action,
    request: Request,
) -> ApiResult<Response> {
    let name = repo_name(repo);
    let dataset = gate::dataset(state, who, ns, name, action).await?;
    if action == Action::Read {
        dataset.read_dataset(state).await?;
    }
    // The dataset as its row spells it (names compare case-insensitively).
    let (ns, name) = (dataset.namespace.as_str(), dataset.name.as_str());
    if !state
        .metastore
        .exists(strata_metastore::DatasetId { ns, name })
    {
        return Err(ApiError::not_found(format!(
            "dataset {} has no git repository",
            dataset.path()
        )));
    }
    if state.settings.refs_sql {
        // The ref files may be behind the ledger (another replica wrote): catch up first, so
        // what git advertises and checks is what the ledger says.
        crate::datasets::git_on(state, &dataset, |ms, ds| ms.open(ds).map(|_| ())).await?;
    }
    let (parts, body) = request.into_parts();
    let header_text = |name: HeaderName| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let mut cmd = tokio::process::Command::new("git");
    cmd.arg("http-backend")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("GIT_PROJECT_ROOT", state.metastore.root())
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("PATH_INFO", format!("/{ns}/{name}.git/{rest}"))
        .env("REQUEST_METHOD", parts.method.as_str())
        .env("QUERY_STRING", parts.uri.query().unwrap_or(""))
        .env("CONTENT_TYPE", header_text(header::CONTENT_TYPE))
        .env(
            "HTTP_CONTENT_ENCODING",
            header_text(header::CONTENT_ENCODING),
        )
        .env(
            "GIT_PROTOCOL",
            header_text(HeaderName::from_static("git-protocol")),
        )
        // http-backend only accepts pushes from an authenticated user; strata checked already.
        .env("REMOTE_USER", who.display_name())
        .env("REMOTE_ADDR", "127.0.0.1")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        // Pushes run strata's pre-receive hook (see hook.rs) against this dataset; partial
        // clones (`--filter=blob:none`) are served, fetching reachable blobs on demand.
        .env("GIT_CONFIG_COUNT", "4")
        .env("GIT_CONFIG_KEY_0", "core.hooksPath")
        .env("GIT_CONFIG_VALUE_0", &state.settings.hooks_dir)
        .env("GIT_CONFIG_KEY_1", "uploadpack.allowFilter")
        .env("GIT_CONFIG_VALUE_1", "true")
        .env("GIT_CONFIG_KEY_2", "uploadpack.allowReachableSHA1InWant")
        .env("GIT_CONFIG_VALUE_2", "true")
        // No `git gc --auto` after pushes: it detaches from the request (and would outlive it),
        // and on a shared volume replicas would collect at once. strata's maintenance task runs it.
        .env("GIT_CONFIG_KEY_3", "receive.autogc")
        .env("GIT_CONFIG_VALUE_3", "false")
        .env(
            crate::hook::ENV_REFS,
            if state.settings.refs_sql {
                "sql"
            } else {
                "git"
            },
        )
        .env(crate::hook::ENV_DATASET, dataset.path())
        .env(crate::hook::ENV_EXE, &state.settings.hook_exe)
        .env(crate::hook::ENV_REPO_ID, dataset.id.to_string())
        .env(crate::hook::ENV_DATABASE_URL, &state.settings.database_url)
        .env(
            crate::hook::ENV_MAX_OBJECT_SIZE,
            state.settings.max_object_size.to_string(),
        )
        .env(
            crate::hook::ENV_MAX_PACKAGE,
            state.settings.max_json_body.to_string(),
        )
        .env(
            crate::hook::ENV_PROTECT_DEFAULT,
            if dataset.protect_default_branch != 0 {
                "1"
            } else {
                "0"
            },
        )
        .env(
            crate::hook::ENV_POLICY_LIMIT_MS,
            if state
                .governance
                .is_policy_dataset(&dataset.namespace, &dataset.name)
            {
                state.governance.limit().as_millis().to_string()
            } else {
                String::new()
            },
        )
        .env("HOME", state.metastore.root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(length) = parts.headers.get(header::CONTENT_LENGTH) {
        cmd.env("CONTENT_LENGTH", length.to_str().unwrap_or("0"));
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| ApiError::internal(format!("cannot run git http-backend: {e}")))?;

    // Feed the request body in while the response is read: large pushes never sit in memory.
    let mut stdin = child.stdin.take().expect("piped stdin");
    let input = body.into_data_stream().map_err(std::io::Error::other);
    let feeder = tokio::spawn(async move {
        let mut reader = StreamReader::new(input);
        let copied = tokio::io::copy(&mut reader, &mut stdin).await;
        let _ = stdin.shutdown().await;
        copied
    });
    let stderr = child.stderr.take().expect("piped stderr");
    tokio::spawn(async move {
        let mut lines = BufReader::new(stderr).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            tracing::warn!(target: "git_http_backend", "{line}");
        }
    });

    let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
    let mut response = Response::new(Body::empty());
    loop {
        let mut line = String::new();
        if stdout
            .read_line(&mut line)
            .await
            .map_err(ApiError::internal)?
            == 0
        {
            let _ = feeder.await;
            return Err(ApiError::internal(
                "git http-backend ended without a response",
            ));
        }
        let line = line.trim_end_matches(['\r', '\n']);
        if line.is_empty() {
            break;
        }
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("status") {
            let code = value.split(' ').next().and_then(|c| c.parse().ok());
            *response.status_mut() = code
                .and_then(|c| StatusCode::from_u16(c).ok())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        } else if let (Ok(n), Ok(v)) = (
            HeaderName::try_from(name.trim()),
            HeaderValue::try_from(value),
        ) {
            response.headers_mut().append(n, v);
        }
    }
    // The child is reaped when its output ends (kill_on_drop covers a client that goes away).
    let stream = ReaderStream::with_capacity(stdout, 64 * 1024);
    // When a push ends (git has moved the refs), a push to the policy dataset reloads the
    // policies before the client hears back.
    let pushed = (parts.method == Method::POST && rest.ends_with("git-receive-pack")).then(|| {
        (
            state.clone(),
            dataset.namespace.clone(),
            dataset.name.clone(),
        )
    });
    let stream = futures_util::StreamExt::chain(
        stream,
        futures_util::stream::poll_fn(move |_| {
            if let Some((state, ns, name)) = &pushed {
                state.governance.written(ns, name);
            }
            std::task::Poll::Ready(None)
        }),
    );
    tokio::spawn(async move {
        let _ = feeder.await;
        let _ = child.wait().await;
    });
    *response.body_mut() = Body::from_stream(stream);
    if parts.method == Method::GET {
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    }
    Ok(response)
}
