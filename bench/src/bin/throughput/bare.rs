//! The service's MongoDB operations written directly against the driver, with the store's
//! documents, indexes, write concern and transactions and nothing else: the least any service
//! could do. Answers stay raw BSON, read only for the fields the next step needs.
//!
//! For add-message, also the designs weighed against the service's before choosing it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures_util::TryStreamExt;
use mongodb::bson::oid::ObjectId;
use mongodb::bson::{DateTime, Document, RawDocumentBuf, doc, rawdoc};
use mongodb::error::{ErrorKind, TRANSIENT_TRANSACTION_ERROR, WriteFailure};
use mongodb::options::{
    Acknowledgment, ClientOptions, ReadConcern, ReturnDocument, TransactionOptions, WriteConcern,
};
use mongodb::{Client, ClientSession, Collection, Database};

use tokio::sync::oneshot;

use super::Result;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Design {
    /// What the service does.
    Service,
    /// One transaction per message: ownership read, counter `$inc`, insert, conversation
    /// update, commit (the service before this benchmark was written).
    Transaction,
    /// Read the counter, insert at it under the unique index (retry on a duplicate), then
    /// raise the counter and move the conversation; no transaction, only the last write waits
    /// for durability (it covers the earlier ones: the oplog and journal are sequential).
    NextPosition,
    /// What a process has queued for one chat goes in one transaction: `$inc` by the batch's
    /// size, one `insertMany`, one conversation update, one commit.
    Coalesced,
    /// The same, queued per account: a batch spans the account's chats.
    CoalescedPerAccount,
}

impl Design {
    pub const ALL: [Design; 4] = [
        Design::Transaction,
        Design::NextPosition,
        Design::Coalesced,
        Design::CoalescedPerAccount,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Design::Service => "service's design",
            Design::Transaction => "transaction per message",
            Design::NextPosition => "insert at next position, retry",
            Design::Coalesced => "coalesced batches per chat",
            Design::CoalescedPerAccount => "coalesced batches per account",
        }
    }
}

pub struct Bare {
    client: Client,
    db: Database,
    account: String,
    /// Appends waiting for their chat's batch (`Design::Coalesced`).
    queues: Mutex<HashMap<String, Queue>>,
}

#[derive(Default)]
struct Queue {
    waiting: Vec<Pending>,
    /// Whether some append is running this chat's batches.
    leader: bool,
}

struct Pending {
    chat_id: String,
    question: String,
    response: String,
    done: oneshot::Sender<std::result::Result<(), String>>,
}

fn durable() -> WriteConcern {
    WriteConcern::builder()
        .w(Acknowledgment::Majority)
        .journal(true)
        .build()
}

fn transaction_options() -> TransactionOptions {
    TransactionOptions::builder()
        .read_concern(ReadConcern::snapshot())
        .write_concern(durable())
        .build()
}

fn is_duplicate(error: &mongodb::error::Error) -> bool {
    matches!(&*error.kind, ErrorKind::Write(WriteFailure::WriteError(e)) if e.code == 11000)
}

impl Bare {
    pub async fn connect(database: &str, account: &str) -> Result<Self> {
        let mut options = ClientOptions::parse(bench::mongodb_uri()).await?;
        options.write_concern = Some(durable());
        options.read_concern = Some(ReadConcern::majority());
        let client = Client::with_options(options)?;
        let db = client.database(database);
        Ok(Self {
            client,
            db,
            account: account.to_owned(),
            queues: Mutex::default(),
        })
    }

    pub async fn drop_database(&self) -> Result<()> {
        Ok(self.db.drop().await?)
    }

    fn collection(&self, name: &str) -> Collection<RawDocumentBuf> {
        self.db.collection(name)
    }

    fn live(&self, chat_id: &str) -> Document {
        doc! { "account_id": &self.account, "chat_id": chat_id, "deleted_at": null }
    }

    /// The account's live conversation of root chat `root_id`.
    fn live_conversation(&self, root_id: &str) -> Document {
        doc! { "_id": root_id, "account_id": &self.account, "trashed": false }
    }

    /// The token's account still exists: one read of the `_id` index.
    async fn account_exists(&self) -> Result<()> {
        self.collection("users")
            .find_one(doc! { "_id": &self.account })
            .projection(doc! { "_id": 1 })
            .await?
            .ok_or("no such account")?;
        Ok(())
    }

    async fn find_chat(&self, chat_id: &str) -> Result<RawDocumentBuf> {
        Ok(self
            .collection("chats")
            .find_one(self.live(chat_id))
            .await?
            .ok_or("no such chat")?)
    }

