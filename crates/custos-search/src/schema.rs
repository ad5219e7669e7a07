//! The index's documents: one per message, and the text analyzer.
//!
//! Exact-value fields hold normalised values: addresses as party ids
//! (`custos_model::party_id`), channel and direction lower-case,
//! conversation as captured. Times are i64 UTC microseconds (STYLE.md).

use tantivy::schema::{
    FAST, Field, INDEXED, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions,
};
use tantivy::tokenizer::{
    AsciiFoldingFilter, LowerCaser, RemoveLongFilter, SimpleTokenizer, TextAnalyzer,
};

/// The name the text analyzer is registered under.
pub const ANALYZER: &str = "custos_text";

/// The analyzer for message text and query words: words of letters and
/// digits, lower-cased, accents and ligatures folded to ASCII.
pub fn analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(80))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .build()
}

/// Folds a word as the index does: the analyzer's tokens joined.
pub fn fold_word(word: &str) -> String {
    let mut analyzer = analyzer();
    let mut stream = analyzer.token_stream(word);
    let mut out = String::new();
    while let Some(token) = stream.next() {
        out.push_str(&token.text);
    }
    out
}

/// The words of `text` as the index sees them.
pub fn words(text: &str) -> Vec<String> {
    let mut analyzer = analyzer();
    let mut stream = analyzer.token_stream(text);
    let mut out = Vec::new();
    while let Some(token) = stream.next() {
        out.push(token.text.clone());
    }
    out
}

/// The fields, looked up once.
#[derive(Clone, Copy, Debug)]
pub struct Fields {
    /// Journal sequence number of the message.
    pub seq: Field,
    /// `channel` NUL `source id`: finds the message an edit targets.
    pub key: Field,
    /// The text (first value: as sent; later values: edited versions).
    pub text: Field,
    /// Sender (party id).
    pub from: Field,
    /// Recipients (party ids).
    pub to: Field,
    /// Sender and recipients (party ids).
    pub participant: Field,
    /// Channel, lower-case.
    pub channel: Field,
    /// inbound / outbound / internal / unknown.
    pub direction: Field,
    /// Conversation id.
    pub conversation: Field,
    /// Sent time, UTC microseconds.
    pub sent_at: Field,
    /// Attachment kinds: media type, its subtype, its top type, extension.
    pub attachment: Field,
    /// Attachment names as sent (shown, not searched).
    pub attachment_name: Field,
    /// Flags: `attachment`, `edited`, `deleted`.
    pub has: Field,
    /// Data key id (hex) of the entry: crypto-shredding removes by it.
    pub key_id: Field,
}

/// The schema and its fields.
pub fn build() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let text = TextOptions::default()
        .set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(ANALYZER)
                .set_index_option(IndexRecordOption::WithFreqsAndPositions),
        )
        .set_stored();
    let fields = Fields {
        seq: b.add_u64_field("seq", INDEXED | FAST | STORED),
        key: b.add_text_field("key", STRING | STORED),
        text: b.add_text_field("text", text),
        from: b.add_text_field("from", STRING | STORED),
        to: b.add_text_field("to", STRING | STORED),
        participant: b.add_text_field("participant", STRING),
        channel: b.add_text_field("channel", STRING | STORED),
        direction: b.add_text_field("direction", STRING | STORED),
        conversation: b.add_text_field("conversation", STRING | STORED),
        sent_at: b.add_i64_field("sent_at", INDEXED | FAST | STORED),
        attachment: b.add_text_field("attachment", STRING | STORED),
        attachment_name: b.add_text_field("attachment_name", STORED),
        has: b.add_text_field("has", STRING | STORED),
        key_id: b.add_text_field("key_id", STRING | STORED),
    };
    (b.build(), fields)
}

/// The kinds an attachment is found by: `application/pdf` gives
/// `application/pdf`, `pdf`, `application`; a name `x.PDF` adds `pdf`.
pub fn attachment_kinds(media_type: &str, name: Option<&str>) -> Vec<String> {
    let media = media_type.trim().to_lowercase();
    let mut kinds = vec![media.clone()];
    if let Some((top, sub)) = media.split_once('/') {
        kinds.push(sub.to_string());
        kinds.push(top.to_string());
    }
    if let Some(ext) = name.and_then(|n| n.rsplit_once('.')).map(|(_, e)| e) {
        kinds.push(ext.to_lowercase());
    }
    kinds.sort();
    kinds.dedup();
    kinds
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_fold_case_and_accents() {
        assert_eq!(
            words("Ação GARANTIDA, São-Paulo"),
            ["acao", "garantida", "sao", "paulo"]
        );
        assert_eq!(fold_word("Ação"), "acao");
    }

    #[test]
    fn attachment_kinds_cover_type_subtype_and_extension() {
        assert_eq!(
            attachment_kinds("application/PDF", Some("Contract.Pdf")),
            ["application", "application/pdf", "pdf"]
        );
        assert_eq!(
            attachment_kinds("image/jpeg", Some("a.jpg")),
            ["image", "image/jpeg", "jpeg", "jpg"]
        );
    }
}
