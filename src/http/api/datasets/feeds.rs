//! `…/feeds`: a dataset's region feeds (`strata_core::mirrors::feed`), its admins': make one for
//! a region (its token shown once), list them, read one with the governed versions it holds,
//! delete one.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ErrorBody;
use crate::http::error::ApiResult;
use crate::http::json::read_json;
use crate::http::state::AppState;
use strata_core::auth::Principal;
use strata_core::mirrors::feed::{self, Feed, FeedDetail, FeedInput};

/// A new feed's fields.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct FeedBody {
    /// The region its snapshots are decided for (policies see it as
    /// `action.processingLocation`); pinned for the feed's life.
    region: String,
    /// What it is for.
    note: Option<String>,
}

/// A feed just made, with its token (shown this once).
#[derive(Serialize, ToSchema)]
pub struct FeedCreated {
    #[schema(value_type = Object)]
    feed: Feed,
    /// `sfd_…`: what a pull mirror in the region follows the feed's `url` with.
    token: String,
}

/// One feed and the governed versions it holds.
#[derive(Serialize, ToSchema)]
pub struct FeedOne {
    #[schema(value_type = Object)]
    feed: FeedDetail,
}

/// The dataset's feeds.
#[derive(Serialize, ToSchema)]
pub struct FeedList {
    #[schema(value_type = Vec<Object>)]
    feeds: Vec<Feed>,
}

/// Path parameters of one feed.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub struct FeedPath {
    ns: String,
    name: String,
    /// The feed's id.
    id: i64,
}

fn id(raw: &str) -> ApiResult<i64> {
    super::positive_id(raw, "region feed")
}

/// Makes a region feed of the dataset (dataset admins): a strata in that region follows its
/// `url` as a pull mirror with its token, and receives what the policies let the region hold.
#[utoipa::path(post, operation_id = "create_feed", path = "/api/v1/datasets/{ns}/{name}/feeds", tag = "mirrors",
    params(super::DatasetPath), request_body = FeedBody,
    responses((status = 201, description = "Made; the token is shown this once", body = FeedCreated),
        (status = 403, description = "Not an admin of the dataset, or not an account", body = ErrorBody),
        (status = 404, description = "No such dataset", body = ErrorBody),
        (status = 422, description = "A bad region or note, or too many feeds", body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    Path((ns, name)): Path<(String, String)>,
    who: Principal,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<FeedCreated>)> {
    let input: FeedInput = read_json(&headers, body, state.settings.max_json_body).await?;
    let (feed, token) = feed::create(&state, &who, (&ns, &name), input).await?;
    Ok((StatusCode::CREATED, Json(FeedCreated { feed, token })))
}

/// Lists the dataset's region feeds (dataset admins).
#[utoipa::path(get, operation_id = "list_feeds", path = "/api/v1/datasets/{ns}/{name}/feeds", tag = "mirrors",
    params(super::DatasetPath),
    responses((status = 200, description = "The feeds, without their tokens", body = FeedList),
        (status = 404, description = "No such dataset", body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Path((ns, name)): Path<(String, String)>,
    who: Principal,
) -> ApiResult<Json<FeedList>> {
    let feeds = feed::list(&state, &who, (&ns, &name)).await?;
    Ok(Json(FeedList { feeds }))
}

/// One region feed, with the governed versions of tables it holds and the decision behind each
/// (dataset admins).
#[utoipa::path(get, operation_id = "read_feed", path = "/api/v1/datasets/{ns}/{name}/feeds/{id}", tag = "mirrors",
    params(FeedPath),
    responses((status = 200, description = "The feed", body = FeedOne),
        (status = 404, description = "No such dataset or feed", body = ErrorBody)))]
pub async fn read(
    State(state): State<AppState>,
    Path((ns, name, raw)): Path<(String, String, String)>,
    who: Principal,
) -> ApiResult<Json<FeedOne>> {
    let feed = feed::get(&state, &who, (&ns, &name), id(&raw)?).await?;
    Ok(Json(FeedOne { feed }))
}

/// Deletes a region feed (dataset admins): its token stops working at once.
#[utoipa::path(delete, operation_id = "delete_feed", path = "/api/v1/datasets/{ns}/{name}/feeds/{id}", tag = "mirrors",
    params(FeedPath),
    responses((status = 204, description = "Deleted"),
        (status = 404, description = "No such dataset or feed", body = ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    Path((ns, name, raw)): Path<(String, String, String)>,
    who: Principal,
) -> ApiResult<StatusCode> {
    feed::delete(&state, &who, (&ns, &name), id(&raw)?).await?;
    Ok(StatusCode::NO_CONTENT)
}
