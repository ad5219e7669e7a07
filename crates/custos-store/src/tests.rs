//! One suite, two backends: every test here runs against SQLite (always)
//! and PostgreSQL (`CUSTOS_TEST_PG`, a `postgres://` URL of a server where
//! the test may create databases; each test gets a fresh one). Without
//! `CUSTOS_TEST_PG` the PostgreSQL half fails, asking for
//! `scripts/pg-start`, unless `CUSTOS_TEST_NO_PG=1` says to skip it.

use crate::{AlertFilter, Projector, Store, Visibility};
use custos_auth::{NewUser, Role, Users};
use custos_governance::cases::{Cases, Opening, Tag};
use custos_governance::custodians;
use custos_governance::holds::{HoldScope, Holds};
use custos_journal::Journal;
use custos_model::{
    ConsentChange, ConsentState, Digest, Direction, Event, Message, Timestamp, party_id,
};
use custos_review::policies::{Load, load};
use custos_review::review::{Action, event_for};
use custos_review::{Custodian, Disposition, Supervisor};
use std::sync::atomic::{AtomicU32, Ordering};

/// A database for one test, and how to drop it afterwards.
struct Db {
    url: String,
    _dir: Option<tempfile::TempDir>,
    drop: Option<(String, String)>,
}

impl Db {
    async fn store(&self) -> Store {
        Store::open(&self.url).await.expect("opening the store")
    }

    async fn finish(self) {
        if let Some((admin, name)) = self.drop {
            sqlx::any::install_default_drivers();
            if let Ok(pool) = sqlx::AnyPool::connect(&admin).await {
                let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                let _ = sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&pool).await;
                pool.close().await;
            }
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Which {
    Sqlite,
    Postgres,
}

static NEXT_DB: AtomicU32 = AtomicU32::new(0);

/// The database factory: a fresh database of the backend, or `None` when
/// the PostgreSQL half is skipped on purpose.
async fn database(which: Which) -> Option<Db> {
    match which {
        Which::Sqlite => {
            let dir = tempfile::tempdir().unwrap();
            let url = crate::sqlite_url(&dir.path().join("state.db"));
            Some(Db {
                url,
                _dir: Some(dir),
                drop: None,
            })
        }
        Which::Postgres => {
            let Ok(admin) = std::env::var("CUSTOS_TEST_PG") else {
                if std::env::var("CUSTOS_TEST_NO_PG").as_deref() == Ok("1") {
                    eprintln!("skipped: the PostgreSQL half (CUSTOS_TEST_NO_PG=1)");
                    return None;
                }
                panic!(
                    "CUSTOS_TEST_PG is not set: run `scripts/pg-start` (it starts a PostgreSQL 15 \
                     in a temporary directory and exports CUSTOS_TEST_PG), or set \
                     CUSTOS_TEST_NO_PG=1 to skip the PostgreSQL half"
                );
            };
            let name = format!(
                "custos_store_{}_{}",
                std::process::id(),
                NEXT_DB.fetch_add(1, Ordering::SeqCst)
            );
            sqlx::any::install_default_drivers();
            let pool = sqlx::AnyPool::connect(&admin)
                .await
                .unwrap_or_else(|e| panic!("connecting to CUSTOS_TEST_PG: {e}"));
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&pool)
                .await
                .unwrap_or_else(|e| panic!("creating database {name}: {e}"));
            pool.close().await;
            Some(Db {
                url: with_database(&admin, &name),
                _dir: None,
                drop: Some((admin, name)),
            })
        }
    }
}

/// `url` naming database `name` instead of its own.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let after_scheme = base.find("://").map_or(0, |i| i + 3);
    let root = match base[after_scheme..].find('/') {
        Some(i) => &base[..after_scheme + i],
        None => base,
    };
    match query {
        Some(q) => format!("{root}/{name}?{q}"),
        None => format!("{root}/{name}"),
    }
}

/// Each test, once per backend.
macro_rules! suite {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                if let Some(db) = super::database(super::Which::Sqlite).await {
                    super::$name(&db).await;
                    db.finish().await;
                }
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(db) = super::database(super::Which::Postgres).await {
                    super::$name(&db).await;
                    db.finish().await;
                }
            }
        }
    )*};
}

suite!(
    migrations_apply_once_and_are_recorded,
    rows_follow_the_journal_and_a_rebuild_gives_the_same,
    the_queue_pages_by_key_with_the_barrier_inside,
    an_erasure_removes_the_subjects_rows,
    the_position_resumes_where_it_stopped,
    two_nodes_project_into_one_database,
    holds_page_active_first_and_filter_by_state,
    a_partys_consent_pages_newest_first_with_its_state_now,
    cases_page_open_first_with_searches_holds_and_decisions,
    users_page_by_id_with_their_tokens_and_no_secret,
    an_erasure_empties_the_readers_of_rows_under_its_key,
);

const POLICY: &str = r#"
name = "promissory"
title = "Promises of returns"
category = "promissory"
severity = "high"
actions = ["alert", "tag:promise"]
[condition]
terms = ["guaranteed return*"]
"#;

fn message(id: &str, from: &str, to: &str, text: &str, minute: i64) -> Event {
    let at = Timestamp::from_micros(1_780_000_000_000_000 + minute * 60_000_000);
    Event::Message(Message {
        channel: "whatsapp".into(),
        source_id: id.into(),
        conversation: format!("c-{from}"),
        sender: from.into(),
        recipients: vec![to.into()],
        direction: Direction::Inbound,
        sent_at: at,
        captured_at: at,
        text: Some(text.into()),
        attachments: vec![],
        reply_to: None,
        raw_digest: Digest::of(id.as_bytes()),
        extra: Default::default(),
    })
}

fn append(journal: &Journal, event: Event) -> u64 {
    let subject = match &event {
        Event::Message(m) => m.external_party().map(party_id),
        Event::Consent(c) => Some(party_id(&c.party)),
        _ => None,
    };
    journal.append(&event, subject.as_deref()).unwrap().seq
}

