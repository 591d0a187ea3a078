-- Staged rollouts: a signed offer published wave by wave, each wave judged from its gateways'
-- `update` events before the next is offered. The state lives here, so a rollout goes on from
-- where it was after any replica restarts, and only one replica drives it (an advisory lock).
CREATE TABLE rollouts (
    id             bigserial PRIMARY KEY,
    bundle         text NOT NULL,               -- the bundle's directory name, for people
    model          text NOT NULL,               -- the manifest's name
    version        bigint NOT NULL,
    offer          jsonb NOT NULL,              -- {"manifest", "signature", "cosignatures"} as published
    waves          text NOT NULL,               -- as given, e.g. '1,10%,100%'
    halt_above     double precision NOT NULL,   -- a wave's failed share above this halts the rollout
    wave_timeout_s bigint NOT NULL,             -- a gateway silent this long after its offer has failed
    state          text NOT NULL DEFAULT 'running' CHECK (state IN ('running', 'halted', 'done')),
    wave           integer NOT NULL DEFAULT 0,  -- the wave offered last (0: none yet)
    reason         text,
    offers_cleared boolean NOT NULL DEFAULT false, -- a halted rollout's unanswered offers withdrawn
    created_by     text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
-- One rollout per model at a time: two would offer gateways two versions in turn.
CREATE UNIQUE INDEX rollouts_one_running ON rollouts (model) WHERE state = 'running';

CREATE TABLE rollout_targets (
    rollout_id  bigint NOT NULL REFERENCES rollouts (id) ON DELETE CASCADE,
    device_id   text NOT NULL,
    site        text NOT NULL,
    wave        integer NOT NULL,
    offered_at  timestamptz,
    outcome     text NOT NULL DEFAULT 'pending' CHECK (outcome IN ('pending', 'committed', 'failed')),
    step        text,
    outcome_at  timestamptz,
    PRIMARY KEY (rollout_id, device_id)
);
CREATE INDEX events_updates ON events (device_id, received_at) WHERE kind = 'update';