    fn message(
        &self,
        chat_id: &str,
        position: i64,
        question: &str,
        response: &str,
    ) -> RawDocumentBuf {
        rawdoc! {
            "_id": ObjectId::new(),
            "chat_id": chat_id,
            "account_id": self.account.as_str(),
            "position": position,
            "question": question,
            "response": response,
            "response_id": uuid::Uuid::new_v4().to_string(),
            "timestamp": DateTime::now(),
        }
    }

    /// The conversation's activity, and for its active member, length and preview; and its
    /// version, which conditional reads compare.
    fn conversation_update(chat_id: &str, length: i64, preview: &str) -> Vec<Document> {
        let is_active = doc! { "$eq": ["$active_branch_id", { "$literal": chat_id }] };
        vec![
            doc! { "$set": {
                "updated_at": DateTime::now(),
                "active_length": { "$cond": [&is_active, length, "$active_length"] },
                "preview": { "$cond": [&is_active, { "$literal": preview }, "$preview"] },
            } },
            doc! { "$set": { "version": { "$add": [{ "$ifNull": ["$version", 0] }, 1] } } },
        ]
    }

    pub async fn append(
        self: &Arc<Self>,
        design: Design,
        chat_id: &str,
        question: &str,
        response: &str,
    ) -> Result<()> {
        // The service's append needs no account read: the live conversation it updates
        // vouches for the account.
        if design != Design::Service {
            self.account_exists().await?;
        }
        match design {
            Design::Transaction => {
                // The ownership read before the transaction, as the service did.
                self.find_chat(chat_id).await?;
                self.transact(&[(chat_id, question, response)]).await
            }
            Design::Service | Design::CoalescedPerAccount => {
                // The service's queues: one per account, batches across its chats.
                let lane = format!("account {}", self.account);
                self.coalesced(lane, chat_id, question, response).await
            }
            Design::NextPosition => self.next_position(chat_id, question, response).await,
            Design::Coalesced => {
                self.coalesced(chat_id.to_owned(), chat_id, question, response)
                    .await
            }
        }
    }

    /// `append_batch` in a transaction, again on a write conflict.
    async fn transact(&self, batch: &[(&str, &str, &str)]) -> Result<()> {
        let mut session = self.client.start_session().await?;
        loop {
            session
                .start_transaction()
                .with_options(transaction_options())
                .await?;
            let outcome = match self.append_batch(&mut session, batch).await {
                Ok(()) => session.commit_transaction().await.map_err(Into::into),
                Err(e) => {
                    let _ = session.abort_transaction().await;
                    Err(e)
                }
            };
            match outcome {
                Err(e)
                    if e.downcast_ref::<mongodb::error::Error>()
                        .is_some_and(|e| e.contains_label(TRANSIENT_TRANSACTION_ERROR)) =>
                {
                    tokio::time::sleep(std::time::Duration::from_micros(500)).await;
                }
                other => return other,
            }
        }
    }

    /// In `session`'s transaction, for `(chat, question, response)`s: per chat, the counter
    /// goes up by its number of messages (one find-and-modify for one chat; for more, one
    /// read and one `update` command); all messages go in at once; one `update` command moves
    /// the conversations.
    async fn append_batch(
        &self,
        session: &mut ClientSession,
        batch: &[(&str, &str, &str)],
    ) -> Result<()> {
        let mut chats: Vec<&str> = batch.iter().map(|(c, _, _)| *c).collect();
        chats.sort_unstable();
        chats.dedup();
        // Per chat, once: its messages in the batch and its preview (the last question).
        let groups: Vec<(&str, Vec<_>, String)> = chats
            .iter()
            .map(|&chat_id| {
                let own: Vec<_> = batch.iter().filter(|(c, _, _)| *c == chat_id).collect();
                let preview = own.last().expect("one").1.chars().take(200).collect();
                (chat_id, own, preview)
            })
            .collect();
        let counters = self.take_counters(session, &groups).await?;
        let mut messages = Vec::new();
        let mut updates = Vec::new();
        for ((chat_id, own, preview), before) in groups.iter().zip(counters) {
            let first = before.get_i64("message_count")?;
            for (k, (_, q, r)) in own.iter().enumerate() {
                messages.push(self.message(chat_id, first + k as i64, q, r));
            }
            let update = Self::conversation_update(chat_id, first + own.len() as i64, preview);
            let root = before.get_str("root_chat_id")?;
            updates.push(doc! { "q": self.live_conversation(root), "u": update });
        }
        self.collection("messages")
            .insert_many(messages)
            .session(&mut *session)
            .await?;
        let command = doc! { "update": "conversations", "updates": updates, "ordered": true };
        self.db.run_command(command).session(&mut *session).await?;
        Ok(())
    }

