//! Meta's media: uploads, media objects and their download URLs, deletes, sends naming
//! media ids, inbound media with real (or generated) bytes, resumable uploads and template
//! header samples, the control API's media routes.

mod common;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::*;
use openbsp_simulator::SimulatorHandle;
use reqwest::Method;
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

/// A form's file part: file name, content type, bytes.
type FilePart<'a> = Option<(&'a str, &'a str, &'a [u8])>;

/// A multipart/form-data body by hand: text fields, then the file part if any.
fn form(fields: &[(&str, &str)], file: FilePart) -> (String, Vec<u8>) {
    let boundary = "----openbsp-test-boundary-7MA4YWxk";
    let mut body = Vec::new();
    let mut part = |headers: String, content: &[u8]| {
        body.extend_from_slice(format!("--{boundary}\r\n{headers}\r\n\r\n").as_bytes());
        body.extend_from_slice(content);
        body.extend_from_slice(b"\r\n");
    };
    for (name, value) in fields {
        part(
            format!("Content-Disposition: form-data; name=\"{name}\""),
            value.as_bytes(),
        );
    }
    if let Some((filename, content_type, bytes)) = file {
        part(
            format!(
                "Content-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\nContent-Type: {content_type}"
            ),
            bytes,
        );
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// Status and JSON of a response (`null` when the body is not JSON).
async fn answer(resp: reqwest::Response) -> (u16, Value) {
    (
        resp.status().as_u16(),
        resp.json().await.unwrap_or(Value::Null),
    )
}

fn with_token(req: reqwest::RequestBuilder, token: Option<&str>) -> reqwest::RequestBuilder {
    match token {
        Some(t) => req.bearer_auth(t),
        None => req,
    }
}

/// Posts a form to `number`'s media route.
async fn post_form(
    sim: &SimulatorHandle,
    number: &str,
    token: Option<&str>,
    fields: &[(&str, &str)],
    file: FilePart<'_>,
) -> (u16, Value) {
    let (ct, body) = form(fields, file);
    let req = client()
        .post(format!("{}/v25.0/{number}/media", sim.url()))
        .header("content-type", ct)
        .body(body);
    answer(with_token(req, token).send().await.unwrap()).await
}

async fn upload_form(
    sim: &SimulatorHandle,
    token: Option<&str>,
    fields: &[(&str, &str)],
    file: FilePart<'_>,
) -> (u16, Value) {
    post_form(sim, PNID, token, fields, file).await
}

/// Uploads `bytes` as `mime` with the number's token.
async fn upload(sim: &SimulatorHandle, mime: &str, bytes: &[u8]) -> (u16, Value) {
    upload_form(
        sim,
        Some(TOKEN),
        &[("messaging_product", "whatsapp"), ("type", mime)],
        Some(("f.bin", mime, bytes)),
    )
    .await
}

fn id_of(v: &Value) -> String {
    v["id"].as_str().unwrap().to_string()
}

/// Uploads `bytes` as `mime`; the new media id.
async fn upload_id(sim: &SimulatorHandle, mime: &str, bytes: &[u8]) -> String {
    let (status, up) = upload(sim, mime, bytes).await;
    assert_eq!(status, 200, "{up}");
    id_of(&up)
}

/// A Graph API call on `/v25.0/{path}`.
async fn graph(
    sim: &SimulatorHandle,
    method: Method,
    path: &str,
    token: Option<&str>,
) -> (u16, Value) {
    let req = client().request(method, format!("{}/v25.0/{path}", sim.url()));
    answer(with_token(req, token).send().await.unwrap()).await
}

async fn get_media(sim: &SimulatorHandle, id: &str) -> (u16, Value) {
    graph(sim, Method::GET, id, Some(TOKEN)).await
}

async fn download(url: &str, token: Option<&str>) -> reqwest::Response {
    with_token(client().get(url), token).send().await.unwrap()
}

/// A GET on the control API (no token).
async fn control_get(sim: &SimulatorHandle, path: &str) -> reqwest::Response {
    client()
        .get(format!("{}/_simulator/{path}", sim.url()))
        .send()
        .await
        .unwrap()
}

/// A POST of `body` on the control API (no token).
async fn control_post(sim: &SimulatorHandle, path: &str, body: &Value) -> reqwest::Response {
    client()
        .post(format!("{}/_simulator/{path}", sim.url()))
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn advance(sim: &SimulatorHandle, seconds: i64) {
    let resp = control_post(sim, "clock", &json!({"advance_seconds": seconds})).await;
    assert_eq!(resp.status(), 200);
}

/// Asserts `resp`'s status, then `headers` (name, value), then that its body is `bytes`.
async fn assert_response(
    resp: reqwest::Response,
    status: u16,
    headers: &[(&str, &str)],
    bytes: &[u8],
) {
    assert_eq!(resp.status(), status);
    for (name, value) in headers {
        assert_eq!(resp.headers()[*name], *value, "{name}");
    }
    assert_eq!(resp.bytes().await.unwrap().as_ref(), bytes);
}

/// Asserts a Graph error's HTTP status and `error.code`; gives the body back.
fn assert_graph_error((status, v): (u16, Value), http: u16, code: i64) -> Value {
    assert_eq!(
        (status, v["error"]["code"].as_i64()),
        (http, Some(code)),
        "{v}"
    );
    v
}

/// Asserts that the error's text `field` (`message`, `error_user_msg`...) holds `needle`.
fn assert_error_says(v: &Value, field: &str, needle: &str) {
    let text = v["error"][field].as_str().unwrap();
    assert!(text.contains(needle), "{needle:?} not in {v}");
}

fn assert_unknown_object(answer: (u16, Value)) {
    let v = assert_graph_error(answer, 400, 100);
    assert_eq!(v["error"]["error_subcode"], 33, "{v}");
}

/// Asserts a 131053 "Media upload error"; gives the body back.
fn assert_media_error(answer: (u16, Value)) -> Value {
    let v = assert_graph_error(answer, 400, 131053);
    assert_eq!(v["error"]["message"], "(#131053) Media upload error");
    v
}

#[tokio::test]
async fn upload_then_get_a_url_and_download_with_the_token() {
    let (sim, _rx) = setup(fast_config(), 0).await;
    let bytes = jpeg(10_000);
    let id = upload_id(&sim, "image/jpeg", &bytes).await;
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
    let headers = [("content-type", "image/jpeg"), ("content-length", "10000")];
    assert_response(download(&url, Some(TOKEN)).await, 200, &headers, &bytes).await;
    // A range.
    let resp = client()
        .get(&url)
        .bearer_auth(TOKEN)
        .header("range", "bytes=2-5")
        .send()
        .await
        .unwrap();
    let headers = [("content-range", "bytes 2-5/10000")];
    assert_response(resp, 206, &headers, &bytes[2..6]).await;
    // Without a token, or with another: 401.
    assert_eq!(download(&url, None).await.status(), 401);
    let resp = download(&url, Some("not-the-token")).await;
    assert_graph_error(answer(resp).await, 401, 190);
    // A forged URL: 404.
    assert_eq!(
        download(&format!("{url}x"), Some(TOKEN)).await.status(),
        404
    );

    // Five minutes later the URL is dead; a new GET gives one that works.
    advance(&sim, 301).await;
    assert_eq!(download(&url, Some(TOKEN)).await.status(), 404);
    let (status, m) = get_media(&sim, &id).await;
    assert_eq!(status, 200, "{m}");
    let fresh = m["url"].as_str().unwrap();
    assert_ne!(fresh, url);
    assert_response(download(fresh, Some(TOKEN)).await, 200, &[], &bytes).await;

    // The control API lists it and gives its bytes without a token.
    let listed = control_get(&sim, &format!("media?phone_number_id={PNID}")).await;
    let listed: Value = listed.json().await.unwrap();
    let listed = &listed["data"][0];
    assert_eq!(listed["id"], id.as_str());
    assert_eq!(listed["origin"], "upload");
    assert_eq!(listed["filename"], "f.bin");
    assert_eq!(listed["deleted"], false);
    assert_eq!(
        listed["expires_at_ms"].as_i64().unwrap() - listed["created_at_ms"].as_i64().unwrap(),
        30 * 24 * 3600 * 1000
    );
    let content = control_get(&sim, &format!("media/{id}/content")).await;
    assert_response(content, 200, &[], &bytes).await;
    assert_eq!(sim.state().media_of(Some(PNID)).len(), 1);
    sim.shutdown().await;
}

/// A refused upload: token, form fields, file part, then the HTTP status, the error code
/// and what the error message names.
type Refusal<'a> = (
    Option<&'a str>,
    &'a [(&'a str, &'a str)],
    FilePart<'a>,
    u16,
    i64,
    &'a [&'a str],
);

#[tokio::test]
async fn uploads_are_refused_as_meta_refuses_them() {
    let (sim, _rx) = setup(fast_config(), 0).await;
    let ok_fields = [("messaging_product", "whatsapp"), ("type", "image/jpeg")];
    let small = jpeg(100);
    let file = Some(("a.jpg", "image/jpeg", small.as_slice()));
    let too_big = jpeg(5 * 1024 * 1024 + 1);

    let refused: [Refusal; 7] = [
        // No token, a wrong token: 190.
        (None, &ok_fields, file, 401, 190, &[]),
        (Some("nope"), &ok_fields, file, 401, 190, &[]),
        // messaging_product missing, file missing, type missing: 100.
        (
            Some(TOKEN),
            &[("type", "image/jpeg")],
            file,
            400,
            100,
            &["messaging_product"],
        ),
        (Some(TOKEN), &ok_fields, None, 400, 100, &[]),
        (
            Some(TOKEN),
            &[("messaging_product", "whatsapp")],
            file,
            400,
            100,
            &[],
        ),
        // A type WhatsApp does not take: 100, listing the types.
        (
            Some(TOKEN),
            &[("messaging_product", "whatsapp"), ("type", "image/gif")],
            Some(("f.bin", "image/gif", b"GIF89a......")),
            400,
            100,
            &["image/jpeg", "application/pdf"],
        ),
        // Over the kind's largest size (images: 5 MB): 100.
        (
            Some(TOKEN),
            &ok_fields,
            Some(("f.bin", "image/jpeg", &too_big)),
            400,
            100,
            &[],
        ),
    ];
    for (token, fields, file, http, code, names) in refused {
        let v = assert_graph_error(upload_form(&sim, token, fields, file).await, http, code);
        for name in names {
            assert_error_says(&v, "message", name);
        }
    }
    // Bytes not of the declared type: 131053.
    let v = assert_media_error(upload(&sim, "image/jpeg", PNG).await);
    let details = v["error"]["error_data"]["details"].as_str().unwrap();
    assert!(details.contains("image/png"), "{details}");
    // An unknown number: unknown object.
    assert_unknown_object(post_form(&sim, "999999", Some(TOKEN), &ok_fields, file).await);
    assert!(sim.state().media_of(None).is_empty());
    sim.shutdown().await;
}

#[tokio::test]
async fn deleted_media_is_an_unknown_object() {
    let (sim, _rx) = setup(fast_config(), 0).await;
    let id = upload_id(&sim, "image/png", PNG).await;
    let of_number = format!("{id}?phone_number_id={PNID}");
    // Another number's id is not its owner.
    let of_other = format!("{id}?phone_number_id=123456");
    assert_unknown_object(graph(&sim, Method::GET, &of_other, Some(TOKEN)).await);
    let (status, v) = graph(&sim, Method::GET, &of_number, Some(TOKEN)).await;
    assert_eq!(status, 200, "{v}");
    let url = v["url"].as_str().unwrap().to_string();
    assert_graph_error(graph(&sim, Method::DELETE, &id, None).await, 401, 190);
    let deleted = graph(&sim, Method::DELETE, &of_number, Some(TOKEN)).await;
    assert_eq!(deleted, (200, json!({"success": true})));
    assert_unknown_object(get_media(&sim, &id).await);
    assert_unknown_object(graph(&sim, Method::DELETE, &id, Some(TOKEN)).await);
    assert_eq!(download(&url, Some(TOKEN)).await.status(), 404);
    assert_unknown_object(graph(&sim, Method::DELETE, "12345678", Some(TOKEN)).await);
    assert!(sim.state().media_of(Some(PNID))[0].deleted);
    sim.shutdown().await;
}

/// Sends `body`; asserts it is taken.
async fn assert_sent(sim: &SimulatorHandle, body: &Value) {
    let (status, v) = send(sim, Some(TOKEN), body).await;
    assert_eq!(status, 200, "{v}");
}

/// Sends `body`; asserts it is refused for naming media `id` that is not known.
async fn assert_unknown_media(sim: &SimulatorHandle, body: &Value, id: &str) {
    let v = assert_media_error(send(sim, Some(TOKEN), body).await);
    assert_eq!(
        v["error"]["error_data"]["details"],
        format!("Media id {id} is not known or has expired")
    );
}

#[tokio::test]
async fn sends_must_name_live_media() {
    let (sim, _rx) = setup(fast_config(), 0).await;
    let id = upload_id(&sim, "image/jpeg", &jpeg(500)).await;
    let image = |id: &str| json!({"messaging_product": "whatsapp", "to": "15550101234", "type": "image", "image": {"id": id, "caption": "c"}});
    assert_sent(&sim, &image(&id)).await;
    assert_eq!(sim.received(PNID)[0].body, image(&id));

    assert_unknown_media(&sim, &image("1234567890123456"), "1234567890123456").await;
    let link = json!({"messaging_product": "whatsapp", "to": "15550101234", "type": "document", "document": {"link": "https://example.com/a.pdf"}});
    assert_sent(&sim, &link).await;
    let interactive = json!({"messaging_product": "whatsapp", "to": "15550101234", "type": "interactive", "interactive": {
        "type": "button",
        "header": {"type": "video", "video": {"id": "777"}},
        "body": {"text": "Pick"},
        "action": {"buttons": [{"type": "reply", "reply": {"id": "a", "title": "A"}}]},
    }});
    assert_unknown_media(&sim, &interactive, "777").await;

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
    assert_sent(&sim, &template(&id)).await;
    assert_unknown_media(&sim, &template("42"), "42").await;

    // Past media_id_ttl the id is gone.
    let resp = control_post(&sim, "config", &json!({"media_id_ttl_seconds": 60})).await;
    let config: Value = resp.json().await.unwrap();
    assert_eq!(config["media_id_ttl_seconds"], 60);
    assert_eq!(config["inbound_media_ttl_seconds"], 7 * 24 * 3600);
    let short = upload_id(&sim, "image/jpeg", &jpeg(500)).await;
    assert_sent(&sim, &image(&short)).await;
    advance(&sim, 61).await;
    assert_unknown_media(&sim, &image(&short), &short).await;
    assert_unknown_object(get_media(&sim, &short).await);
    // The first upload (30 days) still works.
    assert_sent(&sim, &image(&id)).await;
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
    let inbound = |message: Value| json!({"phone_number_id": PNID, "from": "15550101234", "message": message});
    let resp = control_post(
        &sim,
        "inbound",
        &inbound(json!({
            "type": "image",
            "image": {"caption": "hi", "file": {"data_base64": STANDARD.encode(&bytes), "mime_type": "image/jpeg"}},
        })),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let msg = inbound_message(&rx, 0).await;
    let image = &msg["image"];
    assert_eq!(image["caption"], "hi");
    assert_eq!(image["mime_type"], "image/jpeg");
    assert!(image.get("file").is_none(), "{image}");
    assert_eq!(image["sha256"], STANDARD.encode(Sha256::digest(&bytes)));
    let id = image["id"].as_str().unwrap();
    let url = image["url"].as_str().unwrap();
    assert_response(download(url, Some(TOKEN)).await, 200, &[], &bytes).await;
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
    let with_id =
        inbound(json!({"type": "image", "image": {"id": "1", "file": {"data_base64": "AAAA"}}}));
    assert_eq!(control_post(&sim, "inbound", &with_id).await.status(), 400);
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
    let put = |body: Value| {
        let sim = &sim;
        async move { control_post(sim, "media", &body).await }
    };
    let resp = put(json!({"phone_number_id": PNID, "mime_type": "image/jpeg", "data_base64": STANDARD.encode(b"not a jpeg"), "filename": "x.jpg"})).await;
    assert_eq!(resp.status(), 200);
    let m: Value = resp.json().await.unwrap();
    assert_eq!(m["sha256"], hex::encode(Sha256::digest(b"not a jpeg")));
    assert_eq!(m["file_size"], 10);
    let resp = put(json!({"phone_number_id": PNID, "mime_type": "video/mp4", "generate": {"size": 1000, "seed": 3}})).await;
    let g: Value = resp.json().await.unwrap();
    let content = control_get(&sim, &format!("media/{}/content", id_of(&g))).await;
    assert_eq!(content.headers()["content-type"], "video/mp4");
    let body = content.bytes().await.unwrap();
    assert_eq!(body.len(), 1000);
    assert_eq!(
        hex::encode(Sha256::digest(&body)),
        g["sha256"].as_str().unwrap()
    );
    // An unknown number: 404; neither bytes nor `generate`: 400.
    for (body, status) in [
        (
            json!({"phone_number_id": "nope", "mime_type": "image/jpeg", "data_base64": ""}),
            404,
        ),
        (
            json!({"phone_number_id": PNID, "mime_type": "image/jpeg"}),
            400,
        ),
    ] {
        assert_eq!(put(body.clone()).await.status(), status, "{body}");
    }
    let config: Value = control_get(&sim, "config").await.json().await.unwrap();
    assert_eq!(config["media_id_ttl_seconds"], 30 * 24 * 3600);
    assert_eq!(config["inbound_media_ttl_seconds"], 7 * 24 * 3600);
    sim.shutdown().await;
}

/// Starts a resumable upload session with `query` (file_name, file_length, file_type).
async fn start_upload(sim: &SimulatorHandle, query: &str, token: &str) -> (u16, Value) {
    let url = format!("{}/v25.0/1234567890/uploads?{query}", sim.url());
    answer(client().post(url).bearer_auth(token).send().await.unwrap()).await
}

async fn upload_chunk(
    sim: &SimulatorHandle,
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
    answer(resp).await
}

async fn create_template(
    sim: &SimulatorHandle,
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
    answer(resp).await
}

#[tokio::test]
async fn resumable_uploads_give_handles_for_template_samples() {
    let (sim, _rx) = setup(fast_config(), 0).await;
    let bytes = jpeg(4000);
    // A type WhatsApp does not take, no file_length: 100; a wrong token: 190.
    for (query, token, http, code) in [
        (
            "file_name=a.gif&file_length=10&file_type=image/gif",
            TOKEN,
            400,
            100,
        ),
        ("file_name=a.jpg&file_type=image/jpeg", TOKEN, 400, 100),
        (
            "file_name=a.jpg&file_length=10&file_type=image/jpeg",
            "nope",
            401,
            190,
        ),
    ] {
        assert_graph_error(start_upload(&sim, query, token).await, http, code);
    }
    let query = format!(
        "file_name=a.jpg&file_length={}&file_type=image/jpeg",
        bytes.len()
    );
    let (status, v) = start_upload(&sim, &query, TOKEN).await;
    assert_eq!(status, 200, "{v}");
    let id = id_of(&v);
    assert!(id.starts_with("upload:"), "{id}");

    let (status, v) = upload_chunk(&sim, &id, 0, &bytes[..1500]).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v, json!({"id": id, "file_offset": 1500}));
    let session = graph(&sim, Method::GET, &id, Some(TOKEN)).await;
    assert_eq!(session, (200, json!({"id": id, "file_offset": 1500})));
    // A wrong offset, bytes past file_length: 100.
    let mut long = bytes[1500..].to_vec();
    long.push(0);
    for (offset, chunk) in [(0, &bytes[1500..]), (1500, long.as_slice())] {
        assert_graph_error(upload_chunk(&sim, &id, offset, chunk).await, 400, 100);
    }
    let (status, v) = upload_chunk(&sim, &id, 1500, &bytes[1500..]).await;
    assert_eq!(status, 200, "{v}");
    let handle = v["h"].as_str().unwrap().to_string();
    assert!(handle.starts_with("4::aW1hZ2UvanBlZw==:"), "{handle}");

    // A PDF declared, a JPEG sent: 131053 at completion.
    let query = "file_name=a.pdf&file_length=100&file_type=application/pdf";
    let pdf_id = id_of(&start_upload(&sim, query, TOKEN).await.1);
    let chunk = upload_chunk(&sim, &pdf_id, 0, &jpeg(100)).await;
    assert_graph_error(chunk, 400, 131053);

    // The handle makes a template; a made-up one, or one of another type, does not.
    let (status, v) = create_template(&sim, "new_collection", "IMAGE", &handle).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["status"], "PENDING");
    let made_up = create_template(&sim, "made_up", "IMAGE", "4::aW1hZ2UvanBlZw==:ARbogus").await;
    let v = assert_graph_error(made_up, 400, 100);
    assert_eq!(v["error"]["error_subcode"], 2494102);
    assert_error_says(&v, "error_user_msg", "header_handle");
    let (status, v) = create_template(&sim, "wrong_type", "VIDEO", &handle).await;
    assert_eq!(status, 400, "{v}");
    assert_error_says(&v, "error_user_msg", "image/jpeg");
    assert!(
        sim.templates(WABA)
            .iter()
            .all(|t| t.name != "made_up" && t.name != "wrong_type")
    );
    sim.shutdown().await;
}
