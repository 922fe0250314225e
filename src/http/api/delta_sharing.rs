//! Delta Sharing's shares and recipients over REST, as a namespace's admins manage them (that
//! user, or an owner of that organisation): `/api/v1/namespaces/{ns}/delta-shares…` (shares and
//! their tables) and `/api/v1/namespaces/{ns}/recipients…` (make one and get its profile file
//! once, change its shares, rotate its token, revoke it). The rules are in
//! `strata_core::compat::delta_sharing::shares` and `strata_core::sharing::recipients`; the
//! protocol recipients read with is `crate::http::compat::delta_sharing`.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::shares::parse_time;
use super::ErrorBody;
use crate::http::error::ApiResult;
use crate::http::json::{read_json, read_optional_json};
use crate::http::state::AppState;
use strata_core::auth::Principal;
use strata_core::compat::delta_sharing::shares::{self, TableInput};
use strata_core::db::{rfc3339, DeltaTable};
use strata_core::sharing::recipients::{self, Issued, Listed, RecipientInput};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_shares, create_share))
        .routes(routes!(read_share, delete_share))
        .routes(routes!(add_table))
        .routes(routes!(remove_table))
        .routes(routes!(list_recipients, create_recipient))
        .routes(routes!(read_recipient, change_recipient, revoke_recipient))
        .routes(routes!(rotate_recipient))
}

#[derive(Serialize, ToSchema)]
pub struct TableView {
    schema: String,
    name: String,
    /// `{ns}/{name}`.
    dataset: String,
    resource: String,
    /// The branch or tag read; null: the default branch.
    at: Option<String>,
    /// The columns shared; null: every column the policies leave.
    columns: Option<Vec<String>>,
    /// The share's row filters (`{column, op, value}`).
    #[schema(value_type = Option<Vec<Object>>)]
    filters: Option<Vec<Value>>,
    start_version: i64,
    /// The table's id in the protocol.
    id: String,
}

