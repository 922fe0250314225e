//! The OpenAPI document served at `/api/v1/openapi.json`: what the handlers' annotations say, and
//! what every operation shares, said once here: how to authenticate (a personal access token, a
//! JWT or an OAuth access token, as `Bearer` or as the password of HTTP Basic; anonymous callers
//! may read what is public), and the errors any operation can answer, whatever it does: a request
//! its path, query or body cannot be read from (400), credentials that are not valid (401), a
//! server too busy to answer now (503), and for an operation with a body, one too large (413), of
//! another media type (415) or not of its schema (422). Each is `{message, request_id}`; under
//! `/iceberg/` (the Iceberg REST catalog) the spec's `{error: {message, type, code}, request_id}`,
//! and under `/api/delta-sharing/` Delta Sharing's `{errorCode, message, request_id}`.

use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ComponentsBuilder, ContentBuilder, OpenApi, Ref, RefOr, Response};

/// The errors every operation may answer: status, name in `components.responses`, description.
const EVERY: &[(&str, &str, &str)] = &[
    (
        "400",
        "Malformed",
        "A path, query or header this operation cannot read (a number too large, a value of the \
         wrong kind)",
    ),
    (
        "401",
        "Unauthenticated",
        "Credentials that are not valid (expired, revoked, malformed), or none where this needs \
         them",
    ),
    (
        "503",
        "Busy",
        "The server is too busy to answer now (or shutting down): try again",
    ),
];

/// The errors an operation with a request body may answer besides.
const WITH_BODY: &[(&str, &str, &str)] = &[
    (
        "413",
        "TooLarge",
        "The request body is larger than this operation reads",
    ),
    (
        "415",
        "UnsupportedMediaType",
        "A request body of another media type than this operation reads",
    ),
    (
        "422",
        "Unprocessable",
        "A request body that is not of this operation's schema, or values it refuses",
    ),
];

/// `openapi` with the security schemes and the shared error answers on every operation.
pub fn finish(mut openapi: OpenApi) -> OpenApi {
    let mut components = openapi
        .components
        .take()
        .map(ComponentsBuilder::from)
        .unwrap_or_default();
    for (_, name, description) in EVERY.iter().chain(WITH_BODY) {
        components = components.response(*name, error(description, "ErrorBody"));
        components = components.response(
            format!("Iceberg{name}"),
            error(description, "IcebergErrorBody"),
        );
        components =
            components.response(format!("Delta{name}"), error(description, "DeltaErrorBody"));
    }
    components = components.schema("IcebergErrorBody", iceberg_error());
    components = components.schema("DeltaErrorBody", delta_error());
    let mut bearer = Http::new(HttpAuthScheme::Bearer);
    bearer.description = Some(
        "A personal access token (stp_…), a JWT this server signed, or an OAuth 2.0 access token"
            .into(),
    );
    let mut basic = Http::new(HttpAuthScheme::Basic);
    basic.description = Some("Any user name, and a token as the password (as git sends it)".into());
    components = components
        .security_scheme("token", SecurityScheme::Http(bearer))
        .security_scheme("basic", SecurityScheme::Http(basic));
    openapi.components = Some(components.build());
    // Either scheme, or none: anonymous callers read what is public.
    openapi.security = Some(vec![
        SecurityRequirement::new("token", Vec::<String>::new()),
        SecurityRequirement::new("basic", Vec::<String>::new()),
        SecurityRequirement::default(),
    ]);
    for (path, item) in openapi.paths.paths.iter_mut() {
        let prefix = if path.starts_with("/iceberg/") {
            "Iceberg"
        } else if path.starts_with("/api/delta-sharing/") {
            "Delta"
        } else {
            ""
        };
        let ops = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
            &mut item.head,
        ];
        for op in ops.into_iter().flatten() {
            shared_errors(op, prefix);
        }
    }
    openapi
}

/// Adds the shared error answers an operation does not describe itself (named with `prefix`).
fn shared_errors(op: &mut Operation, prefix: &str) {
    let body = op.request_body.is_some();
    let answers = EVERY
        .iter()
        .chain(if body { WITH_BODY } else { &[] })
        .map(|(status, name, _)| (status, name));
    for (status, name) in answers {
        op.responses
            .responses
            .entry(status.to_string())
            .or_insert_with(|| {
                RefOr::Ref(Ref::new(format!("#/components/responses/{prefix}{name}")))
            });
    }
}

/// An error answer whose body is the schema `schema`.
fn error(description: &str, schema: &str) -> Response {
    let mut response = Response::new(description);
    response.content.insert(
        "application/json".into(),
        RefOr::T(
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name(schema)))
                .build(),
        ),
    );
    response
}

/// The Iceberg REST spec's error model, with strata's request id.
fn iceberg_error() -> utoipa::openapi::Schema {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    let text = || ObjectBuilder::new().schema_type(Type::String);
    let inner = ObjectBuilder::new()
        .property("message", text())
        .property("type", text())
        .property("code", ObjectBuilder::new().schema_type(Type::Integer))
        .required("message")
        .required("type")
        .required("code");
    ObjectBuilder::new()
        .description(Some("The Iceberg REST catalog's error model"))
        .property("error", inner)
        .property("request_id", text())
        .required("error")
        .build()
        .into()
}

/// Delta Sharing's error model, with strata's request id.
fn delta_error() -> utoipa::openapi::Schema {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    let text = || ObjectBuilder::new().schema_type(Type::String);
    ObjectBuilder::new()
        .description(Some("Delta Sharing's error model"))
        .property("errorCode", text())
        .property("message", text())
        .property("request_id", text())
        .required("errorCode")
        .required("message")
        .build()
        .into()
}
