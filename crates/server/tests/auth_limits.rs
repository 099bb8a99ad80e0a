//! Authentication's answers and limits, on both backends: every refusal of a Meta webhook looks
//! the same, verify-token guesses and look-ups of unknown keys are throttled (known keys are
//! not), and an installation may hold each API key to a request rate, refused in each
//! surface's shape with `Retry-After`. The limits on unknown tokens and handshakes count by
//! client (the TCP peer, or behind trusted proxies the address they forward): one client's
//! flood leaves the others their quota.

mod common;

use common::*;
use openbsp_server::core::limits::{
    HANDSHAKE_FAILURES_PER_MINUTE, IpNet, KeyRate, LOOKUP_BURST, LOOKUPS_PER_SECOND,
};
use openbsp_testkit::{Backend, on_both_backends};
use serde_json::json;

on_both_backends! {
    refused_meta_webhooks_all_get_the_same_answer => crate::refused_meta_webhooks_all_get_the_same_answer,
    verify_token_guesses_are_throttled => crate::verify_token_guesses_are_throttled,
    unknown_tokens_are_throttled_and_known_keys_are_not => crate::unknown_tokens_are_throttled_and_known_keys_are_not,
    each_key_is_held_to_its_rate => crate::each_key_is_held_to_its_rate,
    a_flood_from_one_client_does_not_throttle_another =>
        crate::a_flood_from_one_client_does_not_throttle_another,
    forwarded_for_is_ignored_without_trusted_proxies =>
        crate::forwarded_for_is_ignored_without_trusted_proxies,
    forwarded_for_names_the_client_behind_a_trusted_proxy =>
        crate::forwarded_for_names_the_client_behind_a_trusted_proxy,
}

