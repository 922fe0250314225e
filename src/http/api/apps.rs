//! Apps over REST: the catalog (`/api/v1/apps`: list; add and remove for admins and engineers),
//! the caller's installs (`/api/v1/user/apps`: install with consent to the app's scopes,
//! uninstall, the instance's status and log, stop) and sharing an instance with other users.
//! The rules are in `strata_core::apps`; these handlers only translate.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::{Deserialize, Serialize};
use strata_apps::{Manifest, Prefix, Runner};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ErrorBody;
use crate::http::error::{ApiError, ApiResult};
use crate::http::json::read_json;
use crate::http::state::AppState;
use strata_core::apps::{self, installed, installed::Installed};
use strata_core::auth::Need;
use strata_core::auth::Principal;
use strata_core::db::rfc3339;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_apps, add_app))
        .routes(routes!(remove_app))
        .routes(routes!(my_apps))
        .routes(routes!(install_app, uninstall_app, my_app))
        .routes(routes!(stop_app))
        .routes(routes!(share_app, unshare_app))
}

#[derive(Serialize, ToSchema)]
pub struct AppView {
    id: String,
    name: String,
    description: String,
    version: String,
    /// `process` or `kubernetes`.
    runner: String,
    /// `keep` (the app serves under its base URL) or `strip`.
    prefix: String,
    /// The strata scopes its token carries: what installing it consents to.
    scopes: Vec<String>,
    /// File extensions it opens.
    opens: Vec<String>,
    idle_timeout_secs: u64,
    start_timeout_secs: u64,
    /// `dir` (the server's `--apps-dir`) or `api`.
    source: String,
}

impl AppView {
    pub(crate) fn new(m: &Manifest, from_dir: bool) -> AppView {
        AppView {
            id: m.id.clone(),
            name: m.name.clone(),
            description: m.description.clone(),
            version: m.version.clone(),
            runner: match m.runner {
                Runner::Process { .. } => "process",
                Runner::Kubernetes { .. } => "kubernetes",
            }
            .into(),
            prefix: match m.prefix {
                Prefix::Keep => "keep",
                Prefix::Strip => "strip",
            }
            .into(),
            scopes: m.scopes.clone(),
            opens: m.opens.clone(),
            idle_timeout_secs: m.idle_timeout_secs,
            start_timeout_secs: m.start_timeout_secs,
            source: if from_dir { "dir" } else { "api" }.into(),
        }
    }
}

/// The app catalog.
#[utoipa::path(get, path = "/api/v1/apps", tag = "apps",
    responses((status = 200, description = "OK", body = Vec<AppView>),
        (status = 401, description = "Not signed in", body = ErrorBody)))]
pub async fn list_apps(
    State(state): State<AppState>,
    who: Principal,
) -> ApiResult<Json<Vec<AppView>>> {
    if who.is_anonymous() {
        return Err(ApiError::unauthorized("authentication required"));
    }
    let list = apps::catalog(&state).await?;
    Ok(Json(
        list.iter()
            .map(|e| AppView::new(&e.manifest, e.from_dir))
            .collect(),
    ))
}

/// Adds an app to the catalog from its TOML manifest, or changes the API-managed one of the same
/// id. Admins and engineers add apps; process-runner apps only site admins; a change only whoever
/// added the app, or a site admin. A change of the runner, command, image, env or scopes
/// suspends every install until its owner consents again.
#[utoipa::path(post, path = "/api/v1/apps", tag = "apps",
    request_body(content = String, content_type = "application/toml", description = "The manifest"),
    responses((status = 201, description = "Added", body = AppView),
        (status = 200, description = "Changed", body = AppView),
        (status = 403, description = "Not an admin or engineer; a process app from someone not a site admin; a change of someone else's app", body = ErrorBody),
        (status = 409, description = "The id belongs to an --apps-dir manifest", body = ErrorBody),
        (status = 422, description = "Invalid manifest", body = ErrorBody)))]