fn consent(party: &str, state: ConsentState) -> Event {
    Event::Consent(ConsentChange {
        channel: "whatsapp".into(),
        party: party.into(),
        state,
        evidence: "replied YES".into(),
        at: Timestamp::now(),
        recorded_by: "webhook".into(),
    })
}

/// Two custodians on two desks, each with customers; returns the
/// archive with a policy loaded and custodians enrolled.
struct Archive {
    _dir: tempfile::TempDir,
    journal: Journal,
    supervisor: Supervisor,
}

const ANA: &str = "+447700900001";
const BEN: &str = "+447700900002";

fn archive() -> Archive {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::init(&dir.path().join("a"), None, "test").unwrap();
    let Load::New { event, .. } =
        load(&Default::default(), POLICY, "p.toml", "cco").expect("the policy parses")
    else {
        panic!("a first load is new")
    };
    journal.append(&event, None).unwrap();
    custodians::add(
        &journal,
        "admin",
        "ana",
        "Ana",
        ANA,
        "2026-01-05",
        &["fx".into()],
    )
    .unwrap();
    custodians::add(
        &journal,
        "admin",
        "ben",
        "Ben",
        BEN,
        "2026-01-05",
        &["rates".into(), "sales".into()],
    )
    .unwrap();
    let people = vec![
        Custodian {
            id: "ana".into(),
            address: party_id(ANA),
            units: vec!["fx".into()],
        },
        Custodian {
            id: "ben".into(),
            address: party_id(BEN),
            units: vec!["rates".into(), "sales".into()],
        },
    ];
    let supervisor = Supervisor::open(&journal, people, 0).unwrap();
    Archive {
        _dir: dir,
        journal,
        supervisor,
    }
}

/// Customers write to Ana and Ben; `n` alerts each, a minute apart.
fn raise(a: &mut Archive, n: usize, from_minute: i64) -> Vec<String> {
    for i in 0..n {
        let m = from_minute + 2 * i as i64;
        append(
            &a.journal,
            message(
                &format!("a{m}"),
                &format!("+55119999{m:05}"),
                ANA,
                &format!("a guaranteed return of {m}%"),
                m,
            ),
        );
        append(
            &a.journal,
            message(
                &format!("b{m}"),
                &format!("+55118888{m:05}"),
                BEN,
                &format!("guaranteed returns {m} times over"),
                m + 1,
            ),
        );
    }
    a.supervisor
        .catch_up(&a.journal)
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect()
}

fn review(a: &mut Archive, id: &str, action: Action) {
    let event = event_for(&a.supervisor.state, id, "rita", &action).unwrap();
    a.journal.append(&event, None).unwrap();
    a.supervisor.catch_up(&a.journal).unwrap();
}

/// Everything the projections hold, each kind at least once.
fn populate(a: &mut Archive) -> Vec<String> {
    let ids = raise(a, 3, 0);
    review(a, &ids[0], Action::Assign { to: "rita".into() });
    review(
        a,
        &ids[0],
        Action::Comment {
            text: "asked the desk".into(),
        },
    );
    review(
        a,
        &ids[1],
        Action::Close {
            disposition: Disposition::FalsePositive,
            reason: "a quote from the news".into(),
        },
    );
    let mut holds = Holds::load(&a.journal).unwrap();
    let scope = HoldScope {
        custodians: vec!["ana".into()],
        ..Default::default()
    };
    let hold = holds
        .place(
            &a.journal,
            "cco",
            "Matter 1",
            "a regulator's letter",
            scope.clone(),
        )
        .unwrap();
    holds
        .place(&a.journal, "cco", "Matter 2", "internal review", scope)
        .unwrap();
    holds.release(&a.journal, "cco", &hold, "settled").unwrap();
    let mut cases = Cases::load(&a.journal).unwrap();
    let case = cases
        .open(
            &a.journal,
            "cco",
            Opening {
                name: "Inquiry".into(),
                description: "FX desk inquiry".into(),
                custodians: vec!["ana".into()],
                from: None,
                to: None,
            },
        )
        .unwrap();
    cases
        .save_search(&a.journal, "cco", &case, "promises", "guaranteed")
        .unwrap();
    cases
        .tag(&a.journal, "cco", &case, 5, Tag::Relevant, "on point")
        .unwrap();
    cases
        .tag(&a.journal, "cco", &case, 5, Tag::Privileged, "counsel")
        .unwrap();
    let mut users = Users::load(&a.journal).unwrap();
    users
        .add(
            &a.journal,
            "admin",
            NewUser {
                id: "rita".into(),
                name: "Rita".into(),
                roles: [Role::Reviewer].into(),
                units: vec!["fx".into()],
                custodian: None,
            },
            "a long enough password 1",
        )
        .unwrap();
    users
        .create_token(
            &a.journal,
            "admin",
            "rita",
            &Default::default(),
            Timestamp::from_micros(1_900_000_000_000_000),
        )
        .unwrap();
    append(
        &a.journal,
        consent("+55 11 99999-0000", ConsentState::OptIn),
    );
    append(&a.journal, consent("+5511999990000", ConsentState::OptOut));
    append(&a.journal, consent("+5511777770000", ConsentState::OptIn));
    ids
}

async fn migrations_apply_once_and_are_recorded(db: &Db) {
    let first = db.store().await;
    assert_eq!(first.applied_at_open(), &[1]);
    assert_eq!(first.schema_versions().await.unwrap(), vec![1]);
    first.close().await;
    let second = db.store().await;
    assert!(
        second.applied_at_open().is_empty(),
        "a second start applied {:?}",
        second.applied_at_open()
    );
    assert_eq!(second.schema_versions().await.unwrap(), vec![1]);
    assert_eq!(second.position().await.unwrap(), 0);
    second.close().await;
}

