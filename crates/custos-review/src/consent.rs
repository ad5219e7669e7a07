//! Opt-out by keyword: an inbound message that is nothing but an opt-out
//! word (STOP, UNSUBSCRIBE, PARAR, BAJA...) withdraws the sender's consent
//! on that channel. The supervisor records it as a consent change whose
//! evidence names the keyword and the message, once per message.

use custos_model::{ConsentChange, ConsentState, Direction, Message, party_id};

/// Who keyword opt-outs are recorded by.
pub const KEYWORD_RECORDER: &str = "custos.opt-out-keywords";

/// The opt-out words recognised by default (English, Portuguese, Spanish),
/// compared with case and accents folded.
pub const DEFAULT_KEYWORDS: &[&str] = &[
    "STOP",
    "STOP ALL",
    "UNSUBSCRIBE",
    "CANCEL",
    "END",
    "QUIT",
    "OPT OUT",
    "OPTOUT",
    "PARAR",
    "PARE",
    "SAIR",
    "CANCELAR",
    "DESCADASTRAR",
    "BAJA",
    "DAR DE BAJA",
    "ALTO",
];

/// Lower-case, accents dropped, punctuation and spacing collapsed: the
/// policy engine's folding.
fn fold(text: &str) -> String {
    custos_policy::fold::fold(text).trim().to_string()
}

/// The keyword an inbound message consists of, if any (`extra` adds the
/// firm's own words to the defaults).
pub fn keyword(text: &str, extra: &[String]) -> Option<String> {
    let folded = fold(text);
    if folded.is_empty() {
        return None;
    }
    DEFAULT_KEYWORDS
        .iter()
        .copied()
        .chain(extra.iter().map(String::as_str))
        .find(|k| fold(k) == folded)
        .map(|k| fold(k).to_uppercase())
}

/// The evidence string recorded for a keyword opt-out: stable, so the same
/// message is never recorded twice.
pub fn evidence(keyword: &str, m: &Message) -> String {
    format!(
        "keyword \"{keyword}\" in inbound {} message {}",
        m.channel, m.source_id
    )
}

/// The consent change an inbound message makes, if it is an opt-out.
pub fn opt_out(m: &Message, extra: &[String]) -> Option<ConsentChange> {
    if m.direction != Direction::Inbound {
        return None;
    }
    let word = keyword(m.text.as_deref()?, extra)?;
    Some(ConsentChange {
        channel: m.channel.clone(),
        party: party_id(&m.sender),
        state: ConsentState::OptOut,
        evidence: evidence(&word, m),
        at: m.sent_at,
        recorded_by: KEYWORD_RECORDER.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_message_keywords_only() {
        assert_eq!(keyword(" stop! ", &[]).as_deref(), Some("STOP"));
        assert_eq!(keyword("Dar de baja", &[]).as_deref(), Some("DAR DE BAJA"));
        assert_eq!(keyword("SAÍR", &[]).as_deref(), Some("SAIR"));
        assert_eq!(keyword("don't stop", &[]), None);
        assert_eq!(keyword("the bus stop", &[]), None);
        assert_eq!(keyword("", &[]), None);
        assert_eq!(
            keyword("nao quero mais", &["Não quero mais".into()]).as_deref(),
            Some("NAO QUERO MAIS")
        );
    }
}
