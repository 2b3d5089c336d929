//! MongoDB access. It stores and finds documents and runs transactions; the rules (lineage,
//! the active member, what a delete removes) live in the domain modules above it. It answers
//! with typed outcomes (`None` for not found, `Inserted::Duplicate`, …); only the database's
//! own failures are errors.
//!
//! Collections, every document carrying its `account_id` (every query is scoped by it, and it
//! leads every index, ready to be the shard key):
//! - `users`: one per account, `_id` the account id (a UUID), unique `username`.
//! - `conversations`: one per conversation tree (a root chat and its branches), `_id` the root's
//!   chat id: title, times, the active member, list and trash state.
//! - `chats`: one per chat *or branch*, unique `(account_id, chat_id)`, with `message_count`,
//!   the length of its visible history.
//! - `messages`: one per question/response pair, unique `(account_id, chat_id, position)`.
//!   Never embedded (a history is not bounded by the 16 MB document limit) and never copied
//!   (branching writes one document).
//! - `idempotency_keys`: the first answer to each `Idempotency-Key`, for 24 hours (TTL).
//! - `login_attempts`: recent login attempts per username, for the lockout rule (TTL).

mod accounts;
mod chats;
mod conversations;
mod idempotency;
mod login_attempts;
mod messages;
mod sharding;

pub use accounts::{Inserted, User};
pub use chats::{Chat, ChatRead, ConversationHead, Positions, Segment};
pub use conversations::{Conversation, ListPosition, Listed, TrashPosition};
pub use idempotency::{IdempotencyRecord, KeyId, Replay};
pub use login_attempts::LoginAttempts;
pub use messages::Message;
pub use sharding::{SCATTER_GATHER, SHARD_KEYS, ShardKey};

use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mongodb::bson::{Bson, Document, doc};
use mongodb::error::{TRANSIENT_TRANSACTION_ERROR, UNKNOWN_TRANSACTION_COMMIT_RESULT};
use mongodb::options::{
    Acknowledgment, ClientOptions, IndexOptions, ReadConcern, ServerMonitoringMode,
    TransactionOptions, UpdateModifications, WriteConcern,
};
use mongodb::{Client, ClientSession, Collection, Database, IndexModel};
use tokio::sync::{Mutex, MutexGuard, OnceCell};

use crate::config::{Config, StartupError};
use crate::error::{ApiError, is_unavailable};

/// Cheap to clone: clones share the client, its pool and the queues.
#[derive(Clone)]
pub struct Store(Arc<Inner>);

pub struct Inner {
    client: Client,
    db: Database,
    /// Set once the indexes exist; until then every request tries to create them, so a
    /// process that started while MongoDB was down heals by itself.
    indexed: OnceCell<()>,
    /// When index creation last failed for a reason other than an outage (an index of another
    /// shape already there): requests answer 503 at once until `SETUP_RETRY` has passed.
    setup_failed: std::sync::Mutex<Option<Instant>>,
    /// Writes to one conversation are serial by nature (they share its document). Within this
    /// process they queue here, in arrival order, instead of letting their transactions
    /// conflict and retry; across processes the transactions alone keep them correct.
    turns: Box<[Mutex<()>]>,
    /// add-message's queues for group commit (see `appends`).
    pub(crate) appends: crate::appends::Lanes,
}

impl std::ops::Deref for Store {
    type Target = Inner;

    fn deref(&self) -> &Inner {
        &self.0
    }
}

const TURNS: usize = 64;

/// How often a process whose index setup failed tries again.
const SETUP_RETRY: Duration = Duration::from_secs(1);

const SETUP_INCOMPLETE: ApiError =
    ApiError::Unavailable("Database setup incomplete, please retry later");

/// Write conflicts one transaction retries before it gives up with 503; its time is bounded
/// too, by the request's deadline.
const MAX_CONFLICT_RETRIES: u32 = 30;

/// Longest time kept back from a request's deadline to abort its transaction.
const MAX_ABORT_TIME: Duration = Duration::from_secs(1);

/// Acknowledged writes survive a crash of the primary: majority-replicated and journaled.
pub(crate) fn durable() -> WriteConcern {
    WriteConcern::builder()
        .w(Acknowledgment::Majority)
        .journal(true)
        .build()
}

