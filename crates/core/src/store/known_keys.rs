//! Names bound to keys: the key remembered per name ([`crate::trust`]), one row per name.

use festival_proto::{DisplayName, PublicKey};

use super::Store;
use crate::EngineError;
use crate::trust::KnownKey;

impl Store {
    /// Every name's remembered key; a row that no longer parses (an edited file) is skipped,
    /// so that its name is learnt again rather than stopping the engine.
    pub(crate) async fn known_keys(&self) -> Result<Vec<KnownKey>, EngineError> {
        let rows: Vec<(String, String, String, bool)> =
            sqlx::query_as("SELECT canonical, name, key, verified FROM known_keys")
                .fetch_all(&self.pool)
                .await
                .map_err(|e| self.fail(e))?;
        Ok(rows
            .into_iter()
            .filter_map(|(canonical, name, key, verified)| {
                Some(KnownKey {
                    canonical,
                    name: DisplayName::from_trusted(name),
                    key: key.parse::<PublicKey>().ok()?,
                    verified,
                })
            })
            .collect())
    }

    /// Remembers `known` for its name, in place of the key remembered before.
    pub(crate) async fn remember_key(&self, known: &KnownKey) -> Result<(), EngineError> {
        sqlx::query(
            "INSERT INTO known_keys (canonical, name, key, verified) VALUES (?, ?, ?, ?) \
             ON CONFLICT(canonical) DO UPDATE SET name = excluded.name, key = excluded.key, \
             verified = excluded.verified",
        )
        .bind(&known.canonical)
        .bind(known.name.as_str())
        .bind(known.key.to_string())
        .bind(known.verified)
        .execute(&self.pool)
        .await
        .map_err(|e| self.fail(e))?;
        Ok(())
    }
}
