-- Local history and the outbox in one table: a message typed here is a row in state
-- 'queued' (the outbox) from the moment `send` returns, becomes 'sent' when the relay acks it
-- (gaining its seq), or 'failed' when it expired or was refused. Messages from others arrive
-- as 'received'. Ordered by seq; queued rows (no seq yet) by the order they were typed.
CREATE TABLE messages (
    local_order     INTEGER PRIMARY KEY AUTOINCREMENT,
    id              TEXT    NOT NULL UNIQUE,
    room            TEXT    NOT NULL,
    seq             INTEGER,
    sender          TEXT    NOT NULL,
    sender_name     TEXT    NOT NULL,
    body            TEXT    NOT NULL,
    sent_at         INTEGER NOT NULL,
    stored_at       INTEGER,
    route           TEXT,
    state           TEXT    NOT NULL CHECK (state IN ('queued', 'sent', 'failed', 'received')),
    error           TEXT
);

CREATE INDEX messages_by_room_seq ON messages (room, seq);
CREATE INDEX messages_queued ON messages (state) WHERE state = 'queued';

-- The last sequence number delivered per room: where the next join resumes.
CREATE TABLE cursors (
    room     TEXT    PRIMARY KEY NOT NULL,
    last_seq INTEGER NOT NULL
) WITHOUT ROWID;
