-- Version 1: the initial schema (the same tables as the SQLite store's).
-- Times are Unix nanoseconds (0 = not set); work amounts are double precision work units.

CREATE TABLE orders (
    id              TEXT             PRIMARY KEY,
    token_hash      BYTEA            NOT NULL,   -- SHA-256 of the bearer token, never the token
    state           TEXT             NOT NULL,
    txid            TEXT             NOT NULL DEFAULT '',
    raw_tx          BYTEA,
    fee             BIGINT           NOT NULL DEFAULT 0,
    vsize           BIGINT           NOT NULL DEFAULT 0,
    required_work   DOUBLE PRECISION NOT NULL,
    credited_work   DOUBLE PRECISION NOT NULL DEFAULT 0,
    shares          BIGINT           NOT NULL DEFAULT 0,
    created_at      BIGINT           NOT NULL,
    expires_at      BIGINT           NOT NULL DEFAULT 0,
    paid_at         BIGINT           NOT NULL DEFAULT 0,
    mined_at        BIGINT           NOT NULL DEFAULT 0,
    confirmed_at    BIGINT           NOT NULL DEFAULT 0,
    block_hash      TEXT             NOT NULL DEFAULT '',
    height          INTEGER          NOT NULL DEFAULT 0,
    reason          TEXT             NOT NULL DEFAULT '',
    idempotency_key TEXT             NOT NULL DEFAULT '',
    request_hash    BYTEA,
    updated_at      BIGINT           NOT NULL
);
CREATE UNIQUE INDEX orders_idempotency_key ON orders(idempotency_key) WHERE idempotency_key <> '';
CREATE INDEX orders_state ON orders(state, created_at);
CREATE INDEX orders_created ON orders(created_at);
CREATE INDEX orders_token_hash ON orders(token_hash);

CREATE TABLE order_events (
    seq        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_id   TEXT   NOT NULL REFERENCES orders(id),
    at         BIGINT NOT NULL,
    from_state TEXT   NOT NULL,
    to_state   TEXT   NOT NULL,
    detail     TEXT   NOT NULL DEFAULT ''
);
CREATE INDEX order_events_order ON order_events(order_id, seq);

CREATE TABLE assignments (
    id          TEXT             PRIMARY KEY,
    order_id    TEXT             NOT NULL REFERENCES orders(id),
    job_id      TEXT             NOT NULL DEFAULT '',
    extranonce1 BYTEA,
    extranonce2 BYTEA,
    header      BYTEA,
    nonce_start BIGINT           NOT NULL DEFAULT 0,
    nonce_count BIGINT           NOT NULL DEFAULT 0,
    share_diff  DOUBLE PRECISION NOT NULL DEFAULT 0,
    created_at  BIGINT           NOT NULL DEFAULT 0,
    expires_at  BIGINT           NOT NULL DEFAULT 0,
    closed      BOOLEAN          NOT NULL DEFAULT false
);
CREATE INDEX assignments_order ON assignments(order_id);

CREATE TABLE shares (
    header_hash     BYTEA            NOT NULL PRIMARY KEY,  -- internal byte order
    order_id        TEXT             NOT NULL REFERENCES orders(id),
    assignment_id   TEXT             NOT NULL DEFAULT '',
    worker          TEXT             NOT NULL DEFAULT '',
    job_id          TEXT             NOT NULL DEFAULT '',
    nonce           BIGINT           NOT NULL,
    difficulty      DOUBLE PRECISION NOT NULL,
    at              BIGINT           NOT NULL,
    block_candidate BOOLEAN          NOT NULL DEFAULT false
);
CREATE INDEX shares_order ON shares(order_id);

CREATE TABLE blocks (
    hash      TEXT    PRIMARY KEY,               -- display order
    height    INTEGER NOT NULL,
    prev_hash TEXT    NOT NULL DEFAULT '',
    txids     TEXT    NOT NULL DEFAULT '[]',     -- JSON array
    order_ids TEXT    NOT NULL DEFAULT '[]',     -- JSON array
    found_at  BIGINT  NOT NULL DEFAULT 0,
    accepted  BOOLEAN NOT NULL DEFAULT false,
    reason    TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX blocks_height ON blocks(height, found_at);

CREATE TABLE counters (
    name TEXT   PRIMARY KEY,
    next BIGINT NOT NULL
);
