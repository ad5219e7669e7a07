//! Data tables: the three fictional firms, their staff, customer name pools,
//! conversation scenarios and message templates.
//!
//! Templates contain `{placeholders}` filled in by the generator:
//!
//! | placeholder | meaning |
//! |---|---|
//! | `{them}` / `{me}` | how the addressee / speaker is addressed ("Sophie", "Dra. Fernanda") |
//! | `{full}` / `{org}` / `{desk}` / `{phone}` | speaker's full name, organisation, desk, work number |
//! | `{personal}` | speaker's personal mobile, written the way people type it |
//! | `{pair}` `{rate}` `{amount}` `{tenor}` `{bond}` `{yield}` `{bp}` `{notional}` `{tref}` | FX and rates deal terms |
//! | `{product}` `{qty}` `{order}` | pharma product, quantity, order number |
//! | `{item}` `{inr}` `{ticket}` `{awb}` `{date}` | retail item, rupee amount, ticket, tracking number, date |
//! | `{day}` `{time}` | a weekday and a time of day, in the firm's language |
//! | `{card}` `{exp}` `{cpf}` `{iban}` `{pct}` | test card (passes Luhn), expiry, valid CPF, example IBAN, return promised |
//! | `{pairfile}` `{productfile}` `{wadate}` `{wan}` `{hms}` | pieces of attachment file names |
//!
//! Everything is fictional: names are invented, phone numbers come from
//! ranges reserved for drama or are clearly synthetic, and every domain is
//! under `example.com`, `example.org` or `example.net`.

/// One of the three demo firms.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Firm {
    /// London investment bank (FX and rates desks).
    Bank = 0,
    /// Brazilian pharmaceutical sales force.
    Pharma = 1,
    /// Indian retail contact centre.
    Care = 2,
}

impl Firm {
    /// All firms, in table order.
    pub(crate) const ALL: [Firm; 3] = [Firm::Bank, Firm::Pharma, Firm::Care];

    /// The firm's profile.
    pub(crate) fn profile(self) -> &'static FirmProfile {
        &FIRMS[self as usize]
    }
}

/// A capture channel.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Channel {
    /// WhatsApp (Business API or a mobile-capture app).
    WhatsApp = 0,
    /// SMS / text message.
    Sms = 1,
    /// E-mail.
    Email = 2,
}

impl Channel {
    /// All channels, in table order.
    pub(crate) const ALL: [Channel; 3] = [Channel::WhatsApp, Channel::Sms, Channel::Email];

    /// Value of the `channel` field.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Channel::WhatsApp => "whatsapp",
            Channel::Sms => "sms",
            Channel::Email => "email",
        }
    }

    /// Prefix of conversation ids.
    pub(crate) fn conversation_prefix(self) -> &'static str {
        match self {
            Channel::WhatsApp => "wa",
            Channel::Sms => "sms",
            Channel::Email => "mail",
        }
    }
}

/// Who starts a conversation of a scenario.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Opener {
    /// An employee writes first.
    Staff,
    /// The customer writes first.
    Client,
    /// Either.
    Either,
}

/// Which customers a scenario is for.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Audience {
    /// Any customer of the firm.
    Any,
    /// Doctors only.
    Doctor,
    /// Pharmacies only.
    Pharmacy,
}

/// A kind of conversation with its own templates. For internal scenarios the
/// `client` lists are empty and every participant uses the `staff` lists.
pub(crate) struct Scenario {
    /// Only staff whose desk starts with this take part ("" = anyone).
    pub desk: &'static str,
    /// Which customers take part.
    pub audience: Audience,
    /// Who writes first.
    pub opener: Opener,
    /// E-mail subject lines.
    pub subjects: &'static [&'static str],
    /// First message when staff open.
    pub open_staff: &'static [&'static str],
    /// First message when the customer opens.
    pub open_client: &'static [&'static str],
    /// Middle messages written by staff.
    pub staff: &'static [&'static str],
    /// Middle messages written by the customer.
    pub client: &'static [&'static str],
    /// Last message when staff write it.
    pub close_staff: &'static [&'static str],
    /// Last message when the customer writes it.
    pub close_client: &'static [&'static str],
}

/// A kind of attachment.
pub(crate) struct AttachmentKind {
    /// File name template.
    pub name: &'static str,
    /// MIME type.
    pub media_type: &'static str,
    /// Size range in bytes.
    pub size: (u64, u64),
    /// Possible captions; an empty caption sends the file without text.
    pub captions: &'static [&'static str],
    /// Only sent over WhatsApp (photos, voice notes with WhatsApp names).
    pub chat_only: bool,
}

/// How people open and sign e-mails.
pub(crate) struct MailStyle {
    /// Greeting lines.
    pub greetings: &'static [&'static str],
    /// Sign-off blocks.
    pub signoffs: &'static [&'static str],
}

/// One employee.
pub(crate) struct StaffRow {
    /// Given name.
    pub first: &'static str,
    /// Family name.
    pub last: &'static str,
    /// Desk or team.
    pub desk: &'static str,
}

/// Shorthand for a [`StaffRow`], to keep the tables compact.
const fn staff(first: &'static str, last: &'static str, desk: &'static str) -> StaffRow {
    StaffRow { first, last, desk }
}

/// Everything about one firm.
pub(crate) struct FirmProfile {
    /// Short code used in conversation ids.
    pub code: &'static str,
    /// Value of the `business_unit` field.
    pub business_unit: &'static str,
    /// E-mail domain of staff.
    pub domain: &'static str,
    /// Employees.
    pub staff: &'static [StaffRow],
    /// Local opening time, minutes after midnight.
    pub opens_minute: i64,
    /// Local closing time, minutes after midnight.
    pub closes_minute: i64,
    /// Open on Saturdays as well as Monday–Friday.
    pub opens_saturday: bool,
    /// 2026 public holidays (month, day).
    pub holidays: &'static [(u32, u32)],
    /// Percentage of conversations that are employee-to-employee.
    pub internal_percent: u32,
    /// Relative weights of WhatsApp, SMS and e-mail for customer conversations.
    pub client_channels: [u32; 3],
    /// Relative weights of WhatsApp, SMS and e-mail for internal conversations.
    pub internal_channels: [u32; 3],
    /// Customer conversation scenarios.
    pub scenarios: &'static [Scenario],
    /// Internal conversation scenarios.
    pub internal: &'static [Scenario],
    /// Policy-relevant messages written by staff to customers.
    pub risk_staff: &'static [&'static str],
    /// Policy-relevant messages written by customers.
    pub risk_client: &'static [&'static str],
    /// Policy-relevant messages between employees.
    pub risk_internal: &'static [&'static str],
    /// Attachments staff send.
    pub attach_staff: &'static [AttachmentKind],
    /// Attachments customers send.
    pub attach_client: &'static [AttachmentKind],
    /// E-mail style of staff writing to customers.
    pub mail_staff: MailStyle,
    /// E-mail style of customers.
    pub mail_client: MailStyle,
    /// E-mail style between colleagues.
    pub mail_internal: MailStyle,
    /// Weekday names for `{day}`.
    pub days: &'static [&'static str],
    /// Times of day for `{time}`.
    pub times: &'static [&'static str],
}

