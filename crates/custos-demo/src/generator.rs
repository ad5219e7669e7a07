//! The streaming generator: a small discrete-event simulation of many
//! conversations running side by side over the 2026 calendar.
//!
//! A clock walks through the year in proportion to the firms' traffic (busy
//! in business hours, almost silent at night and at weekends). Each open
//! conversation has its next message scheduled in a priority queue; the
//! earliest one is emitted next, so the output is in chronological order.
//! When no scheduled message is due before the clock, a new conversation
//! starts at the clock's time. Only the open conversations are held in
//! memory.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt::Write as _;
use std::ops::Range;

use rand::seq::IndexedRandom;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sha2::{Digest, Sha256};

use crate::calendar::{
    self, Calendar, DAY, MONTH_ABBR, SLOT, SLOTS, YEAR_END, YEAR_START, push_rfc3339,
};
use crate::data::{
    AttachmentKind, Audience, BONDS, BR_CLINICS, BR_FIRST, BR_LAST, BR_PHARMACIES, Channel,
    EU_FIRST, EU_LAST, EU_ORGS, FX_PAIRS, Firm, FirmProfile, IBANS, IN_FIRST, IN_LAST, ITEMS,
    MILLIONS, Opener, PCTS, PRODUCTS, Scenario, TENORS, TEST_CARDS, UK_FIRST, UK_LAST, UK_ORGS,
};

/// Number of customers invented per firm.
const CLIENTS: [usize; 3] = [240, 300, 600];
/// Per mille of later messages replaced by a policy-relevant one.
const RISK_PER_MILLE: u32 = 45;
/// Per cent of WhatsApp / e-mail messages carrying an attachment.
const ATTACH_PERCENT: [u32; 3] = [6, 0, 9];
/// How many recent message ids a conversation remembers for `reply_to`.
const RECENT: usize = 6;

/// Someone who sends or receives messages.
struct Person {
    /// Given name, used to sign off.
    first: String,
    /// Full name (`from_name`, signatures).
    full: String,
    /// How others address them ("Sophie", "Dra. Fernanda").
    short: String,
    /// E.164 phone number.
    phone: String,
    /// E-mail address.
    email: String,
    /// Personal mobile as typed in a chat.
    personal: String,
    /// Employer or organisation.
    org: String,
    /// Desk or team ("" for customers).
    desk: &'static str,
    /// Employee of the firm (not a customer).
    staff: bool,
    /// Kind of customer (doctor, pharmacy, anyone).
    audience: Audience,
}

impl Person {
    /// E-mail address or phone number, depending on the channel.
    fn address(&self, email: bool) -> &str {
        if email { &self.email } else { &self.phone }
    }
}

/// Deal terms and other details fixed for one conversation.
#[derive(Default)]
struct Ctx {
    pair: &'static str,
    pairfile: String,
    rate: String,
    amount: String,
    tenor: &'static str,
    bond: &'static str,
    yld: String,
    bp: String,
    notional: String,
    tref: String,
    product: &'static str,
    productfile: &'static str,
    qty: String,
    order: String,
    item: &'static str,
    inr: String,
    ticket: String,
    awb: String,
    date: String,
    day: &'static str,
    time: &'static str,
}

/// State of one open conversation.
struct Conv {
    id: String,
    firm: Firm,
    channel: Channel,
    scenario: &'static Scenario,
    internal: bool,
    /// Indices into `Generator::people`; `members[0]` is the lead employee.
    members: Vec<usize>,
    ctx: Ctx,
    subject: String,
    planned: u32,
    sent: u32,
    /// Index into `members` of the next message's author.
    speaker: usize,
    /// Recent (message id, member index), oldest first.
    recent: Vec<(String, usize)>,
    /// Templates already used, so that people do not repeat themselves.
    used: Vec<&'static str>,
}

/// An attachment of a message being written.
struct Attachment {
    name: String,
    media_type: &'static str,
    size: u64,
}

/// The content of a message being written.
struct Draft {
    /// Text (with e-mail greeting and signature); `None` for a bare file.
    text: Option<String>,
    attachment: Option<Attachment>,
}

/// Builds a JSON object field by field, keeping the order fields are added.
struct JsonObject {
    buf: String,
}

impl JsonObject {
    fn with_capacity(capacity: usize) -> Self {
        let mut buf = String::with_capacity(capacity);
        buf.push('{');
        Self { buf }
    }

    /// Adds a field whose value is already JSON.
    fn raw(&mut self, key: &str, json: &str) {
        if self.buf.len() > 1 {
            self.buf.push(',');
        }
        push_json_str(&mut self.buf, key);
        self.buf.push(':');
        self.buf.push_str(json);
    }

    /// Adds a string field.
    fn str(&mut self, key: &str, value: &str) {
        self.raw(key, "");
        push_json_str(&mut self.buf, value);
    }

    fn finish(mut self) -> String {
        self.buf.push('}');
        self.buf
    }
}

