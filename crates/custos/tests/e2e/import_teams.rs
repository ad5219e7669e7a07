//! `custos import teams`: Graph chatMessage files archived once, hosted
//! contents stored, re-imports adding nothing, a bad file importing nothing,
//! search finding it.

use crate::common::Archive;
use serde_json::Value;
use std::path::Path;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../custos-capture/tests/fixtures/teams")
            .join(name),
    )
    .unwrap()
}

#[test]
fn a_folder_of_graph_pages_is_archived_once_and_searchable() {
    let a = Archive::initialised();
    let dir = a.tmp.path().join("teams");
    std::fs::create_dir(&dir).unwrap();
    for name in ["chat-page.json", "channel-messages.json", "federated.jsonl"] {
        std::fs::write(dir.join(name), fixture(name)).unwrap();
    }
    let path = dir.to_str().unwrap();
    let args = [
        "import",
        "teams",
        path,
        "--firm-domain",
        "firm.example",
        "--firm-tenant",
        "f1f1f1f1-0000-4000-8000-00000000f1e1",
    ];
    let out = a.ok(&args);
    assert!(
        out.starts_with(&format!(
            "{path}: 8 messages read, 8 archived, 0 already in the archive"
        )),
        "{out}"
    );
    assert!(
        out.contains("1 hosted contents stored, 1 attachments are links"),
        "{out}"
    );
    let messages = a.messages();
    let answer = messages
        .iter()
        .find(|m| m["id"] == "19:2da4c29f6d7041eca70b638b43d45437@thread.v2:1718003520456")
        .unwrap();
    assert_eq!(answer["direction"], "outbound");
    assert_eq!(answer["from"], "ana.ruiz@firm.example");
    assert_eq!(answer["attachments"][0]["media_type"], "image/png");
    let log = a.log();
    let imports: Vec<&Value> = log
        .iter()
        .filter(|e| e["action"] == "teams.import")
        .collect();
    assert_eq!(imports.len(), 1);
    assert_eq!(imports[0]["details"]["skipped"]["systemEventMessage"], 1);
    assert_eq!(imports[0]["details"]["files"].as_array().unwrap().len(), 3);

    let size = a.entries();
    let out = a.ok(&args);
    assert!(
        out.starts_with(&format!(
            "{path}: 8 messages read, 0 archived, 8 already in the archive"
        )),
        "{out}"
    );
    assert_eq!(a.entries(), size + 1, "only the import event is new");

    let found: Value =
        serde_json::from_str(&a.ok(&["search", "contract", "--reason", "test", "--json"])).unwrap();
    assert_eq!(found["total"], 1, "{found}");
    assert!(a.ok(&["verify"]).starts_with("verified"));
}

#[test]
fn a_bad_file_imports_nothing_and_names_its_place() {
    let a = Archive::initialised();
    let mut text = String::from_utf8(fixture("federated.jsonl")).unwrap();
    text.push_str(
        "{\"id\":\"3\",\"chatId\":\"19:f00d@unq.gbl.spaces\",\"createdDateTime\":\"2024-13-45\"}\n",
    );
    let file = a.write("bad.jsonl", text);
    let before = a.entries();
    let err = a.fail(&["import", "teams", &file]);
    assert!(
        err.contains(&format!(
            "{file}: line 3: $.createdDateTime: \"2024-13-45\" is not an ISO 8601 date-time; nothing was imported"
        )),
        "{err}"
    );
    assert_eq!(a.entries(), before);
    assert!(a.messages().is_empty());
}
