-- The journal on PostgreSQL (cluster mode): the source of truth that every
-- node's local data directory caches. Rows are only ever inserted, except a
-- shredded key's record, which becomes its tombstone.

-- The archive's constants: format, the KEK-wrapped signing key, the public key.
CREATE TABLE journal_meta (
    name  text PRIMARY KEY,
    value bytea NOT NULL
);

-- Each entry's exact frame as a segment holds it (leaf + sealed payload,
-- with its checksums), so a node rebuilds its segments byte for byte.
CREATE TABLE journal_entries (
    seq   bigint PRIMARY KEY CHECK (seq >= 0),
    frame bytea NOT NULL
);

-- The chain of signed tree heads, one per tree size.
CREATE TABLE journal_heads (
    tree_size bigint PRIMARY KEY,
    head      bytea NOT NULL
);

-- Data keys, KEK-wrapped, as the key store file holds them; a shredded
-- key's record is replaced by its tombstone. `name_tag` is a keyed hash
-- of the (subject, month) name (no personal data in clear): one live key
-- per name. `rev` orders changes so nodes catch up on new keys and
-- tombstones; it is set under the writer's lease, so it grows in commit
-- order.
CREATE SEQUENCE journal_keys_rev;
CREATE TABLE journal_keys (
    key_id   bytea PRIMARY KEY,
    name_tag bytea UNIQUE,
    record   bytea NOT NULL,
    rev      bigint NOT NULL DEFAULT nextval('journal_keys_rev')
);
CREATE INDEX journal_keys_by_rev ON journal_keys (rev);

-- Attachment bytes and raw payloads, sealed under their subject's key,
-- as the blob files hold them.
CREATE TABLE journal_blobs (
    key_id bytea NOT NULL,
    digest bytea NOT NULL,
    sealed bytea NOT NULL,
    PRIMARY KEY (key_id, digest)
);