async fn rows_follow_the_journal_and_a_rebuild_gives_the_same(db: &Db) {
    let mut a = archive();
    let store = db.store().await;
    let mut projector = Projector::open(store.clone(), &a.journal).await.unwrap();
    // In steps, as the server does after each commit.
    let ids = raise(&mut a, 1, 100);
    projector.catch_up(&a.journal).await.unwrap();
    assert_eq!(projector.position(), a.journal.size());
    populate(&mut a);
    projector.catch_up(&a.journal).await.unwrap();
    assert_eq!(store.position().await.unwrap(), a.journal.size());

    let all = store
        .alerts(&AlertFilter::visible(Visibility::All), None, 100)
        .await
        .unwrap();
    assert_eq!(all.alerts.len(), 8, "{:?}", all.alerts);
    assert!(all.alerts.iter().any(|r| r.id == ids[0]));
    let open = store
        .alerts(&AlertFilter::visible(Visibility::All).open(), None, 100)
        .await
        .unwrap();
    assert_eq!(open.alerts.len(), 7);
    let mine = store
        .alerts(
            &AlertFilter {
                assignee: Some("rita".into()),
                ..AlertFilter::visible(Visibility::All)
            },
            None,
            100,
        )
        .await
        .unwrap();
    assert_eq!(mine.alerts.len(), 1);
    assert_eq!(mine.alerts[0].status, "assigned");
    let closed: Vec<_> = all.alerts.iter().filter(|r| r.status == "closed").collect();
    assert_eq!(closed.len(), 1);
    assert_eq!(closed[0].disposition.as_deref(), Some("false_positive"));
    assert_eq!(closed[0].tags, vec!["promise".to_string()]);

    assert_eq!(
        store
            .consent("+55 11 99999 0000", "whatsapp")
            .await
            .unwrap(),
        Some("opt_out".into())
    );
    assert_eq!(
        store.consent("+5511777770000", "whatsapp").await.unwrap(),
        Some("opt_in".into())
    );
    assert_eq!(
        store.consent("+5511000000000", "whatsapp").await.unwrap(),
        None
    );

    let dump = store.dump().await.unwrap();
    let has = |prefix: &str, needle: &str| {
        dump.iter()
            .any(|l| l.starts_with(prefix) && l.contains(needle))
    };
    assert!(has("alert_history:", "asked the desk"), "{dump:#?}");
    assert!(has("holds:", "settled"));
    assert!(has("holds:", "Matter 2"));
    assert!(has("case_searches:", "promises"));
    assert!(has("case_decisions:", "privileged"));
    assert!(
        !has("case_decisions:", "\"relevant\""),
        "the later tag stands"
    );
    assert!(has("users:", "Rita"));
    assert!(has("tokens:", "rita"));
    assert!(has("custodian_units:", "sales"));
    assert_eq!(
        dump.iter()
            .filter(|l| l.starts_with("consent_changes:"))
            .count(),
        3
    );
    // Never a secret: no password hash, no token digest.
    assert!(!dump.iter().any(|l| l.contains("argon2")), "{dump:#?}");

    // Rebuilt from nothing into another database: the same rows.
    let other = database(Which::of(&store)).await.unwrap();
    let fresh = other.store().await;
    let rebuilt = Projector::rebuild(fresh.clone(), &a.journal).await.unwrap();
    assert_eq!(rebuilt.position(), a.journal.size());
    assert_eq!(fresh.dump().await.unwrap(), dump);
    // And rebuilt in place.
    Projector::rebuild(store.clone(), &a.journal).await.unwrap();
    assert_eq!(store.dump().await.unwrap(), dump);
    fresh.close().await;
    other.finish().await;
    store.close().await;
}

impl Which {
    fn of(store: &Store) -> Which {
        match store.backend() {
            crate::Backend::Sqlite => Which::Sqlite,
            crate::Backend::Postgres => Which::Postgres,
        }
    }
}

async fn the_queue_pages_by_key_with_the_barrier_inside(db: &Db) {
    let mut a = archive();
    raise(&mut a, 5, 0);
    let store = db.store().await;
    let mut projector = Projector::open(store.clone(), &a.journal).await.unwrap();
    projector.catch_up(&a.journal).await.unwrap();

    // Page by two: every alert once, newest first.
    let filter = AlertFilter::visible(Visibility::All);
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = store.alerts(&filter, after.as_deref(), 2).await.unwrap();
        assert!(page.alerts.len() <= 2);
        seen.extend(
            page.alerts
                .into_iter()
                .map(|r| (r.raised_at, r.seq, r.custodian)),
        );
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert_eq!(seen.len(), 10);
    let mut sorted = seen.clone();
    sorted.sort_by_key(|x| std::cmp::Reverse((x.0, x.1)));
    assert_eq!(seen, sorted, "newest first, no repeats");

    // A reviewer of the fx desk sees Ana's alerts only, and full pages.
    let fx = AlertFilter::visible(Visibility::Units(vec!["fx".into()]));
    let page = store.alerts(&fx, None, 3).await.unwrap();
    assert_eq!(page.alerts.len(), 3);
    assert!(
        page.alerts
            .iter()
            .all(|r| r.custodian.as_deref() == Some("ana"))
    );
    let mut count = page.alerts.len();
    let mut after = page.next;
    while let Some(key) = after {
        let page = store.alerts(&fx, Some(&key), 3).await.unwrap();
        assert!(
            page.alerts
                .iter()
                .all(|r| r.custodian.as_deref() == Some("ana"))
        );
        count += page.alerts.len();
        after = page.next;
    }
    assert_eq!(count, 5);
    // The unit filter, Ben's own scope, and no scope at all.
    let sales = AlertFilter {
        unit: Some("sales".into()),
        ..AlertFilter::visible(Visibility::All)
    };
    let page = store.alerts(&sales, None, 100).await.unwrap();
    assert_eq!(page.alerts.len(), 5);
    assert!(
        page.alerts
            .iter()
            .all(|r| r.custodian.as_deref() == Some("ben"))
    );
    let ben = AlertFilter::visible(Visibility::Custodian("ben".into()));
    assert_eq!(store.alerts(&ben, None, 100).await.unwrap().alerts.len(), 5);
    let nobody = AlertFilter::visible(Visibility::Units(vec!["equities".into()]));
    assert!(
        store
            .alerts(&nobody, None, 100)
            .await
            .unwrap()
            .alerts
            .is_empty()
    );
    let none = AlertFilter::visible(Visibility::Nothing);
    assert!(
        store
            .alerts(&none, None, 100)
            .await
            .unwrap()
            .alerts
            .is_empty()
    );

    // A key no page gave is an error naming it.
    let err = store
        .alerts(&filter, Some("yesterday"), 2)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("yesterday"), "{err}");

    // Custodians, paged by enrolment.
    let first = store.custodians(None, None, 1).await.unwrap();
    assert_eq!(first.custodians[0].id, "ana");
    assert_eq!(first.custodians[0].units, vec!["fx".to_string()]);
    let second = store
        .custodians(None, first.next.as_deref(), 1)
        .await
        .unwrap();
    assert_eq!(second.custodians[0].id, "ben");
    assert_eq!(
        second.custodians[0].units,
        vec!["rates".to_string(), "sales".to_string()]
    );
    assert!(second.next.is_none());
    let rates = store.custodians(Some("rates"), None, 10).await.unwrap();
    assert_eq!(rates.custodians.len(), 1);
    store.close().await;
}

