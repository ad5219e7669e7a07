//! Slack workspace exports (the `.zip` of users.json, channels.json, dms.json, ... and one folder per conversation of per-day JSON files) into canonical messages, edits, deletions and reactions.
//!
//! ```text
//! users.json            [{"id":"U1","team_id":"T1","is_restricted":false,"profile":{"email":"a@firm.example"}}]
//! channels.json         [{"id":"C1","name":"general","members":["U1","U2"]}]   (groups.json, mpims.json alike)
//! dms.json              [{"id":"D1","members":["U1","U3"]}]
//! general/2024-06-10.json  [{"type":"message","user":"U1","text":"hi","ts":"1718003456.000100"}]
//! ```
//!
//! The message key is `ts`, unique within a conversation: a message's
//! source id is `<conversation id>:<ts>`, so re-importing the same export
//! (or a later, longer one) adds only what is new. Replies (`thread_ts`
//! other than their own `ts`) name their parent's source id in `reply_to`.
//! `message_changed` becomes an [`Edit`], `message_deleted` and
//! `tombstone` a [`Deletion`], each reaction user a [`Reaction`]; a message
//! carrying `edited{user,ts}` is archived with the text the export holds
//! (the edited one: the earlier text is not in an export, marked
//! `original_text_unknown`) plus an [`Edit`] at the edit's time.
//! Membership and housekeeping subtypes (joins, leaves, topics, pins, ...)
//! are counted, not archived. Files are links to the workspace, not bytes:
//! their metadata is kept in `extra.files`, each marked `not_in_export`.
//!
//! Users become their lower-cased e-mail address (`profile.email`) when the
//! export gives it, so one person is one party across channels, else
//! `slack:<team id>:<user id>`. A user is the firm's when their e-mail
//! domain is one of the firm's, or when they are a full member (not a
//! guest: `is_restricted`/`is_ultra_restricted`) of the export's own
//! workspace (the team most users belong to); bots are the firm's. Others
//! (guests, Slack Connect users of other teams, users the export does not
//! list) are external. A message's recipients are the conversation's
//! members and everyone who wrote in it, external parties first.
//!
//! Every message's `raw_digest` is the SHA-256 of the day file it came
//! from; `extra.source_file` and `extra.source_index` name its place. The
//! parser is pure: [`read_zip`] unpacks within limits, [`parse_export`]
//! checks the whole export and returns every event or the first error with
//! its file and JSON path.

use crate::whatsapp_export::ZipLimits;
use custos_journal::NewEntry;
use custos_model::{Deletion, Digest, Direction, Edit, Event, Message, Reaction, Timestamp};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Read;

/// The channel name of Slack events.
pub const CHANNEL: &str = "slack";

/// Recipients listed per message at most: beyond it (a large public
/// channel) only the external members are listed and the number of
/// internal ones left out is kept in `extra.recipients_omitted`.
pub const MAX_RECIPIENTS: usize = 1000;

/// Subtypes that record membership or housekeeping, not communication:
/// counted in [`SlackImport::skipped`], not archived.
pub const SKIPPED_SUBTYPES: &[&str] = &[
    "channel_join",
    "channel_leave",
    "group_join",
    "group_leave",
    "channel_topic",
    "channel_purpose",
    "channel_name",
    "group_topic",
    "group_purpose",
    "group_name",
    "channel_archive",
    "channel_unarchive",
    "group_archive",
    "group_unarchive",
    "pinned_item",
    "unpinned_item",
    "bot_add",
    "bot_remove",
    "message_replied",
    "channel_convert_to_private",
    "channel_convert_to_public",
];

/// The default caps on what [`read_zip`] unpacks: a million entries (one
/// per conversation and day) and 8 GiB.
pub const ZIP_LIMITS: ZipLimits = ZipLimits {
    max_entries: 1_000_000,
    max_total_bytes: 8 << 30,
};

/// Why an export could not be read; every variant names its place.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SlackError {
    /// The zip could not be read.
    #[error("zip: {0}")]
    Zip(String),
    /// The zip holds more entries than allowed.
    #[error("zip holds more than {max} entries")]
    TooManyEntries {
        /// The cap.
        max: usize,
    },
    /// The zip's entries unpack to more than allowed.
    #[error("zip entries unpack to more than {max} bytes (at {entry:?})")]
    TooLarge {
        /// The cap.
        max: u64,
        /// The entry being unpacked when the cap was reached.
        entry: String,
    },
    /// An entry name that is absolute or leaves the archive.
    #[error("zip entry {0:?} has an unsafe name (absolute, or leaving the archive)")]
    UnsafeName(String),
    /// An entry that cannot be unpacked.
    #[error("zip entry {name:?}: {problem}")]
    BadEntry {
        /// The entry.
        name: String,
        /// What is wrong.
        problem: String,
    },
    /// Neither users.json nor org_users.json.
    #[error("no users.json or org_users.json in the export: not a Slack workspace export")]
    NoUsers,
    /// A file that is not JSON.
    #[error("{file}: line {line}, column {column}: {problem}")]
    Json {
        /// The file, as named in the export.
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What the JSON reader says.
        problem: String,
    },
    /// A value that is missing or of the wrong shape.
    #[error("{file}: {path}: {problem}")]
    Field {
        /// The file, as named in the export.
        file: String,
        /// The JSON path of the value, e.g. `[3].ts`.
        path: String,
        /// What is wrong.
        problem: String,
    },
}

/// What [`parse_export`] needs besides the files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlackOptions {
    /// The firm's e-mail domains (lower case, no `@`).
    pub firm_domains: Vec<String>,
    /// When the import runs (the events' `captured_at`).
    pub captured_at: Timestamp,
}

