//! Keys: the key-encryption key, per-subject data keys, the signing key.
//!
//! Content is encrypted with AES-256-GCM (ring) under a data key scoped to a
//! data subject, the external party whose data it is. Data keys are kept in
//! `keys/subjects`, each wrapped (AES-256-GCM) by the key-encryption key
//! (KEK), which comes from `keys/kek` (written by `init`) or from the
//! operator (an environment variable). Destroying a subject's data key
//! (crypto-shredding) rewrites the key store without it and leaves a
//! tombstone, so the subject's content can never be opened again while the
//! journal, which only commits to ciphertext digests, still verifies.
//!
//! The archive's own events (system and audit events) use the data key of
//! the reserved empty subject, which cannot be shredded.
//!
//! Records are keyed per subject *and period* (the calendar month of the
//! record's own time): the store names such a key `subject`, a NUL and
//! `YYYY-MM` ([`period_key_name`]), so retention can destroy one month of
//! one person's records ([`KeyStore::shred_ids`]) while erasure destroys
//! every key of the subject ([`KeyStore::shred`]). Records with no external
//! party use the pseudo subject "" with a period (never the archive's key).
//! Keys named by the subject alone were written before periods existed;
//! they keep working and belong to the subject like the others.
//!
//! Note: a rewrite replaces the file, but flash storage may keep old blocks
//! for a while; an archive that must guarantee physical erasure keeps its
//! KEK in a KMS and rotates it.

use crate::error::{Error, IoContext, Result};
use crate::frame;
use crate::fsutil;
use custos_model::Timestamp;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use std::collections::HashMap;
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

/// File header of `keys/subjects`.
pub const KEYSTORE_MAGIC: &[u8; 8] = b"CSTKEY\x00\x01";
/// File header of `keys/signing.key`.
pub const SIGNING_MAGIC: &[u8; 8] = b"CSTSIG\x00\x01";
/// The subject whose key encrypts the archive's own events.
pub const ARCHIVE_SUBJECT: &str = "";

/// Separates a subject from a period in a key's name (no party id holds it).
pub const PERIOD_SEPARATOR: char = '\0';

/// The key-store name of `subject`'s key for `period` (`YYYY-MM`).
pub fn period_key_name(subject: &str, period: &str) -> String {
    format!("{subject}{PERIOD_SEPARATOR}{period}")
}

/// Whether key name `name` belongs to `subject`: its unperiodised key or
/// one of its period keys.
fn belongs_to(name: &str, subject: &str) -> bool {
    name.strip_prefix(subject)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(PERIOD_SEPARATOR))
}

const DEK_AAD: &[u8] = b"custos-dek-v1";
const SIGNING_AAD: &[u8] = b"custos-signing-v1";
const RECORD_KEY: u8 = 1;
const RECORD_TOMBSTONE: u8 = 2;

/// Fills `buf` with cryptographically secure random bytes.
pub fn random(buf: &mut [u8]) {
    SystemRandom::new()
        .fill(buf)
        .expect("the operating system's random source failed");
}

/// The id of a data key: 16 random bytes, shown as hex. It names no one.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId([u8; 16]);

impl KeyId {
    /// Wraps 16 bytes.
    pub const fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(bytes)
    }

    /// The raw bytes.
    pub const fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

/// Seals `plaintext` under `key`: a random 96-bit nonce, then the
/// ciphertext and its tag.
fn seal(key: &LessSafeKey, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let mut nonce = [0u8; NONCE_LEN];
    random(&mut nonce);
    seal_with_nonce(key, nonce, aad, plaintext)
}

/// [`seal`] with a nonce the caller drew (it must never repeat for a key).
fn seal_with_nonce(
    key: &LessSafeKey,
    nonce: [u8; NONCE_LEN],
    aad: &[u8],
    plaintext: &[u8],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(NONCE_LEN + plaintext.len() + AES_256_GCM.tag_len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(plaintext);
    let mut body = out.split_off(NONCE_LEN);
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(aad),
        &mut body,
    )
    .expect("AES-GCM sealing of in-memory data");
    out.extend_from_slice(&body);
    out
}

