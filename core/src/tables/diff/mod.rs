//! Row-level differences of one table between two revisions, as a caller may see them: the
//! columns added, removed and retyped, the rows added, removed and changed (matched on the Table
//! Schema's `primaryKey`, or as whole rows where there is none), and a page of those rows with
//! their changed cells. Without a declared key, rows are matched on a column that has a value
//! in every row and no two the same in both revisions, when there is one (and the diff says it
//! was inferred), so an edited row reads as changed rather than removed and added.
//!
//! Both revisions are read through views made for the diff: columns the caller's policies remove
//! are gone and each side's row filters applied, but redacted and hashed columns are compared on
//! their real values, so a change to them shows. What comes out goes through the policies again:
//! such a column's cells hold the redaction or the hash, never the values. A column a policy
//! transforms at either revision is transformed in both.
//!
//! Neither table is held in memory. Keyed, each side's view has a digest index made once
//! ([`index`]: the key and a digest of the other cells, in key order), and the two indexes are
//! merge-joined. Otherwise (no key, a key that repeats, a retyped column) DataFusion groups both
//! sides' rows on the key, each row's other cells reduced to a digest ([`digest`]), spilling past
//! the shared memory pool. Either way the rows that differ come in key order, counted, and only a
//! page of them is kept. That page's rows are then read from each side and compared cell by
//! cell ([`scan`]).

use std::collections::BTreeMap;

use datafusion::arrow::datatypes::Schema;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::prelude::{ParquetReadOptions, SessionConfig, SessionContext};
use serde::Serialize;
use serde_json::{Map, Value};
use strata_policy::table::FieldType;
use strata_policy::{ColumnAction, Decision};

mod digest;
pub mod feed;
mod index;
mod out;
mod query;
mod scan;

use super::rows;
use super::view::{self, View};
use super::{engine_error, open, store, Opened};
use crate::datasets::gated::Gated;
use crate::datasets::policies::Surface;
use crate::error::{Error, Result};
use crate::Core;
use query::Query;

pub(crate) use index::ahead as index_ahead;

/// The most changed rows one page shows.
pub const MAX_LIMIT: usize = 1000;

/// What a diff is asked for.
#[derive(Debug, Clone)]
pub struct Request {
    pub resource: String,
    /// Revisions (branches, tags or ids): `to` defaults to the default branch's head.
    pub from: String,
    pub to: Option<String>,
    pub intent: Option<String>,
    pub offset: u64,
    pub limit: usize,
}

/// A table's differences between two revisions.
#[derive(Debug, Clone, Serialize)]
pub struct TableDiff {
    pub resource: String,
    /// The revisions compared (commit ids).
    pub from: String,
    pub to: String,
    /// The columns rows are matched on (the Table Schema's `primaryKey`); empty when rows are
    /// compared whole.
    pub key: Vec<String>,
    /// Whether `key` was inferred (unique and never empty in both revisions) rather than
    /// declared by the Table Schema.
    pub key_inferred: bool,
    /// Columns unique and never empty at the later revision, that could be declared its key
    /// (only when it declares none; tables of more than a million rows are not looked at).
    pub candidate_keys: Vec<String>,
    pub columns: ColumnChanges,
    /// Every column a row may show, in order: the later revision's, then those it removed.
    pub names: Vec<String>,
    pub counts: Counts,
    /// A page of the rows that differ, in key order.
    pub rows: Vec<RowChange>,
    pub offset: u64,
    pub limit: usize,
    /// The columns the policies transform for this caller: their changes show, their values
    /// never.
    pub governed: BTreeMap<String, ColumnAction>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ColumnChanges {
    pub added: Vec<rows::Column>,
    pub removed: Vec<rows::Column>,
    pub retyped: Vec<Retyped>,
}

/// A column whose type changed.
#[derive(Debug, Clone, Serialize)]
pub struct Retyped {
    pub name: String,
    pub before: &'static str,
    pub after: &'static str,
}

/// Rows that differ, in all.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub added: u64,
    pub removed: u64,
    /// Rows whose key is in both revisions with a cell that differs (none when rows are compared
    /// whole: a changed row is one removed and one added).
    pub changed: u64,
}

/// One row that differs.
#[derive(Debug, Clone, Serialize)]
pub struct RowChange {
    /// `added`, `removed` or `changed`.
    pub change: &'static str,
    /// The row's key (when matched on one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<Map<String, Value>>,
    /// How many copies of the row were added or removed (when compared whole).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    /// Its cells before: all of a removed row's, a changed row's changed ones (a null is absent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<Map<String, Value>>,
    /// Its cells after: all of an added row's, a changed row's changed ones.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<Map<String, Value>>,
    /// A changed row's changed columns.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub changed: Vec<String>,
}

/// Column names the diff's own query uses: none a table can collide with in practice, and
/// checked.
const A: &str = "\u{1}a:";
const B: &str = "\u{1}b:";
const D: &str = "\u{1}d:";
const MARK: &str = "\u{1}mark";
const H: &str = "\u{1}h";
const KH: &str = "\u{1}kh";
const NA: &str = "\u{1}na";
const NB: &str = "\u{1}nb";