/// A checked export: the events to append, in export order, and counts.
#[derive(Clone, Debug, Default)]
pub struct SlackImport {
    /// Messages, edits, deletions and reactions, each with its subject
    /// (the external party whose key seals it).
    pub entries: Vec<NewEntry>,
    /// Messages among the entries.
    pub messages: u64,
    /// Edits among the entries.
    pub edits: u64,
    /// Deletions among the entries.
    pub deletions: u64,
    /// Reactions among the entries.
    pub reactions: u64,
    /// Files named by messages whose bytes are not in the export.
    pub files_not_in_export: u64,
    /// Messages not archived, by subtype ([`SKIPPED_SUBTYPES`]).
    pub skipped: BTreeMap<String, u64>,
    /// Conversations with at least one day file.
    pub conversations: u64,
    /// Users listed.
    pub users: u64,
    /// The export's own workspace (the team most users belong to).
    pub workspace: Option<String>,
    /// Files of the export not read (integration_logs.json, canvases, ...).
    pub ignored_files: u64,
}

/// Unpacks a Slack export zip: every file by its name, `/`-separated.
///
/// Refuses entries whose name leaves the archive or is absolute, symbolic
/// links, encrypted entries, and stops at `limits` (counting bytes actually
/// unpacked).
pub fn read_zip(bytes: &[u8], limits: &ZipLimits) -> Result<BTreeMap<String, Vec<u8>>, SlackError> {
    let zip_err = |e: zip::result::ZipError| SlackError::Zip(e.to_string());
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(zip_err)?;
    if archive.len() > limits.max_entries {
        return Err(SlackError::TooManyEntries {
            max: limits.max_entries,
        });
    }
    let mut files = BTreeMap::new();
    let mut total: u64 = 0;
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).map_err(zip_err)?;
        let shown = entry
            .name()
            .map(|n| n.into_owned())
            .unwrap_or_else(|_| String::from_utf8_lossy(entry.name_raw()).into_owned());
        let absolute = shown.starts_with(['/', '\\']) || shown.get(1..2) == Some(":");
        let Some(path) = entry.enclosed_name().filter(|_| !absolute) else {
            return Err(SlackError::UnsafeName(shown));
        };
        if entry.is_dir() {
            continue;
        }
        let bad = |problem: &str| SlackError::BadEntry {
            name: shown.clone(),
            problem: problem.into(),
        };
        if entry.is_symlink() {
            return Err(bad("is a symbolic link"));
        }
        if entry.encrypted() {
            return Err(bad("is encrypted"));
        }
        let name = path
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("/");
        let room = limits.max_total_bytes.saturating_sub(total);
        let mut data = Vec::new();
        (&mut entry)
            .take(room.saturating_add(1))
            .read_to_end(&mut data)
            .map_err(|e| SlackError::Zip(format!("{shown}: {e}")))?;
        if data.len() as u64 > room {
            return Err(SlackError::TooLarge {
                max: limits.max_total_bytes,
                entry: shown,
            });
        }
        total += data.len() as u64;
        if files.insert(name, data).is_some() {
            return Err(bad("appears twice"));
        }
    }
    Ok(files)
}

/// A user as users.json lists them.
#[derive(Clone, Debug)]
struct User {
    team: Option<String>,
    email: Option<String>,
    name: Option<String>,
    guest: bool,
    bot: bool,
}

/// A conversation as channels/groups/dms/mpims.json list it.
#[derive(Clone, Debug)]
struct Conversation {
    id: String,
    name: Option<String>,
    kind: &'static str,
    members: Vec<String>,
}

/// One day file, parsed.
struct DayFile<'a> {
    name: &'a str,
    folder: &'a str,
    digest: Digest,
    messages: Vec<Value>,
}

fn json_error(file: &str, e: &serde_json::Error) -> SlackError {
    SlackError::Json {
        file: file.to_string(),
        line: e.line(),
        column: e.column(),
        problem: json_problem(e),
    }
}

/// What a JSON error says, without the position serde_json appends (the
/// error names it in its own fields).
pub(crate) fn json_problem(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

fn field(file: &str, path: String, problem: impl Into<String>) -> SlackError {
    SlackError::Field {
        file: file.to_string(),
        path,
        problem: problem.into(),
    }
}

/// An optional string field: absent and null are `None`, anything but a
/// string an error.
fn opt_str<'v>(
    object: &'v Map<String, Value>,
    key: &str,
    file: &str,
    at: &str,
) -> Result<Option<&'v str>, SlackError> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(field(file, format!("{at}.{key}"), "not a string")),
    }
}

fn opt_bool(object: &Map<String, Value>, key: &str) -> bool {
    object.get(key).and_then(Value::as_bool).unwrap_or(false)
}

/// A Slack `ts` (`"1355517523.000005"`: seconds and microseconds) as a
/// timestamp.
pub fn parse_ts(ts: &str) -> Option<Timestamp> {
    let (secs, frac) = ts.split_once('.').unwrap_or((ts, ""));
    if secs.is_empty()
        || secs.len() > 12
        || frac.len() > 6
        || !secs.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let secs: i64 = secs.parse().ok()?;
    let mut micros: i64 = if frac.is_empty() {
        0
    } else {
        frac.parse().ok()?
    };
    for _ in frac.len()..6 {
        micros *= 10;
    }
    Some(Timestamp::from_micros(secs * 1_000_000 + micros))
}

/// The top-level array of a listing or day file.
fn array_of_objects(file: &str, bytes: &[u8]) -> Result<Vec<Value>, SlackError> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| json_error(file, &e))?;
    let Value::Array(items) = value else {
        return Err(field(file, "$".into(), "not a JSON array"));
    };
    for (i, item) in items.iter().enumerate() {
        if !item.is_object() {
            return Err(field(file, format!("[{i}]"), "not a JSON object"));
        }
    }
    Ok(items)
}

