-- Second factor: one-time codes (TOTP, RFC 6238) and recovery codes (issue 16).
--
-- A user's authenticator secret (base32). `enabled_at` is NULL while the enrolment is not yet
-- confirmed with a code; the secret is shown only then, never once enabled. `last_step` is the
-- time step (Unix seconds / 30) of the last code accepted: a code is accepted only for a later
-- step, so the same code cannot be replayed within its window.
CREATE TABLE user_totp (
    user_id BIGINT NOT NULL PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    secret TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    enabled_at BIGINT,
    last_step BIGINT,
    last_used_at BIGINT
);

-- Single-use recovery codes, stored as SHA-256 (they are random, ~49 bits each, and throttled).
CREATE TABLE totp_recovery_codes (
    code_hash TEXT NOT NULL PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX totp_recovery_codes_user ON totp_recovery_codes (user_id);

-- A login between the right password and the code: an opaque random token (stored hashed),
-- bound to its user, expiring after a few minutes, used once. `device_hash` is the known
-- device the password came from (remembered when the login ends).
CREATE TABLE login_challenges (
    id_hash TEXT NOT NULL PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    device_hash TEXT,
    next_path TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX login_challenges_expires ON login_challenges (expires_at);

-- An administrator may require the second factor of every holder of a role.
ALTER TABLE roles ADD COLUMN require_second_factor BIGINT NOT NULL DEFAULT 0;
