//! Meta's media: uploads, media objects and their download URLs, deletes, sends naming
//! media ids, inbound media with real (or generated) bytes, resumable uploads and template
//! header samples, the control API's media routes.

mod common;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::*;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

fn jpeg(len: usize) -> Vec<u8> {
    let mut b = vec![
        0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0x00, 0x01, 0x01, 0x00,
    ];
    b.extend((0..len.saturating_sub(b.len())).map(|i| (i * 31 % 251) as u8));
    b
}

const PNG: &[u8] = &[
    0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 0x0D, b'I', b'H', b'D', b'R', 0, 0,
];

/// A multipart/form-data body by hand: text fields, then the file part if any.
fn form(fields: &[(&str, &str)], file: Option<(&str, &str, &[u8])>) -> (String, Vec<u8>) {
    let boundary = "----openbsp-test-boundary-7MA4YWxk";
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    if let Some((filename, content_type, bytes)) = file {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\nContent-Type: {content_type}\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

async fn upload_form(
    sim: &openbsp_simulator::SimulatorHandle,
    token: Option<&str>,
    fields: &[(&str, &str)],
    file: Option<(&str, &str, &[u8])>,
) -> (u16, Value) {
    let (ct, body) = form(fields, file);
    let mut req = client()
        .post(format!("{}/v25.0/{PNID}/media", sim.url()))
        .header("content-type", ct)
        .body(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

/// Uploads `bytes` as `mime` with the number's token.
async fn upload(
    sim: &openbsp_simulator::SimulatorHandle,
    mime: &str,
    bytes: &[u8],
) -> (u16, Value) {
    upload_form(
        sim,
        Some(TOKEN),
        &[("messaging_product", "whatsapp"), ("type", mime)],
        Some(("f.bin", mime, bytes)),
    )
    .await
}

async fn graph(method: reqwest::Method, url: String, token: Option<&str>) -> (u16, Value) {
    let mut req = client().request(method, url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.unwrap();
    (
        resp.status().as_u16(),
        resp.json().await.unwrap_or(Value::Null),
    )
}

async fn get_media(sim: &openbsp_simulator::SimulatorHandle, id: &str) -> (u16, Value) {
    graph(
        reqwest::Method::GET,
        format!("{}/v25.0/{id}", sim.url()),
        Some(TOKEN),
    )
    .await
}

async fn download(url: &str, token: Option<&str>) -> reqwest::Response {
    let mut req = client().get(url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.unwrap()
}

async fn advance(sim: &openbsp_simulator::SimulatorHandle, seconds: i64) {
    let resp = client()
        .post(format!("{}/_simulator/clock", sim.url()))
        .json(&json!({"advance_seconds": seconds}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

fn assert_unknown_object(status: u16, v: &Value) {
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["error"]["code"], 100, "{v}");
    assert_eq!(v["error"]["error_subcode"], 33, "{v}");
}

#[tokio::test]
async fn upload_then_get_a_url_and_download_with_the_token() {
    let (sim, _rx) = setup(fast_config(), 0).await;
    let bytes = jpeg(10_000);
    let (status, up) = upload(&sim, "image/jpeg", &bytes).await;
    assert_eq!(status, 200, "{up}");
    let id = up["id"].as_str().unwrap().to_string();
    assert!(
        id.len() >= 15 && id.bytes().all(|b| b.is_ascii_digit()),
        "{id}"
    );

    let (status, m) = get_media(&sim, &id).await;
    assert_eq!(status, 200, "{m}");
    assert_eq!(m["messaging_product"], "whatsapp");
    assert_eq!(m["id"], id.as_str());
    assert_eq!(m["mime_type"], "image/jpeg");
    assert_eq!(m["sha256"], hex::encode(Sha256::digest(&bytes)));
    assert_eq!(m["file_size"], 10_000);
    let url = m["url"].as_str().unwrap().to_string();
    assert!(
        url.starts_with(&format!(
            "{}/whatsapp_business/attachments/?mid={id}&ext=",
            sim.url()
        )),
        "{url}"
    );

    // With the owner's token: the bytes.
    let resp = download(&url, Some(TOKEN)).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "image/jpeg");
    assert_eq!(resp.headers()["content-length"], "10000");
    assert_eq!(resp.bytes().await.unwrap().as_ref(), bytes.as_slice());
    // A range.
    let resp = client()
        .get(&url)
        .bearer_auth(TOKEN)
        .header("range", "bytes=2-5")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 206);
    assert_eq!(resp.headers()["content-range"], "bytes 2-5/10000");
    assert_eq!(resp.bytes().await.unwrap().as_ref(), &bytes[2..6]);
    // Without a token, or with another: 401.
    let resp = download(&url, None).await;
    assert_eq!(resp.status(), 401);
    let resp = download(&url, Some("not-the-token")).await;
    assert_eq!(resp.status(), 401);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["code"], 190);
    // A forged URL: 404.
    let resp = download(&format!("{url}x"), Some(TOKEN)).await;
    assert_eq!(resp.status(), 404);

    // Five minutes later the URL is dead; a new GET gives one that works.
    advance(&sim, 301).await;
    assert_eq!(download(&url, Some(TOKEN)).await.status(), 404);
    let (status, m) = get_media(&sim, &id).await;
    assert_eq!(status, 200, "{m}");
    let fresh = m["url"].as_str().unwrap();
    assert_ne!(fresh, url);
    let resp = download(fresh, Some(TOKEN)).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.bytes().await.unwrap().as_ref(), bytes.as_slice());

    // The control API lists it and gives its bytes without a token.
    let listed: Value = client()
        .get(format!(
            "{}/_simulator/media?phone_number_id={PNID}",
            sim.url()
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let listed = &listed["data"][0];
    assert_eq!(listed["id"], id.as_str());
    assert_eq!(listed["origin"], "upload");
    assert_eq!(listed["filename"], "f.bin");
    assert_eq!(listed["deleted"], false);
    assert_eq!(
        listed["expires_at_ms"].as_i64().unwrap() - listed["created_at_ms"].as_i64().unwrap(),
        30 * 24 * 3600 * 1000
    );
    let content = client()
        .get(format!("{}/_simulator/media/{id}/content", sim.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(content.status(), 200);
    assert_eq!(content.bytes().await.unwrap().as_ref(), bytes.as_slice());
    assert_eq!(sim.state().media_of(Some(PNID)).len(), 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn uploads_are_refused_as_meta_refuses_them() {
    let (sim, _rx) = setup(fast_config(), 0).await;
    let ok_fields = [("messaging_product", "whatsapp"), ("type", "image/jpeg")];
    let small = jpeg(100);

    // No token, a wrong token: 190.
    let (status, v) = upload_form(
        &sim,
        None,
        &ok_fields,
        Some(("a.jpg", "image/jpeg", &small)),
    )
    .await;
    assert_eq!(
        (status, v["error"]["code"].as_i64()),
        (401, Some(190)),
        "{v}"
    );
    let (status, v) = upload_form(
        &sim,
        Some("nope"),
        &ok_fields,
        Some(("a.jpg", "image/jpeg", &small)),
    )
    .await;
    assert_eq!(
        (status, v["error"]["code"].as_i64()),
        (401, Some(190)),
        "{v}"
    );
    // messaging_product missing, file missing, type missing: 100.
    let (status, v) = upload_form(
        &sim,
        Some(TOKEN),
        &[("type", "image/jpeg")],
        Some(("a.jpg", "image/jpeg", &small)),
    )
    .await;
    assert_eq!(
        (status, v["error"]["code"].as_i64()),
        (400, Some(100)),
        "{v}"
    );
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("messaging_product")
    );
    let (status, v) = upload_form(&sim, Some(TOKEN), &ok_fields, None).await;
    assert_eq!(
        (status, v["error"]["code"].as_i64()),
        (400, Some(100)),
        "{v}"
    );
    let (status, v) = upload_form(
        &sim,
        Some(TOKEN),
        &[("messaging_product", "whatsapp")],
        Some(("a.jpg", "image/jpeg", &small)),
    )
    .await;
    assert_eq!(
        (status, v["error"]["code"].as_i64()),
        (400, Some(100)),
        "{v}"
    );
    // A type WhatsApp does not take: 100, listing the types.
    let (status, v) = upload(&sim, "image/gif", b"GIF89a......").await;
    assert_eq!(
        (status, v["error"]["code"].as_i64()),
        (400, Some(100)),
        "{v}"
    );
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("image/jpeg") && msg.contains("application/pdf"),
        "{msg}"
    );
    // Over the kind's largest size (images: 5 MB): 100.
    let (status, v) = upload(&sim, "image/jpeg", &jpeg(5 * 1024 * 1024 + 1)).await;
    assert_eq!(
        (status, v["error"]["code"].as_i64()),
        (400, Some(100)),
        "{v}"
    );
    // Bytes not of the declared type: 131053.
    let (status, v) = upload(&sim, "image/jpeg", PNG).await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["error"]["code"], 131053, "{v}");
    assert_eq!(v["error"]["message"], "(#131053) Media upload error");
    let details = v["error"]["error_data"]["details"].as_str().unwrap();
    assert!(details.contains("image/png"), "{details}");
    // An unknown number: unknown object.
    let (ct, body) = form(&ok_fields, Some(("a.jpg", "image/jpeg", &small)));
    let resp = client()
        .post(format!("{}/v25.0/999999/media", sim.url()))
        .bearer_auth(TOKEN)
        .header("content-type", ct)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    assert_unknown_object(status, &resp.json().await.unwrap());
    assert!(sim.state().media_of(None).is_empty());
    sim.shutdown().await;
}

#[tokio::test]
async fn deleted_media_is_an_unknown_object() {
    let (sim, _rx) = setup(fast_config(), 0).await;
    let (_, up) = upload(&sim, "image/png", PNG).await;
    let id = up["id"].as_str().unwrap().to_string();
    // Another number's id is not its owner.
    let (status, v) = graph(
        reqwest::Method::GET,
        format!("{}/v25.0/{id}?phone_number_id=123456", sim.url()),
        Some(TOKEN),
    )
    .await;
    assert_unknown_object(status, &v);
    let (status, v) = graph(
        reqwest::Method::GET,
        format!("{}/v25.0/{id}?phone_number_id={PNID}", sim.url()),
        Some(TOKEN),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    let url = v["url"].as_str().unwrap().to_string();
    let (status, v) = graph(
        reqwest::Method::DELETE,
        format!("{}/v25.0/{id}", sim.url()),
        None,
    )
    .await;
    assert_eq!(
        (status, v["error"]["code"].as_i64()),
        (401, Some(190)),
        "{v}"
    );
    let (status, v) = graph(
        reqwest::Method::DELETE,
        format!("{}/v25.0/{id}?phone_number_id={PNID}", sim.url()),
        Some(TOKEN),
    )
    .await;
    assert_eq!((status, v.clone()), (200, json!({"success": true})));
    let (status, v) = get_media(&sim, &id).await;
    assert_unknown_object(status, &v);
    let (status, v) = graph(
        reqwest::Method::DELETE,
        format!("{}/v25.0/{id}", sim.url()),
        Some(TOKEN),
    )
    .await;
    assert_unknown_object(status, &v);
    assert_eq!(download(&url, Some(TOKEN)).await.status(), 404);
    let (status, v) = graph(
        reqwest::Method::DELETE,
        format!("{}/v25.0/12345678", sim.url()),
        Some(TOKEN),
    )
    .await;
    assert_unknown_object(status, &v);
    assert!(sim.state().media_of(Some(PNID))[0].deleted);
    sim.shutdown().await;
}

fn media_error_of(status: u16, v: &Value, id: &str) {
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["error"]["code"], 131053, "{v}");
    assert_eq!(v["error"]["message"], "(#131053) Media upload error");
    assert_eq!(
        v["error"]["error_data"]["details"],
        format!("Media id {id} is not known or has expired")
    );
}

#[tokio::test]
async fn sends_must_name_live_media() {
    let (sim, _rx) = setup(fast_config(), 0).await;
    let (_, up) = upload(&sim, "image/jpeg", &jpeg(500)).await;
    let id = up["id"].as_str().unwrap().to_string();
    let image = |id: &str| json!({"messaging_product": "whatsapp", "to": "15550101234", "type": "image", "image": {"id": id, "caption": "c"}});
    let (status, v) = send(&sim, Some(TOKEN), &image(&id)).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(sim.received(PNID)[0].body, image(&id));

    let (status, v) = send(&sim, Some(TOKEN), &image("1234567890123456")).await;
    media_error_of(status, &v, "1234567890123456");
    let link = json!({"messaging_product": "whatsapp", "to": "15550101234", "type": "document", "document": {"link": "https://example.com/a.pdf"}});
    let (status, v) = send(&sim, Some(TOKEN), &link).await;
    assert_eq!(status, 200, "{v}");
    let interactive = json!({"messaging_product": "whatsapp", "to": "15550101234", "type": "interactive", "interactive": {
        "type": "button",
        "header": {"type": "video", "video": {"id": "777"}},
        "body": {"text": "Pick"},
        "action": {"buttons": [{"type": "reply", "reply": {"id": "a", "title": "A"}}]},
    }});
    let (status, v) = send(&sim, Some(TOKEN), &interactive).await;
    media_error_of(status, &v, "777");

    // A template's media parameter.
    sim.seed_template(openbsp_simulator::TemplateSeed::new(
        WABA,
        json!({"name": "promo", "language": "en_US", "category": "MARKETING", "components": [
            {"type": "HEADER", "format": "IMAGE", "example": {"header_handle": ["4::made-up"]}},
            {"type": "BODY", "text": "Hello"},
        ]}),
    ))
    .unwrap();
    let template = |id: &str| {
        json!({"messaging_product": "whatsapp", "to": "15550101234", "type": "template", "template": {
            "name": "promo", "language": {"code": "en_US"},
            "components": [{"type": "header", "parameters": [{"type": "image", "image": {"id": id}}]}],
        }})
    };
    let (status, v) = send(&sim, Some(TOKEN), &template(&id)).await;
    assert_eq!(status, 200, "{v}");
    let (status, v) = send(&sim, Some(TOKEN), &template("42")).await;
    media_error_of(status, &v, "42");

    // Past media_id_ttl the id is gone.
    let resp = client()
        .post(format!("{}/_simulator/config", sim.url()))
        .json(&json!({"media_id_ttl_seconds": 60}))
        .send()
        .await
        .unwrap();
    let config: Value = resp.json().await.unwrap();
    assert_eq!(config["media_id_ttl_seconds"], 60);
    assert_eq!(config["inbound_media_ttl_seconds"], 7 * 24 * 3600);
    let (_, up) = upload(&sim, "image/jpeg", &jpeg(500)).await;
    let short = up["id"].as_str().unwrap().to_string();
    let (status, _) = send(&sim, Some(TOKEN), &image(&short)).await;
    assert_eq!(status, 200);
    advance(&sim, 61).await;
    let (status, v) = send(&sim, Some(TOKEN), &image(&short)).await;
    media_error_of(status, &v, &short);
    let (status, v) = get_media(&sim, &short).await;
    assert_unknown_object(status, &v);
    // The first upload (30 days) still works.
    let (status, _) = send(&sim, Some(TOKEN), &image(&id)).await;
    assert_eq!(status, 200);
    assert_eq!(sim.received(PNID).len(), 5);
    sim.shutdown().await;
}

/// The one user message of the first inbound webhook.
async fn inbound_message(rx: &Receiver, n: usize) -> Value {
    wait_for("the inbound webhook", 10, || rx.accepted().len() > n).await;
    rx.accepted()[n].json["entry"][0]["changes"][0]["value"]["messages"][0].clone()
}

#[tokio::test]
async fn inbound_media_carry_real_bytes() {
    let (sim, rx) = setup(fast_config(), 0).await;
    let bytes = jpeg(3000);
    let resp = client()
        .post(format!("{}/_simulator/inbound", sim.url()))
        .json(&json!({"phone_number_id": PNID, "from": "15550101234", "message": {
            "type": "image",
            "image": {"caption": "hi", "file": {"data_base64": STANDARD.encode(&bytes), "mime_type": "image/jpeg"}},
        }}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let msg = inbound_message(&rx, 0).await;
    let image = &msg["image"];
    assert_eq!(image["caption"], "hi");
    assert_eq!(image["mime_type"], "image/jpeg");
    assert!(image.get("file").is_none(), "{image}");
    assert_eq!(image["sha256"], STANDARD.encode(Sha256::digest(&bytes)));
    let id = image["id"].as_str().unwrap();
    let url = image["url"].as_str().unwrap();
    let resp = download(url, Some(TOKEN)).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.bytes().await.unwrap().as_ref(), bytes.as_slice());
    let (status, m) = get_media(&sim, id).await;
    assert_eq!(status, 200, "{m}");
    assert_eq!(m["file_size"], 3000);
    // The media is the number's, inbound, for 7 days; a business may send it on.
    let media = sim.state().media_of(Some(PNID));
    assert_eq!(media[0].origin, openbsp_simulator::MediaOrigin::Inbound);
    assert_eq!(
        media[0].expires_at_ms - media[0].created_at_ms,
        7 * 24 * 3600 * 1000
    );
    let forward = json!({"messaging_product": "whatsapp", "to": "15550101234", "type": "image", "image": {"id": id}});
    assert_eq!(send(&sim, Some(TOKEN), &forward).await.0, 200);

    // The old form still works as it did.
    let wamid = sim
        .inject_inbound(openbsp_simulator::InboundRequest {
            phone_number_id: PNID.into(),
            from: Some("15550101234".into()),
            message: json!({"type": "audio", "audio": {"id": "999", "mime_type": "audio/ogg; codecs=opus", "voice": true}}),
            ..Default::default()
        })
        .await
        .unwrap();
    let msg = inbound_message(&rx, 1).await;
    assert_eq!(msg["id"], wamid.as_str());
    assert_eq!(
        msg["audio"],
        json!({"id": "999", "mime_type": "audio/ogg; codecs=opus", "voice": true})
    );

    // `file` with an `id` is refused.
    let resp = client()
        .post(format!("{}/_simulator/inbound", sim.url()))
        .json(
            &json!({"phone_number_id": PNID, "from": "15550101234", "message": {
                "type": "image", "image": {"id": "1", "file": {"data_base64": "AAAA"}},
            }}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_generated_120_mb_document_streams_with_its_hash() {
    let (sim, rx) = setup(fast_config(), 0).await;
    let size: u64 = 120_000_000;
    sim.inject_inbound(openbsp_simulator::InboundRequest {
        phone_number_id: PNID.into(),
        from: Some("15550101234".into()),
        message: json!({"type": "document", "document": {
            "filename": "big.pdf", "caption": "the report",
            "file": {"generate": {"size": size}, "mime_type": "application/pdf"},
        }}),
        ..Default::default()
    })
    .await
    .unwrap();
    let msg = inbound_message(&rx, 0).await;
    let doc = &msg["document"];
    assert_eq!(doc["filename"], "big.pdf");
    assert_eq!(doc["mime_type"], "application/pdf");
    let sha = STANDARD.decode(doc["sha256"].as_str().unwrap()).unwrap();
    let mut resp = download(doc["url"].as_str().unwrap(), Some(TOKEN)).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-length"], size.to_string().as_str());
    let mut hasher = Sha256::new();
    let mut len = 0u64;
    let mut head = Vec::new();
    while let Some(chunk) = resp.chunk().await.unwrap() {
        if head.len() < 16 {
            head.extend_from_slice(&chunk[..chunk.len().min(16)]);
        }
        len += chunk.len() as u64;
        hasher.update(&chunk);
    }
    assert_eq!(len, size);
    assert_eq!(hasher.finalize().as_slice(), sha.as_slice());
    assert!(head.starts_with(b"%PDF-"));
    assert_eq!(
        openbsp_wire::media::matches_content("application/pdf", &head),
        Ok(())
    );
    let listed = &sim.state().media_of(Some(PNID))[0];
    assert_eq!(listed.file_size, size);
    assert_eq!(listed.filename.as_deref(), Some("big.pdf"));
    sim.shutdown().await;
}

#[tokio::test]
async fn control_media_are_put_in_without_checks() {
    let (sim, _rx) = setup(fast_config(), 0).await;
    let post = |body: Value| {
        let url = format!("{}/_simulator/media", sim.url());
        async move { client().post(url).json(&body).send().await.unwrap() }
    };
    let resp = post(json!({"phone_number_id": PNID, "mime_type": "image/jpeg", "data_base64": STANDARD.encode(b"not a jpeg"), "filename": "x.jpg"})).await;
    assert_eq!(resp.status(), 200);
    let m: Value = resp.json().await.unwrap();
    assert_eq!(m["sha256"], hex::encode(Sha256::digest(b"not a jpeg")));
    assert_eq!(m["file_size"], 10);
    let resp = post(json!({"phone_number_id": PNID, "mime_type": "video/mp4", "generate": {"size": 1000, "seed": 3}})).await;
    let g: Value = resp.json().await.unwrap();
    let content = client()
        .get(format!(
            "{}/_simulator/media/{}/content",
            sim.url(),
            g["id"].as_str().unwrap()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(content.headers()["content-type"], "video/mp4");
    let body = content.bytes().await.unwrap();
    assert_eq!(body.len(), 1000);
    assert_eq!(
        hex::encode(Sha256::digest(&body)),
        g["sha256"].as_str().unwrap()
    );
    assert_eq!(
        post(json!({"phone_number_id": "nope", "mime_type": "image/jpeg", "data_base64": ""}))
            .await
            .status(),
        404
    );
    assert_eq!(
        post(json!({"phone_number_id": PNID, "mime_type": "image/jpeg"}))
            .await
            .status(),
        400
    );
    let config: Value = client()
        .get(format!("{}/_simulator/config", sim.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(config["media_id_ttl_seconds"], 30 * 24 * 3600);
    assert_eq!(config["inbound_media_ttl_seconds"], 7 * 24 * 3600);
    sim.shutdown().await;
}

async fn upload_chunk(
    sim: &openbsp_simulator::SimulatorHandle,
    id: &str,
    offset: usize,
    bytes: &[u8],
) -> (u16, Value) {
    let resp = client()
        .post(format!("{}/v25.0/{id}", sim.url()))
        .header("authorization", format!("OAuth {TOKEN}"))
        .header("file_offset", offset.to_string())
        .body(bytes.to_vec())
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

async fn create_template(
    sim: &openbsp_simulator::SimulatorHandle,
    name: &str,
    format: &str,
    handle: &str,
) -> (u16, Value) {
    let resp = client()
        .post(format!("{}/v25.0/{WABA}/message_templates", sim.url()))
        .bearer_auth(TOKEN)
        .json(
            &json!({"name": name, "language": "en_US", "category": "MARKETING", "components": [
                {"type": "HEADER", "format": format, "example": {"header_handle": [handle]}},
                {"type": "BODY", "text": "Our new collection is here."},
            ]}),
        )
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

#[tokio::test]
async fn resumable_uploads_give_handles_for_template_samples() {
    let (sim, _rx) = setup(fast_config(), 0).await;
    let bytes = jpeg(4000);
    let start = |query: String, token: &'static str| {
        let url = format!("{}/v25.0/1234567890/uploads?{query}", sim.url());
        async move {
            let resp = client().post(url).bearer_auth(token).send().await.unwrap();
            (resp.status().as_u16(), resp.json::<Value>().await.unwrap())
        }
    };
    let (status, v) = start(
        "file_name=a.gif&file_length=10&file_type=image/gif".into(),
        TOKEN,
    )
    .await;
    assert_eq!(
        (status, v["error"]["code"].as_i64()),
        (400, Some(100)),
        "{v}"
    );
    let (status, v) = start("file_name=a.jpg&file_type=image/jpeg".into(), TOKEN).await;
    assert_eq!(
        (status, v["error"]["code"].as_i64()),
        (400, Some(100)),
        "{v}"
    );
    let (status, v) = start(
        "file_name=a.jpg&file_length=10&file_type=image/jpeg".into(),
        "nope",
    )
    .await;
    assert_eq!(
        (status, v["error"]["code"].as_i64()),
        (401, Some(190)),
        "{v}"
    );
    let (status, v) = start(
        format!(
            "file_name=a.jpg&file_length={}&file_type=image/jpeg",
            bytes.len()
        ),
        TOKEN,
    )
    .await;
    assert_eq!(status, 200, "{v}");
    let id = v["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("upload:"), "{id}");

    let (status, v) = upload_chunk(&sim, &id, 0, &bytes[..1500]).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v, json!({"id": id, "file_offset": 1500}));
    let (status, v) = graph(
        reqwest::Method::GET,
        format!("{}/v25.0/{id}", sim.url()),
        Some(TOKEN),
    )
    .await;
    assert_eq!(
        (status, v.clone()),
        (200, json!({"id": id, "file_offset": 1500}))
    );
    // A wrong offset, bytes past file_length: 100.
    let (status, v) = upload_chunk(&sim, &id, 0, &bytes[1500..]).await;
    assert_eq!(
        (status, v["error"]["code"].as_i64()),
        (400, Some(100)),
        "{v}"
    );
    let mut long = bytes[1500..].to_vec();
    long.push(0);
    let (status, v) = upload_chunk(&sim, &id, 1500, &long).await;
    assert_eq!(
        (status, v["error"]["code"].as_i64()),
        (400, Some(100)),
        "{v}"
    );
    let (status, v) = upload_chunk(&sim, &id, 1500, &bytes[1500..]).await;
    assert_eq!(status, 200, "{v}");
    let handle = v["h"].as_str().unwrap().to_string();
    assert!(handle.starts_with("4::aW1hZ2UvanBlZw==:"), "{handle}");

    // A PDF declared, a JPEG sent: 131053 at completion.
    let (_, v) = start(
        "file_name=a.pdf&file_length=100&file_type=application/pdf".into(),
        TOKEN,
    )
    .await;
    let pdf_id = v["id"].as_str().unwrap().to_string();
    let (status, v) = upload_chunk(&sim, &pdf_id, 0, &jpeg(100)).await;
    assert_eq!(
        (status, v["error"]["code"].as_i64()),
        (400, Some(131053)),
        "{v}"
    );

    // The handle makes a template; a made-up one, or one of another type, does not.
    let (status, v) = create_template(&sim, "new_collection", "IMAGE", &handle).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["status"], "PENDING");
    let (status, v) =
        create_template(&sim, "made_up", "IMAGE", "4::aW1hZ2UvanBlZw==:ARbogus").await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["error"]["code"], 100);
    assert_eq!(v["error"]["error_subcode"], 2494102);
    let msg = v["error"]["error_user_msg"].as_str().unwrap();
    assert!(msg.contains("header_handle"), "{msg}");
    let (status, v) = create_template(&sim, "wrong_type", "VIDEO", &handle).await;
    assert_eq!(status, 400, "{v}");
    assert!(
        v["error"]["error_user_msg"]
            .as_str()
            .unwrap()
            .contains("image/jpeg"),
        "{v}"
    );
    assert!(
        sim.templates(WABA)
            .iter()
            .all(|t| t.name != "made_up" && t.name != "wrong_type")
    );
    sim.shutdown().await;
}
