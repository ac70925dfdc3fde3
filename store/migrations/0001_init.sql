-- Version 1: the initial schema.
-- Times are Unix nanoseconds (0 = not set); work amounts are REAL work units.

CREATE TABLE orders (
    id              TEXT    PRIMARY KEY,
    token_hash      BLOB    NOT NULL,          -- SHA-256 of the bearer token, never the token
    state           TEXT    NOT NULL,
    txid            TEXT    NOT NULL DEFAULT '',
    raw_tx          BLOB,
    fee             INTEGER NOT NULL DEFAULT 0,
    vsize           INTEGER NOT NULL DEFAULT 0,
    required_work   REAL    NOT NULL,
    credited_work   REAL    NOT NULL DEFAULT 0,
    shares          INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL DEFAULT 0,
    paid_at         INTEGER NOT NULL DEFAULT 0,
    mined_at        INTEGER NOT NULL DEFAULT 0,
    confirmed_at    INTEGER NOT NULL DEFAULT 0,
    block_hash      TEXT    NOT NULL DEFAULT '',
    height          INTEGER NOT NULL DEFAULT 0,
    reason          TEXT    NOT NULL DEFAULT '',
    idempotency_key TEXT    NOT NULL DEFAULT '',
    request_hash    BLOB,
    updated_at      INTEGER NOT NULL
);
CREATE UNIQUE INDEX orders_idempotency_key ON orders(idempotency_key) WHERE idempotency_key <> '';
CREATE INDEX orders_state ON orders(state, created_at);
CREATE INDEX orders_created ON orders(created_at);

CREATE TABLE order_events (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    order_id  TEXT    NOT NULL REFERENCES orders(id),
    at        INTEGER NOT NULL,
    from_state TEXT   NOT NULL,
    to_state  TEXT    NOT NULL,
    detail    TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX order_events_order ON order_events(order_id, seq);

CREATE TABLE assignments (
    id          TEXT    PRIMARY KEY,
    order_id    TEXT    NOT NULL REFERENCES orders(id),
    job_id      TEXT    NOT NULL DEFAULT '',
    extranonce1 BLOB,
    extranonce2 BLOB,
    header      BLOB,
    nonce_start INTEGER NOT NULL DEFAULT 0,
    nonce_count INTEGER NOT NULL DEFAULT 0,
    share_diff  REAL    NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL DEFAULT 0,
    expires_at  INTEGER NOT NULL DEFAULT 0,
    closed      INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX assignments_order ON assignments(order_id);

-- Rowid table with a unique index on the hash: rows append in arrival order and only the
-- (smaller) hash index takes random inserts.
CREATE TABLE shares (
    header_hash     BLOB    NOT NULL UNIQUE,   -- internal byte order
    order_id        TEXT    NOT NULL REFERENCES orders(id),
    assignment_id   TEXT    NOT NULL DEFAULT '',
    worker          TEXT    NOT NULL DEFAULT '',
    job_id          TEXT    NOT NULL DEFAULT '',
    nonce           INTEGER NOT NULL,
    difficulty      REAL    NOT NULL,
    at              INTEGER NOT NULL,
    block_candidate INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX shares_order ON shares(order_id);

CREATE TABLE blocks (
    hash      TEXT    PRIMARY KEY,             -- display order
    height    INTEGER NOT NULL,
    prev_hash TEXT    NOT NULL DEFAULT '',
    txids     TEXT    NOT NULL DEFAULT '[]',   -- JSON array
    order_ids TEXT    NOT NULL DEFAULT '[]',   -- JSON array
    found_at  INTEGER NOT NULL DEFAULT 0,
    accepted  INTEGER NOT NULL DEFAULT 0,
    reason    TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX blocks_height ON blocks(height, found_at);

CREATE TABLE counters (
    name TEXT    PRIMARY KEY,
    next INTEGER NOT NULL
);
