//! Campaigns through the native API, with the simulator as Meta, on both backends: created
//! against the stored template, filled by CSV and JSON-lines uploads checked row by row, run
//! to completion with every recipient sent once, paused (nothing more reaches Meta) and
//! resumed, cancelled (what was queued never reaches Meta), counted and reported.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::*;
use openbsp_testkit::{Backend, on_both_backends};
use serde_json::{Value, json};

on_both_backends! {
    a_campaign_reaches_every_recipient_once => crate::a_campaign_reaches_every_recipient_once,
    a_paused_campaign_sends_nothing_until_resumed => crate::a_paused_campaign_sends_nothing_until_resumed,
    a_cancelled_campaign_sends_nothing_more => crate::a_cancelled_campaign_sends_nothing_more,
    failed_recipients_go_again_on_request_only => crate::failed_recipients_go_again_on_request_only,
    a_campaign_stops_when_meta_pauses_its_template => crate::a_campaign_stops_when_meta_pauses_its_template,
    a_reply_overtakes_the_campaign => crate::a_reply_overtakes_the_campaign,
    metas_marketing_cap_fails_a_recipient_and_nothing_retries_it =>
        crate::metas_marketing_cap_fails_a_recipient_and_nothing_retries_it,
    template_pacing_that_ends_in_a_pause_pauses_the_campaign =>
        crate::template_pacing_that_ends_in_a_pause_pauses_the_campaign,
    template_pacing_that_ends_in_a_release_delivers_the_held_sends =>
        crate::template_pacing_that_ends_in_a_release_delivers_the_held_sends,
    an_upload_is_added_whole_or_not_at_all => crate::an_upload_is_added_whole_or_not_at_all,
}

const TEMPLATE: &str = "spring_offer";

/// The campaign's template at the simulator; its id there.
fn seed_template(app: &TestApp) -> String {
    seed_spring_offer(app, "MARKETING")
}

async fn create(app: &TestApp, extra: Value) -> Value {
    let mut body = json!({"name": "Spring", "channel": PNID,
        "template": {"name": TEMPLATE, "language": "en_US",
                     "variables": ["{{first_name}}", "{{discount}}"]}});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let r = app.post("/v1/campaigns", &app.api_key, &body).await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body
}

async fn upload(app: &TestApp, id: &str, content_type: &str, body: String) -> (u16, Value) {
    let path = format!("/v1/campaigns/{id}/recipients");
    let r = app
        .post_raw(&path, &app.api_key, body, &[("content-type", content_type)])
        .await;
    (r.status, r.body)
}

fn csv(users: std::ops::Range<u32>) -> String {
    let mut s = String::from("phone,first_name,discount\n");
    for i in users {
        s.push_str(&format!("+1 555 700 {i:04},User {i},{}%\n", 10 + i % 20));
    }
    s
}

fn user(i: u32) -> String {
    format!("1555700{i:04}")
}

async fn act(app: &TestApp, id: &str, verb: &str) -> Value {
    let r = app
        .post(
            &format!("/v1/campaigns/{id}/{verb}"),
            &app.api_key,
            &json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{verb}: {}", r.body);
    r.body
}

async fn campaign(app: &TestApp, id: &str) -> Value {
    let r = app.get(&format!("/v1/campaigns/{id}"), &app.api_key).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body
}

/// Waits for the campaign to complete.
async fn completes(app: &TestApp, id: &str) {
    wait_up_to(
        Duration::from_secs(30),
        "the campaign completes",
        || async { campaign(app, id).await["status"] == "completed" },
    )
    .await;
}

/// After a pause or a cancel: what the sender had already claimed may still go (a quarter
/// second of its pace); then nothing more reaches Meta. What had reached it. (A wait: the
/// absence of sends has no event to wait on.)
async fn nothing_more_sent(app: &TestApp) -> usize {
    tokio::time::sleep(Duration::from_millis(700)).await;
    let at_stop = received(app).len();
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    assert_eq!(received(app).len(), at_stop, "sends went on after the stop");
    at_stop
}

/// Each of the `n` recipients reached Meta exactly once: what each got.
fn sent_once_each(app: &TestApp, n: usize) -> HashMap<String, Vec<Value>> {
    let got = received(app);
    assert_eq!(got.len(), n);
    assert!(
        got.values().all(|s| s.len() == 1),
        "a recipient got two sends"
    );
    got
}

/// The tenant's campaign events' types, newest first.
async fn campaign_events(app: &TestApp) -> Vec<String> {
    app.get("/v1/events?types=campaign.*", &app.api_key)
        .await
        .body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_string())
        .collect()
}

