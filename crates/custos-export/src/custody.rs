//! The custody manifest (`custody.json`) and the disclosed entries
//! (`custody/entries.jsonl`): what a third party needs to check an export
//! without the archive.

use crate::Disclosed;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use custos_journal::SignedTreeHead;
use custos_model::Timestamp;
use serde::{Deserialize, Serialize};

/// The `format` value of this version of the custody manifest.
pub const FORMAT: &str = "custos-export-custody/1";

/// `custody.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Custody {
    /// [`FORMAT`].
    pub format: String,
    /// What wrote it, e.g. `custos-export 0.1.0`.
    pub generator: String,
    /// The export's id.
    pub export_id: String,
    /// When the export was made.
    pub created_at: Timestamp,
    /// Who asked for it.
    pub actor: String,
    /// Why.
    pub reason: String,
    /// The search query that selected the messages.
    pub query: Option<String>,
    /// The matter it is for.
    pub matter: Option<String>,
    /// The time zone of transcripts and day boundaries.
    pub time_zone: String,
    /// `day`, `month` or `conversation`.
    pub slicing: String,
    /// The formats written.
    pub formats: Vec<String>,
    /// The Bates prefix.
    pub bates_prefix: String,
    /// Messages exported.
    pub messages: usize,
    /// Conversations exported.
    pub conversations: usize,
    /// The signed tree head the entries are proven against.
    pub head: CustodyHead,
    /// The archive's Ed25519 public key (hex) the head is signed with.
    pub public_key: String,
    /// The multi-proof hashes (hex), in order.
    pub proof: Vec<String>,
    /// Path of the disclosed entries file.
    pub entries: String,
    /// Lines in it.
    pub entry_count: usize,
    /// Every file of the export but `custody.json`, sorted by path.
    pub files: Vec<CustodyFile>,
    /// The redaction applied; absent from a full export.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redaction: Option<CustodyRedaction>,
}

/// What [`CustodyRedaction::statement`] says: how a redacted export
/// proves itself.
pub const REDACTED_STATEMENT: &str = "content redacted; checked against the archive by the producer: \
each entry was opened with its key and matched the event shown before redaction; \
entry keys, attachment bytes and event digests are withheld, \
leaves, ciphertexts and the multi-proof are disclosed";

/// `custody.json`'s account of a redaction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustodyRedaction {
    /// The profile: the detectors whose finds are masked
    /// (`payment_card,us_ssn,br_cpf`).
    pub profile: String,
    /// What the export withholds.
    pub withheld: Vec<String>,
    /// [`REDACTED_STATEMENT`].
    pub statement: String,
}

impl CustodyRedaction {
    /// The account of a redaction by `profile`.
    pub fn new(profile: &custos_policy::redact::Profile) -> Self {
        CustodyRedaction {
            profile: profile.to_string(),
            withheld: vec![
                "entry_keys".into(),
                "attachment_bytes".into(),
                "event_digests".into(),
            ],
            statement: REDACTED_STATEMENT.into(),
        }
    }
}

/// The signed tree head, field by field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustodyHead {
    /// Entries in the tree.
    pub tree_size: u64,
    /// The root hash (hex).
    pub root: String,
    /// When the head was signed (RFC 3339, microseconds).
    pub timestamp: Timestamp,
    /// SHA-256 of the previous head's encoding (hex; zeros for the first).
    pub previous: String,
    /// Ed25519 signature (hex).
    pub signature: String,
}

impl From<&SignedTreeHead> for CustodyHead {
    fn from(head: &SignedTreeHead) -> Self {
        CustodyHead {
            tree_size: head.tree_size,
            root: hex::encode(head.root),
            timestamp: head.timestamp,
            previous: hex::encode(head.previous),
            signature: hex::encode(head.signature),
        }
    }
}

impl CustodyHead {
    /// The head itself, if every field decodes.
    pub fn to_head(&self) -> Result<SignedTreeHead, String> {
        Ok(SignedTreeHead {
            tree_size: self.tree_size,
            root: hex_array(&self.root, "head.root")?,
            timestamp: self.timestamp,
            previous: hex_array(&self.previous, "head.previous")?,
            signature: hex_array(&self.signature, "head.signature")?,
        })
    }
}

/// Decodes `N` bytes of hex, naming `field` on failure.
pub fn hex_array<const N: usize>(text: &str, field: &str) -> Result<[u8; N], String> {
    let mut out = [0u8; N];
    hex::decode_to_slice(text, &mut out)
        .map_err(|_| format!("{field} is not {} hex digits", 2 * N))?;
    Ok(out)
}

/// One file of the export.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustodyFile {
    /// Path relative to the export root, `/`-separated.
    pub path: String,
    /// SHA-256 of its bytes (hex).
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
}

/// One line of `custody/entries.jsonl`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustodyEntry {
    /// The entry's journal seq.
    pub seq: u64,
    /// Its clear leaf (hex).
    pub leaf: String,
    /// Its payload: nonce, ciphertext and tag (standard base64).
    pub payload: String,
    /// The key that opens this entry only (hex); withheld (absent) in a
    /// redacted export.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry_key: Option<String>,
    /// The export files that show it.
    pub files: Vec<String>,
}

impl CustodyEntry {
    /// The line for a disclosed entry.
    pub fn new(entry: &Disclosed, files: Vec<String>) -> Self {
        CustodyEntry {
            seq: entry.seq,
            leaf: hex::encode(&entry.leaf),
            payload: STANDARD.encode(&entry.payload),
            entry_key: Some(hex::encode(entry.entry_key)),
            files,
        }
    }

    /// Leaf, payload and key as bytes, or what does not decode.
    pub fn decode(&self) -> Result<EntryBytes, String> {
        Ok(EntryBytes {
            leaf: hex::decode(&self.leaf).map_err(|_| "leaf is not hex".to_string())?,
            payload: STANDARD
                .decode(&self.payload)
                .map_err(|_| "payload is not base64".to_string())?,
            entry_key: match &self.entry_key {
                Some(key) => Some(hex_array(key, "entry_key")?),
                None => None,
            },
        })
    }
}

/// A disclosed entry's bytes, decoded from its line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntryBytes {
    /// The clear leaf.
    pub leaf: Vec<u8>,
    /// Nonce, ciphertext and tag.
    pub payload: Vec<u8>,
    /// The entry's own key, unless withheld.
    pub entry_key: Option<[u8; 32]>,
}

/// `custody.json`'s bytes: pretty JSON, LF line ends, a final newline.
pub fn to_bytes(custody: &Custody) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(custody).expect("custody serialises");
    bytes.push(b'\n');
    bytes
}
