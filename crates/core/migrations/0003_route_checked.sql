-- The route a message came by is one of the engine's routes (`Route`: 'p2p', 'relay' or
-- 'poll'), checked here as the state already is, so that every row the engine wrote it can
-- read back. SQLite adds a CHECK only by rebuilding the table: rows keep their local order,
-- and the counter that numbers new rows carries on from where it was (retention may have
-- deleted the newest numbers; they are still not handed out again). A route no version of
-- the engine wrote is cleared.
CREATE TABLE messages_checked (
    local_order     INTEGER PRIMARY KEY AUTOINCREMENT,
    id              TEXT    NOT NULL UNIQUE,
    room            TEXT    NOT NULL,
    seq             INTEGER,
    sender          TEXT    NOT NULL,
    sender_name     TEXT    NOT NULL,
    body            TEXT    NOT NULL,
    sent_at         INTEGER NOT NULL,
    stored_at       INTEGER,
    route           TEXT    CHECK (route IN ('p2p', 'relay', 'poll')),
    state           TEXT    NOT NULL CHECK (state IN ('queued', 'sent', 'failed', 'received')),
    error           TEXT
);

INSERT INTO messages_checked (local_order, id, room, seq, sender, sender_name, body, sent_at,
                              stored_at, route, state, error)
SELECT local_order, id, room, seq, sender, sender_name, body, sent_at, stored_at,
       CASE WHEN route IN ('p2p', 'relay', 'poll') THEN route END, state, error
FROM messages;

DELETE FROM sqlite_sequence WHERE name = 'messages_checked';
INSERT INTO sqlite_sequence (name, seq)
SELECT 'messages_checked', seq FROM sqlite_sequence WHERE name = 'messages';

DROP TABLE messages;
ALTER TABLE messages_checked RENAME TO messages;

CREATE INDEX messages_by_room_seq ON messages (room, seq);
CREATE INDEX messages_queued ON messages (state) WHERE state = 'queued';
