use futures_util::TryStreamExt;
use mongodb::ClientSession;
use mongodb::bson::{DateTime, Document, doc};
use mongodb::error::{TRANSIENT_TRANSACTION_ERROR, UNKNOWN_TRANSACTION_COMMIT_RESULT};
use mongodb::options::{ReadConcern, ReturnDocument, TransactionOptions};
use serde::{Deserialize, Serialize};
use std::time::Duration;

use super::{Chat, Store, durable};
use crate::error::ApiError;

/// One question/response pair, stored once in the chat it was added to.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Message {
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
    /// Appends a message to the caller's chat and returns it with its position, or `None` when
    /// the chat does not exist for this account.
    ///
    /// The counter increment and the insert commit together in one transaction, so positions
    /// are dense and unique however many clients append at once, and a crash never leaves a
    /// gap. Appends to one chat from different processes conflict on the counter; the loser
    /// retries with jittered backoff.
    pub async fn append_message(
        &self,
        account_id: &str,
        chat_id: &str,
        question: &str,
        response: &str,
    ) -> Result<Option<Message>, ApiError> {
        let _turn = self.append_turn(chat_id).await;
        let mut session = self.client.start_session().await?;
        let mut attempt: u32 = 0;
        loop {
            let result = self
                .try_append(&mut session, account_id, chat_id, question, response)
                .await;
            match result {
                Ok(message) => return Ok(message),
                // A write conflict with a concurrent append: try again. An unreachable server
                // is transient too, but waiting it out here would only delay the 503.
                Err(e) if e.contains_label(TRANSIENT_TRANSACTION_ERROR) && !is_unreachable(&e) => {
                    attempt += 1;
                    tokio::time::sleep(backoff(attempt)).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// One attempt: increment the counter, insert at the old value, commit.
    async fn try_append(
        &self,
        session: &mut ClientSession,
        account_id: &str,
        chat_id: &str,
        question: &str,
        response: &str,
    ) -> mongodb::error::Result<Option<Message>> {
        let options = TransactionOptions::builder()
            .read_concern(ReadConcern::snapshot())
            .write_concern(durable())
            .build();
        session.start_transaction().with_options(options).await?;
        let appended = async {
            let counter = self
                .db
                .collection::<Counter>("chats")
                .find_one_and_update(
                    doc! { "chat_id": chat_id, "account_id": account_id },
                    doc! { "$inc": { "message_count": 1 } },
                )
                .return_document(ReturnDocument::Before)
                .projection(doc! { "_id": 0, "message_count": 1 })
                .session(&mut *session)
                .await?;
            let Some(Counter { message_count }) = counter else {
                return Ok(None);
            };
            let message = Message {
                chat_id: chat_id.to_owned(),
                account_id: account_id.to_owned(),
                position: message_count,
                question: question.to_owned(),
                response: response.to_owned(),
                response_id: uuid::Uuid::new_v4().to_string(),
                timestamp: DateTime::now(),
            };
            self.messages()
                .insert_one(&message)
                .session(&mut *session)
                .await?;
            Ok(Some(message))
        }
        .await;
        match appended {
            Ok(Some(message)) => {
                commit(session).await?;
                Ok(Some(message))
            }
            Ok(None) => {
                session.abort_transaction().await?;
                Ok(None)
            }
            Err(e) => {
                // The server aborts a failed transaction anyway; this only tidies the session.
                let _ = session.abort_transaction().await;
                Err(e)
            }
        }
    }

    /// The visible history of a chat or branch, in order, in one query whatever the depth.
    pub async fn visible_messages(&self, chat: &Chat) -> Result<Vec<Message>, ApiError> {
        let mut pieces: Vec<Document> = chat
            .lineage
            .iter()
            .map(|s| doc! { "chat_id": &s.chat_id, "position": { "$lte": s.upto } })
            .collect();
        pieces.push(doc! { "chat_id": &chat.chat_id });
        let filter = doc! { "$or": pieces, "account_id": &chat.account_id };
        let messages = self
            .messages()
            .find(filter)
            .sort(doc! { "position": 1 })
            .await?
            .try_collect()
            .await?;
        Ok(messages)
    }
}

#[derive(Deserialize)]
struct Counter {
    message_count: i64,
}

/// Commits, retrying while the outcome is unknown (commit is idempotent on the server).
async fn commit(session: &mut ClientSession) -> mongodb::error::Result<()> {
    let mut tries = 0;
    loop {
        match session.commit_transaction().await {
            Err(e)
                if e.contains_label(UNKNOWN_TRANSACTION_COMMIT_RESULT)
                    && !is_unreachable(&e)
                    && tries < 3 =>
            {
                tries += 1;
            }
            result => return result,
        }
    }
}

fn is_unreachable(e: &mongodb::error::Error) -> bool {
    matches!(*e.kind, mongodb::error::ErrorKind::ServerSelection { .. })
}

/// Jittered exponential backoff: up to 1 ms, 2 ms, 4 ms … capped at 100 ms.
fn backoff(attempt: u32) -> Duration {
    let ceiling_us = (1000u64 << attempt.min(7)).min(100_000);
    let jitter = u64::from(getrandom::u32().unwrap_or(u32::MAX / 2));
    Duration::from_micros(ceiling_us * jitter / u64::from(u32::MAX))
}
