//! Media through the native API, on both backends: uploaded streamed and checked as Meta checks
//! it, read back whole or by range with its ETag, kept once per tenant by content, deleted;
//! another tenant's media is not found.

mod common;

use common::*;
use openbsp_server::config::{MediaStoreConfig, S3Config};
use openbsp_testkit::{Backend, on_both_backends};
use serde_json::Value;
use sha2::Digest;

on_both_backends! {
    media_is_uploaded_checked_read_and_deleted_on_the_filesystem =>
        crate::media_is_uploaded_checked_read_and_deleted_on_the_filesystem,
    media_is_uploaded_checked_read_and_deleted_on_s3 =>
        crate::media_is_uploaded_checked_read_and_deleted_on_s3,
    media_through_the_graph_surface => crate::media_through_the_graph_surface,
    media_unused_past_the_retention_is_pruned => crate::media_unused_past_the_retention_is_pruned,
}

async fn media_is_uploaded_checked_read_and_deleted_on_the_filesystem(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("media");
    let app = spawn_app_configured(backend, |c| {
        c.media = MediaStoreConfig::Local(folder.clone())
    })
    .await;
    media_is_uploaded_checked_read_and_deleted(&app).await;
    // The bytes are in the folder, by tenant and content.
    let kept = std::fs::read_dir(folder.join("media").join(&app.tenant_id))
        .unwrap()
        .count();
    assert_eq!(kept, 1);
}

async fn media_is_uploaded_checked_read_and_deleted_on_s3(backend: Backend) {
    let bucket = openbsp_testkit::s3_bucket().await;
    let app = spawn_app_configured(backend, |c| {
        c.media = MediaStoreConfig::S3(S3Config {
            bucket,
            endpoint: Some(openbsp_testkit::s3_url()),
            region: "us-east-1".into(),
            access_key_id: Some("test".into()),
            secret_access_key: Some("test".into()),
            path_style: true,
        })
    })
    .await;
    media_is_uploaded_checked_read_and_deleted(&app).await;
}

async fn put(app: &TestApp, key: &str, ct: &str, path: &str, body: Vec<u8>) -> (u16, Value) {
    let r = app.post_raw(path, key, body, &[("content-type", ct)]).await;
    (r.status, r.body)
}

/// Upload, read whole and by range, refusals that keep nothing, the same bytes twice, another
/// tenant, delete.
async fn media_is_uploaded_checked_read_and_deleted(app: &TestApp) {
    let key = app.api_key.clone();
    let bytes = png(300_000);
    let (status, m) = put(
        app,
        &key,
        "image/png",
        "/v1/media?filename=logo.png",
        bytes.clone(),
    )
    .await;
    assert_eq!(status, 201, "{m}");
    let id = m["id"].as_str().unwrap().to_string();
    assert_eq!(m["sha256"], hex::encode(sha2::Sha256::digest(&bytes)));
    assert_eq!(
        (m["file_size"].as_u64(), m["mime_type"].as_str()),
        (Some(bytes.len() as u64), Some("image/png"))
    );
    assert_eq!(m["filename"], "logo.png");
    let got = app.get(&format!("/v1/media/{id}"), &key).await;
    assert_eq!(got.body["id"], id.as_str());

    // The bytes, whole, by range, and not again when the client has them.
    let url = app.url(&format!("/v1/media/{id}/content"));
    let r = app.http.get(&url).bearer_auth(&key).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "image/png");
    let etag = r.headers()["etag"].to_str().unwrap().to_string();
    assert_eq!(r.bytes().await.unwrap().to_vec(), bytes);
    let r = app
        .http
        .get(&url)
        .bearer_auth(&key)
        .header("range", "bytes=100-199")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(
        r.headers()["content-range"],
        format!("bytes 100-199/{}", bytes.len()).as_str()
    );
    assert_eq!(r.bytes().await.unwrap().to_vec(), bytes[100..200]);
    let r = app
        .http
        .get(&url)
        .bearer_auth(&key)
        .header("range", "bytes=999999999-")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 416);
    let r = app
        .http
        .get(&url)
        .bearer_auth(&key)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 304);

    // Refused, and nothing kept: a type WhatsApp does not take, bytes of another type, an image
    // over 5 MB, an empty file.
    for (ct, body) in [
        ("image/gif", b"GIF89a....".to_vec()),
        ("image/jpeg", png(100)),
        ("image/png", png(5 * 1024 * 1024)),
        ("application/pdf", Vec::new()),
    ] {
        let (status, e) = put(app, &key, ct, "/v1/media", body).await;
        assert_eq!(status, 400, "{ct}: {e}");
    }

    // The same bytes again: another media, the same object; another tenant sees neither.
    let (status, again) = put(app, &key, "image/png", "/v1/media", bytes.clone()).await;
    assert_eq!(status, 201, "{again}");
    assert_eq!(again["sha256"], m["sha256"]);
    let again_id = again["id"].as_str().unwrap().to_string();
    let other = app.other_tenant_key().await;
    assert_eq!(
        app.get(&format!("/v1/media/{id}"), &other).await.status,
        404
    );
    let r = app.http.get(&url).bearer_auth(&other).send().await.unwrap();
    assert_eq!(r.status(), 404);
    let r = app
        .http
        .delete(app.url(&format!("/v1/media/{id}")))
        .bearer_auth(&other)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    // Deleted: gone; the other media with the same bytes still reads them.
    let r = app
        .http
        .delete(app.url(&format!("/v1/media/{id}")))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(app.get(&format!("/v1/media/{id}"), &key).await.status, 404);
    let r = app
        .http
        .get(app.url(&format!("/v1/media/{again_id}/content")))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.bytes().await.unwrap().to_vec(), bytes);
}