async fn an_erasure_removes_the_subjects_rows(db: &Db) {
    let mut a = archive();
    populate(&mut a);
    let store = db.store().await;
    let mut projector = Projector::open(store.clone(), &a.journal).await.unwrap();
    projector.catch_up(&a.journal).await.unwrap();
    let before = store
        .alerts(&AlertFilter::visible(Visibility::All), None, 100)
        .await
        .unwrap();
    // The customer behind one of Ana's alerts is erased; so is the
    // customer whose consent history has two changes.
    let target = before
        .alerts
        .iter()
        .find(|r| r.custodian.as_deref() == Some("ana"))
        .unwrap()
        .clone();
    let customer = match a
        .journal
        .open_entry(&a.journal.entry(target.message_seq).unwrap())
        .unwrap()
    {
        custos_journal::Opened::Event(Event::Message(m)) => m.sender,
        other => panic!("not a message: {other:?}"),
    };
    a.journal
        .shred(&customer, "dpo", "erasure request")
        .unwrap();
    a.journal
        .shred("+5511999990000", "dpo", "erasure request")
        .unwrap();
    // A later change for the same number, under its new key, stands.
    append(&a.journal, consent("+5511999990000", ConsentState::OptIn));
    projector.catch_up(&a.journal).await.unwrap();
    let after = store
        .alerts(&AlertFilter::visible(Visibility::All), None, 100)
        .await
        .unwrap();
    assert_eq!(after.alerts.len(), before.alerts.len() - 1);
    assert!(!after.alerts.iter().any(|r| r.id == target.id));
    let dump = store.dump().await.unwrap();
    assert!(!dump.iter().any(|l| l.contains(&target.id)), "{dump:#?}");
    assert_eq!(
        dump.iter()
            .filter(|l| l.starts_with("consent_changes:"))
            .count(),
        2
    );
    assert_eq!(
        store.consent("+5511999990000", "whatsapp").await.unwrap(),
        Some("opt_in".into())
    );
    // A rebuild, which cannot open the erased entries, agrees.
    let other = database(Which::of(&store)).await.unwrap();
    let fresh = other.store().await;
    Projector::rebuild(fresh.clone(), &a.journal).await.unwrap();
    assert_eq!(fresh.dump().await.unwrap(), dump);
    fresh.close().await;
    other.finish().await;
    store.close().await;
}

async fn the_position_resumes_where_it_stopped(db: &Db) {
    let mut a = archive();
    raise(&mut a, 2, 0);
    let store = db.store().await;
    let mut projector = Projector::open(store.clone(), &a.journal).await.unwrap();
    let took = projector.catch_up(&a.journal).await.unwrap();
    assert_eq!(took, a.journal.size());
    assert_eq!(projector.catch_up(&a.journal).await.unwrap(), 0);
    drop(projector);
    store.close().await;

    // A restart: the folds are rebuilt to the stored position, nothing is
    // written twice, and what arrived meanwhile is taken in.
    let ids = raise(&mut a, 1, 50);
    review(
        &mut a,
        &ids[0],
        Action::Escalate {
            to: Some("sam".into()),
            reason: "large client".into(),
        },
    );
    let store = db.store().await;
    let before = store.position().await.unwrap();
    let mut projector = Projector::open(store.clone(), &a.journal).await.unwrap();
    let took = projector.catch_up(&a.journal).await.unwrap();
    assert_eq!(took, a.journal.size() - before);
    let page = store
        .alerts(&AlertFilter::visible(Visibility::All), None, 100)
        .await
        .unwrap();
    assert_eq!(page.alerts.len(), 6);
    let escalated = page.alerts.iter().find(|r| r.id == ids[0]).unwrap();
    assert_eq!(escalated.status, "escalated");
    assert_eq!(escalated.assignee.as_deref(), Some("sam"));
    store.close().await;
}