impl Store {
    /// Builds the client (no I/O for `mongodb://` URIs; a DNS lookup for `mongodb+srv://`).
    /// The driver connects lazily and reconnects by itself after an outage.
    pub async fn connect(config: &Config) -> Result<Self, StartupError> {
        let mut options = ClientOptions::parse(&config.mongodb_uri).await?;
        options.app_name = Some(config.app_name.clone());
        options.server_selection_timeout = Some(config.db_timeout);
        options.connect_timeout = Some(config.db_timeout);
        // A budget per process: every Lambda instance holds its own pool (README, *Scaling*).
        options.max_pool_size = Some(config.pool.max_size);
        options.min_pool_size = Some(0);
        options.max_idle_time = Some(config.pool.max_idle);
        if config.pool.poll_monitoring {
            options.server_monitoring_mode = Some(ServerMonitoringMode::Poll);
        }
        options.write_concern = Some(durable());
        // Reads see only majority-committed data, so a message shown once is never missing
        // later because the primary that acknowledged it was rolled back in a failover. Every
        // write is majority-acknowledged before it is answered, so a client still reads its
        // own writes.
        options.read_concern = Some(ReadConcern::majority());
        let client = Client::with_options(options)?;
        let db = client.database(&config.database);
        Ok(Self(Arc::new(Inner {
            client,
            db,
            indexed: OnceCell::new(),
            setup_failed: std::sync::Mutex::new(None),
            turns: (0..TURNS).map(|_| Mutex::new(())).collect(),
            appends: Default::default(),
        })))
    }

    /// The store, once its indexes are known to exist. While they cannot be created every
    /// request answers 503: serving without the unique indexes could store duplicates.
    pub async fn ready(&self) -> Result<&Self, ApiError> {
        if self.indexed.initialized() {
            return Ok(self);
        }
        let failed = *self.setup_failed.lock().unwrap_or_else(|e| e.into_inner());
        if failed.is_some_and(|at| at.elapsed() < SETUP_RETRY) {
            return Err(SETUP_INCOMPLETE);
        }
        self.indexed
            .get_or_try_init(|| self.create_indexes())
            .await?;
        Ok(self)
    }

    /// Idempotent: creating an index that already exists is a no-op on the server.
    async fn create_indexes(&self) -> Result<(), ApiError> {
        for (collection, indexes) in index_plan() {
            let names: Vec<String> = indexes.iter().map(|i| format!("{}", i.keys)).collect();
            let created = self
                .db
                .collection::<Document>(collection)
                .create_indexes(indexes)
                .await;
            match created {
                Ok(_) => {}
                Err(error) if is_unavailable(&error) => return Err(error.into()),
                Err(error) => {
                    tracing::error!(
                        collection,
                        indexes = ?names,
                        %error,
                        "cannot create the indexes this service needs; an existing index of another shape is in the way (drop it or use another MONGODB_DATABASE); answering 503 until it is fixed"
                    );
                    *self.setup_failed.lock().unwrap_or_else(|e| e.into_inner()) =
                        Some(Instant::now());
                    return Err(SETUP_INCOMPLETE);
                }
            }
        }
        Ok(())
    }

    /// Runs `work` in a transaction (snapshot reads, durable commit) and commits when it
    /// answers `Ok(Ok(_))` (the work locks the `Session` it is given for its reads and
    /// writes); `Ok(Err(_))` aborts and is handed back as an outcome. Within this process,
    /// transactions on one `turn` take turns: those on one conversation, and those that make
    /// an account's conversations live (they all write the account's document, see
    /// `hold_account`). A write conflict with another process is retried, at most
    /// `MAX_CONFLICT_RETRIES` times with jittered backoff, without holding the turn while it
    /// waits.
    ///
    /// A transaction still open when the request must be answered is aborted first (within a
    /// short bound): left to the driver's background clean-up, which a frozen Lambda sandbox
    /// never runs, it would keep its documents locked against every other instance until
    /// MongoDB expires it (60 s). The 503 then says whether the write may have happened.
    pub(crate) async fn transaction<T, R, Fut>(
        &self,
        turn: &str,
        work: impl FnMut(Session) -> Fut,
    ) -> Result<Result<T, R>, ApiError>
    where
        Fut: Future<Output = mongodb::error::Result<Result<T, R>>>,
    {
        self.run_transaction(Some(turn), work).await
    }

    /// The same, for work that takes its turns itself (a batch of appends, queued per account).
    pub(crate) async fn transaction_without_turn<T, R, Fut>(
        &self,
        work: impl FnMut(Session) -> Fut,
    ) -> Result<Result<T, R>, ApiError>
    where
        Fut: Future<Output = mongodb::error::Result<Result<T, R>>>,
    {
        self.run_transaction(None, work).await
    }