/// Opens what [`seal`] made; `None` if it does not authenticate.
fn open(key: &LessSafeKey, aad: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
    if sealed.len() < NONCE_LEN + AES_256_GCM.tag_len() {
        return None;
    }
    let (nonce, body) = sealed.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
    let mut body = body.to_vec();
    let plain_len = key
        .open_in_place(nonce, Aad::from(aad), &mut body)
        .ok()?
        .len();
    body.truncate(plain_len);
    Some(body)
}

fn aes_key(bytes: &[u8; 32]) -> LessSafeKey {
    LessSafeKey::new(UnboundKey::new(&AES_256_GCM, bytes).expect("32-byte AES-256 key"))
}

/// The key-encryption key. Its `Debug` never shows the key.
#[derive(Clone)]
pub struct Kek([u8; 32]);

impl Kek {
    /// Parses 64 hex digits.
    pub fn from_hex(text: &str) -> Result<Kek> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text.trim(), &mut bytes)
            .map_err(|_| Error::Kek("expected 64 hex digits (32 bytes)".into()))?;
        Ok(Kek(bytes))
    }

    /// A new random key, with its hex form to store.
    pub fn generate() -> (Kek, String) {
        let mut bytes = [0u8; 32];
        random(&mut bytes);
        let text = hex::encode(bytes);
        (Kek(bytes), text)
    }

    fn wrap(&self, aad: &[u8], secret: &[u8]) -> Vec<u8> {
        seal(&aes_key(&self.0), aad, secret)
    }

    fn unwrap(&self, aad: &[u8], wrapped: &[u8]) -> Option<Vec<u8>> {
        open(&aes_key(&self.0), aad, wrapped)
    }

    /// A key for `purpose` derived from the KEK:
    /// `HMAC-SHA256(KEK, "custos derived key: " || purpose)`. Every holder
    /// of the KEK derives the same; it tells nothing of the KEK.
    pub(crate) fn derive(&self, purpose: &str) -> [u8; 32] {
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &self.0);
        let mut ctx = ring::hmac::Context::with_key(&key);
        ctx.update(b"custos derived key: ");
        ctx.update(purpose.as_bytes());
        ctx.sign()
            .as_ref()
            .try_into()
            .expect("HMAC-SHA256 is 32 bytes")
    }

    /// A keyed hash of a key's name (subject and period), so a shared
    /// database can hold one live key per name without naming anyone:
    /// `HMAC-SHA256(HMAC-SHA256(KEK, "custos key name tag"), name)`.
    pub(crate) fn name_tag(&self, name: &str) -> [u8; 32] {
        let derived = ring::hmac::sign(
            &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &self.0),
            b"custos key name tag",
        );
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, derived.as_ref());
        ring::hmac::sign(&key, name.as_bytes())
            .as_ref()
            .try_into()
            .expect("HMAC-SHA256 is 32 bytes")
    }
}

impl fmt::Debug for Kek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Kek(<redacted>)")
    }
}

/// A subject's data key. Its `Debug` never shows the key.
pub struct DataKey {
    id: KeyId,
    key: LessSafeKey,
    /// The raw key, kept to derive per-entry keys.
    secret: [u8; 32],
}

/// The info prefix of the per-entry key derivation.
const ENTRY_KEY_INFO: &[u8] = b"custos entry key";

/// An entry's own key: `HKDF-Expand(PRK = data key, info = "custos entry
/// key" || nonce, L = 32)` (RFC 5869; one block, so `HMAC-SHA256(PRK, info
/// || 0x01)`).
fn derive_entry_key(secret: &[u8; 32], nonce: &[u8]) -> [u8; 32] {
    let prk = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
    let mut ctx = ring::hmac::Context::with_key(&prk);
    ctx.update(ENTRY_KEY_INFO);
    ctx.update(nonce);
    ctx.update(&[1]);
    ctx.sign()
        .as_ref()
        .try_into()
        .expect("HMAC-SHA256 is 32 bytes")
}

/// Opens a payload sealed by [`DataKey::seal_entry`] with the entry's own
/// key (as disclosed in an export); `None` if it does not authenticate.
pub fn open_with_entry_key(entry_key: &[u8; 32], aad: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
    open(&aes_key(entry_key), aad, sealed)
}