/// Whether `name` is `YYYY-MM-DD.json`.
fn is_day_file(name: &str) -> bool {
    let b = name.as_bytes();
    b.len() == 15
        && name.ends_with(".json")
        && b[4] == b'-'
        && b[7] == b'-'
        && b[..10]
            .iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
}

/// The folder the listings sit in (`""`, or `Workspace export/` when the
/// zip wraps everything in one folder).
fn export_root(files: &BTreeMap<String, Vec<u8>>) -> Result<String, SlackError> {
    files
        .keys()
        .filter_map(|k| {
            let (dir, name) = k.rsplit_once('/').unwrap_or(("", k));
            (name == "users.json" || name == "org_users.json").then_some(dir)
        })
        .min_by_key(|dir| (dir.matches('/').count(), dir.len(), dir.to_string()))
        .map(|dir| {
            if dir.is_empty() {
                String::new()
            } else {
                format!("{dir}/")
            }
        })
        .ok_or(SlackError::NoUsers)
}

/// Checks a whole export and returns its events; see the
/// [module docs](self).
pub fn parse_export(
    files: &BTreeMap<String, Vec<u8>>,
    options: &SlackOptions,
) -> Result<SlackImport, SlackError> {
    let root = export_root(files)?;
    let mut import = SlackImport::default();

    // Users.
    let mut users: HashMap<String, User> = HashMap::new();
    let mut teams: BTreeMap<String, u64> = BTreeMap::new();
    for listing in ["users.json", "org_users.json"] {
        let name = format!("{root}{listing}");
        let Some(bytes) = files.get(&name) else {
            continue;
        };
        for (i, item) in array_of_objects(&name, bytes)?.iter().enumerate() {
            let o = item.as_object().expect("checked");
            let at = format!("[{i}]");
            let Some(id) = opt_str(o, "id", &name, &at)? else {
                return Err(field(&name, format!("{at}.id"), "missing"));
            };
            let profile = match o.get("profile") {
                None | Some(Value::Null) => None,
                Some(Value::Object(p)) => Some(p),
                Some(_) => return Err(field(&name, format!("{at}.profile"), "not an object")),
            };
            let email = match profile {
                Some(p) => opt_str(p, "email", &name, &format!("{at}.profile"))?
                    .map(|e| e.trim().to_lowercase())
                    .filter(|e| e.contains('@')),
                None => None,
            };
            let display = profile
                .and_then(|p| {
                    ["real_name", "display_name"]
                        .iter()
                        .find_map(|k| p.get(*k).and_then(Value::as_str).filter(|s| !s.is_empty()))
                })
                .or_else(|| o.get("real_name").and_then(Value::as_str))
                .or_else(|| o.get("name").and_then(Value::as_str))
                .map(str::to_string);
            let team = opt_str(o, "team_id", &name, &at)?.map(str::to_string);
            let bot = opt_bool(o, "is_bot") || id == "USLACKBOT";
            let guest = opt_bool(o, "is_restricted") || opt_bool(o, "is_ultra_restricted");
            if let (Some(t), false) = (&team, bot) {
                *teams.entry(t.clone()).or_default() += 1;
            }
            users.insert(
                id.to_string(),
                User {
                    team,
                    email,
                    name: display,
                    guest,
                    bot,
                },
            );
        }
    }
    import.users = users.len() as u64;
    // The export's own workspace: the team most users belong to.
    let workspace = teams
        .iter()
        .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
        .map(|(t, _)| t.clone());
    import.workspace = workspace.clone();

    // Conversations by folder.
    let mut conversations: HashMap<String, Conversation> = HashMap::new();
    for (listing, kind) in [
        ("channels.json", "channel"),
        ("groups.json", "private_channel"),
        ("mpims.json", "mpim"),
        ("dms.json", "dm"),
    ] {
        let name = format!("{root}{listing}");
        let Some(bytes) = files.get(&name) else {
            continue;
        };
        for (i, item) in array_of_objects(&name, bytes)?.iter().enumerate() {
            let o = item.as_object().expect("checked");
            let at = format!("[{i}]");
            let Some(id) = opt_str(o, "id", &name, &at)? else {
                return Err(field(&name, format!("{at}.id"), "missing"));
            };
            let conv_name = opt_str(o, "name", &name, &at)?.map(str::to_string);
            let mut members = Vec::new();
            match o.get("members") {
                None | Some(Value::Null) => {}
                Some(Value::Array(list)) => {
                    for (k, m) in list.iter().enumerate() {
                        let Some(m) = m.as_str() else {
                            return Err(field(&name, format!("{at}.members[{k}]"), "not a string"));
                        };
                        members.push(m.to_string());
                    }
                }
                Some(_) => return Err(field(&name, format!("{at}.members"), "not an array")),
            }
            let folder = conv_name.clone().unwrap_or_else(|| id.to_string());
            conversations.insert(
                folder,
                Conversation {
                    id: id.to_string(),
                    name: conv_name,
                    kind,
                    members,
                },
            );
        }
    }

    // Day files, in folder and date order.
    let mut days: Vec<DayFile> = Vec::new();
    for (name, bytes) in files {
        let Some(rest) = name.strip_prefix(&root) else {
            import.ignored_files += 1;
            continue;
        };
        let Some((folder, day)) = rest.split_once('/') else {
            continue; // a listing at the root
        };
        if !is_day_file(day) {
            import.ignored_files += 1;
            continue;
        }
        let messages = array_of_objects(name, bytes)?;
        days.push(DayFile {
            name,
            folder,
            digest: Digest::of(bytes),
            messages,
        });
    }

    // Everyone who wrote in each conversation, for the recipients.
    let mut writers: HashMap<&str, BTreeSet<String>> = HashMap::new();
    for day in &days {
        let set = writers.entry(day.folder).or_default();
        for m in &day.messages {
            if let Some(u) = m.get("user").and_then(Value::as_str) {
                set.insert(u.to_string());
            }
        }
    }
    import.conversations = writers.len() as u64;

    let people = People {
        users: &users,
        workspace: workspace.as_deref(),
        firm_domains: &options.firm_domains,
    };
    // Per folder: the conversation and its recipients' addresses (external
    // ones first), computed once.
    let mut rooms: HashMap<&str, Room> = HashMap::new();
    for (folder, wrote) in &writers {
        let conv = conversations.get(*folder).cloned().unwrap_or(Conversation {
            id: folder.to_string(),
            name: None,
            kind: "unlisted",
            members: Vec::new(),
        });
        let mut ids: BTreeSet<String> = conv.members.iter().cloned().collect();
        ids.extend(wrote.iter().cloned());
        let mut members: Vec<(bool, String, String)> = ids
            .into_iter()
            .map(|id| (people.is_firm(&id), people.address(&id, None), id))
            .collect();
        members.sort();
        members.dedup_by(|a, b| a.1 == b.1);
        rooms.insert(folder, Room { conv, members });
    }

    let mut subjects: HashMap<String, Option<String>> = HashMap::new();
    for day in &days {
        let room = &rooms[day.folder];
        for (i, value) in day.messages.iter().enumerate() {
            let o = value.as_object().expect("checked");
            read_message(
                &mut import,
                &mut subjects,
                &people,
                room,
                day,
                i,
                o,
                options.captured_at,
            )?;
        }
    }
    Ok(import)
}

