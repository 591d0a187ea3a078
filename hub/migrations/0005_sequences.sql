-- Per gateway and outbox (an event_id is `{store_id}:{seq}`; a reset outbox numbers afresh), the
-- range of `seq` the hub holds and how many rows: the difference is events that never arrived,
-- dropped by the gateway's outbox to stay within its limits or lost on the way (a broker's queue
-- cap). Kept up to date by each batch, so the fleet page reads it without scanning `events`.
CREATE TABLE event_sequences (
    device_id  text NOT NULL,
    store_id   text NOT NULL,
    first_seq  bigint NOT NULL,
    last_seq   bigint NOT NULL,
    stored     bigint NOT NULL,
    PRIMARY KEY (device_id, store_id)
);
INSERT INTO event_sequences
    SELECT device_id, left(event_id, length(event_id) - strpos(reverse(event_id), ':')), min(seq), max(seq), count(*)
    FROM events WHERE strpos(event_id, ':') > 0 GROUP BY 1, 2;
