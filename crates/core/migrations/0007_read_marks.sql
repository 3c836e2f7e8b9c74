-- What the person has read in each room: the newest message of the room (by local order, the
-- order messages came to this device) when they last had the room on screen. A room's unread
-- count is the messages from others that came after its mark, counted here rather than kept
-- in an app's memory, so that it is the same after a restart. What is already stored when
-- this table is made counts as read.
CREATE TABLE read_marks (
    room        TEXT    PRIMARY KEY NOT NULL,
    local_order INTEGER NOT NULL
) WITHOUT ROWID;

INSERT INTO read_marks (room, local_order)
SELECT room, max(local_order) FROM messages GROUP BY room;

-- Counting a room's unread messages reads only its received ones after the mark.
CREATE INDEX messages_received_by_room ON messages (room, local_order) WHERE state = 'received';
