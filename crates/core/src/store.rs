//! The engine's SQLite store in the data directory: the device's identity and settings, the
//! local history, the outbox, the sync cursors and the keys remembered per name. One file per data directory, WAL,
//! migrations embedded. WAL with `synchronous = NORMAL`: a committed write survives the app
//! being killed at any point (SIGKILL included); only an OS crash or power cut in the last
//! moments before a checkpoint could lose it.
//!
//! [`EngineStore`] is the contract; this SQLite `Store` and the [`MemoryStore`] keep it, and
//! one conformance suite checks both.

#[cfg(test)]
mod conformance;
mod contract;
mod known_keys;
mod memory;
mod messages;
mod read_marks;
mod settings;

pub use contract::EngineStore;
pub use memory::MemoryStore;
pub use messages::{DeliveryState, LocalMessage};

use std::path::{Path, PathBuf};
use std::time::Duration;

use festival_proto::{DeviceId, DeviceKey, DisplayName};
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use crate::EngineError;

/// The database file's name inside the data directory.
pub const DB_FILE: &str = "festival.db";

/// Who this device is: made once, kept in the data directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The device id the relay keys presence by: derived from `key`.
    pub device: DeviceId,
    /// The name the user chose.
    pub name: DisplayName,
    /// The device's key: proves `device` to the relay and signs every message typed here.
    pub key: DeviceKey,
}

/// Handle to the engine's database; cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct Store {
    pool: SqlitePool,
    path: PathBuf,
}

impl Store {
    /// Opens (creating if needed) the database in `dir`.
    pub(crate) async fn open(dir: &Path) -> Result<Self, EngineError> {
        std::fs::create_dir_all(dir).map_err(|e| EngineError::store(dir, e))?;
        let path = dir.join(DB_FILE);
        let options = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5));
        // One connection: SQLite takes one writer at a time, and a second connection that
        // finds the file locked waits in SQLite's busy handler, which sleeps a millisecond
        // or more. In line for the pool instead, a write waits only for the one before it
        // (about 0.1 ms): this was most of the P2P round trip in `benches/p2p.rs`.
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .map_err(|e| EngineError::store(&path, e))?;
        sqlx::migrate!("./migrations")
            .run(&pool)
            .await
            .map_err(|e| EngineError::store(&path, e))?;
        Ok(Self { pool, path })
    }

    /// Wraps a database error with the file it concerns.
    fn fail(&self, e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> EngineError {
        EngineError::store(&self.path, e)
    }

    /// Closes the database, waiting for writes.
    pub(crate) async fn close(&self) {
        self.pool.close().await;
    }
}
