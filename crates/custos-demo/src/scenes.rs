//! Hand-written scenes laid over the generated traffic, so that a demo
//! archive shows every feature at least once: a planted risk for each
//! starter policy (in English, Portuguese and Spanish), Spanish-speaking
//! customers, media with real bytes, delivery statuses, an edit, a deletion,
//! reactions, opt-ins with their evidence and opt-outs (STOP, PARAR, BAJA).
//!
//! Scenes are placed in the days before `until` and involve the demo staff
//! of the desks named here, so that custodians, desks and information
//! barriers apply to them as to the rest.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::DemoStaff;
use crate::media;

/// Everything the scenes add beside the generated messages.
#[derive(Clone, Debug, Default)]
pub struct Scenes {
    /// Messages in the JSON-lines import format, in chronological order.
    pub lines: Vec<String>,
    /// The bytes of every attachment the lines name (by SHA-256).
    pub media: Vec<MediaFile>,
    /// Statuses, edits, deletions and reactions of those messages.
    pub changes: Vec<Change>,
    /// Opt-ins (with their evidence) and opt-outs.
    pub consent: Vec<ConsentRecord>,
    /// Who and what the demo's hold, case, privacy request and users are about.
    pub cast: Cast,
}

/// An attachment's content.
#[derive(Clone, Debug)]
pub struct MediaFile {
    /// The message carrying it.
    pub message: String,
    /// The external party whose key seals it (the customer), if any.
    pub party: Option<String>,
    /// When the message was sent (Unix seconds).
    pub at: i64,
    /// File name.
    pub name: String,
    /// Media type.
    pub media_type: String,
    /// The bytes.
    pub bytes: Vec<u8>,
}

/// Something that happened to a scene's message after it was sent.
#[derive(Clone, Debug)]
pub enum Change {
    /// The recipient's device reported a delivery state.
    Status {
        /// Channel of the message.
        channel: String,
        /// The message.
        target: String,
        /// Whose device.
        recipient: String,
        /// `delivered` or `read`.
        state: &'static str,
        /// When (Unix seconds).
        at: i64,
    },
    /// The sender edited the text.
    Edit {
        /// Channel.
        channel: String,
        /// Id of the edit itself.
        id: String,
        /// The message edited.
        target: String,
        /// Who edited.
        by: String,
        /// The new text.
        text: String,
        /// When.
        at: i64,
    },
    /// The sender deleted the message for everyone.
    Deletion {
        /// Channel.
        channel: String,
        /// Id of the deletion.
        id: String,
        /// The message deleted.
        target: String,
        /// Who deleted it.
        by: String,
        /// When.
        at: i64,
    },
    /// Someone reacted with an emoji.
    Reaction {
        /// Channel.
        channel: String,
        /// Id of the reaction.
        id: String,
        /// The message reacted to.
        target: String,
        /// Who reacted.
        by: String,
        /// The emoji.
        emoji: String,
        /// When.
        at: i64,
    },
}

/// A consent change of a customer.
#[derive(Clone, Debug)]
pub struct ConsentRecord {
    /// Channel the consent is for.
    pub channel: String,
    /// The customer.
    pub party: String,
    /// An opt-in (else an opt-out).
    pub opt_in: bool,
    /// Where and how it was given or withdrawn.
    pub evidence: String,
    /// When (Unix seconds).
    pub at: i64,
}

/// The people and records the demo's governance examples point at.
#[derive(Clone, Debug, Default)]
pub struct Cast {
    /// The conversation with inside information: a legal hold keeps it.
    pub held_conversation: String,
    /// The FX salesperson who promised returns: a case is about them.
    pub case_custodian: String,
    /// A Spanish customer who asked for their data (an access request).
    pub privacy_subject: String,
    /// The contact-centre agent who signs in as the demo's agent.
    pub agent: String,
    /// Two desks of the bank, one per demo reviewer.
    pub reviewer_desks: [String; 2],
}

/// Who speaks in a scene line.
#[derive(Clone, Copy)]
enum Who {
    /// The lead employee.
    Staff,
    /// The other party (customer or colleague).
    Other,
}