/// The three firms, indexed by [`Firm`].
pub(crate) static FIRMS: [FirmProfile; 3] = [BANK, PHARMA, CARE];

// ---------------------------------------------------------------------------
// Shared attachment kinds
// ---------------------------------------------------------------------------

const WA_PHOTO_BARE: AttachmentKind = AttachmentKind {
    name: "IMG-{wadate}-WA{wan}.jpg",
    media_type: "image/jpeg",
    size: (48_000, 2_400_000),
    captions: &[""],
    chat_only: true,
};

const WA_VOICE: AttachmentKind = AttachmentKind {
    name: "PTT-{wadate}-WA{wan}.opus",
    media_type: "audio/ogg",
    size: (6_000, 420_000),
    captions: &[""],
    chat_only: true,
};

// ---------------------------------------------------------------------------
// London investment bank
// ---------------------------------------------------------------------------

const BANK: FirmProfile = FirmProfile {
    code: "ldn",
    business_unit: "Harrowgate & Finch Markets (London)",
    domain: "harrowgate.example.com",
    staff: &[
        staff("Alistair", "Pemberton", "FX Sales"),
        staff("Charlotte", "Whitmore", "FX Trading"),
        staff("Daniel", "Okafor", "FX Sales"),
        staff("Tom", "Hargreaves", "FX Trading"),
        staff("Eleanor", "Vance", "FX Sales"),
        staff("Rupert", "Ashdown", "Rates Trading"),
        staff("Imogen", "Clarke", "Rates Sales"),
        staff("Sophie", "Marchetti", "Rates Sales"),
        staff("Marcus", "Lindqvist", "Rates Trading"),
        staff("Hannah", "Brightwell", "Rates Sales"),
    ],
    opens_minute: 7 * 60 + 30,
    closes_minute: 18 * 60 + 30,
    opens_saturday: false,
    holidays: &[
        (1, 1),
        (4, 3),
        (4, 6),
        (5, 4),
        (5, 25),
        (8, 31),
        (12, 25),
        (12, 28),
    ],
    internal_percent: 22,
    client_channels: [64, 5, 31],
    internal_channels: [70, 0, 30],
    scenarios: &[BANK_FX_QUOTE, BANK_RATES, BANK_MEETING, BANK_OPS],
    internal: &[BANK_DESK_CHAT, BANK_RATES_CHAT],
    risk_staff: &[
        "Can you text me on my personal number instead? {personal}. Easier than this one.",
        "Let's move this to Signal, I'll add you now, same name.",
        "Ping me on Signal for the rest of this, this phone is recorded.",
        "Honestly this note is a guaranteed {pct} return, capital protected, you can't lose on it.",
        "I can guarantee you {pct} a year on this structure. Zero downside.",
        "Please delete this chat once you've read it.",
        "Best to take this off the work phone. WhatsApp my personal number {personal}.",
    ],
    risk_client: &[
        "Can we carry on over Signal? I'd rather not have this on a recorded line.",
        "Text me on my personal number please, {personal}.",
        "Please settle to our new account from today: IBAN {iban}.",
        "Our settlement details have changed, new IBAN {iban}. Please update before value date.",
        "Third wrong confirmation this month. Frankly unacceptable, I'm raising it with your head of desk.",
        "You told me this was guaranteed {pct} and it's negative. Unacceptable. I want a formal complaint logged.",
    ],
    risk_internal: &[
        "Move this to Signal, compliance reads everything on here.",
        "Delete this chat after, I don't want it in the archive.",
        "Let's push the fix higher at 4pm, hold your orders till then.",
        "Text me on my personal number, not this one: {personal}.",
        "Just tell the client it's guaranteed, they'll sign today.",
    ],
    attach_staff: &[
        AttachmentKind {
            name: "Termsheet_{pairfile}_{tenor}.pdf",
            media_type: "application/pdf",
            size: (38_000, 420_000),
            captions: &[
                "Term sheet attached.",
                "Indicative terms attached, as discussed.",
            ],
            chat_only: false,
        },
        AttachmentKind {
            name: "Rates_run_{wadate}.xlsx",
            media_type: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            size: (18_000, 96_000),
            captions: &["Today's run.", "Run attached, axes highlighted in green."],
            chat_only: false,
        },
        AttachmentKind {
            name: "Trade_confirmation_{tref}.pdf",
            media_type: "application/pdf",
            size: (52_000, 160_000),
            captions: &["Confirmation attached, please check the SSIs."],
            chat_only: false,
        },
        AttachmentKind {
            name: "FX_Weekly_Outlook_{wadate}.pdf",
            media_type: "application/pdf",
            size: (350_000, 2_800_000),
            captions: &["This week's FX outlook from our strategists."],
            chat_only: false,
        },
    ],
    attach_client: &[
        AttachmentKind {
            name: "IMG-{wadate}-WA{wan}.jpg",
            media_type: "image/jpeg",
            size: (60_000, 900_000),
            captions: &["Screenshot of the confirm we received", ""],
            chat_only: true,
        },
        AttachmentKind {
            name: "Signed_confirmation_{tref}.pdf",
            media_type: "application/pdf",
            size: (60_000, 240_000),
            captions: &["Signed copy attached."],
            chat_only: false,
        },
        WA_VOICE,
    ],
    mail_staff: MailStyle {
        greetings: &["Hi {them},", "Dear {them},", "{them},", "Morning {them},"],
        signoffs: &[
            "Best regards,\n{full}\n{desk} | Harrowgate & Finch\n{phone}",
            "Kind regards,\n{full}\n{desk}, Harrowgate & Finch Markets",
            "Thanks,\n{me}",
        ],
    },
    mail_client: MailStyle {
        greetings: &["Hi {them},", "{them},", "Hello {them},"],
        signoffs: &[
            "Kind regards,\n{full}\n{org}",
            "Thanks,\n{me}",
            "Best,\n{full}\nTreasury | {org}",
        ],
    },
    mail_internal: MailStyle {
        greetings: &["{them},", "Hi {them},", "Team,"],
        signoffs: &["Thanks,\n{me}", "Cheers,\n{me}", "{me}"],
    },
    days: &[
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "tomorrow",
    ],
    times: &[
        "8:30", "9:15", "10:00", "11:30", "12:30", "14:00", "15:30", "16:00",
    ],
};

