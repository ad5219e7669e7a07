//! The WORM copy against a real S3 server that enforces Object Lock
//! (moto, started by `scripts/s3-start`, which `scripts/test` runs):
//! uploads under compliance mode read back and verify; the store itself
//! refuses to delete a locked version; an overwrite leaves the locked
//! version intact and is reported; a shorter lock than asked is reported;
//! an archive syncs, re-syncs nothing, and its bucket copy verifies on its
//! own, with retain-until dates from the retention schedule; a lengthened
//! schedule (or default) extends the locks in the bucket, a shortened one
//! leaves them and is counted, and check holds the bucket to the latest
//! date on record. moto 5.2.5 accepts a shortened compliance lock on
//! PutObjectRetention (it does not enforce that rule), so the refusal
//! tested is custos's own, before anything is sent.

use custos_governance::retention::{Period, Schedules};
use custos_journal::{Journal, Options};

use custos_model::{Attachment, Digest, Direction, Event, Message, Timestamp};
use custos_worm::{Copy, Lock, StoreConfig, WormError, WormStore};

/// The test server, or `None` when the S3 tests are skipped on purpose.
fn endpoint() -> Option<String> {
    match std::env::var("CUSTOS_TEST_S3") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("CUSTOS_TEST_NO_S3").as_deref() == Ok("1") => {
            eprintln!("skipped: CUSTOS_TEST_NO_S3=1 (no S3 server)");
            None
        }
        _ => panic!(
            "CUSTOS_TEST_S3 is not set: start the test S3 server with `eval \"$(scripts/s3-start)\"` \
             (scripts/test does), or set CUSTOS_TEST_NO_S3=1 to skip the S3 tests"
        ),
    }
}

/// A new bucket with Object Lock, its name unique to this test.
async fn bucket(endpoint: &str, name: &str) -> WormStore {
    let unique = format!(
        "{name}-{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let store = WormStore::new(StoreConfig {
        bucket: unique,
        prefix: "archive-1".into(),
        endpoint: Some(endpoint.to_string()),
        region: "us-east-1".into(),
        access_key_id: "test".into(),
        secret_access_key: "test".into(),
    })
    .unwrap();
    store.create_bucket().await.unwrap();
    store
}

fn in_years(years: i64) -> Timestamp {
    Timestamp::from_micros(Timestamp::now().as_micros() + years * 366 * 86_400 * 1_000_000)
}

#[tokio::test]
async fn an_upload_is_locked_in_compliance_mode_and_reads_back() {
    let Some(url) = endpoint() else { return };
    let store = bucket(&url, "upload").await;
    let lock = Lock::until(in_years(7));
    let copy = store
        .put_locked("segments/a.seg", b"sealed bytes".to_vec(), &lock)
        .await
        .unwrap();
    assert_eq!(copy.sha256, Digest::of(b"sealed bytes").to_string());
    assert!(!copy.version_id.is_empty());
    let bytes = store
        .get("segments/a.seg", Some(&copy.version_id))
        .await
        .unwrap();
    assert_eq!(bytes.as_deref(), Some(&b"sealed bytes"[..]));
    let state = store
        .lock_of("segments/a.seg", &copy.version_id)
        .await
        .unwrap();
    assert_eq!(state.mode.as_deref(), Some("COMPLIANCE"));
    assert_eq!(state.retain_until, Some(lock.retain_until));
    assert!(!state.legal_hold);
    store.verify_copy(&copy).await.unwrap();

    let held = store
        .put_locked(
            "blobs/k/d",
            b"held".to_vec(),
            &Lock {
                legal_hold: true,
                ..lock
            },
        )
        .await
        .unwrap();
    assert!(
        store
            .lock_of("blobs/k/d", &held.version_id)
            .await
            .unwrap()
            .legal_hold
    );
}

