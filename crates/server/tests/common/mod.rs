//! The integration harness: a gateway on a random port with its own database (SQLite or
//! PostgreSQL), the simulator as Meta, and a tenant, app, channel and API key wired to it.
#![allow(dead_code)] // each test binary uses a different part of the harness

pub mod receiver;

use std::sync::Arc;
use std::time::Duration;

use openbsp_domain::ManualClock;
use openbsp_domain::crypto::MasterKey;
use openbsp_server::config::SenderConfig;
use openbsp_server::core::admin::{self as provision, AppInput, ChannelInput};
use openbsp_server::{Config, Gateway};
use openbsp_simulator::{
    PhoneNumberConfig, Simulator, SimulatorConfig, SimulatorHandle, StatusDelays,
};
use openbsp_store::{Channel, Store};
use openbsp_testkit::{Backend, TestDb};
use serde_json::{Value, json};

pub const PNID: &str = "100200300";
pub const APP_SECRET: &str = "test-app-secret";
pub const VERIFY_TOKEN: &str = "test-verify-token";
pub const ACCESS_TOKEN: &str = "test-access-token";
pub const USER: &str = "15551230001";
/// The Meta app id of the test app (its resumable uploads).
pub const META_APP_ID: &str = "700800900";

/// The second tenant's number (see [`TestApp::other_tenant_with_number`]).
pub const OTHER_PNID: &str = "100200399";
pub const OTHER_DISPLAY: &str = "15550009999";
pub const OTHER_WABA: &str = "900199";

/// A second tenant, its API key, app and channel.
pub struct OtherTenant {
    pub tenant_id: String,
    pub api_key: String,
    pub app_id: String,
    pub channel: Channel,
}

/// A PNG's signature and header, then `n` bytes (what WhatsApp's and the gateway's content
/// checks look at).
pub fn png(n: usize) -> Vec<u8> {
    let mut b = vec![
        0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 0x0D, b'I', b'H', b'D', b'R',
    ];
    b.extend((0..n).map(|i| (i * 7 % 251) as u8));
    b
}

/// The one curl command of seed page `file` (`tests/fixtures/seeds/`), as the vendor wrote it.
pub fn seed_curl(file: &str) -> openbsp_testkit::curl::Curl {
    let seed = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/seeds")
        .join(file);
    let mut curls = openbsp_testkit::curl::commands(&std::fs::read_to_string(seed).unwrap());
    assert_eq!(curls.len(), 1, "{curls:#?}");
    curls.remove(0)
}

pub struct TestApp {
    pub gateway: Gateway,
    pub sim: SimulatorHandle,
    pub store: Arc<dyn Store>,
    pub key: MasterKey,
    pub api_key: String,
    pub admin_key: String,
    pub tenant_id: String,
    pub channel: Channel,
    pub http: reqwest::Client,
    pub db: TestDb,
}

pub fn fast_sender() -> SenderConfig {
    SenderConfig {
        request_timeout: Duration::from_secs(2),
        lease_ttl: Duration::from_secs(3),
        reconcile_grace: Duration::from_secs(3),
        retry_base: Duration::from_millis(50),
        retry_max: Duration::from_millis(500),
        max_attempts: 6,
        poll_interval: Duration::from_millis(50),
        // Meta's burst, a hundredth of its period: tests that send dozens of messages to one
        // user wait milliseconds, not minutes (the pair tests set their own rule).
        pair_rule: openbsp_wire::pair::PairRule {
            period_ms: 60,
            burst: 45,
        },
    }
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, 80).await
}

pub async fn spawn_app_with(backend: Backend, throughput_mps: u32) -> TestApp {
    spawn_inner(backend, throughput_mps, None, |_| {}).await
}

/// A gateway with settings changed by `tweak`.
pub async fn spawn_app_configured(backend: Backend, tweak: impl FnOnce(&mut Config)) -> TestApp {
    spawn_inner(backend, 80, None, tweak).await
}

