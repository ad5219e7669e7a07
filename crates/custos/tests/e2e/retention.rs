//! Retention: schedules, dry runs, disposition runs, holds, certificates
//! and a run cut short, on a real archive through the real binary.

use crate::common::Archive;
use serde_json::Value;

const ANA: &str = "+5511988887777";
const BEA: &str = "+5521977776666";

const LINES: &str = r#"{"channel":"whatsapp","id":"a1","conversation":"c-ana","from":"+447700900001","to":["+5511988887777"],"direction":"outbound","sent_at":"2019-01-10T09:00:00Z","text":"ana january one"}
{"channel":"whatsapp","id":"a2","conversation":"c-ana","from":"+5511988887777","to":["+447700900001"],"direction":"inbound","sent_at":"2019-01-20T09:00:00Z","text":"ana january two"}
{"channel":"whatsapp","id":"a3","conversation":"c-ana","from":"+447700900001","to":["+5511988887777"],"direction":"outbound","sent_at":"2019-02-05T09:00:00Z","text":"ana february"}
{"channel":"sms","id":"b1","conversation":"c-bea","from":"+447700900002","to":["+5521977776666"],"direction":"outbound","sent_at":"2019-01-15T09:00:00Z","text":"bea january"}
{"channel":"whatsapp","id":"i1","conversation":"c-desk","from":"+447700900001","to":["+447700900002"],"direction":"internal","sent_at":"2019-01-12T09:00:00Z","text":"internal january"}
{"channel":"whatsapp","id":"c1","conversation":"c-carl","from":"+447700900001","to":["+12025550123"],"direction":"outbound","sent_at":"2023-06-01T09:00:00Z","text":"carl recent"}
"#;

/// Everything 3 years (SEC 17a-4(b)(4)); the FX desk 5 years (MiFID II).
const SCHEDULE: &str = r#"
[[rule]]
name = "all comms"
preset = "sec-17a-4-b4"

[[rule]]
name = "fx desk"
preset = "mifid-ii"
units = ["FX Sales"]
"#;

fn archive() -> Archive {
    let a = Archive::initialised();
    for (id, name, phone, unit) in [
        ("E001", "Alistair Pemberton", "+447700900001", "FX Sales"),
        ("E002", "Charlotte Whitmore", "+447700900002", "Rates"),
    ] {
        a.ok(&[
            "custodian",
            "add",
            id,
            "--name",
            name,
            "--phone",
            phone,
            "--opted-in",
            "2018-01-01",
            "--unit",
            unit,
        ]);
    }
    let file = a.write("msgs.jsonl", LINES);
    a.ok(&["ingest", &file]);
    let file = a.write("schedule.toml", SCHEDULE);
    assert!(
        a.ok(&["retention", "rules", "set", &file])
            .contains("version 1")
    );
    a
}

/// The entry of message `id`.
fn seq_of(a: &Archive, id: &str) -> u64 {
    a.messages()
        .iter()
        .find(|m| m["id"] == id)
        .unwrap_or_else(|| panic!("no message {id}"))["seq"]
        .as_u64()
        .unwrap()
}

/// A run's report as JSON.
fn run(a: &Archive, now: &str, dry: bool) -> Value {
    let mut args = vec!["retention", "run", "--now", now, "--json"];
    if dry {
        args.push("--dry-run");
    }
    serde_json::from_str(&a.ok(&args)).unwrap()
}

/// The entries a run's plan disposes of, ascending.
fn disposed(report: &Value) -> Vec<u64> {
    let mut seqs: Vec<u64> = report["plan"]["keys"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k["disposable"] == true)
        .flat_map(|k| k["records"].as_array().unwrap().iter())
        .map(|r| r["seq"].as_u64().unwrap())
        .collect();
    seqs.sort_unstable();
    seqs
}

