-- Private rooms: a message's sealed form (JSON: epoch, nonce, ciphertext), which its
-- signature covers and which is all that ever leaves this device for it. `body` keeps the text
-- (this device is an end of the conversation): typed here, or opened with the room's key; it
-- is empty for a sealed message this device could not open. NULL for public messages.
ALTER TABLE messages ADD COLUMN sealed TEXT;
