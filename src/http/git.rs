//! git smart HTTP (`git clone`, `fetch`, `push`) for datasets, by running `git http-backend` as a
//! CGI program after strata's own permission check: reads for `git-upload-pack`, writes for
//! `git-receive-pack`. Request and response bodies stream through; nothing is buffered whole.
//! The response begins once git has the whole request body, and `git http-backend` runs in a
//! process group that ends with the request (`strata_core::process`).

use std::future::Future;
use std::process::Stdio;

use axum::body::Body;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{header, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use futures_util::StreamExt;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{ChildStdin, ChildStdout};
use tokio_util::io::ReaderStream;

use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::repo_name;
use crate::http::state::AppState;
use strata_core::auth::{Action, Principal};
use strata_core::datasets::gate;
use strata_core::hook::rules::{Ask, Rules, ENV_RULES};
use strata_core::process::Killer;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/{ns}/{repo}/info/refs", get(info_refs))
        .route("/{ns}/{repo}/git-upload-pack", post(upload_pack))
        .route("/{ns}/{repo}/git-receive-pack", post(receive_pack))
        .route("/_hook/contracts", post(hook_contracts))
}

/// What a push's hook sends to have the contract checked.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct PushedPackage {
    revision: String,
    /// The branch it moves.
    branch: String,
    datapackage: String,
}

/// `POST /_hook/contracts`: the pre-receive hook of a push to a protected default branch asks
/// for its contract check, with the push's token (`strata_core::hook::push`).
async fn hook_contracts(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    body: Body,
) -> ApiResult<axum::Json<Option<strata_core::contracts::Report>>> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| ApiError::unauthorized("a push's token is needed"))?
        .to_owned();
    // The token first: nobody else's request body is read.
    if !state.pushes.knows(&token) {
        return Err(ApiError::unauthorized("no push in flight has this token"));
    }
    let limit = state.settings.max_json_body * 2 + 1024;
    let pushed: PushedPackage = crate::http::json::read_json(&headers, body, limit).await?;
    let report = strata_core::hook::push::check_pushed(
        &state,
        &token,
        &pushed.revision,
        &pushed.branch,
        pushed.datapackage.as_bytes(),
    )
    .await?;
    Ok(axum::Json(report))
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
    state.http().metrics.git(rest, ok);
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
    let dataset = match gate::dataset(state, who, ns, name, action).await {
        // git follows a redirect only on its first request, and not at all when that one asked
        // for credentials: a renamed dataset's old address (for those who see it) is served as
        // the new one.
        Err(e) => match e.moved_to().and_then(|to| to.split_once('/')) {
            Some((ns, name)) => gate::dataset(state, who, ns, name, action).await?,
            None => return Err(e.into()),
        },
        Ok(dataset) => dataset,
    };
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
        strata_core::datasets::git_on(state, &dataset, |ms, ds| ms.open(ds).map(|_| ())).await?;
    }
    let (parts, body) = request.into_parts();
    let root = state.metastore.root();
    let mut cmd = cgi_command(root, format!("/{ns}/{name}.git/{rest}"), &parts);
    cmd
        // http-backend only accepts pushes from an authenticated user; strata checked already.
        .env("REMOTE_USER", who.display_name())
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
        .env(strata_core::hook::ENV_EXE, &state.settings.hook_exe)
        .env(
            strata_core::hook::ENV_DATABASE_FILE,
            &state.settings.hook_database_file,
        )
        .env("HOME", root);
    // A push to a protected default branch, or while policies are in force: its hook asks this
    // server to check the contract and the policies on writes, with a token for this push only.
    let receiving = parts.method == Method::POST && rest.ends_with("git-receive-pack");
    let governed = receiving && state.governance.in_force(state).await;
    let checked = receiving && (dataset.protect_default_branch != 0 || governed);
    let admitted = checked.then(|| state.pushes.admit(&dataset)).flatten();
    if checked && admitted.is_none() {
        // Its checks could not be asked for: refused, never let through unchecked.
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "this push must be checked and the server cannot yet: try again shortly",
        ));
    }
    let ask = admitted.as_ref().map(|a| Ask {
        url: a.url.clone(),
        token: a.token.clone(),
        governed,
    });
    // What the hook holds the push to, as one request this server signed.
    let rules = Rules::of(state, &dataset, receiving, ask).await?;
    cmd.env(ENV_RULES, rules.seal(&state.hook_key));
    let (method, body) = (parts.method.clone(), body);
    // When the output ends, a push to the policy dataset reloads the policies (git has moved
    // the refs) before the client hears back.
    let pushed = receiving.then(|| {
        (
            state.clone(),
            dataset.namespace.clone(),
            dataset.name.clone(),
        )
    });
    let after = move || {
        if let Some((state, ns, name)) = &pushed {
            state.governance.written(ns, name);
            // The push's events are recorded: the dispatcher wakes.
            state.events.ring();
        }
        drop(admitted);
    };
    run(state, cmd, &method, body, after).await
}

