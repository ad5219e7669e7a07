//! The index as a projection of the journal: fed in journal order, it
//! records in every commit the journal position it has reached, so a crash
//! or a restart resumes exactly there, and a rebuild starts from nothing.
//!
//! - A message becomes a document.
//! - An edit adds its text to the message's document (the original stays
//!   the first value) and flags it `edited`.
//! - A deletion at the source flags it `deleted`; the message stays
//!   searchable (the archive keeps it).
//! - A `key.shred` system event (crypto-shredding, an erasure) removes every
//!   document sealed under that key: an erased subject disappears.

use crate::schema::{self, Fields};
use crate::{Error, Result};
use custos_journal::{Journal, Opened, StoredEntry};
use custos_model::{Event, EventKind, Message, party_id};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use tantivy::collector::TopDocs;
use tantivy::query::TermQuery;
use tantivy::schema::{IndexRecordOption, Value};
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term};

/// Bumped when the documents change shape: an index of another version is
/// rebuilt.
const SCHEMA_VERSION: u64 = 1;

/// Memory the writer may use before it flushes a segment.
const WRITER_MEMORY: usize = 128 << 20;

/// Documents added between intermediate commits during a catch-up.
const COMMIT_EVERY: usize = 200_000;

/// The search index of one archive.
pub struct SearchIndex {
    path: PathBuf,
    index: Index,
    fields: Fields,
    reader: IndexReader,
    writer: Mutex<Writer>,
}

struct Writer {
    inner: IndexWriter,
    /// The next journal entry to apply.
    position: u64,
    /// Documents added since the last commit, by key, for edits of them.
    pending: HashMap<String, TantivyDocument>,
    /// Changes since the last commit.
    changes: usize,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Payload {
    schema: u64,
    position: u64,
}

impl std::fmt::Debug for SearchIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SearchIndex({})", self.path.display())
    }
}

impl SearchIndex {
    /// Opens the index at `path`, creating it if absent (or if it was made
    /// for another schema version: it is then rebuilt from position 0).
    pub fn open(path: &Path) -> Result<SearchIndex> {
        let at = |source| Error::Index {
            path: path.to_path_buf(),
            source,
        };
        let (schema, fields) = schema::build();
        let existing = path.join("meta.json").exists();
        let mut position = 0;
        let index = if existing {
            let index = Index::open_in_dir(path).map_err(at)?;
            let payload = index
                .load_metas()
                .map_err(at)?
                .payload
                .and_then(|p| serde_json::from_str::<Payload>(&p).ok());
            match payload {
                Some(p) if p.schema == SCHEMA_VERSION && index.schema() == schema => {
                    position = p.position;
                    Some(index)
                }
                _ => None,
            }
        } else {
            None
        };
        let index = match index {
            Some(index) => index,
            None => {
                if path.exists() {
                    std::fs::remove_dir_all(path).map_err(|e| at(e.into()))?;
                }
                std::fs::create_dir_all(path).map_err(|e| at(e.into()))?;
                Index::create_in_dir(path, schema).map_err(at)?
            }
        };
        index
            .tokenizers()
            .register(schema::ANALYZER, schema::analyzer());
        let threads = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .min(4);
        let inner = index
            .writer_with_num_threads(threads, WRITER_MEMORY)
            .map_err(at)?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(at)?;
        Ok(SearchIndex {
            path: path.to_path_buf(),
            index,
            fields,
            reader,
            writer: Mutex::new(Writer {
                inner,
                position,
                pending: HashMap::new(),
                changes: 0,
            }),
        })
    }

    /// Deletes the index at `path` and builds it again from the whole
    /// journal.
    pub fn rebuild(path: &Path, journal: &Journal) -> Result<SearchIndex> {
        if path.exists() {
            std::fs::remove_dir_all(path).map_err(|e| Error::Index {
                path: path.to_path_buf(),
                source: e.into(),
            })?;
        }
        let index = SearchIndex::open(path)?;
        index.catch_up(journal)?;
        Ok(index)
    }

    /// The fields.
    pub fn fields(&self) -> Fields {
        self.fields
    }

    /// The tantivy index (for searching).
    pub(crate) fn reader(&self) -> &IndexReader {
        &self.reader
    }

    /// The next journal entry the index has not seen (its committed
    /// position, plus what was applied since).
    pub fn position(&self) -> u64 {
        self.lock().position
    }