/// A gateway with a channel at `throughput_mps` and settings changed by `tweak`.
pub async fn spawn_app_tuned(
    backend: Backend,
    throughput_mps: u32,
    tweak: impl FnOnce(&mut Config),
) -> TestApp {
    spawn_inner(backend, throughput_mps, None, tweak).await
}

/// A gateway whose clock a test moves (the simulator keeps real time).
pub async fn spawn_app_clocked(backend: Backend) -> (TestApp, ManualClock) {
    spawn_app_clocked_with(backend, |_| {}).await
}

/// [`spawn_app_clocked`] with settings changed by `tweak`.
pub async fn spawn_app_clocked_with(
    backend: Backend,
    tweak: impl FnOnce(&mut Config),
) -> (TestApp, ManualClock) {
    let clock = ManualClock::new(chrono::Utc::now().timestamp_millis());
    let app = spawn_inner(backend, 80, Some(Arc::new(clock.clone())), tweak).await;
    (app, clock)
}

async fn spawn_inner(
    backend: Backend,
    throughput_mps: u32,
    clock: Option<Arc<dyn openbsp_domain::Clock>>,
    tweak: impl FnOnce(&mut Config),
) -> TestApp {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let db = TestDb::new(backend).await;
    let sim = Simulator::start(SimulatorConfig {
        status_delays: StatusDelays {
            sent_ms: 10,
            delivered_ms: 30,
            read_ms: Some(60),
        },
        webhook_retry_base_ms: 50,
        webhook_retry_max_ms: 500,
        ..SimulatorConfig::default()
    })
    .await
    .expect("simulator starts");
    let store = openbsp_store::open(&db.url).await.expect("store opens");
    let (key, _) = MasterKey::generate();
    let now = chrono::Utc::now().timestamp_millis();
    let s = store.as_ref();
    let provision::Provisioned {
        tenant,
        api_key,
        channel,
        ..
    } = provision::provision_sender(
        s,
        &key,
        ("Acme", "test"),
        AppInput {
            tenant_id: String::new(),
            name: "app".into(),
            app_secret: APP_SECRET.into(),
            verify_token: VERIFY_TOKEN.into(),
            meta_app_id: Some(META_APP_ID.into()),
        },
        ChannelInput {
            tenant_id: String::new(),
            app_id: String::new(),
            phone_number_id: PNID.into(),
            waba_id: "900100".into(),
            display_phone_number: "15550001111".into(),
            access_token: ACCESS_TOKEN.into(),
            graph_base_url: Some(sim.url()),
            graph_version: None,
            throughput_mps: Some(throughput_mps),
            messaging_tier: None,
            business_id: None,
        },
        now,
    )
    .await
    .unwrap();
    let (_, admin_key) = provision::create_api_key(s, None, "admin", true, now)
        .await
        .unwrap();
    let mut config = Config::for_tests(key.clone());
    config.sender = fast_sender();
    config.session_closer_interval = Duration::from_millis(50);
    tweak(&mut config);
    let clock = clock.unwrap_or_else(|| Arc::new(openbsp_domain::SystemClock));
    let gateway = Gateway::start_with_clock(config, store.clone(), clock)
        .await
        .expect("gateway starts");
    sim.add_phone_number(PhoneNumberConfig {
        phone_number_id: PNID.into(),
        display_phone_number: "15550001111".into(),
        waba_id: "900100".into(),
        access_token: ACCESS_TOKEN.into(),
        app_secret: APP_SECRET.into(),
        webhook_url: Some(format!("{}/webhooks/whatsapp", gateway.url())),
        throughput_mps: Some(throughput_mps),
    });
    // Meta's review answers after its answer to the creation has long reached the gateway
    // (as it does: reviews take seconds to minutes), however loaded the test machine is.
    sim.set_template_review_delay(300);
    // The approved templates the tests send (Meta's review is the templates tests' business).
    for (name, language, category, body) in [
        (
            "order_update",
            "en_US",
            "UTILITY",
            "Your order has been updated.",
        ),
        (
            "order_update",
            "es",
            "UTILITY",
            "Su pedido ha sido actualizado.",
        ),
        (
            "spring_sale",
            "en_US",
            "MARKETING",
            "Our spring sale starts today.",
        ),
    ] {
        sim.seed_template(openbsp_simulator::TemplateSeed::new(
            "900100",
            json!({"name": name, "language": language, "category": category,
                   "components": [{"type": "BODY", "text": body}]}),
        ))
        .expect("the simulator takes the template");
    }
    TestApp {
        gateway,
        sim,
        store,
        key,
        api_key,
        admin_key,
        tenant_id: tenant.id,
        channel,
        http: reqwest::Client::new(),
        db,
    }
}