/// A participant of a scene.
struct Party {
    name: String,
    phone: String,
    /// Desk and business unit when an employee.
    unit: Option<(String, String)>,
}

impl Party {
    fn customer(name: &str, phone: &str) -> Party {
        Party {
            name: name.into(),
            phone: phone.into(),
            unit: None,
        }
    }

    fn employee(s: &DemoStaff) -> Party {
        Party {
            name: s.name.clone(),
            phone: s.phone.clone(),
            unit: Some((
                s.units.get(1).cloned().unwrap_or_default(),
                s.units.first().cloned().unwrap_or_default(),
            )),
        }
    }
}

/// A message written, for the changes that refer to it.
struct Sent {
    id: String,
    at: i64,
    from: String,
    to: String,
}

struct Builder {
    /// Midnight UTC of the day `until` falls in.
    today: i64,
    until: i64,
    out: Scenes,
}

impl Builder {
    /// Writes one conversation: `days_ago` days before today at `minute` of
    /// the day (UTC), a message every four minutes.
    #[allow(clippy::too_many_arguments)]
    fn conversation(
        &mut self,
        id: &str,
        channel: &str,
        days_ago: i64,
        minute: i64,
        staff: &Party,
        other: &Party,
        lines: &[(Who, &str)],
    ) -> Vec<Sent> {
        let mut sent = Vec::new();
        let mut at = (self.today - days_ago * 86_400 + minute * 60).min(self.until - 3_600);
        for (n, (who, text)) in lines.iter().enumerate() {
            let (from, to) = match who {
                Who::Staff => (staff, other),
                Who::Other => (other, staff),
            };
            let direction = match (&from.unit, &to.unit) {
                (Some(_), Some(_)) => "internal",
                (Some(_), None) => "outbound",
                _ => "inbound",
            };
            let message_id = format!("{id}-{:02}", n + 1);
            let mut line = json!({
                "channel": channel,
                "id": message_id,
                "conversation": id,
                "from": from.phone,
                "to": [to.phone],
                "direction": direction,
                "sent_at": rfc3339(at),
                "from_name": from.name,
            });
            if let Some((desk, unit)) = &staff.unit {
                line["desk"] = desk.as_str().into();
                line["business_unit"] = unit.as_str().into();
            }
            if let Some(text) = text.strip_prefix("file:") {
                let (name, bytes, media_type) = attachment(text);
                line["attachments"] = json!([{
                    "name": name,
                    "media_type": media_type,
                    "sha256": hex::encode(Sha256::digest(&bytes)),
                    "size": bytes.len(),
                }]);
                self.out.media.push(MediaFile {
                    message: message_id.clone(),
                    party: customer_of(staff, other).map(|p| p.phone.clone()),
                    at,
                    name: name.into(),
                    media_type: media_type.into(),
                    bytes,
                });
            } else {
                line["text"] = Value::from(*text);
            }
            self.out.lines.push(line.to_string());
            sent.push(Sent {
                id: message_id,
                at,
                from: from.phone.clone(),
                to: to.phone.clone(),
            });
            at += 4 * 60;
        }
        sent
    }

    /// Delivered and read statuses for every message `from` sent.
    fn statuses(&mut self, channel: &str, sent: &[Sent], from: &Party) {
        for s in sent.iter().filter(|s| s.from == from.phone) {
            for (state, after) in [("delivered", 2), ("read", 65)] {
                self.out.changes.push(Change::Status {
                    channel: channel.into(),
                    target: s.id.clone(),
                    recipient: s.to.clone(),
                    state,
                    at: s.at + after,
                });
            }
        }
    }

    fn consent(&mut self, channel: &str, party: &str, opt_in: bool, evidence: String, at: i64) {
        self.out.consent.push(ConsentRecord {
            channel: channel.into(),
            party: party.into(),
            opt_in,
            evidence,
            at,
        });
    }
}

/// The external party of a scene, if it has one.
fn customer_of<'a>(a: &'a Party, b: &'a Party) -> Option<&'a Party> {
    [a, b].into_iter().find(|p| p.unit.is_none())
}

