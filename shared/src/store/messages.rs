use futures_util::TryStreamExt;
use mongodb::ClientSession;
use mongodb::bson::oid::ObjectId;
use mongodb::bson::{DateTime, Document, doc};
use serde::{Deserialize, Serialize};

use super::{Segment, Store};
use crate::error::ApiError;

/// One question/response pair, stored once in the chat it was added to.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Message {
    #[serde(rename = "_id", default = "ObjectId::new")]
    pub id: ObjectId,
    pub chat_id: String,
    pub account_id: String,
    /// 0-based index in the visible history of the chat that holds it (and of every branch
    /// that inherits it).
    pub position: i64,
    pub question: String,
    pub response: String,
    pub response_id: String,
    pub timestamp: DateTime,
}

impl Store {
    pub(crate) async fn insert_message(
        &self,
        session: &mut ClientSession,
        message: &Message,
    ) -> mongodb::error::Result<()> {
        self.collection::<Message>("messages")
            .insert_one(message)
            .session(session)
            .await?;
        Ok(())
    }

    /// Moves messages of one chat to another, positions unchanged (`tree::Move`).
    pub(crate) async fn move_messages(
        &self,
        session: &mut ClientSession,
        account_id: &str,
        moved: &crate::tree::Move,
    ) -> mongodb::error::Result<()> {
        self.collection::<Message>("messages")
            .update_many(
                doc! {
                    "account_id": account_id,
                    "chat_id": &moved.from,
                    "position": { "$gte": moved.first, "$lte": moved.last },
                },
                doc! { "$set": { "chat_id": &moved.to } },
            )
            .session(session)
            .await?;
        Ok(())
    }

    /// Inserts many messages at once, in batches (a fork, an import).
    pub(crate) async fn insert_messages(
        &self,
        session: &mut ClientSession,
        messages: &[Message],
    ) -> mongodb::error::Result<()> {
        for batch in messages.chunks(1000) {
            self.collection::<Message>("messages")
                .insert_many(batch)
                .session(&mut *session)
                .await?;
        }
        Ok(())
    }

    /// Every message stored in these chats of the caller's, by chat and position, read in
    /// `session`.
    pub(crate) async fn messages_of_at(
        &self,
        session: &mut ClientSession,
        account_id: &str,
        chat_ids: &[&str],
    ) -> mongodb::error::Result<Vec<Message>> {
        self.collection_in::<Message>("messages")
            .find(doc! { "account_id": account_id, "chat_id": { "$in": chat_ids } })
            .sort(doc! { "chat_id": 1, "position": 1 })
            .session(&mut *session)
            .await?
            .stream(session)
            .try_collect()
            .await
    }

    /// The visible messages at positions `from..to`, in order, from wherever they are stored:
    /// `pieces` says which chat holds which positions (see `tree::pieces`). One query, one
    /// index range per piece, whatever the depth.
    pub async fn messages_in(
        &self,
        account_id: &str,
        pieces: &[(Segment, i64)],
    ) -> Result<Vec<Message>, ApiError> {
        let mut snapshot = self.snapshot().await?;
        Ok(self
            .messages_in_at(&mut snapshot, account_id, pieces)
            .await?)
    }

    /// The same, read in `session` (a snapshot, or a transaction): together with the chat
    /// read there, it is one consistent state, even while a promotion moves messages.
    pub(crate) async fn messages_in_at(
        &self,
        session: &mut ClientSession,
        account_id: &str,
        pieces: &[(Segment, i64)],
    ) -> mongodb::error::Result<Vec<Message>> {
        if pieces.is_empty() {
            return Ok(Vec::new());
        }
        let clauses: Vec<Document> = pieces
            .iter()
            .map(|(segment, from)| {
                doc! {
                    "account_id": account_id,
                    "chat_id": &segment.chat_id,
                    "position": { "$gte": from, "$lte": segment.upto },
                }
            })
            .collect();
        self.collection_in::<Message>("messages")
            .find(doc! { "$or": clauses })
            .sort(doc! { "position": 1 })
            .session(&mut *session)
            .await?
            .stream(session)
            .try_collect()
            .await
    }

    /// The caller's messages matching `query` (MongoDB text search over question and
    /// response), newest first, older than `before` (`(timestamp, _id)`), at most `limit`.
    pub async fn search_messages(
        &self,
        account_id: &str,
        query: &str,
        before: Option<(DateTime, ObjectId)>,
        limit: i64,
    ) -> Result<Vec<Message>, ApiError> {
        let mut filter = doc! { "account_id": account_id, "$text": { "$search": query } };
        if let Some((at, id)) = before {
            filter.insert(
                "$or",
                vec![
                    doc! { "timestamp": { "$lt": at } },
                    doc! { "timestamp": at, "_id": { "$lt": id } },
                ],
            );
        }
        Ok(self
            .collection::<Message>("messages")
            .find(filter)
            .sort(doc! { "timestamp": -1, "_id": -1 })
            .limit(limit)
            .await?
            .try_collect()
            .await?)
    }
}
