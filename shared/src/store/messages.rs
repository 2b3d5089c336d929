use futures_util::TryStreamExt;
use mongodb::ClientSession;
use mongodb::bson::{DateTime, Document, doc};
use mongodb::error::{TRANSIENT_TRANSACTION_ERROR, UNKNOWN_TRANSACTION_COMMIT_RESULT};
use mongodb::options::{ReadConcern, ReturnDocument, TransactionOptions};
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

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

/// Write conflicts one append retries before it gives up with 503; its time is bounded too,
/// by the request's deadline.
const MAX_CONFLICT_RETRIES: u32 = 30;

/// Longest time kept back from a request's deadline to abort its transaction.
const MAX_ABORT_TIME: Duration = Duration::from_secs(1);

impl Store {
    /// Appends a message to the caller's chat and returns it with its position, or `None` when
    /// the chat does not exist for this account.
    ///
    /// The counter increment and the insert commit together in one transaction, so positions
    /// are dense and unique however many clients append at once, and a crash never leaves a
    /// gap. Appends to one chat from different processes conflict on the counter; the loser
    /// retries with jittered backoff, without holding this process's turn while it waits.
    ///
    /// A transaction still open when the request must be answered is aborted first (within a
    /// short bound): left to the driver's background clean-up, which a frozen Lambda sandbox
    /// never runs, it would keep the chat locked against every other instance until MongoDB
    /// expires it (60 s).
    pub async fn append_message(
        &self,
        account_id: &str,
        chat_id: &str,
        question: &str,
        response: &str,
    ) -> Result<Option<Message>, ApiError> {
        // Someone else's chat id must not queue behind its owner's appends.
        if !self.owns_chat(account_id, chat_id).await? {
            return Ok(None);
        }
        let deadline = request_deadline();
        let abort_time = MAX_ABORT_TIME.min(deadline.saturating_duration_since(Instant::now()) / 4);
        let give_up = deadline.checked_sub(abort_time * 2).unwrap_or(deadline);
        let mut session = self.client.start_session().await?;
        let mut retries = Retries::default();
        loop {
            let committing = AtomicBool::new(false);
            let attempt = tokio::time::timeout_at(give_up.into(), async {
                let _turn = self.append_turn(chat_id).await;
                self.try_append(
                    &mut session,
                    account_id,
                    chat_id,
                    question,
                    response,
                    &committing,
                )
                .await
            })
            .await;
            let error = match attempt {
                Ok(Ok(message)) => return Ok(message),
                Ok(Err(error)) => error,
                Err(_elapsed) => {
                    let _ = tokio::time::timeout(abort_time, session.abort_transaction()).await;
                    return Err(ApiError::Unavailable(
                        match committing.load(Ordering::Relaxed) {
                            true => {
                                "Request timed out while committing; the message may have been stored"
                            }
                            false => "Request timed out; the message was not stored, please retry",
                        },
                    ));
                }
            };
            // A write conflict with a concurrent append: try again. An unreachable server is
            // transient too, but waiting it out here would only delay the 503.
            if !error.contains_label(TRANSIENT_TRANSACTION_ERROR) || is_unreachable(&error) {
                return Err(error.into());
            }
            match retries.next() {
                Some(delay) if Instant::now() + delay < give_up => tokio::time::sleep(delay).await,
                _ => return Err(ApiError::Unavailable("This chat is busy, please retry")),
            }
        }
    }

    /// Whether the caller has a chat with this id: one read of the chat index.
    async fn owns_chat(&self, account_id: &str, chat_id: &str) -> Result<bool, ApiError> {
        let found = self
            .chats()
            .clone_with_type::<Document>()
            .find_one(doc! { "chat_id": chat_id, "account_id": account_id })
            .projection(doc! { "_id": 1 })
            .await?;
        Ok(found.is_some())
    }

    /// One attempt: increment the counter, insert at the old value, commit.
    async fn try_append(
        &self,
        session: &mut ClientSession,
        account_id: &str,
        chat_id: &str,
        question: &str,
        response: &str,
        committing: &AtomicBool,
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
                committing.store(true, Ordering::Relaxed);
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

/// The waits between conflict retries: jittered exponential backoff (up to 1 ms, 2 ms, 4 ms …
/// capped at 100 ms), and none after `MAX_CONFLICT_RETRIES`.
#[derive(Default)]
struct Retries {
    done: u32,
}

impl Iterator for Retries {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        if self.done >= MAX_CONFLICT_RETRIES {
            return None;
        }
        self.done += 1;
        let ceiling_us = (1000u64 << self.done.min(7)).min(100_000);
        let jitter = u64::from(getrandom::u32().unwrap_or(u32::MAX / 2));
        Some(Duration::from_micros(
            ceiling_us * jitter / u64::from(u32::MAX),
        ))
    }
}

/// When the current request must be answered (a default request timeout from now when called
/// outside one).
fn request_deadline() -> Instant {
    crate::routes::deadline().unwrap_or_else(|| Instant::now() + Duration::from_secs(10))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conflict_retries_are_bounded_in_number_and_each_wait() {
        let waits: Vec<Duration> = Retries::default().collect();
        assert_eq!(waits.len(), MAX_CONFLICT_RETRIES as usize);
        assert!(waits.iter().all(|w| *w <= Duration::from_millis(100)));
    }
}
