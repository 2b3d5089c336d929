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

    /// A branch of `parent` holding its first `message_index + 1` visible messages. Only the
    /// description of that prefix is stored, never the messages: O(1) writes at any length.
    pub fn new_branch(parent: &Chat, message_index: i64, name: &str) -> Self {
        let chat_id = uuid::Uuid::new_v4().to_string();
        Self {
            id: ObjectId::new(),
            account_id: parent.account_id.clone(),
            name: name.to_owned(),
            created_at: DateTime::now(),
            root_chat_id: parent.root_chat_id.clone(),
            parent_chat_id: Some(parent.chat_id.clone()),
            created_from_message_index: Some(message_index),
            lineage: parent.lineage_up_to(message_index),
            message_count: message_index + 1,
            active_branch_id: None,
            chat_id,
        }
    }

    /// Where this chat's visible messages `0..=upto` are stored, root first. The parent's own
    /// messages start after its last inherited position, so an ancestor that already holds
    /// `upto` ends the walk and nothing after it is referenced.
    fn lineage_up_to(&self, upto: i64) -> Vec<Segment> {
        let mut lineage = Vec::with_capacity(self.lineage.len() + 1);
        for segment in &self.lineage {
            if segment.upto >= upto {
                lineage.push(Segment {
                    chat_id: segment.chat_id.clone(),
                    upto,
                });
                return lineage;
            }
            lineage.push(segment.clone());
        }
        lineage.push(Segment {
            chat_id: self.chat_id.clone(),
            upto,
        });
        lineage
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

    /// Records `active_branch_id` as the active member of the tree rooted at `root_chat_id`.
    /// One field on one document: exactly one member is active, and no other tree is touched.
    pub async fn set_active_branch(
        &self,
        account_id: &str,
        root_chat_id: &str,
        active_branch_id: &str,
    ) -> Result<(), ApiError> {
        self.chats()
            .update_one(
                doc! { "chat_id": root_chat_id, "account_id": account_id },
                doc! { "$set": { "active_branch_id": active_branch_id } },
            )
            .await?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn segment(chat_id: &str, upto: i64) -> Segment {
        Segment {
            chat_id: chat_id.into(),
            upto,
        }
    }

    fn branch_of(parent: &Chat, at: i64) -> Chat {
        Chat::new_branch(parent, at, "b")
    }

    #[test]
    fn a_branch_of_a_root_inherits_one_segment() {
        let root = Chat::new_root("alice", "root");
        let branch = branch_of(&root, 4);
        assert_eq!(branch.lineage, [segment(&root.chat_id, 4)]);
        assert_eq!(branch.message_count, 5);
        assert_eq!(branch.root_chat_id, root.chat_id);
        assert_eq!(
            branch.parent_chat_id.as_deref(),
            Some(root.chat_id.as_str())
        );
        assert_eq!(branch.active_branch_id, None);
    }

    #[test]
    fn branching_inside_the_inherited_prefix_skips_the_parent() {
        let root = Chat::new_root("alice", "root");
        let child = branch_of(&root, 4);
        let grandchild = branch_of(&child, 2);
        assert_eq!(grandchild.lineage, [segment(&root.chat_id, 2)]);
        let at_boundary = branch_of(&child, 4);
        assert_eq!(at_boundary.lineage, [segment(&root.chat_id, 4)]);
    }

    #[test]
    fn branching_past_the_prefix_adds_the_parent() {
        let root = Chat::new_root("alice", "root");
        let child = branch_of(&root, 4);
        let grandchild = branch_of(&child, 7);
        assert_eq!(
            grandchild.lineage,
            [segment(&root.chat_id, 4), segment(&child.chat_id, 7)]
        );
        let great = branch_of(&grandchild, 6);
        assert_eq!(
            great.lineage,
            [segment(&root.chat_id, 4), segment(&child.chat_id, 6)]
        );
        assert_eq!(great.root_chat_id, root.chat_id);
    }
}
