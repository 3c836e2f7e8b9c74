-- Names bound to keys (crates/core/src/trust.rs): per name, in its canonical form (look-alikes
-- and the relay's " (2)" suffix folded), the key this device talked with first under it or the
-- one its user verified in person. Another key under the name is flagged; a verified mark
-- belongs to this one key.
CREATE TABLE known_keys (
    canonical TEXT    PRIMARY KEY NOT NULL,
    name      TEXT    NOT NULL,
    key       TEXT    NOT NULL,
    verified  INTEGER NOT NULL CHECK (verified IN (0, 1))
) WITHOUT ROWID;
