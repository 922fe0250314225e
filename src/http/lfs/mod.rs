//! The Git LFS HTTP API: batch, verify, locks, and the signed transfer URLs of the local backend.
//! Bodies use the `application/vnd.git-lfs+json` media type in and out.

pub mod batch;
mod locks;
mod multipart;
pub mod transfer;
mod verify;

use axum::routing::{get, post, put};
use axum::Router;

use crate::http::state::AppState;

/// Routes below `/{ns}/{repo}/info/lfs` (where `repo` may end in `.git`) and `/_transfer`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/{ns}/{repo}/info/lfs/objects/batch", post(batch::batch))
        // giftless's layout (`{base}/{org}/{repo}/objects/batch`), for clients written for it.
        .route("/{ns}/{repo}/objects/batch", post(batch::batch))
        .route("/{ns}/{repo}/info/lfs/verify", post(verify::verify))
        .route(
            "/{ns}/{repo}/info/lfs/locks",
            post(locks::create).get(locks::list),
        )
        .route("/{ns}/{repo}/info/lfs/locks/verify", post(locks::verify))
        .route(
            "/{ns}/{repo}/info/lfs/locks/{id}/unlock",
            post(locks::unlock),
        )
        .route(
            "/_transfer/{ns}/{repo}/{oid}",
            get(transfer::download).put(transfer::upload),
        )
        // multipart-basic on the local disk: parts, then commit (or abort)
        .route(
            "/_transfer/{ns}/{repo}/{oid}/parts/{n}",
            put(multipart::part),
        )
        .route(
            "/_transfer/{ns}/{repo}/{oid}/commit",
            post(multipart::commit),
        )
        .route("/_transfer/{ns}/{repo}/{oid}/abort", post(multipart::abort))
        // A range of a xorb, for a Xet client (`strata_core::xet`).
        .route("/_transfer/{ns}/{repo}/{oid}/range", get(transfer::range))
}