    async fn run_transaction<T, R, Fut>(
        &self,
        turn: Option<&str>,
        mut work: impl FnMut(Session) -> Fut,
    ) -> Result<Result<T, R>, ApiError>
    where
        Fut: Future<Output = mongodb::error::Result<Result<T, R>>>,
    {
        let deadline = request_deadline();
        let abort_time = MAX_ABORT_TIME.min(deadline.saturating_duration_since(Instant::now()) / 4);
        let give_up = deadline.checked_sub(abort_time * 2).unwrap_or(deadline);
        let session = Session(Arc::new(Mutex::new(self.client.start_session().await?)));
        let mut retries = Retries::default();
        loop {
            let mut committing = false;
            let attempt = tokio::time::timeout_at(give_up.into(), async {
                let _turn = match turn {
                    Some(turn) => Some(self.turn(turn).await),
                    None => None,
                };
                let options = TransactionOptions::builder()
                    .read_concern(ReadConcern::snapshot())
                    .write_concern(durable())
                    .build();
                session
                    .lock()
                    .await
                    .start_transaction()
                    .with_options(options)
                    .await?;
                let outcome = work(session.clone()).await;
                let mut session = session.lock().await;
                match outcome {
                    Ok(Ok(value)) => {
                        committing = true;
                        commit(&mut session).await?;
                        Ok(Ok(value))
                    }
                    Ok(Err(outcome)) => {
                        session.abort_transaction().await?;
                        Ok(Err(outcome))
                    }
                    Err(error) => {
                        // The server aborts a failed transaction anyway; this tidies the session.
                        let _ = session.abort_transaction().await;
                        Err(error)
                    }
                }
            })
            .await;
            let error = match attempt {
                Ok(Ok(outcome)) => return Ok(outcome),
                Ok(Err(error)) => error,
                Err(_elapsed) => {
                    // The attempt was dropped, and with it its hold on the session.
                    let abort = async { session.lock().await.abort_transaction().await };
                    let _ = tokio::time::timeout(abort_time, abort).await;
                    return Err(ApiError::Unavailable(match committing {
                        true => {
                            "Request timed out while committing; the change may have been stored"
                        }
                        false => "Request timed out; nothing was stored, please retry",
                    }));
                }
            };
            if error.contains_label(UNKNOWN_TRANSACTION_COMMIT_RESULT) {
                return Err(ApiError::Unavailable(
                    "Database unavailable while committing; the change may have been stored",
                ));
            }
            // A write conflict with a concurrent transaction: try again. An unreachable server
            // is transient too, but waiting it out here would only delay the 503.
            if !error.contains_label(TRANSIENT_TRANSACTION_ERROR) || is_unreachable(&error) {
                return Err(error.into());
            }
            match retries.next() {
                Some(delay) if Instant::now() + delay < give_up => tokio::time::sleep(delay).await,
                _ => return Err(ApiError::Unavailable("This chat is busy, please retry")),
            }
        }
    }

    /// A session whose reads all see one moment of the database (a snapshot): a chat and the
    /// messages its lineage names, read in it, always belong together. No round trip.
    pub(crate) async fn snapshot(&self) -> mongodb::error::Result<ClientSession> {
        self.client.start_session().snapshot(true).await
    }

    /// Waits for this process's turn to write to `key`'s conversation (shared by keys that
    /// hash alike, which only costs them a little parallelism).
    async fn turn(&self, key: &str) -> MutexGuard<'_, ()> {
        let slot = BuildHasherDefault::<DefaultHasher>::default().hash_one(key) as usize % TURNS;
        self.turns[slot].lock().await
    }

    fn collection<T: Send + Sync>(&self, name: &str) -> Collection<T> {
        self.db.collection(name)
    }

    /// Runs `(filter, update)` statements, each on one document, as one `update` command in
    /// `session`: one round trip however many documents (the driver's `bulk_write` needs
    /// MongoDB 8). Returns how many statements found their document.
    async fn update_each(
        &self,
        session: &mut ClientSession,
        collection: &str,
        statements: Vec<(Document, UpdateModifications)>,
    ) -> mongodb::error::Result<usize> {
        let updates: Vec<Document> = statements
            .into_iter()
            .map(|(q, u)| {
                let u = match u {
                    UpdateModifications::Document(u) => Bson::Document(u),
                    UpdateModifications::Pipeline(stages) => Bson::from(stages),
                    _ => unreachable!("no update here is a replacement"),
                };
                doc! { "q": q, "u": u }
            })
            .collect();
        let command = doc! { "update": collection, "updates": updates, "ordered": true };
        let reply = self.db.run_command(command).session(session).await?;
        // Failed statements do not fail the command; inside a transaction any of them aborts
        // it, so it must not commit.
        if let Ok(errors) = reply.get_array("writeErrors") {
            let codes: Vec<i32> = errors
                .iter()
                .filter_map(|e| e.as_document()?.get_i32("code").ok())
                .collect();
            return Err(mongodb::error::Error::custom(format!(
                "update on {collection} failed: codes {codes:?}"
            )));
        }
        let matched = match reply.get("n") {
            Some(Bson::Int32(n)) => *n as usize,
            Some(Bson::Int64(n)) => *n as usize,
            _ => 0,
        };
        Ok(matched)
    }

    /// A collection for reads in a session: a snapshot session's reads must ask for the
    /// `snapshot` level themselves (the driver would otherwise keep the client's `majority`
    /// and never fix the snapshot's moment); inside a transaction the transaction's own read
    /// concern applies anyway.
    fn collection_in<T: Send + Sync>(&self, name: &str) -> Collection<T> {
        let options = mongodb::options::CollectionOptions::builder()
            .read_concern(ReadConcern::snapshot())
            .build();
        self.db.collection_with_options(name, options)
    }
}

