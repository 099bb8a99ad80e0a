//! The SQLite writer outlives what its requests do (SQLite only: PostgreSQL has no writer of
//! its own). A request that panics fails alone, its partial writes rolled back, and the writes
//! after it go through; a writer held up is told by the ping, which reads alone would not.

use std::time::{Duration, Instant};

use openbsp_store::sqlite::SqliteStore;
use openbsp_store::*;
use openbsp_testkit::{Backend, TestDb};

use crate::fixtures::tenant;

async fn open() -> (TestDb, SqliteStore) {
    let db = TestDb::new(Backend::Sqlite).await;
    let path = db.path().join("openbsp.db");
    let store = SqliteStore::open(path.to_str().unwrap())
        .await
        .expect("open store");
    (db, store)
}

/// A write that panics: its caller gets an error, what it wrote before panicking is not kept,
/// a write beside it in the same batch is, and every write after it goes through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_write_fails_alone_and_the_writer_goes_on() {
    let (_db, store) = open().await;

    let alone = store
        .write_for_tests(|_| -> StoreResult<()> { panic!("injected: a bug in a write") })
        .await;
    let err = alone.expect_err("a panicking write answers an error");
    assert!(err.to_string().contains("panicked"), "{err}");

    // The next write goes through.
    let acme = tenant("Acme", 1_000);
    store
        .create_tenant(&acme)
        .await
        .expect("the writer goes on");
    assert_eq!(store.get_tenant(&acme.id).await.unwrap(), Some(acme));

    // Side by side: one writes, then panics; the other only writes. (Sent at once, they share
    // a batch whenever the writer is busy with the first when the second arrives; either way
    // the outcome is the same.)
    let broken = tenant("Broken", 2_000);
    let globex = tenant("Globex", 3_000);
    let broken_id = broken.id.clone();
    let (panicked, fine) = tokio::join!(
        store.write_for_tests(move |c| -> StoreResult<()> {
            c.execute(
                "INSERT INTO tenants (id, name, created_at) VALUES (?1, ?2, ?3)",
                (&broken.id, &broken.name, broken.created_at),
            )?;
            panic!("injected: after writing")
        }),
        store.create_tenant(&globex),
    );
    assert!(panicked.is_err());
    fine.expect("the neighbour of a panicking write is committed");
    assert_eq!(store.get_tenant(&broken_id).await.unwrap(), None);
    assert_eq!(store.get_tenant(&globex.id).await.unwrap(), Some(globex));

    // Many panics in a row do not wear it out.
    for _ in 0..20 {
        let r = store
            .write_for_tests(|_| -> StoreResult<()> { panic!("injected: again") })
            .await;
        assert!(r.is_err());
    }
    let initech = tenant("Initech", 4_000);
    store.create_tenant(&initech).await.unwrap();
    assert_eq!(store.list_tenants().await.unwrap().len(), 3);
    store.ping().await.expect("the writer answers");
}

/// A writer held up by a write that does not end: the ping says so (a readiness probe then
/// answers 503), and answers again once the writer is free.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ping_tells_a_writer_that_does_not_answer() {
    let (_db, store) = open().await;
    store.ping().await.expect("an idle writer answers");
    let store = std::sync::Arc::new(store);
    let held = {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .write_for_tests(|_| -> StoreResult<()> {
                    std::thread::sleep(Duration::from_secs(4));
                    Ok(())
                })
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let asked = Instant::now();
    let err = store
        .ping()
        .await
        .expect_err("a held writer does not answer");
    assert!(err.to_string().contains("writer"), "{err}");
    assert!(
        asked.elapsed() < Duration::from_secs(3),
        "the ping waits a moment only"
    );
    held.await.unwrap().unwrap();
    store.ping().await.expect("the writer answers again");
}