/// A status code and JSON body.
pub struct Resp {
    pub status: u16,
    pub body: Value,
}

/// An answer's status, and its body as JSON (a string when it is not JSON).
pub async fn read(r: reqwest::Response) -> Resp {
    let status = r.status().as_u16();
    let text = r.text().await.unwrap_or_default();
    Resp {
        status,
        body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
    }
}

/// The campaign tests' template, `spring_offer` (en_US, two body variables), in `category`,
/// seeded at the simulator (the gateway learns it from Meta when asked); its id there.
pub fn seed_spring_offer(app: &TestApp, category: &str) -> String {
    app.sim
        .seed_template(openbsp_simulator::TemplateSeed::new(
            "900100",
            json!({"name": "spring_offer", "language": "en_US", "category": category,
                   "components": [{"type": "BODY", "text": "Hi {{1}}, enjoy {{2}} off everything in our spring sale today.",
                                   "example": {"body_text": [["Ann", "20%"]]}}]}),
        ))
        .unwrap()
        .id
}

/// A Connectly route of `business`.
pub fn business_path(business: &str, route: &str) -> String {
    format!("/v1/businesses/{business}/{route}")
}

/// `method` `body` as is with Connectly's `X-API-Key: <key>` (none when `None`).
pub async fn x_api_key_call(
    app: &TestApp,
    method: &str,
    path: &str,
    key: Option<&str>,
    body: &str,
) -> Resp {
    let key = key.map(|k| ("X-API-Key", k));
    app.send_as(method, path, key, body).await
}

/// POSTs `body` to the test tenant's Connectly `route` with its key.
pub async fn x_api_key_post(app: &TestApp, route: &str, body: &Value) -> Resp {
    let path = business_path(&app.tenant_id, route);
    x_api_key_call(app, "POST", &path, Some(&app.api_key), &body.to_string()).await
}

