//! SQL over the tables of every dataset a caller may read, at any revision, where every table a
//! query names is the caller's governed view ([`crate::tables::view`]): removed columns do not
//! exist, redacted and hashed ones hold their transformed values, and the policies' row filters
//! were applied before the query sees a row. Filtering, ordering, grouping, joining, functions and
//! error messages therefore only ever see what the caller may read.
//!
//! A table is named `"ns/name"."resource"` (the default branch's head) or
//! `"ns/name@rev"."resource"` (a branch, tag or revision id), optionally under the catalog
//! `strata`. Only queries run (`SELECT`, `WITH`, `VALUES`): no DDL, DML, `COPY`, `SET`, `EXPLAIN`
//! or `SHOW`, and the engine has no store but the views' (no files, no URLs). A table the caller
//! may not read is named as missing, the same as one that does not exist.
//!
//! Each query has limits ([`Limits`]): its own memory pool (sorts and aggregations spill to
//! disk past it), a time limit, result rows and bytes, queries at once per caller and in all.
//! Every query is audited (`sql.query`): the tables and revisions read and the decisions applied.
//!
//! A table a policy allows the caller aggregates only (`AggregateOnly`) answers one form of
//! query, with noise and from a budget ([`private`]); any other query of it is refused.

pub mod bounds;
mod engine;
mod names;
pub mod out;
pub mod page;
pub mod params;
pub mod private;
mod values;
mod yields;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::MemorySchemaProvider;
use datafusion::execution::memory_pool::FairSpillPool;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{ParquetReadOptions, SessionConfig, SessionContext};
use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::Statement;
use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use serde::Serialize;

use crate::auth::{Action, Principal};
use crate::datasets::gate;
use crate::datasets::policies::Surface;
use crate::error::{Error, Kind, Result};
use crate::tables::{self, engine_error, store};
use crate::Core;

pub use crate::tables::rows::quoted;
pub use engine::Running;
use engine::Turn;
pub use names::Name;
pub use out::Format;
pub use params::{handle_key, Params, Prepared};

/// What every query may use.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Memory for one query's sorts, joins and aggregations before they spill to disk.
    pub memory: usize,
    /// Wall-clock time from the query's start to its last row.
    pub time: Duration,
    /// Rows and bytes (in Arrow's memory) of a result.
    pub rows: u64,
    pub bytes: u64,
    /// Queries running at once, per caller and in all.
    pub per_caller: usize,
    pub total: usize,
    /// Tables one query may name.
    pub tables: usize,
}

/// The limits of this server.
pub const LIMITS: Limits = Limits {
    memory: 256 << 20,
    time: Duration::from_secs(300),
    rows: 10_000_000,
    bytes: 4 << 30,
    per_caller: 2,
    total: 3,
    tables: 16,
};

/// A table a query read, for the caller and the audit log.
#[derive(Debug, Clone, Serialize)]
pub struct TableRead {
    /// As the query named it: `ns/name@rev.resource`.
    pub table: String,
    /// The revision read (a commit id).
    pub revision: String,
    /// What the policies did to it: columns transformed, row filters, the rules that fired.
    pub columns: BTreeMap<String, strata_policy::ColumnAction>,
    pub filters: usize,
    pub policies: Vec<String>,
    /// A table read aggregates only: the answer is noisy, and what it spent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub private: Option<private::Spent>,
}

/// A query's answer: the result's schema, its batches (an error ends them: the result is cut,
/// never silently short), and the tables read.
pub struct Answer {
    pub schema: SchemaRef,
    pub batches: BoxStream<'static, Result<RecordBatch>>,
    pub tables: Vec<TableRead>,
}

/// A query planned for a caller, not yet run: its session, plan and tables, and its place among
/// the queries running.
struct Planned {
    ctx: SessionContext,
    plan: datafusion::logical_expr::LogicalPlan,
    tables: Vec<TableRead>,
    caller: String,
    turn: Turn,
    /// A query of a table read aggregates only: `plan` is its exact figures, to be made noisy.
    private: Option<private::Private>,
}

