//! Completes the OpenAPI document generated from the handlers' `#[utoipa::path]` annotations with
//! the answers that do not depend on the handler but on how it takes its input: every operation
//! with a JSON body can answer 400 `malformed_json`, 413, 415 and 422 (the [`ApiJson`]
//! extractor), and every operation with query parameters 400 `invalid_query` and 422
//! `validation_failed` (the [`ApiQuery`] extractor). They are defined once under
//! `components.responses` and referenced from each operation, so no annotation can forget one.
//! An annotation that already documents the status for its own reason keeps its response, and its
//! description is extended with the shared meaning.
//!
//! It also holds the schemas serde's derive cannot describe: a login names *exactly one* of email
//! and username, and a token request is one of two grants; and it states the text rule every
//! string of a body or query string is held to (no NUL or other control character) as a
//! `pattern` on each such string.
//!
//! It documents; it decides nothing about how requests are answered.
//!
//! [`ApiJson`]: super::extract::ApiJson
//! [`ApiQuery`]: super::extract::ApiQuery

use std::collections::BTreeSet;
use utoipa::openapi::header::{Header, HeaderBuilder};
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::schema::{
    AdditionalProperties, ArrayItems, ObjectBuilder, OneOfBuilder, Schema, SchemaType, Type,
};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr, ResponseBuilder};

const PROBLEM: &str = "application/problem+json";

/// `sesame_domain::model::is_disallowed_char` as an ECMA-262 pattern: no C0 control but tab, line
/// feed and carriage return, no DEL, no C1 control.
const TEXT_PATTERN: &str = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$";

/// The shared responses: (component name, status, description).
const JSON_BODY: [(&str, &str, &str); 4] = [
    (
        "MalformedJson",
        "400",
        "`malformed_json`: the body is not JSON (syntax, truncation, invalid UTF-8)",
    ),
    (
        "PayloadTooLarge",
        "413",
        "`payload_too_large`: the body is larger than `SESAME_MAX_BODY_BYTES` (64 KiB by default)",
    ),
    (
        "UnsupportedMediaType",
        "415",
        "`unsupported_media_type`: the body is not sent as `application/json`",
    ),
    (
        "InvalidBody",
        "422",
        "`invalid_body`: JSON of the wrong shape (wrong type, missing or unknown field); or \
         `validation_failed` with `errors`, e.g. field code `invalid_characters` for a string \
         holding NUL or another control character",
    ),
];

const QUERY: [(&str, &str, &str); 2] = [
    (
        "InvalidQuery",
        "400",
        "`invalid_query`: a query parameter does not parse (wrong type, bad date)",
    ),
    (
        "InvalidQueryValue",
        "422",
        "`validation_failed` with `errors`: a query parameter breaks a rule (`limit` outside \
         1–200, a bad cursor or role, field code `invalid_characters` for NUL or another control \
         character)",
    ),
];

/// What any operation behind the load bounds can answer, whatever its input (the probes are
/// outside those bounds).
const EVERY: [(&str, &str, &str); 3] = [
    (
        "RequestTimeout",
        "408",
        "`request_timeout`: the body did not arrive within `SESAME_BODY_READ_TIMEOUT`, or the \
         handling took longer than `SESAME_REQUEST_TIMEOUT` (the outcome of a change is then \
         unknown)",
    ),
    (
        "TooManyConcurrentRequests",
        "429",
        "`too_many_concurrent_requests` (with `Retry-After`): this client's share of concurrent \
         requests is in use",
    ),
    (
        "Unavailable",
        "503",
        "`server_busy` (the in-flight bound is reached) or `database_unavailable` (the database \
         is stopped, unreachable or too slow; the outcome of a change is then unknown), with \
         `Retry-After`",
    ),
];

/// Adds the shared responses and the hand-written schemas to the generated document.
pub(crate) fn complete(doc: &mut OpenApi) {
    let components = doc.components.get_or_insert_with(Default::default);
    for (name, status, description) in JSON_BODY.iter().chain(QUERY.iter()).chain(EVERY.iter()) {
        let mut response = ResponseBuilder::new().description(*description);
        if matches!(*status, "429" | "503") {
            response = response.header("Retry-After", retry_after());
        }
        components.responses.insert(
            (*name).to_owned(),
            RefOr::T(
                response
                    .content(
                        PROBLEM,
                        ContentBuilder::new()
                            .schema(Some(Ref::from_schema_name("ProblemBody")))
                            .build(),
                    )
                    .build(),
            ),
        );
    }
    components
        .schemas
        .insert("LoginRequest".into(), RefOr::T(login_request()));
    components
        .schemas
        .insert("TokenForm".into(), RefOr::T(token_form()));

    let mut request_schemas = BTreeSet::new();
    for (path, item) in &mut doc.paths.paths {
        let bounded = !path.starts_with("/health/");
        for op in [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ]
        .into_iter()
        .flatten()
        {
            if bounded {
                add_shared(op, &EVERY);
            }
            if takes_json(op) {
                add_shared(op, &JSON_BODY);
            }
            if takes_query(op) {
                add_shared(op, &QUERY);
            }
            for content in op
                .request_body
                .iter_mut()
                .flat_map(|b| b.content.values_mut())
            {
                match &mut content.schema {
                    Some(RefOr::Ref(r)) => {
                        if let Some(name) = r.ref_location.strip_prefix("#/components/schemas/") {
                            request_schemas.insert(name.to_owned());
                        }
                    }
                    Some(RefOr::T(schema)) => text_rule(schema),
                    None => {}
                }
            }
            for param in op.parameters.iter_mut().flatten() {
                if let Some(RefOr::T(schema)) = &mut param.schema {
                    text_rule(schema);
                }
            }
        }
    }
    let components = doc.components.get_or_insert_with(Default::default);
    for name in request_schemas {
        if let Some(RefOr::T(schema)) = components.schemas.get_mut(&name) {
            text_rule(schema);
        }
    }
}

