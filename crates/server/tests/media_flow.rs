//! Media on its way through Meta, on both backends, with the simulator as Meta: a gateway
//! media id sent (uploaded to Meta once per channel, reused, uploaded again when Meta forgets
//! it or it is older than Meta keeps it), inbound media downloaded by the durable fetcher
//! (checked against Meta's sha256, kept under the id the message names, 131052 over 100 MB,
//! a download a dead replica held taken again), and template header samples given as gateway
//! media (native, and through the Graph surface's resumable upload).

mod common;

use std::time::Duration;

use base64::Engine;
use common::*;
use openbsp_server::config::{MediaStoreConfig, S3Config};
use openbsp_testkit::{Backend, on_both_backends};
use serde_json::{Value, json};
use sha2::Digest;

on_both_backends! {
    a_gateway_media_goes_out_as_metas_copy_reused_and_uploaded_again =>
        crate::a_gateway_media_goes_out_as_metas_copy_reused_and_uploaded_again,
    a_copy_older_than_meta_keeps_one_is_uploaded_again =>
        crate::a_copy_older_than_meta_keeps_one_is_uploaded_again,
    inbound_media_is_downloaded_checked_and_kept_on_s3 =>
        crate::inbound_media_is_downloaded_checked_and_kept_on_s3,
    a_download_a_dead_replica_held_is_taken_again =>
        crate::a_download_a_dead_replica_held_is_taken_again,
    template_header_samples_from_gateway_media =>
        crate::template_header_samples_from_gateway_media,
    a_campaign_uploads_its_header_image_once =>
        crate::a_campaign_uploads_its_header_image_once,
}

fn pdf(n: usize) -> Vec<u8> {
    let mut b = b"%PDF-1.7\n".to_vec();
    b.extend((0..n).map(|i| b'a' + (i % 26) as u8));
    b
}