/// The bytes of a named demo attachment.
fn attachment(name: &str) -> (&str, Vec<u8>, &'static str) {
    if name.ends_with(".png") {
        (
            name,
            media::png(48, 32, [0, 94, 184], [255, 209, 0]),
            "image/png",
        )
    } else {
        let title = name.trim_end_matches(".pdf").replace('_', " ");
        let body = media::pdf(&[
            &title,
            "Synthetic document generated by custos demo.",
            "No real firm, person or instrument.",
        ]);
        (name, body, "application/pdf")
    }
}

fn rfc3339(at: i64) -> String {
    jiff::Timestamp::from_second(at)
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

/// The first employee whose desk starts with `desk`.
fn on_desk<'a>(staff: &'a [DemoStaff], desk: &str) -> &'a DemoStaff {
    staff
        .iter()
        .find(|s| s.units.get(1).is_some_and(|d| d.starts_with(desk)))
        .or_else(|| staff.first())
        .expect("the demo has staff")
}

/// The scenes, for the demo staff `staff`, in the days before `until`.
pub(crate) fn scenes(staff: &[DemoStaff], until: i64) -> Scenes {
    use Who::{Other, Staff};
    let mut b = Builder {
        today: until.div_euclid(86_400) * 86_400,
        until,
        out: Scenes::default(),
    };
    let fx = on_desk(staff, "FX Sales");
    let rates = on_desk(staff, "Rates Sales");
    let trader = on_desk(staff, "Rates Trading");
    let rep = on_desk(staff, "Cardiologia");
    let manager = on_desk(staff, "Gerência");
    let agent = on_desk(staff, "Orders & Delivery");
    let lead = on_desk(staff, "Team Lead");
    let (fx_p, rates_p, trader_p) = (
        Party::employee(fx),
        Party::employee(rates),
        Party::employee(trader),
    );
    let (rep_p, manager_p, agent_p, lead_p) = (
        Party::employee(rep),
        Party::employee(manager),
        Party::employee(agent),
        Party::employee(lead),
    );
    let oliver = Party::customer("Oliver Pemberton", "+447700900801");
    let lucia = Party::customer("Lucía Navarro Ortega", "+34600000101");
    let javier = Party::customer("Javier Ruiz Campos", "+34600000102");
    let fernanda = Party::customer("Dra. Fernanda Lacerda", "+5511990000201");
    let customer_in = Party::customer("Rohan Mehta", "+919800000301");
    let customer_uk = Party::customer("Grace Whitfield", "+447700900802");

    // Opt-ins first: each customer agreed before being messaged.
    for (party, channel, source, days) in [
        (&oliver, "whatsapp", "web form, client portal", 80),
        (&lucia, "whatsapp", "signed mandate, page 4", 75),
        (&javier, "whatsapp", "in-chat reply SI", 60),
        (&fernanda, "whatsapp", "paper form at the clinic", 70),
        (&customer_in, "sms", "IVR keypress 1", 50),
        (&customer_uk, "sms", "checkout tick box", 40),
    ] {
        b.consent(
            channel,
            &party.phone,
            true,
            format!("{source}: agreed to receive messages from the firm on {channel}"),
            b.today - days * 86_400 + 9 * 3_600,
        );
    }

    // EN, bank FX Sales: a term sheet (PDF), a promise of returns, a gift.
    let s = b.conversation(
        "demo-fx-oliver",
        "whatsapp",
        6,
        9 * 60 + 30,
        &fx_p,
        &oliver,
        &[
            (Other, "Morning, any update on the EUR/GBP hedge for Q1?"),
            (Staff, "Morning Oliver, term sheet attached"),
            (Staff, "file:Termsheet_EURGBP_3M.pdf"),
            (Staff, "Honestly, the Atlas Income Fund is guaranteed to return 12% a year, you cant lose with this one"),
            (Other, "That sounds too good to be true, I'll check with our CFO"),
            (Staff, "Also got you two tickets to Wimbledon, box seats, on us"),
        ],
    );
    b.statuses("whatsapp", &s, &fx_p);
    b.out.changes.push(Change::Reaction {
        channel: "whatsapp".into(),
        id: "demo-fx-oliver-r1".into(),
        target: s[2].id.clone(),
        by: oliver.phone.clone(),
        emoji: "👍".into(),
        at: s[2].at + 300,
    });
    b.out.changes.push(Change::Edit {
        channel: "whatsapp".into(),
        id: "demo-fx-oliver-e1".into(),
        target: s[1].id.clone(),
        by: fx_p.phone.clone(),
        text: "Morning Oliver, indicative term sheet attached (not an offer)".into(),
        at: s[1].at + 120,
    });

    // EN, bank internal: inside information, then deleted; held.
    let s = b.conversation(
        "demo-rates-desk",
        "whatsapp",
        4,
        14 * 60,
        &trader_p,
        &rates_p,
        &[
            (Staff, "keep this quiet: Halden Pharma announces the merger with Ashford Mining on Thursday, not public yet"),
            (Other, "wow ok, got it"),
            (Staff, "delete this chat after you read it pls"),
        ],
    );
    b.out.changes.push(Change::Deletion {
        channel: "whatsapp".into(),
        id: "demo-rates-desk-d1".into(),
        target: s[0].id.clone(),
        by: trader_p.phone.clone(),
        at: s[2].at + 60,
    });

    // ES, bank Rates Sales with a Madrid client: off-channel, complaint, BAJA.
    let s = b.conversation(
        "demo-rates-lucia",
        "whatsapp",
        9,
        10 * 60 + 15,
        &rates_p,
        &lucia,
        &[
            (Other, "Buenos días, ¿tenéis precio para el bono a 10 años?"),
            (Staff, "Buenos días Lucía, te paso el precio en un minuto"),
            (Staff, "pasamos esto a Signal? aquí se graba todo"),
            (
                Other,
                "prefiero que no. Y sigo esperando la devolución de las comisiones",
            ),
            (
                Other,
                "es inaceptable, me cobraron 90 € de comisiones sin avisar",
            ),
            (Other, "voy a poner una reclamacion ante la CNMV"),
        ],
    );
    b.statuses("whatsapp", &s, &rates_p);
    let s = b.conversation(
        "demo-rates-javier",
        "whatsapp",
        3,
        11 * 60,
        &rates_p,
        &javier,
        &[
            (
                Staff,
                "Hola Javier, rentabilidad garantizada del 3% al mes con este depósito",
            ),
            (Other, "No me interesa, no me escribáis más"),
            (Other, "BAJA"),
        ],
    );
    b.statuses("whatsapp", &s, &rates_p);
    b.consent(
        "whatsapp",
        &javier.phone,
        false,
        format!("replied \"BAJA\" (message {})", s[2].id),
        s[2].at,
    );

    // PT, pharma: a product photo, a gift, a personal number, PARAR.
    let s = b.conversation(
        "demo-pharma-fernanda",
        "whatsapp",
        12,
        13 * 60,
        &rep_p,
        &fernanda,
        &[
            (
                Staff,
                "Boa tarde, Dra. Fernanda! Segue a foto do novo material",
            ),
            (Staff, "file:Material_Cardiologia.png"),
            (
                Staff,
                "consegui dois ingressos pro camarote no GP de Interlagos, por nossa conta",
            ),
            (Staff, "me chama no meu número pessoal, +55 11 98765-4321"),
            (
                Other,
                "Não posso aceitar isso. Por favor, parem de me mandar mensagens",
            ),
            (Other, "PARAR"),
        ],
    );
    b.statuses("whatsapp", &s, &rep_p);
    b.out.changes.push(Change::Reaction {
        channel: "whatsapp".into(),
        id: "demo-pharma-fernanda-r1".into(),
        target: s[1].id.clone(),
        by: fernanda.phone.clone(),
        emoji: "❤️".into(),
        at: s[1].at + 200,
    });
    b.consent(
        "whatsapp",
        &fernanda.phone,
        false,
        format!("replied \"PARAR\" (message {})", s[5].id),
        s[5].at,
    );
    b.conversation(
        "demo-pharma-meta",
        "whatsapp",
        2,
        20 * 60,
        &manager_p,
        &rep_p,
        &[
            (Staff, "os números da semana estão péssimos"),
            (Staff, "se não bater a meta eu acabo com sua carreira"),
            (Other, "Entendido."),
        ],
    );

    // EN, contact centre: a complaint, a card number, STOP, harassment.
    let s = b.conversation(
        "demo-care-rohan",
        "sms",
        5,
        6 * 60,
        &agent_p,
        &customer_in,
        &[
            (Other, "Order still not delivered after 3 weeks. I want to make a formal complaint about this"),
            (Staff, "Sorry Rohan, checking with the courier now"),
            (Other, "I've been waiting 5 weeks for my refund, I'm going to the ombudsman"),
        ],
    );
    b.statuses("sms", &s, &agent_p);
    b.conversation(
        "demo-care-lead",
        "whatsapp",
        5,
        6 * 60 + 30,
        &lead_p,
        &agent_p,
        &[
            (
                Other,
                "client card is 5326 0181 5908 3011 exp 04/28, can you push the refund",
            ),
            (
                Staff,
                "don't paste cards here. And you're useless, honestly a waste of space",
            ),
        ],
    );
    let s = b.conversation(
        "demo-care-grace",
        "sms",
        1,
        8 * 60,
        &agent_p,
        &customer_uk,
        &[
            (
                Staff,
                "Kirana Direct: your order KD-20931 is out for delivery today",
            ),
            (Other, "STOP"),
        ],
    );
    b.statuses("sms", &s, &agent_p);
    b.consent(
        "sms",
        &customer_uk.phone,
        false,
        format!("replied \"STOP\" (message {})", s[1].id),
        s[1].at,
    );

    // The import wants chronological order within a file; keep it.
    b.out.lines.sort_by_key(|l| sent(l));
    b.out.cast = Cast {
        held_conversation: "demo-rates-desk".into(),
        case_custodian: fx.id.clone(),
        privacy_subject: lucia.phone.clone(),
        agent: agent.id.clone(),
        reviewer_desks: [
            fx.units.get(1).cloned().unwrap_or_default(),
            rates.units.get(1).cloned().unwrap_or_default(),
        ],
    };
    b.out
}

