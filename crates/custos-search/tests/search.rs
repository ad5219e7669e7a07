//! The search projection over a real journal: indexing, every query
//! construct, edits, deletions, erasure, resuming and rebuilding.

use custos_journal::Journal;
use custos_model::{Attachment, Deletion, Digest, Direction, Edit, Event, Message, Timestamp};
use custos_query::{Field, parse};
use custos_search::translate::NoState;
use custos_search::{Flagged, Resolver, Scope, SearchIndex, SearchOptions, Sort};

fn ts(text: &str) -> Timestamp {
    Timestamp::parse(text).unwrap()
}

fn message(id: &str, conv: &str, from: &str, to: &str, at: &str, text: &str) -> Message {
    let inbound = from.starts_with("+55");
    Message {
        channel: "whatsapp".into(),
        source_id: id.into(),
        conversation: conv.into(),
        sender: from.into(),
        recipients: vec![to.into()],
        direction: if inbound {
            Direction::Inbound
        } else {
            Direction::Outbound
        },
        sent_at: ts(at),
        captured_at: ts(at),
        text: Some(text.into()),
        attachments: Vec::new(),
        reply_to: None,
        raw_digest: Digest::of(id.as_bytes()),
        extra: Default::default(),
    }
}

const ANA: &str = "+5511988887777";
const BEA: &str = "+5521977776666";
const DESK: &str = "+441234567890";

struct Archive {
    _dir: tempfile::TempDir,
    journal: Journal,
    index_path: std::path::PathBuf,
    seqs: Vec<u64>,
}

fn archive() -> Archive {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::init(&dir.path().join("data"), None, "test").unwrap();
    let mut seqs = Vec::new();
    let mut add = |m: Message| {
        let subject = m.external_party().map(str::to_string);
        seqs.push(
            journal
                .append(&Event::Message(m), subject.as_deref())
                .unwrap()
                .seq,
        );
    };
    add(message(
        "m1",
        ANA,
        ANA,
        DESK,
        "2024-06-10T07:10:56Z",
        "Posso comprar a ação da Petrobras?",
    ));
    add(message(
        "m2",
        ANA,
        DESK,
        ANA,
        "2024-06-10T07:12:03Z",
        "I guarantee a return of 12% on that",
    ));
    add(message(
        "m3",
        ANA,
        ANA,
        DESK,
        "2024-06-10T07:13:00Z",
        "Me liga no celular pessoal",
    ));
    let mut with_pdf = message(
        "m4",
        BEA,
        BEA,
        DESK,
        "2024-06-11T09:00:00Z",
        "Segue o contrato",
    );
    with_pdf.attachments.push(Attachment {
        name: Some("Contrato.PDF".into()),
        media_type: "application/pdf".into(),
        sha256: Digest::of(b"pdf"),
        size: 3,
    });
    add(with_pdf);
    add(message(
        "m5",
        BEA,
        DESK,
        BEA,
        "2024-06-12T10:00:00Z",
        "the guaranteed return is not possible",
    ));
    Archive {
        index_path: dir.path().join("data/state/search"),
        _dir: dir,
        journal,
        seqs,
    }
}

fn seqs_of(index: &SearchIndex, query: &str) -> Vec<u64> {
    index.matching(&parse(query).unwrap(), &NoState).unwrap()
}