const BANK_FX_QUOTE: Scenario = Scenario {
    desk: "FX",
    audience: Audience::Any,
    opener: Opener::Either,
    subjects: &[
        "{pair} {tenor} hedge",
        "{pair} pricing",
        "Hedging {amount} {pair}",
    ],
    open_staff: &[
        "Morning {them}, {pair} has moved overnight, spot {rate}. Still looking at the {tenor} hedge?",
        "Hi {them}, following up on the {pair} hedge: indicative {tenor} at {rate} for {amount}.",
        "{them}, {pair} just broke {rate}. Want me to work your order?",
        "Good morning {them}. Quick heads-up, {pair} is trading {rate} ahead of the data at {time}.",
    ],
    open_client: &[
        "Morning {them}, can I get a price in {pair} {tenor}, {amount}?",
        "Hi {them}, looking to hedge {amount} {pair}, {tenor}. Where are you?",
        "{them}, quick one: {pair} {tenor} for {amount}, two-way please.",
        "Hello {them}, we have {amount} receivables to hedge in {pair}. What does {tenor} look like?",
    ],
    staff: &[
        "Indicative {rate} on {amount}, {tenor}. Want me to firm it up?",
        "Spot ref {rate}, forward points on top. I'll send the breakdown.",
        "Can do {amount} at {rate}, good for the next two minutes.",
        "Market's thin ahead of the data at {time}. I'd suggest we work the order.",
        "Leaving the order at {rate}, I'll call you if it trades.",
        "Done. {amount} {pair} {tenor} at {rate}, confirmation to follow by email.",
        "Let me check with the trader and come back to you.",
        "Two-way is {rate} around, size is fine.",
        "Sure, happy to split it: half now, half at the 4pm fix.",
    ],
    client: &[
        "Bit wide. Can you tighten?",
        "Ok, leave an order at {rate} please.",
        "What are the points for {tenor}?",
        "Let me check with our CFO, back in 10.",
        "Can you split it, half now and half at the fix?",
        "Ok, done at {rate}. Thanks.",
        "Any colour on the move this morning?",
        "Where's {pair} trading now?",
        "Our budget rate is {rate}, anything better works for us.",
    ],
    close_staff: &[
        "Thanks {them}, confirmation on its way.",
        "Pleasure, speak later.",
        "Noted, I'll keep you posted.",
    ],
    close_client: &[
        "Thanks, speak soon.",
        "Great, thanks {them}.",
        "Perfect, cheers.",
    ],
};

const BANK_RATES: Scenario = Scenario {
    desk: "Rates",
    audience: Audience::Any,
    opener: Opener::Either,
    subjects: &["{bond} axe", "{bond} offer", "Rates run / {bond}"],
    open_staff: &[
        "Morning {them}, we have an axe in {bond}, offered at {yield}.",
        "Hi {them}, {bond} trading {yield}, {bp} on the day. Any interest?",
        "{them}, after the auction we're long {bond}. Can show you {notional} at {yield}.",
    ],
    open_client: &[
        "Hi {them}, where's {bond} offered?",
        "Morning, any axes in {bond}?",
        "Can you show me {bond} in size? {notional}.",
        "{them}, we need to extend duration. What can you show in {bond}?",
    ],
    staff: &[
        "{bond} at {yield}, {notional} available.",
        "Can work {notional} at {bp} through mid.",
        "Curve has moved {bp} since the auction.",
        "Let me check inventory, two minutes.",
        "That's firm for {notional}, let me know.",
        "Done. Confirmation to follow.",
        "MPC minutes at {time}, I'd expect some volatility.",
    ],
    client: &[
        "What size can you do?",
        "Bit rich for us. {bp} better and we're there.",
        "Ok, I'll take {notional}.",
        "What's the desk view on the MPC?",
        "Need to check with the PM, will come back.",
        "Can you send the run?",
        "Fine, done at {yield}.",
    ],
    close_staff: &[
        "Thanks {them}, booked.",
        "Appreciate it, speak later.",
        "Great, confirmation to follow.",
    ],
    close_client: &["Thanks.", "Cheers {them}.", "Great, thanks."],
};

const BANK_MEETING: Scenario = Scenario {
    desk: "",
    audience: Audience::Any,
    opener: Opener::Either,
    subjects: &["Catch-up {day}", "Call {day} at {time}?", "2026 outlook"],
    open_staff: &[
        "Hi {them}, are you free for a call {day} at {time}? I'd like to walk you through our rates outlook.",
        "{them}, would be good to catch up over coffee {day}. {time} at your office?",
        "Hi {them}, our strategist is in town {day}. Would your team like a session at {time}?",
    ],
    open_client: &[
        "Hi {them}, can we do a call {day}?",
        "{them}, could you come by our office {day} at {time}? Want to review our hedging policy.",
    ],
    staff: &[
        "{time} works for me.",
        "Could we push to {day}?",
        "I'll send an invite.",
        "Sending a calendar invite now.",
        "I'll bring our strategist along.",
        "Shall I book a room at our office instead?",
    ],
    client: &[
        "{time} is good.",
        "Can we make it {day} instead?",
        "Invite received, thanks.",
        "Our CFO may join for the first half.",
        "Could you send the slides beforehand?",
    ],
    close_staff: &["See you then.", "Great, looking forward to it."],
    close_client: &["Perfect, see you {day}.", "Thanks, see you then."],
};

const BANK_OPS: Scenario = Scenario {
    desk: "",
    audience: Audience::Any,
    opener: Opener::Staff,
    subjects: &[
        "Confirmation {tref}",
        "SSI check for {tref}",
        "Value date query {tref}",
    ],
    open_staff: &[
        "Hi {them}, the confirmation for yesterday's {pair} trade ({tref}) is in your inbox. Could you check the SSIs?",
        "{them}, our ops team flagged a mismatch on {tref}. Can your back office give us a call?",
    ],
    open_client: &[],
    staff: &[
        "Ops confirm the value date is {day}.",
        "Reissued with the corrected amount.",
        "We have your standing instructions on file, no change needed.",
        "I've copied our ops team so they can pick this up directly.",
    ],
    client: &[
        "The value date looks wrong, it should be {day}.",
        "All fine, signed and returned.",
        "Our back office will call yours this afternoon.",
        "Received, thanks. Checking now.",
    ],
    close_staff: &["Thanks for sorting, all matched now."],
    close_client: &["All matched on our side. Thanks.", "Thanks, resolved."],
};

