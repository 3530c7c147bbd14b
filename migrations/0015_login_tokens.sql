-- Login, sessions and tokens (issue 16).
--
-- Login throttling as counters taken before the password is verified: one row per key (an
-- account's email, a known device, a client address), stored as the SHA-256 of the key so that
-- nothing typed in the email field (sometimes a password) is kept. `failures` counts the
-- attempts since the last success (an attempt counts until it succeeds), `delay_ms` is the
-- current backoff and `next_at` the earliest time the next attempt is verified. One upsert takes
-- an attempt (`identity::throttle::take`), so simultaneous attempts are counted one by one on
-- both backends and across processes.
CREATE TABLE login_throttle (
    key_hash TEXT NOT NULL PRIMARY KEY,
    failures BIGINT NOT NULL,
    delay_ms BIGINT NOT NULL,
    next_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX login_throttle_updated ON login_throttle (updated_at);

DROP TABLE login_attempts;

-- Devices a user logged in from (a random cookie, stored hashed): the right password from a
-- known device is not slowed down by failures made elsewhere.
CREATE TABLE known_devices (
    id_hash TEXT NOT NULL PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT NOT NULL
);
CREATE INDEX known_devices_user ON known_devices (user_id);

-- API tokens may expire (new ones after 90 days unless chosen otherwise); tokens made before
-- this release keep no expiry, and My account shows them as such.
ALTER TABLE api_tokens ADD COLUMN expires_at BIGINT;
