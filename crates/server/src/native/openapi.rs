//! The native API's OpenAPI 3.1 description, generated from the code: each handler's
//! `#[utoipa::path]` (its route, parameters, body and answers) registered with the route
//! itself by `utoipa_axum::routes!` (so a route cannot exist without its description), the
//! views' and inputs' `ToSchema` derives (their doc comments are the descriptions), and here
//! what every operation shares: the document's info and tags, the bearer key, and the error
//! answers with the native envelope and an example of each.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde_json::Value;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{InfoBuilder, OpenApi, RefOr};
use utoipa::{IntoResponses, Modify, ToSchema};

use crate::http::error::{ErrorDetail, ErrorEnvelope, ErrorView};
use crate::views::examples;

/// The document's title.
pub const TITLE: &str = "OpenBSP native API";

/// The description of every `/v1` route, built once.
pub fn openapi() -> &'static OpenApi {
    static DOC: OnceLock<OpenApi> = OnceLock::new();
    DOC.get_or_init(|| describe(super::routes().into_openapi()))
}

/// The operations `routes` collected, with the document's info, tags, security and shared
/// schemas.
pub fn describe(mut doc: OpenApi) -> OpenApi {
    let base = <Base as utoipa::OpenApi>::openapi();
    doc.info = InfoBuilder::new()
        .title(TITLE)
        .version(env!("CARGO_PKG_VERSION"))
        .description(base.info.description.clone())
        .license(base.info.license.clone())
        .build();
    doc.tags = base.tags;
    doc.security = base.security;
    let components = doc.components.get_or_insert_with(Default::default);
    if let Some(shared) = base.components {
        components.schemas.extend(shared.schemas);
        components.security_schemes.extend(shared.security_schemes);
    }
    add_examples(&mut doc);
    doc
}

/// The example of each success answer with a body, from the views' own examples
/// ([`crate::views::examples`]: real values serialized, not JSON typed by hand): the
/// operation's own when it has one ([`crate::views::examples::operation_examples`], and the
/// campaign report's text, written by the report's writer), else the example of the view its
/// schema names. An answer whose view has no example is left without one, which the
/// description's tests refuse.
fn add_examples(doc: &mut OpenApi) {
    let by_schema = examples::examples();
    let mut by_operation: BTreeMap<(String, String), Value> = examples::operation_examples()
        .into_iter()
        .map(|((op, status), v)| ((op.to_string(), status.to_string()), v))
        .collect();
    by_operation.insert(
        ("campaign_report".into(), "200".into()),
        Value::String(crate::views::campaigns::report::text(&[
            examples::recipient(),
        ])),
    );
    for item in doc.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.options,
            &mut item.head,
            &mut item.patch,
            &mut item.trace,
            &mut item.query,
        ];
        for op in operations.into_iter().flatten() {
            let id = op.operation_id.clone().unwrap_or_default();
            for (status, response) in op.responses.responses.iter_mut() {
                let RefOr::T(response) = response else {
                    continue;
                };
                if !status.starts_with('2') {
                    continue;
                }
                for content in response.content.values_mut() {
                    let RefOr::T(content) = content else {
                        continue;
                    };
                    let own = by_operation.get(&(id.clone(), status.clone()));
                    // The view a `$ref` names (a page of `T` is the component `ListPage_T`).
                    let of_schema = || match content.schema.as_ref()? {
                        RefOr::Ref(r) => r
                            .ref_location
                            .strip_prefix("#/components/schemas/")
                            .and_then(|name| by_schema.get(name)),
                        RefOr::T(_) => None,
                    };
                    if let Some(example) = own.or_else(of_schema) {
                        content.example = Some(example.clone());
                    }
                }
            }
        }
    }
}