#[tokio::test]
async fn the_store_itself_refuses_to_delete_a_locked_version() {
    let Some(url) = endpoint() else { return };
    let store = bucket(&url, "delete").await;
    let copy = store
        .put_locked(
            "segments/a.seg",
            b"keep me".to_vec(),
            &Lock::until(in_years(7)),
        )
        .await
        .unwrap();
    let refused = store
        .delete_version("segments/a.seg", &copy.version_id)
        .await
        .unwrap_err();
    match &refused {
        WormError::DeleteRefused { status, code, .. } => {
            assert_eq!(*status, 403, "{refused}");
            assert_eq!(code, "AccessDenied", "{refused}");
        }
        other => panic!("expected the store to refuse, got {other}"),
    }
    assert!(refused.to_string().contains("segments/a.seg"), "{refused}");
    let still = store
        .get("segments/a.seg", Some(&copy.version_id))
        .await
        .unwrap();
    assert_eq!(still.as_deref(), Some(&b"keep me"[..]));
    store.verify_copy(&copy).await.unwrap();

    // The control: the same request on an unlocked version goes through,
    // so the refusal above is the lock's doing.
    let loose = store.put_unlocked("scratch", b"x".to_vec()).await.unwrap();
    store.delete_version("scratch", &loose).await.unwrap();
    assert_eq!(store.get("scratch", Some(&loose)).await.unwrap(), None);
}

#[tokio::test]
async fn an_overwrite_or_a_delete_marker_leaves_the_locked_version_and_is_reported() {
    let Some(url) = endpoint() else { return };
    let store = bucket(&url, "overwrite").await;
    let copy = store
        .put_locked(
            "segments/a.seg",
            b"original".to_vec(),
            &Lock::until(in_years(7)),
        )
        .await
        .unwrap();
    let tampered = store
        .put_unlocked("segments/a.seg", b"forged".to_vec())
        .await
        .unwrap();
    assert_ne!(tampered, copy.version_id);
    let original = store
        .get("segments/a.seg", Some(&copy.version_id))
        .await
        .unwrap();
    assert_eq!(original.as_deref(), Some(&b"original"[..]));
    let err = store.verify_copy(&copy).await.unwrap_err().to_string();
    assert!(
        err.contains("segments/a.seg") && err.contains(&tampered) && err.contains("later version"),
        "{err}"
    );

    let other = store
        .put_locked(
            "segments/b.seg",
            b"second".to_vec(),
            &Lock::until(in_years(7)),
        )
        .await
        .unwrap();
    store.delete("segments/b.seg").await.unwrap();
    let err = store.verify_copy(&other).await.unwrap_err().to_string();
    assert!(err.contains("delete marker"), "{err}");
    let kept = store
        .get("segments/b.seg", Some(&other.version_id))
        .await
        .unwrap();
    assert_eq!(kept.as_deref(), Some(&b"second"[..]));
}

#[tokio::test]
async fn a_shorter_lock_or_other_bytes_than_recorded_are_reported() {
    let Some(url) = endpoint() else { return };
    let store = bucket(&url, "short").await;
    let copy = store
        .put_locked("heads/1", b"heads".to_vec(), &Lock::until(in_years(1)))
        .await
        .unwrap();
    let asked_more = Copy {
        retain_until: Lock::until(in_years(7)).retain_until,
        ..copy.clone()
    };
    let err = store
        .verify_copy(&asked_more)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("heads/1") && err.contains("earlier than"),
        "{err}"
    );

    let other_bytes = Copy {
        sha256: Digest::of(b"something else").to_string(),
        ..copy.clone()
    };
    let err = store
        .verify_copy(&other_bytes)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("heads/1") && err.contains("not the"), "{err}");

    let missing = Copy {
        object: "heads/2".into(),
        ..copy
    };
    let err = store.verify_copy(&missing).await.unwrap_err().to_string();
    assert!(err.contains("heads/2") && err.contains("missing"), "{err}");
}

fn message(id: usize, sent_at: Timestamp, attachment: Option<Digest>) -> Event {
    message_from("+5511988887777", id, sent_at, attachment)
}