/// The generator behind [`crate::generate`].
pub(crate) struct Generator {
    rng: ChaCha8Rng,
    seed: u64,
    total: usize,
    emitted: usize,
    calendar: Calendar,
    cursor: usize,
    people: Vec<Person>,
    staff: [Range<usize>; 3],
    clients: [Range<usize>; 3],
    convs: Vec<Option<Conv>>,
    free: Vec<usize>,
    queue: BinaryHeap<Reverse<(i64, u64, usize)>>,
    seq: u64,
    last: i64,
    conversations: u64,
    counters: [u64; 3],
    id_key: u64,
}

impl Generator {
    /// The firms' employees, in a stable order.
    pub(crate) fn staff(&self) -> Vec<crate::DemoStaff> {
        self.people
            .iter()
            .filter(|p| p.staff)
            .enumerate()
            .map(|(i, p)| crate::DemoStaff {
                id: format!("E{:03}", i + 1),
                name: p.full.clone(),
                phone: p.phone.clone(),
                email: p.email.clone(),
                units: [p.org.clone(), p.desk.to_string()]
                    .into_iter()
                    .filter(|u| !u.is_empty())
                    .collect(),
            })
            .collect()
    }

    /// A generator of `total` messages from `seed`.
    pub(crate) fn new(seed: u64, total: usize) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let id_key = rng.random();
        let mut people = Vec::new();
        let mut staff = [0..0, 0..0, 0..0];
        let mut clients = [0..0, 0..0, 0..0];
        for firm in Firm::ALL {
            let start = people.len();
            add_staff(&mut people, firm, &mut rng);
            staff[firm as usize] = start..people.len();
            let start = people.len();
            for k in 0..CLIENTS[firm as usize] {
                people.push(make_client(firm, k, &mut rng));
            }
            clients[firm as usize] = start..people.len();
        }
        Self {
            rng,
            seed,
            total,
            emitted: 0,
            calendar: Calendar::new(),
            cursor: 0,
            people,
            staff,
            clients,
            convs: Vec::new(),
            free: Vec::new(),
            queue: BinaryHeap::new(),
            seq: 0,
            last: YEAR_START,
            conversations: 0,
            counters: [0; 3],
            id_key,
        }
    }

    /// Where the year's clock stands for the next message: the instant that
    /// splits the year's traffic in the proportion emitted / total.
    fn clock(&mut self) -> i64 {
        let total_weight = u128::from(self.calendar.total_weight());
        let x = total_weight * (2 * self.emitted as u128 + 1) / (2 * self.total as u128);
        let (slot, t) = self.calendar.instant_at_weight(x as u64, self.cursor);
        self.cursor = slot;
        t
    }

    /// Starts a new conversation whose first message is sent at `start`.
    fn open_conversation(&mut self, start: i64) {
        let rng = &mut self.rng;
        let slot = (((start - YEAR_START) / SLOT) as usize).min(SLOTS - 1);
        let weights = self.calendar.firm_weights(slot);
        let firm = Firm::ALL[pick_weighted(rng, &weights)];
        let profile = firm.profile();
        let open = self.calendar.is_open(firm, start);
        let internal = rng.random_ratio(profile.internal_percent, 100);

        let scenario = if internal {
            profile.internal.choose(rng).expect("internal scenarios")
        } else if open {
            profile.scenarios.choose(rng).expect("scenarios")
        } else {
            // Outside business hours only customers start conversations.
            let candidates: Vec<&Scenario> = profile
                .scenarios
                .iter()
                .filter(|s| s.opener != Opener::Staff)
                .collect();
            *candidates.choose(rng).expect("customer-opened scenario")
        };
        let channels = if internal {
            profile.internal_channels
        } else {
            profile.client_channels
        };
        let channel = Channel::ALL[pick_weighted(rng, &channels.map(u64::from))];

        let members = self.choose_members(firm, scenario, channel, internal);
        let rng = &mut self.rng;
        let speaker = if internal {
            0
        } else {
            match scenario.opener {
                Opener::Staff => 0,
                Opener::Client => 1,
                Opener::Either if open && rng.random_ratio(1, 2) => 0,
                Opener::Either => 1,
            }
        };
        let planned = match channel {
            Channel::WhatsApp => match rng.random_range(0..100) {
                0..60 => rng.random_range(3..=8),
                60..90 => rng.random_range(9..=16),
                _ => rng.random_range(17..=30),
            },
            Channel::Sms => rng.random_range(3..=6),
            Channel::Email => rng.random_range(3..=8),
        };
        let ctx = make_ctx(firm, profile, start, rng);

        self.conversations += 1;
        let id = format!(
            "{}-{}-{:06}",
            channel.conversation_prefix(),
            profile.code,
            self.conversations
        );
        let mut subject = String::new();
        if channel == Channel::Email {
            let tpl = scenario.subjects.choose(rng).expect("subjects");
            let author = &self.people[members[speaker]];
            let vars = Vars {
                author,
                them: "",
                ctx: &ctx,
                t: start,
            };
            fill(&mut subject, tpl, &vars, rng);
        }
        let conv = Conv {
            id,
            firm,
            channel,
            scenario,
            internal,
            members,
            ctx,
            subject,
            planned,
            sent: 0,
            speaker,
            recent: Vec::with_capacity(RECENT),
            used: Vec::new(),
        };
        let slot = match self.free.pop() {
            Some(slot) => {
                self.convs[slot] = Some(conv);
                slot
            }
            None => {
                self.convs.push(Some(conv));
                self.convs.len() - 1
            }
        };
        self.schedule(start, slot);
    }

    /// Picks who takes part: the lead employee first (from the scenario's
    /// desk), then the customer (of the scenario's audience) unless the
    /// conversation is internal, then any colleagues in copy or in the group.
    fn choose_members(
        &mut self,
        firm: Firm,
        scenario: &Scenario,
        channel: Channel,
        internal: bool,
    ) -> Vec<usize> {
        let rng = &mut self.rng;
        let people = &self.people;
        let firm_staff = self.staff[firm as usize].clone();
        let desk: Vec<usize> = firm_staff
            .clone()
            .filter(|&p| people[p].desk.starts_with(scenario.desk))
            .collect();
        let mut members = vec![*desk.choose(rng).expect("staff for desk")];
        let colleagues = if internal {
            match channel {
                Channel::WhatsApp if rng.random_ratio(2, 5) => rng.random_range(2..=3),
                Channel::Email => rng.random_range(1..=2),
                _ => 1,
            }
        } else {
            let clients = self.clients[firm as usize].clone();
            let mut client = rng.random_range(clients.clone());
            for _ in 0..64 {
                let audience = people[client].audience;
                if scenario.audience == Audience::Any || audience == scenario.audience {
                    break;
                }
                client = rng.random_range(clients.clone());
            }
            members.push(client);
            usize::from(channel == Channel::Email && rng.random_ratio(15, 100))
        };
        for _ in 0..colleagues {
            // Prefer the same desk, then anyone in the firm.
            let mut candidates: Vec<usize> = desk
                .iter()
                .copied()
                .filter(|p| !members.contains(p))
                .collect();
            if candidates.is_empty() {
                candidates = firm_staff
                    .clone()
                    .filter(|p| !members.contains(p))
                    .collect();
            }
            if let Some(&p) = candidates.choose(rng) {
                members.push(p);
            }
        }
        members
    }

    fn schedule(&mut self, t: i64, slot: usize) {
        self.seq += 1;
        self.queue.push(Reverse((t, self.seq, slot)));
    }

    /// Writes the next message of conversation `slot`, sent at `t`, and
    /// schedules the one after it.
    fn emit(&mut self, slot: usize, t: i64) -> String {
        let mut conv = self.convs[slot].take().expect("scheduled conversation");
        let draft = self.compose(&mut conv, t);
        let id = self.next_id(&conv, t);
        let reply_to = match conv.channel {
            _ if conv.sent == 0 => None,
            // E-mail replies always quote the previous message.
            Channel::Email => conv.recent.last(),
            // WhatsApp users sometimes quote, usually the other side.
            Channel::WhatsApp if self.rng.random_ratio(15, 100) => conv
                .recent
                .iter()
                .rev()
                .find(|&&(_, m)| m != conv.speaker)
                .or(conv.recent.last()),
            _ => None,
        };
        let reply_to = reply_to.map(|(id, _)| id.as_str());
        let line = self.render(&conv, t, &id, reply_to, &draft);

        // Remember the message and schedule the next one.
        if conv.recent.len() == RECENT {
            conv.recent.remove(0);
        }
        conv.recent.push((id, conv.speaker));
        conv.sent += 1;
        if conv.sent < conv.planned
            && let Some(next) = self.next_turn(&mut conv, t)
        {
            self.convs[slot] = Some(conv);
            self.schedule(next, slot);
        } else {
            self.free.push(slot);
        }
        line
    }

    /// Writes the content of the next message of `conv`: its text and
    /// attachment.
    fn compose(&mut self, conv: &mut Conv, t: i64) -> Draft {
        let profile = conv.firm.profile();
        let rng = &mut self.rng;
        let author = &self.people[conv.members[conv.speaker]];
        let first = conv.sent == 0;
        let last = conv.sent + 1 == conv.planned;
        let chat = conv.channel == Channel::WhatsApp;

        // Whom the author is talking to: whoever spoke last, else the first
        // other member.
        let addressee = conv
            .recent
            .last()
            .map(|&(_, m)| m)
            .filter(|&m| m != conv.speaker)
            .unwrap_or_else(|| usize::from(conv.speaker == 0));
        let vars = Vars {
            author,
            them: &self.people[conv.members[addressee]].short,
            ctx: &conv.ctx,
            t,
        };

        // An attachment, with its caption (possibly none) as the text.
        let mut text = String::new();
        let mut attachment = None;
        if rng.random_ratio(ATTACH_PERCENT[conv.channel as usize], 100) {
            let kinds = if author.staff {
                profile.attach_staff
            } else {
                profile.attach_client
            };
            let usable: Vec<&AttachmentKind> =
                kinds.iter().filter(|k| chat || !k.chat_only).collect();
            if let Some(kind) = usable.choose(rng) {
                let captions: Vec<&str> = kind
                    .captions
                    .iter()
                    .copied()
                    .filter(|c| chat || !c.is_empty())
                    .collect();
                fill(
                    &mut text,
                    captions.choose(rng).copied().unwrap_or(""),
                    &vars,
                    rng,
                );
                let mut name = String::new();
                fill(&mut name, kind.name, &vars, rng);
                let size = rng.random_range(kind.size.0..=kind.size.1);
                attachment = Some(Attachment {
                    name,
                    media_type: kind.media_type,
                    size,
                });
            }
        }
        // Otherwise a line of the scenario, or now and then one a
        // supervision policy should catch.
        if attachment.is_none() {
            let tpl = if !first && rng.random_ratio(RISK_PER_MILLE, 1000) {
                let risks = if conv.internal {
                    profile.risk_internal
                } else if author.staff {
                    profile.risk_staff
                } else {
                    profile.risk_client
                };
                choose_fresh(rng, risks, &mut conv.used)
            } else {
                let templates = phase_templates(conv.scenario, author.staff, first, last);
                choose_fresh(rng, templates, &mut conv.used)
            };
            fill(&mut text, tpl, &vars, rng);
        }
        if conv.channel == Channel::Email && !text.is_empty() {
            let style = if conv.internal {
                &profile.mail_internal
            } else if author.staff {
                &profile.mail_staff
            } else {
                &profile.mail_client
            };
            let mut body = String::with_capacity(text.len() + 160);
            let greeting = style.greetings.choose(rng).expect("greeting");
            fill(&mut body, greeting, &vars, rng);
            body.push_str("\n\n");
            body.push_str(&text);
            body.push_str("\n\n");
            let signoff = style.signoffs.choose(rng).expect("signoff");
            fill(&mut body, signoff, &vars, rng);
            text = body;
        }
        Draft {
            text: (!text.is_empty()).then_some(text),
            attachment,
        }
    }

    /// A new message id, unique within the channel.
    fn next_id(&mut self, conv: &Conv, t: i64) -> String {
        let n = self.counters[conv.channel as usize];
        self.counters[conv.channel as usize] += 1;
        let key = self.id_key ^ (conv.channel as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        match conv.channel {
            Channel::WhatsApp => format!("wamid.HBgM{:016X}", mix(n ^ key)),
            Channel::Sms => format!("SM{:016x}{:016x}", mix(n ^ key), mix(!n ^ key)),
            Channel::Email => {
                let mut id = String::with_capacity(64);
                calendar::push_compact_date(&mut id, t);
                calendar::push_compact_time(&mut id, t);
                let domain = conv.firm.profile().domain;
                let _ = write!(id, ".{:016x}@mail.{domain}", mix(n ^ key));
                id
            }
        }
    }

    /// The JSON line of a message.
    fn render(
        &self,
        conv: &Conv,
        t: i64,
        id: &str,
        reply_to: Option<&str>,
        draft: &Draft,
    ) -> String {
        let author = &self.people[conv.members[conv.speaker]];
        let email = conv.channel == Channel::Email;
        let direction = match (author.staff, conv.internal) {
            (true, true) => "internal",
            (true, false) => "outbound",
            (false, _) => "inbound",
        };
        let mut to = String::from("[");
        for (i, &p) in conv.members.iter().enumerate() {
            if i != conv.speaker {
                if to.len() > 1 {
                    to.push(',');
                }
                push_json_str(&mut to, self.people[p].address(email));
            }
        }
        to.push(']');
        let mut sent_at = String::with_capacity(22);
        sent_at.push('"');
        push_rfc3339(&mut sent_at, t);
        sent_at.push('"');

        let mut json = JsonObject::with_capacity(640);
        json.str("channel", conv.channel.name());
        json.str("id", id);
        json.str("conversation", &conv.id);
        json.str("from", author.address(email));
        json.raw("to", &to);
        json.str("direction", direction);
        json.raw("sent_at", &sent_at);
        if let Some(text) = &draft.text {
            json.str("text", text);
        }
        if let Some(reply_to) = reply_to {
            json.str("reply_to", reply_to);
        }
        if let Some(a) = &draft.attachment {
            let content = format!(
                "custos-demo/{}/{}/{id}/{}/{}",
                self.seed,
                conv.channel.name(),
                a.name,
                a.size
            );
            let mut inner = JsonObject::with_capacity(200);
            inner.str("name", &a.name);
            inner.str("media_type", a.media_type);
            inner.str("sha256", &hex::encode(Sha256::digest(content.as_bytes())));
            inner.raw("size", &a.size.to_string());
            json.raw("attachments", &format!("[{}]", inner.finish()));
        }
        if email {
            if conv.sent == 0 {
                json.str("subject", &conv.subject);
            } else {
                json.str("subject", &format!("RE: {}", conv.subject));
            }
        }
        json.str("from_name", &author.full);
        json.str("desk", self.people[conv.members[0]].desk);
        json.str("business_unit", conv.firm.profile().business_unit);
        json.finish()
    }

    /// Picks the author of the next message of `conv` and when it is sent;
    /// `None` if that would fall after 2026.
    fn next_turn(&mut self, conv: &mut Conv, t: i64) -> Option<i64> {
        let rng = &mut self.rng;
        let n = conv.members.len();
        let same_percent = if conv.channel == Channel::Email {
            8
        } else {
            22
        };
        let same = rng.random_ratio(same_percent, 100);
        if !same {
            let step = if n == 2 { 1 } else { rng.random_range(1..n) };
            conv.speaker = (conv.speaker + step) % n;
        }
        let gap = match conv.channel {
            Channel::Email => match rng.random_range(0..100) {
                0..60 => rng.random_range(300..3_600),
                60..90 => rng.random_range(3_600..18_000),
                _ => rng.random_range(64_800..108_000),
            },
            _ if same => rng.random_range(4..120),
            _ => match rng.random_range(0..100) {
                0..68 => rng.random_range(15..600),
                68..88 => rng.random_range(600..3_600),
                88..97 => rng.random_range(3_600..14_400),
                _ => rng.random_range(64_800..93_600),
            },
        };
        let mut next = t + gap;
        // People mostly wait for office hours; staff nearly always do.
        let staff = self.people[conv.members[conv.speaker]].staff;
        let keeps_hours = if staff { 95 } else { 75 };
        if !self.calendar.is_open(conv.firm, next) && rng.random_ratio(keeps_hours, 100) {
            let opening = self.calendar.next_opening(conv.firm, next)?;
            next = opening + rng.random_range(60..2_700);
        }
        (next < YEAR_END).then_some(next)
    }
}

