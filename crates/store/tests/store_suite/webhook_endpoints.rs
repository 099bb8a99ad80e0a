//! Tenants' webhook endpoints: creating, reading, paging, updating and deleting them within
//! their tenant, and the enabled ones of every tenant a dispatcher loads.

use std::sync::Arc;

use openbsp_domain::ids::{new_id_at, prefix};
use openbsp_store::*;
use openbsp_testkit::Backend;

use crate::fixtures::*;

/// An enabled endpoint of `tenant_id`, subscribed to messages, created at `at`.
pub fn endpoint(tenant_id: &str, at: i64) -> WebhookEndpoint {
    let n = unique();
    WebhookEndpoint {
        id: new_id_at(prefix::WEBHOOK_ENDPOINT, at),
        tenant_id: tenant_id.to_string(),
        url: format!("https://hooks.example.com/{n}"),
        description: None,
        events: vec!["message.*".to_string()],
        format: "native".to_string(),
        enabled: true,
        disabled_reason: None,
        secret_enc: format!("secret-enc-{n}"),
        previous_secret_enc: None,
        previous_secret_expires_at: None,
        failing_since: None,
        cursor: None,
        created_at: at,
        updated_at: at,
        options: Some(serde_json::json!({ "connectly": { "topic": "messages", "n": n } })),
    }
}

async fn create(store: &Arc<dyn Store>, e: &WebhookEndpoint) -> WebhookEndpoint {
    store
        .create_webhook_endpoint(e)
        .await
        .expect("create webhook endpoint")
}

async fn get(store: &Arc<dyn Store>, tenant_id: &str, id: &str) -> Option<WebhookEndpoint> {
    store
        .get_webhook_endpoint(tenant_id, id)
        .await
        .expect("get webhook endpoint")
}

async fn page(
    store: &Arc<dyn Store>,
    tenant_id: &str,
    limit: u32,
    after: Option<&str>,
) -> Vec<String> {
    let page = Page {
        limit,
        after: after.map(str::to_string),
    };
    store
        .list_webhook_endpoints(tenant_id, &page)
        .await
        .expect("list webhook endpoints")
        .into_iter()
        .map(|e| e.id)
        .collect()
}

pub async fn webhook_endpoints_create_get_and_isolate(backend: Backend) {
    let (_db, store) = open_store(backend).await;
    let acme = world(&store, "Acme").await;
    let globex = world(&store, "Globex").await;
    let e = WebhookEndpoint {
        description: Some("CRM".to_string()),
        events: vec!["session.opened".to_string(), "*".to_string()],
        format: "meta".to_string(),
        previous_secret_enc: Some("old-secret-enc".to_string()),
        previous_secret_expires_at: Some(90_000),
        failing_since: Some(5_000),
        ..endpoint(&acme.tenant.id, 10_000)
    };

    assert_eq!(create(&store, &e).await, e);
    assert_eq!(get(&store, &acme.tenant.id, &e.id).await, Some(e.clone()));
    assert_eq!(get(&store, &globex.tenant.id, &e.id).await, None);
    assert_eq!(get(&store, &acme.tenant.id, "whe_unknown").await, None);
    assert!(page(&store, &globex.tenant.id, 10, None).await.is_empty());

    // The caller chose the id: taken, it is a conflict and the stored endpoint stays.
    let again = WebhookEndpoint {
        id: e.id.clone(),
        url: "https://elsewhere.example.com/".to_string(),
        ..endpoint(&globex.tenant.id, 11_000)
    };
    let err = store.create_webhook_endpoint(&again).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert_eq!(get(&store, &acme.tenant.id, &e.id).await, Some(e.clone()));
    assert_eq!(get(&store, &globex.tenant.id, &e.id).await, None);
}

