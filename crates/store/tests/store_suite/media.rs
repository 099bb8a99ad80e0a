//! Media: metadata kept per tenant, bytes shared by sha256 (deleting one media says whether its
//! object is still used), retention by last use, and Meta's copies per channel.

use openbsp_domain::ids::{new_id_at, prefix};
use openbsp_store::*;
use openbsp_testkit::Backend;

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