/// What the simulator received for the campaign's users: sends per user.
fn received(app: &TestApp) -> HashMap<String, Vec<Value>> {
    let mut by_user: HashMap<String, Vec<Value>> = HashMap::new();
    for m in app.sim.received(PNID) {
        if m.to.starts_with("1555700") {
            by_user.entry(m.to.clone()).or_default().push(m.body);
        }
    }
    by_user
}

async fn a_campaign_reaches_every_recipient_once(backend: Backend) {
    let app = spawn_app(backend).await;
    seed_template(&app);
    let c = create(&app, json!({})).await;
    let id = c["id"].as_str().unwrap().to_string();
    assert_eq!(c["status"], "draft");
    assert_eq!(c["template"]["columns"], json!(["discount", "first_name"]));
    assert_eq!(c["counts"]["total"], 0);

    // A CSV: 30 users, one of them twice, a number that is none, a line short of a field.
    let mut file = csv(0..30);
    file.push_str("+1 555 700 0003,Again,5%\nnot-a-number,X,1%\n+1 555 700 0099,Short\n");
    let (status, report) = upload(&app, &id, "text/csv", file).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["accepted"], 30);
    assert_eq!(report["duplicates"], 1);
    assert_eq!(report["rejected"], 2);
    let lines: Vec<u64> = report["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, vec![33, 34], "{report}");
    // JSON lines add up; a row whose variables break the template is refused with Meta's code.
    let ndjson = (30..35)
        .map(|i| json!({"wa_id": user(i), "variables": {"first_name": format!("User {i}"), "discount": "5%"}}).to_string())
        .chain([json!({"wa_id": user(36), "variables": {"first_name": "", "discount": "5%"}}).to_string()])
        .collect::<Vec<_>>()
        .join("\n");
    let (status, report) = upload(&app, &id, "application/x-ndjson", ndjson).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(
        (report["accepted"].as_u64(), report["rejected"].as_u64()),
        (Some(5), Some(1)),
        "{report}"
    );
    // A file without a column the placeholders need is refused whole; an unknown format too.
    let (status, err) = upload(
        &app,
        &id,
        "text/csv",
        "phone,first_name\n+15557000050,Zed\n".into(),
    )
    .await;
    assert_eq!(status, 400, "{err}");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("discount"),
        "{err}"
    );
    let (status, _) = upload(&app, &id, "application/json", "{}".into()).await;
    assert_eq!(status, 415);
    assert_eq!(campaign(&app, &id).await["counts"]["total"], 35);

    // Created again under an Idempotency-Key: the first answer stands; another request under
    // the same key is refused, naming the campaign.
    let keyed = |body: Value| {
        let (http, url, key) = (
            app.http.clone(),
            app.url("/v1/campaigns"),
            app.api_key.clone(),
        );
        async move {
            let r = http
                .post(url)
                .bearer_auth(key)
                .header("idempotency-key", "spring-2026")
                .json(&body)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let body = json!({"name": "Keyed", "channel": PNID,
                      "template": {"name": TEMPLATE, "language": "en_US",
                                   "variables": ["{{first_name}}", "{{discount}}"]}});
    let (s1, first) = keyed(body.clone()).await;
    let (s2, again) = keyed(body.clone()).await;
    assert_eq!((s1, s2), (201, 200), "{first} {again}");
    assert_eq!(first["id"], again["id"]);
    let mut other_body = body.clone();
    other_body["name"] = json!("Other");
    let (s3, reused) = keyed(other_body).await;
    assert_eq!(s3, 409, "{reused}");
    assert!(
        reused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("campaign cmp_"),
        "{reused}"
    );

    // Another tenant sees nothing of it.
    let other = app.other_tenant_key().await;
    assert_eq!(
        app.get(&format!("/v1/campaigns/{id}"), &other).await.status,
        404
    );
    assert_eq!(
        app.post(&format!("/v1/campaigns/{id}/start"), &other, &json!({}))
            .await
            .status,
        404
    );

    // Started: it runs to completion, every recipient sent once, its variables filled in.
    let started = act(&app, &id, "start").await;
    assert_eq!(started["status"], "running");
    // Not twice.
    let again = app
        .post(
            &format!("/v1/campaigns/{id}/start"),
            &app.api_key,
            &json!({}),
        )
        .await;
    assert_eq!(again.status, 409, "{}", again.body);
    completes(&app, &id).await;
    let got = sent_once_each(&app, 35);
    let first = &got[&user(7)][0];
    assert_eq!(first["template"]["name"], TEMPLATE);
    assert_eq!(
        first["template"]["components"][0]["parameters"][0]["text"],
        "User 7"
    );
    assert_eq!(
        first["template"]["components"][0]["parameters"][1]["text"],
        "17%"
    );

    // Meta's statuses come back: every recipient delivered or read, counts that add up.
    wait_up_to(
        Duration::from_secs(20),
        "every recipient is read",
        || async { campaign(&app, &id).await["counts"]["read"] == 35 },
    )
    .await;
    let done = campaign(&app, &id).await;
    assert_eq!(done["counts"]["total"], 35);
    assert_eq!(done["counts"]["pending"], 0);
    assert!(done["completed_at"].is_string());

    // Recipients listed by status and paged; the report has a line each.
    let r = app
        .get(
            &format!("/v1/campaigns/{id}/recipients?status=read&limit=20"),
            &app.api_key,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["data"].as_array().unwrap().len(), 20);
    assert_eq!(r.body["has_more"], true);
    let next = r.body["next_cursor"].as_str().unwrap();
    let r = app
        .get(
            &format!("/v1/campaigns/{id}/recipients?status=read&limit=20&after={next}"),
            &app.api_key,
        )
        .await;
    assert_eq!(r.body["data"].as_array().unwrap().len(), 15);
    assert!(r.body["data"][0]["wamid"].is_string());
    let report = app
        .http
        .get(app.url(&format!("/v1/campaigns/{id}/report")))
        .bearer_auth(&app.api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(report.headers()["content-type"], "text/csv; charset=utf-8");
    let text = report.text().await.unwrap();
    assert_eq!(text.lines().count(), 36);
    assert!(text.lines().skip(1).all(|l| l.contains(",read,")), "{text}");

    // Its events, and its messages' statuses carrying it.
    let events = app.get("/v1/events?types=campaign.*", &app.api_key).await;
    let kinds: Vec<&str> = events.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        vec!["campaign.completed", "campaign.started"],
        "{}",
        events.body
    );
    let statuses = app
        .get("/v1/events?types=message.status&limit=5", &app.api_key)
        .await;
    assert!(
        statuses.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["data"]["campaign_id"] == json!(id))
    );
    // Listed.
    let list = app
        .get("/v1/campaigns?status=completed", &app.api_key)
        .await;
    assert_eq!(list.body["data"][0]["id"], json!(id));

    // A recipient answers: replied (counted apart, its message still read); a user the
    // campaign never wrote to answers nothing.
    app.user_writes(&user(7), "User 7", "Thanks, I want it")
        .await;
    app.user_writes("15557009999", "Stranger", "hello").await;
    wait_until("the answer marks its recipient", || async {
        campaign(&app, &id).await["counts"]["replied"] == 1
    })
    .await;
    let replied = app
        .get(
            &format!("/v1/campaigns/{id}/recipients?status=replied"),
            &app.api_key,
        )
        .await;
    let data = replied.body["data"].as_array().unwrap();
    assert_eq!(data.len(), 1, "{}", replied.body);
    assert_eq!(data[0]["recipient"], user(7));
    assert!(data[0]["replied_at"].is_string());
    assert_eq!(campaign(&app, &id).await["counts"]["read"], 35);
}