    /// Messages in the index (as of the last commit).
    pub fn messages(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    /// Applies every journal entry past the index's position and commits.
    /// Returns how many entries were read.
    pub fn catch_up(&self, journal: &Journal) -> Result<u64> {
        let start = self.position();
        let end = journal.size();
        if start >= end {
            return Ok(0);
        }
        for entry in journal.entries(start) {
            let entry = entry?;
            self.apply_entry(journal, &entry)?;
            if self.lock().changes >= COMMIT_EVERY {
                self.commit()?;
            }
        }
        self.commit()?;
        Ok(end - start)
    }

    /// Applies one journal entry (they must come in journal order).
    pub fn apply_entry(&self, journal: &Journal, entry: &StoredEntry) -> Result<()> {
        let seq = entry.leaf.seq;
        let wanted = matches!(
            entry.leaf.kind,
            EventKind::Message | EventKind::Edit | EventKind::Deletion | EventKind::System
        );
        let event = if wanted {
            match journal.open_entry(entry)? {
                Opened::Event(event) => Some(event),
                Opened::Shredded(_) => None,
            }
        } else {
            None
        };
        let mut w = self.lock();
        if seq < w.position {
            return Ok(());
        }
        if let Some(event) = event {
            self.apply(&mut w, seq, &entry.leaf.key_id.to_string(), &event)?;
        }
        w.position = seq + 1;
        Ok(())
    }

    fn apply(&self, w: &mut Writer, seq: u64, key_id: &str, event: &Event) -> Result<()> {
        let f = &self.fields;
        match event {
            Event::Message(m) => {
                let doc = self.document(seq, key_id, m);
                let key = message_key(&m.channel, &m.source_id);
                w.inner.add_document(doc.clone())?;
                w.pending.insert(key, doc);
                w.changes += 1;
            }
            Event::Edit(e) => {
                self.update(w, &message_key(&e.channel, &e.target), |doc| {
                    doc.add_text(f.text, &e.text);
                    doc.add_text(f.has, "edited");
                })?;
            }
            Event::Deletion(d) => {
                self.update(w, &message_key(&d.channel, &d.target), |doc| {
                    doc.add_text(f.has, "deleted");
                })?;
            }
            Event::System(s) if s.action == "key.shred" => {
                if let Some(id) = &s.target {
                    w.inner.delete_term(Term::from_field_text(f.key_id, id));
                    w.pending.retain(|_, doc| {
                        doc.get_first(f.key_id).and_then(|v| v.as_str()) != Some(id.as_str())
                    });
                    w.changes += 1;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Replaces the document of message `key` by a changed copy.
    fn update(
        &self,
        w: &mut Writer,
        key: &str,
        change: impl FnOnce(&mut TantivyDocument),
    ) -> Result<()> {
        let term = Term::from_field_text(self.fields.key, key);
        let existing = match w.pending.get(key) {
            Some(doc) => Some(doc.clone()),
            None => {
                let searcher = self.reader.searcher();
                let query = TermQuery::new(term.clone(), IndexRecordOption::Basic);
                let top = searcher.search(&query, &TopDocs::with_limit(1).order_by_score())?;
                match top.first() {
                    Some((_, address)) => Some(searcher.doc::<TantivyDocument>(*address)?),
                    None => None,
                }
            }
        };
        // An edit of a message the index never saw (captured before the
        // message, or its subject erased) changes nothing.
        let Some(mut doc) = existing else {
            return Ok(());
        };
        change(&mut doc);
        w.inner.delete_term(term);
        w.inner.add_document(doc.clone())?;
        w.pending.insert(key.to_string(), doc);
        w.changes += 1;
        Ok(())
    }

    fn document(&self, seq: u64, key_id: &str, m: &Message) -> TantivyDocument {
        let f = &self.fields;
        let mut doc = TantivyDocument::default();
        doc.add_u64(f.seq, seq);
        doc.add_text(f.key, message_key(&m.channel, &m.source_id));
        doc.add_text(f.text, m.text.as_deref().unwrap_or(""));
        let from = party_id(&m.sender);
        doc.add_text(f.from, &from);
        doc.add_text(f.participant, &from);
        for r in &m.recipients {
            let to = party_id(r);
            doc.add_text(f.to, &to);
            doc.add_text(f.participant, &to);
        }
        doc.add_text(f.channel, m.channel.to_lowercase());
        doc.add_text(f.direction, direction_name(m.direction));
        doc.add_text(f.conversation, &m.conversation);
        doc.add_i64(f.sent_at, m.sent_at.as_micros());
        for a in &m.attachments {
            for kind in schema::attachment_kinds(&a.media_type, a.name.as_deref()) {
                doc.add_text(f.attachment, kind);
            }
            doc.add_text(
                f.attachment_name,
                a.name.as_deref().unwrap_or(&a.media_type),
            );
        }
        if !m.attachments.is_empty() {
            doc.add_text(f.has, "attachment");
        }
        doc.add_text(f.key_id, key_id);
        doc
    }

    /// Makes everything applied durable, with the position reached, and
    /// lets searches see it.
    pub fn commit(&self) -> Result<()> {
        let mut w = self.lock();
        let payload = serde_json::to_string(&Payload {
            schema: SCHEMA_VERSION,
            position: w.position,
        })
        .expect("payload serialises");
        let mut prepared = w.inner.prepare_commit()?;
        prepared.set_payload(&payload);
        prepared.commit()?;
        w.pending.clear();
        w.changes = 0;
        drop(w);
        self.reader.reload()?;
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Writer> {
        self.writer.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The tantivy index itself.
    pub fn tantivy(&self) -> &Index {
        &self.index
    }
}

/// The key a message is found by for its edits and deletions.
pub fn message_key(channel: &str, source_id: &str) -> String {
    format!("{channel}\u{0}{source_id}")
}

/// A direction as indexed and queried.
pub fn direction_name(d: custos_model::Direction) -> &'static str {
    match d {
        custos_model::Direction::Inbound => "inbound",
        custos_model::Direction::Outbound => "outbound",
        custos_model::Direction::Internal => "internal",
        custos_model::Direction::Unknown => "unknown",
    }
}