/// What the independent consumer `script` (`tests/fixtures/`, Python's standard library) says
/// of each of `lines` (one JSON object each, on its standard input): one verdict a line.
pub fn consumer_verdicts(script: &str, lines: &[Value]) -> Vec<String> {
    use std::io::Write;
    let path = format!("{}/tests/fixtures/{script}", env!("CARGO_MANIFEST_DIR"));
    let mut child = std::process::Command::new("python3")
        .arg(path)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs (scripts/test.sh installs it)");
    {
        let mut stdin = child.stdin.take().unwrap();
        for line in lines {
            writeln!(stdin, "{line}").unwrap();
        }
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.gateway.url())
    }

    pub async fn post(&self, path: &str, key: &str, body: &Value) -> Resp {
        self.post_raw(path, key, body.to_string(), &[]).await
    }

    /// POSTs `body` as is, with `headers` (`Content-Type` JSON unless they name another).
    pub async fn post_raw(
        &self,
        path: &str,
        key: &str,
        body: impl Into<reqwest::Body>,
        headers: &[(&str, &str)],
    ) -> Resp {
        let mut req = self.http.post(self.url(path)).bearer_auth(key).body(body);
        if !headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        {
            req = req.header("content-type", "application/json");
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        read(req.send().await.expect("request")).await
    }

    pub async fn get(&self, path: &str, key: &str) -> Resp {
        let req = self.http.get(self.url(path)).bearer_auth(key);
        read(req.send().await.expect("request")).await
    }

    /// One object of each kind the native API names by id in its routes, each with the route
    /// prefix that takes it (`/v1/messages/`, ...): to call those routes on something that
    /// exists.
    pub async fn one_of_each(&self) -> Vec<(&'static str, String)> {
        let app = self;
        let inbound = app.user_writes(USER, "Ana", "hello").await;
        let message = id_of(&app.send_text(USER, "hi").await, "message");
        let endpoint = id_of(
            &app.post(
                "/v1/webhook-endpoints",
                &app.api_key,
                &json!({"url": "http://127.0.0.1:9/hooks", "events": ["message.*"]}),
            )
            .await,
            "endpoint",
        );
        let media = id_of(
            &app.post_raw(
                "/v1/media",
                &app.api_key,
                png(64),
                &[("content-type", "image/png")],
            )
            .await,
            "media",
        );
        let sync = app
            .post(
                "/v1/templates/sync",
                &app.api_key,
                &json!({"channel": PNID}),
            )
            .await;
        assert_eq!(sync.status, 200, "{}", sync.body);
        let templates = app
            .get(
                "/v1/templates?name=order_update&language=en_US",
                &app.api_key,
            )
            .await;
        let template = templates.body["data"][0]["id"]
            .as_str()
            .unwrap()
            .to_string();
        let campaign = id_of(
            &app.post(
                "/v1/campaigns",
                &app.api_key,
                &json!({"name": "Seed", "channel": PNID,
                    "template": {"name": "order_update", "language": "en_US"}}),
            )
            .await,
            "campaign",
        );
        let events = app.get("/v1/events?limit=1", &app.api_key).await;
        let event = events.body["data"][0]["id"].as_str().unwrap().to_string();
        // A tenant's key for the revocation route to revoke, not the keys the runs use.
        let spare_key = id_of(
            &app.post(
                "/v1/api-keys",
                &app.admin_key,
                &json!({"tenant_id": app.tenant_id, "name": "spare"}),
            )
            .await,
            "api key",
        );
        let ids = [
            ("/v1/messages/", message),
            (
                "/v1/contacts/",
                inbound["contact_id"].as_str().unwrap().to_string(),
            ),
            (
                "/v1/sessions/",
                inbound["session_id"].as_str().unwrap().to_string(),
            ),
            ("/v1/templates/", template),
            ("/v1/campaigns/", campaign),
            ("/v1/media/", media),
            ("/v1/webhook-endpoints/", endpoint),
            ("/v1/events/", event),
            ("/v1/tenants/", app.tenant_id.clone()),
            ("/v1/api-keys/", spare_key),
            ("/v1/apps/", app.channel.app_id.clone()),
            ("/v1/channels/", app.channel.id.clone()),
        ];
        ids.to_vec()
    }

    /// A new API key of the app's tenant (not admin), as the CLI makes one: its record and
    /// its secret. No replica has it cached.
    pub async fn new_key(&self, name: &str) -> (openbsp_store::ApiKey, String) {
        let now = chrono::Utc::now().timestamp_millis();
        provision::create_api_key(self.store.as_ref(), Some(&self.tenant_id), name, false, now)
            .await
            .unwrap()
    }

    /// An API key of a second tenant, to show that tenant sees nothing of the first's.
    pub async fn other_tenant_key(&self) -> String {
        let now = chrono::Utc::now().timestamp_millis();
        let s = self.store.as_ref();
        let tenant = provision::create_tenant(s, "Other", now).await.unwrap();
        provision::create_api_key(s, Some(&tenant.id), "other", false, now)
            .await
            .unwrap()
            .1
    }

    /// A second tenant with an app and a number of its own, [`OTHER_PNID`] (display
    /// [`OTHER_DISPLAY`], WABA [`OTHER_WABA`]), which the simulator knows too: to show that
    /// neither tenant reaches the other's numbers, apps or templates.
    pub async fn other_tenant_with_number(&self) -> OtherTenant {
        let now = chrono::Utc::now().timestamp_millis();
        let provision::Provisioned {
            tenant,
            api_key,
            app,
            channel,
        } = provision::provision_sender(
            self.store.as_ref(),
            &self.key,
            ("Other", "other"),
            AppInput {
                tenant_id: String::new(),
                name: "other".into(),
                app_secret: "other-secret".into(),
                verify_token: "other-verify-token".into(),
                meta_app_id: Some("700800999".into()),
            },
            ChannelInput {
                tenant_id: String::new(),
                app_id: String::new(),
                phone_number_id: OTHER_PNID.into(),
                waba_id: OTHER_WABA.into(),
                display_phone_number: OTHER_DISPLAY.into(),
                access_token: "other-access-token".into(),
                graph_base_url: Some(self.sim.url()),
                graph_version: None,
                throughput_mps: None,
                messaging_tier: None,
                business_id: None,
            },
            now,
        )
        .await
        .unwrap();
        self.sim.add_phone_number(PhoneNumberConfig {
            phone_number_id: OTHER_PNID.into(),
            display_phone_number: OTHER_DISPLAY.into(),
            waba_id: OTHER_WABA.into(),
            access_token: "other-access-token".into(),
            app_secret: "other-secret".into(),
            webhook_url: None,
            throughput_mps: None,
        });
        OtherTenant {
            tenant_id: tenant.id,
            api_key,
            app_id: app.id,
            channel,
        }
    }

    /// `method` `body` as is (JSON), with the credential header `credential` when given (a
    /// vendor's own: `X-API-Key`, a whole `Authorization`…).
    pub async fn send_as(
        &self,
        method: &str,
        path: &str,
        credential: Option<(&str, &str)>,
        body: &str,
    ) -> Resp {
        let mut req = self
            .http
            .request(method.parse().unwrap(), self.url(path))
            .header("content-type", "application/json")
            .body(body.to_string());
        if let Some((name, value)) = credential {
            req = req.header(name, value);
        }
        read(req.send().await.expect("request")).await
    }

    /// Any method, with an optional JSON body.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        key: &str,
        body: Option<&Value>,
    ) -> Resp {
        let mut req = self.http.request(method, self.url(path)).bearer_auth(key);
        if let Some(b) = body {
            req = req.json(b);
        }
        read(req.send().await.expect("request")).await
    }

    /// `POST /v1/messages` with a text.
    pub async fn send_text(&self, to: &str, body: &str) -> Resp {
        self.post(
            "/v1/messages",
            &self.api_key,
            &json!({"channel": PNID, "to": to, "type": "text", "text": {"body": body}}),
        )
        .await
    }

    /// `POST /v1/messages` with a template: allowed whether or not the user's window is open.
    pub async fn send_template(&self, to: &str) -> Resp {
        self.post(
            "/v1/messages",
            &self.api_key,
            &json!({"channel": PNID, "to": to, "type": "template",
                    "template": {"name": "order_update", "language": {"code": "en_US"}}}),
        )
        .await
    }

    /// Opens `user`'s customer service window on the test channel: the user writes first.
    pub async fn open_window(&self, user: &str) {
        self.user_writes(user, "User", "hi").await;
    }

    /// The user `from` writes a text to the test channel (through the simulator, signed like
    /// Meta's webhooks); returns the inbound message once the gateway has stored it.
    pub async fn user_writes(&self, from: &str, name: &str, text: &str) -> Value {
        let wamid = self
            .sim
            .inject_inbound(openbsp_simulator::InboundRequest {
                phone_number_id: PNID.into(),
                from: Some(from.into()),
                name: Some(name.into()),
                message: json!({"type": "text", "text": {"body": text}}),
                ..Default::default()
            })
            .await
            .expect("simulator accepts the inbound message");
        let path = format!("/v1/messages/{wamid}");
        wait_until("inbound stored", || async {
            self.get(&path, &self.api_key).await.status == 200
        })
        .await;
        self.get(&path, &self.api_key).await.body
    }

    /// Waits until the message reaches `status` (or, on the way to the user, a later one).
    pub async fn wait_status(&self, id: &str, status: &str) -> Value {
        const ROAD: [&str; 5] = ["queued", "accepted", "sent", "delivered", "read"];
        let rank = |s: &str| ROAD.iter().position(|r| *r == s);
        let mut last = Value::Null;
        for _ in 0..300 {
            let r = self.get(&format!("/v1/messages/{id}"), &self.api_key).await;
            let now = r.body["status"].as_str().unwrap_or_default();
            if now == status || matches!((rank(now), rank(status)), (Some(a), Some(b)) if a >= b) {
                return r.body;
            }
            last = r.body;
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
        panic!("message {id} never reached {status}; last seen: {last}");
    }

    /// Posts a webhook body to the gateway, signed with `secret`.
    pub async fn post_webhook(&self, body: &str, secret: Option<&str>) -> u16 {
        let mut req = self
            .http
            .post(self.url("/webhooks/whatsapp"))
            .header("content-type", "application/json")
            .body(body.to_string());
        if let Some(s) = secret {
            req = req.header(
                "x-hub-signature-256",
                openbsp_wire::signature::sign(s.as_bytes(), body.as_bytes()),
            );
        }
        req.send().await.expect("request").status().as_u16()
    }
}

