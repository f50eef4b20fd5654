-- Rate-limit counters, shared by every replica (SPEC §2.10): the hits of one key (`bucket:key`)
-- in one fixed window. `window_start` is a multiple of the window length on ward's clock
-- (seconds since the epoch), never the database's `now()`. Windows older than the previous one
-- are deleted as new windows begin.
CREATE TABLE rate_limits (
    key          TEXT NOT NULL,
    window_start BIGINT NOT NULL,
    count        BIGINT NOT NULL,
    PRIMARY KEY (key, window_start)
);
CREATE INDEX rate_limits_window_start ON rate_limits (window_start);