const BANK_DESK_CHAT: Scenario = Scenario {
    desk: "FX",
    audience: Audience::Any,
    opener: Opener::Staff,
    subjects: &["{pair} flows", "Client interest {pair}", "Desk notes {day}"],
    open_staff: &[
        "Anyone seen the move in {pair}?",
        "Client wants {amount} {pair} {tenor}, who's pricing?",
        "Heads up: data at {time}, liquidity thin.",
        "{them}, can you show me a price in {amount} {pair}?",
    ],
    open_client: &[],
    staff: &[
        "On it.",
        "Give me two minutes.",
        "Showing {rate}.",
        "Risk is flat now.",
        "Done, booked.",
        "Careful, liquidity's thin.",
        "Desk drinks {day}, who's in?",
        "Real money buying {pair} all morning.",
        "I'm out {day} afternoon, {them} covers my clients.",
    ],
    client: &[],
    close_staff: &["Thanks.", "Cheers.", "Nice one."],
    close_client: &[],
};

const BANK_RATES_CHAT: Scenario = Scenario {
    desk: "Rates",
    audience: Audience::Any,
    opener: Opener::Staff,
    subjects: &["{bond} axes", "Auction {day}"],
    open_staff: &[
        "{them}, can you cover {notional} {bond}?",
        "Auction results out, {bond} tailed {bp}.",
        "Who's axed in {bond}?",
    ],
    open_client: &[],
    staff: &[
        "I can do it at {yield}.",
        "Axed, send it over.",
        "Curve moved {bp}, be careful.",
        "Booked.",
        "Updating the run now.",
        "Client just lifted {notional}.",
    ],
    client: &[],
    close_staff: &["Thanks.", "Cheers {them}."],
    close_client: &[],
};

/// Given names of UK clients.
pub(crate) const UK_FIRST: &[&str] = &[
    "Oliver", "Amelia", "Harry", "Isla", "George", "Freya", "Arthur", "Poppy", "Henry", "Matilda",
    "Edward", "Rosie", "William", "Imogen", "Jack", "Florence", "Theo", "Harriet", "Oscar",
    "Beatrice",
];
/// Family names of UK clients.
pub(crate) const UK_LAST: &[&str] = &[
    "Ashcombe",
    "Thornbury",
    "Fairweather",
    "Pennington",
    "Hollis",
    "Whitlock",
    "Cartwright",
    "Greaves",
    "Langley",
    "Merriman",
    "Oakley",
    "Radcliffe",
    "Sherwood",
    "Tennant",
    "Underwood",
    "Winslow",
];
/// Given names of continental European clients.
pub(crate) const EU_FIRST: &[&str] = &[
    "Julien",
    "Camille",
    "Lukas",
    "Katrin",
    "Matteo",
    "Giulia",
    "Lucía",
    "Javier",
    "Sanne",
    "Pieter",
    "Aoife",
    "Sébastien",
    "Ingrid",
    "Mikkel",
];
/// Family names of continental European clients.
pub(crate) const EU_LAST: &[&str] = &[
    "Moreau",
    "Lefebvre",
    "Vogel",
    "Brandt",
    "Ricci",
    "Bianchi",
    "Navarro",
    "Ortega",
    "de Vries",
    "Janssen",
    "Byrne",
    "Lindholm",
    "Dubois",
    "Kowalczyk",
];
/// UK client organisations and their e-mail domains.
pub(crate) const UK_ORGS: &[(&str, &str)] = &[
    ("Aldermoor Pension Trust", "aldermoor.example.org"),
    ("Kestrel Vale Asset Management", "kestrelvale.example.org"),
    ("Brightwater Logistics plc", "brightwater.example.org"),
    ("Hallam & Rye Family Office", "hallamrye.example.org"),
    ("Northmere Insurance", "northmere.example.org"),
    ("Calloway Shipping Ltd", "calloway.example.org"),
    ("Stourbridge Foods plc", "stourbridgefoods.example.org"),
];
/// Continental European client organisations and their e-mail domains.
pub(crate) const EU_ORGS: &[(&str, &str)] = &[
    ("Lumière Énergie SA", "lumiere-energie.example.org"),
    ("Rheinfeld Maschinenbau GmbH", "rheinfeld.example.org"),
    ("Vetreria Lagomar SpA", "lagomar.example.org"),
    (
        "Costa Brava Renovables SL",
        "costabrava-renovables.example.org",
    ),
    ("Noordkade Pensioenfonds", "noordkade.example.org"),
];
/// FX pairs: name, typical rate in units of 10^-decimals, decimals, jitter.
pub(crate) const FX_PAIRS: &[(&str, u64, u32, u64)] = &[
    ("EUR/USD", 10_850, 4, 260),
    ("GBP/USD", 12_710, 4, 260),
    ("EUR/GBP", 8_540, 4, 120),
    ("USD/JPY", 15_120, 2, 320),
    ("EUR/CHF", 9_620, 4, 150),
    ("USD/CHF", 8_870, 4, 150),
    ("EUR/SEK", 112_300, 4, 3_000),
    ("EUR/NOK", 115_800, 4, 3_000),
];
/// Tenors.
pub(crate) const TENORS: &[&str] = &["spot", "1W", "1M", "2M", "3M", "6M", "9M", "1Y"];
/// Bonds and swaps with the currency they trade in.
pub(crate) const BONDS: &[(&str, &str)] = &[
    ("UKT 4⅛ 2029", "GBP"),
    ("UKT 4½ 2035", "GBP"),
    ("UKT 3¾ 2038", "GBP"),
    ("UKT 4¼ 2046", "GBP"),
    ("5y SONIA swap", "GBP"),
    ("10y SONIA swap", "GBP"),
    ("Bund Feb-35", "EUR"),
    ("OAT May-34", "EUR"),
    ("BTP Nov-33", "EUR"),
];
/// Deal sizes in millions.
pub(crate) const MILLIONS: &[u32] = &[5, 10, 15, 20, 25, 30, 40, 50, 75, 100, 150];
/// Returns promised in "guaranteed return" messages.
pub(crate) const PCTS: &[&str] = &["8%", "10%", "12%", "15%", "20%"];
/// Documentation example IBANs (all pass the ISO 13616 mod-97 check).
pub(crate) const IBANS: &[&str] = &[
    "GB82 WEST 1234 5698 7654 32",
    "DE89 3704 0044 0532 0130 00",
    "FR14 2004 1010 0505 0001 3M02 606",
    "NL91 ABNA 0417 1643 00",
    "IE29 AIBK 9311 5212 3456 78",
    "ES91 2100 0418 4502 0005 1332",
];

// ---------------------------------------------------------------------------
// Brazilian pharma sales force
// ---------------------------------------------------------------------------

