-- A device id is unique within a site, not across the fleet: two stores that reuse "gw-1" are two
-- gateways, and one store's messages must never clear another's alert or move its device. Every
-- per-device key gains the site (the topic's, which the hub checks against the body).
ALTER TABLE devices DROP CONSTRAINT devices_pkey, ADD PRIMARY KEY (site, device_id);
ALTER TABLE alerts DROP CONSTRAINT alerts_pkey, ADD PRIMARY KEY (site, device_id, alert_id);
ALTER TABLE latest_summaries DROP CONSTRAINT latest_summaries_pkey,
    ADD PRIMARY KEY (site, device_id, camera);
ALTER TABLE event_sequences ADD COLUMN site text;
UPDATE event_sequences q SET site = (SELECT e.site FROM events e
    WHERE e.device_id = q.device_id ORDER BY e.ts_ms DESC LIMIT 1);
DELETE FROM event_sequences WHERE site IS NULL;
ALTER TABLE event_sequences ALTER COLUMN site SET NOT NULL, DROP CONSTRAINT event_sequences_pkey,
    ADD PRIMARY KEY (site, device_id, store_id);
ALTER TABLE rollout_targets DROP CONSTRAINT rollout_targets_pkey,
    ADD PRIMARY KEY (rollout_id, site, device_id);
DROP INDEX events_device_seq;
DROP INDEX events_device_ts;
DROP INDEX events_updates;
CREATE INDEX events_device_ts ON events (site, device_id, ts_ms);
CREATE INDEX events_updates ON events (site, device_id, received_at) WHERE kind = 'update';
