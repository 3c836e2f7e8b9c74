-- Protocol version 2 signs every chat: the relay keeps the sender's public key, its signature
-- and the `prev` it signed, so that every copy it serves (live or from history) can be checked
-- by its receivers. Messages stored before keep NULL here and are served without them.
ALTER TABLE messages ADD COLUMN prev TEXT;
ALTER TABLE messages ADD COLUMN sender_key TEXT;
ALTER TABLE messages ADD COLUMN sig TEXT;