/// Two nodes of a cluster, each with its own projector (and pool), one
/// shared database: whichever is ahead writes, the other skips or writes
/// only the rest, and the rows are those of a single rebuild.
async fn two_nodes_project_into_one_database(db: &Db) {
    let mut a = archive();
    let (one, two) = (db.store().await, db.store().await);
    let mut first = Projector::open(one.clone(), &a.journal).await.unwrap();
    let mut second = Projector::open(two.clone(), &a.journal).await.unwrap();
    raise(&mut a, 2, 0);
    append(&a.journal, consent("+5511999990000", ConsentState::OptOut));
    first.catch_up(&a.journal).await.unwrap();
    // The second is behind the rows and ahead of nothing: it writes
    // nothing twice (a consent change inserted again would break its key).
    populate(&mut a);
    second.catch_up(&a.journal).await.unwrap();
    let ids = raise(&mut a, 1, 90);
    review(&mut a, &ids[0], Action::Assign { to: "sam".into() });
    append(&a.journal, consent("+5511999990000", ConsentState::OptIn));
    // Both at once.
    let (x, y) = tokio::join!(first.catch_up(&a.journal), second.catch_up(&a.journal));
    x.unwrap();
    y.unwrap();
    assert_eq!(first.position(), a.journal.size());
    assert_eq!(second.position(), a.journal.size());
    assert_eq!(one.position().await.unwrap(), a.journal.size());
    assert_eq!(
        one.consent("+5511999990000", "whatsapp").await.unwrap(),
        Some("opt_in".into())
    );

    let other = database(Which::of(&one)).await.unwrap();
    let fresh = other.store().await;
    Projector::rebuild(fresh.clone(), &a.journal).await.unwrap();
    assert_eq!(one.dump().await.unwrap(), fresh.dump().await.unwrap());

    // A rebuild under a running node: the node notices the rows fell
    // behind it, folds again, and the rows come out whole.
    Projector::rebuild(two.clone(), &a.journal).await.unwrap();
    one.clear().await.unwrap();
    raise(&mut a, 1, 200);
    first.catch_up(&a.journal).await.unwrap();
    Projector::rebuild(fresh.clone(), &a.journal).await.unwrap();
    assert_eq!(one.dump().await.unwrap(), fresh.dump().await.unwrap());
    fresh.close().await;
    other.finish().await;
    one.close().await;
    two.close().await;
}

#[test]
fn urls_name_their_backend_and_hide_passwords() {
    use crate::{Backend, redact_url};
    assert_eq!(Backend::of_url("sqlite:///x.db").unwrap(), Backend::Sqlite);
    assert_eq!(
        Backend::of_url("postgres://u:p@h/db").unwrap(),
        Backend::Postgres
    );
    let err = Backend::of_url("mysql://u:secret@h/db").unwrap_err();
    assert!(!err.to_string().contains("secret"), "{err}");
    assert_eq!(
        redact_url("postgres://u:p@h:5/db"),
        "postgres://u:***@h:5/db"
    );
    assert_eq!(
        with_database("postgres://u@h:5/postgres?sslmode=disable", "t1"),
        "postgres://u@h:5/t1?sslmode=disable"
    );
}

