//! Media: metadata kept per tenant, bytes shared by sha256 (deleting one media says whether its
//! object is still used), retention by last use, and Meta's copies per channel; inbound media
//! downloaded by jobs written with their messages, claimed once, finished or failed once.

use std::collections::BTreeSet;

use openbsp_domain::ids::{new_id_at, prefix};
use openbsp_store::*;
use openbsp_testkit::Backend;
use serde_json::json;

use crate::events::all_events;
use crate::fixtures::*;

const T: i64 = 1_700_000_000_000;
const SHA: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

fn media(tenant_id: &str, sha256: &str, at: i64) -> Media {
    Media {
        id: new_id_at(prefix::MEDIA, at),
        tenant_id: tenant_id.to_string(),
        sha256: sha256.to_string(),
        mime_type: "image/jpeg".into(),
        file_size: 5_000_000,
        filename: Some("photo.jpg".into()),
        origin: media_origin::UPLOAD.into(),
        created_at: at,
        last_used_at: at,
    }
}

pub async fn media_is_kept_per_tenant_and_shares_its_bytes(backend: Backend) {
    let (_db, store) = open_store(backend).await;
    let w = world(&store, "acme").await;
    let other = world(&store, "other").await;

    // The same bytes uploaded twice: two media, one object.
    let a = media(&w.tenant.id, SHA, T);
    let b = media(&w.tenant.id, SHA, T + 1);
    let c = media(&w.tenant.id, &"a".repeat(64), T + 2);
    for m in [&a, &b, &c] {
        store.insert_media(m).await.unwrap();
    }
    assert_eq!(
        store.get_media(&w.tenant.id, &a.id).await.unwrap(),
        Some(a.clone())
    );
    // Another tenant's id: nothing, and nothing done.
    assert_eq!(
        store.get_media(&other.tenant.id, &a.id).await.unwrap(),
        None
    );
    assert!(
        !store
            .touch_media(&other.tenant.id, &a.id, T + 9)
            .await
            .unwrap()
    );
    assert_eq!(
        store.delete_media(&other.tenant.id, &a.id).await.unwrap(),
        None
    );

    // Retention counts from the last use; a use never moves it back.
    assert!(
        store
            .touch_media(&w.tenant.id, &a.id, T + 100)
            .await
            .unwrap()
    );
    assert!(
        store
            .touch_media(&w.tenant.id, &a.id, T + 50)
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .get_media(&w.tenant.id, &a.id)
            .await
            .unwrap()
            .unwrap()
            .last_used_at,
        T + 100
    );
    let stale: Vec<String> = store
        .stale_media(T + 100, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(stale, vec![b.id.clone(), c.id.clone()]);
    assert_eq!(store.stale_media(T + 100, 1).await.unwrap().len(), 1);

    // Meta's copy per channel: recorded, replaced, forgotten.
    assert_eq!(store.meta_copy(&a.id, &w.channel.id).await.unwrap(), None);
    let copy = MetaCopy {
        meta_media_id: "1037543291543636".into(),
        uploaded_at: T,
    };
    store
        .set_meta_copy(&a.id, &w.channel.id, &copy)
        .await
        .unwrap();
    assert_eq!(
        store.meta_copy(&a.id, &w.channel.id).await.unwrap(),
        Some(copy)
    );
    let newer = MetaCopy {
        meta_media_id: "1037543291543999".into(),
        uploaded_at: T + 5,
    };
    store
        .set_meta_copy(&a.id, &w.channel.id, &newer)
        .await
        .unwrap();
    assert_eq!(
        store.meta_copy(&a.id, &w.channel.id).await.unwrap(),
        Some(newer.clone())
    );
    store.forget_meta_copy(&a.id, &w.channel.id).await.unwrap();
    assert_eq!(store.meta_copy(&a.id, &w.channel.id).await.unwrap(), None);
    store
        .set_meta_copy(&a.id, &w.channel.id, &newer)
        .await
        .unwrap();

    assert!(store.media_object_used(&w.tenant.id, SHA).await.unwrap());
    assert!(
        !store
            .media_object_used(&other.tenant.id, SHA)
            .await
            .unwrap()
    );

    // Deleted: the first of two media with the same bytes leaves the object in use; the
    // second frees it. Meta's copies go with the media.
    let gone = store
        .delete_media(&w.tenant.id, &a.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (gone.media.id.as_str(), gone.object_unused),
        (a.id.as_str(), false)
    );
    assert_eq!(store.get_media(&w.tenant.id, &a.id).await.unwrap(), None);
    assert_eq!(store.meta_copy(&a.id, &w.channel.id).await.unwrap(), None);
    let gone = store
        .delete_media(&w.tenant.id, &b.id)
        .await
        .unwrap()
        .unwrap();
    assert!(gone.object_unused);
    assert_eq!(store.delete_media(&w.tenant.id, &b.id).await.unwrap(), None);
    assert!(!store.media_object_used(&w.tenant.id, SHA).await.unwrap());
}

/// How long a claim holds a download job.
const LEASE: i64 = 60_000;

/// An inbound image (or, with a filename, a document) from `from`: a message with its media
/// to download.
fn with_media(
    channel: &Channel,
    from: &str,
    wamid: &str,
    filename: Option<&str>,
    at: i64,
) -> NewInbound {
    let mut new = inbound(channel, from, wamid, None, at);
    let meta_media_id = format!("meta-{}", unique());
    new.message.msg_type = "image".into();
    new.message.content = json!({"from": from, "id": wamid, "type": "image",
        "image": {"id": meta_media_id, "mime_type": "image/jpeg"}});
    new.media = Some(NewDownload {
        media_id: new_id_at(prefix::MEDIA, at),
        meta_media_id,
        mime_type: if filename.is_some() {
            "application/pdf".into()
        } else {
            "image/jpeg".into()
        },
        sha256: Some("n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg=".into()),
        filename: filename.map(str::to_string),
    });
    new
}

/// The job an inbound message with media gets, as it is written.
fn pending_job(new: &NewInbound) -> Download {
    let d = new.media.clone().expect("a message with media");
    let m = &new.message;
    Download {
        message_id: m.id.clone(),
        tenant_id: m.tenant_id.clone(),
        channel_id: m.channel_id.clone(),
        media_id: d.media_id,
        meta_media_id: d.meta_media_id,
        mime_type: d.mime_type,
        sha256: d.sha256,
        filename: d.filename,
        state: download_state::PENDING.into(),
        attempts: 0,
        next_at: m.created_at,
        error: None,
        created_at: m.created_at,
        updated_at: m.created_at,
    }
}

/// The media a worker stores for a job.
fn fetched(job: &Download, at: i64) -> Media {
    Media {
        id: job.media_id.clone(),
        tenant_id: job.tenant_id.clone(),
        sha256: SHA.into(),
        mime_type: job.mime_type.clone(),
        file_size: 1_234,
        filename: job.filename.clone(),
        origin: media_origin::INBOUND.into(),
        created_at: at,
        last_used_at: at,
    }
}

pub async fn inbound_media_is_downloaded_once(backend: Backend) {
    let (_db, store) = open_store(backend).await;
    let w = world(&store, "acme").await;
    let other = world(&store, "other").await;
    let t = &w.tenant.id;

    // An inbound image: its message and one pending job, due at once.
    let photo = with_media(&w.channel, "15550001111", "wamid.photo", None, T);
    assert!(store.insert_inbound(&photo).await.unwrap());
    let job = pending_job(&photo);
    let id = job.message_id.clone();
    assert_eq!(store.download_of(t, &id).await.unwrap(), Some(job.clone()));
    assert_eq!(
        store.get_download(t, &job.media_id).await.unwrap(),
        Some(job.clone())
    );
    // A duplicate delivery of the same wamid is not stored again: no second job.
    let again = with_media(&w.channel, "15550001111", "wamid.photo", None, T + 5);
    assert!(!store.insert_inbound(&again).await.unwrap());
    let again_media = &again.media.as_ref().unwrap().media_id;
    assert_eq!(store.get_download(t, again_media).await.unwrap(), None);
    assert_eq!(store.download_of(t, &again.message.id).await.unwrap(), None);
    // A text has nothing to download.
    let text = inbound(&w.channel, "15550001111", "wamid.text", None, T + 1);
    assert!(store.insert_inbound(&text).await.unwrap());
    assert_eq!(store.download_of(t, &text.message.id).await.unwrap(), None);
    // Another tenant's: nothing.
    let o = &other.tenant.id;
    assert_eq!(store.get_download(o, &job.media_id).await.unwrap(), None);
    assert_eq!(store.download_of(o, &id).await.unwrap(), None);

    // Not due before its time; claimed once while the claim lives; again once it lapsed.
    assert!(
        store
            .claim_downloads(T - 1, LEASE, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let first = Download {
        attempts: 1,
        ..job.clone()
    };
    assert_eq!(
        store.claim_downloads(T + 10, LEASE, 10).await.unwrap(),
        vec![first]
    );
    assert!(
        store
            .claim_downloads(T + 10, LEASE, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .claim_downloads(T + 10 + LEASE - 1, LEASE, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let second = store
        .claim_downloads(T + 10 + LEASE, LEASE, 10)
        .await
        .unwrap();
    assert_eq!(second.len(), 1);
    assert_eq!(
        (second[0].message_id.as_str(), second[0].attempts),
        (id.as_str(), 2)
    );

    // A retry releases the claim and makes it due later, with why.
    let (retry_at, later) = (T + 10 + LEASE + 1, T + 500_000);
    let why = json!({"code": 131052, "title": "Media download error"});
    store
        .retry_download(&id, later, &why, retry_at)
        .await
        .unwrap();
    let retried = store.download_of(t, &id).await.unwrap().unwrap();
    assert_eq!(
        retried,
        Download {
            attempts: 2,
            next_at: later,
            error: Some(why.clone()),
            updated_at: retry_at,
            ..job.clone()
        }
    );
    assert!(
        store
            .claim_downloads(later - 1, LEASE, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let third = store.claim_downloads(later, LEASE, 10).await.unwrap();
    assert_eq!(third.len(), 1);
    assert_eq!(third[0].attempts, 3);

    // Finished: the media is stored under the job's id, the job is stored, and the tenant
    // hears of it.
    let done_at = later + 2_000;
    let m = fetched(&third[0], done_at);
    // Another tenant's media (or another id) is not this job's.
    let mut foreign = m.clone();
    foreign.tenant_id = other.tenant.id.clone();
    assert!(!store.finish_download(&id, &foreign, done_at).await.unwrap());
    assert!(store.finish_download(&id, &m, done_at).await.unwrap());
    assert_eq!(
        store.get_media(t, &job.media_id).await.unwrap(),
        Some(m.clone())
    );
    assert_eq!(store.get_media(o, &job.media_id).await.unwrap(), None);
    assert_eq!(
        store.download_of(t, &id).await.unwrap(),
        Some(Download {
            state: download_state::STORED.into(),
            attempts: 3,
            next_at: later,
            error: None,
            updated_at: done_at,
            ..job.clone()
        })
    );
    let stored: Vec<_> = all_events(&store, t)
        .await
        .into_iter()
        .filter(|(k, _)| k.starts_with("media."))
        .collect();
    assert_eq!(
        stored,
        vec![(
            "media.stored".to_string(),
            json!({
                "message_id": id,
                "channel_id": w.channel.id,
                "media": views::media_json(&m),
            })
        )]
    );
    assert_eq!(stored[0].1["media"]["origin"], "inbound");
    assert_eq!(stored[0].1["media"]["object"], "media");
    // Once: a second finish, a fail or a retry afterwards changes nothing.
    assert!(!store.finish_download(&id, &m, done_at + 1).await.unwrap());
    assert!(!store.fail_download(&id, &why, done_at + 1).await.unwrap());
    store
        .retry_download(&id, done_at + 5, &why, done_at + 1)
        .await
        .unwrap();
    assert_eq!(
        store.download_of(t, &id).await.unwrap().unwrap().state,
        download_state::STORED
    );
    assert!(
        store
            .claim_downloads(done_at + 10 * LEASE, LEASE, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .get_message(t, &id)
            .await
            .unwrap()
            .unwrap()
            .error
            .is_none()
    );

    // Another job given up: the message says why (Meta's errors array), the tenant hears of
    // it, and no media is stored.
    let doc_at = T + 1_000_000;
    let doc = with_media(
        &w.channel,
        "15550002222",
        "wamid.doc",
        Some("invoice.pdf"),
        doc_at,
    );
    assert!(store.insert_inbound(&doc).await.unwrap());
    let doc_job = pending_job(&doc);
    assert_eq!(doc_job.filename.as_deref(), Some("invoice.pdf"));
    let failed_at = doc_at + 30;
    let error = json!({"code": 131052, "title": "Media download error",
        "error_data": {"details": "gave up after 5 attempts"}});
    assert!(
        store
            .fail_download(&doc_job.message_id, &error, failed_at)
            .await
            .unwrap()
    );
    let msg = store
        .get_message(t, &doc_job.message_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(msg.error, Some(json!([error])));
    assert_eq!(msg.updated_at, failed_at);
    assert_eq!(
        store.get_download(t, &doc_job.media_id).await.unwrap(),
        Some(Download {
            state: download_state::FAILED.into(),
            error: Some(error.clone()),
            updated_at: failed_at,
            ..doc_job.clone()
        })
    );
    assert_eq!(store.get_media(t, &doc_job.media_id).await.unwrap(), None);
    let failed: Vec<_> = all_events(&store, t)
        .await
        .into_iter()
        .filter(|(k, _)| k == "media.failed")
        .map(|(_, d)| d)
        .collect();
    assert_eq!(
        failed,
        vec![json!({
            "message_id": doc_job.message_id,
            "channel_id": w.channel.id,
            "media_id": doc_job.media_id,
            "error": error,
        })]
    );
    // Once, and a failed job is not finished nor claimed.
    assert!(
        !store
            .fail_download(&doc_job.message_id, &error, failed_at + 1)
            .await
            .unwrap()
    );
    let late = fetched(&doc_job, failed_at + 2);
    assert!(
        !store
            .finish_download(&doc_job.message_id, &late, failed_at + 2)
            .await
            .unwrap()
    );
    assert_eq!(store.get_media(t, &doc_job.media_id).await.unwrap(), None);
    assert!(
        store
            .claim_downloads(failed_at + 10 * LEASE, LEASE, 10)
            .await
            .unwrap()
            .is_empty()
    );
    // No such job.
    assert!(
        !store
            .fail_download("msg_none", &error, failed_at)
            .await
            .unwrap()
    );
    assert!(
        !store
            .finish_download("msg_none", &late, failed_at)
            .await
            .unwrap()
    );
    // The other tenant heard nothing.
    assert!(
        all_events(&store, o)
            .await
            .iter()
            .all(|(k, _)| !k.starts_with("media."))
    );
}

pub async fn download_claims_never_share_a_job(backend: Backend) {
    let (_db, store) = open_store(backend).await;
    let a = world(&store, "acme").await;
    let b = world(&store, "other").await;
    // Jobs of two tenants, due one after the other.
    let mut jobs = Vec::new();
    for i in 0..24i64 {
        let w = if i % 2 == 0 { &a } else { &b };
        let new = with_media(
            &w.channel,
            &format!("1555000{i:04}"),
            &format!("wamid.race.{i}"),
            None,
            T + i,
        );
        assert!(store.insert_inbound(&new).await.unwrap());
        jobs.push(new.message.id.clone());
    }
    // Oldest first, across tenants.
    let head = store.claim_downloads(T + 1_000, LEASE, 2).await.unwrap();
    assert_eq!(
        head.iter()
            .map(|d| d.message_id.clone())
            .collect::<Vec<_>>(),
        jobs[..2].to_vec()
    );
    assert_ne!(head[0].tenant_id, head[1].tenant_id);

    // Rounds of two claims racing (two tasks): never the same job twice, and together every
    // unclaimed job.
    for round in 0..3i64 {
        let now = T + 1_000 + (round + 1) * LEASE;
        let (x, y) = (store.clone(), store.clone());
        let x = tokio::spawn(async move { x.claim_downloads(now, LEASE, 16).await });
        let y = tokio::spawn(async move { y.claim_downloads(now, LEASE, 16).await });
        let (x, y) = (x.await.unwrap().unwrap(), y.await.unwrap().unwrap());
        let ids: Vec<&str> = x.iter().chain(&y).map(|d| d.message_id.as_str()).collect();
        let distinct: BTreeSet<&str> = ids.iter().copied().collect();
        assert_eq!(
            distinct.len(),
            ids.len(),
            "a job claimed twice: {x:?} {y:?}"
        );
        assert_eq!(ids.len(), jobs.len(), "every lapsed claim is taken again");
        for d in x.iter().chain(&y) {
            // One claim per round, and one more for the two claimed first.
            let head = jobs[..2].contains(&d.message_id);
            assert_eq!(i64::from(d.attempts), round + 1 + i64::from(head));
        }
    }
}
