//! The JSON Schemas in `schemas/` are generated from the Rust types and must not drift.
//! `OMK_UPDATE_FIXTURES=1 cargo test --test it schemas::` rewrites them.

use std::fs;
use std::path::Path;

use omk::schema::{all_schemas, render};

#[test]
fn checked_in_schemas_match_the_types() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas");
    let updating = std::env::var_os("OMK_UPDATE_FIXTURES").is_some();
    let mut expected_files = Vec::new();
    for (relative, schema) in all_schemas() {
        let path = root.join(&relative);
        let text = render(&schema);
        expected_files.push(relative.clone());
        if updating {
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(&path, text).unwrap();
            continue;
        }
        let stored = fs::read_to_string(&path).unwrap_or_default();
        assert_eq!(
            stored, text,
            "schemas/{relative} is stale: run OMK_UPDATE_FIXTURES=1 cargo test --test it schemas::"
        );
    }
    // No schema file may outlive its type.
    let mut stored_files = Vec::new();
    for dir in [root.clone(), root.join("events")] {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() {
                stored_files.push(
                    path.strip_prefix(&root)
                        .unwrap()
                        .to_string_lossy()
                        .into_owned(),
                );
            }
        }
    }
    stored_files.sort();
    expected_files.sort();
    assert_eq!(stored_files, expected_files);
}

#[test]
fn every_known_event_kind_has_a_payload_schema() {
    let names: Vec<String> = all_schemas().into_iter().map(|(name, _)| name).collect();
    for kind in omk::event::KNOWN_KINDS {
        assert!(
            names.contains(&format!("events/{kind}.schema.json")),
            "no schema for {kind}"
        );
    }
}

/// The validator the other tests use must be able to say no: a draft 2020-12 schema it did not
/// understand would pass every document.
#[test]
fn the_schema_validator_refuses_what_a_schema_forbids() {
    let line = serde_json::json!({
        "v": 1, "seq": 0, "ts": "2026-11-24T14:00:00.000000Z", "id": "ev-1",
        "kind": "run_started", "batch": [0, 1], "data": {},
        "prev": "0".repeat(64), "hash": "0".repeat(64)
    });
    assert_eq!(
        crate::common::schema_errors("event-line.schema.json", &line),
        None
    );
    for (field, bad) in [
        ("seq", serde_json::json!(-1)),
        ("batch", serde_json::json!("0,1")),
        ("hash", serde_json::json!(null)),
    ] {
        let mut broken = line.clone();
        broken[field] = bad;
        assert!(
            crate::common::schema_errors("event-line.schema.json", &broken).is_some(),
            "{field}"
        );
    }
    let mut missing = line.clone();
    missing.as_object_mut().unwrap().remove("prev");
    let errors = crate::common::schema_errors("event-line.schema.json", &missing).unwrap();
    assert!(errors.contains("prev"), "{errors}");
}
