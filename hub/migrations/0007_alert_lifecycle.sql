-- Who closed an alert when the gateway did not: 'gateway report' (its health event no longer
-- lists it) or 'hub' (the gateway came back after the hub raised gateway_offline).
ALTER TABLE alerts ADD COLUMN cleared_by text;
-- When the hub last heard from the gateway (an online status or any event), by the hub's clock:
-- what gateway_offline is measured against, so a gateway's wrong clock cannot hide its silence.
ALTER TABLE devices ADD COLUMN seen_at timestamptz;
UPDATE devices SET seen_at = updated_at;
CREATE INDEX alerts_open_device ON alerts (site, device_id) WHERE cleared_ts_ms IS NULL;
-- Flapping: a raise within `alerts.regroup_s` of a clear of the same rule, zone and camera reopens
-- that row instead of making a new one; the new alert id is an alias of the row's, so its clear
-- finds the row. `flaps` counts the reopenings.
ALTER TABLE alerts ADD COLUMN flaps integer NOT NULL DEFAULT 0;
CREATE TABLE alert_aliases (
    site      text NOT NULL,
    device_id text NOT NULL,
    alias_id  text NOT NULL,
    alert_id  text NOT NULL,
    PRIMARY KEY (site, device_id, alias_id)
);
CREATE INDEX alerts_recently_cleared ON alerts (site, device_id, rule, cleared_ts_ms);