pub async fn add_app(
    State(state): State<AppState>,
    who: Principal,
    body: Body,
) -> ApiResult<(StatusCode, Json<AppView>)> {
    let user = state.require(&who, Need::Account).await?.clone();
    let bytes = axum::body::to_bytes(body, 64 * 1024)
        .await
        .map_err(|_| ApiError::too_large("an app manifest is at most 64 KiB"))?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| ApiError::unprocessable("an app manifest is UTF-8 TOML"))?;
    let added = apps::add(&state, &user, text).await?;
    let status = if added.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(AppView::new(&added.manifest, false))))
}

/// Removes an API-managed app from the catalog (whoever added it, or a site admin); its installs
/// go and its instances stop.
#[utoipa::path(delete, path = "/api/v1/apps/{app}", tag = "apps", params(("app" = String, Path)),
    responses((status = 204, description = "Removed"),
        (status = 403, description = "Not an admin or engineer, or someone else's app", body = ErrorBody),
        (status = 404, description = "No such app", body = ErrorBody),
        (status = 409, description = "An --apps-dir app", body = ErrorBody)))]
pub async fn remove_app(
    State(state): State<AppState>,
    Path(app): Path<String>,
    who: Principal,
) -> ApiResult<StatusCode> {
    let user = state.require(&who, Need::Account).await?.clone();
    apps::remove(&state, &user, &app).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct InstallView {
    app: AppView,
    /// The scopes consented to.
    scopes: Vec<String>,
    installed_at: String,
    /// `/apps/{user}/{app}/` on the apps origin; null when this server serves no apps.
    url: Option<String>,
    /// `stopped`, `starting`, `running`, `paused` or `failed` (on the replica that answers), or
    /// `needs consent`: the manifest changed what runs or what it may do since the consent, and
    /// nothing starts until the user installs it again.
    status: String,
    /// Whether the install waits for renewed consent (`PUT` this resource with the scopes).
    needs_consent: bool,
    /// The error of a failed start, or why it needs consent.
    error: Option<String>,
    /// Users the instance is shared with.
    shared_with: Vec<String>,
    /// What runs: the image, or the executable the manifest names.
    runs: String,
    /// Its digest (`sha256:…`): the pinned image's, or the executable's as last started here.
    digest: Option<String>,
}

impl From<Installed> for InstallView {
    fn from(i: Installed) -> InstallView {
        InstallView {
            app: AppView::new(&i.entry.manifest, i.entry.from_dir),
            scopes: i.row.scopes.split_whitespace().map(str::to_owned).collect(),
            installed_at: rfc3339(i.row.created_at),
            url: i.url,
            status: i.status.into(),
            needs_consent: i.needs_consent,
            error: i.error,
            shared_with: i.shared_with,
            runs: i.runs,
            digest: i.digest,
        }
    }
}

/// The apps the caller installed, with their instances' status.
#[utoipa::path(get, path = "/api/v1/user/apps", tag = "apps",
    responses((status = 200, description = "OK", body = Vec<InstallView>),
        (status = 401, description = "Not signed in", body = ErrorBody)))]
pub async fn my_apps(
    State(state): State<AppState>,
    who: Principal,
) -> ApiResult<Json<Vec<InstallView>>> {
    let user = state.require(&who, Need::Account).await?.clone();
    let installed = installed::installed(&state, &user).await?;
    Ok(Json(installed.into_iter().map(InstallView::from).collect()))
}

/// One installed app, with its instance's status.
#[utoipa::path(get, path = "/api/v1/user/apps/{app}", tag = "apps", params(("app" = String, Path)),
    responses((status = 200, description = "OK", body = InstallView),
        (status = 404, description = "Not installed", body = ErrorBody)))]