impl DataKey {
    /// The key's id.
    pub fn id(&self) -> KeyId {
        self.id
    }

    /// Encrypts `plaintext`, binding it to `aad`.
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
        seal(&self.key, aad, plaintext)
    }

    /// Decrypts what [`DataKey::seal`] made; `None` if it does not authenticate.
    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
        open(&self.key, aad, sealed)
    }

    /// Encrypts a journal entry under its own key, derived from this key
    /// and a fresh random nonce: nonce, then ciphertext and tag.
    pub fn seal_entry(&self, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        random(&mut nonce);
        let key = aes_key(&derive_entry_key(&self.secret, &nonce));
        seal_with_nonce(&key, nonce, aad, plaintext)
    }

    /// The own key of the entry whose sealed payload is `sealed` (its
    /// first 12 bytes are the nonce); `None` if it is too short.
    pub fn entry_key(&self, sealed: &[u8]) -> Option<[u8; 32]> {
        let nonce = sealed.get(..NONCE_LEN)?;
        Some(derive_entry_key(&self.secret, nonce))
    }

    /// Decrypts what [`DataKey::seal_entry`] made.
    pub fn open_entry(&self, aad: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
        open_with_entry_key(&self.entry_key(sealed)?, aad, sealed)
    }
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DataKey({}, <redacted>)", self.id)
    }
}

/// What the key store knows about a key id.
#[derive(Clone, Debug)]
pub enum KeyState {
    /// The key is present.
    Present(Arc<DataKey>),
    /// The key was destroyed at this time.
    Shredded(Timestamp),
    /// The key store never held it.
    Unknown,
}

struct Store {
    file: File,
    /// Keys were written since the last [`KeyStore::sync`].
    dirty: bool,
    by_subject: HashMap<String, Arc<DataKey>>,
    by_id: HashMap<KeyId, Arc<DataKey>>,
    /// The name (subject, maybe with a period) of each live key.
    names: HashMap<KeyId, String>,
    /// The wrapped record of each key, to rewrite the file on shredding.
    records: HashMap<KeyId, Vec<u8>>,
    tombstones: HashMap<KeyId, Timestamp>,
}

/// A key store record, decoded.
pub(crate) enum Record {
    /// A live key and its name.
    Key {
        id: KeyId,
        name: String,
        key: Arc<DataKey>,
    },
    /// A destroyed key.
    Tombstone { id: KeyId, at: Timestamp },
}

fn parse_id(body: &[u8]) -> Option<KeyId> {
    body.get(1..17).and_then(|b| b.try_into().ok()).map(KeyId)
}

/// Decodes one record body (`kind | key id | rest`); `path` and `offset`
/// name where it was read, for errors.
pub(crate) fn parse_record(kek: &Kek, path: &Path, offset: usize, body: &[u8]) -> Result<Record> {
    let corrupt = |problem: &str| Error::Corrupt {
        path: path.to_path_buf(),
        offset: offset as u64,
        seq: None,
        problem: problem.to_string(),
    };
    let (&kind, rest) = body.split_first().ok_or_else(|| corrupt("empty record"))?;
    let id = parse_id(body).ok_or_else(|| corrupt("record too short"))?;
    match kind {
        RECORD_KEY => {
            let plain = kek
                .unwrap(&[DEK_AAD, id.as_bytes()].concat(), &rest[16..])
                .ok_or_else(|| {
                    Error::Kek(format!(
                        "it does not open the data keys in {}: wrong key-encryption key?",
                        path.display()
                    ))
                })?;
            if plain.len() < 32 {
                return Err(corrupt("wrapped key too short"));
            }
            let name = String::from_utf8(plain[32..].to_vec())
                .map_err(|_| corrupt("subject is not UTF-8"))?;
            let secret: [u8; 32] = plain[..32].try_into().expect("32 bytes");
            let key = Arc::new(DataKey {
                id,
                key: aes_key(&secret),
                secret,
            });
            Ok(Record::Key { id, name, key })
        }
        RECORD_TOMBSTONE => {
            let at = rest
                .get(16..24)
                .map(|b| i64::from_le_bytes(b.try_into().expect("8 bytes")))
                .ok_or_else(|| corrupt("tombstone too short"))?;
            Ok(Record::Tombstone {
                id,
                at: Timestamp::from_micros(at),
            })
        }
        _ => Err(corrupt("unknown record kind")),
    }
}