fn is_text(t: &SchemaType) -> bool {
    match t {
        SchemaType::Type(t) => *t == Type::String,
        SchemaType::Array(ts) => ts.contains(&Type::String),
        SchemaType::AnyValue => false,
    }
}

/// Puts [`TEXT_PATTERN`] on every free-form string of a request schema (strings with a format,
/// such as `uuid` or `date-time`, or an own pattern or enum say more already).
fn text_rule(schema: &mut Schema) {
    let each = |items: &mut Vec<RefOr<Schema>>| {
        for item in items {
            if let RefOr::T(s) = item {
                text_rule(s);
            }
        }
    };
    match schema {
        Schema::Object(o) => {
            if is_text(&o.schema_type)
                && o.format.is_none()
                && o.pattern.is_none()
                && o.enum_values.is_none()
            {
                o.pattern = Some(TEXT_PATTERN.to_owned());
            }
            for p in o.properties.values_mut() {
                if let RefOr::T(s) = p {
                    text_rule(s);
                }
            }
        }
        Schema::Array(a) => {
            if let ArrayItems::RefOrSchema(item) = &mut a.items {
                if let RefOr::T(s) = item.as_mut() {
                    text_rule(s);
                }
            }
        }
        Schema::OneOf(o) => each(&mut o.items),
        Schema::AnyOf(o) => each(&mut o.items),
        Schema::AllOf(o) => each(&mut o.items),
        // Booleans and whatever a later utoipa adds hold no strings of ours.
        _ => {}
    }
}

fn takes_json(op: &Operation) -> bool {
    op.request_body
        .as_ref()
        .is_some_and(|b| b.content.contains_key("application/json"))
}

fn takes_query(op: &Operation) -> bool {
    op.parameters
        .iter()
        .flatten()
        .any(|p| p.parameter_in == ParameterIn::Query)
}

fn add_shared(op: &mut Operation, shared: &[(&str, &str, &str)]) {
    for (name, status, description) in shared {
        match op.responses.responses.get_mut(*status) {
            None => {
                op.responses.responses.insert(
                    (*status).to_owned(),
                    RefOr::Ref(Ref::new(format!("#/components/responses/{name}"))),
                );
            }
            Some(RefOr::T(own)) => {
                if !own.description.contains(description) {
                    own.description = format!("{}; or {description}", own.description);
                }
            }
            Some(RefOr::Ref(_)) => {}
        }
    }
}

/// The `Retry-After` header of a 429 or 503 answer: whole seconds (RFC 9110 §10.2.3).
fn retry_after() -> Header {
    HeaderBuilder::new()
        .schema(ObjectBuilder::new().schema_type(SchemaType::Type(Type::Integer)))
        .description(Some("Seconds until a retry can succeed (RFC 9110 §10.2.3)"))
        .build()
}

fn string() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(SchemaType::Type(Type::String))
}

/// One way to name the account: `name` is `email` or `username`.
fn login_by(name: &str, example: &str) -> Schema {
    Schema::Object(
        ObjectBuilder::new()
            .property(name, string().examples([example]))
            .required(name)
            .property(
                "password",
                string().examples(["correct horse battery staple"]),
            )
            .required("password")
            .additional_properties(Some(AdditionalProperties::FreeForm(false)))
            .build(),
    )
}

/// `{email, password}` or `{username, password}`: exactly one of the two names, as the handler
/// requires (neither or both is 422 `validation_failed`).
fn login_request() -> Schema {
    Schema::OneOf(
        OneOfBuilder::new()
            .description(Some(
                "Log in with an email address *or* a username: exactly one of the two.",
            ))
            .item(login_by("email", "alice@example.com"))
            .item(login_by("username", "alice"))
            .build(),
    )
}

/// One grant of the token endpoint. Other parameters are ignored (RFC 6749 §3.2: unrecognized
/// request parameters are ignored), so no `additionalProperties: false`.
fn grant(grant_type: &str, fields: &[&str], description: &str) -> Schema {
    let mut b = ObjectBuilder::new()
        .description(Some(description))
        .property("grant_type", string().enum_values(Some([grant_type])))
        .required("grant_type");
    for f in fields {
        b = b.property(*f, string().min_length(Some(1))).required(*f);
    }
    for f in ["scope", "client_id", "client_secret"] {
        b = b.property(f, string());
    }
    Schema::Object(b.build())
}

/// RFC 6749 §4.3.2 (password) and §6 (refresh_token) requests.
fn token_form() -> Schema {
    Schema::OneOf(
        OneOfBuilder::new()
            .description(Some(
                "`grant_type=password` with `username` (email or username) and `password`, or \
                 `grant_type=refresh_token` with `refresh_token`. `scope`, `client_id` and \
                 `client_secret` are accepted and ignored.",
            ))
            .item(grant(
                "password",
                &["username", "password"],
                "RFC 6749 §4.3.2",
            ))
            .item(grant("refresh_token", &["refresh_token"], "RFC 6749 §6"))
            .build(),
    )
}