/// An HTTP client whose requests come from `ip`, a loopback address of its own (all of
/// 127.0.0.0/8 reaches a gateway listening on 127.0.0.1): another client, as the gateway sees
/// it.
fn client_from(ip: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(ip.parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap()
}

/// `GET /v1/messages` with `token` from `http`, with `X-Forwarded-For: forwarded` if given.
async fn list_from(
    app: &TestApp,
    http: &reqwest::Client,
    token: &str,
    forwarded: Option<&str>,
) -> u16 {
    let mut req = http.get(app.url("/v1/messages")).bearer_auth(token);
    if let Some(f) = forwarded {
        req = req.header("x-forwarded-for", f);
    }
    req.send().await.unwrap().status().as_u16()
}

/// Unknown tokens from `http` (the `i`th with `X-Forwarded-For: forwarded(i)`) until one is
/// refused with 429; panics if none is within five times the burst (the quota refills at
/// [`LOOKUPS_PER_SECOND`]: requests taking up to 15 ms each still exhaust it). A client whose
/// every request counted as another's (a spoofed address honoured) would never be refused.
async fn flood(app: &TestApp, http: &reqwest::Client, forwarded: impl Fn(u32) -> Option<String>) {
    for i in 0..LOOKUP_BURST * 5 {
        let token = format!("obsp_flood-{i}-{}", rand_suffix());
        match list_from(app, http, &token, forwarded(i).as_deref()).await {
            429 => return,
            401 => {}
            s => panic!("unexpected {s}"),
        }
    }
    panic!("a flood of unknown tokens was never throttled");
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

/// A new key of the app's tenant: no replica has it cached, so its first use is a look-up.
async fn fresh_key(app: &TestApp) -> String {
    app.new_key("fresh").await.1
}

/// One client floods random tokens until it is throttled; another client's first use of a
/// valid key (not cached, so looked up) is served, and so is its handshake once the flooder's
/// guesses are refused.
async fn a_flood_from_one_client_does_not_throttle_another(b: Backend) {
    let app = spawn_app(b).await;
    let (flooder, other) = (client_from("127.0.0.1"), client_from("127.0.0.2"));
    let key = fresh_key(&app).await;
    flood(&app, &flooder, |_| None).await;
    assert_eq!(list_from(&app, &other, &key, None).await, 200);

    // The same for verify-token guesses: the flooder's run out, Meta's handshake passes.
    let handshake = |http: &reqwest::Client, token: &str| {
        http.get(app.url(&format!(
            "/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token={token}&hub.challenge=77"
        )))
        .send()
    };
    for i in 0..HANDSHAKE_FAILURES_PER_MINUTE {
        let r = handshake(&flooder, &format!("guess-{i}")).await.unwrap();
        assert_eq!(r.status(), 403);
    }
    let r = handshake(&flooder, VERIFY_TOKEN).await.unwrap();
    assert_eq!(r.status(), 429);
    let r = handshake(&other, VERIFY_TOKEN).await.unwrap();
    assert_eq!(r.status(), 200);
}

/// Without trusted proxies, `X-Forwarded-For` is anyone's to write: a flooder that writes
/// another address in it on every request is throttled all the same (a new address buys no
/// fresh quota), while another peer is another client.
async fn forwarded_for_is_ignored_without_trusted_proxies(b: Backend) {
    let app = spawn_app(b).await;
    let flooder = client_from("127.0.0.1");
    let key = fresh_key(&app).await;
    flood(&app, &flooder, |i| {
        Some(format!("198.51.{}.{}", i / 250, i % 250))
    })
    .await;
    assert_eq!(
        list_from(&app, &client_from("127.0.0.3"), &key, None).await,
        200
    );
}

/// Behind a trusted proxy (127.0.0.1 here), the client is the right-most address of
/// `X-Forwarded-For` that is not a trusted proxy: a client there that writes another address
/// to the left on every request (through a second trusted proxy) is throttled all the same,
/// and another client behind the same proxy is served although the proxy's own address is
/// the flooder's too.
async fn forwarded_for_names_the_client_behind_a_trusted_proxy(b: Backend) {
    let app = spawn_app_configured(b, |c| {
        c.trusted_proxies = IpNet::parse_list("127.0.0.1, 10.0.0.0/8").unwrap();
    })
    .await;
    let proxy = client_from("127.0.0.1");
    let key = fresh_key(&app).await;
    flood(&app, &proxy, |i| {
        Some(format!(
            "6.6.{}.{}, 203.0.113.1, 10.1.2.3",
            i / 250,
            i % 250
        ))
    })
    .await;
    assert_eq!(
        list_from(&app, &proxy, &key, Some("203.0.113.2")).await,
        200
    );
    // An untrusted peer's header is ignored: 127.0.0.4 is its own client.
    let key = fresh_key(&app).await;
    assert_eq!(
        list_from(&app, &client_from("127.0.0.4"), &key, Some("203.0.113.1")).await,
        200
    );
}

/// `POST /webhooks/whatsapp` with `body` and `signature` (none when `None`): status and body.
async fn post_signed(app: &TestApp, body: &str, signature: Option<String>) -> (u16, String) {
    let mut req = app
        .http
        .post(app.url("/webhooks/whatsapp"))
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(s) = signature {
        req = req.header("x-hub-signature-256", s);
    }
    let r = req.send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn refused_meta_webhooks_all_get_the_same_answer(b: Backend) {
    let app = spawn_app(b).await;
    let body = envelope(
        json!({"messages": [{"from": USER, "id": "wamid.X", "timestamp": "1700000000",
                                             "type": "text", "text": {"body": "hi"}}]}),
    );
    let sign = |secret: &str, bytes: &str| {
        Some(openbsp_wire::signature::sign(
            secret.as_bytes(),
            bytes.as_bytes(),
        ))
    };
    let foreign = body.replace(PNID, "555555");
    let answers = [
        post_signed(&app, &body, None).await,
        post_signed(&app, &body, sign("not-the-secret", &body)).await,
        post_signed(&app, &body, sign(APP_SECRET, "{}")).await,
        // A number nobody here owns, signed with a real app's secret.
        post_signed(&app, &foreign, sign(APP_SECRET, &foreign)).await,
        post_signed(&app, "{}", sign(APP_SECRET, "{}")).await,
    ];
    for a in &answers {
        assert_eq!(a, &answers[0], "every refusal answers alike: {answers:?}");
    }
    assert_eq!(answers[0].0, 401);
    assert!(app.store.unprocessed_inbox(10).await.unwrap().is_empty());
}

async fn verify_token_guesses_are_throttled(b: Backend) {
    let app = spawn_app(b).await;
    let handshake = |token: &str| {
        app.url(&format!(
            "/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token={token}&hub.challenge=77"
        ))
    };
    let right = app.http.get(handshake(VERIFY_TOKEN)).send().await.unwrap();
    assert_eq!(right.status(), 200);
    let mut statuses = Vec::new();
    for i in 0..HANDSHAKE_FAILURES_PER_MINUTE + 5 {
        let r = app
            .http
            .get(handshake(&format!("guess-{i}")))
            .send()
            .await
            .unwrap();
        statuses.push(r.status().as_u16());
    }
    // The quota (the right attempt used one) runs out: the rest are 429 without a look-up.
    let refused = statuses.iter().filter(|s| **s == 403).count() as u32;
    assert_eq!(refused, HANDSHAKE_FAILURES_PER_MINUTE - 1, "{statuses:?}");
    assert!(
        statuses[refused as usize..].iter().all(|s| *s == 429),
        "{statuses:?}"
    );
    let r = app.http.get(handshake("one-more")).send().await.unwrap();
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
}

async fn unknown_tokens_are_throttled_and_known_keys_are_not(b: Backend) {
    let app = spawn_app(b).await;
    // The known key is read once and kept.
    assert_eq!(app.get("/v1/messages", &app.api_key).await.status, 200);
    let mut statuses = Vec::new();
    let started = std::time::Instant::now();
    for i in 0..LOOKUP_BURST + 50 {
        let r = app
            .get("/v1/messages", &format!("obsp_not-a-key-{i}"))
            .await;
        statuses.push((r.status, r.body["error"]["code"].clone()));
    }
    let unauthorized = statuses.iter().filter(|(s, _)| *s == 401).count();
    let throttled: Vec<_> = statuses.iter().filter(|(s, _)| *s == 429).collect();
    // At most the burst and what the quota refilled meanwhile reached the database.
    let refilled = (started.elapsed().as_secs_f64() * f64::from(LOOKUPS_PER_SECOND)).ceil() as u32;
    assert!(
        unauthorized as u32 <= LOOKUP_BURST + refilled + 1 && !throttled.is_empty(),
        "{unauthorized} unauthorized, {} throttled, {refilled} refilled",
        throttled.len()
    );
    assert!(
        throttled.iter().all(|(_, c)| c == "rate_limited"),
        "{throttled:?}"
    );
    // While unknown tokens wait, the known key is served (from its own cache: none of the
    // unknown ones evicted it), here and on the Cloud API surface.
    assert_eq!(app.get("/v1/messages", &app.api_key).await.status, 200);
    let graph = app
        .get(&format!("/v23.0/{PNID}/message_templates"), &app.api_key)
        .await;
    assert_ne!(graph.status, 429, "{}", graph.body);
}

async fn each_key_is_held_to_its_rate(b: Backend) {
    let app = spawn_app_configured(b, |c| {
        c.api_rate_limit = Some(KeyRate {
            per_second: 1,
            burst: 3,
        })
    })
    .await;
    for _ in 0..3 {
        assert_eq!(app.get("/v1/messages", &app.api_key).await.status, 200);
    }
    // Native: 429 rate_limited with Meta's code beside, and Retry-After.
    let r = app
        .http
        .get(app.url("/v1/messages"))
        .bearer_auth(&app.api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "1");
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited", "{body}");
    assert_eq!(body["error"]["meta_code"], 4, "{body}");
    // The Cloud API surface: Meta's code 4.
    let g = app
        .post(
            &format!("/v23.0/{PNID}/messages"),
            &app.api_key,
            &json!({"messaging_product": "whatsapp", "to": USER, "type": "text", "text": {"body": "x"}}),
        )
        .await;
    assert_eq!(g.status, 429, "{}", g.body);
    assert_eq!(g.body["error"]["code"], 4, "{}", g.body);
    // A vendor surface: its own shape (Connectly's).
    let c = app
        .send_as(
            "POST",
            &format!("/v1/businesses/{}/get/templates", app.tenant_id),
            Some(("X-API-Key", app.api_key.as_str())),
            "",
        )
        .await;
    assert_eq!(c.status, 429, "{}", c.body);
    assert_eq!(c.body["code"], "ERROR_CODE_RATE_LIMITED", "{}", c.body);
    assert_eq!(
        app.sim.received(PNID).len(),
        0,
        "nothing sent past the limit"
    );
    // Another key has a rate of its own.
    let other = app.other_tenant_key().await;
    assert_eq!(app.get("/v1/messages", &other).await.status, 200);
}

/// A replica whose listening connection to PostgreSQL drops may miss a notice (here a key
/// revoked without one, as if it had been published while the connection was down): once the
/// connection is back, the replica forgets its cached credentials at once, instead of serving
/// the revoked key until its cached copy expires (30 s). PostgreSQL only: SQLite is one
/// process, and a revocation there is refused at once (`admin.rs`).
#[tokio::test]
async fn a_replica_that_lost_its_notices_forgets_cached_keys() {
    let app = spawn_app(Backend::Postgres).await;
    let (created, key) = app.new_key("doomed").await;
    assert_eq!(app.get("/v1/messages", &key).await.status, 200);
    openbsp_server::core::credentials::revoke_api_key(
        app.store.as_ref(),
        &created.id,
        chrono::Utc::now().timestamp_millis(),
    )
    .await
    .unwrap();
    assert_eq!(
        app.get("/v1/messages", &key).await.status,
        200,
        "cached, and no notice told this replica"
    );
    let dropped = app
        .db
        .query_i64(
            "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity
             WHERE datname = current_database() AND query ILIKE 'LISTEN%'
               AND pid <> pg_backend_pid()",
        )
        .await;
    assert!(dropped >= 1, "the listening connection was found");
    wait_up_to(
        std::time::Duration::from_secs(5),
        "the revoked key refused once the connection is back (not after its cache's 30 s)",
        || async { app.get("/v1/messages", &key).await.status == 401 },
    )
    .await;
}
