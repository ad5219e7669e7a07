//! The SQL state projection from the command line: `custos rebuild state`
//! projects the archive into `DATA/state/state.db` (SQLite by default),
//! again from nothing to the same rows, and refuses a URL it cannot use
//! without printing its password.

use crate::common::Archive;
use serde_json::json;

fn line(id: &str, text: &str, day: u32) -> String {
    json!({
        "channel": "whatsapp", "id": id, "conversation": "c1",
        "from": "+447700900001", "to": ["+5511999990001"], "direction": "outbound",
        "sent_at": format!("2026-05-{day:02}T10:00:00Z"), "text": text,
    })
    .to_string()
}

#[test]
fn rebuild_state_projects_the_archive_and_again_gives_the_same() {
    let a = Archive::initialised();
    a.ok(&[
        "custodian",
        "add",
        "E1",
        "--name",
        "Rita Lopes",
        "--phone",
        "+44 7700 900001",
        "--opted-in",
        "2026-01-02",
        "--unit",
        "wealth",
    ]);
    let file = a.write(
        "day.jsonl",
        [
            line("m1", "me chama no Telegram que te passo os detalhes", 4),
            line("m2", "Segue o relatório mensal", 5),
        ]
        .join("\n"),
    );
    a.ok(&["ingest", &file]);
    let first = a.ok(&["rebuild", "state"]);
    assert!(first.starts_with("state rebuilt (sqlite)"), "{first}");
    assert!(first.contains("alerts 1,"), "{first}");
    assert!(first.contains("custodians 1"), "{first}");
    assert!(a.data.join("state/state.db").is_file());
    let entries = a.entries();
    assert!(
        first.contains(&format!("from {entries} journal entries")),
        "{first} (journal has {entries})"
    );
    // From nothing again: the same rows.
    let second = a.ok(&["rebuild", "state"]);
    let counts = |s: &str| s.split(": ").nth(1).map(str::to_string);
    assert_eq!(counts(&first), counts(&second));

    let err = a.fail(&["rebuild", "state", "--state-url", "mysql://u:hunter2@db/x"]);
    assert!(err.contains("expected sqlite:// or postgres://"), "{err}");
    assert!(!err.contains("hunter2"), "the password printed: {err}");
}
