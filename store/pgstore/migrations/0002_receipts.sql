-- Version 2: signed work receipts, kept apart from the shares so that compacting the
-- shares of ended orders keeps what receipts and their share proofs need.
CREATE TABLE receipts (
    order_id  TEXT   PRIMARY KEY REFERENCES orders(id),
    body      TEXT   NOT NULL,   -- the signed receipt, JSON
    leaves    BYTEA  NOT NULL,   -- the accepted shares' header hashes (32 bytes each, sorted)
    issued_at BIGINT NOT NULL
);