async fn a_paused_campaign_sends_nothing_until_resumed(backend: Backend) {
    let app = spawn_app(backend).await;
    seed_template(&app);
    let c = create(&app, json!({"rate_limit": 10})).await;
    let id = c["id"].as_str().unwrap().to_string();
    let (status, report) = upload(&app, &id, "text/csv", csv(0..40)).await;
    assert_eq!((status, report["accepted"].as_u64()), (200, Some(40)));
    act(&app, &id, "start").await;
    wait_until("some recipients are sent", || async {
        received(&app).len() >= 5
    })
    .await;
    let paused = act(&app, &id, "pause").await;
    assert_eq!(paused["status"], "paused");
    assert_eq!(paused["pause_reason"]["by"], "request");
    // What the sender had already claimed may still go; then nothing.
    let at_pause = nothing_more_sent(&app).await;
    assert!(at_pause < 40);
    // Recipients may be added while paused.
    let (status, report) = upload(&app, &id, "text/csv", csv(40..45)).await;
    assert_eq!((status, report["accepted"].as_u64()), (200, Some(5)));

    act(&app, &id, "resume").await;
    completes(&app, &id).await;
    sent_once_each(&app, 45);
    let kinds = campaign_events(&app).await;
    assert_eq!(
        kinds,
        vec![
            "campaign.completed",
            "campaign.resumed",
            "campaign.paused",
            "campaign.started"
        ]
    );
}