fn message_from(sender: &str, id: usize, sent_at: Timestamp, attachment: Option<Digest>) -> Event {
    Event::Message(Message {
        channel: "whatsapp".into(),
        source_id: format!("wamid.{id}"),
        conversation: "c-1".into(),
        sender: sender.into(),
        recipients: vec!["+447700900001".into()],
        direction: Direction::Inbound,
        sent_at,
        captured_at: sent_at,
        text: Some(format!("message number {id} about the quarterly numbers")),
        attachments: attachment
            .map(|sha256| {
                vec![Attachment {
                    name: Some("a.pdf".into()),
                    media_type: "application/pdf".into(),
                    sha256,
                    size: 4,
                }]
            })
            .unwrap_or_default(),
        reply_to: None,
        raw_digest: Digest::of(format!("raw {id}").as_bytes()),
        extra: serde_json::Map::new(),
    })
}

/// A new archive in `dir`, opened with small segments.
fn new_archive(dir: &std::path::Path) -> Journal {
    Journal::init(dir, None, "test").unwrap().close().unwrap();
    small_segments(dir)
}

/// When [`append_twelve`]'s messages were sent.
const SENT: &str = "2026-03-12T14:05:33Z";

/// Twelve messages from one customer, all sent at [`SENT`]: enough to
/// seal several small segments.
fn append_twelve(journal: &Journal) {
    let sent = Timestamp::parse(SENT).unwrap();
    for i in 0..12 {
        journal
            .append(&message(i, sent, None), Some("+5511988887777"))
            .unwrap();
    }
}

