//! Delta Sharing (the OpenSharing protocol): recipients outside strata read shared tables with
//! `delta_sharing` (pandas, Spark, Power BI…) from a profile file, without an account. A
//! namespace's admins make shares ([`shares`]: tables of their datasets, each at a branch or a
//! tag, with a column list and row filters of its own) and recipients
//! (`crate::sharing::recipients`: a bearer token, an organisation, a purpose, an expiry, an
//! address allow-list).
//!
//! A recipient reads **its governed view**: every table is opened through the read gate as the
//! recipient (a capability for that dataset alone), the policies decide with the recipient as
//! their subject (`subject.recipient`, its organisation, its purpose as the intent), the share's
//! own column list and filters are added to that decision, and the file it gets is the view
//! made for that decision (`tables::view`): a column the policies or the share remove is in no
//! byte it receives. A version is a revision of the ref that changed the table ([`versions`]);
//! its file is that revision's view, reached through a signed URL of strata's that decides
//! again when read ([`files`]); the change data feed between two versions is the row diff of
//! their views (`tables::diff::feed`). Every metadata, query and changes call is audited.
//!
//! Nothing tells a recipient what is not shared with it: a share, schema or table it does not
//! have is the same 404 as one that does not exist.

pub mod files;
mod read;
mod schema;
pub mod shares;
pub mod versions;

use hmac::{KeyInit, Mac};
use serde_json::{json, Value};
use strata_policy::Subject;

use super::Kept;
use crate::auth::{Action, Principal, Scopes};
use crate::datasets::gate::{self, Gated};
use crate::db::{DeltaShare, DeltaTable, Recipient};
use crate::error::{Error, Kind, Result};
use crate::sharing::recipients;
use crate::Core;

pub use read::{changes, metadata, query, version, Answer, ChangesAsk, QueryAsk};

/// What Delta Sharing keeps on this server: the files recently read, each decided again at most
/// every [`files::DECIDED`].
#[derive(Default)]
pub struct DeltaSharing {
    files: Kept<files::Served>,
}

impl std::fmt::Debug for DeltaSharing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DeltaSharing")
    }
}

/// A recipient calling, as policies see it.
#[derive(Debug, Clone)]
pub struct Reader {
    pub recipient: Recipient,
    subject: Subject,
}

/// The recipient whose bearer token `secret` is (401 for a wrong, revoked or expired one).
pub async fn reader(core: &Core, secret: &str) -> Result<Reader> {
    let recipient = recipients::authenticate(core, secret).await?;
    let subject = recipients::subject(core, &recipient).await?;
    Ok(Reader { recipient, subject })
}

impl Reader {
    /// Who the audit log and the policies' log name.
    fn actor(&self) -> String {
        format!(
            "recipient:{}/{}",
            self.recipient.namespace, self.recipient.name
        )
    }
}

/// A table a recipient names: share, schema, table (compared without case).
#[derive(Debug, Clone)]
pub struct Target {
    pub share: String,
    pub schema: String,
    pub table: String,
}

/// The most items a list answers at once, and what it answers unasked.
const PAGE: i64 = 500;

/// A list's paging, as a request asks it.
#[derive(Debug, Clone, Default)]
pub struct PageAsk {
    pub max_results: Option<i64>,
    pub page_token: Option<String>,
}

fn missing(what: &str) -> Error {
    Error::not_found(format!("{what} does not exist or is not shared with you"))
}

/// The share `name` of the recipient.
async fn share_of(core: &Core, r: &Reader, name: &str) -> Result<DeltaShare> {
    let name = name.to_ascii_lowercase();
    core.db
        .recipient_shares(r.recipient.id)
        .await?
        .into_iter()
        .find(|s| s.name == name)
        .ok_or_else(|| missing(&format!("share {name:?}")))
}

/// The table `t` names for the recipient.
pub(crate) async fn table_of(core: &Core, r: &Reader, t: &Target) -> Result<DeltaTable> {
    let share = share_of(core, r, &t.share).await?;
    let (schema, table) = (t.schema.to_ascii_lowercase(), t.table.to_ascii_lowercase());
    core.db
        .delta_tables(share.id)
        .await?
        .into_iter()
        .find(|x| x.schema_name == schema && x.name == table)
        .ok_or_else(|| missing(&format!("table {}.{}.{}", share.name, schema, table)))
}