async fn a_cancelled_campaign_sends_nothing_more(backend: Backend) {
    let app = spawn_app(backend).await;
    seed_template(&app);
    let c = create(&app, json!({"rate_limit": 10})).await;
    let id = c["id"].as_str().unwrap().to_string();
    upload(&app, &id, "text/csv", csv(0..40)).await;
    act(&app, &id, "start").await;
    wait_until("some recipients are sent", || async {
        received(&app).len() >= 3
    })
    .await;
    let cancelled = act(&app, &id, "cancel").await;
    assert_eq!(cancelled["status"], "cancelled");
    nothing_more_sent(&app).await;
    // Its queued sends failed without reaching Meta; nothing more can be done with it.
    let counts = campaign(&app, &id).await["counts"].clone();
    assert_eq!(counts["total"], 40);
    let cancelled_sends = app
        .get(
            &format!("/v1/campaigns/{id}/recipients?status=failed&limit=100"),
            &app.api_key,
        )
        .await;
    assert!(
        cancelled_sends.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["error"]["code"] == "campaign_cancelled")
    );
    // Every recipient is accounted for: sent (claimed before the cancel), failed (held), or
    // skipped (never handed to the sender).
    wait_until("nothing is pending", || async {
        campaign(&app, &id).await["counts"]["pending"] == 0
    })
    .await;
    let counts = campaign(&app, &id).await["counts"].clone();
    assert!(counts["skipped"].as_u64().unwrap() > 0, "{counts}");
    let resume = app
        .post(
            &format!("/v1/campaigns/{id}/resume"),
            &app.api_key,
            &json!({}),
        )
        .await;
    assert_eq!(resume.status, 409);
    let upload_after = upload(&app, &id, "text/csv", csv(50..51)).await;
    assert_eq!(upload_after.0, 409, "{}", upload_after.1);
}

async fn failed_recipients_go_again_on_request_only(backend: Backend) {
    let app = spawn_app(backend).await;
    seed_template(&app);
    // Meta accepts every send, then fails it as undeliverable (its status webhook).
    app.sim.set_faults(openbsp_simulator::Faults {
        fail_status_rate: 1.0,
        fail_status_code: 131026,
        ..Default::default()
    });
    let c = create(&app, json!({})).await;
    let id = c["id"].as_str().unwrap().to_string();
    upload(&app, &id, "text/csv", csv(0..10)).await;
    act(&app, &id, "start").await;
    wait_up_to(Duration::from_secs(20), "every recipient fails", || async {
        let c = campaign(&app, &id).await;
        c["status"] == "completed" && c["counts"]["failed"] == 10
    })
    .await;
    let c = campaign(&app, &id).await;
    assert_eq!(c["failures"], json!([{"code": "131026", "count": 10}]));
    // Nothing goes again by itself (a wait: the absence of a send has no event to wait on;
    // a retry would be due within the sender's 50 ms base here).
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(received(&app).values().all(|s| s.len() == 1));

    // Asked for: a code it has none of retries nothing; 131026 sends the ten again.
    app.sim.set_faults(openbsp_simulator::Faults::default());
    let none = app
        .post(
            &format!("/v1/campaigns/{id}/retry"),
            &app.api_key,
            &json!({"codes": [131049]}),
        )
        .await;
    assert_eq!(
        (none.status, none.body["retried"].as_u64()),
        (200, Some(0)),
        "{}",
        none.body
    );
    assert_eq!(none.body["campaign"]["status"], "completed");
    let bad = app
        .post(
            &format!("/v1/campaigns/{id}/retry"),
            &app.api_key,
            &json!({"codes": []}),
        )
        .await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    let r = app
        .post(
            &format!("/v1/campaigns/{id}/retry"),
            &app.api_key,
            &json!({"codes": ["131026"]}),
        )
        .await;
    assert_eq!(
        (r.status, r.body["retried"].as_u64()),
        (200, Some(10)),
        "{}",
        r.body
    );
    assert_eq!(r.body["campaign"]["status"], "running");
    wait_up_to(
        Duration::from_secs(20),
        "every recipient is delivered",
        || async {
            let c = campaign(&app, &id).await;
            c["status"] == "completed"
                && c["counts"]["delivered"].as_u64().unwrap_or(0)
                    + c["counts"]["read"].as_u64().unwrap_or(0)
                    == 10
        },
    )
    .await;
    let c = campaign(&app, &id).await;
    assert_eq!(
        (
            c["counts"]["total"].as_u64(),
            c["counts"]["failed"].as_u64()
        ),
        (Some(10), Some(0))
    );
    assert!(
        received(&app).values().all(|s| s.len() == 2),
        "each sent once more, not twice more"
    );
}

