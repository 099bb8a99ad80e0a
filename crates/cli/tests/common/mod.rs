//! What the process tests share: the `openbsp` binary run as the admin CLI and as `serve`
//! processes (killed with SIGKILL when a test says so, and when dropped), and a world
//! provisioned through the CLI with the simulator as Meta.

#![allow(dead_code)] // each test binary uses a part of it

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use openbsp_simulator::{Faults, PhoneNumberConfig, Simulator, SimulatorConfig, StatusDelays};
use openbsp_testkit::{Backend, TestDb};
use serde_json::{Value, json};

pub const MASTER_KEY: &str = "5f2b8e0c6a1d4f3b9e7c2a1d0f6b8e4c3a2d1f0e9b8c7a6d5e4f3a2b1c0d9e8f";
pub const PNID: &str = "300400500";
pub const USER_PREFIX: &str = "155577";

pub struct Db<'a>(pub &'a TestDb);

impl Db<'_> {
    pub fn cli(&self, args: &[&str]) -> Value {
        let out = Command::new(env!("CARGO_BIN_EXE_openbsp"))
            .args(args)
            .args([
                "--database-url",
                &self.0.url,
                "--data-dir",
                &self.0.path().display().to_string(),
                "--json",
            ])
            .env("OPENBSP_MASTER_KEY", MASTER_KEY)
            .output()
            .expect("run openbsp");
        assert!(
            out.status.success(),
            "openbsp {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "openbsp {args:?}: not JSON ({e}): {}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }
}

/// A gateway process, killed when dropped.
pub struct Gateway {
    pub child: Child,
    pub log: std::path::PathBuf,
}

impl Gateway {
    pub fn start(db: &TestDb, port: u16, run: u32) -> Gateway {
        let log = db.path().join(format!("gateway-{run}.log"));
        let child = Command::new(env!("CARGO_BIN_EXE_openbsp"))
            .args([
                "serve",
                "--database-url",
                &db.url,
                "--data-dir",
                &db.path().display().to_string(),
                "--listen",
                &format!("127.0.0.1:{port}"),
            ])
            .env("OPENBSP_MASTER_KEY", MASTER_KEY)
            .env("OPENBSP_SENDER_REQUEST_TIMEOUT_MS", "2000")
            .env("OPENBSP_SENDER_LEASE_TTL_MS", "2000")
            .env("OPENBSP_SENDER_RECONCILE_GRACE_MS", "3000")
            .env("OPENBSP_SENDER_RETRY_BASE_MS", "100")
            .env("OPENBSP_SENDER_POLL_INTERVAL_MS", "50")
            // The test's webhook receiver is on this machine; retries come in milliseconds.
            .env("OPENBSP_WEBHOOKS_ALLOW_PRIVATE_NETWORKS", "true")
            .env("OPENBSP_WEBHOOKS_RETRY_SCHEDULE_MS", "200,400,800,1600")
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("start openbsp serve");
        Gateway { child, log }
    }

    pub fn sigkill(mut self) {
        // Child::kill sends SIGKILL on Unix: no shutdown code runs.
        self.child.kill().expect("SIGKILL");
        let _ = self.child.wait();
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub async fn wait_ready(http: &reqwest::Client, base: &str, gw: &Gateway) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(30) {
        if let Ok(r) = http.get(format!("{base}/readyz")).send().await
            && r.status() == 200
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("gateway never became ready:\n{}", gw.log());
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A gateway's database provisioned (tenant, key, app, channel on the simulator) through the
/// CLI, and the simulator answering slowly so that sends are in flight when the gateway dies.
pub struct World {
    pub db: TestDb,
    pub sim: openbsp_simulator::SimulatorHandle,
    pub api_key: String,
    pub port: u16,
    pub base: String,
}

pub async fn world(b: Backend) -> World {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let db = TestDb::new(b).await;
    let sim = Simulator::start(SimulatorConfig {
        status_delays: StatusDelays {
            sent_ms: 20,
            delivered_ms: 40,
            read_ms: None,
        },
        webhook_retry_base_ms: 100,
        webhook_retry_max_ms: 500,
        ..SimulatorConfig::default()
    })
    .await
    .unwrap();
    // Meta answers slowly, so sends are in flight when the gateway dies.
    sim.set_faults(Faults {
        latency_ms: 150,
        ..Faults::default()
    });

    let cli = Db(&db);
    let tenant = cli.cli(&["tenant", "create", "--name", "crash"]);
    let tenant_id = tenant["id"].as_str().unwrap();
    let key = cli.cli(&["apikey", "create", "--tenant", tenant_id]);
    let api_key = key["key"].as_str().unwrap().to_string();
    let app = cli.cli(&[
        "app",
        "add",
        "--tenant",
        tenant_id,
        "--app-secret",
        "crash-secret",
        "--verify-token",
        "vt",
    ]);
    let channel = cli.cli(&[
        "channel",
        "add",
        "--tenant",
        tenant_id,
        "--app",
        app["id"].as_str().unwrap(),
        "--phone-number-id",
        PNID,
        "--waba-id",
        "3004",
        "--display-phone-number",
        "15550003333",
        "--access-token",
        "crash-token",
        "--graph-base-url",
        &sim.url(),
        "--throughput-mps",
        "20",
    ]);
    assert_eq!(channel["phone_number_id"], PNID);
    assert!(!channel.to_string().contains("crash-token"));
    let listed = cli.cli(&["channel", "list"]);
    assert_eq!(listed.as_array().unwrap().len(), 1);
    let id = channel["id"].as_str().unwrap();
    let updated = cli.cli(&[
        "channel",
        "update",
        "--id",
        id,
        "--access-token",
        "crash-token",
        "--throughput-mps",
        "20",
    ]);
    assert_eq!(
        (&updated["status"], &updated["throughput_mps"]),
        (&json!("active"), &json!(20))
    );
    assert!(!updated.to_string().contains("crash-token"));

    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    sim.add_phone_number(PhoneNumberConfig {
        phone_number_id: PNID.into(),
        display_phone_number: "15550003333".into(),
        waba_id: "3004".into(),
        access_token: "crash-token".into(),
        app_secret: "crash-secret".into(),
        webhook_url: Some(format!("{base}/webhooks/whatsapp")),
        throughput_mps: Some(20),
    });
    sim.seed_template(openbsp_simulator::TemplateSeed::new(
        "3004",
        json!({"name": "crash_test", "language": "en", "category": "UTILITY",
               "components": [{"type": "BODY", "text": "This is a crash test."}]}),
    ))
    .expect("the simulator takes the template");
    World {
        db,
        sim,
        api_key,
        port,
        base,
    }
}
