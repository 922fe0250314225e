//! Residency copies of a dataset's tables (`strata_core::tables::residency`): `GET
//! …/copies` lists, for the dataset's admins, each governed view written into a region store,
//! with the revision, object and decision it was derived from.

use axum::extract::{Path, State};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ErrorBody;
use crate::http::error::ApiResult;
use crate::http::state::AppState;
use strata_core::auth::{Action, Principal};
use strata_core::datasets::gate;
use strata_core::tables::residency::{self, Copy};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_copies))
}

#[derive(Serialize, ToSchema)]
pub struct CopyList {
    /// Newest first: `key`, `store`, `region`, `resource`, `revision`, `source_oid`, `decided`
    /// (the policies' decision), `policies` (their version), `oid`, `size`, `rows`, `created_at`.
    #[schema(value_type = Vec<Object>)]
    copies: Vec<Copy>,
}

/// The residency copies of the dataset's tables: governed views this server's region reads,
/// written once into its region store (the dataset's admins).
#[utoipa::path(get, path = "/api/v1/datasets/{ns}/{name}/copies", tag = "governance", operation_id = "list_region_copies",
    params(("ns" = String, Path), ("name" = String, Path)),
    responses((status = 200, description = "The copies", body = CopyList),
        (status = 403, description = "You do not administer the dataset", body = ErrorBody),
        (status = 404, description = "No such dataset", body = ErrorBody)))]
pub async fn list_copies(
    State(state): State<AppState>,
    Path((ns, name)): Path<(String, String)>,
    who: Principal,
) -> ApiResult<Json<CopyList>> {
    let gated = gate::dataset(&state, &who, &ns, &name, Action::Admin).await?;
    let copies = residency::copies(&state, &gated).await?;
    Ok(Json(CopyList { copies }))
}