/// A multipart form of `fields` (name, value) and one file part.
fn form(fields: &[(&str, &str)], file: Option<(&str, &[u8])>) -> (String, Vec<u8>) {
    let boundary = "----openbsp-test-boundary";
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    if let Some((ct, bytes)) = file {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"logo.png\"\r\nContent-Type: {ct}\r\n\r\n")
                .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// The Graph surface (and the native API's form): a multipart upload answers Meta's `{"id"}`; `GET /{media_id}` gives a
/// URL of the gateway that serves the bytes with the bearer key and only as signed; delete
/// answers `{"success": true}`; a form without `messaging_product` keeps nothing.
async fn media_through_the_graph_surface(backend: Backend) {
    let app = spawn_app(backend).await;
    let key = app.api_key.clone();
    let path = format!("/v23.0/{}/media", app.channel.phone_number_id);
    let bytes = png(50_000);
    let (ct, body) = form(
        &[("messaging_product", "whatsapp"), ("type", "image/png")],
        Some(("image/png", &bytes)),
    );
    let (status, up) = put(&app, &key, &ct, &path, body).await;
    assert_eq!(status, 200, "{up}");
    let id = up["id"].as_str().unwrap().to_string();
    assert_eq!(up.as_object().unwrap().len(), 1, "{up}");

    let got = app.get(&format!("/v23.0/{id}"), &key).await;
    assert_eq!(got.status, 200, "{}", got.body);
    assert_eq!(got.body["messaging_product"], "whatsapp");
    assert_eq!(got.body["mime_type"], "image/png");
    assert_eq!(got.body["file_size"], bytes.len().to_string());
    assert_eq!(
        got.body["sha256"],
        hex::encode(sha2::Sha256::digest(&bytes))
    );
    let url = got.body["url"].as_str().unwrap().to_string();
    let r = app.http.get(&url).bearer_auth(&key).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap().to_vec(), bytes);
    // Without the key, or with the URL tampered with: nothing.
    assert_eq!(app.http.get(&url).send().await.unwrap().status(), 401);
    let forged = url.replace("expires=", "expires=9");
    let r = app
        .http
        .get(&forged)
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    // A form without messaging_product: refused, nothing kept.
    let (ct, body) = form(&[("type", "image/png")], Some(("image/png", &png(10))));
    let (status, e) = put(&app, &key, &ct, &path, body).await;
    assert_eq!(status, 400, "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("messaging_product"),
        "{e}"
    );
    // Another tenant's number: refused.
    let other = app.other_tenant_key().await;
    let (ct, body) = form(
        &[("messaging_product", "whatsapp")],
        Some(("image/png", &png(10))),
    );
    let (status, _) = put(&app, &other, &ct, &path, body).await;
    assert!(status >= 400);

    // The native API takes the same form: the part's type and file name.
    let (ct, body) = form(&[], Some(("image/png", &png(20))));
    let (status, native) = put(&app, &key, &ct, "/v1/media", body).await;
    assert_eq!(status, 201, "{native}");
    assert_eq!(
        (native["mime_type"].as_str(), native["filename"].as_str()),
        (Some("image/png"), Some("logo.png"))
    );
    let (ct, body) = form(&[("type", "image/png")], None);
    let (status, e) = put(&app, &key, &ct, "/v1/media", body).await;
    assert_eq!(status, 400, "{e}");

    let r = app
        .http
        .delete(app.url(&format!("/v23.0/{id}")))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        serde_json::json!({"success": true})
    );
    assert_ne!(app.get(&format!("/v23.0/{id}"), &key).await.status, 200);
}

/// Retention: a media unused for 30 days goes with its bytes; one read meanwhile stays, and so
/// do the bytes another media still has.
async fn media_unused_past_the_retention_is_pruned(backend: Backend) {
    let (app, clock) = spawn_app_clocked(backend).await;
    let key = app.api_key.clone();
    let day = 24 * 3600 * 1000;
    let (_, old) = put(&app, &key, "image/png", "/v1/media", png(1_000)).await;
    let (_, shared) = put(&app, &key, "image/png", "/v1/media", png(2_000)).await;
    clock.advance_ms(20 * day);
    let (_, read) = put(&app, &key, "image/png", "/v1/media", png(3_000)).await;
    let (_, twin) = put(&app, &key, "image/png", "/v1/media", png(2_000)).await;
    clock.advance_ms(15 * day);
    let content = |m: &Value| format!("/v1/media/{}/content", m["id"].as_str().unwrap());
    let r = app
        .http
        .get(app.url(&content(&read)))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let core = app.gateway.state();
    let before = core.now() - core.config.media_retention.as_millis() as i64;
    let pruned = openbsp_server::core::media::prune(core, before)
        .await
        .unwrap();
    assert_eq!(pruned, 2);
    for (m, want) in [(&old, 404), (&shared, 404), (&read, 200)] {
        let path = format!("/v1/media/{}", m["id"].as_str().unwrap());
        assert_eq!(app.get(&path, &key).await.status, want, "{m}");
    }
    // The twin's bytes are the pruned media's: still there.
    let r = app
        .http
        .get(app.url(&content(&twin)))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.bytes().await.unwrap().to_vec(), png(2_000));
}