/// A conversation with its members: (is the firm's, address, user id),
/// external ones first.
struct Room {
    conv: Conversation,
    members: Vec<(bool, String, String)>,
}

impl Room {
    /// The recipients of a message from `sender` (an address), external
    /// first, capped at [`MAX_RECIPIENTS`], and how many were left out.
    fn recipients(&self, sender: &str) -> (Vec<String>, usize) {
        let mut out = Vec::new();
        let mut omitted = 0;
        for (firm, address, _) in &self.members {
            if address == sender {
                continue;
            }
            if *firm && out.len() >= MAX_RECIPIENTS {
                omitted += 1;
                continue;
            }
            out.push(address.clone());
        }
        (out, omitted)
    }

    /// Whether any member but `sender` is external.
    fn has_external(&self, sender: &str) -> bool {
        self.members.iter().any(|(f, a, _)| !f && a != sender)
    }
}

/// Who people are: addresses and the firm's or not.
struct People<'a> {
    users: &'a HashMap<String, User>,
    workspace: Option<&'a str>,
    firm_domains: &'a [String],
}

impl People<'_> {
    /// A user's address: their e-mail, else `slack:<team>:<id>`.
    fn address(&self, id: &str, team_hint: Option<&str>) -> String {
        let user = self.users.get(id);
        if let Some(email) = user.and_then(|u| u.email.as_ref()) {
            return email.clone();
        }
        let team = user
            .and_then(|u| u.team.as_deref())
            .or(team_hint)
            .or(self.workspace)
            .unwrap_or("unknown");
        format!("slack:{team}:{id}")
    }

    /// Whether a user is the firm's (see the module docs).
    fn is_firm(&self, id: &str) -> bool {
        let Some(user) = self.users.get(id) else {
            return false;
        };
        if let Some(email) = &user.email
            && let Some((_, domain)) = email.rsplit_once('@')
            && self.firm_domains.iter().any(|d| d == domain)
        {
            return true;
        }
        if user.bot {
            return true;
        }
        !user.guest
            && user
                .team
                .as_deref()
                .is_none_or(|t| Some(t) == self.workspace)
    }
}