/// Every page of a keyset list, `limit` at a time, asserting each page but
/// the last is full; `fetch(after)` gives (rows, next key).
async fn walk<T, F, Fut>(limit: usize, mut fetch: F) -> Vec<T>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: std::future::Future<Output = (Vec<T>, Option<String>)>,
{
    let mut all = Vec::new();
    let mut after = None;
    loop {
        let (rows, next) = fetch(after.clone()).await;
        assert!(rows.len() <= limit);
        if next.is_some() {
            assert_eq!(rows.len(), limit, "a page before the last is full");
        }
        all.extend(rows);
        match next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    all
}

fn consent_on(party: &str, channel: &str, state: ConsentState, evidence: &str) -> Event {
    Event::Consent(ConsentChange {
        channel: channel.into(),
        party: party.into(),
        state,
        evidence: evidence.into(),
        at: Timestamp::now(),
        recorded_by: "api".into(),
    })
}

fn custodian_scope(who: &str) -> HoldScope {
    HoldScope {
        custodians: vec![who.into()],
        ..Default::default()
    }
}

async fn holds_page_active_first_and_filter_by_state(db: &Db) {
    use crate::HoldState;
    let a = archive();
    let mut holds = Holds::load(&a.journal).unwrap();
    let mut ids = Vec::new();
    for i in 0..5 {
        let scope = HoldScope {
            custodians: vec!["ana".into()],
            participants: vec![format!("+55 11 9999{i}-0000")],
            ..Default::default()
        };
        ids.push(
            holds
                .place(&a.journal, "cco", &format!("Matter {i}"), "a letter", scope)
                .unwrap(),
        );
    }
    holds
        .release(&a.journal, "cco", &ids[1], "settled")
        .unwrap();
    holds
        .release(&a.journal, "cco", &ids[3], "withdrawn")
        .unwrap();
    let store = db.store().await;
    let mut projector = Projector::open(store.clone(), &a.journal).await.unwrap();
    projector.catch_up(&a.journal).await.unwrap();

    let every = walk(2, |after| {
        let store = store.clone();
        async move {
            let p = store
                .holds(HoldState::Any, after.as_deref(), 2)
                .await
                .unwrap();
            (p.holds, p.next)
        }
    })
    .await;
    let got: Vec<&str> = every.iter().map(|h| h.id.as_str()).collect();
    // Active first, newest placed first within each group.
    let expected: Vec<&str> = [4, 2, 0, 3, 1].iter().map(|i| ids[*i].as_str()).collect();
    assert_eq!(got, expected);
    assert!(
        every[..3]
            .iter()
            .all(|h| h.active && h.released_at.is_none())
    );
    assert!(every[3..].iter().all(|h| !h.active));
    let one = store.holds(HoldState::Any, None, 100).await.unwrap();
    assert_eq!(one.holds, every, "paged or not, the same rows");
    assert!(one.next.is_none());
    // What the hold covers comes back as placed (participants normalised).
    assert_eq!(every[0].name, "Matter 4");
    assert_eq!(every[0].custodians, vec!["ana".to_string()]);
    assert_eq!(every[0].participants, vec![party_id("+5511999940000")]);
    assert_eq!(every[0].placed_by, "cco");
    // Filters.
    let active = store.holds(HoldState::Active, None, 100).await.unwrap();
    assert_eq!(active.holds.len(), 3);
    let released = store.holds(HoldState::Released, None, 1).await.unwrap();
    assert_eq!(released.holds[0].id, ids[3]);
    assert_eq!(
        released.holds[0].release_reason.as_deref(),
        Some("withdrawn")
    );
    assert_eq!(released.holds[0].released_by.as_deref(), Some("cco"));
    let rest = store
        .holds(HoldState::Released, released.next.as_deref(), 1)
        .await
        .unwrap();
    assert_eq!(rest.holds[0].id, ids[1]);
    assert!(rest.next.is_none());
    // A released hold shows at once.
    holds.release(&a.journal, "cco", &ids[4], "done").unwrap();
    projector.catch_up(&a.journal).await.unwrap();
    let active = store.holds(HoldState::Active, None, 100).await.unwrap();
    assert_eq!(active.holds.len(), 2);
    // Keys no page gave.
    for bad in ["yesterday", "7:1:LH-1", "1:x:LH-1", "1:5:"] {
        let err = store.holds(HoldState::Any, Some(bad), 2).await.unwrap_err();
        assert!(matches!(err, crate::Error::Cursor(_)), "{bad}: {err}");
        assert!(err.to_string().contains(bad), "{err}");
    }
    store.close().await;
}

async fn a_partys_consent_pages_newest_first_with_its_state_now(db: &Db) {
    let a = archive();
    let ana = "+55 11 99999-0000";
    let mut seqs = Vec::new();
    for (i, (channel, state)) in [
        ("whatsapp", ConsentState::OptIn),
        ("sms", ConsentState::OptIn),
        ("whatsapp", ConsentState::OptOut),
        ("sms", ConsentState::OptOut),
        ("whatsapp", ConsentState::OptIn),
    ]
    .into_iter()
    .enumerate()
    {
        // Any written form of the number is the same party.
        let form = if i % 2 == 0 { ana } else { "+5511999990000" };
        seqs.push(append(
            &a.journal,
            consent_on(form, channel, state, &format!("change {i}")),
        ));
    }
    append(
        &a.journal,
        consent_on("+5511777770000", "whatsapp", ConsentState::OptOut, "STOP"),
    );
    let store = db.store().await;
    let mut projector = Projector::open(store.clone(), &a.journal).await.unwrap();
    projector.catch_up(&a.journal).await.unwrap();

    let history = walk(2, |after| {
        let store = store.clone();
        async move {
            let p = store
                .consent_history("5511999990000", None, after.as_deref(), 2)
                .await
                .unwrap();
            (p.changes, p.next)
        }
    })
    .await;
    let got: Vec<u64> = history.iter().map(|c| c.seq).collect();
    let mut newest_first = seqs.clone();
    newest_first.reverse();
    assert_eq!(got, newest_first, "every change, newest first");
    assert_eq!(history[0].evidence, "change 4");
    assert_eq!(history[0].state, ConsentState::OptIn);
    assert_eq!(history[0].recorded_by, "api");
    let sms = store
        .consent_history(ana, Some("sms"), None, 10)
        .await
        .unwrap();
    assert_eq!(
        sms.changes.iter().map(|c| c.seq).collect::<Vec<_>>(),
        vec![seqs[3], seqs[1]]
    );
    let now = store.consent_now(ana).await.unwrap();
    let now: Vec<(&str, ConsentState, u64)> = now
        .iter()
        .map(|n| (n.channel.as_str(), n.state, n.seq))
        .collect();
    assert_eq!(
        now,
        vec![
            ("sms", ConsentState::OptOut, seqs[3]),
            ("whatsapp", ConsentState::OptIn, seqs[4]),
        ]
    );
    // Two parties; the second's last word is an opt-out; Ana's last change
    // (whatsapp) is an opt-in.
    let figures = store.consent_figures().await.unwrap();
    assert_eq!((figures.parties, figures.opted_out), (2, 1));
    // Nobody on record: empty, not an error.
    assert!(
        store
            .consent_history("+5511000000000", None, None, 10)
            .await
            .unwrap()
            .changes
            .is_empty()
    );
    assert!(
        store
            .consent_now("+5511000000000")
            .await
            .unwrap()
            .is_empty()
    );
    let err = store
        .consent_history(ana, None, Some("last week"), 2)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("last week"), "{err}");
    store.close().await;
}