/// The tombstone record of key `id`, destroyed at `at`.
pub(crate) fn tombstone_record(id: KeyId, at: Timestamp) -> Vec<u8> {
    [
        &[RECORD_TOMBSTONE][..],
        id.as_bytes(),
        &at.as_micros().to_le_bytes(),
    ]
    .concat()
}

/// The durable set of data keys, one per subject.
pub struct KeyStore {
    path: PathBuf,
    kek: Kek,
    store: RwLock<Store>,
}

impl fmt::Debug for KeyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyStore({})", self.path.display())
    }
}

impl KeyStore {
    /// Creates an empty key store at `path`, with the archive's own key.
    pub fn create(path: &Path, kek: Kek) -> Result<KeyStore> {
        fsutil::replace_durably(path, KEYSTORE_MAGIC)?;
        let store = KeyStore::open(path, kek)?;
        store.key_for(ARCHIVE_SUBJECT)?;
        Ok(store)
    }

    /// Opens the key store at `path`, unwrapping every key with `kek`.
    ///
    /// A torn last record (a key whose write a crash cut short) is cut
    /// away: no entry was acknowledged under it, since a key is durable
    /// before any entry uses it.
    pub fn open(path: &Path, kek: Kek) -> Result<KeyStore> {
        let bytes = fsutil::read_with_magic(path, KEYSTORE_MAGIC)?;
        let mut by_subject = HashMap::new();
        let mut by_id = HashMap::new();
        let mut names = HashMap::new();
        let mut records = HashMap::new();
        let mut tombstones = HashMap::new();
        let mut frames = frame::Frames::new(&bytes, KEYSTORE_MAGIC.len());
        for f in frames.by_ref() {
            match parse_record(&kek, path, f.offset, f.body)? {
                Record::Key { id, name, key } => {
                    names.insert(id, name.clone());
                    by_subject.insert(name, key.clone());
                    by_id.insert(id, key);
                }
                Record::Tombstone { id, at } => {
                    tombstones.insert(id, at);
                }
            }
            records.insert(parse_id(f.body).expect("parsed"), f.body.to_vec());
        }
        let good_len = match frames.end() {
            Some(frame::End::Torn { offset }) => *offset,
            Some(frame::End::Corrupt { offset, problem }) => {
                return Err(Error::Corrupt {
                    path: path.to_path_buf(),
                    offset: *offset as u64,
                    seq: None,
                    problem: (*problem).to_string(),
                });
            }
            _ => bytes.len(),
        };
        let file = OpenOptions::new().append(true).open(path).at(path)?;
        if good_len < bytes.len() {
            tracing::warn!(path = %path.display(), offset = good_len, "cutting torn key store record");
            file.set_len(good_len as u64).at(path)?;
            file.sync_all().at(path)?;
        }
        Ok(KeyStore {
            path: path.to_path_buf(),
            kek,
            store: RwLock::new(Store {
                file,
                dirty: false,
                by_subject,
                by_id,
                names,
                records,
                tombstones,
            }),
        })
    }

    fn lock(&self) -> std::sync::RwLockWriteGuard<'_, Store> {
        self.store.write().unwrap_or_else(|e| e.into_inner())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Store> {
        self.store.read().unwrap_or_else(|e| e.into_inner())
    }

    /// The data key of `subject`, created if it has none. A new key is
    /// written at once but durable only after the next [`KeyStore::sync`],
    /// which the journal's writer runs before it makes any entry durable:
    /// so no acknowledged entry is ever encrypted under a lost key, and a
    /// batch of new subjects costs one fsync, not one each.
    pub fn key_for(&self, subject: &str) -> Result<Arc<DataKey>> {
        if let Some(key) = self.read().by_subject.get(subject) {
            return Ok(key.clone());
        }
        let mut store = self.lock();
        if let Some(key) = store.by_subject.get(subject) {
            return Ok(key.clone());
        }
        let mut id = [0u8; 16];
        random(&mut id);
        let id = KeyId(id);
        let mut secret = [0u8; 32];
        random(&mut secret);
        let wrapped = self.kek.wrap(
            &[DEK_AAD, id.as_bytes()].concat(),
            &[&secret[..], subject.as_bytes()].concat(),
        );
        let body = [&[RECORD_KEY][..], id.as_bytes(), &wrapped].concat();
        let mut framed = Vec::new();
        frame::write(&mut framed, &body);
        store.file.write_all(&framed).at(&self.path)?;
        store.dirty = true;
        let key = Arc::new(DataKey {
            id,
            key: aes_key(&secret),
            secret,
        });
        store.by_subject.insert(subject.to_string(), key.clone());
        store.by_id.insert(id, key.clone());
        store.names.insert(id, subject.to_string());
        store.records.insert(id, body);
        Ok(key)
    }

