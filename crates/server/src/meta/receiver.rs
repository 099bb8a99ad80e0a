//! `GET /webhooks/whatsapp` (Meta's verification handshake) and `POST /webhooks/whatsapp`:
//! the signature is checked over the raw bytes, in constant time, with the secret of the app
//! that owns the payload's phone number (or, while a rotation overlaps, its previous secret),
//! before anything is stored. A verified payload is stored durably and answered at once; the
//! processor applies it. What it holds is not checked here: a signed payload of wrong types is
//! kept in the inbox like any other (until its retention) and applied as nothing, while one
//! that names no number (not JSON, not an envelope) cannot be verified and gets the 401.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use openbsp_domain::crypto::hash_secret;
use openbsp_domain::ids::{new_id_at, prefix};
use openbsp_store::InboxItem;
use openbsp_wire::webhook::{RoutingKey, routing_key};
use serde::Deserialize;

use crate::core::Core;
use crate::http::auth::RequestClient;
use openbsp_domain::refs::ChannelRef;

/// The handshake's query.
#[derive(Debug, Deserialize)]
pub struct Handshake {
    #[serde(rename = "hub.mode")]
    mode: Option<String>,
    #[serde(rename = "hub.verify_token")]
    verify_token: Option<String>,
    #[serde(rename = "hub.challenge")]
    challenge: Option<String>,
}

/// Answers Meta's verification: the challenge if the verify token is one of an app's.
pub async fn verify(
    State(state): State<Core>,
    RequestClient(client): RequestClient,
    Query(q): Query<Handshake>,
) -> Response {
    let (Some("subscribe"), Some(token), Some(challenge)) =
        (q.mode.as_deref(), q.verify_token.as_deref(), q.challenge)
    else {
        return (
            StatusCode::BAD_REQUEST,
            "expected hub.mode=subscribe, hub.verify_token and hub.challenge",
        )
            .into_response();
    };
    // Each check uses the client's handshake quota and the installation's: guessing tokens
    // is slow, and one client's guesses do not lock Meta's handshake out.
    if !state.auth_limits.handshake_quota_left(client) {
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", "60")],
            "too many verification attempts",
        )
            .into_response();
    }
    match state
        .store
        .find_app_by_verify_token(&hash_secret(token))
        .await
    {
        Ok(Some(_)) => (StatusCode::OK, challenge).into_response(),
        Ok(None) => (StatusCode::FORBIDDEN, "verify token does not match").into_response(),
        Err(e) => {
            tracing::error!(error = %e, "webhook handshake failed");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}

/// Refuses a payload: the reason goes to the log and the metrics, never to the caller, who
/// gets the same answer whatever it was (no telling a known number from a bad signature).
fn reject(reason: &'static str) -> Response {
    metrics::counter!("openbsp_webhook_intake_total", "result" => reason).increment(1);
    tracing::warn!(reason, "webhook rejected");
    (StatusCode::UNAUTHORIZED, "invalid signature").into_response()
}

/// Verifies, stores, answers.
pub async fn receive(State(state): State<Core>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(signature) = headers
        .get("x-hub-signature-256")
        .and_then(|v| v.to_str().ok())
    else {
        return reject("missing_signature");
    };
    let Some(key) = routing_key(&body) else {
        return reject("unroutable");
    };
    let channel = match &key {
        RoutingKey::PhoneNumberId(p) => state.channel(&ChannelRef::PhoneNumberId(p.clone())).await,
        RoutingKey::WabaId(w) => state
            .store
            .find_channel_by_waba(w)
            .await
            .map_err(crate::core::CoreError::from),
    };
    let channel = match channel {
        Ok(Some(c)) => c,
        Ok(None) => return reject("unknown_number"),
        Err(e) => {
            tracing::error!(error = %e, "could not find the channel of a webhook payload");
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
    };
    let (app, secrets) = match state.app_with_secret(&channel.app_id).await {
        Ok(Some(a)) => a,
        Ok(None) => return reject("unknown_app"),
        Err(e) => {
            tracing::error!(error = %e, "could not find the app of a webhook payload");
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
    };
    if !secrets.verifies(&body, signature, state.now()) {
        return reject("bad_signature");
    }
    let now = state.now();
    let item = InboxItem {
        id: new_id_at(prefix::INBOX, now),
        app_id: app.id,
        received_at: now,
        body: body.to_vec(),
    };
    // A copy of a payload already stored (Meta's retry, a replay) is answered alike, not kept.
    let result = match state.store.insert_inbox(&item).await {
        Ok(true) => "accepted",
        Ok(false) => "duplicate",
        Err(e) => {
            // Not stored: Meta must deliver it again.
            tracing::error!(error = %e, "could not store a webhook payload");
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
    };
    metrics::counter!("openbsp_webhook_intake_total", "result" => result).increment(1);
    state.inbox_wake.notify_one();
    state.publisher.publish(crate::notices::Notice::Inbox);
    (StatusCode::OK, "EVENT_RECEIVED").into_response()
}