/// The dataset of `t`, opened for the recipient: a capability to read that dataset alone, with
/// the recipient as the policies' subject.
pub(crate) async fn gated(core: &Core, r: &Reader, t: &DeltaTable) -> Result<Gated> {
    let path = format!("{}/{}", t.repo_namespace, t.repo_name);
    let scopes = Scopes::parse(&format!("dataset:{path}:read"))
        .map_err(|_| missing(&format!("table {}.{}", t.schema_name, t.name)))?;
    let who = Principal::Jwt {
        sub: r.actor(),
        scopes,
    };
    let gated = gate::dataset(core, &who, &t.repo_namespace, &t.repo_name, Action::Read)
        .await
        .map_err(|e| match e.kind {
            Kind::NotFound | Kind::Forbidden | Kind::Unauthenticated => {
                missing(&format!("table {}.{}", t.schema_name, t.name))
            }
            _ => e,
        })?;
    let _ = gated.policy_subject.set(r.subject.clone());
    Ok(gated)
}

/// The shares of the recipient.
pub async fn list_shares(core: &Core, r: &Reader, page: &PageAsk) -> Result<Value> {
    let items = core
        .db
        .recipient_shares(r.recipient.id)
        .await?
        .into_iter()
        .map(|s| json!({"name": s.name, "id": share_id(&s)}))
        .collect();
    paged(core, r, "shares", items, page)
}

/// One share of the recipient.
pub async fn get_share(core: &Core, r: &Reader, share: &str) -> Result<Value> {
    let s = share_of(core, r, share).await?;
    Ok(json!({"share": {"name": s.name, "id": share_id(&s)}}))
}

/// The schemas of a share.
pub async fn list_schemas(core: &Core, r: &Reader, share: &str, page: &PageAsk) -> Result<Value> {
    let s = share_of(core, r, share).await?;
    let mut names: Vec<String> = core
        .db
        .delta_tables(s.id)
        .await?
        .into_iter()
        .map(|t| t.schema_name)
        .collect();
    names.dedup();
    let items = names
        .into_iter()
        .map(|n| json!({"name": n, "share": s.name}))
        .collect();
    paged(core, r, &format!("schemas/{}", s.id), items, page)
}

/// The tables of a share's schema, or (`schema` none) of the whole share.
pub async fn list_tables(
    core: &Core,
    r: &Reader,
    share: &str,
    schema: Option<&str>,
    page: &PageAsk,
) -> Result<Value> {
    let s = share_of(core, r, share).await?;
    let tables = core.db.delta_tables(s.id).await?;
    let schema = schema.map(str::to_ascii_lowercase);
    if let Some(sc) = &schema {
        if !tables.iter().any(|t| &t.schema_name == sc) {
            return Err(missing(&format!("schema {}.{sc}", s.name)));
        }
    }
    let items = tables
        .into_iter()
        .filter(|t| schema.as_ref().is_none_or(|sc| &t.schema_name == sc))
        .map(|t| {
            json!({"name": t.name, "schema": t.schema_name, "share": s.name,
                "shareId": share_id(&s), "id": t.uuid})
        })
        .collect();
    let list = format!("tables/{}/{}", s.id, schema.as_deref().unwrap_or("*"));
    paged(core, r, &list, items, page)
}

/// A share's id as the protocol shows it: stable, and naming nothing else.
fn share_id(s: &DeltaShare) -> String {
    crate::auth::secrets::stored(&format!("delta share {}", s.id))[..32].to_owned()
}

/// The page of `items` (in their order) `page` asks for, with the token of the next if any: a
/// token is the offset and a signature of it for this recipient and this list, so it neither
/// crosses lists nor is made up.
fn paged(core: &Core, r: &Reader, list: &str, items: Vec<Value>, page: &PageAsk) -> Result<Value> {
    let most = page.max_results.unwrap_or(PAGE);
    if !(0..=PAGE).contains(&most) {
        return Err(Error::bad_request(format!(
            "maxResults must be 0 to {PAGE}, not {most}"
        )));
    }
    let from = match page.page_token.as_deref().filter(|t| !t.is_empty()) {
        None => 0,
        Some(t) => {
            let bad = || Error::bad_request("invalid 'pageToken': it is not one this list gave");
            let (offset, _) = t.split_once('-').ok_or_else(bad)?;
            let offset = i64::from_str_radix(offset, 16).map_err(|_| bad())?;
            if page_token(core, r, list, offset) != t || offset as usize > items.len() {
                return Err(bad());
            }
            offset
        }
    } as usize;
    let end = (from + most as usize).min(items.len());
    let mut out = json!({"items": items[from..end]});
    if end < items.len() {
        out["nextPageToken"] = json!(page_token(core, r, list, end as i64));
    }
    Ok(out)
}

fn page_token(core: &Core, r: &Reader, list: &str, offset: i64) -> String {
    let key = core.jwt.derive("strata delta sharing pages");
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).expect("any key length");
    mac.update(format!("{}\n{list}\n{offset}", r.recipient.id).as_bytes());
    let sig = strata_lfs::lower_hex(&mac.finalize().into_bytes()[..12]);
    format!("{offset:x}-{sig}")
}
