//! The server's shape, checked on its source (`docs/architecture.md`): the core knows nothing
//! of HTTP, surfaces never import each other, each surface maps the core's error in one place
//! and reads JSON bodies through one reader, and no native route is served without its
//! description.

use std::path::{Path, PathBuf};

fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            out.extend(sources(&p));
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
    out
}

fn src(area: &str) -> Vec<(PathBuf, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src").join(area);
    let files = if dir.is_dir() {
        sources(&dir)
    } else {
        vec![dir.with_extension("rs")]
    };
    files
        .into_iter()
        .map(|p| {
            let code = std::fs::read_to_string(&p).unwrap();
            // Only code: doc and line comments may name what the code must not use.
            let code = code
                .lines()
                .filter(|l| !l.trim_start().starts_with("//"))
                .collect::<Vec<_>>()
                .join("\n");
            (p, code)
        })
        .collect()
}

fn offenders(area: &str, forbidden: &[&str]) -> Vec<String> {
    src(area)
        .into_iter()
        .flat_map(|(p, code)| {
            forbidden
                .iter()
                .filter(|f| code.contains(**f))
                .map(|f| format!("{} uses {f}", p.display()))
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn the_core_knows_nothing_of_http_or_the_surfaces() {
    let bad = offenders(
        "core",
        &[
            "axum",
            "crate::http",
            "crate::native",
            "crate::cloud_api",
            "crate::views",
            "StatusCode",
        ],
    );
    assert!(bad.is_empty(), "{bad:#?}");
}

#[test]
fn surfaces_never_import_each_other() {
    let mut bad = offenders("native", &["crate::cloud_api", "crate::meta::receiver"]);
    bad.extend(offenders(
        "cloud_api",
        &["crate::native", "crate::meta::receiver"],
    ));
    bad.extend(offenders(
        "http",
        &["crate::native", "crate::cloud_api", "crate::vendors"],
    ));
    for surface in ["native", "cloud_api"] {
        bad.extend(offenders(surface, &["crate::vendors"]));
    }
    // Each vendor is a surface of its own: none imports another, nor native or cloud_api.
    let vendors = ["talqui", "pingtochat", "chakra", "connectly"];
    for v in vendors {
        let mut forbidden = vec![
            "crate::native".to_string(),
            "crate::cloud_api".to_string(),
            "crate::meta::receiver".to_string(),
        ];
        forbidden.extend(
            vendors
                .iter()
                .filter(|o| **o != v)
                .flat_map(|o| [format!("vendors::{o}"), format!("super::{o}")]),
        );
        let forbidden: Vec<&str> = forbidden.iter().map(String::as_str).collect();
        bad.extend(offenders(&format!("vendors/{v}"), &forbidden));
    }
    assert!(bad.is_empty(), "{bad:#?}");
}

#[test]
fn each_surface_maps_the_core_error_in_one_place() {
    for (surface, target) in [
        ("native", "ApiError"),
        ("cloud_api", "GraphError"),
        ("vendors/pingtochat", "PingtochatError"),
        ("vendors/talqui", "TalquiError"),
        ("vendors/chakra", "ChakraError"),
        ("vendors/connectly", "ConnectlyError"),
    ] {
        let mappings: Vec<PathBuf> = src(surface)
            .into_iter()
            .filter(|(_, code)| code.contains(&format!("impl From<CoreError> for {target}")))
            .map(|(p, _)| p)
            .collect();
        assert_eq!(mappings.len(), 1, "{surface}: {mappings:?}");
        // Nowhere else does the surface pick the core error apart.
        let elsewhere: Vec<String> = src(surface)
            .into_iter()
            .filter(|(p, _)| !p.ends_with("error.rs"))
            .filter(|(_, code)| code.matches("CoreError::").count() > 1)
            .map(|(p, _)| p.display().to_string())
            .collect();
        assert!(elsewhere.is_empty(), "{surface}: {elsewhere:?}");
    }
}

/// Every native route is registered with its description (`routes!` on an `OpenApiRouter`,
/// from the handler's `#[utoipa::path]`): a plain axum route, nest or fallback would serve a
/// route that `/openapi.json` does not describe (`tests/openapi.rs` checks the other way).
#[test]
fn no_native_route_bypasses_its_description() {
    let bad = offenders(
        "native",
        &[
            ".route(",
            ".route_service(",
            ".nest(",
            ".nest_service(",
            ".fallback(",
            "axum::routing",
            "axum::Router",
        ],
    );
    assert!(bad.is_empty(), "{bad:#?}");
    // And the check sees what it looks for: the handlers are registered with `routes!`.
    let registered = src("native")
        .iter()
        .filter(|(_, code)| code.contains(".routes(routes!("))
        .count();
    assert!(registered >= 9, "{registered} native files register routes");
}

/// Every surface reads a JSON request body through `openbsp_wire::json::read` (natively
/// `http::body::json_body`), where NUL in a string is refused once for all: a surface that
/// parsed its body itself (`serde_json::from_slice`, axum's `Json` extractor) would let NUL
/// through to PostgreSQL, which refuses it with a 500 (SQLite stores it).
#[test]
fn request_bodies_are_read_through_one_reader() {
    let mut bad = Vec::new();
    for surface in ["native", "cloud_api", "vendors", "http"] {
        bad.extend(offenders(
            surface,
            &["serde_json::from_slice", "from_slice::<", ": Json<"],
        ));
    }
    assert!(bad.is_empty(), "{bad:#?}");
}