/// `git http-backend` as a CGI program for the request `parts` names: its repository at
/// `path_info` under `root`, no configuration but the caller's, its standard streams piped.
pub(crate) fn cgi_command(
    root: &std::path::Path,
    path_info: String,
    parts: &axum::http::request::Parts,
) -> tokio::process::Command {
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
        .env("GIT_PROJECT_ROOT", root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("PATH_INFO", path_info)
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
        .env("REMOTE_ADDR", "127.0.0.1")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(length) = parts.headers.get(header::CONTENT_LENGTH) {
        cmd.env("CONTENT_LENGTH", length.to_str().unwrap_or("0"));
    }
    cmd
}

/// Runs `cmd` (`git http-backend`, its environment set) with the request `body` and answers with
/// its output; `after` runs once the output has ended and git was reaped.
pub(crate) async fn run(
    state: &AppState,
    mut cmd: tokio::process::Command,
    method: &Method,
    body: Body,
    after: impl FnOnce() + Send + 'static,
) -> ApiResult<Response> {
    // Its own process group, which ends with this request (see `strata_core::process`).
    let mut group = state
        .children
        .spawn(&mut cmd)
        .map_err(|e| ApiError::internal(format!("cannot run git http-backend: {e}")))?;
    let stdin = group.stdin().expect("piped stdin");
    let mut stdout = group.stdout().expect("piped stdout");
    let stderr = group.stderr().expect("piped stderr");
    tokio::spawn(async move {
        let mut lines = BufReader::new(stderr).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            tracing::warn!(target: "git_http_backend", "{line}");
        }
    });

    // The request body goes in whole before the response begins: a proxy may stop forwarding a
    // body once the response has begun (NGINX does, with `proxy_request_buffering off`), and
    // `git http-backend` writes its headers before it reads the body.
    let fed = feed(body, stdin, group.killer());
    let early = hold(&mut stdout, fed).await?;
    let mut stdout = BufReader::new(std::io::Cursor::new(early).chain(stdout));
    let mut response = Response::new(Body::empty());
    loop {
        let mut line = String::new();
        if stdout
            .read_line(&mut line)
            .await
            .map_err(ApiError::internal)?
            == 0
        {
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
    let stream = ReaderStream::with_capacity(stdout, 64 * 1024);
    // When the output ends, git http-backend is reaped (the response owns its group: a client
    // that goes away ends it), and then `after` runs.
    let end = futures_util::stream::once(async move {
        match group.wait().await {
            Ok(status) if !status.success() => {
                tracing::warn!(%status, "git http-backend failed");
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "git http-backend could not be reaped"),
        }
        after();
    })
    .filter_map(|()| std::future::ready(None));
    let stream = stream.chain(end);
    *response.body_mut() = Body::from_stream(stream);
    if method == Method::GET {
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    }
    Ok(response)
}

/// The most of git's output held back while the request body still goes in. git writes little
/// before it has read its input (its headers); should it write more, the response begins and
/// the body is fed beside it, rather than both sides waiting on each other.
const HOLD_MAX: usize = 1 << 20;

/// Feeds the request body into git's stdin, and closes it. A body that fails (its client went
/// away, or sent nothing for too long) ends git's whole process group: git would wait for the
/// rest forever (`git http-backend` even spins when its input ends short of `CONTENT_LENGTH`).
/// git that stops reading is no error: its answer says why.
async fn feed(body: Body, mut stdin: ChildStdin, killer: Killer) -> Result<(), axum::Error> {
    let mut frames = body.into_data_stream();
    while let Some(frame) = frames.next().await {
        match frame {
            Ok(bytes) => {
                if stdin.write_all(&bytes).await.is_err() {
                    return Ok(());
                }
            }
            Err(e) => {
                killer.kill();
                return Err(e);
            }
        }
    }
    Ok(())
}

/// Reads git's output while `fed` runs, and returns it once the body is in. Should git's output
/// end first (git answered without the rest of the body) or outgrow [`HOLD_MAX`], the feeding
/// goes on beside the response.
async fn hold(
    stdout: &mut ChildStdout,
    fed: impl Future<Output = Result<(), axum::Error>> + Send + 'static,
) -> ApiResult<Vec<u8>> {
    let mut fed = Box::pin(fed);
    let mut held = Vec::with_capacity(8 * 1024);
    while held.len() < HOLD_MAX {
        tokio::select! {
            result = &mut fed => {
                return result.map(|()| held).map_err(|e| {
                    ApiError::bad_request(format!("the request body ended early: {e}"))
                });
            }
            read = stdout.read_buf(&mut held) => {
                if !matches!(read, Ok(n) if n > 0) {
                    break;
                }
            }
        }
    }
    tokio::spawn(async move {
        let _ = fed.await;
    });
    Ok(held)
}