/// What the description says beside the operations.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        description = "The gateway's own REST API: messages, sessions, contacts, templates, \
            campaigns, media, webhook endpoints, events, and (with an admin key) the \
            installation's tenants, API keys, apps and channels.\n\n\
            Every route takes `Authorization: Bearer <api key>`. Lists are newest first and \
            cursor-paged (`?limit=&after=`, answered `{object: \"list\", data, has_more, \
            next_cursor}`). Every error is `{\"error\": {code, message, details, meta_code?, \
            request_id}}`; `code` is stable, `meta_code` is Meta's code when WhatsApp's rules \
            refused.",
        license(name = "Apache-2.0", identifier = "Apache-2.0")
    ),
    components(schemas(ErrorEnvelope, ErrorView, ErrorDetail)),
    modifiers(&BearerKey),
    security(("api_key" = [])),
    tags(
        (name = "messages", description = "Sending messages (every Cloud API type), marking them read, and reading them with their status history."),
        (name = "sessions", description = "Conversations between a business number and a user: Session Start, replies, closing, and their messages."),
        (name = "contacts", description = "The tenant's WhatsApp users, with their customer service and free entry point windows on each channel."),
        (name = "templates", description = "Message templates: validated like Meta before Meta sees them, submitted, synced, previewed, with their history."),
        (name = "campaigns", description = "Template sends to uploaded recipients, at a rate, with counts and a report."),
        (name = "media", description = "Files to send (and those users sent), stored by the gateway."),
        (name = "webhook-endpoints", description = "Where the tenant's events are delivered, signed (Standard Webhooks), with the delivery log and replays."),
        (name = "events", description = "What happened, as the webhook endpoints receive it (native format)."),
        (name = "admin", description = "The installation, with an admin key: tenants, API keys, Meta apps and channels (business numbers)."),
    )
)]
struct Base;

/// The API key, as a bearer token.
struct BearerKey;

impl Modify for BearerKey {
    fn modify(&self, doc: &mut OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("obsp_…")
                    .description(Some(
                        "An API key (`obsp_…`): a tenant's key for the tenant's routes, an \
                         admin key for the admin routes.",
                    ))
                    .build(),
            ),
        );
    }
}

/// The answers about the key every tenant route can give (its extractor runs first).
pub struct TenantKey;

impl IntoResponses for TenantKey {
    fn responses() -> BTreeMap<String, RefOr<utoipa::openapi::Response>> {
        key_answers(KeyAnswers {
            forbidden: (
                "An admin key (the installation's routes take it, not a tenant's), or Meta refused the business number's access to what the request needs.",
                "admin keys manage the installation; use a tenant's API key for this route",
            ),
            limited: "A limit: the key's requests per second (`rate_limited`, with `Retry-After`), or on a send the business portfolio's messaging limit (`messaging_limit_reached`).",
            internal: "The gateway (or Meta, behind it) failed: quote the `request_id` when reporting it.",
        })
    }
}

/// The answers about the key every admin route can give (its extractor runs first).
pub struct AdminKey;

impl IntoResponses for AdminKey {
    fn responses() -> BTreeMap<String, RefOr<utoipa::openapi::Response>> {
        key_answers(KeyAnswers {
            forbidden: (
                "A tenant's key: this route needs an admin key.",
                "this route needs an admin key",
            ),
            limited: "The key's requests per second (`rate_limited`, with `Retry-After`).",
            internal: "The gateway failed: quote the `request_id` when reporting it.",
        })
    }
}

/// What [`TenantKey`] and [`AdminKey`] say differently: the 403's description and message,
/// the 429's and the 500's descriptions.
struct KeyAnswers {
    forbidden: (&'static str, &'static str),
    limited: &'static str,
    internal: &'static str,
}