impl Iterator for Generator {
    type Item = String;

    fn next(&mut self) -> Option<String> {
        if self.emitted >= self.total {
            return None;
        }
        let clock = self.clock();
        if self.queue.peek().is_none_or(|Reverse((t, ..))| *t > clock) {
            self.open_conversation(clock.max(self.last));
        }
        let Reverse((t, _, slot)) = self.queue.pop().expect("a message is always scheduled");
        self.last = t;
        self.emitted += 1;
        Some(self.emit(slot, t))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.total - self.emitted;
        (left, Some(left))
    }
}

impl ExactSizeIterator for Generator {}

/// The template list for a message.
fn phase_templates(
    scenario: &'static Scenario,
    staff_voice: bool,
    first: bool,
    last: bool,
) -> &'static [&'static str] {
    let (open, middle, close) = if staff_voice {
        (scenario.open_staff, scenario.staff, scenario.close_staff)
    } else {
        (scenario.open_client, scenario.client, scenario.close_client)
    };
    let pick = if first {
        open
    } else if last {
        close
    } else {
        middle
    };
    if !pick.is_empty() {
        pick
    } else if !middle.is_empty() {
        middle
    } else {
        // Internal scenarios have no customer lists.
        scenario.staff
    }
}

/// A template from `list`, avoiding (within a few tries) those in `used`,
/// which it then records. Compared by content, never by address, so the
/// output does not depend on how the linker merges string literals.
fn choose_fresh(
    rng: &mut ChaCha8Rng,
    list: &'static [&'static str],
    used: &mut Vec<&'static str>,
) -> &'static str {
    let mut pick = *list.choose(rng).expect("templates");
    for _ in 0..4 {
        if !used.contains(&pick) {
            break;
        }
        pick = list.choose(rng).expect("templates");
    }
    used.push(pick);
    pick
}

