//! `custos import actiance`: Actiance XML and Global Relay EML of the same
//! posts archive each post once, a bad file imports nothing and names its
//! place, and imported posts are found by search.

use crate::common::Archive;
use serde_json::Value;

const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../custos-capture/tests/fixtures/actiance"
);

fn fixture(name: &str) -> String {
    format!("{FIXTURES}/{name}")
}

fn import(a: &Archive, path: &str) -> String {
    a.ok(&["import", "actiance", path, "--firm-domain", "firm.example"])
}

#[test]
fn actiance_xml_and_global_relay_eml_archive_each_post_once() {
    let a = Archive::initialised();
    let out = import(&a, &fixture("actiance_export.xml"));
    assert!(
        out.contains("4 messages read, 4 archived, 0 already in the archive"),
        "{out}"
    );
    let out = import(&a, &fixture("actiance_export.xml"));
    assert!(
        out.contains("4 messages read, 0 archived, 4 already in the archive"),
        "{out}"
    );
    // The Global Relay EML of two of the same posts adds nothing new but
    // nothing is lost either.
    let out = import(&a, &fixture("globalrelay.eml"));
    assert!(
        out.contains("2 messages read, 0 archived, 2 already in the archive"),
        "{out}"
    );
    let log = a.log();
    let kinds = |k: &str| log.iter().filter(|e| e["kind"] == k).count();
    assert_eq!(
        (kinds("message"), kinds("edit"), kinds("deletion")),
        (4, 1, 1)
    );
    let imports: Vec<&Value> = log
        .iter()
        .filter(|e| e["action"] == "actiance.import")
        .collect();
    assert_eq!(imports.len(), 3);
    assert_eq!(imports[2]["details"]["format"], "globalrelay-eml");
    let client = log
        .iter()
        .find(|e| e["kind"] == "message" && e["from"] == "client@other.example")
        .unwrap();
    assert_eq!(client["direction"], "inbound");
    let found: Value =
        serde_json::from_str(&a.ok(&["search", "tomorrow", "--reason", "test", "--json"])).unwrap();
    assert_eq!(found["total"], 1, "{found}");
    assert_eq!(found["hits"][0]["text"], "Rates <today> & \"tomorrow\"");
}

#[test]
fn the_eml_first_stores_its_attachment() {
    let a = Archive::initialised();
    let out = import(&a, &fixture("globalrelay.eml"));
    assert!(out.contains("2 messages read, 2 archived"), "{out}");
    let report = a
        .log()
        .into_iter()
        .find(|e| e["kind"] == "message" && e["id"] == "p4")
        .unwrap();
    assert_eq!(report["attachments"][0]["name"], "report.pdf");
    assert_eq!(report["attachments"][0]["media_type"], "application/pdf");
}

#[test]
fn a_bad_file_imports_nothing_and_names_its_place() {
    let a = Archive::initialised();
    let before = a.entries();
    let xml = std::fs::read_to_string(fixture("actiance_export.xml")).unwrap();
    let bad = a.write(
        "bad.xml",
        xml.replace(
            "<DateTimeUTC>1718004300000</DateTimeUTC>\n      <Content>",
            "<DateTimeUTC>later</DateTimeUTC>\n      <Content>",
        ),
    );
    let err = a.fail(&["import", "actiance", &bad]);
    assert!(
        err.contains("bad.xml: line 66 <Message> <DateTimeUTC>"),
        "{err}"
    );
    assert!(err.contains("nothing was imported"), "{err}");
    let err = a.fail(&[
        "import",
        "actiance",
        &a.write("plain.eml", "Subject: hi\r\n\r\nhello\r\n"),
    ]);
    assert!(err.contains("neither Actiance XML"), "{err}");
    assert_eq!(a.entries(), before);
}
