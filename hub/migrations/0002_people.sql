-- The people who read the pages: fleet admins see every site, store ops only theirs.
CREATE TABLE users (
    name          text PRIMARY KEY,
    password_hash text NOT NULL,
    role          text NOT NULL CHECK (role IN ('fleet-admin', 'store-ops')),
    sites         text[] NOT NULL DEFAULT '{}',
    created_at    timestamptz NOT NULL DEFAULT now()
);

-- Only a hash of each session token is kept: a copy of the table logs no one in.
CREATE TABLE sessions (
    token_sha256 text PRIMARY KEY,
    user_name    text NOT NULL REFERENCES users (name) ON DELETE CASCADE,
    expires_at   timestamptz NOT NULL
);

ALTER TABLE alerts ADD COLUMN resolved_by text, ADD COLUMN resolved_at timestamptz;
CREATE INDEX events_device_ts ON events (device_id, ts_ms);

-- Each camera's newest summary, kept at ingest so the pages' "now" never scans `events`.
CREATE TABLE latest_summaries (
    device_id text NOT NULL,
    camera    text NOT NULL,
    site      text NOT NULL,
    ts_ms     bigint NOT NULL,
    zones     jsonb NOT NULL,
    PRIMARY KEY (device_id, camera)
);
