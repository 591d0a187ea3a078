-- Alert notifications, queued in the same transaction that stores the alert (so none is lost or
-- queued twice), sent by whichever replica takes the row first (FOR UPDATE SKIP LOCKED).
CREATE TABLE notifications (
    id          bigserial PRIMARY KEY,
    webhook     text NOT NULL,
    event_id    text NOT NULL,
    site        text NOT NULL,
    body        jsonb NOT NULL,
    state       text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'dead')),
    attempts    integer NOT NULL DEFAULT 0,
    next_at     timestamptz NOT NULL DEFAULT now(),
    last_error  text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    sent_at     timestamptz,
    UNIQUE (webhook, event_id)
);
CREATE INDEX notifications_due ON notifications (next_at) WHERE state = 'pending';
CREATE INDEX notifications_dead ON notifications (site) WHERE state = 'dead';

-- When the row was written, not when its transaction began: publish-to-row latency is measured
-- from it (docs/hub.md, "Scale").
ALTER TABLE events ALTER COLUMN received_at SET DEFAULT clock_timestamp();