/// The session of a transaction, shared with the work inside it: the work holds it while it
/// runs, and the transaction gets it back to commit or abort, even when the work was cut off.
#[derive(Clone)]
pub(crate) struct Session(Arc<Mutex<ClientSession>>);

impl Session {
    pub(crate) async fn lock(&self) -> MutexGuard<'_, ClientSession> {
        self.0.lock().await
    }
}

/// Commits, retrying while the outcome is unknown (commit is idempotent on the server), after
/// jittered waits: instances that lost the primary together do not all retry in step.
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
                tokio::time::sleep(jittered(Duration::from_millis(25 << tries))).await;
            }
            result => return result,
        }
    }
}

/// A wait drawn uniformly from zero to `ceiling` ("full jitter").
fn jittered(ceiling: Duration) -> Duration {
    let jitter = u64::from(getrandom::u32().unwrap_or(u32::MAX / 2));
    Duration::from_micros(ceiling.as_micros() as u64 * jitter / u64::from(u32::MAX))
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
        Some(jittered(Duration::from_micros(ceiling_us)))
    }
}

/// When the current request must be answered (a default request timeout from now when called
/// outside one).
pub(crate) fn request_deadline() -> Instant {
    crate::routes::deadline().unwrap_or_else(|| Instant::now() + Duration::from_secs(10))
}

/// Every index the service relies on, by collection. Each starts with `account_id`, which every
/// query names, so a sharded cluster can route each query to one shard.
fn index_plan() -> Vec<(&'static str, Vec<IndexModel>)> {
    let unique = || Some(IndexOptions::builder().unique(true).build());
    let index = |keys: Document, options: Option<IndexOptions>| {
        IndexModel::builder().keys(keys).options(options).build()
    };
    let expires = || Some(IndexOptions::builder().expire_after(Duration::ZERO).build());
    vec![
        ("users", vec![index(doc! { "username": 1 }, unique())]),
        (
            "conversations",
            vec![
                // list-chats: the live ones, pinned first, most recent activity first.
                index(
                    doc! { "account_id": 1, "trashed": 1, "archived": 1, "pinned": -1, "updated_at": -1, "_id": -1 },
                    None,
                ),
                // list-deleted: the trash, most recently deleted first.
                index(doc! { "account_id": 1, "deleted_at": -1, "_id": -1 }, None),
                // export-chats: oldest first.
                index(
                    doc! { "account_id": 1, "trashed": 1, "created_at": 1, "_id": 1 },
                    None,
                ),
                // The purge of expired trash, across accounts.
                index(
                    doc! { "purge_at": 1 },
                    Some(IndexOptions::builder().sparse(true).build()),
                ),
            ],
        ),
        (
            "chats",
            vec![
                index(doc! { "account_id": 1, "chat_id": 1 }, unique()),
                // A chat's direct branches, in creation order.
                index(
                    doc! { "account_id": 1, "parent_chat_id": 1, "created_at": 1, "_id": 1 },
                    None,
                ),
                // Every member of a conversation tree.
                index(doc! { "account_id": 1, "root_chat_id": 1 }, None),
                // The purge of deleted branches, across accounts.
                index(
                    doc! { "purge_at": 1 },
                    Some(IndexOptions::builder().sparse(true).build()),
                ),
                index(doc! { "account_id": 1, "name": "text" }, None),
            ],
        ),
        (
            "messages",
            vec![
                // "Messages of chat X from position p to q, in order"; a position is unique.
                index(
                    doc! { "account_id": 1, "chat_id": 1, "position": 1 },
                    unique(),
                ),
                index(
                    doc! { "account_id": 1, "question": "text", "response": "text" },
                    None,
                ),
            ],
        ),
        (
            "idempotency_keys",
            vec![index(doc! { "expires_at": 1 }, expires())],
        ),
        (
            "login_attempts",
            vec![index(doc! { "expires_at": 1 }, expires())],
        ),
    ]
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
