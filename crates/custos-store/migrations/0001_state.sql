-- The state projections of the journal (custos-store). Portable SQL: the
-- same text runs on SQLite and PostgreSQL (BIGINT, TEXT, DOUBLE PRECISION;
-- times are UTC microseconds; lists are JSON text). Every row can be
-- dropped and rebuilt from the journal; `projection_position` says how far
-- the rows reach.

CREATE TABLE projection_position (
    id BIGINT PRIMARY KEY,
    next_seq BIGINT NOT NULL
);
INSERT INTO projection_position (id, next_seq) VALUES (1, 0);

-- Alerts: one row per alert, its review state as the fold gives it.
-- key_id is the data key of the entry that raised it (erasure removes it).
CREATE TABLE alerts (
    id TEXT PRIMARY KEY,
    seq BIGINT NOT NULL,
    key_id TEXT NOT NULL,
    raised_at BIGINT NOT NULL,
    origin TEXT NOT NULL,
    policy TEXT NOT NULL,
    policy_version BIGINT NOT NULL,
    title TEXT NOT NULL,
    category TEXT NOT NULL,
    severity BIGINT NOT NULL,
    score DOUBLE PRECISION,
    status TEXT NOT NULL,
    disposition TEXT,
    assignee TEXT,
    custodian TEXT,
    channel TEXT NOT NULL,
    conversation TEXT NOT NULL,
    source_id TEXT NOT NULL,
    message_seq BIGINT NOT NULL,
    sent_at BIGINT NOT NULL,
    repeats BIGINT NOT NULL,
    tags TEXT NOT NULL,
    evidence TEXT NOT NULL
);
CREATE INDEX alerts_newest ON alerts (raised_at, id);
CREATE INDEX alerts_status ON alerts (status, raised_at, id);
CREATE INDEX alerts_assignee ON alerts (assignee, raised_at, id);
CREATE INDEX alerts_custodian ON alerts (custodian);
CREATE INDEX alerts_key ON alerts (key_id);

-- Every review action on an alert (a note is content: key_id erases it).
CREATE TABLE alert_history (
    alert_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    key_id TEXT NOT NULL,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    assignee TEXT,
    disposition TEXT,
    note TEXT NOT NULL,
    PRIMARY KEY (alert_id, seq)
);
CREATE INDEX alert_history_key ON alert_history (key_id);

-- The parties (party ids) of each alert's message, for the barrier.
CREATE TABLE alert_parties (
    alert_id TEXT NOT NULL,
    party TEXT NOT NULL,
    PRIMARY KEY (alert_id, party)
);
CREATE INDEX alert_parties_party ON alert_parties (party);

CREATE TABLE holds (
    id TEXT PRIMARY KEY,
    key_id TEXT NOT NULL,
    name TEXT NOT NULL,
    reason TEXT NOT NULL,
    scope TEXT NOT NULL,
    placed_by TEXT NOT NULL,
    placed_at BIGINT NOT NULL,
    released_by TEXT,
    released_at BIGINT,
    release_reason TEXT
);

CREATE TABLE cases (
    id TEXT PRIMARY KEY,
    key_id TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    custodians TEXT NOT NULL,
    from_at BIGINT,
    to_at BIGINT,
    opened_by TEXT NOT NULL,
    opened_at BIGINT NOT NULL,
    holds TEXT NOT NULL,
    closed_by TEXT,
    closed_at BIGINT,
    close_reason TEXT
);

CREATE TABLE case_searches (
    case_id TEXT NOT NULL,
    name TEXT NOT NULL,
    query TEXT NOT NULL,
    saved_by TEXT NOT NULL,
    PRIMARY KEY (case_id, name)
);

-- Review decisions of a case: relevant / not relevant / privileged.
CREATE TABLE case_decisions (
    case_id TEXT NOT NULL,
    message_seq BIGINT NOT NULL,
    key_id TEXT NOT NULL,
    tag TEXT NOT NULL,
    decided_by TEXT NOT NULL,
    at BIGINT NOT NULL,
    note TEXT NOT NULL,
    PRIMARY KEY (case_id, message_seq)
);
CREATE INDEX case_decisions_key ON case_decisions (key_id);

-- Every consent change, and the current state per party and channel.
CREATE TABLE consent_changes (
    seq BIGINT PRIMARY KEY,
    key_id TEXT NOT NULL,
    party TEXT NOT NULL,
    channel TEXT NOT NULL,
    state TEXT NOT NULL,
    evidence TEXT NOT NULL,
    at BIGINT NOT NULL,
    recorded_by TEXT NOT NULL
);
CREATE INDEX consent_changes_party ON consent_changes (party, channel, seq);
CREATE INDEX consent_changes_key ON consent_changes (key_id);

CREATE TABLE consent_current (
    party TEXT NOT NULL,
    channel TEXT NOT NULL,
    state TEXT NOT NULL,
    seq BIGINT NOT NULL,
    at BIGINT NOT NULL,
    PRIMARY KEY (party, channel)
);

-- Users and API tokens: never a secret (no password hash, no token digest).
CREATE TABLE users (
    id TEXT PRIMARY KEY,
    key_id TEXT NOT NULL,
    name TEXT NOT NULL,
    roles TEXT NOT NULL,
    units TEXT NOT NULL,
    custodian TEXT,
    disabled BIGINT NOT NULL,
    added_at BIGINT NOT NULL,
    added_by TEXT NOT NULL
);

CREATE TABLE tokens (
    id TEXT PRIMARY KEY,
    key_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    roles TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    created_by TEXT NOT NULL
);

CREATE TABLE custodians (
    id TEXT PRIMARY KEY,
    key_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    name TEXT NOT NULL,
    phone TEXT NOT NULL,
    party TEXT NOT NULL,
    opted_in TEXT NOT NULL,
    roles TEXT NOT NULL,
    enrolled_at TEXT NOT NULL,
    enrolled_by TEXT NOT NULL,
    acknowledgement_seq BIGINT
);
CREATE INDEX custodians_party ON custodians (party);

CREATE TABLE custodian_units (
    custodian TEXT NOT NULL,
    unit TEXT NOT NULL,
    PRIMARY KEY (custodian, unit)
);
CREATE INDEX custodian_units_unit ON custodian_units (unit, custodian);
