-- Version 2: look orders up by the SHA-256 of their bearer token.
CREATE INDEX orders_token_hash ON orders(token_hash);
