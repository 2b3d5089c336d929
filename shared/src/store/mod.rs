//! MongoDB access. Three collections:
//! - `users`: one document per account, unique `username`.
//! - `chats`: one document per chat *or branch* (a branch is a chat with a parent); unique
//!   `chat_id`. Holds a `message_count` counter, which is the length of the visible history.
//! - `login_attempts`: recent login attempts per username, for the lockout rule; expire by TTL.
//! - `messages`: one document per question/response pair, keyed by `(chat_id, position)`.
//!   Messages are never embedded in chats, so a history is not bounded by the 16 MB document
//!   limit, and never copied, so branching costs O(1) writes.

mod chats;
mod login_attempts;
mod messages;
mod users;

pub use chats::{Chat, Segment};
pub use login_attempts::LoginAttempts;
pub use messages::Message;
pub use users::User;

use std::time::{Duration, Instant};

use mongodb::bson::{Document, doc};
use mongodb::options::{Acknowledgment, ClientOptions, IndexOptions, ReadConcern, WriteConcern};
use mongodb::{Client, Collection, Database, IndexModel};
use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
use tokio::sync::{Mutex, MutexGuard, OnceCell};

use crate::config::{Config, StartupError};
use crate::error::{ApiError, is_unavailable};

pub struct Store {
    client: Client,
    db: Database,
    /// Set once the indexes exist; until then every request tries to create them, so a
    /// process that started while MongoDB was down heals by itself.
    indexed: OnceCell<()>,
    /// When index creation last failed for a reason other than an outage (an index of another
    /// shape already there): requests answer 503 at once until `SETUP_RETRY` has passed.
    setup_failed: std::sync::Mutex<Option<Instant>>,
    /// Appends to one chat are serial by nature (they share its counter). Within this process
    /// they queue here, in arrival order, instead of letting their transactions conflict and
    /// retry; across processes the transaction alone keeps them correct.
    append_turns: Box<[Mutex<()>]>,
}

const APPEND_TURNS: usize = 64;

/// How often a process whose index setup failed tries again.
const SETUP_RETRY: Duration = Duration::from_secs(1);

const SETUP_INCOMPLETE: ApiError =
    ApiError::Unavailable("Database setup incomplete, please retry later");

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
        options.write_concern = Some(durable());
        // Reads see only majority-committed data, so a message shown once is never missing
        // later because the primary that acknowledged it was rolled back in a failover. Every
        // write is majority-acknowledged before it is answered, so a client still reads its
        // own writes.
        options.read_concern = Some(ReadConcern::majority());
        let client = Client::with_options(options)?;
        let db = client.database(&config.database);
        Ok(Self {
            client,
            db,
            indexed: OnceCell::new(),
            setup_failed: std::sync::Mutex::new(None),
            append_turns: (0..APPEND_TURNS).map(|_| Mutex::new(())).collect(),
        })
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

    /// Waits for this process's turn to append to `chat_id` (shared by chats whose ids hash
    /// alike, which only costs them a little parallelism).
    async fn append_turn(&self, chat_id: &str) -> MutexGuard<'_, ()> {
        let slot = BuildHasherDefault::<DefaultHasher>::default().hash_one(chat_id) as usize
            % APPEND_TURNS;
        self.append_turns[slot].lock().await
    }

    fn users(&self) -> Collection<User> {
        self.db.collection("users")
    }

    fn chats(&self) -> Collection<Chat> {
        self.db.collection("chats")
    }

    fn login_attempts_collection(&self) -> Collection<LoginAttempts> {
        self.db.collection("login_attempts")
    }

    fn messages(&self) -> Collection<Message> {
        self.db.collection("messages")
    }
}

/// Every index the service relies on, by collection.
fn index_plan() -> Vec<(&'static str, Vec<IndexModel>)> {
    let unique = || IndexOptions::builder().unique(true).build();
    let index = |keys: Document, options: Option<IndexOptions>| {
        IndexModel::builder().keys(keys).options(options).build()
    };
    vec![
        ("users", vec![index(doc! { "username": 1 }, Some(unique()))]),
        (
            "chats",
            vec![
                index(doc! { "chat_id": 1 }, Some(unique())),
                // A chat's direct branches, in creation order.
                index(
                    doc! { "parent_chat_id": 1, "created_at": 1, "_id": 1 },
                    None,
                ),
            ],
        ),
        (
            "login_attempts",
            vec![index(
                doc! { "expires_at": 1 },
                Some(IndexOptions::builder().expire_after(Duration::ZERO).build()),
            )],
        ),
        // Serves "messages of chat X up to position p, in order" and makes a position unique.
        (
            "messages",
            vec![index(doc! { "chat_id": 1, "position": 1 }, Some(unique()))],
        ),
    ]
}
