//! Arrow Flight on strata's own listener (gRPC over HTTP/2 shares the port: `grpc://host:port`),
//! for notebooks: `get_flight_info` with a command `{"asset": "ns/name/resource"}` (optionally
//! `rev`, `columns`, `intent`) answers the schema after the policies and one endpoint whose ticket
//! is the same request; `do_get` streams the record batches through the policies; `get_schema`
//! and `list_flights` (the tables the caller may read) too. Parquet and JSON Lines tables come
//! from their views. The caller is the bearer token
//! (or Basic credentials) in the call's `authorization` header; without one, anonymous. Every
//! call goes through the same gates and tabular reads as REST. Descriptors, tickets and actions
//! of the Flight SQL protocol (protobuf `Any` messages) go to [`super::flight_sql`].

use arrow_flight::encode::FlightDataEncoderBuilder;
use arrow_flight::flight_service_server::{FlightService, FlightServiceServer};
use arrow_flight::{
    Action, ActionType, Criteria, Empty, FlightData, FlightDescriptor, FlightEndpoint, FlightInfo,
    HandshakeRequest, HandshakeResponse, PollInfo, PutResult, SchemaAsIpc, SchemaResult, Ticket,
};
use futures_util::stream::BoxStream;
use futures_util::{StreamExt, TryStreamExt};
use serde::Deserialize;
use strata_policy::{arrow_ipc_writer, arrow_schema};
use tonic::{Request, Response, Status, Streaming};

use super::flight_sql::{is_sql, FlightSql};
use crate::http::state::AppState;
use strata_core::auth::{self, Principal};
use strata_core::datasets::gate;
use strata_core::datasets::policies::Surface;
use strata_core::error::{Error, Kind};
use strata_core::tables::stream::{self as tables, Chunk, Format};

/// The gRPC service, for the router.
pub fn service(state: AppState) -> FlightServiceServer<Flight> {
    let sql = FlightSql {
        state: state.clone(),
    };
    FlightServiceServer::new(Flight { state, sql })
}

pub struct Flight {
    state: AppState,
    /// Flight SQL: every message of its protocol goes there.
    sql: FlightSql,
}

/// The command of a descriptor and the ticket of an endpoint.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Asset {
    /// `ns/name/resource`.
    asset: String,
    rev: Option<String>,
    columns: Option<Vec<String>>,
    intent: Option<String>,
}

pub(super) fn status(e: Error) -> Status {
    let rid = strata_core::context::current().request_id;
    let message = format!("{} (request id {rid})", e.message);
    match e.kind {
        Kind::Unauthenticated => Status::unauthenticated(message),
        Kind::Forbidden => Status::permission_denied(message),
        Kind::NotFound | Kind::Gone | Kind::Moved => Status::not_found(message),
        Kind::BadRequest | Kind::Invalid | Kind::TooLarge => Status::invalid_argument(message),
        Kind::Conflict => Status::failed_precondition(message),
        Kind::TooMany | Kind::Busy => Status::unavailable(message),
        Kind::Quota => Status::resource_exhausted(message),
        Kind::Upstream | Kind::Internal => Status::internal(message),
    }
}

/// The caller of a call: its `authorization` header's token or credentials, else anonymous.
pub(super) async fn caller<T>(state: &AppState, request: &Request<T>) -> Result<Principal, Status> {
    let headers = request.metadata().clone().into_headers();
    crate::http::extract::from_authorization(state, &headers)
        .await
        .map_err(|e| status(Error::unauthorized(e.message.clone())))
}

impl Flight {
    async fn caller<T>(&self, request: &Request<T>) -> Result<Principal, Status> {
        caller(&self.state, request).await
    }

    /// Parses a command or ticket and opens its table through the gates and the policies.
    async fn open(
        &self,
        who: &Principal,
        raw: &[u8],
        format: Format,
    ) -> Result<tables::Opened, Status> {
        let asset: Asset = serde_json::from_slice(raw).map_err(|e| {
            Status::invalid_argument(format!(
                "the command must be JSON {{\"asset\": \"ns/name/resource\"}} (optional rev, columns, intent): {e}"
            ))
        })?;
        let mut parts = asset.asset.splitn(3, '/');
        let (Some(ns), Some(name), Some(resource)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(Status::invalid_argument(format!(
                "asset {:?} is not ns/name/resource",
                asset.asset
            )));
        };
        let gated = gate::shared(&self.state, who, ns, name, auth::Action::Read)
            .await
            .map_err(status)?;
        let req = tables::Request {
            resource: resource.to_owned(),
            rev: asset.rev,
            columns: asset.columns,
            intent: asset.intent,
        };
        tables::open(&self.state, &gated, &req, format, Surface::Flight)
            .await
            .map_err(status)
    }

    /// The schema a descriptor's table comes out with, through the gates and the policies.
    async fn schema(
        &self,
        request: Request<FlightDescriptor>,
    ) -> Result<(arrow_schema::SchemaRef, FlightDescriptor), Status> {
        let who = self.caller(&request).await?;
        let descriptor = request.into_inner();
        let opened = self
            .open(&who, Self::command(&descriptor)?, Format::Batches)
            .await?;
        // The rows are not needed: dropping the receiver stops the reader.
        drop(opened.chunks);
        Ok((opened.schema, descriptor))
    }

    fn command(descriptor: &FlightDescriptor) -> Result<&[u8], Status> {
        if descriptor.r#type != arrow_flight::flight_descriptor::DescriptorType::Cmd as i32 {
            return Err(Status::invalid_argument(
                "use a command descriptor: FlightDescriptor.for_command(json.dumps({\"asset\": \"ns/name/resource\"}))",
            ));
        }
        Ok(&descriptor.cmd)
    }
}

