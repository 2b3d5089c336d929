use mongodb::ClientSession;
use mongodb::bson::{DateTime, doc};
use serde::{Deserialize, Serialize};

use super::{Inserted, Store};
use crate::error::{ApiError, is_duplicate_key};

/// The first answer to one `Idempotency-Key` of one account, kept until `expires_at` (a TTL
/// index removes it then).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct IdempotencyRecord {
    #[serde(rename = "_id")]
    pub id: KeyId,
    /// Which endpoint, and a hash of the request it answered: the same key with another
    /// request is refused.
    pub endpoint: String,
    pub fingerprint: String,
    /// The JSON body of the answer (always a 200).
    pub response: String,
    pub expires_at: DateTime,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyId {
    pub account_id: String,
    pub key: String,
}

/// What a key already stands for.
pub enum Replay {
    /// Nothing yet: go ahead.
    New,
    /// The same request was answered: this is its answer.
    Answered(String),
    /// The key was used for another request.
    Mismatch,
}

impl Store {
    /// What `record`'s key already answered, compared with `record`'s request.
    pub async fn replay(&self, record: &IdempotencyRecord) -> Result<Replay, ApiError> {
        let found = self
            .collection::<IdempotencyRecord>("idempotency_keys")
            .find_one(doc! { "_id": { "account_id": &record.id.account_id, "key": &record.id.key }, "expires_at": { "$gt": DateTime::now() } })
            .await?;
        Ok(match found {
            None => Replay::New,
            Some(first)
                if first.endpoint == record.endpoint && first.fingerprint == record.fingerprint =>
            {
                Replay::Answered(first.response)
            }
            Some(_) => Replay::Mismatch,
        })
    }

    /// Stores the answer inside the transaction that made it, so the two commit together;
    /// `Duplicate` when another request with the key committed first.
    pub(crate) async fn insert_idempotency(
        &self,
        session: &mut ClientSession,
        record: &IdempotencyRecord,
    ) -> mongodb::error::Result<Inserted> {
        // An expired record may linger until the TTL monitor runs (once a minute).
        self.collection::<IdempotencyRecord>("idempotency_keys")
            .delete_one(doc! { "_id": { "account_id": &record.id.account_id, "key": &record.id.key }, "expires_at": { "$lte": DateTime::now() } })
            .session(&mut *session)
            .await?;
        match self
            .collection::<IdempotencyRecord>("idempotency_keys")
            .insert_one(record)
            .session(session)
            .await
        {
            Ok(_) => Ok(Inserted::Inserted),
            Err(e) if is_duplicate_key(&e) => Ok(Inserted::Duplicate),
            Err(e) => Err(e),
        }
    }
}
