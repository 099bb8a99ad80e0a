//! Tenants, API keys, apps and channels.

use openbsp_domain::ids::{new_id_at, prefix};
use openbsp_store::*;
use openbsp_testkit::Backend;

use crate::fixtures::*;

pub async fn tenants_and_keys(backend: Backend) {
    let (_db, store) = open_store(backend).await;
    assert!(store.list_tenants().await.unwrap().is_empty());

    let acme = tenant("Acme", 1_000);
    let globex = tenant("Globex", 2_000);
    store.create_tenant(&globex).await.unwrap();
    store.create_tenant(&acme).await.unwrap();
    assert_eq!(
        store.get_tenant(&acme.id).await.unwrap(),
        Some(acme.clone())
    );
    assert_eq!(store.get_tenant("ten_nope").await.unwrap(), None);
    // Oldest first (ids sort by creation time).
    assert_eq!(
        store.list_tenants().await.unwrap(),
        vec![acme.clone(), globex.clone()]
    );
    assert!(matches!(
        store.create_tenant(&acme).await,
        Err(StoreError::Conflict(_))
    ));

    let key = |tenant_id: Option<&str>, hash: &str, at: i64| ApiKey {
        id: new_id_at(prefix::API_KEY, at),
        tenant_id: tenant_id.map(str::to_string),
        name: format!("key {hash}"),
        key_hash: hash.to_string(),
        key_prefix: "obsp_abc".to_string(),
        is_admin: tenant_id.is_none(),
        created_at: at,
        revoked_at: None,
    };
    let acme_key = key(Some(&acme.id), "h-acme", 3_000);
    let admin_key = key(None, "h-admin", 4_000);
    let mut revoked = key(Some(&acme.id), "h-revoked", 5_000);
    revoked.revoked_at = Some(6_000);
    let globex_key = key(Some(&globex.id), "h-globex", 7_000);
    for k in [&acme_key, &admin_key, &revoked, &globex_key] {
        store.create_api_key(k).await.unwrap();
    }

    assert_eq!(
        store.find_api_key("h-acme").await.unwrap(),
        Some(acme_key.clone())
    );
    assert_eq!(
        store.find_api_key("h-admin").await.unwrap(),
        Some(admin_key.clone())
    );
    assert!(
        store
            .find_api_key("h-admin")
            .await
            .unwrap()
            .unwrap()
            .is_admin
    );
    assert_eq!(
        store.find_api_key("h-revoked").await.unwrap(),
        None,
        "revoked keys are ignored"
    );
    assert_eq!(store.find_api_key("h-unknown").await.unwrap(), None);

    assert_eq!(
        store.list_api_keys(Some(&acme.id)).await.unwrap(),
        vec![acme_key.clone(), revoked.clone()]
    );
    assert_eq!(
        store.list_api_keys(None).await.unwrap(),
        vec![acme_key.clone(), admin_key, revoked, globex_key]
    );
    // The same hash twice is a conflict.
    let mut dup = key(Some(&acme.id), "h-acme", 8_000);
    dup.name = "dup".into();
    assert!(matches!(
        store.create_api_key(&dup).await,
        Err(StoreError::Conflict(_))
    ));
    // A key for a tenant that does not exist breaks a reference: a conflict on both backends.
    let orphan = key(Some("ten_nope"), "h-orphan", 9_000);
    assert!(matches!(
        store.create_api_key(&orphan).await,
        Err(StoreError::Conflict(_))
    ));
}