/// What a query will answer, planned but not run: its result's schema, and its placeholders'
/// (`$1`, `$2`, … with the types the query gives them).
pub struct Described {
    pub result: SchemaRef,
    pub parameters: SchemaRef,
}

/// Describes `query` for `who`, planned through the same checks as [`run`] (its tables the
/// caller's views), with its placeholders unbound.
pub async fn describe(
    core: &Arc<Core>,
    who: &Principal,
    query: &str,
    intent: Option<&str>,
) -> Result<Described> {
    let (core, who, query, intent) = owned(core, who, query, intent);
    let deadline = deadline();
    core.clone()
        .sql
        .apart(deadline, async move {
            let planned = plan(&core, &who, &query, None, intent.as_deref()).await?;
            Ok(Described {
                result: planned.result(),
                parameters: params::schema(&planned.plan)?,
            })
        })
        .await
}

/// The schema `query`'s result will have for `who` with `params` bound, planned but not run.
pub async fn schema(
    core: &Arc<Core>,
    who: &Principal,
    query: &str,
    params: &Params,
    intent: Option<&str>,
) -> Result<SchemaRef> {
    let (core, who, query, intent) = owned(core, who, query, intent);
    let params = params.clone();
    core.clone()
        .sql
        .apart(deadline(), async move {
            let planned = plan(&core, &who, &query, Some(&params), intent.as_deref()).await?;
            Ok(planned.result())
        })
        .await
}

/// Runs `query` for `who` with `params` bound to its placeholders; `intent` is what the
/// policies see as `context.intent`. Everything from parsing to the last batch happens on the
/// SQL runtime ([`engine`]); the answer's batches are handed over from there.
pub async fn run(
    core: &Arc<Core>,
    who: &Principal,
    query: &str,
    params: &Params,
    intent: Option<&str>,
) -> Result<Answer> {
    let (core, who, query, intent) = owned(core, who, query, intent);
    let params = params.clone();
    let deadline = deadline();
    core.clone()
        .sql
        .apart(deadline, async move {
            let answer =
                run_here(&core, &who, &query, &params, intent.as_deref(), deadline).await?;
            Ok(Answer {
                batches: core.sql.forward(answer.batches, deadline),
                ..answer
            })
        })
        .await
}

/// What a query's work on the SQL runtime needs, owned.
fn owned(
    core: &Arc<Core>,
    who: &Principal,
    query: &str,
    intent: Option<&str>,
) -> (Arc<Core>, Principal, String, Option<String>) {
    (
        core.clone(),
        who.clone(),
        query.to_owned(),
        intent.map(str::to_owned),
    )
}

/// When a query starting now must have ended.
fn deadline() -> tokio::time::Instant {
    tokio::time::Instant::now() + LIMITS.time
}

/// [`run`], on the runtime it is called on.
async fn run_here(
    core: &Core,
    who: &Principal,
    query: &str,
    params: &Params,
    intent: Option<&str>,
    deadline: tokio::time::Instant,
) -> Result<Answer> {
    let Planned {
        ctx,
        plan,
        tables: read,
        caller,
        turn,
        private,
    } = plan(core, who, query, Some(params), intent).await?;
    if let Some(private) = private {
        return private::run(
            core,
            (ctx, plan),
            private,
            (&caller, query, params, intent),
            read,
        )
        .await;
    }
    let df = ctx.execute_logical_plan(plan).await.map_err(plan_error)?;
    let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
    let stream = df.execute_stream().await.map_err(query_error)?;
    audit(core, &caller, query, params, &read, intent).await?;
    // The first batch is waited for, so that a query failing at once (a division by zero, a
    // cast) answers its error instead of a result cut short.
    let mut batches = limited(stream, turn, deadline);
    let batches = match batches.next().await {
        Some(Err(e)) => return Err(e),
        Some(Ok(first)) => futures_util::stream::once(async { Ok(first) })
            .chain(batches)
            .boxed(),
        None => futures_util::stream::empty().boxed(),
    };
    Ok(Answer {
        schema,
        batches,
        tables: read,
    })
}

