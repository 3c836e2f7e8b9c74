-- Protocol version 2 signs every chat. A message typed here keeps the `prev` and signature it
-- was signed with, so that every resend (to the relay, or directly after a `want`) carries the
-- same bytes; a received one keeps its sender's key and signature, so that the history can
-- say whether it was verified. Rows from before have NULL here: typed ones are signed when
-- the engine next starts, received ones are shown as unsigned.
ALTER TABLE messages ADD COLUMN prev TEXT;
ALTER TABLE messages ADD COLUMN sender_key TEXT;
ALTER TABLE messages ADD COLUMN sig TEXT;

-- The `prev` of each message typed here is the last one typed in its room, queued or sent:
-- found by this index in one step, not by a scan of the room's history on every send.
CREATE INDEX messages_own_by_room ON messages (room, local_order) WHERE state IN ('queued', 'sent');
