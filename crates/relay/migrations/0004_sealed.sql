-- Private rooms: a chat's text sealed with the room's key, as the client sent it (JSON: epoch,
-- nonce, ciphertext). Its `body` is then empty: the relay never holds the text, only what its
-- sender signed. NULL for every public message.
ALTER TABLE messages ADD COLUMN sealed TEXT;