async fn a_campaign_stops_when_meta_pauses_its_template(backend: Backend) {
    let app = spawn_app(backend).await;
    let template = seed_template(&app);
    let c = create(&app, json!({"rate_limit": 10})).await;
    let id = c["id"].as_str().unwrap().to_string();
    upload(&app, &id, "text/csv", csv(0..40)).await;
    act(&app, &id, "start").await;
    wait_until("some recipients are sent", || async {
        received(&app).len() >= 5
    })
    .await;
    app.sim
        .set_template_status(&template, openbsp_simulator::TemplateEvent::Paused)
        .unwrap();
    wait_until("the gateway pauses the campaign", || async {
        campaign(&app, &id).await["status"] == "paused"
    })
    .await;
    let c = campaign(&app, &id).await;
    assert_eq!(c["pause_reason"]["code"], "template_paused", "{c}");
    assert_eq!(c["pause_reason"]["meta_code"], 132015);
    let at_pause = nothing_more_sent(&app).await;
    assert!(at_pause < 40);
    let events = app
        .get("/v1/events?types=campaign.paused", &app.api_key)
        .await;
    assert_eq!(
        events.body["data"][0]["data"]["reason"]["code"],
        "template_paused"
    );

    // Meta reinstates the template; the business resumes, and retries what Meta refused
    // while it was paused: every recipient reaches Meta once.
    app.sim
        .set_template_status(&template, openbsp_simulator::TemplateEvent::Approved)
        .unwrap();
    wait_until("the gateway learns the template is back", || async {
        let r = app
            .get("/v1/templates?name=spring_offer", &app.api_key)
            .await;
        r.body["data"][0]["status"] == "APPROVED"
    })
    .await;
    act(&app, &id, "resume").await;
    completes(&app, &id).await;
    let failed = campaign(&app, &id).await["counts"]["failed"]
        .as_u64()
        .unwrap();
    if failed > 0 {
        let r = app
            .post(
                &format!("/v1/campaigns/{id}/retry"),
                &app.api_key,
                &json!({"codes": ["132015"]}),
            )
            .await;
        assert_eq!(r.body["retried"].as_u64(), Some(failed), "{}", r.body);
        wait_up_to(
            Duration::from_secs(30),
            "the retried recipients are sent",
            || async { campaign(&app, &id).await["status"] == "completed" },
        )
        .await;
    }
    sent_once_each(&app, 40);
}

