use futures_util::TryStreamExt;
use mongodb::bson::oid::ObjectId;
use mongodb::bson::{DateTime, doc};
use serde::{Deserialize, Serialize};

use super::Store;
use crate::error::ApiError;

/// A chat or a branch. A branch's visible history is the prefix it inherits — described by
/// `lineage` — followed by its own messages; positions continue across the two, so the
/// message at visible index `i` is stored with `position == i` in whichever chat holds it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Chat {
    #[serde(rename = "_id")]
    pub id: ObjectId,
    pub chat_id: String,
    pub account_id: String,
    pub name: String,
    pub created_at: DateTime,
    /// The conversation tree this chat belongs to; a root chat is its own root.
    pub root_chat_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_chat_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_from_message_index: Option<i64>,
    /// Root first: for each ancestor, the last position this branch inherits from it.
    #[serde(default)]
    pub lineage: Vec<Segment>,
    /// Length of the visible history, hence the position of the next message.
    pub message_count: i64,
    /// Kept on the root only: the one member of the tree that is active.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_branch_id: Option<String>,
}

/// "Messages of `chat_id` at positions up to `upto`": one piece of an inherited prefix.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    pub chat_id: String,
    pub upto: i64,
}

impl Chat {
    /// A new root chat, active in its own (one-member) tree.
    pub fn new_root(account_id: &str, name: &str) -> Self {
        let chat_id = uuid::Uuid::new_v4().to_string();
        Self {
            id: ObjectId::new(),
            account_id: account_id.to_owned(),
            name: name.to_owned(),
            created_at: DateTime::now(),
            root_chat_id: chat_id.clone(),
            parent_chat_id: None,
            created_from_message_index: None,
            lineage: Vec::new(),
            message_count: 0,
            active_branch_id: Some(chat_id.clone()),
            chat_id,
        }
    }

    pub fn is_root(&self) -> bool {
        self.parent_chat_id.is_none()
    }
}

impl Store {
    pub async fn insert_chat(&self, chat: &Chat) -> Result<(), ApiError> {
        self.chats().insert_one(chat).await?;
        Ok(())
    }

    /// The caller's chat with this id; `None` also when it belongs to someone else.
    pub async fn find_chat(
        &self,
        account_id: &str,
        chat_id: &str,
    ) -> Result<Option<Chat>, ApiError> {
        Ok(self
            .chats()
            .find_one(doc! { "chat_id": chat_id, "account_id": account_id })
            .await?)
    }

    /// Direct branches of a chat, oldest first.
    pub async fn branches_of(&self, chat: &Chat) -> Result<Vec<Chat>, ApiError> {
        let branches = self
            .chats()
            .find(doc! { "parent_chat_id": &chat.chat_id, "account_id": &chat.account_id })
            .sort(doc! { "created_at": 1, "_id": 1 })
            .await?
            .try_collect()
            .await?;
        Ok(branches)
    }

    /// The active member of the chat's conversation tree, as recorded on its root.
    pub async fn active_branch_id(&self, chat: &Chat) -> Result<String, ApiError> {
        let recorded = if chat.is_root() {
            chat.active_branch_id.clone()
        } else {
            self.find_chat(&chat.account_id, &chat.root_chat_id)
                .await?
                .and_then(|root| root.active_branch_id)
        };
        Ok(recorded.unwrap_or_else(|| chat.root_chat_id.clone()))
    }
}