pub async fn webhook_endpoints_list_by_id_with_a_cursor(backend: Backend) {
    let (_db, store) = open_store(backend).await;
    let acme = world(&store, "Acme").await;
    let globex = world(&store, "Globex").await;
    let made: Vec<WebhookEndpoint> = (0..3)
        .map(|i| endpoint(&acme.tenant.id, 10_000 + i))
        .collect();
    // Stored newest first: the list orders by id, not by insertion.
    for e in made.iter().rev() {
        create(&store, e).await;
    }
    let mut ids: Vec<String> = made.iter().map(|e| e.id.clone()).collect();
    // Another tenant's endpoint: never listed for Acme.
    create(&store, &endpoint(&globex.tenant.id, 10_001)).await;
    // Disabled ones are listed too.
    let off = WebhookEndpoint {
        enabled: false,
        disabled_reason: Some("paused".to_string()),
        ..endpoint(&acme.tenant.id, 10_003)
    };
    create(&store, &off).await;
    ids.push(off.id.clone());

    let first = page(&store, &acme.tenant.id, 2, None).await;
    assert_eq!(first, ids[..2]);
    let second = page(&store, &acme.tenant.id, 2, Some(&first[1])).await;
    assert_eq!(second, ids[2..4]);
    assert!(
        page(&store, &acme.tenant.id, 2, Some(&second[1]))
            .await
            .is_empty()
    );
    assert_eq!(page(&store, &acme.tenant.id, 10, None).await, ids);
    assert_eq!(
        page(&store, &acme.tenant.id, 10, Some(&ids[0])).await,
        ids[1..]
    );
    assert_eq!(page(&store, &globex.tenant.id, 10, None).await.len(), 1);

    let listed = store
        .list_webhook_endpoints(
            &acme.tenant.id,
            &Page {
                limit: 10,
                after: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(listed[0], made[0]);
    assert_eq!(listed[3], off);
}

pub async fn webhook_endpoints_update_replaces_every_field(backend: Backend) {
    let (_db, store) = open_store(backend).await;
    let acme = world(&store, "Acme").await;
    let globex = world(&store, "Globex").await;
    let e = create(&store, &endpoint(&acme.tenant.id, 10_000)).await;
    let other = create(&store, &endpoint(&acme.tenant.id, 10_001)).await;

    let changed = WebhookEndpoint {
        id: e.id.clone(),
        tenant_id: e.tenant_id.clone(),
        url: "https://new.example.com/hook".to_string(),
        description: Some("Support desk".to_string()),
        // Kept in the tenant's order, not sorted.
        events: vec![
            "session.opened".to_string(),
            "message.*".to_string(),
            "contact.updated".to_string(),
        ],
        format: "meta".to_string(),
        enabled: false,
        disabled_reason: Some("failing for 3 days".to_string()),
        secret_enc: "new-secret-enc".to_string(),
        previous_secret_enc: Some(e.secret_enc.clone()),
        previous_secret_expires_at: Some(86_420_000),
        failing_since: Some(15_000),
        cursor: None,
        created_at: e.created_at,
        updated_at: 20_000,
        // Changed as a whole, and read back as written.
        options: Some(serde_json::json!({"verify_token_enc": "enc", "connectly": {"topic": "x"}})),
    };
    let updated = store.update_webhook_endpoint(&changed).await.unwrap();
    assert_eq!(updated, Some(changed.clone()));
    assert_eq!(
        get(&store, &acme.tenant.id, &e.id).await,
        Some(changed.clone())
    );
    assert_eq!(get(&store, &acme.tenant.id, &other.id).await, Some(other));

    // Back: optional fields cleared, enabled again; created_at is not the caller's to change.
    let back = WebhookEndpoint {
        description: None,
        events: vec!["*".to_string()],
        enabled: true,
        disabled_reason: None,
        previous_secret_enc: None,
        previous_secret_expires_at: None,
        failing_since: None,
        updated_at: 30_000,
        ..changed.clone()
    };
    let attempt = WebhookEndpoint {
        created_at: 1,
        ..back.clone()
    };
    assert_eq!(
        store.update_webhook_endpoint(&attempt).await.unwrap(),
        Some(back.clone())
    );
    assert_eq!(
        get(&store, &acme.tenant.id, &e.id).await,
        Some(back.clone())
    );

    // Another tenant's id, or an unknown one: nothing changes.
    let theirs = WebhookEndpoint {
        tenant_id: globex.tenant.id.clone(),
        url: "https://evil.example.com/".to_string(),
        updated_at: 40_000,
        ..back.clone()
    };
    assert_eq!(store.update_webhook_endpoint(&theirs).await.unwrap(), None);
    let unknown = WebhookEndpoint {
        id: new_id_at(prefix::WEBHOOK_ENDPOINT, 40_000),
        ..back.clone()
    };
    assert_eq!(store.update_webhook_endpoint(&unknown).await.unwrap(), None);
    assert_eq!(get(&store, &acme.tenant.id, &e.id).await, Some(back));
    assert_eq!(get(&store, &globex.tenant.id, &e.id).await, None);
    assert_eq!(get(&store, &acme.tenant.id, &unknown.id).await, None);
}

pub async fn webhook_endpoints_enabled_across_tenants(backend: Backend) {
    let (_db, store) = open_store(backend).await;
    let acme = world(&store, "Acme").await;
    let globex = world(&store, "Globex").await;
    assert!(store.enabled_webhook_endpoints().await.unwrap().is_empty());

    let a1 = create(&store, &endpoint(&acme.tenant.id, 10_000)).await;
    let g1 = create(&store, &endpoint(&globex.tenant.id, 10_001)).await;
    let off = WebhookEndpoint {
        enabled: false,
        disabled_reason: Some("disabled by the tenant".to_string()),
        ..endpoint(&acme.tenant.id, 10_002)
    };
    create(&store, &off).await;
    let a2 = create(&store, &endpoint(&acme.tenant.id, 10_003)).await;
    let g2 = create(&store, &endpoint(&globex.tenant.id, 10_004)).await;

    let enabled = store.enabled_webhook_endpoints().await.unwrap();
    assert_eq!(
        enabled,
        vec![a1.clone(), g1.clone(), a2.clone(), g2.clone()]
    );

    // Disabling one drops it; enabling the other brings it in, in id order.
    let g1_off = WebhookEndpoint {
        enabled: false,
        disabled_reason: Some("failing".to_string()),
        updated_at: 20_000,
        ..g1
    };
    store.update_webhook_endpoint(&g1_off).await.unwrap();
    let on = WebhookEndpoint {
        enabled: true,
        disabled_reason: None,
        updated_at: 20_000,
        ..off
    };
    store.update_webhook_endpoint(&on).await.unwrap();
    let enabled = store.enabled_webhook_endpoints().await.unwrap();
    assert_eq!(enabled, vec![a1, on, a2, g2]);
}

pub async fn webhook_endpoints_delete_within_the_tenant(backend: Backend) {
    let (_db, store) = open_store(backend).await;
    let acme = world(&store, "Acme").await;
    let globex = world(&store, "Globex").await;
    let e = create(&store, &endpoint(&acme.tenant.id, 10_000)).await;
    let kept = create(&store, &endpoint(&acme.tenant.id, 10_001)).await;

    // Another tenant cannot delete it.
    assert!(
        !store
            .delete_webhook_endpoint(&globex.tenant.id, &e.id)
            .await
            .unwrap()
    );
    assert_eq!(get(&store, &acme.tenant.id, &e.id).await, Some(e.clone()));

    assert!(
        store
            .delete_webhook_endpoint(&acme.tenant.id, &e.id)
            .await
            .unwrap()
    );
    assert!(
        !store
            .delete_webhook_endpoint(&acme.tenant.id, &e.id)
            .await
            .unwrap()
    );
    assert_eq!(get(&store, &acme.tenant.id, &e.id).await, None);
    assert_eq!(
        page(&store, &acme.tenant.id, 10, None).await,
        vec![kept.id.clone()]
    );
    assert_eq!(store.enabled_webhook_endpoints().await.unwrap(), vec![kept]);
}