/// The differences `req` asks for of a table of `gated`.
pub async fn diff(core: &Core, gated: &Gated, req: &Request) -> Result<TableDiff> {
    if req.limit == 0 || req.limit > MAX_LIMIT {
        return Err(Error::unprocessable(format!(
            "limit must be 1 to {MAX_LIMIT}"
        )));
    }
    // A request waits for this: the views ahead of time wait for it.
    let _first = core.tables.priority.foreground();
    let intent = req.intent.as_deref();
    let before = open(
        core,
        gated,
        &req.resource,
        Some(&req.from),
        intent,
        Surface::Table,
    )
    .await?;
    let after = open(
        core,
        gated,
        &req.resource,
        req.to.as_deref(),
        intent,
        Surface::Table,
    )
    .await?;
    // A column transformed at either revision is transformed in both.
    let mut governed = before.decision.columns.clone();
    for (c, a) in &after.decision.columns {
        let e = governed.entry(c.clone()).or_insert(*a);
        *e = (*e).max(*a);
    }
    let (va, vb) = (
        compared(core, gated, &before, &governed).await?,
        compared(core, gated, &after, &governed).await?,
    );
    let ctx = context(core, 2);
    for (name, v) in [("a", &va), ("b", &vb)] {
        let path = core.tables.know(core, v);
        ctx.register_parquet(
            name,
            format!("{}{path}", store::URL),
            ParquetReadOptions::default().file_extension(""),
        )
        .await
        .map_err(engine_error)?;
    }
    let schema_of = |name: &str| {
        let ctx = ctx.clone();
        let name = name.to_owned();
        async move {
            let df = ctx.table(name.as_str()).await.map_err(engine_error)?;
            Ok::<Schema, Error>(df.schema().as_arrow().clone())
        }
    };
    let (sa, sb) = (schema_of("a").await?, schema_of("b").await?);
    if sa
        .fields()
        .iter()
        .chain(sb.fields())
        .any(|f| f.name().starts_with('\u{1}'))
    {
        return Err(Error::unprocessable(
            "a column name starts with the control character U+0001: such tables are not compared",
        ));
    }
    let ty = |s: &Schema, name: &str| {
        s.field_with_name(name)
            .map(|f| FieldType::of_arrow(f.data_type()).frictionless())
            .unwrap_or("string")
    };
    let mut columns = ColumnChanges::default();
    let mut common = Vec::new();
    for f in sa.fields() {
        match sb.field_with_name(f.name()) {
            Ok(g) => {
                if f.data_type() != g.data_type() {
                    columns.retyped.push(Retyped {
                        name: f.name().clone(),
                        before: ty(&sa, f.name()),
                        after: ty(&sb, f.name()),
                    });
                }
                common.push(f.name().clone());
            }
            Err(_) => columns.removed.push(rows::Column {
                name: f.name().clone(),
                ty: ty(&sa, f.name()),
            }),
        }
    }
    for f in sb.fields() {
        if sa.field_with_name(f.name()).is_err() {
            columns.added.push(rows::Column {
                name: f.name().clone(),
                ty: ty(&sb, f.name()),
            });
        }
    }
    if common.is_empty() {
        return Err(Error::unprocessable(
            "the two revisions of the table share no column: there are no rows to compare",
        ));
    }
    let retyped: Vec<&str> = columns.retyped.iter().map(|r| r.name.as_str()).collect();
    // The key: the Table Schema's, if every column of it is in both revisions and visible.
    let declared = if after.table.primary_key.is_empty() {
        &before.table.primary_key
    } else {
        &after.table.primary_key
    };
    let (mut key, mut key_inferred, mut candidate_keys) = (Vec::new(), false, Vec::new());
    if !declared.is_empty() && declared.iter().all(|k| common.contains(k)) {
        key = declared.clone();
    } else if declared.is_empty() {
        // A column a policy transforms for the caller is never a key: keys are shown as they are.
        let open: Vec<String> = common
            .iter()
            .filter(|c| !governed.contains_key(*c))
            .cloned()
            .collect();
        let found = inferred_keys(core, (&va, &vb), &open, &retyped).await?;
        candidate_keys = found.1;
        if let Some(k) = found.0 {
            (key, key_inferred) = (vec![k], true);
        }
    }
    // Keyed, with no column retyped: by the two views' digest indexes, a merge-join.
    let mut indexed = match key.is_empty() || !retyped.is_empty() {
        true => None,
        false => {
            let cells: Vec<String> = common
                .iter()
                .filter(|c| !key.contains(c))
                .cloned()
                .collect();
            let source = |o: &Opened| format!("{}:{}", o.table.name, o.object.0);
            let (sa, sb) = (source(&before), source(&after));
            let (ia, ib) = tokio::try_join!(
                index::index(core, &va, &sa, &key, &cells),
                index::index(core, &vb, &sb, &key, &cells),
            )?;
            match (ia, ib) {
                (Some(ia), Some(ib)) => Some(
                    index::differing(core, (&ia, &ib), key.len(), req.offset, req.limit).await?,
                ),
                _ => None,
            }
        }
    };
    // Keyed rows are compared on their key only while it is one: a key with more than one row
    // on a side has the rows compared whole.
    let (found, query) = loop {
        let query = Query {
            a: &sa,
            b: &sb,
            common: &common,
            retyped: &retyped,
            key: &key,
        };
        if let Some(found) = indexed.take() {
            break (found, query);
        }
        if let Some(found) = scan::differing(&ctx, &query, req.offset, req.limit).await? {
            break (found, query);
        }
        key = Vec::new();
        key_inferred = false;
    };
    let rows = if found.page.is_empty() {
        Vec::new()
    } else {
        let small = scan::page_rows(&ctx, &query, &found).await?;
        let page = run(&small, &query.page()).await?;
        out::shown(core, &page, &query, &governed)?
    };
    let counts = found.counts;
    let key = query.key.to_vec();
    let names = sb
        .fields()
        .iter()
        .chain(
            sa.fields()
                .iter()
                .filter(|f| sb.field_with_name(f.name()).is_err()),
        )
        .map(|f| f.name().clone())
        .collect();
    Ok(TableDiff {
        names,
        resource: req.resource.clone(),
        from: before.catalog.revision.clone().unwrap_or_default(),
        to: after.catalog.revision.clone().unwrap_or_default(),
        key,
        key_inferred,
        candidate_keys,
        columns,
        counts,
        rows,
        offset: req.offset,
        limit: req.limit,
        // A removed column does not exist for the caller: it is not named either.
        governed: governed
            .into_iter()
            .filter(|(_, a)| *a != ColumnAction::Remove)
            .collect(),
    })
}