/// A channel at 5 msg/s with a campaign queued ahead: a reply to a user who just wrote goes
/// out next, not after the campaign's queue (about 4 s of it).
async fn a_reply_overtakes_the_campaign(backend: Backend) {
    let app = spawn_app_with(backend, 5).await;
    seed_template(&app);
    let c = create(&app, json!({})).await;
    let id = c["id"].as_str().unwrap().to_string();
    upload(&app, &id, "text/csv", csv(0..40)).await;
    act(&app, &id, "start").await;
    wait_until("the campaign's queue fills", || async {
        campaign(&app, &id).await["counts"]["queued"]
            .as_u64()
            .unwrap_or(0)
            >= 15
    })
    .await;
    app.open_window(USER).await;
    let before = app.sim.received(PNID).len();
    let r = app.send_text(USER, "Thanks for writing!").await;
    assert_eq!(r.status, 202, "{}", r.body);
    wait_until("the reply reaches Meta", || async {
        app.sim.received(PNID).iter().any(|m| m.to == USER)
    })
    .await;
    let all = app.sim.received(PNID);
    let at = all.iter().position(|m| m.to == USER).unwrap();
    // Only what the sender had already claimed (a quarter second of its pace) went first.
    assert!(
        at <= before + 3,
        "the reply waited behind {} campaign sends",
        at - before
    );
    assert!(
        campaign(&app, &id).await["counts"]["pending"]
            .as_u64()
            .unwrap()
            >= 10
    );
}

/// Meta caps the marketing templates a user receives (the simulator at one a day): a
/// recipient who already had one today fails with 131049, counted by its code, and nothing
/// sends it again by itself.
async fn metas_marketing_cap_fails_a_recipient_and_nothing_retries_it(backend: Backend) {
    let app = spawn_app(backend).await;
    seed_template(&app);
    app.sim.set_enforcement(openbsp_simulator::Enforcement {
        marketing_cap: 1,
        ..Default::default()
    });
    let earlier = app
        .post(
            "/v1/messages",
            &app.api_key,
            &json!({"channel": PNID, "to": user(3), "type": "template",
                    "template": {"name": "spring_sale", "language": {"code": "en_US"}}}),
        )
        .await;
    assert_eq!(earlier.status, 202, "{}", earlier.body);
    let id = earlier.body["id"].as_str().unwrap().to_string();
    app.wait_status(&id, "delivered").await;

    let c = create(&app, json!({})).await;
    let cid = c["id"].as_str().unwrap().to_string();
    upload(&app, &cid, "text/csv", csv(0..5)).await;
    act(&app, &cid, "start").await;
    wait_up_to(
        Duration::from_secs(20),
        "the campaign's statuses settle",
        || async {
            let c = campaign(&app, &cid).await;
            c["status"] == "completed"
                && c["counts"]["failed"] == 1
                && c["counts"]["delivered"].as_u64().unwrap_or(0)
                    + c["counts"]["read"].as_u64().unwrap_or(0)
                    == 4
        },
    )
    .await;
    let c = campaign(&app, &cid).await;
    assert_eq!(c["failures"], json!([{"code": "131049", "count": 1}]));
    let failed = app
        .get(
            &format!("/v1/campaigns/{cid}/recipients?status=failed"),
            &app.api_key,
        )
        .await;
    assert_eq!(failed.body["data"][0]["recipient"], user(3));
    assert_eq!(
        failed.body["data"][0]["error"][0]["code"], 131049,
        "{}",
        failed.body
    );
    // Not sent again (a wait, as above: the absence of a send has no event to wait on).
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(
        received(&app)[&user(3)].len(),
        2,
        "the capped recipient was sent again"
    );
}