async fn cases_page_open_first_with_searches_holds_and_decisions(db: &Db) {
    use crate::CaseState;
    let a = archive();
    let mut cases = Cases::load(&a.journal).unwrap();
    let mut holds = Holds::load(&a.journal).unwrap();
    let mut ids = Vec::new();
    for i in 0..4 {
        ids.push(
            cases
                .open(
                    &a.journal,
                    "cco",
                    Opening {
                        name: format!("Inquiry {i}"),
                        description: format!("desk inquiry {i}"),
                        custodians: vec!["ana".into()],
                        from: Some(Timestamp::from_micros(1_780_000_000_000_000)),
                        to: None,
                    },
                )
                .unwrap(),
        );
    }
    cases
        .save_search(&a.journal, "cco", &ids[2], "promises", "guaranteed")
        .unwrap();
    cases
        .save_search(&a.journal, "cco", &ids[2], "apps", "telegram OR signal")
        .unwrap();
    for (seq, tag) in [
        (10, Tag::Relevant),
        (11, Tag::Relevant),
        (12, Tag::Privileged),
        (13, Tag::NotRelevant),
        (12, Tag::Relevant),
    ] {
        cases.tag(&a.journal, "cco", &ids[2], seq, tag, "").unwrap();
    }
    let hold = cases
        .hold(&a.journal, &mut holds, "cco", &ids[2], "preserve")
        .unwrap();
    cases.close(&a.journal, "cco", &ids[1], "answered").unwrap();
    let store = db.store().await;
    let mut projector = Projector::open(store.clone(), &a.journal).await.unwrap();
    projector.catch_up(&a.journal).await.unwrap();

    let every = walk(3, |after| {
        let store = store.clone();
        async move {
            let p = store
                .cases(CaseState::Any, after.as_deref(), 3)
                .await
                .unwrap();
            (p.cases, p.next)
        }
    })
    .await;
    let got: Vec<&str> = every.iter().map(|c| c.id.as_str()).collect();
    let expected: Vec<&str> = [3, 2, 0, 1].iter().map(|i| ids[*i].as_str()).collect();
    assert_eq!(got, expected, "open first, newest opened first");
    let two = &every[1];
    assert!(two.open);
    assert_eq!(two.name, "Inquiry 2");
    assert_eq!(two.custodians, vec!["ana".to_string()]);
    assert_eq!(
        two.from,
        Some(Timestamp::from_micros(1_780_000_000_000_000))
    );
    assert_eq!(two.holds, vec![hold]);
    let searches: Vec<(&str, &str)> = two
        .searches
        .iter()
        .map(|s| (s.name.as_str(), s.query.as_str()))
        .collect();
    assert_eq!(
        searches,
        vec![("apps", "telegram OR signal"), ("promises", "guaranteed")]
    );
    // The later tag of a message stands: 10, 11, 12 relevant; 13 not.
    assert_eq!(
        (
            two.decisions.relevant,
            two.decisions.not_relevant,
            two.decisions.privileged
        ),
        (3, 1, 0)
    );
    assert!(every[0].searches.is_empty() && every[0].holds.is_empty());
    let closed = store.cases(CaseState::Closed, None, 10).await.unwrap();
    assert_eq!(closed.cases.len(), 1);
    assert_eq!(closed.cases[0].id, ids[1]);
    assert!(!closed.cases[0].open);
    assert_eq!(closed.cases[0].close_reason.as_deref(), Some("answered"));
    let open = store.cases(CaseState::Open, None, 10).await.unwrap();
    assert_eq!(open.cases.len(), 3);
    let err = store
        .cases(CaseState::Any, Some("CASE-1"), 2)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("CASE-1"), "{err}");
    store.close().await;
}

async fn users_page_by_id_with_their_tokens_and_no_secret(db: &Db) {
    let a = archive();
    let mut users = Users::load(&a.journal).unwrap();
    let mut secrets = Vec::new();
    for (id, role) in [
        ("rita", Role::Reviewer),
        ("adam", Role::Admin),
        ("cora", Role::ComplianceOfficer),
    ] {
        users
            .add(
                &a.journal,
                "admin",
                NewUser {
                    id: id.into(),
                    name: format!("{id} the {role}"),
                    roles: [role].into(),
                    units: if role == Role::Reviewer {
                        vec!["fx".into()]
                    } else {
                        vec![]
                    },
                    custodian: None,
                },
                "a long enough password 1",
            )
            .unwrap();
    }
    let expires = Timestamp::from_micros(1_900_000_000_000_000);
    let (first, secret) = users
        .create_token(&a.journal, "admin", "rita", &Default::default(), expires)
        .unwrap();
    secrets.push(secret);
    let (second, secret) = users
        .create_token(
            &a.journal,
            "admin",
            "rita",
            &[Role::Reviewer].into(),
            expires,
        )
        .unwrap();
    secrets.push(secret);
    users.revoke_token(&a.journal, "admin", &first.id).unwrap();
    users.disable(&a.journal, "admin", "adam").unwrap();
    let store = db.store().await;
    let mut projector = Projector::open(store.clone(), &a.journal).await.unwrap();
    projector.catch_up(&a.journal).await.unwrap();

    let every = walk(2, |after| {
        let store = store.clone();
        async move {
            let p = store.users(after.as_deref(), 2).await.unwrap();
            (p.users, p.next)
        }
    })
    .await;
    let got: Vec<&str> = every.iter().map(|u| u.id.as_str()).collect();
    assert_eq!(got, ["adam", "cora", "rita"], "by id");
    assert!(every[0].disabled && !every[1].disabled);
    assert_eq!(every[2].roles, vec![Role::Reviewer]);
    assert_eq!(every[2].units, vec!["fx".to_string()]);
    assert_eq!(every[2].name, "rita the reviewer");
    let tokens: Vec<(&str, bool, &[Role])> = every[2]
        .tokens
        .iter()
        .map(|t| (t.id.as_str(), t.revoked, t.roles.as_slice()))
        .collect();
    assert_eq!(
        tokens,
        vec![
            // No roles asked for: the user's.
            (first.id.as_str(), true, &[Role::Reviewer][..]),
            (second.id.as_str(), false, &[Role::Reviewer][..]),
        ]
    );
    assert_eq!(every[2].tokens[1].expires_at, expires);
    assert!(every[0].tokens.is_empty());
    // Never a secret, whatever form the rows are given in.
    let text = format!("{every:?} {}", serde_json::to_string(&every).unwrap());
    assert!(!text.contains("argon2"), "{text}");
    for s in &secrets {
        let secret = s.expose();
        let tail = secret.rsplit('_').next().unwrap();
        assert!(!text.contains(tail), "a token secret in {text}");
    }
    assert!(store.users(Some(""), 2).await.is_err());
    store.close().await;
}

/// Appends `event` (taken from another journal) sealed under `subject`'s
/// key: system records are sealed under the archive's key, which cannot
/// be shredded, so this is how a test makes a hold, a case or a user whose
/// creating entry an erasure reaches.
fn sealed_under(journal: &Journal, event: &Event, subject: &str) -> u64 {
    journal.append(event, Some(subject)).unwrap().seq
}