#[test]
fn every_query_construct_finds_what_it_should() {
    let a = archive();
    let index = SearchIndex::open(&a.index_path).unwrap();
    index.catch_up(&a.journal).unwrap();
    let s = &a.seqs;
    assert_eq!(index.messages(), 5);
    // Case and accents do not matter, either way.
    assert_eq!(seqs_of(&index, "acao"), [s[0]]);
    assert_eq!(seqs_of(&index, "AÇÃO"), [s[0]]);
    // Boolean logic, implicit AND, NOT.
    assert_eq!(seqs_of(&index, "guarantee OR contrato"), [s[1], s[3]]);
    assert_eq!(seqs_of(&index, "return -guarantee"), [s[4]]);
    assert_eq!(seqs_of(&index, "return NOT (guarantee)"), [s[4]]);
    assert_eq!(
        seqs_of(&index, "(guarantee OR guaranteed) AND return"),
        [s[1], s[4]]
    );
    // Phrases and proximity.
    assert_eq!(seqs_of(&index, "\"guarantee a return\""), [s[1]]);
    assert!(seqs_of(&index, "\"guarantee return\"").is_empty());
    assert_eq!(seqs_of(&index, "\"guarantee return\"~2"), [s[1]]);
    // Prefix, wildcard, fuzzy.
    assert_eq!(seqs_of(&index, "guarant*"), [s[1], s[4]]);
    assert_eq!(seqs_of(&index, "cel?lar"), [s[2]]);
    assert_eq!(seqs_of(&index, "guarentee~1"), [s[1]]);
    assert!(seqs_of(&index, "guarentee").is_empty());
    // Fields.
    assert_eq!(seqs_of(&index, "from:\"+55 11 98888-7777\""), [s[0], s[2]]);
    assert_eq!(seqs_of(&index, &format!("to:{BEA}")), [s[4]]);
    assert_eq!(seqs_of(&index, &format!("participant:{BEA}")), [s[3], s[4]]);
    assert_eq!(seqs_of(&index, "direction:outbound"), [s[1], s[4]]);
    assert_eq!(
        seqs_of(&index, &format!("conversation:\"{ANA}\"")),
        [s[0], s[1], s[2]]
    );
    assert_eq!(seqs_of(&index, "channel:WhatsApp").len(), 5);
    assert!(seqs_of(&index, "channel:sms").is_empty());
    assert_eq!(seqs_of(&index, "has:attachment"), [s[3]]);
    assert_eq!(seqs_of(&index, "attachment:pdf"), [s[3]]);
    assert!(seqs_of(&index, "attachment:jpeg").is_empty());
    // Dates and times: after inclusive, before exclusive.
    assert_eq!(seqs_of(&index, "after:2024-06-11"), [s[3], s[4]]);
    assert_eq!(seqs_of(&index, "before:2024-06-10T07:12:03Z"), [s[0]]);
    assert_eq!(
        seqs_of(&index, "after:2024-06-10T07:12:03Z before:2024-06-11"),
        [s[1], s[2]]
    );
}

struct State;

impl Resolver for State {
    fn custodian(&self, who: &str) -> Option<Vec<String>> {
        (who == "trader-7" || who == "Rates Desk").then(|| vec![DESK.to_string()])
    }
    fn flagged(&self, field: Field, value: &str) -> Flagged {
        match (field, value) {
            (Field::Policy, "promissory") => Flagged {
                seqs: vec![1_000, 2],
                messages: vec![("whatsapp".into(), "m5".into())],
            },
            _ => Flagged::default(),
        }
    }
    fn hold(&self, id: &str) -> Option<Scope> {
        (id == "HOLD-1").then(|| Scope {
            participants: vec![BEA.to_string()],
            from: Some(ts("2024-06-12T00:00:00Z")),
            ..Scope::default()
        })
    }
}

#[test]
fn state_fields_resolve_through_the_resolver_and_unknown_names_are_errors() {
    let a = archive();
    let index = SearchIndex::open(&a.index_path).unwrap();
    index.catch_up(&a.journal).unwrap();
    let q = |text: &str| index.matching(&parse(text).unwrap(), &State);
    assert_eq!(q("custodian:\"Rates Desk\"").unwrap().len(), 5);
    assert_eq!(q("from:trader-7 guarant*").unwrap(), [a.seqs[1], a.seqs[4]]);
    let promissory = q("policy:promissory").unwrap();
    assert_eq!(promissory, [2, a.seqs[4]], "by entry or by message id");
    assert_eq!(q("hold:HOLD-1").unwrap(), [a.seqs[4]]);
    let err = q("custodian:nobody").unwrap_err().to_string();
    assert!(err.contains("custodian:nobody"), "{err}");
    assert!(
        q("hold:HOLD-9")
            .unwrap_err()
            .to_string()
            .contains("no such hold")
    );
}