pub async fn my_app(
    State(state): State<AppState>,
    Path(app): Path<String>,
    who: Principal,
) -> ApiResult<Json<InstallView>> {
    let user = state.require(&who, Need::Account).await?.clone();
    Ok(Json(
        installed::installed_one(&state, &user, &app).await?.into(),
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Consent {
    /// Exactly the scopes the app asks for (see `GET /api/v1/apps`): the caller's consent.
    scopes: Vec<String>,
}

/// Installs an app for the caller, who consents to the scopes it asks for by repeating them; for
/// an install that needs consent (the app changed), this is the renewed consent.
#[utoipa::path(put, path = "/api/v1/user/apps/{app}", tag = "apps", params(("app" = String, Path)),
    request_body = Consent,
    responses((status = 200, description = "Installed", body = InstallView),
        (status = 404, description = "No such app", body = ErrorBody),
        (status = 422, description = "The consent does not match the app's scopes", body = ErrorBody)))]
pub async fn install_app(
    State(state): State<AppState>,
    Path(app): Path<String>,
    who: Principal,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<InstallView>> {
    let user = state.require(&who, Need::Account).await?.clone();
    let consent: Consent = read_json(&headers, body, state.settings.max_json_body).await?;
    let row = apps::install(&state, &user, &app, &consent.scopes).await?;
    Ok(Json(
        installed::describe(&state, &user.username, row)
            .await?
            .into(),
    ))
}

/// Uninstalls an app: its instance stops and its tokens stop working. Its working directory is
/// kept (installing it again finds the files).
#[utoipa::path(delete, path = "/api/v1/user/apps/{app}", tag = "apps", params(("app" = String, Path)),
    responses((status = 204, description = "Uninstalled"),
        (status = 404, description = "Not installed", body = ErrorBody)))]
pub async fn uninstall_app(
    State(state): State<AppState>,
    Path(app): Path<String>,
    who: Principal,
) -> ApiResult<StatusCode> {
    let user = state.require(&who, Need::Account).await?.clone();
    apps::uninstall(&state, &user, &app).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct Stopped {
    /// The log of the instance that was stopped (empty if none ran).
    log: Vec<String>,
}

/// Stops the caller's instance of an app now (the next request starts it again).
#[utoipa::path(post, path = "/api/v1/user/apps/{app}/stop", tag = "apps", params(("app" = String, Path)),
    responses((status = 200, description = "Stopped", body = Stopped),
        (status = 404, description = "Not installed", body = ErrorBody)))]
pub async fn stop_app(
    State(state): State<AppState>,
    Path(app): Path<String>,
    who: Principal,
) -> ApiResult<Json<Stopped>> {
    let user = state.require(&who, Need::Account).await?.clone();
    let log = installed::stop(&state, &user, &app).await?;
    Ok(Json(Stopped { log }))
}

/// Lets another user use the caller's instance of an app (it acts with the caller's token).
#[utoipa::path(put, path = "/api/v1/user/apps/{app}/shares/{user}", tag = "apps",
    params(("app" = String, Path), ("user" = String, Path)),
    responses((status = 204, description = "Shared"),
        (status = 404, description = "Not installed, or no such user", body = ErrorBody)))]
pub async fn share_app(
    State(state): State<AppState>,
    Path((app, other)): Path<(String, String)>,
    who: Principal,
) -> ApiResult<StatusCode> {
    let user = state.require(&who, Need::Account).await?.clone();
    apps::share(&state, &user, &app, &other, true).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Stops sharing the caller's instance of an app with a user.
#[utoipa::path(delete, path = "/api/v1/user/apps/{app}/shares/{user}", tag = "apps",
    params(("app" = String, Path), ("user" = String, Path)),
    responses((status = 204, description = "No longer shared"),
        (status = 404, description = "Not shared with them", body = ErrorBody)))]
pub async fn unshare_app(
    State(state): State<AppState>,
    Path((app, other)): Path<(String, String)>,
    who: Principal,
) -> ApiResult<StatusCode> {
    let user = state.require(&who, Need::Account).await?.clone();
    apps::share(&state, &user, &app, &other, false).await?;
    Ok(StatusCode::NO_CONTENT)
}
