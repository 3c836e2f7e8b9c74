//! What the person has read in each room, so that unread counts come from the store and
//! survive a restart.

use festival_proto::RoomName;

use super::Store;
use crate::EngineError;

impl Store {
    /// Everything in `room` now counts as read.
    pub(crate) async fn mark_read(&self, room: &RoomName) -> Result<(), EngineError> {
        sqlx::query(
            "INSERT INTO read_marks (room, local_order) \
             SELECT ?1, coalesce(max(local_order), 0) FROM messages WHERE room = ?1 \
             ON CONFLICT(room) DO UPDATE SET local_order = max(local_order, excluded.local_order)",
        )
        .bind(room.as_str())
        .execute(&self.pool)
        .await
        .map_err(|e| self.fail(e))?;
        Ok(())
    }

    /// How many messages from others came to `room` after its read mark.
    pub(crate) async fn unread(&self, room: &RoomName) -> Result<u64, EngineError> {
        let count: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM messages WHERE room = ?1 AND state = 'received' \
             AND local_order > coalesce((SELECT local_order FROM read_marks WHERE room = ?1), 0)",
        )
        .bind(room.as_str())
        .fetch_one(&self.pool)
        .await
        .map_err(|e| self.fail(e))?;
        Ok(u64::try_from(count).unwrap_or(0))
    }
}