#[test]
fn pages_sorting_snippets_and_context() {
    let a = archive();
    let index = SearchIndex::open(&a.index_path).unwrap();
    index.catch_up(&a.journal).unwrap();
    let all = parse("*").unwrap();
    let newest = index
        .search(
            &all,
            &NoState,
            &SearchOptions {
                sort: Sort::Newest,
                offset: 0,
                limit: 2,
            },
        )
        .unwrap();
    assert_eq!(newest.total, 5);
    let seqs: Vec<u64> = newest.hits.iter().map(|h| h.seq).collect();
    assert_eq!(seqs, [a.seqs[4], a.seqs[3]]);
    let page2 = index
        .search(
            &all,
            &NoState,
            &SearchOptions {
                sort: Sort::Oldest,
                offset: 2,
                limit: 2,
            },
        )
        .unwrap();
    let seqs: Vec<u64> = page2.hits.iter().map(|h| h.seq).collect();
    assert_eq!(seqs, [a.seqs[2], a.seqs[3]]);
    let found = index
        .search(&parse("acao").unwrap(), &NoState, &SearchOptions::default())
        .unwrap();
    assert_eq!(
        found.hits[0].snippet.marked("[", "]"),
        "Posso comprar a [ação] da Petrobras?"
    );
    assert!(found.hits[0].score.is_some());
    let around = index.around(a.seqs[1], 5, 1).unwrap();
    let seqs: Vec<u64> = around.iter().map(|h| h.seq).collect();
    assert_eq!(
        seqs,
        [a.seqs[0], a.seqs[1], a.seqs[2]],
        "the conversation, in order"
    );
}

#[test]
fn edits_deletions_and_erasure_follow_the_journal_and_the_index_resumes() {
    let a = archive();
    let index = SearchIndex::open(&a.index_path).unwrap();
    index.catch_up(&a.journal).unwrap();
    let at = ts("2024-06-10T08:00:00Z");
    let edit = Event::Edit(Edit {
        channel: "whatsapp".into(),
        source_id: "e1".into(),
        target: "m3".into(),
        editor: ANA.into(),
        edited_at: at,
        captured_at: at,
        text: "Me liga no fixo".into(),
        raw_digest: Digest::of(b"e1"),
    });
    let deletion = Event::Deletion(Deletion {
        channel: "whatsapp".into(),
        source_id: "d1".into(),
        target: "m2".into(),
        deleted_by: DESK.into(),
        deleted_at: at,
        captured_at: at,
        raw_digest: Digest::of(b"d1"),
    });
    a.journal.append(&edit, Some(ANA)).unwrap();
    a.journal.append(&deletion, Some(ANA)).unwrap();
    drop(index);
    // Reopened, it resumes from its committed position.
    let index = SearchIndex::open(&a.index_path).unwrap();
    assert_eq!(index.catch_up(&a.journal).unwrap(), 2);
    assert_eq!(
        seqs_of(&index, "fixo"),
        [a.seqs[2]],
        "the edited text is found"
    );
    assert_eq!(
        seqs_of(&index, "pessoal"),
        [a.seqs[2]],
        "and the original still is"
    );
    let hit = index.get(a.seqs[2]).unwrap().unwrap();
    assert_eq!(hit.text, "Me liga no celular pessoal");
    assert_eq!(hit.edits, ["Me liga no fixo"]);
    assert!(index.get(a.seqs[1]).unwrap().unwrap().deleted);
    assert_eq!(index.messages(), 5);
    // Erasure: Ana's key is shredded; her messages leave the index.
    a.journal.shred(ANA, "dpo", "erasure request").unwrap();
    index.catch_up(&a.journal).unwrap();
    assert!(seqs_of(&index, "acao").is_empty());
    assert!(seqs_of(&index, "fixo").is_empty());
    assert_eq!(seqs_of(&index, "*"), [a.seqs[3], a.seqs[4]]);
    // A rebuild from nothing agrees.
    drop(index);
    let rebuilt = SearchIndex::rebuild(&a.index_path, &a.journal).unwrap();
    assert_eq!(seqs_of(&rebuilt, "*"), [a.seqs[3], a.seqs[4]]);
    assert_eq!(rebuilt.position(), a.journal.size());
}
