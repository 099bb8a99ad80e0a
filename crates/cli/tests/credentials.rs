//! `openbsp apikey list|revoke` and `openbsp app list|update|rotate-secret`, run as the
//! operator runs them, against the database: what they print and what they store. On both
//! backends. (That a running gateway honours a revocation at once is the server's admin
//! tests', which also run the CLI's revocation with its notice.)

mod common;

use std::process::Command;

use common::*;
use openbsp_domain::crypto::{MasterKey, hash_secret};
use openbsp_testkit::{Backend, TestDb, on_both_backends};
use serde_json::Value;

on_both_backends! {
    keys_are_listed_and_revoked_from_the_cli => crate::keys_are_listed_and_revoked_from_the_cli,
    app_credentials_change_from_the_cli => crate::app_credentials_change_from_the_cli,
}

/// Runs `openbsp ARGS` on `db`, expecting it to fail: its standard error.
fn cli_fails(db: &TestDb, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_openbsp"))
        .args(args)
        .args(["--database-url", &db.url])
        .args(["--data-dir", &db.path().display().to_string()])
        .env("OPENBSP_MASTER_KEY", MASTER_KEY)
        .output()
        .expect("run openbsp");
    assert!(!out.status.success(), "openbsp {args:?} succeeded");
    String::from_utf8_lossy(&out.stderr).to_string()
}

fn id(v: &Value) -> &str {
    v["id"].as_str().unwrap()
}

async fn keys_are_listed_and_revoked_from_the_cli(b: Backend) {
    let db = TestDb::new(b).await;
    let cli = Db(&db);
    let tenant = cli.cli(&["tenant", "create", "--name", "acme"]);
    let admin = cli.cli(&["apikey", "create", "--admin", "--name", "ops"]);
    let key = cli.cli(&["apikey", "create", "--tenant", id(&tenant), "--name", "ci"]);
    let secret = key["key"].as_str().unwrap().to_string();

    let listed = cli.cli(&["apikey", "list"]);
    assert_eq!(listed.as_array().unwrap().len(), 2, "{listed}");
    assert!(!listed.to_string().contains(&secret), "keys are shown once");
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .all(|k| k["revoked_at"].is_null())
    );

    let revoked = cli.cli(&["apikey", "revoke", id(&key)]);
    assert_eq!(revoked["id"], key["id"]);
    assert!(revoked["revoked_at"].is_string(), "{revoked}");
    assert!(revoked.get("key").is_none());
    // Again: the first time stays.
    let again = cli.cli(&["apikey", "revoke", id(&key)]);
    assert_eq!(again["revoked_at"], revoked["revoked_at"]);
    let theirs = cli.cli(&["apikey", "list", "--tenant", id(&tenant)]);
    assert_eq!(theirs.as_array().unwrap().len(), 1);
    assert_eq!(theirs[0]["revoked_at"], revoked["revoked_at"]);
    // The key no longer authenticates.
    let store = openbsp_store::open(&db.url).await.unwrap();
    assert_eq!(
        store.find_api_key(&hash_secret(&secret)).await.unwrap(),
        None
    );

    let last = cli_fails(&db, &["apikey", "revoke", id(&admin)]);
    assert!(last.contains("last live admin key"), "{last}");
    assert!(
        store
            .find_api_key(&hash_secret(admin["key"].as_str().unwrap()))
            .await
            .unwrap()
            .is_some()
    );
    let unknown = cli_fails(&db, &["apikey", "revoke", "key_nope"]);
    assert!(unknown.contains("not found"), "{unknown}");
}

async fn app_credentials_change_from_the_cli(b: Backend) {
    let db = TestDb::new(b).await;
    let cli = Db(&db);
    let master = MasterKey::parse(MASTER_KEY).unwrap();
    let tenant = cli.cli(&["tenant", "create", "--name", "acme"]);
    let app = cli.cli(&[
        "app",
        "add",
        "--tenant",
        id(&tenant),
        "--app-secret",
        "first-secret",
        "--verify-token",
        "first-token",
    ]);
    assert_eq!(app["previous_secret_expires_at"], Value::Null);
    let store = openbsp_store::open(&db.url).await.unwrap();

    let rotated = cli.cli(&[
        "app",
        "rotate-secret",
        id(&app),
        "--app-secret",
        "second-secret",
        "--overlap-seconds",
        "600",
    ]);
    assert!(
        rotated["previous_secret_expires_at"].is_string(),
        "{rotated}"
    );
    assert!(!rotated.to_string().contains("secret\""), "{rotated}");
    let stored = store.get_app(id(&app)).await.unwrap().unwrap();
    assert_eq!(
        master.decrypt(&stored.app_secret_enc).unwrap(),
        "second-secret"
    );
    let previous = stored.previous_secret_enc.as_deref().unwrap();
    assert_eq!(master.decrypt(previous).unwrap(), "first-secret");

    let updated = cli.cli(&["app", "update", id(&app), "--verify-token", "second-token"]);
    assert_eq!(updated["id"], app["id"]);
    let stored = store.get_app(id(&app)).await.unwrap().unwrap();
    assert_eq!(stored.verify_token_hash, hash_secret("second-token"));
    assert_eq!(
        master.decrypt(&stored.verify_token_enc).unwrap(),
        "second-token"
    );
    assert_eq!(
        master.decrypt(&stored.app_secret_enc).unwrap(),
        "second-secret"
    );
    let nothing = cli_fails(&db, &["app", "update", id(&app)]);
    assert!(nothing.contains("nothing to change"), "{nothing}");

    let at_once = cli.cli(&[
        "app",
        "rotate-secret",
        id(&app),
        "--app-secret",
        "third-secret",
        "--overlap-seconds",
        "0",
    ]);
    assert_eq!(at_once["previous_secret_expires_at"], Value::Null);
    let stored = store.get_app(id(&app)).await.unwrap().unwrap();
    assert_eq!(stored.previous_secret_enc, None);
    let too_long = cli_fails(
        &db,
        &[
            "app",
            "rotate-secret",
            id(&app),
            "--app-secret",
            "x",
            "--overlap-seconds",
            "604801",
        ],
    );
    assert!(too_long.contains("overlap_seconds"), "{too_long}");

    let listed = cli.cli(&["app", "list"]);
    assert_eq!(listed.as_array().unwrap().len(), 1);
    let shown = listed.to_string();
    assert!(
        !shown.contains("-secret") && !shown.contains("-token"),
        "{shown}"
    );
}
