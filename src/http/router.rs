//! The whole HTTP surface in one place. Each area owns its `router()`; this file composes them and
//! adds the layers every request goes through.

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{middleware, Json, Router};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::RequestBodyTimeoutLayer;

use super::api::{
    access as access_api, accounts as accounts_api, aggregates as aggregates_api,
    app_offers as app_offers_api, apps as apps_api, audit as audit_api, catalog as catalog_api,
    copies as copies_api, datasets as datasets_api, delta_sharing as delta_sharing_api, document,
    erase as erase_api, events as events_api, gc as gc_api, namespace_webhooks,
    notifications as notifications_api, orgs as orgs_api, quotas as quotas_api, shared_apps,
    shares as shares_api, sql as sql_api, table_diff as table_diff_api, tables as tables_api,
    workloads as workloads_api,
};
use super::{ctx, flight, git as git_http, lfs as lfs_api, oauth, ops, pages as web, proxy};
use crate::http::error::ApiError;
use crate::http::state::AppState;

/// The application: every route with its state and middleware.
pub fn app(state: AppState) -> Router {
    let (api, openapi) = datasets_api::router()
        .merge(apps_api::router())
        .merge(audit_api::router())
        .merge(events_api::router())
        .merge(notifications_api::router())
        .merge(namespace_webhooks::router())
        .merge(catalog_api::router())
        .merge(orgs_api::router())
        .merge(shares_api::router())
        .merge(access_api::router())
        .merge(delta_sharing_api::router())
        .merge(tables_api::router())
        .merge(table_diff_api::router())
        .merge(aggregates_api::router())
        .merge(accounts_api::router())
        .merge(quotas_api::router())
        .merge(gc_api::router())
        .merge(erase_api::router())
        .merge(copies_api::router())
        .merge(app_offers_api::router())
        .merge(shared_apps::router())
        .merge(workloads_api::router())
        .merge(sql_api::router())
        .merge(oauth::api_router())
        .split_for_parts();
    // The Iceberg REST catalog's routes answer the spec's errors, not the API's: apart, with
    // their part of the document.
    let (iceberg, iceberg_doc) = super::compat::iceberg::router().split_for_parts();
    let (delta_sharing, delta_sharing_doc) =
        super::compat::delta_sharing::router().split_for_parts();
    let mut openapi = openapi;
    openapi.merge(iceberg_doc);
    openapi.merge(delta_sharing_doc);
    // Generated from the handlers' annotations, with the webhooks strata sends, the security
    // schemes and the errors every operation shares; serialised once.
    let openapi = document::finish(events_api::with_webhooks(openapi))
        .to_json()
        .unwrap_or_default();
    Router::new()
        // Git LFS: /{ns}/{repo}.git/info/lfs/{objects/batch, verify, locks…} and /_transfer/…
        .merge(lfs_api::router())
        // git smart HTTP: /{ns}/{name}.git/{info/refs, git-upload-pack, git-receive-pack}
        .merge(git_http::router())
        // region feeds as remotes: /_feeds/{id}.git/{info/refs, git-upload-pack, info/lfs/…}
        .merge(super::feeds::router())
        // REST: /api/v1/datasets/{ns}/{name}/{revisions, tags, branches, diff, tree, raw, …},
        // …/shares, /api/v1/shared-with-me, /api/v1/shares, /api/v1/audit, /api/v1/orgs/…,
        // /api/v1/users/{user}/role, /api/v1/catalog, /api/v1/datasets/{ns}/{name}/tables/{resource},
        // /api/v1/apps, /api/v1/user/apps/{app}/{stop, shares/{user}}, /api/v1/events,
        // /api/v1/notifications, /api/v1/namespaces/{ns}/webhooks
        .merge(api.layer(middleware::map_response(crate::http::error::json_refusals)))
        .route(
            "/api/v1/openapi.json",
            get(move || async move { ([("content-type", "application/json")], openapi) }),
        )
        // Public keys of the JWT signer
        .route("/.well-known/jwks.json", get(jwks))
        // OAuth 2.0 / OpenID Connect: /oauth/{authorize, token, revoke, introspect, userinfo},
        // /.well-known/openid-configuration, /api/v1/oauth/clients, …/upload-token
        .merge(oauth::router())
        // Account pages: /login, /logout, /signup, /settings…, compressed for the browser
        .merge(web::router().layer(super::compress::layer()))
        // The Hugging Face Hub's client API: /api/datasets/…, /datasets/{ns}/{name}/resolve/…
        .merge(super::compat::hf::router())
        .merge(super::compat::xet::router())
        // CKAN's Action API: /api/3/action/{action}, /api/action/{action}
        .merge(super::compat::ckan::router())
        // The Iceberg REST catalog: /iceberg/v1/…
        .merge(iceberg)
        // Delta Sharing: /api/delta-sharing/shares/…, /api/delta-sharing/files/{token}
        .merge(delta_sharing)
        // Apps: /apps/{user}/{app}/… (the reverse proxy to a user's instance) and /_apps/enter
        .merge(proxy::router())
        // Operations: /livez, /readyz, /metrics (and /healthz, the old name of /livez)
        .merge(ops::router())
        // Arrow Flight (gRPC on the same port): GetFlightInfo, GetSchema, DoGet, ListFlights
        .route_service(
            "/arrow.flight.protocol.FlightService/{method}",
            flight::service(state.clone()),
        )
        // Browsers get the error page, API clients JSON.
        .fallback(web::layout::not_found)
        // On --apps-origin, nothing but the apps.
        .layer(middleware::from_fn_with_state(
            state.clone(),
            proxy::apps_host_only,
        ))
        // A refused request's body is read before the answer (no broken pipe for its client).
        .layer(middleware::from_fn(super::drain::layer))
        // A body that sends nothing for this long is cut off (a slow client pins nothing).
        .layer(RequestBodyTimeoutLayer::new(
            state.settings.body_idle_timeout,
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal server error")
                .into_response()
        }))
        .layer(middleware::from_fn_with_state(state.clone(), ctx::layer))
        .with_state(state)
}

async fn jwks(State(state): State<AppState>) -> impl IntoResponse {
    (
        [("cache-control", "public, max-age=300")],
        Json(state.jwt.jwks().clone()),
    )
}
