//! An in-process gateway for the targets that go through HTTP: the real router, core and
//! SQLite store (in a temporary folder), one tenant with an API key, an app and a number.
//! Requests are served by calling the router directly, so a handler's panic unwinds into the
//! fuzzer, which reports it (a served connection would swallow it). No background worker
//! runs: what is accepted stays queued, and Meta is a closed port, so nothing leaves.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::Request;
use openbsp_domain::crypto::MasterKey;
use openbsp_server::core::admin::{self as provision, AppInput, ChannelInput};
use openbsp_server::{Config, Core};
use serde_json::Value;
use tower::ServiceExt;

/// The number the gateway serves: the one of Meta's own webhook examples, so that they
/// reach it as they are.
pub const PNID: &str = "106540352242922";
/// Its display number (Meta's examples').
pub const DISPLAY: &str = "15550783881";
/// Its WABA (Meta's examples').
pub const WABA: &str = "419561257915477";
/// The app secret that signs what Meta delivers.
pub const APP_SECRET: &str = "fuzz-app-secret";
/// A user, for the routes that name one in their path.
pub const USER: &str = "16505551234";

/// How a route takes the tenant's key.
#[derive(Debug, Clone, Copy)]
enum Auth {
    /// `Authorization: Bearer <key>`.
    Bearer,
    /// Talqui's `Authorization: PluginConnection <key>`.
    Plugin,
    /// Connectly's `X-API-Key: <key>`.
    XApiKey,
    /// In the path (Pingtochat's `{key}`).
    Path,
}

/// The write routes of every surface that take a body, with their placeholders: `{tenant}`,
/// `{pnid}`, `{key}`, `{app}`, `{waba}`, `{user}`.
const ROUTES: &[(&str, &str, Auth)] = &[
    ("POST", "/v1/messages", Auth::Bearer),
    ("POST", "/v1/sessions", Auth::Bearer),
    ("POST", "/v1/templates", Auth::Bearer),
    ("POST", "/v1/campaigns", Auth::Bearer),
    ("POST", "/v1/webhook-endpoints", Auth::Bearer),
    ("POST", "/v23.0/{pnid}/messages", Auth::Bearer),
    ("POST", "/v23.0/{waba}/message_templates", Auth::Bearer),
    ("POST", "/tenants/{tenant}/sessions", Auth::Plugin),
    ("POST", "/api/v1.0/{pnid}/{key}/simpleMessages", Auth::Path),
    ("POST", "/api/v1.0/{pnid}/{key}/messages", Auth::Path),
    (
        "POST",
        "/api/v1.0/{pnid}/{key}/message_templates",
        Auth::Path,
    ),
    (
        "POST",
        "/v1/ext/plugin/whatsapp/{app}/api/v19.0/{pnid}/messages",
        Auth::Bearer,
    ),
    (
        "POST",
        "/v1/ext/plugin/whatsapp/{app}/phoneNumber/{user}/send-template-message",
        Auth::Bearer,
    ),
    (
        "POST",
        "/v1/ext/plugin/whatsapp/api/v19.0/{waba}/message_templates",
        Auth::Bearer,
    ),
    (
        "POST",
        "/v1/businesses/{tenant}/send/messages",
        Auth::XApiKey,
    ),
    (
        "POST",
        "/v1/businesses/{tenant}/send/whatsapp_templated_messages",
        Auth::XApiKey,
    ),
    (
        "POST",
        "/v1/businesses/{tenant}/create/template",
        Auth::XApiKey,
    ),
    (
        "POST",
        "/v1/businesses/{tenant}/send/campaigns",
        Auth::XApiKey,
    ),
    (
        "POST",
        "/v1/businesses/{tenant}/create/webhooks",
        Auth::XApiKey,
    ),
];

/// The number of routes [`Harness::call`] picks from.
pub fn route_count() -> usize {
    ROUTES.len()
}

/// The index of the route `path` (as written in [`ROUTES`]), for seeds.
pub fn route_index(path: &str) -> u8 {
    let i = ROUTES
        .iter()
        .position(|(_, p, _)| *p == path)
        .unwrap_or_else(|| panic!("no fuzzed route {path}"));
    u8::try_from(i).expect("fewer than 256 routes")
}

/// The gateway, once per process.
pub struct Harness {
    rt: tokio::runtime::Runtime,
    core: Core,
    router: Router,
    tenant_id: String,
    api_key: String,
    app_id: String,
    /// The temporary folder of its SQLite file, removed with it.
    dir: Option<tempfile::TempDir>,
}

static HARNESS: OnceLock<Harness> = OnceLock::new();