impl From<DeltaTable> for TableView {
    fn from(t: DeltaTable) -> TableView {
        TableView {
            schema: t.schema_name,
            name: t.name,
            dataset: format!("{}/{}", t.repo_namespace, t.repo_name),
            resource: t.resource,
            at: t.at_ref,
            columns: t.columns.and_then(|c| serde_json::from_str(&c).ok()),
            filters: t.filters.and_then(|f| serde_json::from_str(&f).ok()),
            start_version: t.start_version,
            id: t.uuid,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ShareView {
    name: String,
    comment: String,
    tables: Vec<TableView>,
    created_at: String,
}

impl From<shares::Listed> for ShareView {
    fn from(l: shares::Listed) -> ShareView {
        ShareView {
            name: l.share.name,
            comment: l.share.comment,
            tables: l.tables.into_iter().map(TableView::from).collect(),
            created_at: rfc3339(l.share.created_at),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateShare {
    /// Letters, digits, `_` and `-` (kept in lower case).
    name: String,
    #[serde(default)]
    comment: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddTable {
    /// The schema the table is listed under, and its name there.
    schema: String,
    name: String,
    /// A dataset of this namespace (its name, without the namespace).
    dataset: String,
    /// The table's resource in the dataset.
    resource: String,
    /// A branch or a tag (default: the default branch).
    at: Option<String>,
    /// The columns shared (default: all).
    columns: Option<Vec<String>>,
    /// Row filters, as policies write them: `{"column", "op", "value"}`.
    #[schema(value_type = Option<Vec<Object>>)]
    filters: Option<Vec<Value>>,
    /// The first version recipients may read (default 0).
    start_version: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct RecipientView {
    name: String,
    organization: String,
    purpose: String,
    /// The user (or `org/team`) it stands for.
    stands_for: Option<String>,
    shares: Vec<String>,
    ip_allow: Option<Vec<String>>,
    expires_at: Option<String>,
    revoked_at: Option<String>,
    /// Neither revoked nor expired.
    live: bool,
    /// Metadata, query and changes calls it made, and when it last called.
    queries: i64,
    last_used_at: Option<String>,
    created_at: String,
    rotated_at: Option<String>,
}

impl From<Listed> for RecipientView {
    fn from(l: Listed) -> RecipientView {
        let r = l.recipient;
        RecipientView {
            live: r.live(),
            name: r.name,
            organization: r.organization,
            purpose: r.purpose,
            stands_for: r.stands_for,
            shares: l.shares,
            ip_allow: r.ip_allow.and_then(|a| serde_json::from_str(&a).ok()),
            expires_at: r.expires_at.map(rfc3339),
            revoked_at: r.revoked_at.map(rfc3339),
            queries: r.queries,
            last_used_at: r.last_used_at.map(rfc3339),
            created_at: rfc3339(r.created_at),
            rotated_at: r.rotated_at.map(rfc3339),
        }
    }
}

/// A recipient with its profile file, shown this once.
#[derive(Serialize, ToSchema)]
pub struct WithProfile {
    recipient: RecipientView,
    /// Delta Sharing's profile file: save it as `profile.share` (it holds the bearer token).
    #[schema(value_type = Object)]
    profile: Value,
}

impl From<Issued> for WithProfile {
    fn from(i: Issued) -> WithProfile {
        WithProfile {
            recipient: i.listed.into(),
            profile: i.profile,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRecipient {
    /// Letters, digits, `_` and `-`.
    name: String,
    /// What policies see as the recipient's organisation.
    #[serde(default)]
    organization: String,
    /// The purpose it declares (the intent of its reads).
    #[serde(default)]
    purpose: String,
    /// A strata user it stands for, or a team `org/team` (not both).
    user: Option<String>,
    team: Option<String>,
    /// Shares of this namespace it reads.
    #[serde(default)]
    shares: Vec<String>,
    /// Addresses or CIDR blocks it may call from (default: any).
    #[serde(default)]
    ip_allow: Vec<String>,
    /// RFC 3339; absent: no expiry.
    expires_at: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeRecipient {
    /// The shares it reads from now on.
    shares: Vec<String>,
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct Rotate {
    /// RFC 3339, or null for none (absent: unchanged).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    expires_at: Option<Option<String>>,
}

fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// A namespace's shares with their tables.
#[utoipa::path(get, operation_id = "list_delta_shares", path = "/api/v1/namespaces/{ns}/delta-shares", tag = "delta-sharing",
    params(("ns" = String, Path)),
    responses((status = 200, description = "OK", body = Vec<ShareView>),
        (status = 403, description = "Not that user, nor an owner of that organisation", body = ErrorBody),
        (status = 404, description = "No such user or organisation", body = ErrorBody)))]
pub async fn list_shares(
    State(state): State<AppState>,
    Path(ns): Path<String>,
    who: Principal,
) -> ApiResult<Json<Vec<ShareView>>> {
    let list = shares::list(&state, &who, &ns).await?;
    Ok(Json(list.into_iter().map(ShareView::from).collect()))
}

/// Makes a share (tables are added to it one by one).
#[utoipa::path(post, operation_id = "create_delta_share", path = "/api/v1/namespaces/{ns}/delta-shares", tag = "delta-sharing",
    params(("ns" = String, Path)), request_body = CreateShare,
    responses((status = 201, description = "Made", body = ShareView),
        (status = 403, description = "Not that user, nor an owner of that organisation", body = ErrorBody),
        (status = 404, description = "No such user or organisation", body = ErrorBody),
        (status = 409, description = "A share of that name exists", body = ErrorBody)))]
pub async fn create_share(
    State(state): State<AppState>,
    Path(ns): Path<String>,
    who: Principal,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<ShareView>)> {
    let req: CreateShare = read_json(&headers, body, state.settings.max_json_body).await?;
    let made = shares::create(&state, &who, &ns, &req.name, &req.comment).await?;
    Ok((StatusCode::CREATED, Json(made.into())))
}

/// One share with its tables.
#[utoipa::path(get, operation_id = "read_delta_share", path = "/api/v1/namespaces/{ns}/delta-shares/{share}", tag = "delta-sharing",
    params(("ns" = String, Path), ("share" = String, Path)),
    responses((status = 200, description = "OK", body = ShareView),
        (status = 403, description = "Not that user, nor an owner of that organisation", body = ErrorBody),
        (status = 404, description = "No such namespace or share", body = ErrorBody)))]
pub async fn read_share(
    State(state): State<AppState>,
    Path((ns, share)): Path<(String, String)>,
    who: Principal,
) -> ApiResult<Json<ShareView>> {
    Ok(Json(shares::get(&state, &who, &ns, &share).await?.into()))
}

/// Removes a share: its recipients read nothing of it from their next call on.
#[utoipa::path(delete, operation_id = "delete_delta_share", path = "/api/v1/namespaces/{ns}/delta-shares/{share}", tag = "delta-sharing",
    params(("ns" = String, Path), ("share" = String, Path)),
    responses((status = 204, description = "Removed"),
        (status = 403, description = "Not that user, nor an owner of that organisation", body = ErrorBody),
        (status = 404, description = "No such namespace or share", body = ErrorBody)))]
pub async fn delete_share(
    State(state): State<AppState>,
    Path((ns, share)): Path<(String, String)>,
    who: Principal,
) -> ApiResult<StatusCode> {
    shares::delete(&state, &who, &ns, &share).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Adds a table of one of the namespace's datasets to a share (its admins only).
#[utoipa::path(post, operation_id = "add_delta_share_table", path = "/api/v1/namespaces/{ns}/delta-shares/{share}/tables", tag = "delta-sharing",
    params(("ns" = String, Path), ("share" = String, Path)), request_body = AddTable,
    responses((status = 201, description = "Added", body = TableView),
        (status = 403, description = "Not an admin of the namespace or the dataset", body = ErrorBody),
        (status = 404, description = "No such namespace, share or dataset", body = ErrorBody),
        (status = 409, description = "The share has a table of that schema and name", body = ErrorBody)))]
pub async fn add_table(
    State(state): State<AppState>,
    Path((ns, share)): Path<(String, String)>,
    who: Principal,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<TableView>)> {
    let req: AddTable = read_json(&headers, body, state.settings.max_json_body).await?;
    let input = TableInput {
        schema: req.schema,
        name: req.name,
        dataset: req.dataset,
        resource: req.resource,
        at: req.at,
        columns: req.columns,
        filters: req.filters,
        start_version: req.start_version,
    };
    let t = shares::add_table(&state, &who, &ns, &share, input).await?;
    Ok((StatusCode::CREATED, Json(t.into())))
}

/// Removes a table from a share.
#[utoipa::path(delete, operation_id = "remove_delta_share_table", path = "/api/v1/namespaces/{ns}/delta-shares/{share}/tables/{schema}/{table}", tag = "delta-sharing",
    params(("ns" = String, Path), ("share" = String, Path), ("schema" = String, Path), ("table" = String, Path)),
    responses((status = 204, description = "Removed"),
        (status = 403, description = "Not that user, nor an owner of that organisation", body = ErrorBody),
        (status = 404, description = "No such namespace, share or table", body = ErrorBody)))]
pub async fn remove_table(
    State(state): State<AppState>,
    Path((ns, share, schema, table)): Path<(String, String, String, String)>,
    who: Principal,
) -> ApiResult<StatusCode> {
    shares::remove_table(&state, &who, &ns, &share, &schema, &table).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A namespace's recipients (never their tokens).
#[utoipa::path(get, operation_id = "list_recipients", path = "/api/v1/namespaces/{ns}/recipients", tag = "delta-sharing",
    params(("ns" = String, Path)),
    responses((status = 200, description = "OK", body = Vec<RecipientView>),
        (status = 403, description = "Not that user, nor an owner of that organisation", body = ErrorBody),
        (status = 404, description = "No such user or organisation", body = ErrorBody)))]
pub async fn list_recipients(
    State(state): State<AppState>,
    Path(ns): Path<String>,
    who: Principal,
) -> ApiResult<Json<Vec<RecipientView>>> {
    let list = recipients::list(&state, &who, &ns).await?;
    Ok(Json(list.into_iter().map(RecipientView::from).collect()))
}

/// Makes a recipient: the answer holds its profile file, shown this once.
#[utoipa::path(post, operation_id = "create_recipient", path = "/api/v1/namespaces/{ns}/recipients", tag = "delta-sharing",
    params(("ns" = String, Path)), request_body = CreateRecipient,
    responses((status = 201, description = "Made, with its profile file", body = WithProfile),
        (status = 403, description = "Not that user, nor an owner of that organisation", body = ErrorBody),
        (status = 404, description = "No such user or organisation", body = ErrorBody),
        (status = 409, description = "A recipient of that name exists", body = ErrorBody)))]