/// Index drawn with probability proportional to `weights`.
fn pick_weighted(rng: &mut ChaCha8Rng, weights: &[u64]) -> usize {
    let mut x = rng.random_range(0..weights.iter().sum::<u64>());
    for (i, &w) in weights.iter().enumerate() {
        if x < w {
            return i;
        }
        x -= w;
    }
    weights.len() - 1
}

/// A bijective 64-bit mixing function (SplitMix64's finaliser), so that
/// distinct counters give distinct, random-looking ids.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Appends `s` as a JSON string literal.
fn push_json_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// What a template can refer to.
struct Vars<'a> {
    author: &'a Person,
    them: &'a str,
    ctx: &'a Ctx,
    t: i64,
}

/// Appends `tpl` with its `{placeholders}` filled in. Unknown placeholders
/// are copied through unchanged (the tests check there are none).
fn fill(out: &mut String, tpl: &str, v: &Vars<'_>, rng: &mut ChaCha8Rng) {
    let mut rest = tpl;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            rest = &rest[open..];
            break;
        };
        let key = &after[..close];
        let c = v.ctx;
        let value: &str = match key {
            "them" => v.them,
            "me" => &v.author.first,
            "full" => &v.author.full,
            "org" => &v.author.org,
            "desk" => v.author.desk,
            "phone" => &v.author.phone,
            "personal" => &v.author.personal,
            "pair" => c.pair,
            "pairfile" => &c.pairfile,
            "rate" => &c.rate,
            "amount" => &c.amount,
            "tenor" => c.tenor,
            "bond" => c.bond,
            "yield" => &c.yld,
            "bp" => &c.bp,
            "notional" => &c.notional,
            "tref" => &c.tref,
            "product" => c.product,
            "productfile" => c.productfile,
            "qty" => &c.qty,
            "order" => &c.order,
            "item" => c.item,
            "inr" => &c.inr,
            "ticket" => &c.ticket,
            "awb" => &c.awb,
            "date" => &c.date,
            "day" => c.day,
            "time" => c.time,
            "card" => TEST_CARDS.choose(rng).expect("cards"),
            "iban" => IBANS.choose(rng).expect("ibans"),
            "pct" => PCTS.choose(rng).expect("pcts"),
            "cpf" => {
                push_cpf(out, rng);
                ""
            }
            "exp" => {
                let _ = write!(
                    out,
                    "{:02}/{}",
                    rng.random_range(1..=12),
                    rng.random_range(27..=31)
                );
                ""
            }
            "wan" => {
                let _ = write!(out, "{:04}", rng.random_range(0..160));
                ""
            }
            "wadate" => {
                calendar::push_compact_date(out, v.t);
                ""
            }
            "hms" => {
                calendar::push_compact_time(out, v.t);
                ""
            }
            _ => {
                out.push('{');
                out.push_str(key);
                out.push('}');
                ""
            }
        };
        out.push_str(value);
        rest = &after[close + 1..];
    }
    out.push_str(rest);
}