impl Planned {
    /// The schema of the answer.
    fn result(&self) -> SchemaRef {
        match &self.private {
            Some(p) => private::schema(&p.shape),
            None => Arc::new(self.plan.schema().as_arrow().clone()),
        }
    }
}

/// The audit entry of a query run for `caller` (with how many values were bound, not the values).
async fn audit(
    core: &Core,
    caller: &str,
    query: &str,
    params: &Params,
    read: &[TableRead],
    intent: Option<&str>,
) -> Result<()> {
    crate::audit::record(
        core,
        "sql.query",
        Some(caller),
        None,
        serde_json::json!({"query": query, "params": params.len(), "tables": read, "intent": intent}),
    )
    .await
}

/// `query` parsed, its tables registered as `who`'s views, and planned; with `params` (`None`
/// to describe it), the values bound to its placeholders.
async fn plan(
    core: &Core,
    who: &Principal,
    query: &str,
    params: Option<&Params>,
    intent: Option<&str>,
) -> Result<Planned> {
    bounds::check_text(query)?;
    let caller = caller(who);
    let turn = core.sql.take(&caller)?;
    let (ctx, statement) = parse(query, core.tables.views_only(core))?;
    let state = ctx.state();
    let references = state
        .resolve_table_references(&statement)
        .map_err(plan_error)?;
    if references.len() > LIMITS.tables {
        return Err(Error::unprocessable(format!(
            "a query may name at most {} tables",
            LIMITS.tables
        )));
    }
    let count = references.len();
    let mut read = Vec::new();
    let mut seen = HashMap::new();
    let mut terms = None;
    for reference in references {
        let name = Name::of(&reference)?;
        if seen.contains_key(&name.key()) {
            continue;
        }
        let (table, aggregates_only) = register(core, who, &ctx, &name, intent).await?;
        if let Some(t) = aggregates_only {
            terms = Some((name.clone(), t));
        }
        seen.insert(name.key(), ());
        read.push(table);
    }
    let (statement, private) = match terms {
        None => (statement, None),
        Some((name, (gated, terms))) => {
            let shape = private::shape(&statement).map_err(|why| private::refused(&name, &why))?;
            if count != 1 {
                return Err(private::refused(&name, "one table"));
            }
            private::check_columns(&ctx, &name, &shape).await?;
            let (_, exact) = parse(&private::exact_sql(&shape), core.tables.views_only(core))?;
            let private = private::Private {
                shape,
                gated,
                terms,
                name,
            };
            private.affordable(core).await?;
            (exact, Some(private))
        }
    };
    let plan = state
        .statement_to_plan(statement)
        .await
        .map_err(plan_error)?;
    if let Some(p) = &private {
        private::check_plan(&p.name, &plan)?;
    }
    let plan = match params {
        Some(params) => params::bind(plan, params)?,
        None => plan,
    };
    datafusion::execution::context::SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false)
        .verify_plan(&plan)
        .map_err(|e| {
            Error::bad_request(format!("only queries run here: {}", e.strip_backtrace()))
        })?;
    Ok(Planned {
        ctx,
        plan,
        tables: read,
        caller,
        turn,
        private,
    })
}

/// Who is asking, for the limits and the audit log.
fn caller(who: &Principal) -> String {
    match who {
        Principal::Anonymous => "anonymous".into(),
        Principal::User { user, .. } => user.username.clone(),
        Principal::Jwt { sub, .. } => format!("jwt:{sub}"),
    }
}

