//! `POST /datasets/{ns}/{name}/card`: the dataset card's fields (title, description, licence,
//! keywords) as edited on the dataset page, written to its datapackage as one revision by
//! `strata_core::drive::card::describe`, behind the dataset write gate, with the session's
//! CSRF token. A card changed since the form was shown is a conflict, not overwritten.

use axum::extract::{Path, State};
use axum::response::Response;
use serde::Deserialize;

use super::files::refused;
use super::forms::see_other;
use super::signed_in::SignedIn;
use crate::http::csrf::CsrfForm;
use crate::http::error::ApiResult;
use crate::http::extract::session_principal;
use crate::http::state::AppState;
use strata_core::auth::Action;
use strata_core::datasets::gate;
use strata_core::drive::card::{self as edit_card, Describe};

#[derive(Deserialize)]
pub struct CardForm {
    #[serde(default)]
    title: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    licence: String,
    #[serde(default)]
    keywords: String,
    #[serde(default)]
    parent: String,
}

pub async fn save(
    State(state): State<AppState>,
    Path((ns, name)): Path<(String, String)>,
    CsrfForm {
        signed_in: SignedIn {
            id_hash: _,
            session: s,
        },
        form,
    }: CsrfForm<CardForm>,
) -> ApiResult<Response> {
    let who = session_principal(&s)?;
    let back = format!("/datasets/{ns}/{name}");
    let repo = match gate::dataset(&state, &who, &ns, &name, Action::Write).await {
        Ok(repo) => repo,
        Err(e) => return refused(&s, back, e),
    };
    let d = Describe {
        title: form.title,
        description: form.description,
        licence: form.licence,
        keywords: form.keywords,
        parent: form.parent,
    };
    match edit_card::describe(&state, &who, &repo, d).await {
        Ok(_) => Ok(see_other(&format!("{back}?done=card"), &[])),
        Err(e) => refused(&s, back, e),
    }
}
