-- One row the relay rewrites every few seconds while its store is failing, to notice by itself
-- that the disk can be written again.
CREATE TABLE heartbeat (
    id         INTEGER PRIMARY KEY NOT NULL,
    written_at INTEGER NOT NULL
);
