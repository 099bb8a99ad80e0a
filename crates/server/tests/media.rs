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

/// A PNG's signature and header, then `n` bytes.
fn png(n: usize) -> Vec<u8> {
    let mut b = vec![
        0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 0x0D, b'I', b'H', b'D', b'R',
    ];
    b.extend((0..n).map(|i| (i % 253) as u8));
    b
}

async fn put(app: &TestApp, key: &str, ct: &str, path: &str, body: Vec<u8>) -> (u16, Value) {
    let r = app
        .http
        .post(app.url(path))
        .bearer_auth(key)
        .header("content-type", ct)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
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
