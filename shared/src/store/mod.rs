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

use mongodb::bson::doc;
use mongodb::options::{Acknowledgment, ClientOptions, IndexOptions, WriteConcern};
use mongodb::{Client, Collection, Database, IndexModel};
use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
use tokio::sync::{Mutex, MutexGuard, OnceCell};

use crate::config::{Config, StartupError};
use crate::error::ApiError;

pub struct Store {
    client: Client,
    db: Database,
    /// Set once the indexes exist; until then every request tries to create them, so a
    /// process that started while MongoDB was down heals by itself.
    indexed: OnceCell<()>,
    /// Appends to one chat are serial by nature (they share its counter). Within this process
    /// they queue here, in arrival order, instead of letting their transactions conflict and
    /// retry; across processes the transaction alone keeps them correct.
    append_turns: Box<[Mutex<()>]>,
}

const APPEND_TURNS: usize = 64;

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
        options.app_name = Some("chat-backend".into());
        options.server_selection_timeout = Some(config.db_timeout);
        options.connect_timeout = Some(config.db_timeout);
        options.write_concern = Some(durable());
        let client = Client::with_options(options)?;
        let db = client.database(&config.database);
        Ok(Self {
            client,
            db,
            indexed: OnceCell::new(),
            append_turns: (0..APPEND_TURNS).map(|_| Mutex::new(())).collect(),
        })
    }

    /// The store, once its indexes are known to exist.
    pub async fn ready(&self) -> Result<&Self, ApiError> {
        self.indexed
            .get_or_try_init(|| self.create_indexes())
            .await?;
        Ok(self)
    }

    /// Idempotent: creating an index that already exists is a no-op on the server.
    async fn create_indexes(&self) -> Result<(), ApiError> {
        let unique = || IndexOptions::builder().unique(true).build();
        self.users()
            .create_index(
                IndexModel::builder()
                    .keys(doc! { "username": 1 })
                    .options(unique())
                    .build(),
            )
            .await?;
        self.chats()
            .create_indexes([
                IndexModel::builder()
                    .keys(doc! { "chat_id": 1 })
                    .options(unique())
                    .build(),
                // A chat's direct branches, in creation order.
                IndexModel::builder()
                    .keys(doc! { "parent_chat_id": 1, "created_at": 1, "_id": 1 })
                    .build(),
            ])
            .await?;
        self.login_attempts_collection()
            .create_index(
                IndexModel::builder()
                    .keys(doc! { "expires_at": 1 })
                    .options(
                        IndexOptions::builder()
                            .expire_after(std::time::Duration::ZERO)
                            .build(),
                    )
                    .build(),
            )
            .await?;
        // Serves "messages of chat X up to position p, in order" and makes a position unique.
        self.messages()
            .create_index(
                IndexModel::builder()
                    .keys(doc! { "chat_id": 1, "position": 1 })
                    .options(unique())
                    .build(),
            )
            .await?;
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
