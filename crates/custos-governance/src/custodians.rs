//! Custodians: the employees whose business messages are captured, with
//! their work number, their desks or business units and the date they
//! opted in to oversight.
//!
//! Enrolment is a `custodian.add` system event under the archive's own key;
//! the registry is the fold of those events ([`registry`]). The units are
//! what information barriers scope reviewers by.
//!
//! The custodian's signed acknowledgement of oversight (a PDF, a scan) can
//! be kept with the enrolment: its bytes go to the blob store under the
//! archive's key and the event names them by SHA-256 ([`Acknowledgement`]);
//! given later for a custodian already enrolled, it is recorded by a
//! `custodian.acknowledgement` event.

use custos_journal::{Journal, Opened};
use custos_model::{Event, EventKind};
use serde::Serialize;
use std::collections::BTreeMap;

/// The action of an enrolment event.
pub const ADD_ACTION: &str = "custodian.add";
/// The action of an acknowledgement recorded after enrolment.
pub const ACKNOWLEDGEMENT_ACTION: &str = "custodian.acknowledgement";

/// A signed acknowledgement document to keep with an enrolment.
#[derive(Clone, Debug)]
pub struct Acknowledgement {
    /// The file's name as given (for the record).
    pub file_name: String,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

/// Where an enrolment's acknowledgement is stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct StoredAcknowledgement {
    /// The file's name as given.
    pub file_name: String,
    /// SHA-256 of the bytes (the blob's name, under the archive's key).
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
    /// The entry that recorded it.
    #[serde(default)]
    pub seq: u64,
}

/// Why an enrolment or a value in it was refused.
#[derive(Debug, thiserror::Error)]
pub enum CustodianError {
    /// A value is malformed; the message names the field and the value.
    #[error("{0}")]
    Invalid(String),
    /// The id or the number is already enrolled differently.
    #[error("{0}")]
    Conflict(String),
    /// The journal failed.
    #[error(transparent)]
    Journal(#[from] custos_journal::Error),
}

type Result<T> = std::result::Result<T, CustodianError>;

macro_rules! bail {
    ($($arg:tt)*) => { return Err(CustodianError::Invalid(format!($($arg)*))) };
}

/// An enrolled custodian.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Custodian {
    /// Their identifier.
    pub id: String,
    /// Full name.
    pub name: String,
    /// Work number, normalised (`+` and digits).
    pub phone: String,
    /// The date they opted in to oversight (YYYY-MM-DD).
    pub opted_in: String,
    /// Business units or desks.
    pub units: Vec<String>,
    /// Roles (lower case), for retention rules.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    /// The journal entry that enrolled them.
    pub seq: u64,
    /// When they were enrolled.
    pub enrolled_at: String,
    /// Who enrolled them.
    pub enrolled_by: String,
    /// Their signed acknowledgement of oversight, if one was kept.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acknowledgement: Option<StoredAcknowledgement>,
}

impl Custodian {
    /// Whether an enrolment with these values would change nothing.
    pub fn same_data(&self, name: &str, phone: &str, opted_in: &str, units: &[String]) -> bool {
        self.name == name && self.phone == phone && self.opted_in == opted_in && self.units == units
    }
}

/// A phone number as compared: `+` and its digits, spaces, dashes, dots
/// and brackets dropped. Refuses anything else and implausible lengths.
pub fn normalise_phone(number: &str) -> Result<String> {
    let trimmed = number.trim();
    let body = trimmed.strip_prefix('+').unwrap_or(trimmed);
    if let Some(c) = body
        .chars()
        .find(|c| !(c.is_ascii_digit() || matches!(c, ' ' | '-' | '.' | '(' | ')')))
    {
        bail!("phone number {number:?}: unexpected character {c:?}");
    }
    let digits: String = body.chars().filter(char::is_ascii_digit).collect();
    if !(6..=15).contains(&digits.len()) {
        bail!(
            "phone number {number:?}: expected 6 to 15 digits, got {}",
            digits.len()
        );
    }
    Ok(format!("+{digits}"))
}

/// A date as `--opted-in` takes it: exactly `YYYY-MM-DD`, a real date.
pub fn parse_date(text: &str) -> Result<String> {
    let b = text.as_bytes();
    let shape = b.len() == 10
        && b.iter().enumerate().all(|(i, c)| {
            if i == 4 || i == 7 {
                *c == b'-'
            } else {
                c.is_ascii_digit()
            }
        });
    if !shape {
        bail!("--opted-in {text:?}: expected a date as YYYY-MM-DD");
    }
    let date: jiff::civil::Date = text
        .parse()
        .map_err(|e| CustodianError::Invalid(format!("--opted-in {text:?}: not a date: {e}")))?;
    Ok(date.to_string())
}