/// The column rows are best matched on when no key is declared (one unique and never empty on
/// both sides, in both and of the same type), and the later side's candidate keys among
/// `common` (the columns no policy transforms for the caller); nothing for
/// tables of more than [`INFER_ROWS`] rows, whose statistics would cost a read of each.
async fn inferred_keys(
    core: &Core,
    (a, b): (&View, &View),
    common: &[String],
    retyped: &[&str],
) -> Result<(Option<String>, Vec<String>)> {
    if a.rows > INFER_ROWS || b.rows > INFER_ROWS {
        return Ok((None, Vec::new()));
    }
    let (sa, sb) = (
        super::stats::stats(core, a).await?,
        super::stats::stats(core, b).await?,
    );
    let later: Vec<String> = super::stats::candidate_keys(&sb)
        .into_iter()
        .filter(|c| common.contains(c))
        .collect();
    let earlier = super::stats::candidate_keys(&sa);
    let both: Vec<String> = later
        .iter()
        .filter(|c| earlier.contains(c) && common.contains(c) && !retyped.contains(&c.as_str()))
        .cloned()
        .collect();
    // A table of one row has every column unique: nothing to infer from.
    let key = (sa.rows > 1 && sb.rows > 1)
        .then(|| super::stats::likely_key(&both).cloned())
        .flatten();
    Ok((key, later))
}

/// The most rows a side may have for its key to be inferred.
const INFER_ROWS: u64 = 1_000_000;

/// The view a side is compared through: the policies' removals and this side's row filters,
/// but no other transform (those apply to what comes out).
async fn compared(
    core: &Core,
    gated: &Gated,
    side: &Opened,
    governed: &BTreeMap<String, ColumnAction>,
) -> Result<View> {
    let mut side = side.clone();
    let present: Vec<&str> = side.table.columns.iter().map(|c| c.name.as_str()).collect();
    side.decision = Decision {
        columns: governed
            .iter()
            .filter(|(c, a)| **a == ColumnAction::Remove && present.contains(&c.as_str()))
            .map(|(c, a)| (c.clone(), *a))
            .collect(),
        filters: side.decision.filters.clone(),
        ..Decision::default()
    };
    view::view(core, gated.id, &side).await
}

/// A session over the shared runtime with `partitions` partitions, with the row digest.
fn context(core: &Core, partitions: usize) -> SessionContext {
    let (runtime, _) = core.tables.engine(core);
    let mut config = SessionConfig::new()
        .with_target_partitions(partitions)
        .with_batch_size(8192);
    config.options_mut().sql_parser.enable_ident_normalization = false;
    let ctx = SessionContext::new_with_config_rt(config, runtime);
    ctx.register_udf(digest::udf());
    ctx
}

async fn run(ctx: &SessionContext, sql: &str) -> Result<Vec<RecordBatch>> {
    let df = ctx.sql(sql).await.map_err(diff_error)?;
    df.collect().await.map_err(diff_error)
}

fn diff_error(e: datafusion::error::DataFusionError) -> Error {
    if let datafusion::error::DataFusionError::ResourcesExhausted(m) = e.find_root() {
        return Error::new(
            crate::error::Kind::Busy,
            format!("the diff needs more memory than the server has free right now: {m}"),
        );
    }
    engine_error(e)
}