    /// The live key named `name`, if the store holds one (never creates).
    pub(crate) fn get(&self, name: &str) -> Option<Arc<DataKey>> {
        self.read().by_subject.get(name).cloned()
    }

    /// The key-encryption key.
    pub(crate) fn kek(&self) -> &Kek {
        &self.kek
    }

    /// A new key for `name` as a record body, not yet in the store: the
    /// cluster writer stores it in the database first, then
    /// [`adopt`](Self::adopt)s it.
    pub(crate) fn new_record(&self, name: &str) -> (KeyId, Vec<u8>) {
        let mut id = [0u8; 16];
        random(&mut id);
        let id = KeyId(id);
        let mut secret = [0u8; 32];
        random(&mut secret);
        let wrapped = self.kek.wrap(
            &[DEK_AAD, id.as_bytes()].concat(),
            &[&secret[..], name.as_bytes()].concat(),
        );
        (id, [&[RECORD_KEY][..], id.as_bytes(), &wrapped].concat())
    }

    /// Takes in a record another node (or this one, through the database)
    /// wrote: a new key is added to the store and its file; a tombstone
    /// destroys the key here too. Returns the id when a live key was
    /// destroyed now (its blobs are then removed by the caller). Records
    /// already held are skipped. The file is a cache of the database in
    /// cluster mode: it is not synced.
    pub(crate) fn adopt(&self, origin: &Path, body: &[u8]) -> Result<Option<KeyId>> {
        match parse_record(&self.kek, origin, 0, body)? {
            Record::Key { id, name, key } => {
                let mut store = self.lock();
                if store.by_id.contains_key(&id) || store.tombstones.contains_key(&id) {
                    return Ok(None);
                }
                let mut framed = Vec::new();
                frame::write(&mut framed, body);
                store.file.write_all(&framed).at(&self.path)?;
                store.by_subject.insert(name.clone(), key.clone());
                store.by_id.insert(id, key);
                store.names.insert(id, name);
                store.records.insert(id, body.to_vec());
                Ok(None)
            }
            Record::Tombstone { id, at } => {
                if self.read().by_id.contains_key(&id) {
                    return Ok(self.shred_ids(&[id], at)?.first().copied());
                }
                let mut store = self.lock();
                if store.tombstones.contains_key(&id) {
                    return Ok(None);
                }
                let mut framed = Vec::new();
                frame::write(&mut framed, body);
                store.file.write_all(&framed).at(&self.path)?;
                store.tombstones.insert(id, at);
                store.records.insert(id, body.to_vec());
                Ok(None)
            }
        }
    }

    /// Makes every key written so far durable.
    pub fn sync(&self) -> Result<()> {
        if !self.read().dirty {
            return Ok(());
        }
        let mut store = self.lock();
        if store.dirty {
            store.file.sync_data().at(&self.path)?;
            store.dirty = false;
        }
        Ok(())
    }

    /// What the store knows of key `id`.
    pub fn state(&self, id: KeyId) -> KeyState {
        let store = self.read();
        if let Some(key) = store.by_id.get(&id) {
            KeyState::Present(key.clone())
        } else if let Some(at) = store.tombstones.get(&id) {
            KeyState::Shredded(*at)
        } else {
            KeyState::Unknown
        }
    }

    /// The key id of `subject`, if it has a live key.
    pub fn key_id_of(&self, subject: &str) -> Option<KeyId> {
        self.read().by_subject.get(subject).map(|k| k.id)
    }