/// The session options every query is parsed and planned with.
fn config() -> SessionConfig {
    let mut config = SessionConfig::new()
        .with_default_catalog_and_schema("strata", "public")
        .with_information_schema(false)
        .with_target_partitions(2)
        .with_batch_size(8192);
    // Column names are as the tables spell them (`nameOrig`, not `nameorig`).
    config.options_mut().sql_parser.enable_ident_normalization = false;
    config
}

/// A session to plan `text` in, whose only store is the caller's views, and the statement.
fn parse(text: &str, stores: Arc<store::OnlyViews>) -> Result<(SessionContext, DfStatement)> {
    let runtime = RuntimeEnvBuilder::new()
        .with_memory_pool(Arc::new(FairSpillPool::new(LIMITS.memory)))
        .with_object_store_registry(stores)
        .build_arc()
        .map_err(engine_error)?;
    let state = datafusion::execution::SessionStateBuilder::new()
        .with_config(config())
        .with_runtime_env(runtime)
        .with_default_features()
        .with_physical_optimizer_rule(Arc::new(yields::EveryOperatorYields))
        .build();
    let statement = checked(&state, text)?;
    let ctx = SessionContext::new_with_state(state);
    values::bound(&ctx);
    Ok((ctx, statement))
}

/// A query's text parsed and checked as every query is before any table is read: SQL this
/// server reads (400 with the place otherwise), inside the [`bounds`], a query (no DDL, DML,
/// `COPY`, `SET`, `EXPLAIN` or `SHOW`), its `?` placeholders numbered. The text's length is
/// [`bounds::check_text`]'s to check first; the parse itself recurses, so it runs where a deep
/// statement has room (the SQL runtime's threads).
pub fn statement(text: &str) -> Result<DfStatement> {
    let state = datafusion::execution::SessionStateBuilder::new()
        .with_config(config())
        .build();
    checked(&state, text)
}

/// [`statement`], parsed in `state` (a query's own session: one session a query).
fn checked(state: &datafusion::execution::SessionState, text: &str) -> Result<DfStatement> {
    let statement = state
        .sql_to_statement(text, &datafusion::config::Dialect::Generic)
        .map_err(|e| {
            let mut message = format!("not SQL this server reads: {}", e.strip_backtrace());
            if !message.contains("Line: ") {
                // The parser names no place when the text ends too soon: its end is the place.
                let line = text.lines().count().max(1);
                let column = text.lines().last().map_or(0, |l| l.chars().count()) + 1;
                message.push_str(&format!(" at Line: {line}, Column: {column}"));
            }
            Error::bad_request(message)
        })?;
    bounds::check(&statement)?;
    match statement {
        DfStatement::Statement(mut s) if matches!(*s, Statement::Query(_)) => {
            params::number_question_marks(&mut s)?;
            Ok(DfStatement::Statement(s))
        }
        DfStatement::Explain(_) => Err(Error::bad_request(
            "EXPLAIN is not run here: only queries (SELECT, WITH, VALUES) are",
        )),
        _ => Err(Error::bad_request(
            "only queries run here (SELECT, WITH, VALUES): no DDL, DML, COPY, SET or SHOW",
        )),
    }
}