/// Reads one message object of a day file into events.
#[allow(clippy::too_many_arguments)]
fn read_message(
    import: &mut SlackImport,
    subjects: &mut HashMap<String, Option<String>>,
    people: &People,
    room: &Room,
    day: &DayFile,
    i: usize,
    o: &Map<String, Value>,
    captured_at: Timestamp,
) -> Result<(), SlackError> {
    let file = day.name;
    let at = format!("[{i}]");
    let conv = &room.conv;
    let ts_of = |o: &Map<String, Value>, key: &str, at: &str| -> Result<_, SlackError> {
        let Some(ts) = opt_str(o, key, file, at)? else {
            return Err(field(file, format!("{at}.{key}"), "missing"));
        };
        let Some(t) = parse_ts(ts) else {
            return Err(field(
                file,
                format!("{at}.{key}"),
                format!("{ts:?} is not a Slack timestamp (seconds.micros)"),
            ));
        };
        Ok((ts.to_string(), t))
    };
    let (ts, sent_at) = ts_of(o, "ts", &at)?;
    let subtype = opt_str(o, "subtype", file, &at)?.unwrap_or("");
    let team_hint = opt_str(o, "user_team", file, &at)?.or(opt_str(o, "team", file, &at)?);
    // The address and the firm's-or-not of whoever acted, from `user` or a
    // bot's id.
    let actor = |o: &Map<String, Value>, at: &str| -> Result<Option<(String, bool)>, SlackError> {
        if let Some(u) = opt_str(o, "user", file, at)? {
            return Ok(Some((people.address(u, team_hint), people.is_firm(u))));
        }
        if let Some(b) = opt_str(o, "bot_id", file, at)? {
            return Ok(Some((people.address(b, team_hint), true)));
        }
        Ok(None)
    };
    // The subject an event by `who` targeting `target` is sealed under:
    // the target message's, else that of a message by `who` here.
    let subject_for = |target: &str, who: &str, firm: bool| -> Option<String> {
        if let Some(s) = subjects.get(target) {
            return s.clone();
        }
        if !firm {
            Some(who.to_string())
        } else {
            room.members
                .iter()
                .find(|(f, a, _)| !f && a != who)
                .map(|(_, a, _)| a.clone())
        }
    };
    let source = |ts: &str| format!("{}:{ts}", conv.id);
    match subtype {
        "message_changed" => {
            let inner_at = format!("{at}.message");
            let Some(inner) = o.get("message").and_then(Value::as_object) else {
                return Err(field(file, inner_at, "missing or not an object"));
            };
            let (target_ts, _) = ts_of(inner, "ts", &inner_at)?;
            let edited = inner.get("edited").and_then(Value::as_object);
            let (edit_ts, edited_at) = match edited {
                Some(e) if e.contains_key("ts") => ts_of(e, "ts", &format!("{inner_at}.edited"))?,
                _ => (ts.clone(), sent_at),
            };
            let who = match edited.and_then(|e| e.get("user")).and_then(Value::as_str) {
                Some(u) => Some((people.address(u, team_hint), people.is_firm(u))),
                None => actor(inner, &inner_at)?,
            };
            let Some((editor, firm)) = who else {
                return Err(field(file, inner_at, "no user or bot_id: who edited it"));
            };
            let text = opt_str(inner, "text", file, &inner_at)?.unwrap_or("");
            let target = source(&target_ts);
            let subject = subject_for(&target, &editor, firm);
            import.edits += 1;
            import.entries.push(NewEntry {
                event: Event::Edit(Edit {
                    channel: CHANNEL.into(),
                    source_id: format!("{target}:edit:{edit_ts}"),
                    target,
                    editor,
                    edited_at,
                    captured_at,
                    text: text.to_string(),
                    raw_digest: day.digest,
                }),
                subject,
            });
        }
        "message_deleted" | "tombstone" => {
            let target_ts = if subtype == "tombstone" {
                ts.clone()
            } else {
                ts_of(o, "deleted_ts", &at)?.0
            };
            let previous = o.get("previous_message").and_then(Value::as_object);
            let who = match actor(o, &at)? {
                Some(w) => Some(w),
                None => match previous {
                    Some(p) => actor(p, &format!("{at}.previous_message"))?,
                    None => None,
                },
            };
            let (deleted_by, firm) = who.unwrap_or_else(|| ("slack:unknown".into(), true));
            let target = source(&target_ts);
            let subject = subject_for(&target, &deleted_by, firm);
            import.deletions += 1;
            import.entries.push(NewEntry {
                event: Event::Deletion(Deletion {
                    channel: CHANNEL.into(),
                    source_id: format!("{target}:deleted"),
                    target,
                    deleted_by,
                    deleted_at: sent_at,
                    captured_at,
                    raw_digest: day.digest,
                }),
                subject,
            });
        }
        s if SKIPPED_SUBTYPES.contains(&s) => {
            *import.skipped.entry(s.to_string()).or_default() += 1;
        }
        _ => {
            let Some((sender, firm)) = actor(o, &at)? else {
                return Err(field(
                    file,
                    format!("{at}.user"),
                    "missing (and no bot_id): who sent it",
                ));
            };
            let (recipients, omitted) = room.recipients(&sender);
            let direction = match (firm, room.has_external(&sender)) {
                (false, _) => Direction::Inbound,
                (true, true) => Direction::Outbound,
                (true, false) => Direction::Internal,
            };
            let source_id = source(&ts);
            let reply_to = match opt_str(o, "thread_ts", file, &at)? {
                Some(t) if t != ts => {
                    if parse_ts(t).is_none() {
                        return Err(field(
                            file,
                            format!("{at}.thread_ts"),
                            format!("{t:?} is not a Slack timestamp (seconds.micros)"),
                        ));
                    }
                    Some(source(t))
                }
                _ => None,
            };
            let text = opt_str(o, "text", file, &at)?
                .filter(|t| !t.is_empty())
                .map(str::to_string);
            let mut extra = Map::new();
            extra.insert("slack_channel".into(), conv.id.clone().into());
            if let Some(name) = &conv.name {
                extra.insert("slack_channel_name".into(), name.clone().into());
            }
            extra.insert("conversation_type".into(), conv.kind.into());
            if !subtype.is_empty() {
                extra.insert("subtype".into(), subtype.into());
            }
            if let Some(u) = opt_str(o, "user", file, &at)?
                && let Some(name) = people.users.get(u).and_then(|u| u.name.clone())
            {
                extra.insert("sender_name".into(), name.into());
            }
            for key in [
                "bot_id",
                "username",
                "client_msg_id",
                "thread_ts",
                "reply_count",
                "attachments",
            ] {
                if let Some(v) = o.get(key).filter(|v| !v.is_null()) {
                    let name = if key == "attachments" {
                        "slack_attachments"
                    } else {
                        key
                    };
                    extra.insert(name.into(), v.clone());
                }
            }
            if omitted > 0 {
                extra.insert("recipients_omitted".into(), omitted.into());
            }
            extra.insert("source_file".into(), file.into());
            extra.insert("source_index".into(), i.into());
            // Files: links to the workspace, not bytes.
            if let Some(list) = o.get("files").filter(|v| !v.is_null()) {
                let Some(list) = list.as_array() else {
                    return Err(field(file, format!("{at}.files"), "not an array"));
                };
                let mut kept = Vec::new();
                for (k, f) in list.iter().enumerate() {
                    let Some(f) = f.as_object() else {
                        return Err(field(file, format!("{at}.files[{k}]"), "not an object"));
                    };
                    let mut meta = Map::new();
                    for key in [
                        "id",
                        "name",
                        "title",
                        "mimetype",
                        "filetype",
                        "size",
                        "url_private",
                        "permalink",
                        "mode",
                    ] {
                        if let Some(v) = f.get(key).filter(|v| !v.is_null()) {
                            meta.insert(key.into(), v.clone());
                        }
                    }
                    meta.insert("not_in_export".into(), true.into());
                    kept.push(Value::Object(meta));
                    import.files_not_in_export += 1;
                }
                extra.insert("files".into(), kept.into());
            }
            // An edit the export records only by its mark.
            let mut edit = None;
            if let Some(e) = o.get("edited").filter(|v| !v.is_null()) {
                let e_at = format!("{at}.edited");
                let Some(e) = e.as_object() else {
                    return Err(field(file, e_at, "not an object"));
                };
                let (edit_ts, edited_at) = ts_of(e, "ts", &e_at)?;
                let editor = match opt_str(e, "user", file, &e_at)? {
                    Some(u) => people.address(u, team_hint),
                    None => sender.clone(),
                };
                extra.insert("edited".into(), Value::Object(e.clone()));
                extra.insert("original_text_unknown".into(), true.into());
                edit = Some(Edit {
                    channel: CHANNEL.into(),
                    source_id: format!("{source_id}:edit:{edit_ts}"),
                    target: source_id.clone(),
                    editor,
                    edited_at,
                    captured_at,
                    text: text.clone().unwrap_or_default(),
                    raw_digest: day.digest,
                });
            }
            let message = Message {
                channel: CHANNEL.into(),
                source_id: source_id.clone(),
                conversation: format!("slack:{}", conv.id),
                sender,
                recipients,
                direction,
                sent_at,
                captured_at,
                text,
                attachments: Vec::new(),
                reply_to,
                raw_digest: day.digest,
                extra,
            };
            let subject = message.external_party().map(str::to_string);
            subjects.insert(source_id.clone(), subject.clone());
            import.messages += 1;
            import.entries.push(NewEntry {
                event: Event::Message(message),
                subject: subject.clone(),
            });
            if let Some(edit) = edit {
                import.edits += 1;
                import.entries.push(NewEntry {
                    event: Event::Edit(edit),
                    subject: subject.clone(),
                });
            }
            // Reactions: one per user; the export gives no time, so the
            // message's is used.
            if let Some(list) = o.get("reactions").filter(|v| !v.is_null()) {
                let Some(list) = list.as_array() else {
                    return Err(field(file, format!("{at}.reactions"), "not an array"));
                };
                for (k, r) in list.iter().enumerate() {
                    let r_at = format!("{at}.reactions[{k}]");
                    let Some(r) = r.as_object() else {
                        return Err(field(file, r_at, "not an object"));
                    };
                    let Some(name) = opt_str(r, "name", file, &r_at)? else {
                        return Err(field(file, format!("{r_at}.name"), "missing"));
                    };
                    let Some(reactors) = r.get("users").and_then(Value::as_array) else {
                        return Err(field(
                            file,
                            format!("{r_at}.users"),
                            "missing or not an array",
                        ));
                    };
                    for (n, u) in reactors.iter().enumerate() {
                        let Some(u) = u.as_str() else {
                            return Err(field(file, format!("{r_at}.users[{n}]"), "not a string"));
                        };
                        import.reactions += 1;
                        import.entries.push(NewEntry {
                            event: Event::Reaction(Reaction {
                                channel: CHANNEL.into(),
                                source_id: format!("{source_id}:reaction:{name}:{u}"),
                                target: source_id.clone(),
                                sender: people.address(u, team_hint),
                                emoji: Some(format!(":{name}:")),
                                reacted_at: sent_at,
                                captured_at,
                                raw_digest: day.digest,
                            }),
                            subject: subject.clone(),
                        });
                    }
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::path::Path;

    const CAPTURED: Timestamp = Timestamp::from_micros(1_800_000_000_000_000);

    /// The fixture export as the zip would give it: files by name.
    fn fixture() -> BTreeMap<String, Vec<u8>> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/slack/export");
        let mut files = BTreeMap::new();
        let mut stack = vec![root.clone()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else {
                    let name = path.strip_prefix(&root).unwrap().to_str().unwrap();
                    files.insert(name.replace('\\', "/"), std::fs::read(&path).unwrap());
                }
            }
        }
        files
    }

    fn options(domains: &[&str]) -> SlackOptions {
        SlackOptions {
            firm_domains: domains.iter().map(|d| d.to_string()).collect(),
            captured_at: CAPTURED,
        }
    }

    fn message<'a>(import: &'a SlackImport, id: &str) -> (&'a Message, Option<&'a str>) {
        import
            .entries
            .iter()
            .find_map(|e| match &e.event {
                Event::Message(m) if m.source_id == id => Some((m, e.subject.as_deref())),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no message {id}"))
    }

    fn error_of(files: &BTreeMap<String, Vec<u8>>) -> String {
        parse_export(files, &options(&[])).unwrap_err().to_string()
    }

    #[test]
    fn reads_the_fixture_export() {
        let import = parse_export(&fixture(), &options(&["firm.example"])).unwrap();
        assert_eq!(import.messages, 8);
        assert_eq!(import.edits, 2);
        assert_eq!(import.deletions, 1);
        assert_eq!(import.reactions, 2);
        assert_eq!(import.files_not_in_export, 1);
        assert_eq!(import.skipped.get("channel_join"), Some(&1));
        assert_eq!(import.conversations, 3);
        assert_eq!(import.users, 5);
        assert_eq!(import.workspace.as_deref(), Some("T0FIRM"));
        assert_eq!(import.ignored_files, 0);

        // A thread parent between firm members: internal, no subject.
        let (m, subject) = message(&import, "C01GENERAL:1718003456.000200");
        assert_eq!(m.channel, "slack");
        assert_eq!(m.conversation, "slack:C01GENERAL");
        assert_eq!(m.sender, "ana.ruiz@firm.example");
        assert_eq!(m.recipients, ["slack:T0FIRM:U02BEN"]);
        assert_eq!(m.direction, Direction::Internal);
        assert_eq!(subject, None);
        assert_eq!(m.sent_at, Timestamp::from_micros(1_718_003_456_000_200));
        assert_eq!(
            m.text.as_deref(),
            Some("Morning all, the Q2 book closes Friday")
        );
        assert_eq!(m.reply_to, None);
        assert_eq!(m.extra["slack_channel_name"], "general");
        assert_eq!(m.extra["conversation_type"], "channel");
        assert_eq!(m.extra["sender_name"], "Ana Ruiz");
        assert_eq!(m.extra["source_file"], "general/2024-06-10.json");
        assert_eq!(m.extra["source_index"], 1);
        assert_eq!(
            m.raw_digest,
            Digest::of(&fixture()["general/2024-06-10.json"])
        );

        // The reply names its parent; its edit mark becomes an Edit.
        let (reply, _) = message(&import, "C01GENERAL:1718003500.000300");
        assert_eq!(
            reply.reply_to.as_deref(),
            Some("C01GENERAL:1718003456.000200")
        );
        assert_eq!(reply.extra["original_text_unknown"], true);
        let edits: Vec<&Edit> = import
            .entries
            .iter()
            .filter_map(|e| match &e.event {
                Event::Edit(x) => Some(x),
                _ => None,
            })
            .collect();
        assert_eq!(
            edits[0].source_id,
            "C01GENERAL:1718003500.000300:edit:1718003600.000000"
        );
        assert_eq!(edits[0].target, "C01GENERAL:1718003500.000300");
        assert_eq!(edits[0].editor, "slack:T0FIRM:U02BEN");
        assert_eq!(
            edits[0].edited_at,
            Timestamp::from_micros(1_718_003_600_000_000)
        );
        // message_changed: the new text, at the edit's time.
        assert_eq!(edits[1].target, "C01GENERAL:1718090000.000100");
        assert_eq!(edits[1].text, "Figures attached (v2)");
        assert_eq!(edits[1].editor, "ana.ruiz@firm.example");
        assert_eq!(
            edits[1].edited_at,
            Timestamp::from_micros(1_718_090_100_000_000)
        );

        // Reactions: one per user.
        let reactions: Vec<&Reaction> = import
            .entries
            .iter()
            .filter_map(|e| match &e.event {
                Event::Reaction(x) => Some(x),
                _ => None,
            })
            .collect();
        assert_eq!(reactions.len(), 2);
        assert_eq!(reactions[0].emoji.as_deref(), Some(":thumbsup:"));
        assert_eq!(reactions[0].sender, "slack:T0FIRM:U02BEN");
        assert_eq!(
            reactions[0].source_id,
            "C01GENERAL:1718003456.000200:reaction:thumbsup:U02BEN"
        );

        // A bot message is kept; its deletion targets it.
        let (bot, _) = message(&import, "C01GENERAL:1718003700.000400");
        assert_eq!(bot.sender, "slack:T0FIRM:B05BOT");
        assert_eq!(bot.extra["subtype"], "bot_message");
        let deletion = import
            .entries
            .iter()
            .find_map(|e| match &e.event {
                Event::Deletion(d) => Some(d),
                _ => None,
            })
            .unwrap();
        assert_eq!(deletion.target, "C01GENERAL:1718003700.000400");
        assert_eq!(deletion.source_id, "C01GENERAL:1718003700.000400:deleted");
        assert_eq!(
            deletion.deleted_at,
            Timestamp::from_micros(1_718_090_200_000_300)
        );

        // Files are metadata, marked as not in the export.
        let (files, _) = message(&import, "C01GENERAL:1718090000.000100");
        assert!(files.attachments.is_empty());
        assert_eq!(files.extra["files"][0]["name"], "q2-figures.xlsx");
        assert_eq!(files.extra["files"][0]["not_in_export"], true);
    }

    #[test]
    fn guests_and_other_teams_are_external() {
        let import = parse_export(&fixture(), &options(&["firm.example"])).unwrap();
        // A guest writes in: inbound, sealed under the guest.
        let (m, subject) = message(&import, "G01DEALS:1718010000.000100");
        assert_eq!(m.direction, Direction::Inbound);
        assert_eq!(m.sender, "carla@client.example");
        assert_eq!(subject, Some("carla@client.example"));
        assert_eq!(m.extra["conversation_type"], "private_channel");
        // The firm answers: outbound to the guest.
        let (m, subject) = message(&import, "G01DEALS:1718010060.000200");
        assert_eq!(m.direction, Direction::Outbound);
        assert_eq!(m.recipients, ["carla@client.example"]);
        assert_eq!(subject, Some("carla@client.example"));
        // A Slack Connect user of another team in a DM.
        let (m, subject) = message(&import, "D0DM00001:1718180000.000100");
        assert_eq!(m.direction, Direction::Inbound);
        assert_eq!(m.sender, "slack:T9OTHER:U04EXT");
        assert_eq!(subject, Some("slack:T9OTHER:U04EXT"));
        assert_eq!(m.conversation, "slack:D0DM00001");
        let (m, _) = message(&import, "D0DM00001:1718180100.000200");
        assert_eq!(m.direction, Direction::Outbound);
        assert_eq!(m.recipients, ["slack:T9OTHER:U04EXT"]);
    }

    #[test]
    fn a_firm_domain_makes_a_guest_the_firms() {
        let import =
            parse_export(&fixture(), &options(&["firm.example", "client.example"])).unwrap();
        let (m, subject) = message(&import, "G01DEALS:1718010000.000100");
        assert_eq!(m.direction, Direction::Internal);
        assert_eq!(subject, None);
    }

    #[test]
    fn the_same_export_gives_the_same_ids() {
        let ids = |i: &SlackImport| {
            i.entries
                .iter()
                .map(|e| e.event.dedup_key().unwrap())
                .collect::<Vec<_>>()
        };
        let a = parse_export(&fixture(), &options(&[])).unwrap();
        let b = parse_export(&fixture(), &options(&[])).unwrap();
        assert_eq!(ids(&a), ids(&b));
        let unique: BTreeSet<String> = ids(&a).into_iter().collect();
        assert_eq!(unique.len(), a.entries.len());
    }

    #[test]
    fn errors_name_the_file_and_place() {
        let mut files = fixture();
        files.insert(
            "general/2024-06-12.json".into(),
            b"[\n  {\"type\": \"message\", \"user\": \"U01ANA\" \"text\": \"x\"}\n]".to_vec(),
        );
        let e = error_of(&files);
        assert_eq!(
            e,
            "general/2024-06-12.json: line 2, column 40: expected `,` or `}`"
        );

        let mut files = fixture();
        files.insert(
            "general/2024-06-12.json".into(),
            br#"[{"type":"message","user":"U01ANA","text":"x","ts":"1718003456.000200"},{"type":"message","user":"U01ANA","text":"y"}]"#.to_vec(),
        );
        assert_eq!(error_of(&files), "general/2024-06-12.json: [1].ts: missing");

        let mut files = fixture();
        files.insert(
            "general/2024-06-12.json".into(),
            br#"[{"type":"message","user":"U01ANA","text":"x","ts":"yesterday"}]"#.to_vec(),
        );
        assert_eq!(
            error_of(&files),
            "general/2024-06-12.json: [0].ts: \"yesterday\" is not a Slack timestamp (seconds.micros)"
        );

        let mut files = fixture();
        files.insert(
            "general/2024-06-12.json".into(),
            br#"[{"type":"message","text":"x","ts":"1.2"}]"#.to_vec(),
        );
        assert_eq!(
            error_of(&files),
            "general/2024-06-12.json: [0].user: missing (and no bot_id): who sent it"
        );

        let mut files = fixture();
        files.insert(
            "general/2024-06-12.json".into(),
            br#"[{"ts":"1.2","user":"U01ANA","reactions":[{"name":"x","users":[7]}]}]"#.to_vec(),
        );
        assert_eq!(
            error_of(&files),
            "general/2024-06-12.json: [0].reactions[0].users[0]: not a string"
        );

        let mut files = fixture();
        files.insert("channels.json".into(), br#"{"id":"C1"}"#.to_vec());
        assert_eq!(error_of(&files), "channels.json: $: not a JSON array");

        let mut files = fixture();
        files.remove("users.json");
        assert!(error_of(&files).starts_with("no users.json or org_users.json"));
    }

    #[test]
    fn slack_timestamps() {
        assert_eq!(
            parse_ts("1355517523.000005"),
            Some(Timestamp::from_micros(1_355_517_523_000_005))
        );
        assert_eq!(
            parse_ts("1355517523.5"),
            Some(Timestamp::from_micros(1_355_517_523_500_000))
        );
        assert_eq!(
            parse_ts("1355517523"),
            Some(Timestamp::from_micros(1_355_517_523_000_000))
        );
        for bad in [
            "",
            ".5",
            "1.1234567",
            "-1.0",
            "1e3",
            "1.x",
            "9999999999999.0",
        ] {
            assert_eq!(parse_ts(bad), None, "{bad}");
        }
    }

    fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let o = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for (name, data) in entries {
            w.start_file(*name, o).unwrap();
            w.write_all(data).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    #[test]
    fn reads_a_wrapped_zip_within_limits() {
        let fixture = fixture();
        let entries: Vec<(String, &[u8])> = fixture
            .iter()
            .map(|(k, v)| (format!("Firm Slack export Jun 10 2024/{k}"), v.as_slice()))
            .collect();
        let refs: Vec<(&str, &[u8])> = entries.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        let bytes = zip_of(&refs);
        let files = read_zip(&bytes, &ZIP_LIMITS).unwrap();
        let import = parse_export(&files, &options(&[])).unwrap();
        assert_eq!(import.messages, 8);

        let tight = ZipLimits {
            max_entries: 3,
            max_total_bytes: 1 << 30,
        };
        assert_eq!(
            read_zip(&bytes, &tight),
            Err(SlackError::TooManyEntries { max: 3 })
        );
        let small = ZipLimits {
            max_entries: 100,
            max_total_bytes: 100,
        };
        assert!(matches!(
            read_zip(&bytes, &small),
            Err(SlackError::TooLarge { max: 100, .. })
        ));
        let evil = zip_of(&[("../users.json", b"[]")]);
        assert_eq!(
            read_zip(&evil, &ZIP_LIMITS),
            Err(SlackError::UnsafeName("../users.json".into()))
        );
        assert!(matches!(
            read_zip(b"not a zip", &ZIP_LIMITS),
            Err(SlackError::Zip(_))
        ));
    }
}
