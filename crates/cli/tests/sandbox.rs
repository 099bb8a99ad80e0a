//! `openbsp serve --sandbox` from a fresh data directory: it provisions, writes sandbox.json,
//! and the curl it prints works: the simulator receives the text and the message reaches
//! `read`. A second start reuses everything (same key, same tenant).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start(dir: &std::path::Path, port: u16, sim_port: u16) -> (Serve, std::path::PathBuf) {
    let out = dir.join(format!("stdout-{port}.txt"));
    let child = Command::new(env!("CARGO_BIN_EXE_openbsp"))
        .args(["serve", "--sandbox"])
        .env("OPENBSP_DATA_DIR", dir.join("data"))
        .env("OPENBSP_LISTEN", format!("127.0.0.1:{port}"))
        .env("OPENBSP_SIMULATOR_LISTEN", format!("127.0.0.1:{sim_port}"))
        .env_remove("OPENBSP_DATABASE_URL")
        .env_remove("OPENBSP_MASTER_KEY")
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the sandbox");
    (Serve(child), out)
}

async fn wait_for_banner(out: &std::path::Path) -> String {
    let t = Instant::now();
    loop {
        let text = std::fs::read_to_string(out).unwrap_or_default();
        if text.contains("curl -sS -X POST") && text.trim_end().ends_with("/messages") {
            return text;
        }
        assert!(t.elapsed() < Duration::from_secs(30), "no banner: {text}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Runs the `curl` the banner printed, as a shell would.
fn run_printed_curl(banner: &str) -> Value {
    let start = banner.find("curl -sS -X POST").unwrap();
    let rest = &banner[start..];
    let end = rest.find("\n\n").unwrap();
    let cmd = &rest[..end];
    let out = Command::new("sh").arg("-c").arg(cmd).output().expect("sh");
    assert!(
        out.status.success(),
        "curl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&out.stdout)))
}

#[tokio::test]
async fn the_printed_curl_works_and_a_restart_reuses_the_sandbox() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let (port, sim_port) = (free_port(), free_port());
    let (serve, out) = start(dir.path(), port, sim_port);
    let banner = wait_for_banner(&out).await;
    let info: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("data/sandbox.json")).unwrap(),
    )
    .unwrap();
    for key in [
        "base_url",
        "api_key",
        "tenant_id",
        "phone_number_id",
        "waba_id",
        "app_secret",
        "verify_token",
        "simulator_url",
    ] {
        assert!(
            info[key].as_str().is_some_and(|v| !v.is_empty()),
            "sandbox.json lacks {key}: {info}"
        );
    }
    assert_eq!(info["base_url"], format!("http://127.0.0.1:{port}"));
    let key_file = dir.path().join("data/master.key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    let sent = run_printed_curl(&banner);
    assert_eq!(sent["status"], "queued", "{sent}");
    let id = sent["id"].as_str().unwrap();
    let http = reqwest::Client::new();
    let api_key = info["api_key"].as_str().unwrap();
    let t = Instant::now();
    loop {
        let m: Value = http
            .get(format!("http://127.0.0.1:{port}/v1/messages/{id}"))
            .bearer_auth(api_key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if m["status"] == "read" {
            let seen: Vec<&str> = m["statuses"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["status"].as_str().unwrap())
                .collect();
            assert!(seen.contains(&"delivered"), "{m}");
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(10), "never read: {m}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let received: Value = http
        .get(format!(
            "{}/_simulator/messages?phone_number_id={}",
            info["simulator_url"].as_str().unwrap(),
            info["phone_number_id"].as_str().unwrap()
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(received["data"].as_array().unwrap().len(), 1, "{received}");
    drop(serve);

    // Restart on the same data directory: same tenant, the same key still works.
    let (port2, sim_port2) = (free_port(), free_port());
    let (_serve, out2) = start(dir.path(), port2, sim_port2);
    wait_for_banner(&out2).await;
    let again: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("data/sandbox.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(again["tenant_id"], info["tenant_id"]);
    assert_eq!(again["api_key"], info["api_key"]);
    let m: Value = http
        .get(format!("http://127.0.0.1:{port2}/v1/messages/{id}"))
        .bearer_auth(api_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(m["status"], "read", "kept across restarts: {m}");
}