/// The `sent_at` of a scene line (RFC 3339 sorts as text).
fn sent(line: &str) -> String {
    serde_json::from_str::<Value>(line)
        .ok()
        .and_then(|v| v["sent_at"].as_str().map(str::to_string))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demo_staff() -> Vec<DemoStaff> {
        crate::staff(&crate::DemoConfig {
            seed: 1,
            messages: 10,
        })
    }

    #[test]
    fn scenes_are_deterministic_and_before_until() {
        let until = 1_796_464_800;
        let a = scenes(&demo_staff(), until);
        let b = scenes(&demo_staff(), until);
        assert_eq!(a.lines, b.lines);
        for line in &a.lines {
            let v: Value = serde_json::from_str(line).unwrap();
            let at: jiff::Timestamp = v["sent_at"].as_str().unwrap().parse().unwrap();
            assert!(at.as_second() < until, "{line}");
        }
    }

    #[test]
    fn every_attachment_has_its_bytes_and_digest() {
        let s = scenes(&demo_staff(), 1_796_464_800);
        let mut named = 0;
        for line in &s.lines {
            let v: Value = serde_json::from_str(line).unwrap();
            if let Some(list) = v["attachments"].as_array() {
                for a in list {
                    named += 1;
                    let file = s
                        .media
                        .iter()
                        .find(|m| m.message == v["id"].as_str().unwrap())
                        .unwrap();
                    assert_eq!(a["sha256"], hex::encode(Sha256::digest(&file.bytes)));
                    assert_eq!(a["size"], file.bytes.len());
                }
            }
        }
        assert_eq!(named, s.media.len());
        assert!(s.media.iter().any(|m| m.media_type == "image/png"));
        assert!(s.media.iter().any(|m| m.media_type == "application/pdf"));
    }

    #[test]
    fn opt_outs_in_three_languages() {
        let s = scenes(&demo_staff(), 1_796_464_800);
        let outs: Vec<&str> = s
            .consent
            .iter()
            .filter(|c| !c.opt_in)
            .map(|c| c.evidence.as_str())
            .collect();
        for word in ["STOP", "PARAR", "BAJA"] {
            assert!(outs.iter().any(|e| e.contains(word)), "{word}: {outs:?}");
        }
    }
}
