-- State an evaluator keeps between evaluations and across restarts: alert
-- for-state, what was sent to Alertmanager, survey cooldowns. One JSON
-- document per journey and key.
CREATE TABLE journey_state (
    journey    text        NOT NULL,
    key        text        NOT NULL,
    value      jsonb       NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (journey, key)
);