/// Meta paces the campaign's template: its sends are accepted and held (no status), then the
/// feedback is bad: Meta pauses the template and fails every held message with 132015. The
/// campaign pauses itself with that reason, and its held recipients count as failed.
async fn template_pacing_that_ends_in_a_pause_pauses_the_campaign(backend: Backend) {
    let app = spawn_app(backend).await;
    let template = seed_template(&app);
    app.sim.pace_template(&template).unwrap();
    let c = create(&app, json!({"rate_limit": 20})).await;
    let id = c["id"].as_str().unwrap().to_string();
    upload(&app, &id, "text/csv", csv(0..60)).await;
    act(&app, &id, "start").await;
    wait_until("some sends are held at Meta", || async {
        received(&app).len() >= 10
    })
    .await;
    // Held: accepted by Meta (sent, for the campaign), never delivered; shown per recipient.
    let shown = shows_held(&app, &id, 10).await;
    let c = campaign(&app, &id).await;
    assert_eq!(c["counts"]["delivered"], 0, "{c}");
    let held = app
        .sim
        .end_pacing(&template, openbsp_simulator::PacingOutcome::Pause)
        .unwrap();
    assert!(held >= 10);
    wait_until("the campaign pauses itself", || async {
        campaign(&app, &id).await["status"] == "paused"
    })
    .await;
    let c = campaign(&app, &id).await;
    assert_eq!(c["pause_reason"]["code"], "template_paused", "{c}");
    wait_until("the held sends fail with 132015", || async {
        let c = campaign(&app, &id).await;
        c["failures"].as_array().is_some_and(|f| {
            f.iter()
                .any(|x| x["code"] == "132015" && x["count"].as_u64().unwrap() >= held as u64)
        })
    })
    .await;
    let at_pause = nothing_more_sent(&app).await;
    assert!(at_pause < 60);
    // No longer held: failed, with Meta's code.
    let c = campaign(&app, &id).await;
    assert_eq!(c["counts"]["held"], 0, "{c}");
    let r = recipient(&app, &id, &shown).await;
    assert_eq!(
        (
            r["status"].as_str(),
            r["held_for_quality_assessment"].as_bool()
        ),
        (Some("failed"), Some(false)),
        "{r}"
    );
}

/// Meta paces the template, then the feedback is good: the held sends are released and
/// delivered; while held, each recipient and the counts say so.
async fn template_pacing_that_ends_in_a_release_delivers_the_held_sends(backend: Backend) {
    let app = spawn_app(backend).await;
    let template = seed_template(&app);
    app.sim.pace_template(&template).unwrap();
    let c = create(&app, json!({})).await;
    let id = c["id"].as_str().unwrap().to_string();
    upload(&app, &id, "text/csv", csv(0..12)).await;
    act(&app, &id, "start").await;
    let shown = shows_held(&app, &id, 12).await;
    let report = app
        .get(&format!("/v1/campaigns/{id}/report"), &app.api_key)
        .await;
    let report = report.body.as_str().unwrap();
    assert!(
        report
            .lines()
            .next()
            .unwrap()
            .ends_with(",held_for_quality_assessment")
            && report.lines().skip(1).all(|l| l.ends_with(",true")),
        "{report}"
    );
    let released = app
        .sim
        .end_pacing(&template, openbsp_simulator::PacingOutcome::Release)
        .unwrap();
    assert_eq!(released, 12);
    wait_until("the released sends are delivered", || async {
        let c = campaign(&app, &id).await;
        c["counts"]["delivered"].as_u64().unwrap_or(0) + c["counts"]["read"].as_u64().unwrap_or(0)
            == 12
    })
    .await;
    completes(&app, &id).await;
    let c = campaign(&app, &id).await;
    assert_eq!(c["counts"]["held"], 0, "{c}");
    let r = recipient(&app, &id, &shown).await;
    assert_eq!(r["held_for_quality_assessment"], false, "{r}");
    assert!(
        matches!(r["status"].as_str(), Some("delivered" | "read")),
        "{r}"
    );
    sent_once_each(&app, 12);
}

/// Waits until at least `n` of the campaign's recipients show their send held by Meta, in the
/// counts and in the list; the first one's recipient.
async fn shows_held(app: &TestApp, id: &str, n: u64) -> String {
    wait_until("Meta's held sends are counted", || async {
        campaign(app, id).await["counts"]["held"]
            .as_u64()
            .unwrap_or(0)
            >= n
    })
    .await;
    let sent = app
        .get(
            &format!("/v1/campaigns/{id}/recipients?status=sent"),
            &app.api_key,
        )
        .await;
    let data = sent.body["data"].as_array().unwrap();
    let held: Vec<&Value> = data
        .iter()
        .filter(|r| r["held_for_quality_assessment"] == true)
        .collect();
    assert!(held.len() as u64 >= n, "{}", sent.body);
    held[0]["recipient"].as_str().unwrap().to_string()
}

/// One recipient of a campaign, as listed.
async fn recipient(app: &TestApp, id: &str, who: &str) -> Value {
    let all = app
        .get(
            &format!("/v1/campaigns/{id}/recipients?limit=100"),
            &app.api_key,
        )
        .await;
    all.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["recipient"] == who)
        .cloned()
        .unwrap()
}

