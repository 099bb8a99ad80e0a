//! Every fuzz target on its seeds and on every input a fuzzer ever broke on
//! (`fuzz/regressions/<target>/`, one file each, kept when the bug was fixed), on the stable
//! toolchain: a fixed crash cannot come back unnoticed, and a target that no longer runs its
//! own seeds fails here before anyone fuzzes it.

use std::path::{Path, PathBuf};

use openbsp_fuzzing::harness::Harness;
use openbsp_testkit::{Backend, TestDb};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

/// The inputs kept in `fuzz/regressions/<target>/`.
fn regressions(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = fuzz_dir().join("regressions").join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut out: Vec<_> = entries
        .map(|e| e.expect("a folder entry").path())
        .filter(|p| p.is_file() && p.file_name().is_some_and(|n| n != ".gitkeep"))
        .map(|p| {
            let bytes = std::fs::read(&p).expect("a regression input reads");
            (p, bytes)
        })
        .collect();
    out.sort();
    out
}

fn run(target: &str) {
    let f = openbsp_fuzzing::target(target).expect("a target");
    let seeds = openbsp_fuzzing::seeds::seeds(target);
    assert!(!seeds.is_empty(), "{target} has no seeds");
    for seed in &seeds {
        f(seed);
    }
    for (path, input) in regressions(target) {
        eprintln!("{target}: {}", path.display());
        f(&input);
    }
}

#[test]
fn each_target_has_its_cargo_fuzz_binary_and_back() {
    let dir = fuzz_dir().join("fuzz_targets");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .expect("fuzz/fuzz_targets")
        .map(|e| e.unwrap().path())
        .filter_map(|p| Some(p.file_stem()?.to_str()?.to_string()))
        .collect();
    files.sort();
    let mut targets: Vec<String> = openbsp_fuzzing::TARGETS
        .iter()
        .map(|(n, _)| n.to_string())
        .collect();
    targets.sort();
    assert_eq!(files, targets, "fuzz/fuzz_targets/ and TARGETS differ");
    let manifest = std::fs::read_to_string(fuzz_dir().join("Cargo.toml")).unwrap();
    for t in &targets {
        assert!(
            manifest.contains(&format!("name = \"{t}\"")),
            "fuzz/Cargo.toml has no [[bin]] {t}"
        );
    }
}

#[test]
fn cloud_send() {
    run("cloud_send");
}

#[test]
fn webhook_payload() {
    run("webhook_payload");
}

/// Runs `target` (one of those through the gateway) on its seeds and regressions, on a
/// gateway of `backend`'s.
fn run_on(backend: Backend, target: &str, f: fn(&Harness, &[u8])) {
    let rt = tokio::runtime::Runtime::new().expect("a runtime");
    let db = rt.block_on(TestDb::new(backend));
    let h = Harness::new(&db.url);
    for seed in openbsp_fuzzing::seeds::seeds(target) {
        f(&h, &seed);
    }
    for (path, input) in regressions(target) {
        eprintln!("{target}: {}", path.display());
        f(&h, &input);
    }
    // The gateway (and its pool) before its database, which is dropped then.
    drop(h);
    drop(db);
}

#[test]
fn webhook_pipeline_sqlite() {
    run_on(
        Backend::Sqlite,
        "webhook_pipeline",
        openbsp_fuzzing::webhook_pipeline_on,
    );
}

#[test]
fn webhook_pipeline_postgres() {
    run_on(
        Backend::Postgres,
        "webhook_pipeline",
        openbsp_fuzzing::webhook_pipeline_on,
    );
}

#[test]
fn template_definition() {
    run("template_definition");
}

#[test]
fn phone_number() {
    run("phone_number");
}

#[test]
fn campaign_import() {
    run("campaign_import");
}

#[test]
fn surfaces_sqlite() {
    run_on(Backend::Sqlite, "surfaces", openbsp_fuzzing::surfaces_on);
}

#[test]
fn surfaces_postgres() {
    run_on(Backend::Postgres, "surfaces", openbsp_fuzzing::surfaces_on);
}