async fn upload(app: &TestApp, ct: &str, bytes: Vec<u8>) -> String {
    let r = app
        .post_raw(
            "/v1/media?filename=f",
            &app.api_key,
            bytes,
            &[("content-type", ct)],
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body["id"].as_str().unwrap().to_string()
}

/// What the simulator (Meta) received for the gateway's message `id`.
fn at_meta(app: &TestApp, id: &str) -> Value {
    app.sim
        .received(PNID)
        .into_iter()
        .find(|m| m.body["biz_opaque_callback_data"] == id)
        .unwrap_or_else(|| panic!("Meta never got {id}"))
        .body
}

/// Sends `message` to the user (natively) and waits until Meta took it: its id.
async fn send_and_wait(app: &TestApp, message: Value) -> String {
    let mut body = message;
    body["channel"] = json!(PNID);
    body["to"] = json!(USER);
    let r = app.post("/v1/messages", &app.api_key, &body).await;
    assert_eq!(r.status, 202, "{}", r.body);
    let id = r.body["id"].as_str().unwrap().to_string();
    app.wait_status(&id, "sent").await;
    id
}

async fn send_image(app: &TestApp, media: &str) -> String {
    send_and_wait(
        app,
        json!({"type": "image", "image": {"id": media, "caption": "look"}}),
    )
    .await
}

fn local(c: &mut openbsp_server::config::Config, dir: &std::path::Path) {
    c.media = MediaStoreConfig::Local(dir.to_path_buf());
}

/// A send names the gateway's media: Meta gets its own id of a copy the gateway uploaded
/// (the same bytes), once for the channel however often it is sent (a message and an
/// interactive header); once Meta no longer knows the copy (deleted there), the next send is
/// not failed: the copy is forgotten, uploaded again, and the send goes out with the new id.
/// A media the tenant does not have, or of the wrong kind, is Meta's 131053 at once.
async fn a_gateway_media_goes_out_as_metas_copy_reused_and_uploaded_again(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app_configured(backend, |c| local(c, dir.path())).await;
    let bytes = png(120_000);
    let media = upload(&app, "image/png", bytes.clone()).await;
    app.open_window(USER).await;

    let first = send_image(&app, &media).await;
    let meta_id = at_meta(&app, &first)["image"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(!meta_id.starts_with("med_"), "Meta got the gateway's id");
    assert_eq!(at_meta(&app, &first)["image"]["caption"], "look");
    let copies = app.sim.media(PNID);
    assert_eq!(copies.len(), 1);
    assert_eq!(copies[0].id, meta_id);
    assert_eq!(copies[0].sha256, hex::encode(sha2::Sha256::digest(&bytes)));
    assert_eq!(copies[0].mime_type, "image/png");

    // Reused: by another message, and by an interactive message's header.
    let second = send_image(&app, &media).await;
    assert_eq!(at_meta(&app, &second)["image"]["id"], meta_id.as_str());
    let third = send_and_wait(
        &app,
        json!({"type": "interactive", "interactive": {
            "type": "button",
            "header": {"type": "image", "image": {"id": media}},
            "body": {"text": "Pick one"},
            "action": {"buttons": [{"type": "reply", "reply": {"id": "a", "title": "A"}}]}}}),
    )
    .await;
    assert_eq!(
        at_meta(&app, &third)["interactive"]["header"]["image"]["id"],
        meta_id.as_str()
    );
    assert_eq!(app.sim.media(PNID).len(), 1, "uploaded once");

    // Meta forgets its copy: the next send still goes out, with a new copy.
    let r = app
        .http
        .delete(format!("{}/v23.0/{meta_id}", app.sim.url()))
        .bearer_auth(ACCESS_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let fourth = send_image(&app, &media).await;
    let new_id = at_meta(&app, &fourth)["image"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(new_id, meta_id);
    let live: Vec<_> = app
        .sim
        .media(PNID)
        .into_iter()
        .filter(|m| !m.deleted)
        .map(|m| m.id)
        .collect();
    assert_eq!(live, vec![new_id]);
    let m = app
        .get(&format!("/v1/messages/{fourth}"), &app.api_key)
        .await;
    assert!(
        ["sent", "delivered", "read"].contains(&m.body["status"].as_str().unwrap()),
        "{}",
        m.body
    );
    assert_eq!(m.body["error"], Value::Null);

    // Not the tenant's, or not an image: refused at once, nothing queued.
    let other = app.other_tenant_key().await;
    let theirs = app
        .post_raw(
            "/v1/media",
            &other,
            png(10),
            &[("content-type", "image/png")],
        )
        .await;
    assert_eq!(theirs.status, 201);
    let doc = upload(&app, "application/pdf", pdf(1_000)).await;
    for bad in [
        theirs.body["id"].as_str().unwrap(),
        "med_01JZZZZZZZZZZZZZZZZZZZZZZZ",
        doc.as_str(),
    ] {
        let r = app
            .post(
                "/v1/messages",
                &app.api_key,
                &json!({"channel": PNID, "to": USER, "type": "image", "image": {"id": bad}}),
            )
            .await;
        assert_eq!(r.status, 400, "{bad}: {}", r.body);
        assert_eq!(r.body["error"]["meta_code"], 131053, "{}", r.body);
    }
    // The same through the Graph surface: Meta's error object.
    let r = app
        .post(
            &format!("/v23.0/{PNID}/messages"),
            &app.api_key,
            &json!({"messaging_product": "whatsapp", "to": USER, "type": "image",
                    "image": {"id": doc}}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.body["error"]["code"], 131053, "{}", r.body);
    // A document goes out as a document.
    let id = send_and_wait(
        &app,
        json!({"type": "document", "document": {"id": doc, "filename": "terms.pdf"}}),
    )
    .await;
    let sent = at_meta(&app, &id);
    assert_eq!(sent["document"]["filename"], "terms.pdf");
    let copy = sent["document"]["id"].as_str().unwrap();
    let content = app.sim.media_content(copy).unwrap();
    assert_eq!(content.to_vec(), pdf(1_000));
}

/// A copy uploaded more than 6 days ago (Meta's ids are trusted a week at most) is not used
/// again: the next send uploads a new one, without Meta having to refuse the old.
async fn a_copy_older_than_meta_keeps_one_is_uploaded_again(backend: Backend) {
    let (app, clock) = spawn_app_clocked(backend).await;
    let media = upload(&app, "image/png", png(2_000)).await;
    app.open_window(USER).await;
    let first = send_image(&app, &media).await;
    let old = at_meta(&app, &first)["image"]["id"].clone();
    let days = |d: i64| {
        // Meta's clock (webhook timestamps, the window) and the gateway's, together.
        clock.advance_ms(d * 24 * 3_600_000);
        app.sim.advance_clock(d * 24 * 3600);
    };
    days(5);
    app.open_window(USER).await;
    let second = send_image(&app, &media).await;
    assert_eq!(at_meta(&app, &second)["image"]["id"], old, "still young");
    days(2);
    app.open_window(USER).await;
    let third = send_image(&app, &media).await;
    assert_ne!(
        at_meta(&app, &third)["image"]["id"],
        old,
        "too old to trust"
    );
    assert_eq!(app.sim.media(PNID).len(), 2);
}

fn s3(c: &mut openbsp_server::config::Config, bucket: String) {
    c.media = MediaStoreConfig::S3(S3Config {
        bucket,
        endpoint: Some(openbsp_testkit::s3_url()),
        region: "us-east-1".into(),
        access_key_id: Some("test".into()),
        secret_access_key: Some("test".into()),
        path_style: true,
    });
}

/// The tenant's events of `types`, oldest first.
async fn events(app: &TestApp, types: &str) -> Vec<Value> {
    let r = app
        .get(&format!("/v1/events?types={types}&limit=100"), &app.api_key)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let mut list = r.body["data"].as_array().cloned().unwrap_or_default();
    list.sort_by_key(|e| e["created_at"].as_str().unwrap_or_default().to_string());
    list
}

/// The inbound message `wamid` once stored, and its media once the fetcher stored it (the id
/// the message names in its media object).
async fn stored_media(app: &TestApp, wamid: &str) -> (Value, Value) {
    let path = format!("/v1/messages/{wamid}");
    wait_until("inbound stored", || async {
        app.get(&path, &app.api_key).await.status == 200
    })
    .await;
    let m = app.get(&path, &app.api_key).await.body;
    let kind = m["type"].as_str().unwrap();
    let media = m["content"][kind]["media_id"]
        .as_str()
        .unwrap_or_else(|| panic!("no media id: {m}"))
        .to_string();
    let media_path = format!("/v1/media/{media}");
    wait_until("media stored", || async {
        app.get(&media_path, &app.api_key).await.status == 200
    })
    .await;
    (m, app.get(&media_path, &app.api_key).await.body)
}

/// A user's photo: the message (and its `message.received`) names a gateway media id at once;
/// the fetcher downloads the bytes from Meta (URL then bearer download), checks them against
/// the webhook's base64 sha256, keeps them in S3 under that id (`media.stored`), and the
/// business reads them back. A 120 MB document is over WhatsApp's 100 MB: the message records
/// Meta's 131052 (`media.failed`), nothing is kept.
async fn inbound_media_is_downloaded_checked_and_kept_on_s3(backend: Backend) {
    let bucket = openbsp_testkit::s3_bucket().await;
    let app = spawn_app_configured(backend, |c| {
        s3(c, bucket);
        c.media_fetch.max_attempts = 3;
    })
    .await;
    let bytes = png(300_000);
    let wamid = app
        .sim
        .inject_inbound(openbsp_simulator::InboundRequest {
            phone_number_id: PNID.into(),
            from: Some(USER.into()),
            name: Some("Ana".into()),
            message: json!({"type": "image", "image": {"caption": "my cat", "file": {
                "data_base64": base64::engine::general_purpose::STANDARD.encode(&bytes),
                "mime_type": "image/png"}}}),
            ..Default::default()
        })
        .await
        .unwrap();
    let (m, got) = stored_media(&app, &wamid).await;
    let media = got["id"].as_str().unwrap().to_string();
    assert_eq!(m["content"]["image"]["caption"], "my cat");
    assert_eq!(got["origin"], "inbound");
    assert_eq!(got["mime_type"], "image/png");
    assert_eq!(got["sha256"], hex::encode(sha2::Sha256::digest(&bytes)));
    let r = app
        .http
        .get(app.url(&format!("/v1/media/{media}/content")))
        .bearer_auth(&app.api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.bytes().await.unwrap().to_vec(), bytes);
    let received = events(&app, "message.received").await;
    assert!(
        received
            .iter()
            .any(|e| e["data"]["message"]["content"]["image"]["media_id"] == media.as_str()),
        "message.received names the media: {received:?}"
    );
    let stored = events(&app, "media.stored").await;
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_eq!(stored[0]["data"]["media"]["id"], media.as_str());
    assert_eq!(stored[0]["data"]["message_id"], m["id"]);

    // Over 100 MB: recorded as Meta's 131052, nothing downloaded.
    let wamid = app
        .sim
        .inject_inbound(openbsp_simulator::InboundRequest {
            phone_number_id: PNID.into(),
            from: Some(USER.into()),
            message: json!({"type": "document", "document": {"filename": "huge.pdf", "file": {
                "generate": {"size": 120_000_000}, "mime_type": "application/pdf"}}}),
            ..Default::default()
        })
        .await
        .unwrap();
    let path = format!("/v1/messages/{wamid}");
    wait_until("too large recorded", || async {
        app.get(&path, &app.api_key).await.body["error"][0]["code"] == 131052
    })
    .await;
    let m = app.get(&path, &app.api_key).await.body;
    let huge = m["content"]["document"]["media_id"].as_str().unwrap();
    assert_eq!(
        app.get(&format!("/v1/media/{huge}"), &app.api_key)
            .await
            .status,
        404
    );
    let failed = events(&app, "media.failed").await;
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0]["data"]["media_id"], huge);
    assert_eq!(failed[0]["data"]["error"]["code"], 131052);

    // Bytes that are not what Meta's webhook said: never stored; tried again, then given up.
    let real = app
        .sim
        .add_media(openbsp_simulator::NewMedia {
            phone_number_id: PNID.into(),
            mime_type: "image/png".into(),
            content: openbsp_simulator::MediaContent::Bytes(png(1_000).into()),
            filename: None,
            origin: openbsp_simulator::MediaOrigin::Inbound,
        })
        .unwrap();
    let wrong = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(b"other"));
    let now = chrono::Utc::now().timestamp();
    let webhook = envelope(json!({
        "contacts": [{"profile": {"name": "Ana"}, "wa_id": USER}],
        "messages": [{"from": USER, "id": "wamid.wrong-sha", "timestamp": now.to_string(),
                      "type": "image", "image": {"id": real.id, "mime_type": "image/png", "sha256": wrong}}]}));
    assert_eq!(app.post_webhook(&webhook, Some(APP_SECRET)).await, 200);
    let path = "/v1/messages/wamid.wrong-sha";
    wait_until("given up", || async {
        app.get(path, &app.api_key).await.body["error"][0]["code"] == 131052
    })
    .await;
    let m = app.get(path, &app.api_key).await.body;
    let details = m["error"][0]["details"].as_str().unwrap_or_default();
    assert!(
        details.contains("sha256") && details.contains("3 attempts"),
        "{m}"
    );
    let id = m["content"]["image"]["media_id"].as_str().unwrap();
    assert_eq!(
        app.get(&format!("/v1/media/{id}"), &app.api_key)
            .await
            .status,
        404
    );
}

/// A replica claimed a download and died: once its claim lapses, the job is claimed again
/// (here by the next wake) and the media stored; nothing is downloaded twice into two media.
async fn a_download_a_dead_replica_held_is_taken_again(backend: Backend) {
    let (app, clock) = spawn_app_clocked_with(backend, |c| {
        c.media_fetch.lease = Duration::from_millis(1_500);
        // Only a wake looks for due downloads here.
        c.media_fetch.poll_interval = Duration::from_secs(3_600);
    })
    .await;
    // The gateway's clock a little ahead of Meta's (webhook timestamps are whole seconds), so
    // a download is due as soon as its message is stored; it moves only when the test says.
    clock.advance_ms(5_000);
    let bytes = png(5_000);
    let at_meta = app
        .sim
        .add_media(openbsp_simulator::NewMedia {
            phone_number_id: PNID.into(),
            mime_type: "image/png".into(),
            content: openbsp_simulator::MediaContent::Bytes(bytes.clone().into()),
            filename: None,
            origin: openbsp_simulator::MediaOrigin::Inbound,
        })
        .unwrap();
    // The dead replica: the message stored with its download, claimed, never finished.
    let now = openbsp_domain::Clock::now_ms(&clock);
    let b64 =
        base64::engine::general_purpose::STANDARD.encode(hex::decode(&at_meta.sha256).unwrap());
    let webhook = envelope(json!({
        "contacts": [{"profile": {"name": "Ana"}, "wa_id": USER}],
        "messages": [{"from": USER, "id": "wamid.dead-replica", "timestamp": (now / 1000).to_string(),
                      "type": "image", "image": {"id": at_meta.id, "mime_type": "image/png", "sha256": b64}}]}));
    // Stored by the gateway, whose fetcher is woken: let it claim first, then take the claim
    // from under it as a second replica would (the job is pending until it finishes).
    let claimed = app.store.claim_downloads(now, 60_000, 10).await.unwrap();
    assert!(claimed.is_empty());
    assert_eq!(app.post_webhook(&webhook, Some(APP_SECRET)).await, 200);
    let (_, got) = stored_media(&app, "wamid.dead-replica").await;
    let media = got["id"].as_str().unwrap().to_string();
    let job = app
        .store
        .get_download(&app.tenant_id, &media)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(job.state, "stored");
    assert_eq!(job.attempts, 1);

    // Now a job whose claim a dead replica holds: not taken while the claim lasts, taken once
    // it lapses.
    let message = json!({"from": USER, "id": "wamid.held", "timestamp": (now / 1000).to_string(),
                         "type": "image", "image": {"id": at_meta.id, "mime_type": "image/png", "sha256": b64}});
    let mut new = openbsp_store::NewInbound {
        message: openbsp_store::Message {
            id: "msg_01HELDHELDHELDHELDHELDHELD".into(),
            tenant_id: app.tenant_id.clone(),
            channel_id: app.channel.id.clone(),
            contact_id: None,
            direction: openbsp_store::Direction::Inbound,
            recipient: USER.into(),
            msg_type: "image".into(),
            content: message.clone(),
            wamid: Some("wamid.held".into()),
            status: openbsp_domain::MessageStatus::Received,
            error: None,
            biz_opaque_callback_data: None,
            context_message_id: None,
            session_id: None,
            template_id: None,
            rendered_text: None,
            campaign_id: None,
            idempotency_key: None,
            created_at: now,
            updated_at: now,
        },
        contact: openbsp_store::ContactKey::WaId(USER.into()),
        also: None,
        profile_name: None,
        username: None,
        opens_window: true,
        entry_point: false,
        opt_out: None,
        changed_number: None,
        context_wamid: None,
        replies_since: None,
        media: Some(openbsp_store::NewDownload {
            media_id: "med_01HELDHELDHELDHELDHELDHELD".into(),
            meta_media_id: at_meta.id.clone(),
            mime_type: "image/png".into(),
            sha256: Some(b64.clone()),
            filename: None,
        }),
    };
    new.message.content["image"]["media_id"] = json!("med_01HELDHELDHELDHELDHELDHELD");
    app.store.insert_inbounds(&[new]).await.unwrap();
    let dead = app
        .store
        .claim_downloads(openbsp_domain::Clock::now_ms(&clock), 1_500, 10)
        .await
        .unwrap();
    assert_eq!(dead.len(), 1, "the dead replica's claim");
    // Woken while the claim lasts (another user's photo, fetched and stored): the held job
    // is not taken.
    let photo = |seed: usize| openbsp_simulator::InboundRequest {
        phone_number_id: PNID.into(),
        from: Some("15550000002".into()),
        message: json!({"type": "image", "image": {"file": {
            "data_base64": base64::engine::general_purpose::STANDARD.encode(png(100 + seed))}}}),
        ..Default::default()
    };
    let wamid = app.sim.inject_inbound(photo(1)).await.unwrap();
    stored_media(&app, &wamid).await;
    let held = "/v1/media/med_01HELDHELDHELDHELDHELDHELD";
    let pending = app.get(held, &app.api_key).await;
    assert_eq!(
        (pending.status, pending.body["error"]["code"].as_str()),
        (409, Some("media_pending")),
        "{}",
        pending.body
    );
    // Past the claim (the gateway's clock moved), the next wake takes it.
    clock.advance_ms(2_000);
    app.sim.inject_inbound(photo(2)).await.unwrap();
    wait_until("the held download taken again", || async {
        app.get(held, &app.api_key).await.status == 200
    })
    .await;
    let job = app
        .store
        .get_download(&app.tenant_id, "med_01HELDHELDHELDHELDHELDHELD")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((job.state.as_str(), job.attempts), ("stored", 2));
    let got = app.get(held, &app.api_key).await.body;
    assert_eq!(got["sha256"], at_meta.sha256.as_str());
}

/// A resumable upload session of the Graph surface for a PNG of `len` bytes: its id.
async fn start_upload(app: &TestApp, name: &str, len: usize) -> String {
    let r = app
        .http
        .post(app.url(&format!("/v23.0/{META_APP_ID}/uploads")))
        .bearer_auth(&app.api_key)
        .query(&[
            ("file_name", name),
            ("file_length", &len.to_string()),
            ("file_type", "image/png"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(id.starts_with("upload:"), "{id}");
    id
}

/// A template with an IMAGE header whose sample is a gateway media: created natively with the
/// media id as `example.header_handle`, and through the Graph surface after Meta's resumable
/// upload (`POST /{app}/uploads`, `POST /upload:…` with `OAuth`); Meta gets a handle of its
/// own resumable upload (the simulator's), never the gateway's id. A PDF as an IMAGE sample,
/// or a media the tenant does not have, is refused.
async fn template_header_samples_from_gateway_media(backend: Backend) {
    let app = spawn_app(backend).await;
    let media = upload(&app, "image/png", png(8_000)).await;
    let template = |name: &str, handle: &str| {
        json!({"name": name, "language": "en_US", "category": "MARKETING", "components": [
            {"type": "HEADER", "format": "IMAGE", "example": {"header_handle": [handle]}},
            {"type": "BODY", "text": "Our new collection is here."}]})
    };
    let r = app
        .post(
            "/v1/templates",
            &app.api_key,
            &with_channel(template("new_collection", &media)),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let meta_template = |name: &str| {
        app.sim
            .templates("900100")
            .into_iter()
            .find(|t| t.name == name)
            .unwrap_or_else(|| panic!("Meta has no {name}"))
    };
    let sent = serde_json::to_value(meta_template("new_collection")).unwrap();
    let handle = sent
        .pointer("/components/0/example/header_handle/0")
        .cloned();
    assert!(
        handle
            .as_ref()
            .and_then(Value::as_str)
            .is_some_and(|h| !h.starts_with("med_")),
        "{sent}"
    );

    // The Graph surface's resumable upload, then a create with its handle.
    let bytes = png(9_000);
    let session = start_upload(&app, "banner.png", bytes.len()).await;
    assert!(session.starts_with("upload:"), "{session}");
    let status = app.get(&format!("/v23.0/{session}"), &app.api_key).await;
    assert_eq!(status.body["file_offset"], 0, "{}", status.body);
    let r = app
        .http
        .post(app.url(&format!("/v23.0/{session}")))
        .header("authorization", format!("OAuth {}", app.api_key))
        .header("file_offset", "0")
        .body(bytes.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let h = r.json::<Value>().await.unwrap()["h"]
        .as_str()
        .unwrap()
        .to_string();
    let r = app
        .post(
            "/v23.0/900100/message_templates",
            &app.api_key,
            &template("new_banner", &h),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let sent = serde_json::to_value(meta_template("new_banner")).unwrap();
    assert_ne!(
        sent.pointer("/components/0/example/header_handle/0"),
        Some(&json!(h))
    );
    // In chunks: each from where the last ended (GET tells where), the last one gives the
    // handle.
    let big = png(40_000);
    let chunked = start_upload(&app, "big.png", big.len()).await;
    let chunk = |offset: usize, end: usize| {
        app.http
            .post(app.url(&format!("/v23.0/{chunked}")))
            .header("authorization", format!("OAuth {}", app.api_key))
            .header("file_offset", offset.to_string())
            .body(big[offset..end].to_vec())
            .send()
    };
    let r = chunk(0, 15_000).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["file_offset"], 15_000);
    let status = app.get(&format!("/v23.0/{chunked}"), &app.api_key).await;
    assert_eq!(status.body["file_offset"], 15_000, "{}", status.body);
    // Not where the last ended: refused, nothing changes.
    assert_eq!(chunk(0, 15_000).await.unwrap().status(), 400);
    let r = chunk(15_000, big.len()).await.unwrap();
    assert_eq!(r.status(), 200);
    let whole = r.json::<Value>().await.unwrap()["h"]
        .as_str()
        .unwrap()
        .to_string();
    let m = app
        .get(&format!("/v1/media/{whole}"), &app.api_key)
        .await
        .body;
    assert_eq!(m["sha256"], hex::encode(sha2::Sha256::digest(&big)), "{m}");
    assert_eq!(m["filename"], "big.png");

    // Another tenant's session, a wrong length: refused.
    let other = app.other_tenant_key().await;
    let r = app
        .http
        .post(app.url(&format!("/v23.0/{session}")))
        .header("authorization", format!("OAuth {other}"))
        .body(bytes.clone())
        .send()
        .await
        .unwrap();
    assert!(r.status().is_client_error());
    // A short chunk is a part; one running past file_length is refused.
    let r = app
        .http
        .post(app.url(&format!("/v23.0/{session}")))
        .bearer_auth(&app.api_key)
        .body(bytes[..100].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["file_offset"], 100);
    let r = app
        .http
        .post(app.url(&format!("/v23.0/{session}")))
        .bearer_auth(&app.api_key)
        .header("file_offset", "100")
        .body(bytes.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let status = app.get(&format!("/v23.0/{session}"), &app.api_key).await;
    assert_eq!(status.body["file_offset"], 100, "{}", status.body);

    // Approved, the template goes out with a gateway media as its header: Meta gets its copy.
    let template_id = app
        .get("/v1/templates?name=new_collection", &app.api_key)
        .await
        .body["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    wait_until("approved", || async {
        app.get(&format!("/v1/templates/{template_id}"), &app.api_key)
            .await
            .body["status"]
            == "APPROVED"
    })
    .await;
    let id = send_and_wait(
        &app,
        json!({"type": "template", "template": {
                "name": "new_collection", "language": {"code": "en_US"},
                "components": [{"type": "header", "parameters": [
                    {"type": "image", "image": {"id": media}}]}]}}),
    )
    .await;
    let sent = at_meta(&app, &id);
    let copy = sent
        .pointer("/template/components/0/parameters/0/image/id")
        .and_then(Value::as_str)
        .unwrap()
        .to_string();
    assert!(!copy.starts_with("med_"), "{sent}");
    assert_eq!(app.sim.media_content(&copy).unwrap().to_vec(), png(8_000));

    // A PDF is no IMAGE sample; a media the tenant lacks is none.
    let doc = upload(&app, "application/pdf", pdf(100)).await;
    for (name, handle) in [
        ("pdf_sample", doc.as_str()),
        ("no_sample", "med_01JZZZZZZZZZZZZZZZZZZZZZZZ"),
    ] {
        let r = app
            .post(
                "/v1/templates",
                &app.api_key,
                &with_channel(template(name, handle)),
            )
            .await;
        assert_eq!(r.status, 400, "{name}: {}", r.body);
        assert!(app.sim.templates("900100").iter().all(|t| t.name != name));
    }
}

/// A campaign whose template header is a gateway image: every recipient's send carries Meta's
/// copy, uploaded once for the channel however many sends are in flight at once; an image the
/// tenant does not have is refused when the campaign is created.
async fn a_campaign_uploads_its_header_image_once(backend: Backend) {
    // Fast enough that many sends are in flight while the first upload runs.
    let app = spawn_app_with(backend, 1_000).await;
    app.sim
        .seed_template(openbsp_simulator::TemplateSeed::new(
            "900100",
            json!({"name": "new_in", "language": "en_US", "category": "MARKETING", "components": [
                {"type": "HEADER", "format": "IMAGE", "example": {"header_handle": ["4::seeded"]}},
                {"type": "BODY", "text": "Hi {{1}}, this just came in.",
                 "example": {"body_text": [["Ann"]]}}]}),
        ))
        .unwrap();
    let image = png(4_000_000);
    let media = upload(&app, "image/png", image.clone()).await;
    let spec = |id: &str| {
        json!({"name": "New in", "channel": PNID, "template": {
            "name": "new_in", "language": "en_US", "components": [
                {"type": "header", "parameters": [{"type": "image", "image": {"id": id}}]},
                {"type": "body", "parameters": [{"type": "text", "text": "{{first_name}}"}]}]}})
    };
    let r = app
        .post(
            "/v1/campaigns",
            &app.api_key,
            &spec("med_01JZZZZZZZZZZZZZZZZZZZZZZZ"),
        )
        .await;
    assert_eq!(
        (r.status, r.body["error"]["meta_code"].as_i64()),
        (400, Some(131053)),
        "{}",
        r.body
    );
    let r = app.post("/v1/campaigns", &app.api_key, &spec(&media)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.body["id"].as_str().unwrap().to_string();
    let mut file = String::from("phone,first_name\n");
    for i in 0..40 {
        file.push_str(&format!("+1 555 710 {i:04},User {i}\n"));
    }
    let r = app
        .post_raw(
            &format!("/v1/campaigns/{id}/recipients"),
            &app.api_key,
            file,
            &[("content-type", "text/csv")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = app
        .post(
            &format!("/v1/campaigns/{id}/start"),
            &app.api_key,
            &json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    wait_up_to(
        Duration::from_secs(30),
        "the campaign completes",
        || async {
            app.get(&format!("/v1/campaigns/{id}"), &app.api_key)
                .await
                .body["status"]
                == "completed"
        },
    )
    .await;
    let sent = app.sim.received(PNID);
    assert_eq!(sent.len(), 40);
    let copies: std::collections::HashSet<_> = sent
        .iter()
        .map(|m| {
            m.body
                .pointer("/template/components/0/parameters/0/image/id")
                .and_then(Value::as_str)
                .unwrap_or_else(|| panic!("no header image: {}", m.body))
                .to_string()
        })
        .collect();
    assert_eq!(copies.len(), 1, "one copy for every send: {copies:?}");
    let copy = copies.into_iter().next().unwrap();
    assert!(!copy.starts_with("med_"));
    assert_eq!(app.sim.media(PNID).len(), 1, "uploaded once");
    assert_eq!(app.sim.media_content(&copy).unwrap().to_vec(), image);
}
