//! Server-rendered pages: the home page, sign-up, login, logout, settings (password, personal
//! access tokens, OAuth applications), organisations, the dataset browser, the SQL page, and apps. HTML comes from
//! the auto-escaping askama templates in `ui/templates/` (every page extends `base.html` through
//! [`Chrome`]); pages work as plain forms, and `ui/static/strata.js` only enhances them. Every
//! form carries a CSRF token: the session's own once signed in, a double-submit cookie before
//! (so nobody can log a victim into another account either), checked by the form extractors of
//! `crate::http::csrf`.

mod access;
mod apps;
mod archive;
mod card;
mod dataset_settings;
mod datasets;
mod edit;
mod feeds;
mod file;
mod files;
pub(crate) mod forms;
mod front;
mod home;
mod imports;
mod jobs;
pub(crate) mod layout;
mod links;
mod login;
mod markdown;
mod marks;
mod merges;
mod mirror;
mod notifications;
mod orgs;
mod outside;
mod previews;
mod reader;
mod revisions;
mod settings;
mod share;
mod shared;
mod show;
pub(crate) mod signed_in;
mod sql;
mod sso;
mod table_diff;
mod table_view;
mod tags;
mod undo;
mod webhooks;

use axum::routing::{get, post};
use axum::Router;

use crate::http::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(home::show))
        .route("/login", get(login::form).post(login::submit))
        .route("/logout", post(login::logout))
        .route("/signup", get(login::signup_form).post(login::signup))
        .route("/login/sso/{provider}", post(sso::start))
        .route("/login/sso/{provider}/callback", get(sso::callback))
        .route("/settings", get(settings::show))
        .route("/settings/identities/unlink", post(sso::unlink))
        .route("/settings/identities/{provider}", post(sso::link))
        .route("/settings/password", post(settings::password))
        .route("/settings/tokens", post(settings::create_token))
        .route("/settings/tokens/revoke", post(settings::revoke_token))
        .route("/settings/apps", post(settings::register_app))
        .route("/settings/consents/revoke", post(settings::forget_app))
        .route("/datasets", post(home::create))
        .route("/datasets/{ns}/{name}", get(datasets::show))
        .route("/datasets/{ns}/{name}/history", get(datasets::history))
        .route("/datasets/{ns}/{name}/files/{*path}", get(file::show))
        .route(
            "/datasets/{ns}/{name}/thumbnails/{*path}",
            get(previews::thumbnail),
        )
        .route("/datasets/{ns}/{name}/preview/{*path}", get(previews::pdf))
        .route(
            "/datasets/{ns}/{name}/revisions/{rev}",
            get(revisions::show),
        )
        .route("/datasets/{ns}/{name}/diff", get(revisions::diff))
        .route(
            "/datasets/{ns}/{name}/settings",
            get(dataset_settings::show).post(dataset_settings::change),
        )
        .route(
            "/datasets/{ns}/{name}/settings/mirror",
            post(mirror::change),
        )
        .route(
            "/datasets/{ns}/{name}/settings/import",
            post(imports::start),
        )
        .route("/datasets/{ns}/{name}/settings/feeds", post(feeds::change))
        .route(
            "/datasets/{ns}/{name}/access",
            get(access::show).post(access::file),
        )
        .route(
            "/datasets/{ns}/{name}/share-outside",
            get(outside::show).post(outside::change),
        )
        .route("/datasets/{ns}/{name}/settings/access", get(access::queue))
        .route(
            "/datasets/{ns}/{name}/settings/access/gate",
            post(access::set_gate),
        )
        .route(
            "/datasets/{ns}/{name}/settings/access/answer",
            post(access::answer),
        )
        .route(
            "/datasets/{ns}/{name}/tags",
            get(tags::show).post(tags::create),
        )
        .route(
            "/datasets/{ns}/{name}/tags/{tag}/description",
            post(tags::describe),
        )
        .route(
            "/datasets/{ns}/{name}/tags/{tag}/delete",
            post(tags::delete),
        )
        .route(
            "/datasets/{ns}/{name}/share",
            get(share::show).post(share::change),
        )
        .route("/drive", get(files::drive).post(files::make_drive))
        .route("/drive/starred", get(marks::starred))
        .route("/drive/recent", get(marks::recent))
        .route("/starred", post(marks::star))
        .route("/shared", get(shared::show))
        .route("/notifications", get(notifications::show))
        .route("/notifications/read", post(notifications::mark_read))
        .route("/notifications/{id}", get(notifications::open))
        .route(
            "/settings/webhooks",
            get(webhooks::mine).post(webhooks::change_mine),
        )
        .route(
            "/datasets/{ns}/{name}/settings/webhooks",
            get(webhooks::dataset).post(webhooks::change_dataset),
        )
        .route("/sql", get(sql::show))
        .route("/apps", get(apps::show))
        .route("/app-catalog/{app}", get(apps::app))
        .route("/app-catalog/{app}/open", get(apps::open))
        .route("/app-catalog/{app}/{action}", post(apps::act))
        .route(
            "/datasets/{ns}/{name}/upload",
            // Uploads are bounded by the largest object, checked while they stream.
            post(files::upload).layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .route("/datasets/{ns}/{name}/files", post(files::change))
        .route("/datasets/{ns}/{name}/edit", post(edit::save))
        .route("/datasets/{ns}/{name}/edit/{*path}", get(edit::show))
        .route("/datasets/{ns}/{name}/new", get(edit::new))
        .route("/datasets/{ns}/{name}/card", post(card::save))
        .route("/datasets/{ns}/{name}/trash", get(files::trash))
        .route("/s/{secret}", get(links::show).post(links::unlock))
        .route("/s/{secret}/raw", get(links::raw))
        .route("/s/{secret}/zip", get(archive::link))
        .route(
            "/datasets/{ns}/{name}/zip",
            get(archive::folder).post(archive::picked),
        )
        .route("/s/{secret}/raw/{*path}", get(links::raw))
        .route("/datasets/{ns}/{name}/branches", post(tags::create_branch))
        .route(
            "/datasets/{ns}/{name}/tables/{resource}/diff",
            get(table_diff::show),
        )
        .route(
            "/datasets/{ns}/{name}/tables/{resource}/schema",
            post(table_view::save_types),
        )
        .route(
            "/datasets/{ns}/{name}/tables/{resource}/key",
            post(table_view::save_key),
        )
        .route(
            "/datasets/{ns}/{name}/branches/{branch}/delete",
            post(tags::delete_branch),
        )
        .route("/datasets/{ns}/{name}/revert", post(revisions::revert))
        .route("/datasets/{ns}/{name}/jobs", get(jobs::list))
        .route("/datasets/{ns}/{name}/jobs/{job}/run", post(jobs::start))
        .route("/datasets/{ns}/{name}/runs/{id}", get(jobs::run))
        .route("/datasets/{ns}/{name}/runs/{id}/cancel", post(jobs::cancel))
        .route(
            "/datasets/{ns}/{name}/revisions/{rev}/lineage",
            get(jobs::lineage),
        )
        .route(
            "/datasets/{ns}/{name}/revisions/{rev}/rerun",
            post(jobs::rerun),
        )
        .route(
            "/datasets/{ns}/{name}/merge-requests",
            get(merges::list).post(merges::create),
        )
        .route(
            "/datasets/{ns}/{name}/merge-requests/{number}",
            get(merges::show),
        )
        .route(
            "/datasets/{ns}/{name}/merge-requests/{number}/{action}",
            post(merges::act),
        )
        .route("/static/{file}", get(crate::http::assets::serve))
        .route("/orgs", post(orgs::create))
        .route("/orgs/{org}", get(orgs::show))
        .route("/orgs/{org}/members", post(orgs::add_member))
        .route("/orgs/{org}/teams", post(orgs::add_team))
        .route("/orgs/{org}/teams/members", post(orgs::add_team_member))
        .route(
            "/orgs/{org}/webhooks",
            get(webhooks::org).post(webhooks::change_org),
        )
}