/// Registers the caller's view of the table `name` in `ctx`.
async fn register(
    core: &Core,
    who: &Principal,
    ctx: &SessionContext,
    name: &Name,
    intent: Option<&str>,
) -> Result<(
    TableRead,
    Option<(gate::Gated, strata_policy::AggregateOnly)>,
)> {
    let missing = || {
        Error::not_found(format!(
            "no table {name}: it does not exist, or you may not read it"
        ))
    };
    let hidden = |e: Error| match e.kind {
        Kind::NotFound | Kind::Forbidden | Kind::Unauthenticated | Kind::Gone => missing(),
        // Renamed, and the caller sees it: say the new name.
        Kind::Moved => Error::not_found(format!("{}: query it by that name", e.message)),
        _ => e,
    };
    let gated = gate::shared(core, who, &name.ns, &name.name, Action::Read)
        .await
        .map_err(hidden)?;
    // A decision allowing aggregates only opens too: such a table answers private queries only.
    let opened = tables::open_as(
        core,
        &gated,
        (&name.resource, name.rev.as_deref(), intent),
        Surface::Sql,
        true,
    )
    .await
    .map_err(hidden)?;
    let revision = opened.catalog.revision.clone().unwrap_or_default();
    let view = tables::view::view(core, gated.id, &opened).await?;
    let path = core.tables.know(core, &view);
    let catalog = ctx
        .catalog("strata")
        .ok_or_else(|| Error::internal("the SQL session has no catalog"))?;
    let schema_name = name.schema();
    if catalog.schema(&schema_name).is_none() {
        catalog
            .register_schema(&schema_name, Arc::new(MemorySchemaProvider::new()))
            .map_err(engine_error)?;
    }
    ctx.register_parquet(
        name.reference(),
        format!("{}{path}", store::URL),
        ParquetReadOptions::default().file_extension(""),
    )
    .await
    .map_err(engine_error)?;
    let read = TableRead {
        table: name.to_string(),
        revision,
        columns: opened.decision.columns.clone(),
        filters: opened.decision.filters.len(),
        policies: opened.decision.policies.clone(),
        private: None,
    };
    Ok((read, opened.decision.aggregate.map(|terms| (gated, terms))))
}

/// A planning error: what the query got wrong (an unknown column, a type mismatch) is 400.
fn plan_error(e: datafusion::error::DataFusionError) -> Error {
    use datafusion::error::DataFusionError as E;
    match e.find_root() {
        E::SQL(..) | E::Plan(_) | E::SchemaError(..) | E::NotImplemented(_) => {
            Error::bad_request(e.strip_backtrace())
        }
        _ => query_error(e),
    }
}

/// An error while the query runs: out of memory is 503, a value the query cannot handle (a
/// cast, a division by zero) 400.
fn query_error(e: datafusion::error::DataFusionError) -> Error {
    use datafusion::error::DataFusionError as E;
    match e.find_root() {
        E::ResourcesExhausted(m) => Error::new(
            Kind::Busy,
            format!(
                "the query needs more memory than it may use ({} MiB, with spilling): {m}",
                LIMITS.memory >> 20
            ),
        ),
        E::ArrowError(..) | E::Execution(_) | E::Plan(_) | E::SchemaError(..) => {
            Error::bad_request(format!("the query failed: {}", e.strip_backtrace()))
        }
        _ => engine_error(e),
    }
}

/// The result's batches within the limits; `turn` is held until they end or are dropped
/// (dropping them, as a client going away does, stops the query).
fn limited(
    stream: datafusion::execution::SendableRecordBatchStream,
    turn: Turn,
    deadline: tokio::time::Instant,
) -> BoxStream<'static, Result<RecordBatch>> {
    let state = (stream, turn, 0u64, 0u64, false);
    futures_util::stream::unfold(
        state,
        move |(mut stream, turn, rows, bytes, done)| async move {
            if done {
                return None;
            }
            let next = match tokio::time::timeout_at(deadline, stream.next()).await {
                Err(_) => Some(Err(engine::past_deadline())),
                Ok(None) => None,
                Ok(Some(Err(e))) => Some(Err(query_error(e))),
                Ok(Some(Ok(b))) => {
                    let (rows, bytes) = (
                        rows + b.num_rows() as u64,
                        bytes + b.get_array_memory_size() as u64,
                    );
                    if rows > LIMITS.rows || bytes > LIMITS.bytes {
                        Some(Err(Error::too_large(format!(
                            "the result has more than {} rows or {} MiB: add a LIMIT or aggregate",
                            LIMITS.rows,
                            LIMITS.bytes >> 20
                        ))))
                    } else {
                        return Some((Ok(b), (stream, turn, rows, bytes, false)));
                    }
                }
            }?;
            Some((next, (stream, turn, rows, bytes, true)))
        },
    )
    .boxed()
}
