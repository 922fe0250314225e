//! Arrow Flight SQL on strata's port, beside the plain Flight service: `flight.rs` hands over
//! every descriptor, ticket and action of the Flight SQL protocol. Statement queries and prepared
//! statements run through `strata_core::sql`, so every table a query names is the caller's governed
//! view; `GetCatalogs`, `GetDbSchemas` and `GetTables` list only the tables the caller may read
//! (a schema is a dataset, `ns/name`; every table's type is `TABLE`, `GetTableTypes`' one). A
//! prepared statement keeps nothing on the server: its handle is its query text, and values bound
//! to its placeholders (`DoPut`) come back in a new handle ([`sql::Prepared`]); it is planned and
//! checked again on every use. Nothing is written: updates and ingestion are refused. The
//! policies' `context.intent` comes from the call header `x-strata-intent`.

use std::sync::LazyLock;

use arrow_flight::decode::FlightRecordBatchStream;
use arrow_flight::encode::FlightDataEncoderBuilder;
use arrow_flight::error::FlightError;
use arrow_flight::flight_service_server::FlightService;
use arrow_flight::sql::metadata::{SqlInfoData, SqlInfoDataBuilder};
use arrow_flight::sql::server::FlightSqlService;
use arrow_flight::sql::server::PeekableFlightDataStream;
use arrow_flight::sql::{
    ActionClosePreparedStatementRequest, ActionCreatePreparedStatementRequest,
    ActionCreatePreparedStatementResult, CommandGetCatalogs, CommandGetDbSchemas,
    CommandGetSqlInfo, CommandGetTableTypes, CommandGetTables, CommandPreparedStatementQuery,
    CommandPreparedStatementUpdate, CommandStatementIngest, CommandStatementQuery,
    CommandStatementSubstraitPlan, CommandStatementUpdate, DoPutPreparedStatementResult,
    ProstMessageExt, SqlInfo, TicketStatementQuery,
};
use arrow_flight::{
    Action, FlightDescriptor, FlightEndpoint, FlightInfo, IpcMessage, SchemaAsIpc, Ticket,
};
use futures_util::{StreamExt, TryStreamExt};
use prost::Message;
use strata_policy::{arrow_ipc_writer, arrow_schema};
use tonic::{Request, Response, Status};

use super::flight::{caller, status};
use crate::http::state::AppState;
use strata_core::auth::Principal;
use strata_core::sql;

/// The call header whose value policies see as `context.intent`.
pub const INTENT: &str = "x-strata-intent";

/// Whether `bytes` (a descriptor's command or a ticket) is a Flight SQL message.
pub fn is_sql(bytes: &[u8]) -> bool {
    arrow_flight::sql::Any::decode(bytes).is_ok_and(|a| {
        a.type_url
            .starts_with("type.googleapis.com/arrow.flight.protocol.sql.")
    })
}

pub struct FlightSql {
    pub(super) state: AppState,
}

/// What the server says of itself (`GetSqlInfo`).
static INFO: LazyLock<SqlInfoData> = LazyLock::new(|| {
    let mut b = SqlInfoDataBuilder::new();
    b.append(SqlInfo::FlightSqlServerName, "strata");
    b.append(SqlInfo::FlightSqlServerVersion, env!("CARGO_PKG_VERSION"));
    b.append(SqlInfo::FlightSqlServerArrowVersion, "59");
    b.append(SqlInfo::FlightSqlServerReadOnly, true);
    b.append(SqlInfo::FlightSqlServerSql, true);
    b.append(SqlInfo::FlightSqlServerSubstrait, false);
    b.append(SqlInfo::FlightSqlServerTransaction, 0i32);
    b.append(SqlInfo::FlightSqlServerCancel, false);
    b.append(SqlInfo::SqlIdentifierQuoteChar, "\"");
    b.build().expect("the server's SQL info builds")
});