pub async fn create_recipient(
    State(state): State<AppState>,
    Path(ns): Path<String>,
    who: Principal,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<WithProfile>)> {
    let req: CreateRecipient = read_json(&headers, body, state.settings.max_json_body).await?;
    let input = RecipientInput {
        name: req.name,
        organization: req.organization,
        purpose: req.purpose,
        user: req.user,
        team: req.team,
        shares: req.shares,
        ip_allow: req.ip_allow,
        expires_at: req.expires_at.as_deref().map(parse_time).transpose()?,
    };
    let issued = recipients::create(&state, &who, &ns, input).await?;
    Ok((StatusCode::CREATED, Json(issued.into())))
}

/// One recipient: its shares and its use.
#[utoipa::path(get, operation_id = "read_recipient", path = "/api/v1/namespaces/{ns}/recipients/{recipient}", tag = "delta-sharing",
    params(("ns" = String, Path), ("recipient" = String, Path)),
    responses((status = 200, description = "OK", body = RecipientView),
        (status = 403, description = "Not that user, nor an owner of that organisation", body = ErrorBody),
        (status = 404, description = "No such namespace or recipient", body = ErrorBody)))]
pub async fn read_recipient(
    State(state): State<AppState>,
    Path((ns, recipient)): Path<(String, String)>,
    who: Principal,
) -> ApiResult<Json<RecipientView>> {
    Ok(Json(
        recipients::get(&state, &who, &ns, &recipient).await?.into(),
    ))
}

