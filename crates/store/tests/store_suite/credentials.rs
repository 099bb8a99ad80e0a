//! Changing credentials: revoking API keys (never the last live admin key), rotating an app's
//! secret (the previous one kept until its overlap ends) and replacing its verify token.

use openbsp_domain::ids::{new_id_at, prefix};
use openbsp_store::*;
use openbsp_testkit::Backend;

use crate::fixtures::*;

fn key(tenant_id: Option<&str>, hash: &str, at: i64) -> ApiKey {
    ApiKey {
        id: new_id_at(prefix::API_KEY, at),
        tenant_id: tenant_id.map(str::to_string),
        name: format!("key {hash}"),
        key_hash: hash.to_string(),
        key_prefix: "obsp_abc".to_string(),
        is_admin: tenant_id.is_none(),
        created_at: at,
        revoked_at: None,
    }
}

pub async fn keys_are_revoked_once_and_never_the_last_admin(backend: Backend) {
    let (_db, store) = open_store(backend).await;
    let acme = tenant("Acme", 1_000);
    store.create_tenant(&acme).await.unwrap();
    let tenant_key = key(Some(&acme.id), "h-tenant", 2_000);
    let admin_a = key(None, "h-admin-a", 3_000);
    let admin_b = key(None, "h-admin-b", 4_000);
    for k in [&tenant_key, &admin_a, &admin_b] {
        store.create_api_key(k).await.unwrap();
    }

    // A tenant key: revoked at the time given, found no more, listed with its time.
    let revoked = store
        .revoke_api_key(&tenant_key.id, 5_000)
        .await
        .unwrap()
        .expect("the key exists");
    assert_eq!(revoked.revoked_at, Some(5_000));
    assert_eq!(revoked.id, tenant_key.id);
    assert_eq!(store.find_api_key("h-tenant").await.unwrap(), None);
    // Again: nothing changes, the first time stays.
    let again = store
        .revoke_api_key(&tenant_key.id, 6_000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.revoked_at, Some(5_000));
    assert_eq!(
        store.list_api_keys(Some(&acme.id)).await.unwrap()[0].revoked_at,
        Some(5_000)
    );
    assert_eq!(store.revoke_api_key("key_nope", 6_000).await.unwrap(), None);

    // Admin keys: one of two may go, the last one may not.
    let a = store
        .revoke_api_key(&admin_a.id, 7_000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(a.revoked_at, Some(7_000));
    assert!(matches!(
        store.revoke_api_key(&admin_b.id, 8_000).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store.find_api_key("h-admin-b").await.unwrap(),
        Some(admin_b.clone()),
        "the refused revocation changed nothing"
    );
    // The revoked admin key can still be asked about (it keeps its time); a new admin key
    // lets the old last one go.
    let a_again = store
        .revoke_api_key(&admin_a.id, 9_000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(a_again.revoked_at, Some(7_000));
    let admin_c = key(None, "h-admin-c", 10_000);
    store.create_api_key(&admin_c).await.unwrap();
    let b = store
        .revoke_api_key(&admin_b.id, 11_000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(b.revoked_at, Some(11_000));
    let live: Vec<String> = store
        .list_api_keys(None)
        .await
        .unwrap()
        .into_iter()
        .filter(|k| k.revoked_at.is_none())
        .map(|k| k.id)
        .collect();
    assert_eq!(live, vec![admin_c.id]);
}

/// The only two live admin keys revoked at the same moment, many times over: each time exactly
/// one is revoked and the other refused, never both.
pub async fn of_concurrent_revocations_one_admin_key_survives(backend: Backend) {
    let (_db, store) = open_store(backend).await;
    let mut survivor = key(None, "h-first", 1_000);
    store.create_api_key(&survivor).await.unwrap();
    for round in 0..10_i64 {
        let fresh = key(None, &format!("h-{round}"), 2_000 + round);
        store.create_api_key(&fresh).await.unwrap();
        let revoke = |id: String| {
            let s = store.clone();
            tokio::spawn(async move { s.revoke_api_key(&id, 5_000).await })
        };
        let (ra, rb) = tokio::join!(revoke(survivor.id.clone()), revoke(fresh.id.clone()));
        let outcomes = [ra.unwrap(), rb.unwrap()];
        let revoked = outcomes.iter().filter(|r| matches!(r, Ok(Some(_)))).count();
        let refused = outcomes
            .iter()
            .filter(|r| matches!(r, Err(StoreError::Conflict(_))))
            .count();
        assert_eq!((revoked, refused), (1, 1), "round {round}: {outcomes:?}");
        let live: Vec<ApiKey> = store
            .list_api_keys(None)
            .await
            .unwrap()
            .into_iter()
            .filter(|k| k.is_admin && k.revoked_at.is_none())
            .collect();
        assert_eq!(live.len(), 1, "round {round}");
        survivor = live.into_iter().next().unwrap();
    }
}

pub async fn app_secrets_rotate_and_verify_tokens_change(backend: Backend) {
    let (_db, store) = open_store(backend).await;
    let acme = tenant("Acme", 1_000);
    store.create_tenant(&acme).await.unwrap();
    let first = app(&acme.id, 2_000);
    let other = app(&acme.id, 3_000);
    store.create_app(&first).await.unwrap();
    store.create_app(&other).await.unwrap();
    assert_eq!(
        store.get_app(&first.id).await.unwrap().unwrap(),
        first,
        "a new app has no previous secret"
    );

    // The current secret becomes the previous one, until the time given.
    let rotated = store
        .rotate_app_secret(&first.id, "secret-2", Some(50_000))
        .await
        .unwrap()
        .expect("the app exists");
    assert_eq!(rotated.app_secret_enc, "secret-2");
    assert_eq!(
        rotated.previous_secret_enc.as_deref(),
        Some(first.app_secret_enc.as_str())
    );
    assert_eq!(rotated.previous_secret_expires_at, Some(50_000));
    assert_eq!(
        store.get_app(&first.id).await.unwrap(),
        Some(rotated.clone())
    );
    // Again: the secret it replaces is the one kept, the oldest is dropped.
    let again = store
        .rotate_app_secret(&first.id, "secret-3", Some(60_000))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            again.app_secret_enc.as_str(),
            again.previous_secret_enc.as_deref(),
            again.previous_secret_expires_at
        ),
        ("secret-3", Some("secret-2"), Some(60_000))
    );
    // No overlap: nothing kept.
    let at_once = store
        .rotate_app_secret(&first.id, "secret-4", None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            at_once.app_secret_enc.as_str(),
            at_once.previous_secret_enc.as_deref(),
            at_once.previous_secret_expires_at
        ),
        ("secret-4", None, None)
    );
    assert_eq!(
        store
            .rotate_app_secret("app_nope", "x", Some(1))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store.get_app(&other.id).await.unwrap(),
        Some(other.clone()),
        "another app is untouched"
    );

    // A new verify token: the handshake finds the app by it, not by the old one; the secrets
    // stay as they are.
    let mut changed = at_once.clone();
    changed.name = "renamed".into();
    changed.meta_app_id = None;
    changed.verify_token_enc = "verify-enc-new".into();
    changed.verify_token_hash = "verify-hash-new".into();
    changed.app_secret_enc = "not written by an update".into();
    store.update_app(&changed).await.unwrap();
    let stored = store.get_app(&first.id).await.unwrap().unwrap();
    assert_eq!(
        stored,
        App {
            app_secret_enc: "secret-4".into(),
            ..changed.clone()
        }
    );
    assert_eq!(
        store
            .find_app_by_verify_token("verify-hash-new")
            .await
            .unwrap()
            .map(|a| a.id),
        Some(first.id.clone())
    );
    assert_eq!(
        store
            .find_app_by_verify_token(&first.verify_token_hash)
            .await
            .unwrap(),
        None
    );
    let mut ghost = changed;
    ghost.id = "app_ghost".into();
    assert!(matches!(
        store.update_app(&ghost).await,
        Err(StoreError::NotFound(_))
    ));
}
