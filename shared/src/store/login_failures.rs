use std::time::Duration;

use mongodb::bson::{Bson, DateTime, doc};
use serde::Deserialize;

use super::Store;
use crate::error::ApiError;

/// Recent failed logins of one username (`_id`). The document expires with the window (a TTL
/// index removes it; reads ignore it once `expires_at` has passed).
#[derive(Debug, Deserialize)]
pub struct LoginFailures {
    pub failures: i64,
    pub locked_until: Option<DateTime>,
}

impl LoginFailures {
    /// Seconds until the lock lifts, if the username is locked now.
    pub fn locked_for(&self) -> Option<u64> {
        let left_ms = self.locked_until?.timestamp_millis() - DateTime::now().timestamp_millis();
        (left_ms > 0).then(|| u64::try_from(left_ms).unwrap_or(0).div_ceil(1000))
    }
}

fn later(by: Duration) -> DateTime {
    let by_ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX / 4);
    DateTime::from_millis(DateTime::now().timestamp_millis().saturating_add(by_ms))
}

impl Store {
    pub async fn login_failures(&self, username: &str) -> Result<Option<LoginFailures>, ApiError> {
        Ok(self
            .login_failures_collection()
            .find_one(doc! { "_id": username, "expires_at": { "$gt": DateTime::now() } })
            .await?)
    }

    /// Counts one more failure in the current window (a failure after the window has passed
    /// starts a new one). The `max_failures`-th locks the username until the window ends.
    pub async fn record_login_failure(
        &self,
        username: &str,
        max_failures: u32,
        window: Duration,
    ) -> Result<(), ApiError> {
        let now = DateTime::now();
        let until = later(window);
        let update = vec![
            doc! { "$set": {
                "failures": { "$cond": [
                    { "$gt": ["$expires_at", now] },
                    { "$add": ["$failures", 1] },
                    1,
                ] },
                "expires_at": until,
            } },
            doc! { "$set": {
                "locked_until": { "$cond": [
                    { "$gte": ["$failures", i64::from(max_failures)] },
                    until,
                    Bson::Null,
                ] },
            } },
        ];
        self.login_failures_collection()
            .update_one(doc! { "_id": username }, update)
            .upsert(true)
            .await?;
        Ok(())
    }

    pub async fn clear_login_failures(&self, username: &str) -> Result<(), ApiError> {
        self.login_failures_collection()
            .delete_one(doc! { "_id": username })
            .await?;
        Ok(())
    }
}