/// Sets the shares a recipient reads.
#[utoipa::path(patch, operation_id = "change_recipient", path = "/api/v1/namespaces/{ns}/recipients/{recipient}", tag = "delta-sharing",
    params(("ns" = String, Path), ("recipient" = String, Path)), request_body = ChangeRecipient,
    responses((status = 200, description = "Changed", body = RecipientView),
        (status = 403, description = "Not that user, nor an owner of that organisation", body = ErrorBody),
        (status = 404, description = "No such namespace or recipient", body = ErrorBody)))]
pub async fn change_recipient(
    State(state): State<AppState>,
    Path((ns, recipient)): Path<(String, String)>,
    who: Principal,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<RecipientView>> {
    let req: ChangeRecipient = read_json(&headers, body, state.settings.max_json_body).await?;
    let l = recipients::set_shares(&state, &who, &ns, &recipient, &req.shares).await?;
    Ok(Json(l.into()))
}

/// Revokes a recipient: its token is refused from the next call on, by every replica.
#[utoipa::path(delete, operation_id = "revoke_recipient", path = "/api/v1/namespaces/{ns}/recipients/{recipient}", tag = "delta-sharing",
    params(("ns" = String, Path), ("recipient" = String, Path)),
    responses((status = 204, description = "Revoked"),
        (status = 403, description = "Not that user, nor an owner of that organisation", body = ErrorBody),
        (status = 404, description = "No such namespace or recipient", body = ErrorBody)))]
pub async fn revoke_recipient(
    State(state): State<AppState>,
    Path((ns, recipient)): Path<(String, String)>,
    who: Principal,
) -> ApiResult<StatusCode> {
    recipients::revoke(&state, &who, &ns, &recipient).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A new token (and profile file) for a recipient; the old token stops at once.
#[utoipa::path(post, operation_id = "rotate_recipient", path = "/api/v1/namespaces/{ns}/recipients/{recipient}/rotate", tag = "delta-sharing",
    params(("ns" = String, Path), ("recipient" = String, Path)), request_body = Rotate,
    responses((status = 200, description = "The new profile file, shown this once", body = WithProfile),
        (status = 403, description = "Not that user, nor an owner of that organisation", body = ErrorBody),
        (status = 404, description = "No such namespace or recipient", body = ErrorBody),
        (status = 409, description = "The recipient is revoked", body = ErrorBody)))]
pub async fn rotate_recipient(
    State(state): State<AppState>,
    Path((ns, recipient)): Path<(String, String)>,
    who: Principal,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<WithProfile>> {
    let req: Rotate = read_optional_json(&headers, body, state.settings.max_json_body).await?;
    let expires_at = match req.expires_at {
        Some(Some(t)) => Some(Some(parse_time(&t)?)),
        Some(None) => Some(None),
        None => None,
    };
    let issued = recipients::rotate(&state, &who, &ns, &recipient, expires_at).await?;
    Ok(Json(issued.into()))
}