fn small_segments(dir: &std::path::Path) -> Journal {
    Journal::open(
        dir,
        Options {
            segment_bytes: 2048,
            holder: "worm test".into(),
            ..Options::default()
        },
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_archive_syncs_once_and_its_bucket_copy_verifies_on_its_own() {
    let Some(url) = endpoint() else { return };
    let store = bucket(&url, "archive").await;
    let tmp = tempfile::tempdir().unwrap();
    let journal = new_archive(tmp.path());
    Schedules::load(&journal)
        .unwrap()
        .set(
            &journal,
            "test",
            "[[rule]]\nname = \"whatsapp\"\npreset = \"custom\"\nperiod = \"10y\"\nsource = \"test\"\nchannels = [\"whatsapp\"]\n",
        )
        .unwrap();
    let sent = Timestamp::parse(SENT).unwrap();
    let blob = journal
        .put_blob(Some("+5511988887777"), sent, b"%PDF")
        .unwrap();
    for i in 0..12 {
        let attachment = (i == 0).then_some(blob.digest);
        journal
            .append(&message(i, sent, attachment), Some("+5511988887777"))
            .unwrap();
    }
    journal.sign_head().unwrap();
    let sealed = custos_worm::plan::sealed_segments(tmp.path()).unwrap();
    assert!(sealed.len() >= 2, "the test needs sealed segments");

    // One Progress across syncs, as serve --worm keeps it: the second sync
    // reads only the entries since the first.
    let mut progress = custos_worm::Progress::default();
    let first = custos_worm::sync_from(&journal, &store, Period::years(7), "test", &mut progress)
        .await
        .unwrap();
    let objects: Vec<&str> = first.uploaded.iter().map(|c| c.object.as_str()).collect();
    for s in &sealed {
        assert!(objects.contains(&s.object.as_str()), "{objects:?}");
    }
    let blob_object = format!("blobs/{}/{}", blob.key_id, blob.digest);
    assert!(objects.contains(&blob_object.as_str()), "{objects:?}");
    assert!(
        objects.iter().any(|o| o.starts_with("heads/")),
        "{objects:?}"
    );

    // The retain-until of a segment holding the whatsapp messages is their
    // end under the 10-year rule; the blob takes its message's end.
    let ten_years = Period::years(10).after(sent).unwrap();
    let msg_segment = first
        .uploaded
        .iter()
        .filter(|c| c.object.starts_with("segments/"))
        .map(|c| c.retain_until)
        .max()
        .unwrap();
    assert_eq!(msg_segment, ten_years);
    let blob_copy = first
        .uploaded
        .iter()
        .find(|c| c.object == blob_object)
        .unwrap();
    assert_eq!(blob_copy.retain_until, ten_years);
    // No segment is locked for less than its entries' default retention
    // (archive entries: their recorded time plus seven years).
    let six = Period::years(6).after(Timestamp::now()).unwrap();
    assert!(first.uploaded.iter().all(|c| c.retain_until > six));

    // Every upload is on record; a sync after it has nothing new unless the
    // events themselves sealed a segment.
    let recorded = custos_worm::uploaded(&journal).unwrap();
    assert_eq!(recorded.len(), first.uploaded.len());
    let sealed_now = custos_worm::plan::sealed_segments(tmp.path()).unwrap();
    let second = custos_worm::sync_from(&journal, &store, Period::years(7), "test", &mut progress)
        .await
        .unwrap();
    let newly_sealed: Vec<String> = sealed_now
        .iter()
        .filter(|l| !recorded.contains_key(&l.object))
        .map(|l| l.object.clone())
        .collect();
    let second_segments: Vec<String> = second
        .uploaded
        .iter()
        .filter(|c| c.object.starts_with("segments/"))
        .map(|c| c.object.clone())
        .collect();
    assert_eq!(second_segments, newly_sealed);
    assert!(second.adopted.is_empty());

    let report = custos_worm::check(&journal, &store, None).await.unwrap();
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    assert!(
        report.bucket_entries >= 12 && report.bucket_heads >= 1,
        "{report:?}"
    );

    // A tampered bucket: another version written over a segment is named.
    let victim = &sealed[1].object;
    store
        .put_unlocked(victim, b"forged".to_vec())
        .await
        .unwrap();
    let report = custos_worm::check(&journal, &store, None).await.unwrap();
    assert_eq!(report.failures.len(), 1, "{:?}", report.failures);
    assert_eq!(&report.failures[0].object, victim);
    journal.close().unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn other_bytes_already_under_a_name_are_an_alarm_on_record() {
    let Some(url) = endpoint() else { return };
    let store = bucket(&url, "alarm").await;
    let tmp = tempfile::tempdir().unwrap();
    let journal = new_archive(tmp.path());
    append_twelve(&journal);
    let sealed = custos_worm::plan::sealed_segments(tmp.path()).unwrap();
    store
        .put_unlocked(&sealed[0].object, b"squatter".to_vec())
        .await
        .unwrap();
    let err = custos_worm::sync(&journal, &store, Period::years(7), "test")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains(&sealed[0].object), "{err}");
    let alarms: Vec<_> = journal
        .entries(0)
        .map(|e| journal.open_entry(&e.unwrap()).unwrap())
        .filter(|o| matches!(o, custos_journal::Opened::Event(Event::System(s)) if s.action == custos_worm::WORM_ALARM))
        .collect();
    assert_eq!(alarms.len(), 1);
    journal.close().unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn objects_holding_a_record_under_legal_hold_get_the_s3_legal_hold() {
    let Some(url) = endpoint() else { return };
    let store = bucket(&url, "hold").await;
    let tmp = tempfile::tempdir().unwrap();
    let journal = new_archive(tmp.path());
    let sent = Timestamp::parse(SENT).unwrap();
    const HELD: &str = "+5511988887777";
    const FREE: &str = "+34600999888";
    // Free messages first (their own segments), then the held party's.
    for i in 0..8 {
        journal
            .append(&message_from(FREE, i, sent, None), Some(FREE))
            .unwrap();
    }
    for i in 8..16 {
        journal
            .append(&message_from(HELD, i, sent, None), Some(HELD))
            .unwrap();
    }
    // Seal the held party's last segment.
    for i in 16..22 {
        journal
            .append(&message_from(FREE, i, sent, None), Some(FREE))
            .unwrap();
    }
    let hold = custos_governance::Holds::load(&journal)
        .unwrap()
        .place(
            &journal,
            "test",
            "SEC 24-113",
            "subpoena",
            custos_governance::HoldScope {
                participants: vec![HELD.into()],
                ..Default::default()
            },
        )
        .unwrap();
    let report = custos_worm::sync(&journal, &store, Period::years(7), "test")
        .await
        .unwrap();
    let segments: Vec<&Copy> = report
        .uploaded
        .iter()
        .filter(|c| c.object.starts_with("segments/"))
        .collect();
    assert!(segments.iter().any(|c| c.legal_hold), "{segments:?}");
    assert!(segments.iter().any(|c| !c.legal_hold), "{segments:?}");
    for c in &segments {
        let state = store.lock_of(&c.object, &c.version_id).await.unwrap();
        assert_eq!(state.legal_hold, c.legal_hold, "{}", c.object);
        assert_eq!(state.mode.as_deref(), Some("COMPLIANCE"));
    }
    // A held segment is refused for deletion whatever its date.
    let held = segments.iter().find(|c| c.legal_hold).unwrap();
    assert!(matches!(
        store.delete_version(&held.object, &held.version_id).await,
        Err(WormError::DeleteRefused { .. })
    ));
    let held_before: Vec<String> = segments
        .iter()
        .filter(|c| c.legal_hold)
        .map(|c| c.object.clone())
        .collect();

    // Nothing changed: a second sync touches no legal hold.
    let again = custos_worm::sync(&journal, &store, Period::years(7), "test")
        .await
        .unwrap();
    assert!(again.legal_holds.is_empty(), "{:?}", again.legal_holds);

    // Released, and another placed over the other party: the next sync
    // turns each version's S3 legal hold off or on, and says so.
    let mut holds = custos_governance::Holds::load(&journal).unwrap();
    holds
        .release(&journal, "test", &hold, "matter closed")
        .unwrap();
    holds
        .place(
            &journal,
            "test",
            "FCA review",
            "letter",
            custos_governance::HoldScope {
                participants: vec![FREE.into()],
                ..Default::default()
            },
        )
        .unwrap();
    let after = custos_worm::sync(&journal, &store, Period::years(7), "test")
        .await
        .unwrap();
    assert!(!after.legal_holds.is_empty());
    let recorded = custos_worm::uploaded(&journal).unwrap();
    for c in &segments {
        let now_held = recorded[&c.object].legal_hold;
        let state = store.lock_of(&c.object, &c.version_id).await.unwrap();
        assert_eq!(state.legal_hold, now_held, "{}", c.object);
    }
    let free_only = segments
        .iter()
        .find(|c| !held_before.contains(&c.object) && recorded[&c.object].legal_hold);
    assert!(
        free_only.is_some(),
        "a segment of the other party is now held"
    );
    let report = custos_worm::check(&journal, &store, None).await.unwrap();
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    journal.close().unwrap();
}

#[tokio::test]
async fn the_store_extends_a_lock_and_never_shortens_one() {
    let Some(url) = endpoint() else { return };
    let store = bucket(&url, "extend-store").await;
    let two = Lock::until(in_years(2)).retain_until;
    let copy = store
        .put_locked("segments/a.seg", b"sealed".to_vec(), &Lock::until(two))
        .await
        .unwrap();
    let five = Lock::until(in_years(5)).retain_until;
    let (before, after) = store
        .extend_retention("segments/a.seg", &copy.version_id, five)
        .await
        .unwrap();
    assert_eq!(before.retain_until, Some(two));
    assert_eq!(after.retain_until, Some(five));
    // Read from the bucket, not from what the call returned.
    let state = store
        .lock_of("segments/a.seg", &copy.version_id)
        .await
        .unwrap();
    assert_eq!(state.mode.as_deref(), Some("COMPLIANCE"));
    assert_eq!(state.retain_until, Some(five));

    // An earlier date is refused before anything is sent (moto itself
    // would accept it: it does not enforce compliance mode on this call).
    let three = Lock::until(in_years(3)).retain_until;
    let refused = store
        .extend_retention("segments/a.seg", &copy.version_id, three)
        .await
        .unwrap_err();
    assert!(
        matches!(refused, WormError::ShortenRefused { .. }),
        "{refused}"
    );
    assert!(
        refused.to_string().contains("segments/a.seg")
            && refused.to_string().contains("never shortened"),
        "{refused}"
    );
    let state = store
        .lock_of("segments/a.seg", &copy.version_id)
        .await
        .unwrap();
    assert_eq!(state.retain_until, Some(five));

    // The same date again changes nothing; a version that is not there is
    // an error naming the object.
    let (before, after) = store
        .extend_retention("segments/a.seg", &copy.version_id, five)
        .await
        .unwrap();
    assert_eq!(before, after);
    let err = store
        .extend_retention("segments/none.seg", "no-such-version", five)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("segments/none.seg"), "{err}");
}

fn whatsapp_kept_for(period: &str) -> String {
    format!(
        "[[rule]]\nname = \"whatsapp\"\npreset = \"custom\"\nperiod = \"{period}\"\nsource = \"test\"\nchannels = [\"whatsapp\"]\n"
    )
}

/// The `worm.retention_extended` events of the journal, as recorded.
fn extension_events(journal: &Journal) -> Vec<serde_json::Map<String, serde_json::Value>> {
    journal
        .entries(0)
        .filter_map(|e| match journal.open_entry(&e.unwrap()).unwrap() {
            custos_journal::Opened::Event(Event::System(s))
                if s.action == custos_worm::WORM_RETENTION_EXTENDED =>
            {
                Some(s.details)
            }
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lengthened_schedule_extends_the_locks_and_a_shortened_one_leaves_them() {
    let Some(url) = endpoint() else { return };
    let store = bucket(&url, "extend").await;
    let tmp = tempfile::tempdir().unwrap();
    let journal = new_archive(tmp.path());
    let mut schedules = Schedules::load(&journal).unwrap();
    schedules
        .set(&journal, "test", &whatsapp_kept_for("2y"))
        .unwrap();
    let sent = Timestamp::parse(SENT).unwrap();
    let blob = journal
        .put_blob(Some("+5511988887777"), sent, b"%PDF")
        .unwrap();
    for i in 0..12 {
        let attachment = (i == 0).then_some(blob.digest);
        journal
            .append(&message(i, sent, attachment), Some("+5511988887777"))
            .unwrap();
    }
    journal.sign_head().unwrap();
    let blob_object = format!("blobs/{}/{}", blob.key_id, blob.digest);
    let two = Period::years(2).after(sent).unwrap();
    let twelve = Period::years(12).after(sent).unwrap();

    // One Progress across syncs, as serve --worm keeps it.
    let mut progress = custos_worm::Progress::default();
    let first = custos_worm::sync_from(&journal, &store, Period::years(7), "test", &mut progress)
        .await
        .unwrap();
    assert!(first.extended.is_empty());
    // The objects holding only whatsapp records are locked to their
    // two-year end: the message segments and the blob.
    let short: Vec<Copy> = first
        .uploaded
        .iter()
        .filter(|c| c.retain_until == two)
        .cloned()
        .collect();
    assert!(short.iter().any(|c| c.object == blob_object), "{short:?}");
    assert!(
        short.iter().any(|c| c.object.starts_with("segments/")),
        "{short:?}"
    );

    // The schedule lengthens (a new version: 12 years).
    schedules
        .set(&journal, "test", &whatsapp_kept_for("12y"))
        .unwrap();
    let second = custos_worm::sync_from(&journal, &store, Period::years(7), "test", &mut progress)
        .await
        .unwrap();
    for c in &short {
        let e = second
            .extended
            .iter()
            .find(|e| e.object == c.object)
            .unwrap_or_else(|| panic!("{} was not extended: {:?}", c.object, second.extended));
        assert_eq!(e.version_id, c.version_id);
        assert_eq!(e.previous_retain_until, two);
        assert_eq!(e.retain_until, twelve);
        // The bucket's own lock, read back from it.
        let state = store.lock_of(&c.object, &c.version_id).await.unwrap();
        assert_eq!(state.mode.as_deref(), Some("COMPLIANCE"), "{}", c.object);
        assert_eq!(state.retain_until, Some(twelve), "{}", c.object);
    }
    // The heads snapshot vouching for them follows them.
    let heads = second
        .extended
        .iter()
        .find(|e| e.object.starts_with("heads/"))
        .expect("the heads snapshot is extended too");
    assert_eq!(heads.retain_until, twelve);
    // Every extension is in the bucket and on record, one event each.
    let recorded = custos_worm::uploaded(&journal).unwrap();
    for e in &second.extended {
        let state = store.lock_of(&e.object, &e.version_id).await.unwrap();
        assert_eq!(state.retain_until, Some(e.retain_until), "{}", e.object);
        assert_eq!(recorded[&e.object].retain_until, e.retain_until);
    }
    let events = extension_events(&journal);
    assert_eq!(events.len(), second.extended.len());
    for (event, e) in events.iter().zip(&second.extended) {
        assert_eq!(event["object"], e.object.as_str());
        assert_eq!(event["version_id"], e.version_id.as_str());
        assert_eq!(
            event["previous_retain_until"],
            serde_json::to_value(e.previous_retain_until).unwrap()
        );
        assert_eq!(
            event["retain_until"],
            serde_json::to_value(e.retain_until).unwrap()
        );
        assert_eq!(event["schedule_version"], 2);
    }
    assert_eq!(second.kept_longer, Some(0));

    // A third sync changes no lock: with the same Progress, and afresh.
    let third = custos_worm::sync_from(&journal, &store, Period::years(7), "test", &mut progress)
        .await
        .unwrap();
    assert!(third.extended.is_empty(), "{:?}", third.extended);
    let afresh = custos_worm::sync(&journal, &store, Period::years(7), "test")
        .await
        .unwrap();
    assert!(afresh.extended.is_empty(), "{:?}", afresh.extended);
    assert_eq!(afresh.kept_longer, Some(0));
    assert_eq!(extension_events(&journal).len(), second.extended.len());
    let report = custos_worm::check(&journal, &store, None).await.unwrap();
    assert!(report.failures.is_empty(), "{:?}", report.failures);

    // The schedule shortens (one year): every lock stays, and the sync
    // counts the objects kept longer than the schedule now gives.
    schedules
        .set(&journal, "test", &whatsapp_kept_for("1y"))
        .unwrap();
    let shortened =
        custos_worm::sync_from(&journal, &store, Period::years(7), "test", &mut progress)
            .await
            .unwrap();
    assert!(shortened.extended.is_empty(), "{:?}", shortened.extended);
    for c in &short {
        let state = store.lock_of(&c.object, &c.version_id).await.unwrap();
        assert_eq!(state.retain_until, Some(twelve), "{}", c.object);
    }
    let at_twelve = custos_worm::uploaded(&journal)
        .unwrap()
        .values()
        .filter(|c| c.retain_until == twelve)
        .count();
    assert!(at_twelve > short.len(), "the heads snapshot too");
    assert_eq!(shortened.kept_longer, Some(at_twelve));
    assert_eq!(extension_events(&journal).len(), second.extended.len());
    let report = custos_worm::check(&journal, &store, None).await.unwrap();
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    journal.close().unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn check_fails_an_object_locked_for_less_than_its_recorded_extension() {
    let Some(url) = endpoint() else { return };
    let store = bucket(&url, "extend-check").await;
    let tmp = tempfile::tempdir().unwrap();
    let journal = new_archive(tmp.path());
    append_twelve(&journal);
    journal.sign_head().unwrap();
    let report = custos_worm::sync(&journal, &store, Period::years(7), "test")
        .await
        .unwrap();
    let victim = report
        .uploaded
        .iter()
        .find(|c| c.object.starts_with("segments/"))
        .unwrap()
        .clone();
    let clean = custos_worm::check(&journal, &store, None).await.unwrap();
    assert!(clean.failures.is_empty(), "{:?}", clean.failures);

    // The journal records an extension the bucket does not hold (a store
    // that dropped it, or a lock shortened behind custos's back).
    let later = Lock::until(in_years(30)).retain_until;
    let extension = custos_worm::Extension {
        object: victim.object.clone(),
        version_id: victim.version_id.clone(),
        previous_retain_until: victim.retain_until,
        retain_until: later,
    };
    let serde_json::Value::Object(details) = serde_json::to_value(&extension).unwrap() else {
        unreachable!()
    };
    journal
        .append_system(
            "test",
            custos_worm::WORM_RETENTION_EXTENDED,
            Some(&victim.object),
            details,
        )
        .unwrap();
    assert_eq!(
        custos_worm::uploaded(&journal).unwrap()[&victim.object].retain_until,
        later
    );
    let report = custos_worm::check(&journal, &store, None).await.unwrap();
    assert_eq!(report.failures.len(), 1, "{:?}", report.failures);
    assert_eq!(report.failures[0].object, victim.object);
    assert!(
        report.failures[0].problem.contains("earlier than"),
        "{:?}",
        report.failures
    );
    journal.close().unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_longer_default_retention_extends_the_locks_it_set() {
    let Some(url) = endpoint() else { return };
    let store = bucket(&url, "extend-default").await;
    let tmp = tempfile::tempdir().unwrap();
    let journal = new_archive(tmp.path());
    // No schedule: every record is kept for the default retention.
    append_twelve(&journal);
    let sent = Timestamp::parse(SENT).unwrap();
    journal.sign_head().unwrap();
    let mut progress = custos_worm::Progress::default();
    let first = custos_worm::sync_from(&journal, &store, Period::years(7), "test", &mut progress)
        .await
        .unwrap();
    let seven = Period::years(7).after(sent).unwrap();
    let messages: Vec<Copy> = first
        .uploaded
        .iter()
        .filter(|c| c.retain_until == seven)
        .cloned()
        .collect();
    assert!(!messages.is_empty(), "{:?}", first.uploaded);
    // Nothing new and the same default: the same Progress weighs nothing.
    let idle = custos_worm::sync_from(&journal, &store, Period::years(7), "test", &mut progress)
        .await
        .unwrap();
    assert!(idle.extended.is_empty());

    // The configured default grows to nine years: the same Progress (as
    // serve --worm keeps it) notices and extends.
    let nine = Period::years(9).after(sent).unwrap();
    let longer = custos_worm::sync_from(&journal, &store, Period::years(9), "test", &mut progress)
        .await
        .unwrap();
    for c in &messages {
        assert!(
            longer
                .extended
                .iter()
                .any(|e| e.object == c.object && e.retain_until == nine),
            "{}: {:?}",
            c.object,
            longer.extended
        );
        let state = store.lock_of(&c.object, &c.version_id).await.unwrap();
        assert_eq!(state.retain_until, Some(nine), "{}", c.object);
    }
    assert_eq!(extension_events(&journal).len(), longer.extended.len());
    let report = custos_worm::check(&journal, &store, None).await.unwrap();
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    journal.close().unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lock_already_later_in_the_bucket_is_recorded_not_shortened() {
    let Some(url) = endpoint() else { return };
    let store = bucket(&url, "extend-crash").await;
    let tmp = tempfile::tempdir().unwrap();
    let journal = new_archive(tmp.path());
    let mut schedules = Schedules::load(&journal).unwrap();
    schedules
        .set(&journal, "test", &whatsapp_kept_for("2y"))
        .unwrap();
    append_twelve(&journal);
    let sent = Timestamp::parse(SENT).unwrap();
    journal.sign_head().unwrap();
    let first = custos_worm::sync(&journal, &store, Period::years(7), "test")
        .await
        .unwrap();
    let two = Period::years(2).after(sent).unwrap();
    let victim = first
        .uploaded
        .iter()
        .find(|c| c.retain_until == two)
        .unwrap()
        .clone();
    // An extension to twelve years reached the bucket but not the journal
    // (a crash in between); then the schedule becomes ten years.
    let twelve = Period::years(12).after(sent).unwrap();
    store
        .extend_retention(&victim.object, &victim.version_id, twelve)
        .await
        .unwrap();
    schedules
        .set(&journal, "test", &whatsapp_kept_for("10y"))
        .unwrap();
    let report = custos_worm::sync(&journal, &store, Period::years(7), "test")
        .await
        .unwrap();
    let e = report
        .extended
        .iter()
        .find(|e| e.object == victim.object)
        .unwrap();
    assert_eq!(e.previous_retain_until, two);
    assert_eq!(
        e.retain_until, twelve,
        "the bucket's later date is recorded"
    );
    let state = store
        .lock_of(&victim.object, &victim.version_id)
        .await
        .unwrap();
    assert_eq!(state.retain_until, Some(twelve));
    let check = custos_worm::check(&journal, &store, None).await.unwrap();
    assert!(check.failures.is_empty(), "{:?}", check.failures);
    journal.close().unwrap();
}
