//! Opt-out confirmations: the reply a party gets when an inbound message
//! opts them out by keyword (STOP, UNSUBSCRIBE, PARAR, SAIR, BAJA, ... and
//! the `[consent] opt_out_keywords`), in their language.
//!
//! The language follows the keyword (English words: `en`; PARAR, PARE,
//! SAIR, DESCADASTRAR: `pt`; BAJA, DAR DE BAJA, ALTO: `es`; CANCELAR, in
//! both, by the party's country code: Brazil, Portugal, Angola and
//! Mozambique `pt`, otherwise `es`); the firm's own words use
//! `[consent] confirmation_language`. Texts come from `[consent.confirmation]`
//! over the defaults below. How it leaves depends on the channel: WhatsApp
//! Cloud API sends a text message (the 24-hour window is open: the party
//! just wrote), Twilio answers the webhook with TwiML `<Message>`.

use crate::ConsentConfig;
use custos_model::{Direction, Message, party_id};
use std::collections::BTreeMap;

/// The default confirmation texts by language.
pub const DEFAULT_TEXTS: &[(&str, &str)] = &[
    (
        "en",
        "You have been unsubscribed: you will receive no more messages from us on this channel. Your request has been recorded.",
    ),
    (
        "pt",
        "Pedido de descadastro recebido: você não receberá mais mensagens nossas por este canal. Seu pedido foi registrado.",
    ),
    (
        "es",
        "Solicitud de baja recibida: no recibirá más mensajes nuestros por este canal. Su solicitud ha quedado registrada.",
    ),
];

const PORTUGUESE: &[&str] = &["PARAR", "PARE", "SAIR", "DESCADASTRAR"];
const SPANISH: &[&str] = &["BAJA", "DAR DE BAJA", "ALTO"];
/// Calling codes of Portuguese-speaking countries (for CANCELAR).
const LUSOPHONE: &[&str] = &["+55", "+351", "+244", "+258"];

/// A confirmation to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Confirmation {
    /// The keyword that opted out (folded, upper case).
    pub keyword: String,
    /// The language chosen.
    pub language: String,
    /// The text.
    pub text: String,
}

/// The confirmation settings.
#[derive(Clone, Debug, Default)]
pub struct Confirmations {
    enabled: bool,
    keywords: Vec<String>,
    texts: BTreeMap<String, String>,
    language: String,
}

impl Confirmations {
    /// No confirmations.
    pub fn off() -> Confirmations {
        Confirmations::default()
    }

    /// From `[consent]`.
    pub fn from_config(config: &ConsentConfig) -> Confirmations {
        let mut texts: BTreeMap<String, String> = DEFAULT_TEXTS
            .iter()
            .map(|(l, t)| (l.to_string(), t.to_string()))
            .collect();
        for (language, text) in &config.confirmation {
            if !text.trim().is_empty() {
                texts.insert(language.to_lowercase(), text.trim().to_string());
            }
        }
        Confirmations {
            enabled: config.confirm_opt_out,
            keywords: config.opt_out_keywords.clone(),
            texts,
            language: config
                .confirmation_language
                .clone()
                .unwrap_or_else(|| "en".into())
                .to_lowercase(),
        }
    }

    /// The firm's own opt-out words, beside the defaults.
    pub fn keywords(&self) -> &[String] {
        &self.keywords
    }

    /// The confirmation inbound message `m` calls for, if it opts out by
    /// keyword and confirmations are on.
    pub fn for_message(&self, m: &Message) -> Option<Confirmation> {
        if !self.enabled || m.direction != Direction::Inbound {
            return None;
        }
        let keyword = custos_review::consent::keyword(m.text.as_deref()?, &self.keywords)?;
        Some(self.confirmation(&keyword, &m.sender))
    }

    /// The confirmation of `keyword` for `party`.
    pub fn confirmation(&self, keyword: &str, party: &str) -> Confirmation {
        let default = custos_review::consent::DEFAULT_KEYWORDS
            .iter()
            .any(|k| k.eq_ignore_ascii_case(keyword));
        let language = if PORTUGUESE.contains(&keyword) {
            "pt"
        } else if SPANISH.contains(&keyword) {
            "es"
        } else if keyword == "CANCELAR" {
            let party = party_id(party);
            if LUSOPHONE.iter().any(|c| party.starts_with(c)) {
                "pt"
            } else {
                "es"
            }
        } else if default || keyword == "STOPALL" {
            "en"
        } else {
            self.language.as_str()
        };
        let text = self
            .texts
            .get(language)
            .or_else(|| self.texts.get("en"))
            .cloned()
            .unwrap_or_default();
        Confirmation {
            keyword: keyword.to_string(),
            language: language.to_string(),
            text,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_language_follows_the_keyword_and_the_texts_are_configurable() {
        let mut config = ConsentConfig {
            opt_out_keywords: vec!["Não quero mais".into()],
            confirmation_language: Some("pt".into()),
            ..ConsentConfig::default()
        };
        config
            .confirmation
            .insert("es".into(), "Baja registrada.".into());
        let c = Confirmations::from_config(&config);
        assert_eq!(c.confirmation("STOP", "+447700900001").language, "en");
        assert_eq!(c.confirmation("SAIR", "+447700900001").language, "pt");
        assert_eq!(
            c.confirmation("BAJA", "+34600000000").text,
            "Baja registrada."
        );
        assert_eq!(c.confirmation("CANCELAR", "5511988887777").language, "pt");
        assert_eq!(c.confirmation("CANCELAR", "+5215512345678").language, "es");
        assert_eq!(c.confirmation("NAO QUERO MAIS", "+1").language, "pt");
        assert!(c.confirmation("STOP", "+1").text.contains("unsubscribed"));
        let off = Confirmations::from_config(&ConsentConfig {
            confirm_opt_out: false,
            ..ConsentConfig::default()
        });
        let m = Message {
            channel: "whatsapp".into(),
            source_id: "w1".into(),
            conversation: "c".into(),
            sender: "+5511988887777".into(),
            recipients: vec!["+447700900001".into()],
            direction: Direction::Inbound,
            sent_at: custos_model::Timestamp::from_micros(0),
            captured_at: custos_model::Timestamp::from_micros(0),
            text: Some("Sair".into()),
            attachments: vec![],
            reply_to: None,
            raw_digest: custos_model::Digest::of(b"w1"),
            extra: Default::default(),
        };
        assert!(off.for_message(&m).is_none());
        assert_eq!(c.for_message(&m).unwrap().keyword, "SAIR");
    }
}
