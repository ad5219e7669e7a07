//! `custos import slack`: a workspace export zip archived once, re-imports
//! adding nothing, a bad day file importing nothing, search finding it.

use crate::common::Archive;
use serde_json::Value;
use std::io::Write;
use std::path::Path;

/// The fixture export of custos-capture as a zip, with `change` applied to
/// its files first.
fn export_zip(change: impl FnOnce(&mut Vec<(String, Vec<u8>)>)) -> Vec<u8> {
    let root =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../custos-capture/tests/fixtures/slack/export");
    let mut files = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let name = path
                    .strip_prefix(&root)
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .replace('\\', "/");
                files.push((name, std::fs::read(&path).unwrap()));
            }
        }
    }
    files.sort();
    change(&mut files);
    let mut out = std::io::Cursor::new(Vec::new());
    {
        let mut zip = zip::ZipWriter::new(&mut out);
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for (name, bytes) in &files {
            zip.start_file(format!("Firm Slack export/{name}"), options)
                .unwrap();
            zip.write_all(bytes).unwrap();
        }
        zip.finish().unwrap();
    }
    out.into_inner()
}

#[test]
fn a_slack_export_is_archived_once_and_searchable() {
    let a = Archive::initialised();
    let file = a.write("slack-export.zip", export_zip(|_| {}));
    let out = a.ok(&["import", "slack", &file, "--firm-domain", "firm.example"]);
    assert!(
        out.starts_with(&format!(
            "{file}: 8 messages read, 8 archived, 0 already in the archive"
        )),
        "{out}"
    );
    let messages = a.messages();
    assert_eq!(messages.len(), 8);
    let guest = messages
        .iter()
        .find(|m| m["id"] == "G01DEALS:1718010000.000100")
        .unwrap();
    assert_eq!(guest["from"], "carla@client.example");
    assert_eq!(guest["direction"], "inbound");
    assert_eq!(guest["conversation"], "slack:G01DEALS");
    let log = a.log();
    let kinds = |k: &str| log.iter().filter(|e| e["kind"] == k).count();
    assert_eq!(kinds("edit"), 2);
    assert_eq!(kinds("deletion"), 1);
    assert_eq!(kinds("reaction"), 2);
    let imports: Vec<&Value> = log
        .iter()
        .filter(|e| e["action"] == "slack.import")
        .collect();
    assert_eq!(imports.len(), 1);
    assert_eq!(imports[0]["actor"], "tester");
    assert_eq!(imports[0]["details"]["file"], "slack-export.zip");
    assert_eq!(imports[0]["details"]["archived"], 8);
    assert_eq!(imports[0]["details"]["skipped"]["channel_join"], 1);

    // The same export again adds no message, edit or reaction.
    let size = a.entries();
    let out = a.ok(&["import", "slack", &file]);
    assert!(
        out.starts_with(&format!(
            "{file}: 8 messages read, 0 archived, 8 already in the archive"
        )),
        "{out}"
    );
    assert_eq!(a.entries(), size + 1, "only the import event is new");

    // Search finds an imported message.
    let found: Value =
        serde_json::from_str(&a.ok(&["search", "shares", "--reason", "test", "--json"])).unwrap();
    assert_eq!(found["total"], 1, "{found}");
    assert!(a.ok(&["verify"]).starts_with("verified"));
}

#[test]
fn a_bad_day_file_imports_nothing_and_names_its_place() {
    let a = Archive::initialised();
    let file = a.write(
        "bad.zip",
        export_zip(|files| {
            files.push((
                "general/2024-06-13.json".into(),
                br#"[{"type":"message","user":"U01ANA","text":"ok","ts":"1718300000.000100"},{"type":"message","user":"U01ANA","text":"no ts"}]"#.to_vec(),
            ));
        }),
    );
    let before = a.entries();
    let err = a.fail(&["import", "slack", &file]);
    assert!(
        err.contains(
            "Firm Slack export/general/2024-06-13.json: [1].ts: missing; nothing was imported"
        ),
        "{err}"
    );
    assert_eq!(a.entries(), before);
    assert!(a.messages().is_empty());
}