const PHARMA: FirmProfile = FirmProfile {
    code: "sao",
    business_unit: "Vitalis Farmacêutica, Força de Vendas São Paulo",
    domain: "vitalis.example.com",
    staff: &[
        staff("Rafael", "Moreira", "Cardiologia SP Sul"),
        staff("Camila", "Antunes", "Cardiologia SP Sul"),
        staff("Thiago", "Barreto", "Diabetes SP Oeste"),
        staff("Juliana", "Prado", "Diabetes SP Oeste"),
        staff("Bruno", "Teixeira", "Varejo Farma SP Centro"),
        staff("Larissa", "Fontes", "Varejo Farma SP Centro"),
        staff("Vinícius", "Coelho", "Dermatologia ABC"),
        staff("Márcia", "Albuquerque", "Gerência Regional SP"),
    ],
    opens_minute: 8 * 60,
    closes_minute: 18 * 60 + 30,
    opens_saturday: false,
    holidays: &[
        (1, 1),
        (2, 16),
        (2, 17),
        (4, 3),
        (4, 21),
        (5, 1),
        (6, 4),
        (9, 7),
        (10, 12),
        (11, 2),
        (11, 20),
        (12, 25),
    ],
    internal_percent: 15,
    client_channels: [86, 3, 11],
    internal_channels: [85, 0, 15],
    scenarios: &[PHARMA_VISIT, PHARMA_ORDER, PHARMA_SCIENCE, PHARMA_DELIVERY],
    internal: &[PHARMA_TEAM],
    risk_staff: &[
        "{them}, me chama no Telegram que lá a gente conversa melhor.",
        "Vamos continuar pelo Signal? Aqui fica tudo registrado.",
        "Anota meu número pessoal: {personal}. Me chama lá.",
        "{them}, se as prescrições do {product} aumentarem, consigo uma viagem para o congresso em Cancún com tudo pago.",
        "Vou deixar um presente no consultório: um vinho e um vale-presente de R$ 500. Só não comenta, tá?",
        "Tem garantia de retorno: cada receita do {product} vira pontos no nosso programa, que dá para trocar por eletrônicos.",
        "Para o cadastro do congresso preciso do seu CPF, pode mandar por aqui?",
        "Depois apaga essa conversa, por favor.",
    ],
    risk_client: &[
        "Meu CPF é {cpf}, pode fazer o cadastro.",
        "CPF {cpf}. Manda a passagem no meu e-mail.",
        "Me chama no Telegram, não uso esse número para isso.",
        "E aquele jantar que você prometeu? Os outros laboratórios oferecem até viagem.",
        "Pedido errado pela terceira vez. Estou muito insatisfeito, isso é um absurdo.",
        "Ninguém me responde há uma semana. Isso é um absurdo, vou reclamar com a diretoria.",
    ],
    risk_internal: &[
        "Pessoal, apaguem essa conversa depois. Apaga mesmo, tá?",
        "Quem bater a meta leva o médico para jantar, lança como material científico.",
        "Vamos falar disso no Telegram, aqui o compliance lê tudo.",
        "Já combinei a viagem do médico da Vila Mariana para o congresso, ele vai prescrever mais.",
        "Manda no meu número pessoal: {personal}.",
    ],
    attach_staff: &[
        AttachmentKind {
            name: "Estudo_{productfile}_fase3.pdf",
            media_type: "application/pdf",
            size: (420_000, 3_600_000),
            captions: &[
                "Segue o estudo que comentei.",
                "Publicação completa do estudo de fase III.",
            ],
            chat_only: false,
        },
        AttachmentKind {
            name: "Tabela_precos_2026.xlsx",
            media_type: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            size: (24_000, 88_000),
            captions: &["Tabela de preços atualizada."],
            chat_only: false,
        },
        AttachmentKind {
            name: "NF-e_{order}.pdf",
            media_type: "application/pdf",
            size: (40_000, 120_000),
            captions: &["Segue a nota fiscal do pedido {order}."],
            chat_only: false,
        },
        AttachmentKind {
            name: "Bula_{productfile}.pdf",
            media_type: "application/pdf",
            size: (150_000, 600_000),
            captions: &["Bula atualizada do {product}."],
            chat_only: false,
        },
        WA_VOICE,
    ],
    attach_client: &[
        AttachmentKind {
            name: "IMG-{wadate}-WA{wan}.jpg",
            media_type: "image/jpeg",
            size: (80_000, 2_200_000),
            captions: &[
                "Foto da caixa que chegou avariada.",
                "Olha como chegou.",
                "",
            ],
            chat_only: true,
        },
        WA_VOICE,
        WA_PHOTO_BARE,
    ],
    mail_staff: MailStyle {
        greetings: &["Olá, {them},", "Bom dia, {them}.", "Prezado(a) {them},"],
        signoffs: &[
            "Atenciosamente,\n{full}\nRepresentante, {desk}\nVitalis Farmacêutica",
            "Abraços,\n{me}",
        ],
    },
    mail_client: MailStyle {
        greetings: &["Oi {them},", "Olá {them},", "{them},"],
        signoffs: &["Att.,\n{full}\n{org}", "Obrigado(a),\n{me}"],
    },
    mail_internal: MailStyle {
        greetings: &["Oi {them},", "Pessoal,", "{them},"],
        signoffs: &["Abs,\n{me}", "Obrigada,\n{me}", "{me}"],
    },
    days: &[
        "segunda-feira",
        "terça-feira",
        "quarta-feira",
        "quinta-feira",
        "sexta-feira",
    ],
    times: &["9h", "10h", "10h30", "11h", "14h", "15h30", "16h", "17h"],
};

const PHARMA_VISIT: Scenario = Scenario {
    desk: "",
    audience: Audience::Doctor,
    opener: Opener::Either,
    subjects: &[
        "Visita {day}",
        "Agendamento de visita: {product}",
        "Material do {product}",
    ],
    open_staff: &[
        "Olá {them}, tudo bem? Gostaria de agendar uma visita na {day} às {time} para mostrar os novos dados do {product}.",
        "Bom dia, {them}! Posso passar no consultório na {day}, às {time}?",
        "Boa tarde, {them}. Aqui é {me}, da Vitalis. Teria um horário esta semana?",
        "{them}, bom dia! Chegou a nova apresentação do {product}, posso levar na {day}?",
    ],
    open_client: &[
        "Oi {them}, pode passar aqui na {day}?",
        "{them}, boa tarde. Preciso de mais informações sobre o {product}, você consegue vir aqui?",
        "Bom dia! A secretária disse que você ligou. Pode ser {day} às {time}?",
    ],
    staff: &[
        "Perfeito, confirmado para {day} às {time}.",
        "Vou levar as amostras do {product} e o estudo publicado.",
        "Sem problemas, podemos remarcar para a próxima semana.",
        "Prefere que eu mande o material por e-mail também?",
        "Obrigado pela atenção! Até {day}.",
        "Estou a caminho, chego em 15 minutos.",
        "Cheguei, estou na recepção.",
    ],
    client: &[
        "Pode ser, mas só tenho 15 minutos.",
        "Essa semana está complicada, não consigo.",
        "Traz a bula atualizada, por favor.",
        "Combinado.",
        "Prefiro depois das 17h.",
        "Tudo bem, até lá.",
        "Estou atrasado(a) com os pacientes, pode esperar uns 20 minutos?",
    ],
    close_staff: &[
        "Obrigado, {them}! Até a próxima.",
        "Combinado, até lá. Boa semana!",
    ],
    close_client: &["Obrigado(a).", "Até mais.", "Combinado, obrigado(a)!"],
};