/// An upload is added whole or not at all: a file whose encoding breaks after 25,000 good rows
/// (batches of them stored meanwhile) is refused and leaves nothing; while an upload streams in, a second one and a start
/// wait for it; an upload cut off by its caller leaves nothing. Opted-out users of a marketing
/// campaign are reported skipped at upload, and never reach Meta.
async fn an_upload_is_added_whole_or_not_at_all(backend: Backend) {
    let app = spawn_app(backend).await;
    seed_template(&app);
    let c = create(&app, json!({})).await;
    let id = c["id"].as_str().unwrap().to_string();
    let now = chrono::Utc::now().timestamp_millis();
    for i in [1, 3] {
        app.store
            .set_marketing_opt_out(
                &app.tenant_id,
                &openbsp_store::ContactKey::WaId(user(i)),
                &openbsp_store::OptOutChange {
                    opted_out: true,
                    source: "api".into(),
                    at: now,
                },
            )
            .await
            .unwrap();
    }
    let (status, report) = upload(&app, &id, "text/csv", csv(0..5)).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(
        (&report["accepted"], &report["skipped"]),
        (&json!(5), &json!(2)),
        "{report}"
    );

    // 25,000 good rows, then a Latin-1 one: refused as a whole, nothing of it kept.
    let mut file = csv(100..25_100).into_bytes();
    file.extend_from_slice(b"+1 555 799 0001,Jos\xe9,10%\n");
    let r = app
        .http
        .post(app.url(&format!("/v1/campaigns/{id}/recipients")))
        .bearer_auth(&app.api_key)
        .header("content-type", "text/csv")
        .body(file)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert!(
        body.to_string().contains("line 25002 is not UTF-8"),
        "{body}"
    );
    assert_eq!(campaign(&app, &id).await["counts"]["total"], 5);

    // An upload streaming in: a second upload and a start wait for it (409); cut off by its
    // caller, it leaves nothing.
    let (tx, rx) = futures::channel::mpsc::unbounded::<Result<bytes::Bytes, std::io::Error>>();
    tx.unbounded_send(Ok(bytes::Bytes::from(csv(200..12_200))))
        .unwrap();
    let streaming = {
        let (http, url, key) = (
            app.http.clone(),
            app.url(&format!("/v1/campaigns/{id}/recipients")),
            app.api_key.clone(),
        );
        tokio::spawn(async move {
            http.post(url)
                .bearer_auth(key)
                .header("content-type", "text/csv")
                .body(reqwest::Body::wrap_stream(rx))
                .send()
                .await
        })
    };
    wait_until("the streamed upload stores its first batch", || async {
        campaign(&app, &id).await["counts"]["total"]
            .as_u64()
            .unwrap()
            > 5
    })
    .await;
    assert_eq!(campaign(&app, &id).await["uploading"], true);
    let (status, second) = upload(&app, &id, "text/csv", csv(300..301)).await;
    assert_eq!(status, 409, "{second}");
    assert!(
        second.to_string().contains("upload_in_progress"),
        "{second}"
    );
    let start = app
        .post(
            &format!("/v1/campaigns/{id}/start"),
            &app.api_key,
            &json!({}),
        )
        .await;
    assert_eq!(start.status, 409, "{}", start.body);
    assert!(
        start.body.to_string().contains("upload_in_progress"),
        "{}",
        start.body
    );
    tx.unbounded_send(Err(std::io::Error::other("the client went away")))
        .unwrap();
    drop(tx);
    let _ = streaming.await.unwrap();
    wait_until("the cut-off upload's rows are removed", || async {
        campaign(&app, &id).await["counts"]["total"] == 5
    })
    .await;

    // The campaign runs as uploaded: the opted-out users skipped, the others sent once.
    let (status, report) = upload(&app, &id, "text/csv", csv(5..8)).await;
    assert_eq!((status, &report["accepted"]), (200, &json!(3)), "{report}");
    act(&app, &id, "start").await;
    completes(&app, &id).await;
    let c = campaign(&app, &id).await;
    assert_eq!(
        (&c["counts"]["total"], &c["counts"]["skipped"]),
        (&json!(8), &json!(2)),
        "{c}"
    );
    let got = sent_once_each(&app, 6);
    assert!(!got.contains_key(&user(1)) && !got.contains_key(&user(3)));
}
