//! The REST API under `/api/v1`: datasets (with their history, refs, collaborators and listing),
//! organisations and roles, shares, gated datasets' access requests, tables, SQL, usage and garbage collection, and the audit log. OpenAPI annotations on the handlers build both the
//! routes and the document at `/api/v1/openapi.json`.

pub mod access;
pub mod accounts;
pub mod aggregates;
pub mod app_offers;
pub mod apps;
pub mod audit;
pub mod catalog;
pub mod copies;
pub mod datasets;
pub mod delta_sharing;
pub mod document;
pub mod erase;
pub mod events;
pub mod gc;
pub mod namespace_webhooks;
pub mod notifications;
pub mod orgs;
pub mod quotas;
pub mod shared_apps;
pub mod shares;
pub mod sql;
pub mod table_diff;
pub mod tables;
pub mod workloads;

use serde::Serialize;
use utoipa::ToSchema;

/// The body of every error response.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub message: String,
    pub request_id: String,
}