const PHARMA_ORDER: Scenario = Scenario {
    desk: "Varejo",
    audience: Audience::Pharmacy,
    opener: Opener::Client,
    subjects: &["Pedido {product}", "Pedido {order}", "Reposição de estoque"],
    open_staff: &[],
    open_client: &[
        "Oi {them}, preciso repor o estoque de {product}. Consegue {qty} caixas?",
        "Bom dia {them}! Tem {product} disponível? Preciso de {qty} unidades até {day}.",
        "{them}, o {product} acabou aqui na farmácia. Consegue mandar essa semana?",
    ],
    staff: &[
        "Consigo sim! Pedido {order} registrado, entrega prevista para {day}.",
        "O {product} está com condição especial este mês: 10% de desconto acima de 50 caixas.",
        "Vou verificar a disponibilidade no centro de distribuição e já te retorno.",
        "Pedido {order} confirmado, a nota fiscal segue por e-mail.",
        "O prazo de entrega é de 2 dias úteis.",
        "Bom dia! Pode deixar, já lancei no sistema.",
    ],
    client: &[
        "Qual o prazo de entrega?",
        "Pode mandar a nota fiscal para o e-mail da farmácia?",
        "Ótimo, obrigado!",
        "O último pedido chegou com uma caixa avariada.",
        "Ainda não recebi a confirmação.",
        "Pode aumentar para {qty} caixas?",
        "Fechado então.",
    ],
    close_staff: &[
        "Obrigado pela parceria, {them}!",
        "Qualquer coisa, estou à disposição.",
    ],
    close_client: &["Obrigado!", "Valeu, {them}.", "Combinado, obrigado."],
};

const PHARMA_SCIENCE: Scenario = Scenario {
    desk: "",
    audience: Audience::Doctor,
    opener: Opener::Staff,
    subjects: &[
        "Estudo de fase III: {product}",
        "Informação científica: {product}",
    ],
    open_staff: &[
        "{them}, o estudo de fase III do {product} foi publicado. Quer que eu envie?",
        "Olá {them}! Saiu a atualização da bula do {product}, com nova posologia.",
    ],
    open_client: &[],
    staff: &[
        "Essa pergunta preciso encaminhar para a nossa área médica, tudo bem?",
        "A área médica responde em até 48 horas.",
        "Os eventos adversos mais comuns no estudo foram leves e transitórios.",
        "Posso agendar uma conversa com o nosso consultor científico.",
        "Mando o resumo por e-mail agora.",
    ],
    client: &[
        "Quais os efeitos adversos mais comuns?",
        "Tem apresentação pediátrica?",
        "Pode enviar sim, obrigado(a).",
        "Tem interação com anticoagulantes?",
        "Interessante. Manda o link do artigo.",
    ],
    close_staff: &["Obrigado pela atenção, {them}!"],
    close_client: &["Obrigado(a), vou ler.", "Recebido, obrigado(a)."],
};

const PHARMA_DELIVERY: Scenario = Scenario {
    desk: "Varejo",
    audience: Audience::Pharmacy,
    opener: Opener::Staff,
    subjects: &["Entrega do pedido {order}"],
    open_staff: &[
        "Bom dia, {them}! O pedido {order} saiu para entrega hoje.",
        "{them}, a transportadora atrasou, o pedido {order} chega na {day}.",
    ],
    open_client: &[],
    staff: &[
        "A previsão é entre 14h e 18h.",
        "Já cobrei a transportadora, desculpe o transtorno.",
        "Chegou tudo certo?",
        "O código de rastreio vai por SMS.",
    ],
    client: &[
        "Ok, vou avisar o pessoal da recepção.",
        "Chegou, obrigado!",
        "Ainda não chegou nada aqui.",
        "Faltou uma caixa do {product}.",
    ],
    close_staff: &["Qualquer problema é só me chamar."],
    close_client: &["Obrigado!", "Tudo certo, valeu."],
};

const PHARMA_TEAM: Scenario = Scenario {
    desk: "",
    audience: Audience::Any,
    opener: Opener::Staff,
    subjects: &[
        "Reunião de ciclo {day}",
        "Metas da semana",
        "Amostras {product}",
    ],
    open_staff: &[
        "Pessoal, reunião de ciclo na {day} às {time}, confirmem presença.",
        "{them}, bati a meta de visitas da semana!",
        "Alguém tem amostra de {product} sobrando?",
        "Relatório de despesas até sexta, pessoal.",
    ],
    open_client: &[],
    staff: &[
        "Confirmado.",
        "Tenho duas caixas, passo aí amanhã.",
        "Parabéns! 👏",
        "Vou atrasar uns 10 minutos.",
        "Já enviei o relatório.",
        "O novo material do {product} chegou no escritório.",
        "Alguém cobre minhas visitas na {day}? Tenho médico.",
    ],
    client: &[],
    close_staff: &["Valeu, pessoal!", "Obrigada, {them}.", "👍"],
    close_client: &[],
};