fn intent<T>(request: &Request<T>) -> Option<String> {
    request
        .metadata()
        .get(INTENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// The most FlightData messages and bytes a `DoPut` of bound values may send.
const PUT_MESSAGES: usize = 64;
const PUT_BYTES: usize = 2 * sql::params::MAX_BYTES;

/// What Flight SQL calls that write are told.
fn read_only() -> Status {
    Status::unimplemented(
        "strata's SQL reads only: write datasets through git, LFS or the REST API",
    )
}

fn internal(e: impl std::fmt::Display) -> Status {
    Status::internal(e.to_string())
}

/// A flight of `schema` with one endpoint whose ticket is `ticket` (a Flight SQL message).
fn info(
    schema: &arrow_schema::Schema,
    ticket: impl ProstMessageExt,
    descriptor: FlightDescriptor,
) -> Result<Response<FlightInfo>, Status> {
    let ticket = Ticket::new(ticket.as_any().encode_to_vec());
    Ok(Response::new(
        FlightInfo::new()
            .try_with_schema(schema)
            .map_err(internal)?
            .with_descriptor(descriptor)
            .with_endpoint(FlightEndpoint::new().with_ticket(ticket))
            .with_total_records(-1)
            .with_total_bytes(-1),
    ))
}

/// The table types there are (`GetTableTypes`): `TABLE`, in the column the protocol names.
fn table_types() -> strata_policy::arrow_array::RecordBatch {
    use strata_policy::arrow_array::{ArrayRef, RecordBatch, StringArray};
    let schema = arrow_schema::Schema::new(vec![arrow_schema::Field::new(
        "table_type",
        arrow_schema::DataType::Utf8,
        false,
    )]);
    let types: ArrayRef = std::sync::Arc::new(StringArray::from(vec!["TABLE"]));
    RecordBatch::try_new(std::sync::Arc::new(schema), vec![types])
        .expect("one text column of one row")
}

type DoGet = <FlightSql as FlightService>::DoGetStream;

/// One batch as a `do_get` answer.
fn one(batch: strata_policy::arrow_array::RecordBatch) -> Response<DoGet> {
    let schema = batch.schema();
    let stream = FlightDataEncoderBuilder::new()
        .with_schema(schema)
        .build(futures_util::stream::once(async { Ok(batch) }))
        .map_err(internal);
    Response::new(stream.boxed())
}

impl FlightSql {
    /// The statement a handle stands for (read only once its caller is known: a handle with
    /// values must carry this server's signature before they are read).
    fn statement(&self, handle: &[u8]) -> Result<sql::Prepared, Status> {
        sql::Prepared::of(handle, &sql::handle_key(&self.state)).map_err(status)
    }

    /// A statement's handle, signed when it carries values.
    fn handle(&self, statement: &sql::Prepared) -> Result<prost::bytes::Bytes, Status> {
        Ok(statement
            .handle(&sql::handle_key(&self.state))
            .map_err(status)?
            .into())
    }

    /// The schema the result of the statement `handle` stands for will have, planned (not run)
    /// for the caller.
    async fn schema<T>(
        &self,
        request: &Request<T>,
        handle: &[u8],
    ) -> Result<arrow_schema::SchemaRef, Status> {
        let who = caller(&self.state, request).await?;
        let statement = self.statement(handle)?;
        let (query, params) = (&statement.query, &statement.params);
        sql::schema(
            &self.state.core,
            &who,
            query,
            params,
            intent(request).as_deref(),
        )
        .await
        .map_err(status)
    }

    /// The statement `handle` stands for, run for the caller, its batches as Flight data.
    async fn run(
        &self,
        request: &Request<Ticket>,
        handle: &[u8],
    ) -> Result<Response<DoGet>, Status> {
        let who = caller(&self.state, request).await?;
        let statement = self.statement(handle)?;
        let (query, params) = (&statement.query, &statement.params);
        let answer = sql::run(
            &self.state.core,
            &who,
            query,
            params,
            intent(request).as_deref(),
        )
        .await
        .map_err(status)?;
        let batches = answer
            .batches
            .map_err(|e| FlightError::Tonic(Box::new(status(e))));
        let stream = FlightDataEncoderBuilder::new()
            .with_schema(answer.schema)
            .build(batches)
            .map_err(|e| match e {
                FlightError::Tonic(s) => *s,
                other => internal(other),
            });
        Ok(Response::new(stream.boxed()))
    }

    async fn who<T>(&self, request: &Request<T>) -> Result<Principal, Status> {
        caller(&self.state, request).await
    }
}

#[tonic::async_trait]
impl FlightSqlService for FlightSql {
    type FlightService = FlightSql;

    async fn get_flight_info_statement(
        &self,
        query: CommandStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        // A query's text is its own handle.
        let schema = self.schema(&request, query.query.as_bytes()).await?;
        let ticket = TicketStatementQuery {
            statement_handle: query.query.into_bytes().into(),
        };
        info(&schema, ticket, request.into_inner())
    }

    async fn do_get_statement(
        &self,
        ticket: TicketStatementQuery,
        request: Request<Ticket>,
    ) -> Result<Response<DoGet>, Status> {
        self.run(&request, &ticket.statement_handle).await
    }

    async fn get_flight_info_prepared_statement(
        &self,
        cmd: CommandPreparedStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let schema = self
            .schema(&request, &cmd.prepared_statement_handle)
            .await?;
        let ticket = TicketStatementQuery {
            statement_handle: cmd.prepared_statement_handle,
        };
        info(&schema, ticket, request.into_inner())
    }

    async fn do_get_prepared_statement(
        &self,
        cmd: CommandPreparedStatementQuery,
        request: Request<Ticket>,
    ) -> Result<Response<DoGet>, Status> {
        self.run(&request, &cmd.prepared_statement_handle).await
    }

    /// Values bound to a prepared statement: one row, a column per placeholder. The new handle
    /// carries them; the statement is planned with them at once, so values that do not fit
    /// are refused here.
    async fn do_put_prepared_statement_query(
        &self,
        cmd: CommandPreparedStatementQuery,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<DoPutPreparedStatementResult, Status> {
        let who = self.who(&request).await?;
        let mut statement = self.statement(&cmd.prepared_statement_handle)?;
        let intent = intent(&request);
        // The messages are bounded before any is decoded (in number and in bytes, dictionaries
        // included); `Params` bounds the values themselves.
        let mut data = request.into_inner();
        let (mut messages, mut bytes) = (Vec::new(), 0);
        while let Some(m) = data.next().await {
            let m = m?;
            bytes += m.data_header.len() + m.data_body.len() + m.app_metadata.len();
            if messages.len() >= PUT_MESSAGES || bytes > PUT_BYTES {
                return Err(status(strata_core::error::Error::too_large(format!(
                    "bind at most {} KiB of values, in one row",
                    sql::params::MAX_BYTES >> 10
                ))));
            }
            messages.push(Ok(m));
        }
        let mut batches =
            FlightRecordBatchStream::new_from_flight_data(futures_util::stream::iter(messages));
        let mut rows = Vec::new();
        while let Some(batch) = batches.next().await {
            let batch = batch.map_err(|e| Status::invalid_argument(e.to_string()))?;
            if batch.num_rows() > 0 {
                rows.push(batch);
            }
        }
        statement.params = match rows.as_slice() {
            [one] => sql::Params::from_batch(one).map_err(status)?,
            [] => sql::Params::none(),
            _ => {
                return Err(Status::invalid_argument(
                    "bind one row of values to a query (one value per placeholder)",
                ))
            }
        };
        let (query, params) = (&statement.query, &statement.params);
        sql::schema(&self.state.core, &who, query, params, intent.as_deref())
            .await
            .map_err(status)?;
        Ok(DoPutPreparedStatementResult {
            prepared_statement_handle: Some(self.handle(&statement)?),
        })
    }

    async fn do_put_statement_update(
        &self,
        _: CommandStatementUpdate,
        _: Request<PeekableFlightDataStream>,
    ) -> Result<i64, Status> {
        Err(read_only())
    }

    async fn do_put_statement_ingest(
        &self,
        _: CommandStatementIngest,
        _: Request<PeekableFlightDataStream>,
    ) -> Result<i64, Status> {
        Err(read_only())
    }

    async fn do_put_prepared_statement_update(
        &self,
        _: CommandPreparedStatementUpdate,
        _: Request<PeekableFlightDataStream>,
    ) -> Result<i64, Status> {
        Err(read_only())
    }

    async fn do_put_substrait_plan(
        &self,
        _: CommandStatementSubstraitPlan,
        _: Request<PeekableFlightDataStream>,
    ) -> Result<i64, Status> {
        Err(Status::unimplemented(
            "strata runs SQL text, not Substrait plans",
        ))
    }

    async fn do_put_fallback(
        &self,
        _: Request<PeekableFlightDataStream>,
        _: arrow_flight::sql::Any,
    ) -> Result<Response<<Self as FlightService>::DoPutStream>, Status> {
        Err(read_only())
    }

    async fn do_action_create_prepared_statement(
        &self,
        query: ActionCreatePreparedStatementRequest,
        request: Request<Action>,
    ) -> Result<ActionCreatePreparedStatementResult, Status> {
        let who = self.who(&request).await?;
        let described = sql::describe(
            &self.state.core,
            &who,
            &query.query,
            intent(&request).as_deref(),
        )
        .await
        .map_err(status)?;
        let options = arrow_ipc_writer::IpcWriteOptions::default();
        let ipc = |schema: &arrow_schema::Schema| -> Result<_, Status> {
            let IpcMessage(bytes) = SchemaAsIpc::new(schema, &options)
                .try_into()
                .map_err(|e: arrow_schema::ArrowError| internal(e))?;
            Ok(bytes)
        };
        let parameter_schema = if described.parameters.fields().is_empty() {
            Default::default()
        } else {
            ipc(&described.parameters)?
        };
        Ok(ActionCreatePreparedStatementResult {
            prepared_statement_handle: query.query.into_bytes().into(),
            dataset_schema: ipc(&described.result)?,
            parameter_schema,
        })
    }

    async fn do_action_close_prepared_statement(
        &self,
        _query: ActionClosePreparedStatementRequest,
        _request: Request<Action>,
    ) -> Result<(), Status> {
        // Nothing is kept for a prepared statement: its handle is all it is.
        Ok(())
    }

    async fn get_flight_info_catalogs(
        &self,
        query: CommandGetCatalogs,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.who(&request).await?;
        let schema = query.into_builder().schema();
        info(&schema, query, request.into_inner())
    }

    async fn do_get_catalogs(
        &self,
        query: CommandGetCatalogs,
        request: Request<Ticket>,
    ) -> Result<Response<DoGet>, Status> {
        self.who(&request).await?;
        let mut b = query.into_builder();
        b.append("strata");
        Ok(one(b.build().map_err(internal)?))
    }

    async fn get_flight_info_schemas(
        &self,
        query: CommandGetDbSchemas,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.who(&request).await?;
        let schema = query.clone().into_builder().schema();
        info(&schema, query, request.into_inner())
    }

    async fn do_get_schemas(
        &self,
        query: CommandGetDbSchemas,
        request: Request<Ticket>,
    ) -> Result<Response<DoGet>, Status> {
        let who = self.who(&request).await?;
        let mut b = query.into_builder();
        let mut datasets: Vec<String> = sql::page::readable(&self.state, &who)
            .await
            .map_err(status)?
            .into_iter()
            .map(|t| t.dataset)
            .collect();
        datasets.dedup();
        for d in datasets {
            b.append("strata", d);
        }
        Ok(one(b.build().map_err(internal)?))
    }

    async fn get_flight_info_tables(
        &self,
        query: CommandGetTables,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.who(&request).await?;
        let schema = query.clone().into_builder().schema();
        info(&schema, query, request.into_inner())
    }

    async fn do_get_tables(
        &self,
        query: CommandGetTables,
        request: Request<Ticket>,
    ) -> Result<Response<DoGet>, Status> {
        let who = self.who(&request).await?;
        let with_schemas = query.include_schema;
        let mut b = query.into_builder();
        let empty = arrow_schema::Schema::empty();
        for t in sql::page::readable(&self.state, &who)
            .await
            .map_err(status)?
        {
            let schema = if with_schemas {
                let q = format!("SELECT * FROM {}", t.reference());
                let none = sql::Params::none();
                match sql::schema(
                    &self.state.core,
                    &who,
                    &q,
                    &none,
                    intent(&request).as_deref(),
                )
                .await
                {
                    Ok(s) => s,
                    // A table the policies deny, or one that can't be read, is not listed.
                    Err(_) => continue,
                }
            } else {
                std::sync::Arc::new(empty.clone())
            };
            b.append("strata", &t.dataset, &t.resource, "TABLE", &schema)
                .map_err(internal)?;
        }
        Ok(one(b.build().map_err(internal)?))
    }

    async fn get_flight_info_table_types(
        &self,
        query: CommandGetTableTypes,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.who(&request).await?;
        info(&table_types().schema(), query, request.into_inner())
    }

    async fn do_get_table_types(
        &self,
        _query: CommandGetTableTypes,
        request: Request<Ticket>,
    ) -> Result<Response<DoGet>, Status> {
        self.who(&request).await?;
        Ok(one(table_types()))
    }

    async fn get_flight_info_sql_info(
        &self,
        query: CommandGetSqlInfo,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let schema = query.clone().into_builder(&INFO).schema();
        info(&schema, query, request.into_inner())
    }

    async fn do_get_sql_info(
        &self,
        query: CommandGetSqlInfo,
        _request: Request<Ticket>,
    ) -> Result<Response<DoGet>, Status> {
        Ok(one(query.into_builder(&INFO).build().map_err(internal)?))
    }

    async fn register_sql_info(&self, _id: i32, _result: &SqlInfo) {}
}
