//! The device's identity and the user's settings: one row per key.

use super::{EngineStore, Identity, Store};
use crate::EngineError;

impl Store {
    /// The saved identity, completed and saved: see [`EngineStore::identity`].
    pub(crate) async fn identity(&self, name: Option<&str>) -> Result<Identity, EngineError> {
        EngineStore::identity(self, name).await
    }

    /// A saved setting.
    pub(crate) async fn get(&self, key: &str) -> Result<Option<String>, EngineError> {
        sqlx::query_scalar("SELECT value FROM settings WHERE key = ?")
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| self.fail(e))
    }

    /// Saves a setting.
    pub(crate) async fn set(&self, key: &str, value: &str) -> Result<(), EngineError> {
        sqlx::query(
            "INSERT INTO settings (key, value) VALUES (?, ?) \
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        )
        .bind(key)
        .bind(value)
        .execute(&self.pool)
        .await
        .map_err(|e| self.fail(e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_device_id_is_made_once_and_the_name_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).await.unwrap();
        assert!(matches!(
            store.identity(None).await,
            Err(EngineError::NoName)
        ));
        let first = store.identity(Some("  Alice ")).await.unwrap();
        assert_eq!(first.name.as_str(), "Alice");
        store.close().await;

        let store = Store::open(dir.path()).await.unwrap();
        let again = store.identity(None).await.unwrap();
        assert_eq!(again, first);
        let renamed = store.identity(Some("Ally")).await.unwrap();
        assert_eq!(
            (renamed.device, renamed.name.as_str()),
            (first.device, "Ally")
        );
    }
}
