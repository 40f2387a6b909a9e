-- State an evaluator keeps between evaluations and across restarts: alert
-- for-state, what was sent to Alertmanager, survey cooldowns. One JSON
-- document per journey and key.
CREATE TABLE journey_state (
    journey    TEXT NOT NULL,
    key        TEXT NOT NULL,
    value      TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (journey, key)
);
