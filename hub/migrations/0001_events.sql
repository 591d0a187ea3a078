-- Every gateway event, once: the agent delivers at least once, the primary key makes it exactly once.
CREATE TABLE events (
    event_id    text PRIMARY KEY,
    device_id   text NOT NULL,
    site        text NOT NULL,
    seq         bigint NOT NULL,
    camera      text,
    ts_ms       bigint NOT NULL,
    kind        text NOT NULL,
    payload     jsonb NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX events_site_kind_ts ON events (site, kind, ts_ms);
CREATE INDEX events_device_seq ON events (device_id, seq);

-- Each gateway as its last retained status left it.
CREATE TABLE devices (
    device_id     text PRIMARY KEY,
    site          text NOT NULL,
    online        boolean NOT NULL,
    version       text NOT NULL,
    model         text NOT NULL,
    model_version bigint NOT NULL,
    status_ts_ms  bigint NOT NULL,
    cameras       jsonb NOT NULL,
    outbox_error  text,
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX devices_site ON devices (site);

-- One row per alert occurrence (the agent gives the raise and the clear the same alert_id). The
-- raise and the clear may reach different replicas in either order: each fills its own columns.
CREATE TABLE alerts (
    device_id     text NOT NULL,
    alert_id      text NOT NULL,
    site          text NOT NULL,
    camera        text,
    rule          text NOT NULL,
    severity      text NOT NULL,
    zone          text,
    metric        text,
    value         double precision,
    threshold     double precision,
    raised_ts_ms  bigint,
    cleared_ts_ms bigint,
    acked_by      text,
    acked_at      timestamptz,
    PRIMARY KEY (device_id, alert_id)
);
CREATE INDEX alerts_open ON alerts (site) WHERE cleared_ts_ms IS NULL;
