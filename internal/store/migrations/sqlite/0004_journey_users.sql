-- Each journey map's per-user state (stage, stages entered, the bounded
-- history its expressions look at), so an evaluator that restarts resumes
-- from here and its watermark instead of re-reading every event. The
-- encoding belongs to internal/journey; the watermark and the spec hash
-- the states were computed for are in journey_state.
CREATE TABLE journey_users (
    journey TEXT NOT NULL,
    user_id TEXT NOT NULL,
    state   BLOB NOT NULL,
    PRIMARY KEY (journey, user_id)
);