    /// The ids of every live key of `subject` (its unperiodised key and
    /// all its period keys), in order.
    pub fn ids_of(&self, subject: &str) -> Vec<KeyId> {
        let store = self.read();
        let mut ids: Vec<KeyId> = store
            .names
            .iter()
            .filter(|(_, name)| belongs_to(name, subject))
            .map(|(id, _)| *id)
            .collect();
        ids.sort();
        ids
    }

    /// The id of the archive's own key.
    pub fn archive_key_id(&self) -> Option<KeyId> {
        self.key_id_of(ARCHIVE_SUBJECT)
    }

    /// Destroys every data key of `subject` (all its periods): the store
    /// file is rewritten without them, with tombstones in their place.
    /// Returns the destroyed keys' ids (none if the subject had no key).
    pub fn shred(&self, subject: &str, at: Timestamp) -> Result<Vec<KeyId>> {
        if subject == ARCHIVE_SUBJECT {
            return Err(Error::Refused(
                "the archive's own key cannot be shredded".into(),
            ));
        }
        let ids = self.ids_of(subject);
        self.shred_ids(&ids, at)
    }

    /// Destroys the keys `ids` in one rewrite of the store file; ids that
    /// are already destroyed or unknown are skipped. Returns the ids
    /// destroyed now. The archive's own key is refused.
    pub fn shred_ids(&self, ids: &[KeyId], at: Timestamp) -> Result<Vec<KeyId>> {
        let mut store = self.lock();
        let archive = store.by_subject.get(ARCHIVE_SUBJECT).map(|k| k.id);
        if ids.iter().any(|id| Some(*id) == archive) {
            return Err(Error::Refused(
                "the archive's own key cannot be shredded".into(),
            ));
        }
        let mut live: Vec<KeyId> = ids
            .iter()
            .copied()
            .filter(|id| store.by_id.contains_key(id))
            .collect();
        live.sort();
        live.dedup();
        if live.is_empty() {
            return Ok(live);
        }
        // The new file is written from a copy: if the write fails, the
        // keys stay as they were, in memory and on disk.
        let mut records = store.records.clone();
        for id in &live {
            records.insert(*id, tombstone_record(*id, at));
        }
        let mut bytes = KEYSTORE_MAGIC.to_vec();
        let mut all: Vec<&KeyId> = records.keys().collect();
        all.sort();
        for id in all {
            frame::write(&mut bytes, &records[id]);
        }
        fsutil::replace_durably(&self.path, &bytes)?;
        store.records = records;
        store.file = OpenOptions::new()
            .append(true)
            .open(&self.path)
            .at(&self.path)?;
        for id in &live {
            if let Some(name) = store.names.remove(id) {
                store.by_subject.remove(&name);
            }
            store.by_id.remove(id);
            store.tombstones.insert(*id, at);
        }
        Ok(live)
    }
}

/// The Ed25519 key that signs tree heads. Its `Debug` never shows it.
pub struct SigningKey(ring::signature::Ed25519KeyPair);

impl SigningKey {
    /// Makes a new key and stores it at `path`, wrapped by `kek`.
    pub fn create(path: &Path, kek: &Kek) -> Result<SigningKey> {
        let mut seed = [0u8; 32];
        random(&mut seed);
        let mut bytes = SIGNING_MAGIC.to_vec();
        frame::write(&mut bytes, &kek.wrap(SIGNING_AAD, &seed));
        fsutil::replace_durably(path, &bytes)?;
        SigningKey::from_seed(&seed)
    }

    /// Loads the key stored at `path`.
    pub fn load(path: &Path, kek: &Kek) -> Result<SigningKey> {
        let bytes = fsutil::read_with_magic(path, SIGNING_MAGIC)?;
        let wrapped = frame::Frames::new(&bytes, SIGNING_MAGIC.len())
            .next()
            .ok_or_else(|| Error::Corrupt {
                path: path.to_path_buf(),
                offset: SIGNING_MAGIC.len() as u64,
                seq: None,
                problem: "no key record".into(),
            })?;
        let seed = kek.unwrap(SIGNING_AAD, wrapped.body).ok_or_else(|| {
            Error::Kek(format!(
                "it does not open {}: wrong key-encryption key?",
                path.display()
            ))
        })?;
        SigningKey::from_seed(&seed)
    }