impl TestApp {
    /// A user message delivered as Meta's signed webhook with Meta's timestamp `at_ms`
    /// (whole seconds, as Meta sends); waits until the gateway stored it and returns it.
    pub async fn inbound_at(&self, from: &str, message: Value, at_ms: i64) -> Value {
        let wamid = format!("wamid.test-{}", openbsp_domain::crypto::random_token(8));
        let mut m = message;
        m["from"] = json!(from);
        m["id"] = json!(wamid);
        m["timestamp"] = json!((at_ms / 1000).to_string());
        let contacts = if m["type"] == "system" {
            json!([])
        } else {
            json!([{"profile": {"name": "Test User"}, "wa_id": from}])
        };
        let body = envelope(json!({"contacts": contacts, "messages": [m]}));
        assert_eq!(self.post_webhook(&body, Some(APP_SECRET)).await, 200);
        let path = format!("/v1/messages/{wamid}");
        wait_until("inbound stored", || async {
            self.get(&path, &self.api_key).await.status == 200
        })
        .await;
        self.get(&path, &self.api_key).await.body
    }
}

/// The id in a create's answer.
fn id_of(r: &Resp, what: &str) -> String {
    assert!([200, 201, 202].contains(&r.status), "{what}: {}", r.body);
    r.body["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{what}: {}", r.body))
        .to_string()
}

