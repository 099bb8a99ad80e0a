//! A campaign through the `openbsp campaign` commands, against a real `openbsp serve` that is
//! SIGKILLed several times while it runs: every recipient reaches Meta (the simulator) exactly
//! once, and the campaign's counts agree with its recipients afterwards. On both backends.

mod common;

use std::collections::HashMap;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use openbsp_testkit::{Backend, on_both_backends};
use serde_json::{Value, json};

on_both_backends! {
    a_campaign_killed_three_times_sends_each_recipient_once =>
        crate::a_campaign_killed_three_times_sends_each_recipient_once,
}

const RECIPIENTS: u32 = 150;
const CAMPAIGN_PREFIX: &str = "155588";

/// Runs `openbsp campaign ARGS` against the world's gateway; its output (JSON with `json`).
fn campaign(w: &World, args: &[&str], json: bool) -> Value {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_openbsp"));
    cmd.arg("campaign").args(args);
    if json {
        cmd.arg("--json");
    }
    let out = cmd
        .env("OPENBSP_URL", &w.base)
        .env("OPENBSP_API_KEY", &w.api_key)
        .output()
        .expect("run openbsp campaign");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "openbsp campaign {args:?} failed: {}{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    if json {
        serde_json::from_str(&stdout)
            .unwrap_or_else(|e| panic!("openbsp campaign {args:?}: not JSON ({e}): {stdout}"))
    } else {
        Value::String(stdout)
    }
}

/// Sends the simulator received for the campaign's users, by user.
fn received(w: &World) -> HashMap<String, usize> {
    let mut by_user = HashMap::new();
    for m in w.sim.received(PNID) {
        if m.to.starts_with(CAMPAIGN_PREFIX) {
            *by_user.entry(m.to).or_insert(0) += 1;
        }
    }
    by_user
}

async fn wait_for(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn a_campaign_killed_three_times_sends_each_recipient_once(b: Backend) {
    let w = world(b).await;
    w.sim
        .seed_template(openbsp_simulator::TemplateSeed::new(
            "3004",
            json!({"name": "crash_campaign", "language": "en", "category": "MARKETING",
                   "components": [{"type": "BODY",
                                   "text": "Hello {{1}}, our campaign survives a crash of the gateway.",
                                   "example": {"body_text": [["Ann"]]}}]}),
        ))
        .unwrap();
    let http = reqwest::Client::new();
    let mut gw = Gateway::start(&w.db, w.port, 0);
    wait_ready(&http, &w.base, &gw).await;

    let c = campaign(
        &w,
        &[
            "create",
            "--name",
            "crash",
            "--channel",
            PNID,
            "--template",
            "crash_campaign",
            "--language",
            "en",
            "--variable",
            "{{name}}",
        ],
        true,
    );
    assert_eq!(c["status"], "draft", "{c}");
    let id = c["id"].as_str().unwrap().to_string();
    let file = w.db.path().join("recipients.csv");
    let mut csv = String::from("phone,name\n");
    for i in 0..RECIPIENTS {
        csv.push_str(&format!("+{CAMPAIGN_PREFIX}{i:05},Person {i}\n"));
    }
    std::fs::write(&file, csv).unwrap();
    let report = campaign(&w, &["upload", &id, &file.display().to_string()], true);
    assert_eq!(report["accepted"], RECIPIENTS, "{report}");
    let started = campaign(&w, &["start", &id], true);
    assert_eq!(started["status"], "running");

    // Killed three times while it sends (the channel goes at 20/s; Meta answers in 150 ms, so
    // sends are in flight, claimed and queued at each kill), restarted each time.
    for run in 1..=3u32 {
        let at_least = (run as usize) * RECIPIENTS as usize / 5;
        wait_for(
            "the campaign to make progress",
            Duration::from_secs(60),
            || received(&w).len() >= at_least,
        )
        .await;
        gw.sigkill();
        gw = Gateway::start(&w.db, w.port, run);
        wait_ready(&http, &w.base, &gw).await;
    }

    // It completes; `watch` follows it to the end and says so.
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let c = campaign(&w, &["show", &id], true);
        if c["status"] == "completed" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the campaign never completed: {c}\n{}",
            gw.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let watched = campaign(&w, &["watch", &id, "--interval-ms", "100"], false);
    assert!(watched.as_str().unwrap().contains("completed"), "{watched}");

    let got = received(&w);
    let twice: Vec<_> = got.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "sent twice: {twice:?}");
    assert_eq!(got.len(), RECIPIENTS as usize, "every recipient sent");

    // The counts agree with the recipients, once Meta's statuses are in.
    let deadline = Instant::now() + Duration::from_secs(30);
    let counts = loop {
        let c = campaign(&w, &["show", &id], true);
        let n = |k: &str| c["counts"][k].as_u64().unwrap_or(0);
        if n("delivered") == u64::from(RECIPIENTS) {
            break c["counts"].clone();
        }
        assert!(Instant::now() < deadline, "statuses never settled: {c}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(counts["total"], RECIPIENTS);
    assert_eq!(counts["pending"], 0);
    let mut by_status: HashMap<String, u64> = HashMap::new();
    let mut after = String::new();
    loop {
        let r = http
            .get(format!(
                "{}/v1/campaigns/{id}/recipients?limit=100{after}",
                w.base
            ))
            .bearer_auth(&w.api_key)
            .send()
            .await
            .unwrap();
        let page: Value = r.json().await.unwrap();
        for r in page["data"].as_array().unwrap() {
            *by_status
                .entry(r["status"].as_str().unwrap().to_string())
                .or_insert(0) += 1;
        }
        match page["next_cursor"].as_str() {
            Some(next) => after = format!("&after={next}"),
            None => break,
        }
    }
    assert_eq!(
        by_status,
        HashMap::from([("delivered".to_string(), u64::from(RECIPIENTS))])
    );
}
