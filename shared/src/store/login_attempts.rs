use std::time::Duration;

use mongodb::bson::{DateTime, doc};
use mongodb::options::ReturnDocument;
use serde::Deserialize;

use super::Store;
use crate::error::ApiError;

/// Login attempts of one username (`_id`) not yet followed by a success. The document expires
/// with its window (a TTL index removes it; the update below ignores it once expired).
#[derive(Debug, Deserialize)]
pub struct LoginAttempts {
    attempts: i64,
    expires_at: DateTime,
}

impl Store {
    /// Counts one login attempt for `username` *before* its password is checked, in one atomic
    /// update, so that parallel guesses cannot all read "not locked" and slip through. Returns
    /// `Some(seconds)` when the attempt is over the limit: `max_attempts` attempts, each within
    /// `window` of the one before, are allowed; the next ones are refused until `window` after
    /// the last allowed one (refused attempts do not extend it).
    pub async fn count_login_attempt(
        &self,
        username: &str,
        max_attempts: u32,
        window: Duration,
    ) -> Result<Option<u64>, ApiError> {
        let now = DateTime::now();
        let in_window = doc! { "$gt": ["$expires_at", now] };
        let locked = doc! { "$and": [in_window.clone(), { "$gte": ["$attempts", i64::from(max_attempts)] }] };
        let update = vec![doc! { "$set": {
            "attempts": { "$cond": [in_window, { "$add": ["$attempts", 1] }, 1] },
            "expires_at": { "$cond": [locked, "$expires_at", now.saturating_add_duration(window)] },
        } }];
        let counted = self
            .collection::<LoginAttempts>("login_attempts")
            .find_one_and_update(doc! { "_id": username }, update)
            .upsert(true)
            .return_document(ReturnDocument::After)
            .await?
            .ok_or(ApiError::Internal)?;
        if counted.attempts <= i64::from(max_attempts) {
            return Ok(None);
        }
        let left = counted
            .expires_at
            .checked_duration_since(now)
            .unwrap_or_default();
        Ok(Some(left.as_millis().div_ceil(1000).max(1) as u64))
    }

    /// A successful login starts the count afresh.
    pub async fn clear_login_attempts(&self, username: &str) -> Result<(), ApiError> {
        self.collection::<LoginAttempts>("login_attempts")
            .delete_one(doc! { "_id": username })
            .await?;
        Ok(())
    }
}