/// The event of entry `seq` of `journal`.
fn event_at(journal: &Journal, seq: u64) -> Event {
    match journal.open_entry(&journal.entry(seq).unwrap()).unwrap() {
        custos_journal::Opened::Event(e) => e,
        other => panic!("entry {seq}: {other:?}"),
    }
}

async fn an_erasure_empties_the_readers_of_rows_under_its_key(db: &Db) {
    use crate::{CaseState, HoldState};
    let a = archive();
    let customer = "+5511999990000";
    // Records of the archive (under its own key) that must survive.
    let mut holds = Holds::load(&a.journal).unwrap();
    let kept_hold = holds
        .place(
            &a.journal,
            "cco",
            "Matter",
            "a letter",
            custodian_scope("ana"),
        )
        .unwrap();
    let mut cases = Cases::load(&a.journal).unwrap();
    let kept_case = cases
        .open(
            &a.journal,
            "cco",
            Opening {
                name: "Kept".into(),
                description: "stays".into(),
                custodians: vec!["ana".into()],
                from: None,
                to: None,
            },
        )
        .unwrap();
    let mut users = Users::load(&a.journal).unwrap();
    users
        .add(
            &a.journal,
            "admin",
            NewUser {
                id: "rita".into(),
                name: "Rita".into(),
                roles: [Role::Reviewer].into(),
                units: vec!["fx".into()],
                custodian: None,
            },
            "a long enough password 1",
        )
        .unwrap();
    // The same kinds of record, sealed under the customer's key.
    let scratch_dir = tempfile::tempdir().unwrap();
    let scratch = Journal::init(&scratch_dir.path().join("s"), None, "scratch").unwrap();
    let mut other_holds = Holds::load(&scratch).unwrap();
    let h = other_holds
        .place(
            &scratch,
            "cco",
            "Subject's matter",
            "theirs",
            custodian_scope("ben"),
        )
        .unwrap();
    let h_seq: u64 = h.trim_start_matches("LH-").parse().unwrap();
    let gone_hold = format!(
        "LH-{}",
        sealed_under(&a.journal, &event_at(&scratch, h_seq), customer)
    );
    let mut other_cases = Cases::load(&scratch).unwrap();
    let c = other_cases
        .open(
            &scratch,
            "cco",
            Opening {
                name: "Theirs".into(),
                description: "goes".into(),
                custodians: vec!["ben".into()],
                from: None,
                to: None,
            },
        )
        .unwrap();
    let c_seq: u64 = c.trim_start_matches("CASE-").parse().unwrap();
    let gone_case = format!(
        "CASE-{}",
        sealed_under(&a.journal, &event_at(&scratch, c_seq), customer)
    );
    let mut other_users = Users::load(&scratch).unwrap();
    let u_seq = other_users
        .add(
            &scratch,
            "admin",
            NewUser {
                id: "sam".into(),
                name: "Sam".into(),
                roles: [Role::Auditor].into(),
                units: vec![],
                custodian: None,
            },
            "a long enough password 1",
        )
        .unwrap();
    sealed_under(&a.journal, &event_at(&scratch, u_seq), customer);
    // Consent of the customer, and of someone else.
    append(&a.journal, consent(customer, ConsentState::OptIn));
    append(&a.journal, consent("+5511777770000", ConsentState::OptOut));

    let store = db.store().await;
    let mut projector = Projector::open(store.clone(), &a.journal).await.unwrap();
    projector.catch_up(&a.journal).await.unwrap();
    let hold_ids = |p: crate::HoldPage| p.holds.into_iter().map(|h| h.id).collect::<Vec<_>>();
    let case_ids = |p: crate::CasePage| p.cases.into_iter().map(|c| c.id).collect::<Vec<_>>();
    let user_ids = |p: crate::UserPage| p.users.into_iter().map(|u| u.id).collect::<Vec<_>>();
    let mut both = hold_ids(store.holds(HoldState::Any, None, 10).await.unwrap());
    both.sort();
    let mut want = vec![kept_hold.clone(), gone_hold.clone()];
    want.sort();
    assert_eq!(both, want);
    assert_eq!(
        case_ids(store.cases(CaseState::Any, None, 10).await.unwrap()),
        [gone_case, kept_case.clone()],
        "newest opened first"
    );
    assert_eq!(
        user_ids(store.users(None, 10).await.unwrap()),
        ["rita", "sam"]
    );
    assert_eq!(
        store
            .consent_history(customer, None, None, 10)
            .await
            .unwrap()
            .changes
            .len(),
        1
    );
    assert_eq!(store.consent_figures().await.unwrap().parties, 2);

    a.journal.shred(customer, "dpo", "erasure request").unwrap();
    projector.catch_up(&a.journal).await.unwrap();
    assert_eq!(
        hold_ids(store.holds(HoldState::Any, None, 10).await.unwrap()),
        [kept_hold]
    );
    assert_eq!(
        case_ids(store.cases(CaseState::Any, None, 10).await.unwrap()),
        [kept_case]
    );
    assert_eq!(user_ids(store.users(None, 10).await.unwrap()), ["rita"]);
    assert!(
        store
            .consent_history(customer, None, None, 10)
            .await
            .unwrap()
            .changes
            .is_empty()
    );
    assert!(store.consent_now(customer).await.unwrap().is_empty());
    assert_eq!(
        store.consent_figures().await.unwrap(),
        crate::ConsentFigures {
            parties: 1,
            opted_out: 1
        }
    );
    // A rebuild, which cannot open the erased entries, agrees.
    let other = database(Which::of(&store)).await.unwrap();
    let fresh = other.store().await;
    Projector::rebuild(fresh.clone(), &a.journal).await.unwrap();
    assert_eq!(fresh.dump().await.unwrap(), store.dump().await.unwrap());
    fresh.close().await;
    other.finish().await;
    store.close().await;
}
