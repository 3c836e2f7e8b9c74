-- Every chat message the relay stored, by room and sequence number. The message id is unique
-- across rooms, which is what makes a retried send idempotent.
CREATE TABLE messages (
    room        TEXT    NOT NULL,
    seq         INTEGER NOT NULL,
    id          TEXT    NOT NULL UNIQUE,
    sender      TEXT    NOT NULL,
    sender_name TEXT    NOT NULL,
    body        TEXT    NOT NULL,
    sent_at     INTEGER NOT NULL,
    stored_at   INTEGER NOT NULL,
    PRIMARY KEY (room, seq)
) WITHOUT ROWID;

CREATE INDEX messages_by_age ON messages (stored_at);

-- The last sequence number each room handed out. Kept apart from the messages so that a
-- room whose history retention emptied still continues its sequence after a restart.
CREATE TABLE rooms (
    room     TEXT    PRIMARY KEY NOT NULL,
    last_seq INTEGER NOT NULL
) WITHOUT ROWID;