/// Appends a random CPF (Brazilian taxpayer number) with correct check
/// digits, formatted `123.456.789-09`.
fn push_cpf(out: &mut String, rng: &mut ChaCha8Rng) {
    let mut d = [0u32; 11];
    loop {
        for digit in d.iter_mut().take(9) {
            *digit = rng.random_range(0..10);
        }
        // All-equal sequences are formally valid but rejected in practice.
        if d[..9].iter().any(|&x| x != d[0]) {
            break;
        }
    }
    for (len, weight) in [(9, 10), (10, 11)] {
        let sum: u32 = d[..len]
            .iter()
            .zip((2..=weight).rev())
            .map(|(a, b)| a * b)
            .sum();
        let r = sum % 11;
        d[len] = if r < 2 { 0 } else { 11 - r };
    }
    for (i, digit) in d.iter().enumerate() {
        match i {
            3 | 6 => out.push('.'),
            9 => out.push('-'),
            _ => {}
        }
        out.push(char::from(b'0' + *digit as u8));
    }
}

/// Lower-case ASCII form of a name for e-mail addresses.
fn slug(name: &str) -> String {
    name.chars()
        .filter_map(|c| {
            let c = c.to_lowercase().next().unwrap_or(c);
            Some(match c {
                'á' | 'à' | 'â' | 'ã' | 'ä' => 'a',
                'é' | 'è' | 'ê' | 'ë' => 'e',
                'í' | 'ì' | 'î' | 'ï' => 'i',
                'ó' | 'ò' | 'ô' | 'õ' | 'ö' => 'o',
                'ú' | 'ù' | 'û' | 'ü' => 'u',
                'ç' => 'c',
                'ñ' => 'n',
                c if c.is_ascii_alphanumeric() => c,
                _ => return None,
            })
        })
        .collect()
}