/// 401, 403, 429 (with `Retry-After`) and 500, each the native envelope with an example.
fn key_answers(a: KeyAnswers) -> BTreeMap<String, RefOr<utoipa::openapi::Response>> {
    use utoipa::PartialSchema;
    use utoipa::openapi::{ContentBuilder, HeaderBuilder, Ref, ResponseBuilder};
    let answer = |description: &str, code: &str, message: &str| {
        let example = serde_json::json!({"error": {
            "code": code, "details": [], "message": message,
            "request_id": "req_01jx0b8e7k3n5q7s9v1x3z5b7d",
        }});
        ResponseBuilder::new().description(description).content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name(ErrorEnvelope::name())))
                .example(Some(example))
                .build(),
        )
    };
    let retry_after = HeaderBuilder::new()
        .schema(Some(u32::schema()))
        .description(Some("Seconds to wait before trying again."))
        .build();
    [
        (
            "401",
            answer(
                "No `Authorization: Bearer` key, or one that is unknown or revoked.",
                "unauthorized",
                "a valid API key is required: Authorization: Bearer <key>",
            ),
        ),
        ("403", answer(a.forbidden.0, "forbidden", a.forbidden.1)),
        (
            "429",
            answer(
                a.limited,
                "rate_limited",
                "this API key is over its request rate; retry after the Retry-After seconds",
            )
            .header("Retry-After", retry_after),
        ),
        (
            "500",
            answer(
                a.internal,
                "internal_error",
                "the gateway failed to handle this request; quote the request_id when reporting it",
            ),
        ),
    ]
    .into_iter()
    .map(|(status, r)| (status.to_string(), RefOr::T(r.build())))
    .collect()
}

/// The request is invalid: not JSON, a field missing, unknown or of the wrong type, a value
/// out of range, or refused by WhatsApp's rules (`validation_failed`, `window_closed`,
/// `opted_out`, `invalid_template`, `template_parameters`, … with Meta's code in `meta_code`
/// and, for a template rule, the rule and the field in `details`). `message` says what to fix.
#[derive(IntoResponses)]
#[response(status = 400, example = json!({"error": {"code": "invalid_request", "details": [], "message": "limit must be between 1 and 100", "request_id": "req_01jx0b8e7k3n5q7s9v1x3z5b7d"}}))]
pub struct BadRequest(pub ErrorEnvelope);

/// Nothing of the tenant's has this id (another tenant's objects are not found either).
#[derive(IntoResponses)]
#[response(status = 404, example = json!({"error": {"code": "not_found", "details": [], "message": "message msg_01jx0b8e7j2m4p6r9t1v3x5b7d not found", "request_id": "req_01jx0b8e7k3n5q7s9v1x3z5b7d"}}))]
pub struct NotFound(pub ErrorEnvelope);

/// The object's state does not allow it, or it clashes with another (`code` says which:
/// `idempotency_key_reused`, `template_exists`, `campaign_state`, …).
#[derive(IntoResponses)]
#[response(status = 409, example = json!({"error": {"code": "idempotency_key_reused", "details": [], "message": "this Idempotency-Key was used for a different request (message msg_01jx0b8e7j2m4p6r9t1v3x5b7d)", "request_id": "req_01jx0b8e7k3n5q7s9v1x3z5b7d"}}))]
pub struct Conflict(pub ErrorEnvelope);

/// The body is larger than the gateway takes.
#[derive(IntoResponses)]
#[response(status = 413, example = json!({"error": {"code": "payload_too_large", "details": [], "message": "Failed to buffer the request body: length limit exceeded", "request_id": "req_01jx0b8e7k3n5q7s9v1x3z5b7d"}}))]
pub struct PayloadTooLarge(pub ErrorEnvelope);

/// The body's `Content-Type` is not one this route reads.
#[derive(IntoResponses)]
#[response(status = 415, example = json!({"error": {"code": "unsupported_media_type", "details": [], "message": "recipients are uploaded as text/csv or application/x-ndjson, not application/json", "request_id": "req_01jx0b8e7k3n5q7s9v1x3z5b7d"}}))]
pub struct UnsupportedMediaType(pub ErrorEnvelope);

/// A value given as a string or a number (a template variable, a failure code).
#[derive(ToSchema)]
#[serde(untagged)]
#[allow(dead_code)] // a description only: handlers read these as JSON values
pub enum StringOrNumber {
    /// As a string (`"Ana"`, `"131026"`).
    Text(String),
    /// As a number (`131026`).
    Number(f64),
}

/// A JSON object whose fields are Meta's (as Meta documents them) or the caller's own.
#[derive(ToSchema)]
#[schema(value_type = Object)]
pub struct JsonObject(pub serde_json::Map<String, serde_json::Value>);

/// A file's bytes.
#[derive(ToSchema)]
#[schema(value_type = String, format = Binary)]
pub struct Binary(pub Vec<u8>);