/// Brazilian given names with whether the person is a woman (for "Dr."/"Dra.").
pub(crate) const BR_FIRST: &[(&str, bool)] = &[
    ("Eduardo", false),
    ("Fernanda", true),
    ("Ricardo", false),
    ("Patrícia", true),
    ("Marcelo", false),
    ("Luciana", true),
    ("André", false),
    ("Beatriz", true),
    ("Gustavo", false),
    ("Renata", true),
    ("Paulo", false),
    ("Cláudia", true),
    ("Henrique", false),
    ("Tatiana", true),
    ("João", false),
    ("Débora", true),
];
/// Brazilian family names.
pub(crate) const BR_LAST: &[&str] = &[
    "Lacerda",
    "Queiroz",
    "Nogueira",
    "Azevedo",
    "Gonçalves",
    "Araújo",
    "Magalhães",
    "Conceição",
    "Figueiredo",
    "Sampaio",
    "Brandão",
    "Vasconcelos",
    "Peixoto",
    "Damasceno",
];
/// Clinics (for doctors) and their e-mail domains.
pub(crate) const BR_CLINICS: &[(&str, &str)] = &[
    ("Clínica Vida Plena", "vidaplena.example.org"),
    ("Instituto do Coração Paulista", "icpaulista.example.org"),
    ("Consultório Jardim Europa", "jdeuropa.example.org"),
    ("Centro Médico Vila Mariana", "cmvilamariana.example.org"),
];
/// Pharmacies and their e-mail domains.
pub(crate) const BR_PHARMACIES: &[(&str, &str)] = &[
    ("Drogaria Boa Saúde", "boasaude.example.org"),
    ("Farmácia São Judas Tadeu", "saojudas.example.org"),
    ("Drogaria Paulista Popular", "paulistapopular.example.org"),
    ("Farmácia Pinheiros", "farmapinheiros.example.org"),
];
/// Fictional products: label and the word used in file names.
pub(crate) const PRODUCTS: &[(&str, &str)] = &[
    ("Cardiovex 20 mg", "Cardiovex"),
    ("Glicomax XR 500 mg", "Glicomax"),
    ("Pressoral 50 mg", "Pressoral"),
    ("Neurozen 10 mg", "Neurozen"),
    ("Dermaclin gel 30 g", "Dermaclin"),
    ("Imunovit D 2.000 UI", "Imunovit"),
];

// ---------------------------------------------------------------------------
// Indian contact centre
// ---------------------------------------------------------------------------

const CARE: FirmProfile = FirmProfile {
    code: "pnq",
    business_unit: "Kirana Direct Customer Care (Pune)",
    domain: "care.kiranadirect.example.com",
    staff: &[
        staff("Ananya", "Sharma", "Orders & Delivery L1"),
        staff("Rohit", "Verma", "Orders & Delivery L1"),
        staff("Kavya", "Nair", "Returns & Refunds L1"),
        staff("Arjun", "Mehta", "Returns & Refunds L1"),
        staff("Sneha", "Kulkarni", "Payments L2"),
        staff("Vikram", "Iyer", "Payments L2"),
        staff("Divya", "Menon", "Orders & Delivery L2"),
        staff("Farhan", "Qureshi", "Team Lead, Pune"),
    ],
    opens_minute: 9 * 60,
    closes_minute: 21 * 60,
    opens_saturday: true,
    holidays: &[(1, 26), (3, 4), (8, 15), (10, 2)],
    internal_percent: 10,
    client_channels: [62, 22, 16],
    internal_channels: [80, 0, 20],
    scenarios: &[CARE_ORDER_STATUS, CARE_RETURN, CARE_PAYMENT, CARE_DELIVERY],
    internal: &[CARE_TEAM],
    risk_staff: &[
        "Please WhatsApp me on my personal number {personal}, I will get it done fast.",
        "Ye offer system mein nahi hai, please delete this chat after reading.",
        "I guarantee a full refund plus ₹500 cashback if you close the complaint today.",
        "Share your card number and OTP here, I will process the refund directly.",
    ],
    risk_client: &[
        "My card number is {card}, exp {exp}. Please refund to this card.",
        "Card no {card} se payment kiya tha, paisa cut gaya but order nahi aaya.",
        "This is the third time I am writing. Totally unacceptable. I will go to the consumer forum.",
        "Bahut pathetic service hai. 10 din ho gaye, koi response nahi. I want to speak to your manager.",
        "Already waited two weeks, this is unacceptable. Escalate today or I file with the consumer forum.",
    ],
    risk_internal: &[
        "Bhai delete kar do ye chat, QA dekh lega.",
        "Close the ticket as resolved, customer won't check. Delete this chat after.",
        "Text me on my personal number, team lead is monitoring this group: {personal}",
    ],
    attach_staff: &[
        AttachmentKind {
            name: "Invoice_{order}.pdf",
            media_type: "application/pdf",
            size: (30_000, 90_000),
            captions: &["Please find your invoice attached."],
            chat_only: false,
        },
        AttachmentKind {
            name: "Return_label_{order}.pdf",
            media_type: "application/pdf",
            size: (20_000, 60_000),
            captions: &["Return label attached, please paste it on the package."],
            chat_only: false,
        },
    ],
    attach_client: &[
        AttachmentKind {
            name: "IMG-{wadate}-WA{wan}.jpg",
            media_type: "image/jpeg",
            size: (90_000, 3_100_000),
            captions: &[
                "Photo of the damaged product",
                "Ye dekhiye, box toota hua aaya hai",
                "",
            ],
            chat_only: true,
        },
        AttachmentKind {
            name: "Screenshot_{wadate}-{hms}.png",
            media_type: "image/png",
            size: (120_000, 1_400_000),
            captions: &["Payment screenshot", "Amount debited, see screenshot", ""],
            chat_only: false,
        },
        WA_VOICE,
    ],
    mail_staff: MailStyle {
        greetings: &["Dear {them},", "Hello {them},"],
        signoffs: &[
            "Warm regards,\n{full}\nKirana Direct Customer Care",
            "Regards,\n{me}\n{desk}, Kirana Direct",
        ],
    },
    mail_client: MailStyle {
        greetings: &["Hi,", "Hello team,", "Dear Sir/Madam,"],
        signoffs: &["Regards,\n{full}", "Thanks,\n{me}", "{full}\n{phone}"],
    },
    mail_internal: MailStyle {
        greetings: &["Hi {them},", "Team,"],
        signoffs: &["Thanks,\n{me}", "Regards,\n{me}"],
    },
    days: &[
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
        "tomorrow",
    ],
    times: &["10 am", "11:30 am", "1 pm", "3 pm", "5 pm", "7 pm"],
};

const CARE_ORDER_STATUS: Scenario = Scenario {
    desk: "Orders",
    audience: Audience::Any,
    opener: Opener::Client,
    subjects: &[
        "Order {order} not delivered",
        "Delivery status {order}",
        "Where is my order {order}?",
    ],
    open_staff: &[],
    open_client: &[
        "Hi, my order {order} hasn't arrived yet.",
        "Hello, order {order} ka status kya hai?",
        "Mera order {order} kab tak aayega?",
        "Hi, I ordered a {item} last week, still not delivered. Order no {order}.",
    ],
    staff: &[
        "Hello {them}, thank you for contacting Kirana Direct. I'm {me}, let me check {order} for you.",
        "Your order is out for delivery and will reach you by 7 pm today.",
        "I apologise for the delay. Courier partner ne delay kiya hai, it will be delivered by {date}.",
        "I have raised ticket {ticket}, you will get an update within 24 hours.",
        "Can you please confirm your registered mobile number?",
        "Tracking number is {awb}, you can track it on track.example.com.",
        "Is there anything else I can help you with?",
        "Thank you for your patience 🙏",
    ],
    client: &[
        "Ok thanks",
        "Theek hai, but please make sure it comes today",
        "Kitne din aur lagenge?",
        "Registered number yahi hai",
        "Please hurry, it's a gift",
        "Ok, I'll wait",
        "Tracking link kaam nahi kar raha",
        "Delivery boy ne call nahi kiya",
    ],
    close_staff: &[
        "Thank you for choosing Kirana Direct. Have a great day!",
        "Dhanyavaad {them}, aapka din shubh ho!",
    ],
    close_client: &["Thanks", "Ok thank you", "Theek hai, thanks 🙏"],
};