fn schema_info(
    schema: &arrow_schema::Schema,
    descriptor: FlightDescriptor,
) -> Result<FlightInfo, Status> {
    let ticket = Ticket {
        ticket: descriptor.cmd.clone(),
    };
    Ok(FlightInfo::new()
        .try_with_schema(schema)
        .map_err(|e| Status::internal(e.to_string()))?
        .with_descriptor(descriptor)
        .with_endpoint(FlightEndpoint::new().with_ticket(ticket))
        .with_total_records(-1)
        .with_total_bytes(-1))
}

type Stream<T> = BoxStream<'static, Result<T, Status>>;

#[tonic::async_trait]
impl FlightService for Flight {
    type HandshakeStream = Stream<HandshakeResponse>;
    type ListFlightsStream = Stream<FlightInfo>;
    type DoGetStream = Stream<FlightData>;
    type DoPutStream = Stream<PutResult>;
    type DoExchangeStream = Stream<FlightData>;
    type DoActionStream = Stream<arrow_flight::Result>;
    type ListActionsStream = Stream<ActionType>;

    async fn handshake(
        &self,
        _request: Request<Streaming<HandshakeRequest>>,
    ) -> Result<Response<Self::HandshakeStream>, Status> {
        Err(Status::unimplemented(
            "no handshake: send your token as `authorization: Bearer <token>` in each call's headers",
        ))
    }

    /// The tables (CSV, TSV, Parquet, JSON Lines) of the datasets the caller may read, as
    /// descriptors (no schemas: those need the policies and the table, in `get_flight_info`).
    async fn list_flights(
        &self,
        request: Request<Criteria>,
    ) -> Result<Response<Self::ListFlightsStream>, Status> {
        let who = self.caller(&request).await?;
        let mut out = Vec::new();
        for t in strata_core::sql::page::readable(&self.state, &who)
            .await
            .map_err(status)?
        {
            let cmd = serde_json::json!({"asset": format!("{}/{}", t.dataset, t.resource)});
            let descriptor = FlightDescriptor::new_cmd(cmd.to_string());
            out.push(Ok(FlightInfo::new()
                .with_descriptor(descriptor.clone())
                .with_endpoint(FlightEndpoint::new().with_ticket(Ticket {
                    ticket: descriptor.cmd,
                }))));
        }
        Ok(Response::new(futures_util::stream::iter(out).boxed()))
    }

    async fn get_flight_info(
        &self,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        if is_sql(&request.get_ref().cmd) {
            return FlightService::get_flight_info(&self.sql, request).await;
        }
        let (schema, descriptor) = self.schema(request).await?;
        Ok(Response::new(schema_info(&schema, descriptor)?))
    }

    async fn poll_flight_info(
        &self,
        _request: Request<FlightDescriptor>,
    ) -> Result<Response<PollInfo>, Status> {
        Err(Status::unimplemented("use get_flight_info"))
    }

    async fn get_schema(
        &self,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<SchemaResult>, Status> {
        if is_sql(&request.get_ref().cmd) {
            return FlightService::get_schema(&self.sql, request).await;
        }
        let (schema, _) = self.schema(request).await?;
        let options = arrow_ipc_writer::IpcWriteOptions::default();
        let result = SchemaAsIpc::new(&schema, &options)
            .try_into()
            .map_err(|e: arrow_schema::ArrowError| Status::internal(e.to_string()))?;
        Ok(Response::new(result))
    }

    async fn do_get(
        &self,
        request: Request<Ticket>,
    ) -> Result<Response<Self::DoGetStream>, Status> {
        if is_sql(&request.get_ref().ticket) {
            return FlightService::do_get(&self.sql, request).await;
        }
        let who = self.caller(&request).await?;
        let ticket = request.into_inner();
        let opened = self.open(&who, &ticket.ticket, Format::Batches).await?;
        let mut chunks = opened.chunks;
        let batches =
            futures_util::stream::poll_fn(move |cx| chunks.poll_recv(cx)).map(|c| match c {
                Ok(Chunk::Batch(b)) => Ok(b),
                Ok(Chunk::Bytes(_)) => Err(arrow_flight::error::FlightError::protocol(
                    "unexpected bytes",
                )),
                Err(e) => Err(arrow_flight::error::FlightError::Tonic(Box::new(status(e)))),
            });
        let stream = FlightDataEncoderBuilder::new()
            .with_schema(opened.schema)
            .build(batches)
            .map_err(|e| match e {
                arrow_flight::error::FlightError::Tonic(s) => *s,
                other => Status::internal(other.to_string()),
            });
        Ok(Response::new(stream.boxed()))
    }

    /// Only Flight SQL's values bound to a prepared statement are taken (the SQL service
    /// refuses every write).
    async fn do_put(
        &self,
        request: Request<Streaming<FlightData>>,
    ) -> Result<Response<Self::DoPutStream>, Status> {
        FlightService::do_put(&self.sql, request).await
    }

    async fn do_exchange(
        &self,
        _request: Request<Streaming<FlightData>>,
    ) -> Result<Response<Self::DoExchangeStream>, Status> {
        Err(Status::unimplemented("strata's Flight service reads only"))
    }

    /// The actions are Flight SQL's (prepared statements).
    async fn do_action(
        &self,
        request: Request<Action>,
    ) -> Result<Response<Self::DoActionStream>, Status> {
        FlightService::do_action(&self.sql, request).await
    }

    async fn list_actions(
        &self,
        request: Request<Empty>,
    ) -> Result<Response<Self::ListActionsStream>, Status> {
        FlightService::list_actions(&self.sql, request).await
    }
}