/// `n` random decimal digits.
fn digits(rng: &mut ChaCha8Rng, n: usize) -> String {
    (0..n)
        .map(|_| char::from(b'0' + rng.random_range(0..10u8)))
        .collect()
}

/// A Brazilian São Paulo mobile: (E.164, as typed).
fn br_mobile(rng: &mut ChaCha8Rng) -> (String, String) {
    let lead = rng.random_range(6..=9);
    let rest = digits(rng, 7);
    let e164 = format!("+55119{lead}{rest}");
    let typed = format!("(11) 9{lead}{}-{}", &rest[..3], &rest[3..]);
    (e164, typed)
}

/// An Indian mobile starting 98: (E.164, as typed).
fn in_mobile(rng: &mut ChaCha8Rng) -> (String, String) {
    let rest = digits(rng, 8);
    (
        format!("+9198{rest}"),
        format!("98{} {}", &rest[..3], &rest[3..]),
    )
}

/// Adds the firm's employees.
fn add_staff(people: &mut Vec<Person>, firm: Firm, rng: &mut ChaCha8Rng) {
    let profile = firm.profile();
    for (i, row) in profile.staff.iter().enumerate() {
        let (phone, personal) = match firm {
            // Ofcom drama numbers: work phones 900001…, personal 900501….
            Firm::Bank => (
                format!("+447700900{:03}", i + 1),
                format!("07700 900{:03}", i + 501),
            ),
            Firm::Pharma => {
                let (work, _) = br_mobile(rng);
                (work, br_mobile(rng).1)
            }
            Firm::Care => {
                let (work, _) = in_mobile(rng);
                (work, in_mobile(rng).1)
            }
        };
        people.push(Person {
            first: row.first.to_owned(),
            full: format!("{} {}", row.first, row.last),
            short: row.first.to_owned(),
            phone,
            email: format!("{}.{}@{}", slug(row.first), slug(row.last), profile.domain),
            personal,
            org: profile.business_unit.to_owned(),
            desk: row.desk,
            staff: true,
            audience: Audience::Any,
        });
    }
}