pub async fn apps_and_channels(backend: Backend) {
    let (_db, store) = open_store(backend).await;
    let acme = tenant("Acme", 1_000);
    let globex = tenant("Globex", 2_000);
    store.create_tenant(&acme).await.unwrap();
    store.create_tenant(&globex).await.unwrap();

    let acme_app = app(&acme.id, 3_000);
    let globex_app = app(&globex.id, 4_000);
    store.create_app(&acme_app).await.unwrap();
    store.create_app(&globex_app).await.unwrap();
    assert_eq!(
        store.get_app(&acme_app.id).await.unwrap(),
        Some(acme_app.clone())
    );
    assert_eq!(store.get_app("app_nope").await.unwrap(), None);
    assert_eq!(
        store.list_apps(Some(&acme.id)).await.unwrap(),
        vec![acme_app.clone()]
    );
    assert_eq!(
        store.list_apps(None).await.unwrap(),
        vec![acme_app.clone(), globex_app.clone()]
    );
    assert_eq!(
        store
            .find_app_by_verify_token(&globex_app.verify_token_hash)
            .await
            .unwrap(),
        Some(globex_app.clone())
    );
    assert_eq!(store.find_app_by_verify_token("nope").await.unwrap(), None);

    let ch1 = channel(&acme.id, &acme_app.id, 5_000);
    let mut ch2 = channel(&acme.id, &acme_app.id, 6_000);
    ch2.waba_id = ch1.waba_id.clone();
    let ch3 = channel(&globex.id, &globex_app.id, 7_000);
    for ch in [&ch1, &ch2, &ch3] {
        store.create_channel(ch).await.unwrap();
    }
    assert_eq!(store.get_channel(&ch1.id).await.unwrap(), Some(ch1.clone()));
    assert_eq!(store.get_channel("chn_nope").await.unwrap(), None);
    assert_eq!(
        store
            .find_channel_by_phone_number_id(&ch3.phone_number_id)
            .await
            .unwrap(),
        Some(ch3.clone())
    );
    assert_eq!(
        store.find_channel_by_phone_number_id("999").await.unwrap(),
        None
    );
    // The first channel of the WABA.
    assert_eq!(
        store.find_channel_by_waba(&ch1.waba_id).await.unwrap(),
        Some(ch1.clone())
    );
    assert_eq!(
        store.list_channels(Some(&acme.id)).await.unwrap(),
        vec![ch1.clone(), ch2.clone()]
    );
    assert_eq!(
        store.list_channels(None).await.unwrap(),
        vec![ch1.clone(), ch2.clone(), ch3.clone()]
    );
    assert_eq!(store.list_channels(Some("ten_nope")).await.unwrap(), vec![]);

    // Phone number ids are unique in the installation, across tenants.
    let mut taken = channel(&globex.id, &globex_app.id, 8_000);
    taken.phone_number_id = ch1.phone_number_id.clone();
    match store.create_channel(&taken).await {
        Err(StoreError::Conflict(what)) => assert!(!what.is_empty()),
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(store.get_channel(&taken.id).await.unwrap(), None);
    // A channel of an app that does not exist.
    let orphan = channel(&acme.id, "app_nope", 9_000);
    assert!(matches!(
        store.create_channel(&orphan).await,
        Err(StoreError::Conflict(_))
    ));

    // Updates replace the mutable fields, not the phone number id or the owner, nor the tier
    // (its portfolio's, set for all its channels at once).
    let mut changed = ch2.clone();
    changed.access_token_enc = "new-token".into();
    changed.graph_base_url = "http://127.0.0.1:8081".into();
    changed.graph_version = "v24.0".into();
    changed.throughput_mps = 1_000;
    changed.messaging_tier = Some("TIER_10K".into());
    changed.business_id = Some("4001".into());
    changed.display_phone_number = "15550000000".into();
    changed.updated_at = 10_000;
    store.update_channel(&changed).await.unwrap();
    changed.messaging_tier = ch2.messaging_tier.clone();
    assert_eq!(
        store.get_channel(&ch2.id).await.unwrap(),
        Some(changed.clone())
    );
    let mut ghost = changed.clone();
    ghost.id = "chn_ghost".into();
    assert!(matches!(
        store.update_channel(&ghost).await,
        Err(StoreError::NotFound(_))
    ));
}

/// Several gateway processes starting at once on one database: each migrates or finds the work
/// done, none fails, and they all see the same data.
pub async fn concurrent_opens_migrate_once(backend: Backend) {
    let db = openbsp_testkit::TestDb::new(backend).await;
    let opens: Vec<_> = (0..4)
        .map(|_| {
            let url = db.url.clone();
            tokio::spawn(async move { openbsp_store::open(&url).await })
        })
        .collect();
    let mut stores = Vec::new();
    for o in opens {
        stores.push(o.await.unwrap().expect("open while others open"));
    }
    let t = tenant("Acme", 1_000);
    stores[0].create_tenant(&t).await.unwrap();
    for s in &stores {
        assert_eq!(s.list_tenants().await.unwrap(), vec![t.clone()]);
    }
    // Opening again later applies nothing twice.
    let again = openbsp_store::open(&db.url).await.unwrap();
    assert_eq!(again.get_tenant(&t.id).await.unwrap(), Some(t));
}