    /// Each chat's counter as it was, raised by its number of messages in the batch
    /// (`(chat, its messages, preview)`, as `append_batch` groups them).
    async fn take_counters<T>(
        &self,
        session: &mut ClientSession,
        groups: &[(&str, Vec<T>, String)],
    ) -> Result<Vec<RawDocumentBuf>> {
        let raise = |(_, own, preview): &(&str, Vec<T>, String)| {
            doc! { "$inc": { "message_count": own.len() as i64 }, "$set": { "last_question": preview } }
        };
        let chats: Vec<&str> = groups.iter().map(|(chat_id, _, _)| *chat_id).collect();
        let projection = doc! { "_id": 0, "chat_id": 1, "message_count": 1, "root_chat_id": 1 };
        if let [group] = groups {
            let before = self
                .collection("chats")
                .find_one_and_update(self.live(group.0), raise(group))
                .projection(projection)
                .return_document(ReturnDocument::Before)
                .session(&mut *session)
                .await?
                .ok_or("no such chat")?;
            return Ok(vec![before]);
        }
        let filter =
            doc! { "account_id": &self.account, "chat_id": { "$in": &chats }, "deleted_at": null };
        let mut found: Vec<RawDocumentBuf> = self
            .collection("chats")
            .find(filter)
            .projection(projection)
            .session(&mut *session)
            .await?
            .stream(&mut *session)
            .try_collect()
            .await?;
        let mut counters = Vec::new();
        for chat_id in &chats {
            let at = found
                .iter()
                .position(|c| c.get_str("chat_id").ok() == Some(*chat_id))
                .ok_or("no such chat")?;
            counters.push(found.swap_remove(at));
        }
        let updates: Vec<Document> = groups
            .iter()
            .map(|group| doc! { "q": self.live(group.0), "u": raise(group) })
            .collect();
        let command = doc! { "update": "chats", "updates": updates, "ordered": true };
        self.db.run_command(command).session(&mut *session).await?;
        Ok(counters)
    }

    async fn next_position(&self, chat_id: &str, question: &str, response: &str) -> Result<()> {
        let chat = self.find_chat(chat_id).await?;
        let root = chat.get_str("root_chat_id")?;
        let mut position = chat.get_i64("message_count")?;
        let quick = WriteConcern::builder().w(Acknowledgment::Nodes(1)).build();
        loop {
            let inserted = self
                .collection("messages")
                .insert_one(self.message(chat_id, position, question, response))
                .write_concern(quick.clone())
                .await;
            match inserted {
                Ok(_) => break,
                Err(e) if is_duplicate(&e) => {
                    // Taken: the next free one is after the chat's last message (read
                    // locally: the insert that took it may not be majority-committed yet).
                    let local = mongodb::options::CollectionOptions::builder()
                        .read_concern(ReadConcern::local())
                        .build();
                    let last = self
                        .db
                        .collection_with_options::<RawDocumentBuf>("messages", local)
                        .find_one(doc! { "account_id": &self.account, "chat_id": chat_id })
                        .sort(doc! { "position": -1 })
                        .projection(doc! { "position": 1 })
                        .await?
                        .ok_or("no message")?;
                    position = last.get_i64("position")? + 1;
                }
                Err(e) => return Err(e.into()),
            }
        }
        let preview: String = question.chars().take(200).collect();
        self.collection("chats")
            .update_one(
                self.live(chat_id),
                doc! { "$max": { "message_count": position + 1 } },
            )
            .write_concern(quick)
            .await?;
        self.collection("conversations")
            .update_one(
                self.live_conversation(root),
                Self::conversation_update(chat_id, position + 1, &preview),
            )
            .await?;
        Ok(())
    }

    /// Joins a queue (`key`); the first to find no batch running starts a task that runs
    /// batches until the queue is empty. Like the service's, each request is answered once
    /// its own batch is written, not when its queue runs dry.
    async fn coalesced(
        self: &Arc<Self>,
        key: String,
        chat_id: &str,
        question: &str,
        response: &str,
    ) -> Result<()> {
        let (done, answer) = oneshot::channel();
        let lead = {
            let mut queues = self.queues.lock().unwrap();
            let queue = queues.entry(key.clone()).or_default();
            queue.waiting.push(Pending {
                chat_id: chat_id.to_owned(),
                question: question.to_owned(),
                response: response.to_owned(),
                done,
            });
            !std::mem::replace(&mut queue.leader, true)
        };
        if lead {
            let bare = self.clone();
            tokio::spawn(async move { bare.run_batches(&key).await });
        }
        answer.await?.map_err(Into::into)
    }

