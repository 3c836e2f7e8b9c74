-- The device's identity and the user's settings, one row per key. The device id is made once
-- and never changes; the display name and relay URL change when the user says so.
CREATE TABLE settings (
    key   TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
) WITHOUT ROWID;
