-- `events` partitioned by day of `ts_ms` (UTC), so retention drops whole days instead of deleting
-- rows. A primary key of a partitioned table must hold the partition key: (event_id, ts_ms) is as
-- unique as event_id alone, since a copy of an event carries the same ts_ms and so lands in the
-- same partition, where the key drops it. Rows of a day without its partition yet (a stamp far in
-- the past, or a day the hub was away for) go to `events_default`; the hub's retention task
-- (retention.rs) gives each day its partition, moving such rows into it, and drops old days.
ALTER TABLE events RENAME TO events_unpartitioned;
ALTER INDEX events_pkey RENAME TO events_unpartitioned_pkey;
DROP INDEX events_site_kind_ts;
DROP INDEX events_device_ts;
DROP INDEX events_updates;
CREATE TABLE events (
    event_id    text NOT NULL,
    device_id   text NOT NULL,
    site        text NOT NULL,
    seq         bigint NOT NULL,
    camera      text,
    ts_ms       bigint NOT NULL,
    kind        text NOT NULL,
    payload     jsonb NOT NULL,
    received_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (event_id, ts_ms)
) PARTITION BY RANGE (ts_ms);
CREATE TABLE events_default PARTITION OF events DEFAULT;
CREATE INDEX events_site_kind_ts ON events (site, kind, ts_ms);
CREATE INDEX events_device_ts ON events (site, device_id, ts_ms);
CREATE INDEX events_updates ON events (site, device_id, received_at) WHERE kind = 'update';
INSERT INTO events SELECT event_id, device_id, site, seq, camera, ts_ms, kind, payload, received_at
    FROM events_unpartitioned;
DROP TABLE events_unpartitioned;