/// Polls `f` until it returns true (10 s at most).
pub async fn wait_until<F, Fut>(what: &str, f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    wait_up_to(Duration::from_secs(10), what, f).await
}

/// Waits for `f` to hold, up to `limit`.
pub async fn wait_up_to<F, Fut>(limit: Duration, what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..limit.as_millis().div_ceil(20) {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for {what}");
}

/// A `messages` webhook envelope for the test channel.
pub fn envelope(value_extra: Value) -> String {
    let mut value = json!({
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550001111", "phone_number_id": PNID},
    });
    if let (Some(v), Some(extra)) = (value.as_object_mut(), value_extra.as_object()) {
        for (k, x) in extra {
            v.insert(k.clone(), x.clone());
        }
    }
    json!({"object": "whatsapp_business_account", "entry": [{"id": "900100", "changes": [{"field": "messages", "value": value}]}]}).to_string()
}

/// A template with every component kind, valid as Meta wants it.
pub fn shipping(name: &str, language: &str) -> Value {
    json!({"name": name, "language": language, "category": "UTILITY", "components": [
        {"type": "HEADER", "format": "TEXT", "text": "Order {{1}}", "example": {"header_text": ["A1"]}},
        {"type": "BODY", "text": "Hi {{1}}, your order {{2}} is ready now.", "example": {"body_text": [["Ann", "A1"]]}},
        {"type": "FOOTER", "text": "Reply STOP to opt out"},
        {"type": "BUTTONS", "buttons": [
            {"type": "URL", "text": "Track", "url": "https://shop.test/t/{{1}}", "example": ["https://shop.test/t/A1"]},
            {"type": "QUICK_REPLY", "text": "Thanks"}]}
    ]})
}

/// A native request body: `v` with the test channel.
pub fn with_channel(mut v: Value) -> Value {
    v["channel"] = json!(PNID);
    v
}