    async fn run_batches(&self, key: &str) {
        loop {
            let batch = {
                let mut queues = self.queues.lock().unwrap();
                let queue = queues.get_mut(key).expect("queue");
                if queue.waiting.is_empty() {
                    queue.leader = false;
                    return;
                }
                std::mem::take(&mut queue.waiting)
            };
            let items: Vec<(&str, &str, &str)> = batch
                .iter()
                .map(|p| (p.chat_id.as_str(), p.question.as_str(), p.response.as_str()))
                .collect();
            let result = self.transact(&items).await.map_err(|e| e.to_string());
            for pending in batch {
                let _ = pending.done.send(result.clone());
            }
            // Lets the requests just answered queue their next append before the next batch
            // is cut, as the service's hand-off of the lead does; cut at once, batches would
            // alternate between two halves of the clients.
            tokio::task::yield_now().await;
        }
    }

    /// get-chat's read as the service runs it for a root chat: one aggregation in a snapshot
    /// (the chat, its conversation's head, its branches, the newest messages).
    pub async fn get_chat(&self, chat_id: &str, expected: usize) -> Result<()> {
        let read = bench::bare_get_chat(&self.client, &self.db, &self.account, chat_id)
            .await?
            .ok_or("no such chat")?;
        assert_eq!(read.get_array("newest")?.into_iter().count(), expected);
        Ok(())
    }

    /// get-chat's reads before they were one aggregation, for the before/after ratio: the
    /// account, then in a snapshot the chat, then at once its page of messages (in the
    /// snapshot), its branches and its conversation's head: five queries in three round trips.
    pub async fn get_chat_former(&self, chat_id: &str, expected: usize) -> Result<()> {
        self.account_exists().await?;
        let mut session = self.client.start_session().snapshot(true).await?;
        let in_snapshot = |name: &str| {
            let options = mongodb::options::CollectionOptions::builder()
                .read_concern(ReadConcern::snapshot())
                .build();
            self.db
                .collection_with_options::<RawDocumentBuf>(name, options)
        };
        let chat = in_snapshot("chats")
            .find_one(self.live(chat_id))
            .session(&mut session)
            .await?
            .ok_or("no such chat")?;
        let count = chat.get_i64("message_count")?;
        let root = chat.get_str("root_chat_id")?;
        let clause = doc! {
            "account_id": &self.account,
            "chat_id": chat_id,
            "position": { "$gte": (count - 100).max(0), "$lte": count - 1 },
        };
        let messages = async {
            in_snapshot("messages")
                .find(doc! { "$or": [clause] })
                .sort(doc! { "position": 1 })
                .session(&mut session)
                .await?
                .stream(&mut session)
                .try_collect::<Vec<_>>()
                .await
        };
        let branches = async {
            self.collection("chats")
                .find(doc! { "account_id": &self.account, "parent_chat_id": chat_id, "deleted_at": null })
                .sort(doc! { "created_at": 1, "_id": 1 })
                .await?
                .try_collect::<Vec<_>>()
                .await
        };
        let conversations = self.collection("conversations");
        let conversation = conversations.find_one(self.live_conversation(root));
        let (messages, _, conversation) = tokio::try_join!(messages, branches, conversation)?;
        conversation.ok_or("no conversation")?;
        assert_eq!(messages.len(), expected);
        Ok(())
    }

    /// A 304's read: the version of the conversation of root chat `root_id`.
    pub async fn conversation_version(&self, root_id: &str) -> Result<i64> {
        let found = self
            .collection("conversations")
            .find_one(self.live_conversation(root_id))
            .projection(doc! { "_id": 0, "version": 1 })
            .await?
            .ok_or("no conversation")?;
        Ok(found.get_i64("version").unwrap_or(0))
    }

    /// Every chat's messages hold exactly the positions `0..message_count`.
    pub async fn check_positions(&self) -> Result<Vec<String>> {
        let counted: Vec<Document> = self
            .db
            .collection::<Document>("messages")
            .aggregate(vec![doc! { "$group": {
                "_id": "$chat_id", "n": { "$sum": 1 }, "max": { "$max": "$position" },
            } }])
            .await?
            .try_collect()
            .await?;
        let mut problems = Vec::new();
        for group in counted {
            let chat_id = group.get_str("_id")?;
            let n = i64::from(group.get_i32("n")?);
            let max = group.get_i64("max")?;
            let chat = self.find_chat(chat_id).await?;
            let count = chat.get_i64("message_count")?;
            if n != max + 1 || count != n {
                problems.push(format!(
                    "chat {chat_id}: {n} messages, last position {max}, counter {count}"
                ));
            }
        }
        Ok(problems)
    }
}