/// Invents customer number `k` of `firm`.
fn make_client(firm: Firm, k: usize, rng: &mut ChaCha8Rng) -> Person {
    let pick = |rng: &mut ChaCha8Rng, list: &[&'static str]| *list.choose(rng).expect("names");
    match firm {
        Firm::Bank => {
            // Two in three clients are in the UK, the rest in the EU.
            let uk = k % 3 != 2;
            let (first, last, (org, domain)) = if uk {
                (
                    pick(rng, UK_FIRST),
                    pick(rng, UK_LAST),
                    *UK_ORGS.choose(rng).expect("orgs"),
                )
            } else {
                (
                    pick(rng, EU_FIRST),
                    pick(rng, EU_LAST),
                    *EU_ORGS.choose(rng).expect("orgs"),
                )
            };
            let (phone, personal) = if uk {
                // Ofcom drama range 07700 900100–900399 for clients.
                let n = 100 + k % 300;
                (format!("+447700900{n:03}"), format!("07700 900{n:03}"))
            } else {
                // French numbers reserved for fiction (06 39 98 xx xx).
                let n = k % 10_000;
                (
                    format!("+3363998{n:04}"),
                    format!("06 39 98 {:02} {:02}", n / 100, n % 100),
                )
            };
            Person {
                first: first.to_owned(),
                full: format!("{first} {last}"),
                short: first.to_owned(),
                phone,
                email: format!("{}.{}@{domain}", slug(first), slug(last)),
                personal,
                org: org.to_owned(),
                desk: "",
                staff: false,
                audience: Audience::Any,
            }
        }
        Firm::Pharma => {
            let &(first, woman) = BR_FIRST.choose(rng).expect("names");
            let last = pick(rng, BR_LAST);
            let doctor = rng.random_ratio(7, 10);
            let (org, domain) = if doctor {
                *BR_CLINICS.choose(rng).expect("clinics")
            } else {
                *BR_PHARMACIES.choose(rng).expect("pharmacies")
            };
            let short = match (doctor, woman) {
                (true, true) => format!("Dra. {first}"),
                (true, false) => format!("Dr. {first}"),
                (false, _) => first.to_owned(),
            };
            let (phone, personal) = br_mobile(rng);
            Person {
                first: first.to_owned(),
                full: format!("{first} {last}"),
                short,
                phone,
                email: format!("{}.{}@{domain}", slug(first), slug(last)),
                personal,
                org: org.to_owned(),
                desk: "",
                staff: false,
                audience: if doctor {
                    Audience::Doctor
                } else {
                    Audience::Pharmacy
                },
            }
        }
        Firm::Care => {
            let first = pick(rng, IN_FIRST);
            let last = pick(rng, IN_LAST);
            let (phone, personal) = in_mobile(rng);
            let suffix = rng.random_range(10..100);
            Person {
                first: first.to_owned(),
                full: format!("{first} {last}"),
                short: first.to_owned(),
                phone,
                email: format!("{}.{}{suffix}@example.net", slug(first), slug(last)),
                personal,
                org: String::new(),
                desk: "",
                staff: false,
                audience: Audience::Any,
            }
        }
    }
}

/// Formats rupees with Indian digit grouping (₹1,499; ₹12,499; ₹1,24,999).
fn rupees(amount: u32) -> String {
    let s = amount.to_string();
    if s.len() <= 3 {
        return format!("₹{s}");
    }
    let (head, tail) = s.split_at(s.len() - 3);
    let mut grouped = String::new();
    for (i, c) in head.chars().enumerate() {
        if i > 0 && (head.len() - i) % 2 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("₹{grouped},{tail}")
}

/// Fixes the details a conversation of `firm` starting at `start` talks about.
fn make_ctx(firm: Firm, profile: &FirmProfile, start: i64, rng: &mut ChaCha8Rng) -> Ctx {
    let mut ctx = Ctx {
        day: profile.days.choose(rng).expect("days"),
        time: profile.times.choose(rng).expect("times"),
        ..Ctx::default()
    };
    match firm {
        Firm::Bank => {
            let &(pair, base, decimals, jitter) = FX_PAIRS.choose(rng).expect("pairs");
            let rate = base - jitter + rng.random_range(0..=2 * jitter);
            let scale = 10u64.pow(decimals);
            ctx.pair = pair;
            ctx.pairfile = pair.replace('/', "");
            ctx.rate = format!(
                "{}.{:0width$}",
                rate / scale,
                rate % scale,
                width = decimals as usize
            );
            ctx.amount = format!("{} {}m", &pair[..3], MILLIONS.choose(rng).expect("sizes"));
            ctx.tenor = TENORS.choose(rng).expect("tenors");
            let &(bond, ccy) = BONDS.choose(rng).expect("bonds");
            ctx.bond = bond;
            let y = rng.random_range(3_400..=4_900);
            ctx.yld = format!("{}.{:03}%", y / 1000, y % 1000);
            let halves: i32 = rng.random_range(-40..=40);
            let sign = if halves < 0 { "-" } else { "+" };
            let abs = halves.unsigned_abs();
            ctx.bp = if abs.is_multiple_of(2) {
                format!("{sign}{}bp", abs / 2)
            } else {
                format!("{sign}{}.5bp", abs / 2)
            };
            ctx.notional = format!("{ccy} {}m", MILLIONS.choose(rng).expect("sizes"));
            let book = if rng.random_bool(0.5) { "FX" } else { "RT" };
            ctx.tref = format!("HF-{book}-{}", digits(rng, 6));
        }
        Firm::Pharma => {
            let &(product, file) = PRODUCTS.choose(rng).expect("products");
            ctx.product = product;
            ctx.productfile = file;
            ctx.qty = (rng.random_range(1..=12) * 10).to_string();
            ctx.order = format!("PED-{}", digits(rng, 5));
        }
        Firm::Care => {
            let &(item, price) = ITEMS.choose(rng).expect("items");
            ctx.item = item;
            ctx.inr = rupees(price);
            ctx.order = format!("KD{}", digits(rng, 10));
            ctx.ticket = format!("SR-2026-{}", digits(rng, 6));
            ctx.awb = format!("KDX{}", digits(rng, 9));
            let doy = ((start - YEAR_START) / DAY + rng.random_range(1..=5)).min(364);
            let (month, day) = calendar::month_day(doy);
            ctx.date = format!("{day} {}", MONTH_ABBR[month as usize - 1]);
        }
    }
    ctx
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::FIRMS;

    /// Lower-case phrases a supervision policy would look for. Every
    /// policy-relevant template contains one and no ordinary template does.
    pub(crate) const POLICY_PHRASES: &[&str] = &[
        "personal number",
        "número pessoal",
        "signal",
        "telegram",
        "guarantee",
        "garantia de retorno",
        "delete this chat",
        "delete kar",
        "apaga",
        "card no",
        "card number",
        "cpf",
        "iban",
        "presente",
        "viagem",
        "jantar",
        "unacceptable",
        "consumer forum",
        "pathetic",
        "insatisfeito",
        "absurdo",
        "push the fix",
    ];

    fn flags(text: &str) -> bool {
        let lower = text.to_lowercase();
        POLICY_PHRASES.iter().any(|p| lower.contains(p))
    }

    fn ordinary_templates(profile: &FirmProfile) -> Vec<&'static str> {
        let mut all = Vec::new();
        for s in profile.scenarios.iter().chain(profile.internal) {
            for list in [
                s.subjects,
                s.open_staff,
                s.open_client,
                s.staff,
                s.client,
                s.close_staff,
                s.close_client,
            ] {
                all.extend_from_slice(list);
            }
        }
        for k in profile.attach_staff.iter().chain(profile.attach_client) {
            all.extend_from_slice(k.captions);
            all.push(k.name);
        }
        for style in [
            &profile.mail_staff,
            &profile.mail_client,
            &profile.mail_internal,
        ] {
            all.extend_from_slice(style.greetings);
            all.extend_from_slice(style.signoffs);
        }
        all
    }

    fn risk_templates(profile: &FirmProfile) -> Vec<&'static str> {
        [
            profile.risk_staff,
            profile.risk_client,
            profile.risk_internal,
        ]
        .concat()
    }

    #[test]
    fn policy_phrases_only_in_risk_templates() {
        for profile in &FIRMS {
            for t in ordinary_templates(profile) {
                assert!(!flags(t), "ordinary template looks risky: {t}");
            }
            for t in risk_templates(profile) {
                assert!(flags(t), "risk template not detectable: {t}");
            }
        }
    }

    #[test]
    fn every_placeholder_is_known_and_filled() {
        let mut gen_ = Generator::new(7, 1);
        for firm in Firm::ALL {
            let profile = firm.profile();
            let ctx = make_ctx(firm, profile, YEAR_START + 40 * DAY, &mut gen_.rng);
            for who in [
                gen_.staff[firm as usize].start,
                gen_.clients[firm as usize].start,
            ] {
                let author = &gen_.people[who];
                let vars = Vars {
                    author,
                    them: "Them",
                    ctx: &ctx,
                    t: YEAR_START,
                };
                for tpl in ordinary_templates(profile)
                    .into_iter()
                    .chain(risk_templates(profile))
                {
                    let mut out = String::new();
                    fill(&mut out, tpl, &vars, &mut gen_.rng);
                    assert!(!out.contains('{') && !out.contains('}'), "{tpl} -> {out}");
                }
            }
        }
    }

    #[test]
    fn every_scenario_has_staff_for_its_desk() {
        for firm in Firm::ALL {
            let profile = firm.profile();
            for s in profile.scenarios.iter().chain(profile.internal) {
                assert!(
                    profile.staff.iter().any(|r| r.desk.starts_with(s.desk)),
                    "{}",
                    s.desk
                );
                let can_open = match s.opener {
                    Opener::Staff => !s.open_staff.is_empty(),
                    Opener::Client => !s.open_client.is_empty(),
                    Opener::Either => !s.open_staff.is_empty() && !s.open_client.is_empty(),
                };
                assert!(can_open, "scenario of desk {:?} cannot open", s.desk);
            }
            assert!(profile.scenarios.iter().any(|s| s.opener != Opener::Staff));
        }
    }

    #[test]
    fn helpers() {
        assert_eq!(rupees(499), "₹499");
        assert_eq!(rupees(1_499), "₹1,499");
        assert_eq!(rupees(124_999), "₹1,24,999");
        assert_eq!(slug("Sébastien"), "sebastien");
        assert_eq!(slug("de Vries"), "devries");
        let mut seen = std::collections::HashSet::new();
        for n in 0..10_000 {
            assert!(seen.insert(mix(n)));
        }
        let mut s = String::new();
        push_json_str(&mut s, "a\"b\\c\nd\u{1}é");
        assert_eq!(s, r#""a\"b\\c\nd\u0001é""#);
    }
}