impl Harness {
    /// The process's gateway, built on first use: on the database of
    /// `OPENBSP_FUZZ_DATABASE_URL` (an empty one), else on SQLite in a temporary folder.
    pub fn get() -> &'static Harness {
        HARNESS.get_or_init(|| match std::env::var("OPENBSP_FUZZ_DATABASE_URL") {
            Ok(url) => Harness::new(&url),
            Err(_) => {
                let dir = tempfile::tempdir().expect("a temporary folder");
                let url = format!("sqlite://{}", dir.path().join("fuzz.db").display());
                let mut h = Harness::new(&url);
                h.dir = Some(dir);
                h
            }
        })
    }

    /// A gateway on the empty database at `url` (SQLite or PostgreSQL).
    pub fn new(url: &str) -> Harness {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a runtime");
        let (core, tenant_id, api_key, app_id) = rt.block_on(async {
            let store = openbsp_store::open(url).await.expect("the store opens");
            let (key, _) = MasterKey::generate();
            let now = 1_700_000_000_000;
            let provision::Provisioned {
                tenant,
                api_key,
                app,
                ..
            } = provision::provision_sender(
                store.as_ref(),
                &key,
                ("Fuzz", "fuzz"),
                AppInput {
                    tenant_id: String::new(),
                    name: "app".into(),
                    app_secret: APP_SECRET.into(),
                    verify_token: "fuzz-verify-token".into(),
                    meta_app_id: Some("700800900".into()),
                },
                ChannelInput {
                    tenant_id: String::new(),
                    app_id: String::new(),
                    phone_number_id: PNID.into(),
                    waba_id: WABA.into(),
                    display_phone_number: DISPLAY.into(),
                    access_token: "fuzz-access-token".into(),
                    // Nothing listens there: whatever would reach Meta fails at once.
                    graph_base_url: Some("http://127.0.0.1:9".into()),
                    graph_version: None,
                    throughput_mps: Some(80),
                    messaging_tier: None,
                    business_id: None,
                },
                now,
            )
            .await
            .expect("the fuzzed tenant is set up");
            let mut config = Config::for_tests(key);
            // Nothing sends, so a surface that waits for Meta's answer must not wait.
            config.cloud_api_wait = Duration::ZERO;
            config.webhook_network.allow_loopback = false;
            config.max_body_bytes = 256 * 1024;
            let core = Core::new(config, Arc::clone(&store)).expect("the core builds");
            (core, tenant.id, api_key, app.id)
        });
        let router = openbsp_server::router(core.clone());
        Harness {
            rt,
            core,
            router,
            tenant_id,
            api_key,
            app_id,
            dir: None,
        }
    }

    fn path(&self, template: &str) -> String {
        template
            .replace("{tenant}", &self.tenant_id)
            .replace("{pnid}", PNID)
            .replace("{key}", &self.api_key)
            .replace("{app}", &self.app_id)
            .replace("{waba}", WABA)
            .replace("{user}", USER)
    }

    /// Sends `body` to route `pick` (modulo their number) with the tenant's key: a client's
    /// input is never a 500 (502 to 504 say Meta, a closed port here, did not answer).
    pub fn call(&self, pick: u8, body: &[u8]) {
        let (method, template, auth) = ROUTES[usize::from(pick) % ROUTES.len()];
        let path = self.path(template);
        let mut req = Request::builder()
            .method(method)
            .uri(&path)
            .header("content-type", "application/json");
        req = match auth {
            Auth::Bearer => req.header("authorization", format!("Bearer {}", self.api_key)),
            Auth::Plugin => req.header(
                "authorization",
                format!("PluginConnection {}", self.api_key),
            ),
            Auth::XApiKey => req.header("x-api-key", &self.api_key),
            Auth::Path => req,
        };
        let req = req.body(Body::from(body.to_vec())).expect("a request");
        let (status, answer) = self.rt.block_on(async {
            let resp = self.router.clone().oneshot(req).await.expect("infallible");
            let status = resp.status().as_u16();
            let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
                .await
                .unwrap_or_default();
            (status, bytes)
        });
        assert!(
            status < 500 || (502..=504).contains(&status),
            "{method} {template} answered {status}: {}",
            String::from_utf8_lossy(&answer)
        );
    }

    /// Delivers `body` as Meta does (signed with the app's secret) and processes what was
    /// accepted: the receiver answers 200 or 401, and nothing accepted is left unprocessed.
    pub fn webhook(&self, body: &[u8]) {
        let signature = openbsp_wire::signature::sign(APP_SECRET.as_bytes(), body);
        let req = Request::builder()
            .method("POST")
            .uri("/webhooks/whatsapp")
            .header("content-type", "application/json")
            .header("x-hub-signature-256", signature)
            .body(Body::from(body.to_vec()))
            .expect("a request");
        self.rt.block_on(async {
            let resp = self.router.clone().oneshot(req).await.expect("infallible");
            let status = resp.status().as_u16();
            assert!(
                status == 200 || status == 401,
                "the receiver answered {status}"
            );
            while openbsp_server::meta::processor::process_pending(&self.core, "fuzz")
                .await
                .expect("the store answers")
                > 0
            {}
            let left = self
                .core
                .store
                .unprocessed_inbox(10)
                .await
                .expect("the store answers");
            assert!(
                left.is_empty(),
                "a payload was left unprocessed, to be replayed forever: {}",
                String::from_utf8_lossy(&left[0].body)
            );
        });
    }
}

/// Addresses every change of a webhook document to the gateway's number and every entry to
/// its WABA, keeping the rest as the fuzzer wrote it.
pub fn address_to_gateway(v: &mut Value) {
    let Some(entries) = v.get_mut("entry").and_then(Value::as_array_mut) else {
        return;
    };
    for entry in entries {
        if let Some(id) = entry.get_mut("id").filter(|id| id.is_string()) {
            *id = Value::from(WABA);
        }
        let Some(changes) = entry.get_mut("changes").and_then(Value::as_array_mut) else {
            continue;
        };
        for change in changes {
            if let Some(m) = change
                .get_mut("value")
                .and_then(|v| v.get_mut("metadata"))
                .and_then(Value::as_object_mut)
            {
                m.insert("phone_number_id".into(), Value::from(PNID));
            }
        }
    }
}
