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