fn certificates(a: &Archive) -> Vec<Value> {
    a.ok(&["retention", "certificates", "--json"])
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn is_shredded(a: &Archive, seq: u64) -> bool {
    let log = a.log();
    let e = log.iter().find(|e| e["seq"] == seq).unwrap();
    e.get("shredded_at").is_some()
}

#[test]
fn presets_and_the_schedule_are_listed_with_their_sources() {
    let a = archive();
    let presets = a.ok(&["retention", "preset", "list"]);
    for needle in [
        "sec-17a-4-b4: 3y, the first 2y easily accessible",
        "SEC Rule 17a-4(b)(4)",
        "sec-17a-4-a: 6y",
        "finra-4511: 6y",
        "FINRA Rule 4511(b)",
        "mifid-ii: 5y, extendable to 7y",
        "Directive 2014/65/EU",
        "custom",
    ] {
        assert!(presets.contains(needle), "{needle}: {presets}");
    }
    let shown = a.ok(&["retention", "rules", "show"]);
    assert!(
        shown.contains("# version 1") && shown.contains("fx desk: 5y (mifid-ii)"),
        "{shown}"
    );
    // The same text again changes nothing; a bad one names the rule and field.
    let file = a.write("same.toml", SCHEDULE);
    assert!(
        a.ok(&["retention", "rules", "set", &file])
            .contains("unchanged")
    );
    let bad = a.write(
        "bad.toml",
        "[[rule]]\nname = \"x\"\npreset = \"mifid-iii\"\n",
    );
    let err = a.fail(&["retention", "rules", "set", &bad]);
    assert!(
        err.contains("bad.toml") && err.contains("rule 1 (\"x\"): `preset` \"mifid-iii\""),
        "{err}"
    );
    assert!(
        a.ok(&["retention", "rules", "show"])
            .contains("# version 1")
    );
}

#[test]
fn overlapping_rules_and_a_hold_decide_what_goes_and_the_dry_run_agrees_with_the_run() {
    let a = archive();
    let (a1, a2, a3, b1, i1, c1) = (
        seq_of(&a, "a1"),
        seq_of(&a, "a2"),
        seq_of(&a, "a3"),
        seq_of(&a, "b1"),
        seq_of(&a, "i1"),
        seq_of(&a, "c1"),
    );

    // 2022-03: only Bea's (Rates, 3 years) has ended; the FX desk keeps 5.
    let dry = run(&a, "2022-03-01", true);
    assert_eq!(disposed(&dry), [b1]);
    assert!(!is_shredded(&a, b1), "a dry run changes nothing");
    let text = a.ok(&["retention", "run", "--dry-run", "--now", "2022-03-01"]);
    assert!(
        text.contains("would dispose of 1 records under 1 keys"),
        "{text}"
    );
    assert!(
        text.contains(&format!("entry {b1} message")) && text.contains("rule all comms"),
        "{text}"
    );
    let real = run(&a, "2022-03-01", false);
    assert_eq!(
        disposed(&real),
        disposed(&dry),
        "the run disposes of what the dry run listed"
    );
    assert!(is_shredded(&a, b1));
    for seq in [a1, a2, a3, i1, c1] {
        assert!(!is_shredded(&a, seq), "entry {seq}");
    }
    let certs = certificates(&a);
    assert_eq!(certs.len(), 1);
    let c = &certs[0];
    assert_eq!(c["records"][0]["seq"], b1);
    assert_eq!(c["records"][0]["rule"], "all comms");
    assert!(
        c["rules"]["all comms"]
            .as_str()
            .unwrap()
            .contains("17a-4(b)(4)")
    );
    let before = c["head_before"]["tree_size"].as_u64().unwrap();
    let after = c["head_after"]["tree_size"].as_u64().unwrap();
    assert!(before > b1 && after > before, "{before} {after}");
    // The heads in the certificate are heads of the archive's chain.
    let head: Value = serde_json::from_str(&a.ok(&["head"])).unwrap();
    assert!(head["tree_size"].as_u64().unwrap() >= after);
    assert!(a.run(&["verify"]).status.success());

    // 2024-03: Ana's and the internal January have ended, but a hold covers Ana.
    let out = a.ok(&[
        "hold",
        "place",
        "Inquiry",
        "--reason",
        "subpoena",
        "--participant",
        ANA,
    ]);
    let hold = out.split_whitespace().nth(1).unwrap().to_string();
    let dry = run(&a, "2024-03-01", true);
    assert_eq!(
        disposed(&dry),
        [i1],
        "the hold keeps Ana's; the internal month goes"
    );
    let text = a.ok(&["retention", "run", "--dry-run", "--now", "2024-03-01"]);
    assert!(text.contains(&format!("entry {a1} message")), "{text}");
    assert!(text.contains(&format!("kept: held by {hold}")), "{text}");
    assert!(text.contains("rule fx desk"), "{text}");
    let real = run(&a, "2024-03-01", false);
    assert_eq!(disposed(&real), [i1]);
    for seq in [a1, a2, a3] {
        assert!(!is_shredded(&a, seq), "held entry {seq}");
    }

    // Released: Ana's two months go; Carl's (2023) stays.
    a.ok(&["hold", "release", &hold, "--reason", "inquiry closed"]);
    let dry = run(&a, "2024-03-01", true);
    assert_eq!(disposed(&dry), [a1, a2, a3]);
    let real = run(&a, "2024-03-01", false);
    assert_eq!(disposed(&real), [a1, a2, a3]);
    for seq in [a1, a2, a3, i1, b1] {
        assert!(is_shredded(&a, seq), "entry {seq}");
    }
    assert!(!is_shredded(&a, c1));
    let certs = certificates(&a);
    assert_eq!(certs.len(), 3);
    assert_eq!(
        certs[2]["keys"].as_array().unwrap().len(),
        2,
        "one key per month of Ana"
    );
    assert!(
        certs[2]["rules"]["fx desk"]
            .as_str()
            .unwrap()
            .contains("MiFID II")
    );
    // Content is gone, the tree still verifies, and nothing more goes later.
    assert!(a.ok(&["log"]).contains("[content destroyed"));
    assert!(!a.ok(&["log"]).contains("ana january"));
    assert!(a.run(&["verify"]).status.success());
    assert!(disposed(&run(&a, "2024-03-02", false)).is_empty());
    assert_eq!(certificates(&a).len(), 3, "an empty run certifies nothing");
    // Erasure of Bea afterwards finds nothing left of January.
    let out = a.ok(&["shred", BEA, "--reason", "GDPR art. 17"]);
    assert!(out.contains("nothing to destroy"), "{out}");
}

#[test]
fn a_run_cut_short_after_its_intent_is_finished_by_the_next_without_double_work() {
    let a = archive();
    let (a1, a2, a3) = (seq_of(&a, "a1"), seq_of(&a, "a2"), seq_of(&a, "a3"));
    let (b1, i1) = (seq_of(&a, "b1"), seq_of(&a, "i1"));
    let now = custos_model::Timestamp::parse("2024-03-01T00:00:00Z").unwrap();
    // What a run does up to a crash: the intent, then one of two keys shredded.
    {
        let journal =
            custos_journal::Journal::open(&a.data, custos_journal::Options::default()).unwrap();
        let plan = custos_governance::retention::plan(
            &journal,
            now,
            &custos_governance::Holds::load(&journal).unwrap(),
        )
        .unwrap();
        let keys: Vec<_> = plan.keys.iter().filter(|k| k.disposable).collect();
        // Ana's January and February, Bea's January, the internal January.
        assert_eq!(keys.len(), 4);
        assert_eq!(plan.disposed_seqs(), [a1, a2, a3, b1, i1]);
        let batch = custos_governance::retention::start(&journal, "tester", &plan, &keys).unwrap();
        let first: custos_journal::KeyId = key_id(&batch.keys[0]);
        journal
            .shred_keys(&[first], "tester", "retention", &Default::default())
            .unwrap();
        // Dropped without a certificate and without close: a crash.
    }
    assert!(certificates(&a).is_empty());
    let shreds_before = key_shreds(&a);
    assert_eq!(shreds_before, 1);

    let out = a.ok(&["retention", "run", "--now", "2024-03-01"]);
    assert!(out.contains("finished batch RD-"), "{out}");
    assert!(
        out.contains("disposed of 0 records"),
        "nothing left for a new batch: {out}"
    );
    let certs = certificates(&a);
    assert_eq!(certs.len(), 1);
    let mut seqs: Vec<u64> = certs[0]["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["seq"].as_u64().unwrap())
        .collect();
    seqs.sort_unstable();
    assert_eq!(seqs, [a1, a2, a3, b1, i1]);
    assert_eq!(certs[0]["keys"].as_array().unwrap().len(), 4);
    assert_eq!(key_shreds(&a), 4, "each key shredded once");
    for seq in [a1, a2, a3, b1, i1] {
        assert!(is_shredded(&a, seq));
    }
    // Run again: nothing more.
    a.ok(&["retention", "run", "--now", "2024-03-01"]);
    assert_eq!(certificates(&a).len(), 1);
    assert_eq!(key_shreds(&a), 4);
    assert!(a.run(&["verify"]).status.success());
}

fn key_id(text: &str) -> custos_journal::KeyId {
    let mut bytes = [0u8; 16];
    hex::decode_to_slice(text, &mut bytes).unwrap();
    custos_journal::KeyId::from_bytes(bytes)
}

fn key_shreds(a: &Archive) -> usize {
    a.log()
        .iter()
        .filter(|e| e["action"] == "key.shred")
        .count()
}

#[test]
fn serve_runs_the_schedule_on_its_interval() {
    let a = archive();
    let b1 = seq_of(&a, "b1");
    let log = std::fs::File::create(a.tmp.path().join("serve.log")).unwrap();
    let mut server = std::process::Command::new(env!("CARGO_BIN_EXE_custos"))
        .arg("--data")
        .arg(&a.data)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--retention-every",
            "1s",
        ])
        .env("CUSTOS_ACTOR", "tester")
        .env_remove("CUSTOS_KEK")
        .stderr(log)
        .spawn()
        .unwrap();
    // Wait (up to a minute, the machine may be busy) for the first run
    // that certified something, as the server logs it.
    let log_path = a.tmp.path().join("serve.log");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    // (and for the server to be serving: before that it has no handler
    // for the signal that stops it).
    let ready = |log: &str| {
        log.lines().any(|l| l.starts_with("custos serving"))
            && log
                .lines()
                .any(|l| l.starts_with("retention run:") && !l.ends_with(" 0 certificates"))
    };
    while !ready(&std::fs::read_to_string(&log_path).unwrap()) {
        if std::time::Instant::now() > deadline {
            server.kill().unwrap();
            panic!(
                "no retention run logged within a minute:\n{}",
                std::fs::read_to_string(&log_path).unwrap()
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let stopped = std::process::Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(stopped.success());
    let status = server.wait().unwrap();
    assert!(
        status.success(),
        "serve did not stop cleanly ({status}):\n{}",
        std::fs::read_to_string(&log_path).unwrap()
    );
    // Today every 2019 record has passed its end.
    let certs = certificates(&a);
    assert!(
        !certs.is_empty(),
        "{}",
        std::fs::read_to_string(a.tmp.path().join("serve.log")).unwrap()
    );
    assert!(is_shredded(&a, b1));
    assert!(a.run(&["verify"]).status.success());
}

#[test]
fn erasure_keeps_what_a_retention_duty_still_covers_and_destroys_the_rest() {
    let a = archive();
    // A 30-year custom rule for SMS keeps Bea's record (SMS) and leaves
    // Ana's (WhatsApp, 3 or 5 years from 2019) erasable.
    let file = a.write(
        "schedule2.toml",
        format!(
            "{SCHEDULE}\n[[rule]]\nname = \"sms ten years\"\nperiod = \"30y\"\nsource = \"board resolution 12\"\nchannels = [\"sms\"]\n"
        ),
    );
    a.ok(&["retention", "rules", "set", &file]);
    let open = |who: &str| {
        let out = a.ok(&["privacy", "open", who, "--kind", "erasure", "--law", "gdpr"]);
        out.split_whitespace().next().unwrap().to_string()
    };

    let (b1, ana) = (seq_of(&a, "b1"), ["a1", "a2", "a3"].map(|m| seq_of(&a, m)));
    // Bea's only record is SMS: a duty runs until 2049, so nothing goes.
    let id = open(BEA);
    let out = a.ok(&["privacy", "erase", &id]);
    assert!(out.contains("kept"), "{out}");
    assert!(
        out.contains("sms ten years") && out.contains("board resolution 12"),
        "{out}"
    );
    assert!(!is_shredded(&a, b1));

    // Ana's records are all past their 3 years (the FX desk's 5 years too):
    // every key of hers goes.
    let id = open(ANA);
    let out = a.ok(&["privacy", "erase", &id]);
    assert!(out.contains("erased"), "{out}");
    for seq in ana {
        assert!(is_shredded(&a, seq), "{seq}");
    }
    let decided = a.ok(&["privacy", "list", "--all", "--json"]);
    assert!(decided.contains("\"outcome\":\"kept\""), "{decided}");
    assert!(decided.contains("\"outcome\":\"erased\""), "{decided}");
    assert!(a.ok(&["verify"]).starts_with("verified"));
}

#[test]
fn a_hold_over_a_saved_search_keeps_exactly_what_its_query_matches() {
    let a = archive();
    let (a1, a2, a3, b1) = (
        seq_of(&a, "a1"),
        seq_of(&a, "a2"),
        seq_of(&a, "a3"),
        seq_of(&a, "b1"),
    );
    let out = a.ok(&[
        "hold",
        "place",
        "February review",
        "--reason",
        "regulator's question",
        "--search",
        "february",
    ]);
    assert!(out.starts_with("placed "), "{out}");
    // 2026: every 2019 record has ended; only Ana's February is held (its
    // month's key), the rest goes.
    let report = run(&a, "2026-06-01", false);
    let gone = disposed(&report);
    assert!(
        gone.contains(&a1) && gone.contains(&a2) && gone.contains(&b1),
        "{gone:?}"
    );
    assert!(!gone.contains(&a3), "{gone:?}");
    assert!(!is_shredded(&a, a3));
    assert!(is_shredded(&a, a1) && is_shredded(&a, b1));
}