    fn from_seed(seed: &[u8]) -> Result<SigningKey> {
        ring::signature::Ed25519KeyPair::from_seed_unchecked(seed)
            .map(SigningKey)
            .map_err(|_| Error::Kek("signing key seed is invalid".into()))
    }

    /// Signs `message`.
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.0
            .sign(message)
            .as_ref()
            .try_into()
            .expect("64-byte signature")
    }

    /// The public key.
    pub fn public_key(&self) -> [u8; 32] {
        use ring::signature::KeyPair;
        self.0
            .public_key()
            .as_ref()
            .try_into()
            .expect("32-byte public key")
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey(public {})", hex::encode(self.public_key()))
    }
}

/// Checks an Ed25519 signature.
pub fn verify_signature(public_key: &[u8; 32], message: &[u8], signature: &[u8; 64]) -> bool {
    ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, public_key)
        .verify(message, signature)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_keys_are_stable_per_kek_and_purpose() {
        let kek = Kek::from_hex(&"ab".repeat(32)).unwrap();
        let same = Kek::from_hex(&"ab".repeat(32)).unwrap();
        let other = Kek::from_hex(&"cd".repeat(32)).unwrap();
        let k = kek.derive("oidc state cookie");
        assert_eq!(k, same.derive("oidc state cookie"), "every node derives it");
        assert_ne!(k, kek.derive("another purpose"));
        assert_ne!(k, other.derive("oidc state cookie"));
        assert_ne!(&k[..], &[0xab; 32][..], "not the KEK itself");
    }

    #[test]
    fn keys_survive_reopen_and_shredding_destroys_only_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("subjects");
        let (kek, hex) = Kek::generate();
        let store = KeyStore::create(&path, kek).unwrap();
        let alice = store.key_for("+447700900001").unwrap();
        let bob = store.key_for("+5511988887777").unwrap();
        assert_eq!(store.key_for("+447700900001").unwrap().id(), alice.id());
        let sealed = alice.seal(b"aad", b"hello");
        let bob_sealed = bob.seal(b"aad", b"ola");
        drop(store);

        let store = KeyStore::open(&path, Kek::from_hex(&hex).unwrap()).unwrap();
        let KeyState::Present(key) = store.state(alice.id()) else {
            panic!("key lost")
        };
        assert_eq!(key.open(b"aad", &sealed).unwrap(), b"hello");
        assert!(key.open(b"other aad", &sealed).is_none());

        let at = Timestamp::from_micros(42);
        assert_eq!(store.shred("+447700900001", at).unwrap(), [alice.id()]);
        assert!(store.shred("+447700900001", at).unwrap().is_empty());
        drop(store);

        let raw = std::fs::read(&path).unwrap();
        let store = KeyStore::open(&path, Kek::from_hex(&hex).unwrap()).unwrap();
        assert!(matches!(store.state(alice.id()), KeyState::Shredded(t) if t == at));
        let KeyState::Present(bob_key) = store.state(bob.id()) else {
            panic!("bob lost")
        };
        assert_eq!(bob_key.open(b"aad", &bob_sealed).unwrap(), b"ola");
        // The wrapped key bytes are gone from the file.
        let alice_record = raw.windows(16).any(|w| w == alice.id().as_bytes());
        assert!(alice_record, "tombstone keeps the id");
        assert!(store.key_id_of("+447700900001").is_none());
        assert!(matches!(
            store.shred(ARCHIVE_SUBJECT, at),
            Err(Error::Refused(_))
        ));
    }

    #[test]
    fn a_wrong_kek_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("subjects");
        KeyStore::create(&path, Kek::generate().0).unwrap();
        let err = KeyStore::open(&path, Kek::generate().0).unwrap_err();
        assert!(
            err.to_string().contains("wrong key-encryption key"),
            "{err}"
        );
    }

    #[test]
    fn debug_never_shows_secrets() {
        let (kek, hex) = Kek::generate();
        assert!(!format!("{kek:?}").contains(&hex));
        assert_eq!(format!("{kek:?}"), "Kek(<redacted>)");
    }
}