/// The custodian a `custodian.add` event at entry `seq` enrols (`None`
/// for any other event), for projections that fold the journal themselves.
pub fn from_event(seq: u64, event: &custos_model::SystemEvent) -> Option<Custodian> {
    if event.action != ADD_ACTION {
        return None;
    }
    let id = event.target.clone()?;
    let text = |key: &str| {
        event
            .details
            .get(key)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string()
    };
    let list = |key: &str| -> Vec<String> {
        event
            .details
            .get(key)
            .and_then(|v| v.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|u| u.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    Some(Custodian {
        id,
        name: text("name"),
        phone: text("phone"),
        opted_in: text("opted_in"),
        units: list("units"),
        roles: list("roles"),
        seq,
        enrolled_at: event.at.to_string(),
        enrolled_by: event.actor.clone(),
        acknowledgement: acknowledgement_of(seq, event),
    })
}

/// The signed acknowledgement an enrolment event (or a later
/// acknowledgement event) at `seq` names, if any.
fn acknowledgement_of(
    seq: u64,
    event: &custos_model::SystemEvent,
) -> Option<StoredAcknowledgement> {
    let mut a: StoredAcknowledgement =
        serde_json::from_value(event.details.get("acknowledgement")?.clone()).ok()?;
    a.seq = seq;
    Some(a)
}

/// The custodian registry as a fold of the journal's `custodian.add` and
/// `custodian.acknowledgement` events (the first enrolment of an id
/// stands), for projections that apply events one at a time.
#[derive(Clone, Debug, Default)]
pub struct Registry {
    /// The enrolled custodians by id.
    pub all: BTreeMap<String, Custodian>,
}

impl Registry {
    /// Applies one system event at entry `seq` (others are ignored).
    pub fn apply(&mut self, seq: u64, event: &custos_model::SystemEvent) {
        if event.action == ACKNOWLEDGEMENT_ACTION {
            let target = event.target.as_deref().unwrap_or_default();
            if let (Some(c), Some(a)) = (self.all.get_mut(target), acknowledgement_of(seq, event)) {
                c.acknowledgement = Some(a);
            }
            return;
        }
        if let Some(c) = from_event(seq, event) {
            self.all.entry(c.id.clone()).or_insert(c);
        }
    }
}

/// The enrolled custodians by id, from the journal's `custodian.add`
/// events (the first enrolment of an id stands).
pub fn registry(journal: &Journal) -> Result<BTreeMap<String, Custodian>> {
    let mut found = Registry::default();
    for entry in journal.entries(0) {
        let entry = entry?;
        if entry.leaf.kind != EventKind::System {
            continue;
        }
        let Opened::Event(Event::System(event)) = journal.open_entry(&entry)? else {
            continue;
        };
        found.apply(entry.leaf.seq, &event);
    }
    Ok(found.all)
}

/// What [`add`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Added {
    /// Enrolled now, at this entry.
    New(u64),
    /// Already enrolled with the same data; nothing written.
    Unchanged(u64),
    /// Already enrolled with the same data; the acknowledgement given was
    /// recorded now, at this entry.
    Acknowledged(u64),
}

/// Enrols a custodian. The same id again with the same data is a no-op;
/// with different data, or another custodian's number, an error.
pub fn add(
    journal: &Journal,
    actor: &str,
    id: &str,
    name: &str,
    phone: &str,
    opted_in: &str,
    units: &[String],
) -> Result<Added> {
    add_acknowledged(journal, actor, id, name, phone, opted_in, units, &[], None)
}

/// [`add`] with the custodian's `roles` (what retention rules and policies
/// may match: `trader`, `registered-representative`...), keeping the
/// signed acknowledgement `ack` with the enrolment (for a custodian already
/// enrolled with the same data, an acknowledgement not yet on record is
/// recorded on its own).
#[allow(clippy::too_many_arguments)]
pub fn add_acknowledged(
    journal: &Journal,
    actor: &str,
    id: &str,
    name: &str,
    phone: &str,
    opted_in: &str,
    units: &[String],
    roles: &[String],
    ack: Option<&Acknowledgement>,
) -> Result<Added> {
    if ack.is_some_and(|a| a.bytes.is_empty()) {
        bail!("--acknowledgement: the file is empty");
    }
    let store = |ack: &Acknowledgement| -> Result<serde_json::Value> {
        let blob = journal.put_archive_blob(&ack.bytes)?;
        Ok(serde_json::json!({
            "file_name": ack.file_name,
            "sha256": blob.digest.to_string(),
            "size": blob.size,
        }))
    };
    let id = id.trim();
    if id.is_empty() || id.chars().any(char::is_whitespace) {
        bail!("custodian id {id:?}: must be non-empty, without spaces");
    }
    let name = name.trim();
    if name.is_empty() {
        bail!("--name must not be empty");
    }
    let phone = normalise_phone(phone)?;
    let opted_in = parse_date(opted_in)?;
    let mut units: Vec<String> = units.iter().map(|u| u.trim().to_string()).collect();
    if units.iter().any(String::is_empty) {
        bail!("--unit must not be empty");
    }
    units.sort();
    units.dedup();
    let mut roles: Vec<String> = roles.iter().map(|r| r.trim().to_lowercase()).collect();
    if roles.iter().any(String::is_empty) {
        bail!("--role must not be empty");
    }
    roles.sort();
    roles.dedup();
    let registry = registry(journal)?;
    if let Some(known) = registry.get(id) {
        if known.same_data(name, &phone, &opted_in, &units) && known.roles == roles {
            let digest = ack.map(|a| custos_model::Digest::of(&a.bytes).to_string());
            let on_record = known.acknowledgement.as_ref().map(|a| a.sha256.clone());
            if let Some(ack) = ack
                && digest != on_record
            {
                let mut details = serde_json::Map::new();
                details.insert("acknowledgement".into(), store(ack)?);
                let appended =
                    journal.append_system(actor, ACKNOWLEDGEMENT_ACTION, Some(id), details)?;
                return Ok(Added::Acknowledged(appended.seq));
            }
            return Ok(Added::Unchanged(known.seq));
        }
        return Err(CustodianError::Conflict(format!(
            "custodian {id} is already enrolled with different data (name {:?}, phone {}, opted in {}, entry {}); enrolments are never changed",
            known.name, known.phone, known.opted_in, known.seq
        )));
    }
    if let Some(other) = registry.values().find(|c| c.phone == phone) {
        return Err(CustodianError::Conflict(format!(
            "phone number {phone} is already enrolled for custodian {}",
            other.id
        )));
    }
    let mut details = serde_json::Map::new();
    details.insert("name".into(), name.into());
    details.insert("phone".into(), phone.into());
    details.insert("opted_in".into(), opted_in.into());
    if !units.is_empty() {
        details.insert("units".into(), units.into());
    }
    if !roles.is_empty() {
        details.insert("roles".into(), roles.into());
    }
    if let Some(ack) = ack {
        // Durable before the event names it.
        details.insert("acknowledgement".into(), store(ack)?);
    }
    let appended = journal.append_system(actor, ADD_ACTION, Some(id), details)?;
    Ok(Added::New(appended.seq))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_numbers_compare_as_plus_and_digits() {
        assert_eq!(normalise_phone("+44 7700 900001").unwrap(), "+447700900001");
        assert_eq!(
            normalise_phone("(011) 98888-7777").unwrap(),
            "+011988887777"
        );
        assert_eq!(normalise_phone("447700900001").unwrap(), "+447700900001");
        assert!(normalise_phone("+44 7700 ext 1").is_err());
        assert!(normalise_phone("123").is_err());
        assert!(normalise_phone("").is_err());
    }

    #[test]
    fn an_acknowledgement_is_kept_as_a_blob_the_enrolment_names() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::init(dir.path(), None, "t").unwrap();
        let units = vec!["fx".to_string()];
        add(
            &journal,
            "hr",
            "E1",
            "Ana",
            "+44 7700 900001",
            "2026-01-02",
            &units,
        )
        .unwrap();
        assert!(registry(&journal).unwrap()["E1"].acknowledgement.is_none());
        let ack = Acknowledgement {
            file_name: "ana-signed.pdf".into(),
            bytes: b"%PDF-1.7 signed".to_vec(),
        };
        let added = add_acknowledged(
            &journal,
            "hr",
            "E1",
            "Ana",
            "+447700900001",
            "2026-01-02",
            &units,
            &[],
            Some(&ack),
        )
        .unwrap();
        assert!(matches!(added, Added::Acknowledged(_)));
        let stored = registry(&journal).unwrap()["E1"]
            .acknowledgement
            .clone()
            .unwrap();
        assert_eq!(stored.file_name, "ana-signed.pdf");
        let digest = custos_model::Digest::from_hex(&stored.sha256).unwrap();
        assert_eq!(journal.archive_blob(&digest).unwrap().unwrap(), ack.bytes);
        // The same document again records nothing.
        let again = add_acknowledged(
            &journal,
            "hr",
            "E1",
            "Ana",
            "+447700900001",
            "2026-01-02",
            &units,
            &[],
            Some(&ack),
        )
        .unwrap();
        assert!(matches!(again, Added::Unchanged(_)));
        let with_ack = add_acknowledged(
            &journal,
            "hr",
            "E2",
            "Bo",
            "+447700900002",
            "2026-01-02",
            &[],
            &[],
            Some(&ack),
        )
        .unwrap();
        let Added::New(seq) = with_ack else { panic!() };
        assert_eq!(
            registry(&journal).unwrap()["E2"]
                .acknowledgement
                .as_ref()
                .unwrap()
                .seq,
            seq
        );
    }

    #[test]
    fn opted_in_is_a_real_iso_date() {
        assert_eq!(parse_date("2026-03-12").unwrap(), "2026-03-12");
        assert!(parse_date("2026-02-30").is_err());
        assert!(parse_date("12/03/2026").is_err());
        assert!(parse_date("20260312").is_err());
        assert!(parse_date("2026-3-12").is_err());
    }
}
