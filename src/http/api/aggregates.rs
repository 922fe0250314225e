//! Aggregates of tables (`strata_core::tables::aggregate`): `GET …/tables/{resource}/aggregate`
//! for one table, `POST /api/v1/aggregate` for the same statistic across many (an aggregator's
//! query of drives shared with it). Exact for callers who may read the rows; differentially
//! private, spending ε of a budget, where a policy allows aggregates only.

use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::Json;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ErrorBody;
use crate::http::error::ApiResult;
use crate::http::json::read_json;
use crate::http::state::AppState;
use strata_core::auth::{Action, Principal};
use strata_core::datasets::gate;
use strata_core::tables::aggregate::{self, Answer, Ask, Combined, Source, Statistic};
use strata_core::tables::At;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(table_aggregate))
        .routes(routes!(aggregate_across))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AggregateQuery {
    /// `count`, `sum`, `mean` or `histogram`.
    #[param(value_type = Option<StatisticName>)]
    statistic: Option<Statistic>,
    /// The column (all but `count`, which counts rows without one and a column's values with).
    column: Option<String>,
    /// Values are clamped to `[lower, upper]`: needed for a histogram, and for a noisy sum or mean.
    lower: Option<f64>,
    upper: Option<f64>,
    /// A histogram's bins, 1 to 100 (default 10).
    #[param(minimum = 1, maximum = 100)]
    bins: Option<u32>,
    /// A revision id, branch or tag (default: the head of `main`).
    rev: Option<String>,
    /// Why you read: policies see it as `context.intent`.
    intent: Option<String>,
}

/// A statistic of a table: exact if you may read its rows; where a policy allows you aggregates
/// only (`AggregateOnly`), Laplace noise scaled to ε and the bounds, ε spent from your budget for
/// the dataset first (`epsilon`, `scale`, `budget` and `remaining` say so).
#[utoipa::path(get, path = "/api/v1/datasets/{ns}/{name}/tables/{resource}/aggregate", tag = "tables", operation_id = "table_aggregate",
    params(("ns" = String, Path), ("name" = String, Path), ("resource" = String, Path), AggregateQuery),
    responses((status = 200, description = "`statistic`, `value` or `bins`, `exact`; noisy: `epsilon`, `scale`, `budget`, `remaining`", body = Object),
        (status = 400, description = "No statistic, a column missing or not numeric, bounds missing or wrong, bins out of range", body = ErrorBody),
        (status = 403, description = "A policy denies it, or your privacy budget for the dataset is spent", body = ErrorBody),
        (status = 404, description = "No such dataset, revision or resource", body = ErrorBody),
        (status = 422, description = "Not a table, or a malformed one", body = ErrorBody)))]
pub async fn table_aggregate(
    State(state): State<AppState>,
    Path((ns, name, resource)): Path<(String, String, String)>,
    query: Result<Query<AggregateQuery>, QueryRejection>,
    who: Principal,
) -> ApiResult<Json<Answer>> {
    let Query(q) = query?;
    let gated = gate::shared(&state, &who, &ns, &name, Action::Read).await?;
    let at = At {
        resource,
        rev: q.rev,
        intent: q.intent,
    };
    let ask = Ask {
        statistic: q.statistic,
        column: q.column,
        lower: q.lower,
        upper: q.upper,
        bins: q.bins,
    };
    Ok(Json(aggregate::aggregate(&state, &gated, &at, &ask).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcrossBody {
    /// The tables: `{"dataset": "ns/name", "resource": "…"}`, 1 to 100.
    #[schema(value_type = Vec<Object>, min_items = 1, max_items = 100)]
    tables: Vec<Source>,
    /// `count`, `sum`, `mean` or `histogram`.
    #[schema(value_type = Option<StatisticName>)]
    statistic: Option<Statistic>,
    column: Option<String>,
    lower: Option<f64>,
    upper: Option<f64>,
    /// A histogram's bins, 1 to 100 (default 10).
    #[schema(minimum = 1, maximum = 100)]
    bins: Option<u32>,
}

/// The statistics (documentation: the API reads them as [`Statistic`]).
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
pub enum StatisticName {
    Count,
    Sum,
    Mean,
    Histogram,
}

/// The same statistic of many tables (each through its own gate and policies, noisy ones spending
/// from that dataset's budget), and their combination: counts and sums added, the mean of the
/// means, histogram bins added. A table that cannot be answered is listed with its error.
#[utoipa::path(post, path = "/api/v1/aggregate", tag = "tables", operation_id = "aggregate_across",
    request_body = AcrossBody,
    responses((status = 200, description = "`statistic`, `value` or `bins`, and `tables` (each its `answer` or `error`)", body = Object),
        (status = 400, description = "A malformed body, no statistic, or no or too many tables", body = ErrorBody)))]
pub async fn aggregate_across(
    State(state): State<AppState>,
    who: Principal,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Combined>> {
    let b: AcrossBody = read_json(&headers, body, 256 * 1024).await?;
    let ask = Ask {
        statistic: b.statistic,
        column: b.column,
        lower: b.lower,
        upper: b.upper,
        bins: b.bins,
    };
    Ok(Json(
        aggregate::across(&state, &who, &b.tables, &ask).await?,
    ))
}
