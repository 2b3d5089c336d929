//! The JSON shapes the API answers with. Times are RFC 3339 in UTC with milliseconds.

use mongodb::bson::RawBsonRef;
use mongodb::bson::error::Error as BsonError;
use serde::{Deserialize, Serialize};

use crate::store::{Chat, Conversation, Message};
use crate::time::rfc3339;

/// A chat or branch with a page of its visible history and its direct branches.
#[derive(Debug, Serialize, Deserialize)]
pub struct ChatView {
    #[serde(rename = "_id")]
    pub id: String,
    pub chat_id: String,
    pub account_id: String,
    pub name: String,
    pub created_at: String,
    /// Whether this chat is the active member of its conversation tree.
    pub active: bool,
    pub root_chat_id: String,
    pub active_branch_id: String,
    pub parent_chat_id: Option<String>,
    pub created_from_message_index: Option<i64>,
    /// The length of the whole visible history.
    pub message_count: i64,
    /// The page: the newest messages before `before` (all of them for up to 100).
    pub messages: Vec<MessageView>,
    /// Whether older messages exist; `next_before` is the `before` that reads them.
    pub has_more: bool,
    pub next_before: Option<i64>,
    pub branches: Vec<BranchView>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MessageView {
    /// Position in the visible history: the `message_index` to branch at.
    pub index: i64,
    pub question: String,
    pub response: String,
    pub response_id: String,
    pub timestamp: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct BranchView {
    pub branch_id: String,
    pub name: String,
    pub created_from_message_index: Option<i64>,
    pub created_at: String,
    pub active: bool,
}

/// The answer to create-branch.
#[derive(Debug, Serialize, Deserialize)]
pub struct NewBranchView {
    pub branch_id: String,
    pub parent_chat_id: String,
    pub root_chat_id: String,
    pub name: String,
    pub created_from_message_index: i64,
    pub created_at: String,
    pub active: bool,
}

/// The answer to set-active-branch.
#[derive(Debug, Serialize, Deserialize)]
pub struct ActiveBranchView {
    pub message: String,
    pub chat_id: String,
    pub active_branch_id: String,
}

/// A conversation as lists show it.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
pub struct ConversationView {
    /// The root chat's id (what get-chat takes to open it).
    pub chat_id: String,
    pub name: String,
    pub created_at: String,
    pub updated_at: String,
    pub active_branch_id: String,
    /// Visible message count of the active member.
    pub message_count: i64,
    pub branch_count: i64,
    pub archived: bool,
    pub pinned: bool,
    /// The first 200 characters of the active member's last question.
    pub preview: Option<String>,
    /// In the trash only: when it was deleted and when it will be purged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purge_at: Option<String>,
}

/// A page of a list; `next_cursor` reads the next one, `null` after the last.
#[derive(Debug, Serialize, Deserialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// The answer to update-chat: the chat or branch renamed, and its conversation.
#[derive(Debug, Serialize, Deserialize)]
pub struct UpdatedView {
    pub chat_id: String,
    pub name: String,
    pub conversation: ConversationView,
}

/// A search hit: a message, or a chat whose name matched (`index` null).
#[derive(Debug, Serialize, Deserialize)]
pub struct SearchHit {
    /// The chat that stores the message (or whose name matched).
    pub chat_id: String,
    pub chat_name: String,
    pub root_chat_id: String,
    pub index: Option<i64>,
    pub snippet: String,
    pub timestamp: String,
    /// Every live member of the conversation that shows this message (branches inherit
    /// their prefix), the storing chat first.
    pub shown_in: Vec<String>,
}

/// The answer to delete-account.
#[derive(Debug, Serialize, Deserialize)]
pub struct DeletedAccountView {
    pub message: String,
    pub account_id: String,
}

impl MessageView {
    /// The view of a stored message read as BSON (a `Message` document): one pass over its
    /// fields, decoding only those a view shows.
    pub fn from_raw(message: RawBsonRef<'_>) -> Result<Self, BsonError> {
        let invalid = |what: &str| <BsonError as serde::de::Error>::custom(what);
        let m = message
            .as_document()
            .ok_or_else(|| invalid("a stored message is not a document"))?;
        let (mut index, mut timestamp) = (None, None);
        let (mut question, mut response, mut response_id) = (None, None, None);
        for element in m.iter_elements() {
            let element = element?;
            let text = || element.value().map(|v| v.as_str().map(str::to_owned));
            match element.key().as_str() {
                "position" => index = element.value()?.as_i64(),
                "question" => question = text()?,
                "response" => response = text()?,
                "response_id" => response_id = text()?,
                "timestamp" => timestamp = element.value()?.as_datetime(),
                _ => {}
            }
        }
        match (index, question, response, response_id, timestamp) {
            (Some(index), Some(question), Some(response), Some(response_id), Some(at)) => {
                Ok(Self {
                    index,
                    question,
                    response,
                    response_id,
                    timestamp: rfc3339(at),
                })
            }
            _ => Err(invalid("a stored message lacks a field of its view")),
        }
    }
}

impl From<Message> for MessageView {
    fn from(m: Message) -> Self {
        Self {
            index: m.position,
            question: m.question,
            response: m.response,
            response_id: m.response_id,
            timestamp: rfc3339(m.timestamp),
        }
    }
}

impl BranchView {
    pub fn new(chat: Chat, active_branch_id: &str) -> Self {
        Self {
            active: chat.chat_id == active_branch_id,
            branch_id: chat.chat_id,
            name: chat.name,
            created_from_message_index: chat.created_from_message_index,
            created_at: rfc3339(chat.created_at),
        }
    }
}

impl From<Conversation> for ConversationView {
    fn from(c: Conversation) -> Self {
        Self {
            chat_id: c.root_chat_id,
            name: c.title,
            created_at: rfc3339(c.created_at),
            updated_at: rfc3339(c.updated_at),
            active_branch_id: c.active_branch_id,
            message_count: c.active_length,
            branch_count: c.branch_count,
            archived: c.archived,
            pinned: c.pinned,
            preview: c.preview,
            deleted_at: c.deleted_at.map(rfc3339),
            purge_at: c.purge_at.map(rfc3339),
        }
    }
}

/// A whole conversation tree, in drawing order.
#[derive(Debug, Serialize, Deserialize)]
pub struct TreeView {
    pub root_chat_id: String,
    pub active_branch_id: String,
    /// The members from the root down to the active one.
    pub active_path: Vec<String>,
    pub member_count: i64,
    /// Depth first from the root; each member's branches by the index they were cut at.
    pub members: Vec<MemberView>,
    pub next_cursor: Option<String>,
    /// The conversation's list flags (update-chat), so a client that opened it from a link
    /// or a search hit shows them without paging the list.
    pub pinned: bool,
    pub archived: bool,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct MemberView {
    pub chat_id: String,
    pub name: String,
    pub parent_chat_id: Option<String>,
    /// The parent's last message this member inherits (-1: none).
    pub created_from_message_index: Option<i64>,
    /// The messages it shows after its cut: what it added to what it inherits.
    pub own_message_count: i64,
    /// Its whole visible history.
    pub message_count: i64,
    pub created_at: String,
    pub active: bool,
}

/// Two members side by side from where they diverge.
#[derive(Debug, Serialize, Deserialize)]
pub struct ComparisonView {
    /// How many leading messages they share: the index where they differ.
    pub divergence_index: i64,
    pub a: SideView,
    pub b: SideView,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct SideView {
    pub chat_id: String,
    pub name: String,
    pub message_count: i64,
    /// A page of its messages from `divergence_index` (or `from`) on.
    pub messages: Vec<MessageView>,
    pub has_more: bool,
    /// The `from` that reads the next page.
    pub next_from: Option<i64>,
}

/// What a branch deletion (delete-branch, prune-branches) or its undoing did.
#[derive(Debug, Serialize, Deserialize)]
pub struct BranchDeletionView {
    pub message: String,
    /// The members it moved into the trash (or out of it).
    pub chat_ids: Vec<String>,
    pub active_branch_id: String,
    /// Until then `restore-branch` with any of `chat_ids` undoes it.
    pub purge_at: Option<String>,
}

/// What promote-branch did.
#[derive(Debug, Serialize, Deserialize)]
pub struct PromotionView {
    pub message: String,
    /// Now shows the promoted history.
    pub root_chat_id: String,
    pub promoted_branch_id: String,
    /// The old main line from the cut onward, as a new branch.
    pub old_main_branch_id: String,
    pub active_branch_id: String,
    pub moved_messages: i64,
}