const CARE_RETURN: Scenario = Scenario {
    desk: "Returns",
    audience: Audience::Any,
    opener: Opener::Client,
    subjects: &[
        "Return request {order}",
        "Damaged product: {item}",
        "Refund for {order}",
    ],
    open_staff: &[],
    open_client: &[
        "I want to return the {item}, size is wrong.",
        "Product damaged aaya hai, return karna hai. Order {order}.",
        "Hi, the {item} stopped working after 2 days. Need replacement.",
        "Refund kab tak aayega? Returned the {item} last week.",
    ],
    staff: &[
        "Sorry to hear that, {them}. Could you please share a photo of the product?",
        "Pickup is scheduled for {date} between 10 am and 6 pm.",
        "Your refund of {inr} has been initiated, 5-7 working days mein account mein aa jayega.",
        "Replacement order created, it will be delivered by {date}.",
        "I have raised ticket {ticket} with our returns team.",
        "Please keep the original packaging ready for pickup.",
    ],
    client: &[
        "Sending the photo now",
        "Ok, pickup {date} is fine",
        "Replacement chahiye, refund nahi",
        "Thik hai",
        "How will I know the refund is done?",
        "Original box nahi hai, chalega?",
    ],
    close_staff: &[
        "Thank you {them}, have a nice day!",
        "Glad I could help. Take care!",
    ],
    close_client: &["Thanks for the help", "Ok 👍", "Thank you"],
};

const CARE_PAYMENT: Scenario = Scenario {
    desk: "Payments",
    audience: Audience::Any,
    opener: Opener::Client,
    subjects: &[
        "Payment failed but amount debited",
        "Double charge on order {order}",
    ],
    open_staff: &[],
    open_client: &[
        "Payment failed but {inr} debited from my account.",
        "Paisa kat gaya par order confirm nahi hua. {inr}.",
        "I was charged twice for order {order}.",
    ],
    staff: &[
        "Please don't worry, {them}. A failed payment is auto-reversed within 48 hours.",
        "Could you share the UPI transaction reference number?",
        "I can see the duplicate charge of {inr}, refund initiated under ticket {ticket}.",
        "For your security, please never share your full card details or OTP with anyone.",
        "The bank may take 5-7 working days to credit the amount.",
    ],
    client: &[
        "Sharing the UPI reference as a screenshot",
        "Ok, will wait 48 hours",
        "Bank is saying it's your side",
        "Haan ji, same account",
        "Please check again",
    ],
    close_staff: &["Thank you for your patience, {them}.", "Have a good day!"],
    close_client: &["Ok thanks", "Shukriya"],
};

const CARE_DELIVERY: Scenario = Scenario {
    desk: "Orders",
    audience: Audience::Any,
    opener: Opener::Staff,
    subjects: &["Your order {order} has been shipped"],
    open_staff: &[
        "Kirana Direct: your order {order} ({item}) has been shipped. Track: https://track.example.com/{awb}",
        "Kirana Direct: your order {order} is out for delivery today.",
        "Hi {them}, your {item} will be delivered on {date}. Reply 1 to confirm, 2 to reschedule.",
    ],
    open_client: &[],
    staff: &[
        "Noted, delivery rescheduled to {date}.",
        "Our delivery partner will call you 30 minutes before arrival.",
        "Delivered. Rate your experience at https://feedback.example.com/{order}",
        "Cash on delivery amount: {inr}.",
    ],
    client: &[
        "2",
        "1",
        "Can you deliver after 6 pm?",
        "Aaj ghar pe koi nahi hai, kal deliver karo please",
        "Leave it with the security guard",
        "Received, thanks",
    ],
    close_staff: &["Thank you for shopping with Kirana Direct!"],
    close_client: &["👍", "Ok"],
};

const CARE_TEAM: Scenario = Scenario {
    desk: "",
    audience: Audience::Any,
    opener: Opener::Staff,
    subjects: &["Shift roster {date}", "AHT update", "Queue status"],
    open_staff: &[
        "{them}, customer on {order} wants a supervisor, can you take it?",
        "Queue is heavy team, please keep breaks short.",
        "AHT is high today, let's keep it under 6 minutes.",
        "Shift roster for {date} is shared on the portal.",
    ],
    open_client: &[],
    staff: &[
        "Sure, on it",
        "Taking the call now",
        "Ok noted 👍",
        "Can I swap my shift on {date}?",
        "System is slow again, CRM not loading",
        "Done, customer is happy now",
    ],
    client: &[],
    close_staff: &["Thanks team 🙏", "Good work today", "Ok"],
    close_client: &[],
};

/// Indian given names.
pub(crate) const IN_FIRST: &[&str] = &[
    "Rahul", "Pooja", "Amit", "Neha", "Suresh", "Deepika", "Manoj", "Sunita", "Karan", "Aisha",
    "Vivek", "Lakshmi", "Imran", "Meera", "Sandeep", "Kavitha", "Harpreet", "Ritu",
];
/// Indian family names.
pub(crate) const IN_LAST: &[&str] = &[
    "Gupta",
    "Singh",
    "Patel",
    "Joshi",
    "Reddy",
    "Rao",
    "Yadav",
    "Das",
    "Malhotra",
    "Khan",
    "Iyer",
    "Pillai",
    "Chatterjee",
    "Deshmukh",
    "Naidu",
    "Bhatia",
];
/// Retail items: description and typical price in rupees.
pub(crate) const ITEMS: &[(&str, u32)] = &[
    ("wireless earbuds", 1_499),
    ("pressure cooker 5L", 2_199),
    ("cotton kurta (size M)", 899),
    ("mixer grinder 750W", 3_499),
    ("school bag", 749),
    ("LED bulb pack of 6", 499),
    ("running shoes (size 9)", 2_799),
    ("smartwatch", 4_999),
    ("non-stick tawa", 649),
    ("ceiling fan", 2_349),
];
/// Test card numbers from card-network documentation (all pass Luhn).
pub(crate) const TEST_CARDS: &[&str] = &[
    "4111 1111 1111 1111",
    "5555 5555 5555 4444",
    "4012 8888 8888 1881",
    "5105 1051 0510 5100",
    "4000 0566 5566 5556",
    "3782 822463 10005",
];
