use futures_util::TryStreamExt;
use mongodb::ClientSession;
use mongodb::bson::{self, Bson, DateTime, Document, Timestamp, doc};
use mongodb::options::UpdateModifications;
use serde::{Deserialize, Serialize};

use super::Store;
use crate::error::ApiError;

/// One conversation tree: a root chat and every branch below it. What a list of
/// conversations shows is kept here, so a page of the list is one indexed read.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Conversation {
    /// The root chat's id.
    #[serde(rename = "_id")]
    pub root_chat_id: String,
    pub account_id: String,
    /// The root chat's name.
    pub title: String,
    pub created_at: DateTime,
    /// Moved by every add-message, create-branch, rename and set-active, in the same
    /// transaction: a list sorted by it is exact.
    pub updated_at: DateTime,
    /// Members other than the root.
    pub branch_count: i64,
    /// The one member that is active.
    pub active_branch_id: String,
    /// Visible message count of the active member.
    pub active_length: i64,
    /// The start of the active member's last question.
    #[serde(default)]
    pub preview: Option<String>,
    #[serde(default)]
    pub archived: bool,
    #[serde(default)]
    pub pinned: bool,
    /// Whether it is in the trash. Always present (unlike `deleted_at`), so that the list's
    /// index holds one key for the live ones and serves their order without sorting.
    #[serde(default)]
    pub trashed: bool,
    /// In the trash since then...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<DateTime>,
    /// ...and purged, with every chat and message, after this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purge_at: Option<DateTime>,
    /// Goes up with every change to the tree (see `update_conversation`): what a member's
    /// view shows — its history, name, branches, the active member — is fixed by it, so it
    /// identifies that view for conditional reads.
    #[serde(default)]
    pub version: i64,
}

/// Where a page of list-chats ends: the sort key of its last item.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ListPosition {
    pub pinned: bool,
    pub updated_at: DateTime,
    pub id: String,
}

/// Where a page of list-deleted ends.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrashPosition {
    pub deleted_at: DateTime,
    pub id: String,
}

/// A page of the conversation list, read as of one moment of the database.
pub struct Listed {
    pub conversations: Vec<Conversation>,
    /// The moment it was read at: later pages read the same one, so that no item is skipped
    /// or repeated while items move under concurrent writes. `None` when it was read live.
    pub at: Option<Timestamp>,
}

/// The caller's live (not trashed) conversation of root chat `root_chat_id`.
fn live(account_id: &str, root_chat_id: &str) -> Document {
    doc! { "_id": root_chat_id, "account_id": account_id, "trashed": false }
}

/// `update`, with the conversation's `version` going up by one.
fn counted(update: UpdateModifications) -> UpdateModifications {
    match update {
        UpdateModifications::Document(mut update) => {
            match update.get_document_mut("$inc") {
                Ok(inc) => {
                    inc.insert("version", 1);
                }
                Err(_) => {
                    update.insert("$inc", doc! { "version": 1 });
                }
            }
            UpdateModifications::Document(update)
        }
        UpdateModifications::Pipeline(mut stages) => {
            stages.push(
                doc! { "$set": { "version": { "$add": [{ "$ifNull": ["$version", 0] }, 1] } } },
            );
            UpdateModifications::Pipeline(stages)
        }
        other => other,
    }
}

/// MongoDB's codes when a snapshot is older than the history it keeps (5 minutes by default),
/// or was taken before the collection's catalog last changed: read live instead.
const SNAPSHOT_GONE: [i32; 2] = [239, 246];
/// ...and when the time asked for is not one it could have given out (a forged cursor).
const NOT_A_SNAPSHOT: [i32; 2] = [2, 72];

impl Store {
    pub(crate) async fn insert_conversation(
        &self,
        session: &mut ClientSession,
        conversation: &Conversation,
    ) -> mongodb::error::Result<()> {
        self.collection::<Conversation>("conversations")
            .insert_one(conversation)
            .session(session)
            .await?;
        Ok(())
    }

    /// The caller's conversation; `live` ones only unless `trash`, then deleted ones only.
    pub async fn find_conversation(
        &self,
        account_id: &str,
        root_chat_id: &str,
        trash: bool,
    ) -> Result<Option<Conversation>, ApiError> {
        Ok(self
            .collection::<Conversation>("conversations")
            .find_one(doc! { "_id": root_chat_id, "account_id": account_id, "trashed": trash })
            .await?)
    }

    /// The version of the caller's live conversation `root_chat_id` (one read of `_id`).
    pub async fn conversation_version(
        &self,
        account_id: &str,
        root_chat_id: &str,
    ) -> Result<Option<i64>, ApiError> {
        let found = self
            .collection::<Document>("conversations")
            .find_one(live(account_id, root_chat_id))
            .projection(doc! { "_id": 0, "version": 1 })
            .await?;
        Ok(found.map(|d| d.get_i64("version").unwrap_or(0)))
    }

    /// The caller's live conversation, read inside a transaction.
    pub(crate) async fn find_conversation_in(
        &self,
        session: &mut ClientSession,
        account_id: &str,
        root_chat_id: &str,
    ) -> mongodb::error::Result<Option<Conversation>> {
        self.collection::<Conversation>("conversations")
            .find_one(live(account_id, root_chat_id))
            .session(session)
            .await
    }

    /// Applies `update` to the caller's live conversation inside a transaction, and counts it
    /// in its `version`; returns it as it is afterwards, or `None` when there is no such live
    /// conversation. Every change to a tree goes through here, in the transaction making it.
    pub(crate) async fn update_conversation(
        &self,
        session: &mut ClientSession,
        account_id: &str,
        root_chat_id: &str,
        update: impl Into<UpdateModifications>,
    ) -> mongodb::error::Result<Option<Conversation>> {
        self.collection::<Conversation>("conversations")
            .find_one_and_update(live(account_id, root_chat_id), counted(update.into()))
            .return_document(mongodb::options::ReturnDocument::After)
            .session(session)
            .await
    }

    /// The same for several of the caller's conversations at once (`(root, update
    /// pipeline)`, a root may come more than once), without reading them back: one round
    /// trip, answering for each whether its live conversation was there to update (an append
    /// only needs to know that).
    pub(crate) async fn touch_conversations(
        &self,
        session: &mut ClientSession,
        account_id: &str,
        updates: Vec<(String, Vec<Document>)>,
    ) -> mongodb::error::Result<Vec<bool>> {
        let (roots, statements): (Vec<String>, Vec<_>) = updates
            .into_iter()
            .map(|(root, update)| {
                let filter = live(account_id, &root);
                (root, (filter, counted(update.into())))
            })
            .collect();
        let matched = self
            .update_each(session, "conversations", statements)
            .await?;
        if matched == roots.len() {
            return Ok(vec![true; roots.len()]);
        }
        // Some went to the trash or are gone: which ones (rare, so a second round trip).
        let filter = doc! { "_id": { "$in": &roots }, "account_id": account_id, "trashed": false };
        let live: Vec<Document> = self
            .collection::<Document>("conversations")
            .find(filter)
            .projection(doc! { "_id": 1 })
            .session(&mut *session)
            .await?
            .stream(&mut *session)
            .try_collect()
            .await?;
        let is_live = |root: &String| {
            live.iter()
                .any(|c| c.get_str("_id").ok() == Some(root.as_str()))
        };
        Ok(roots.iter().map(is_live).collect())
    }

    /// Moves a conversation into the trash (`Some((deleted_at, purge_at))`) or out of it.
    /// Returns it as it is afterwards, or `None` when it was not where it should come from.
    pub(crate) async fn set_trash(
        &self,
        session: &mut ClientSession,
        account_id: &str,
        root_chat_id: &str,
        trash: Option<(DateTime, DateTime)>,
    ) -> mongodb::error::Result<Option<Conversation>> {
        let (filter, update) = match trash {
            Some((deleted_at, purge_at)) => (
                live(account_id, root_chat_id),
                doc! { "$set": { "trashed": true, "deleted_at": deleted_at, "purge_at": purge_at } },
            ),
            None => (
                doc! { "_id": root_chat_id, "account_id": account_id, "trashed": true, "purge_at": { "$gt": DateTime::now() } },
                doc! { "$set": { "trashed": false }, "$unset": { "deleted_at": "", "purge_at": "" } },
            ),
        };
        self.collection::<Conversation>("conversations")
            .find_one_and_update(filter, counted(update.into()))
            .return_document(mongodb::options::ReturnDocument::After)
            .session(session)
            .await
    }

    /// A page of the caller's live conversations matching `filter` (archived, pinned), pinned
    /// first, then most recent activity first, after `after`. Read at the snapshot `at` (or a
    /// new one), so that paging sees one state of the list; when MongoDB no longer keeps that
    /// snapshot (five minutes by default), read live from the same position instead.
    pub async fn list_conversations(
        &self,
        account_id: &str,
        filter: Document,
        after: Option<&ListPosition>,
        limit: i64,
        at: Option<Timestamp>,
    ) -> Result<Listed, ApiError> {
        let mut query = doc! { "account_id": account_id, "trashed": false };
        query.extend(filter);
        if let Some(p) = after {
            query.insert(
                "$or",
                vec![
                    doc! { "pinned": { "$lt": p.pinned } },
                    doc! { "pinned": p.pinned, "updated_at": { "$lt": p.updated_at } },
                    doc! { "pinned": p.pinned, "updated_at": p.updated_at, "_id": { "$lt": &p.id } },
                ],
            );
        }
        let sort = doc! { "pinned": -1, "updated_at": -1, "_id": -1 };
        let mut read_concern = doc! { "level": "snapshot" };
        if let Some(at) = at {
            read_concern.insert("atClusterTime", at);
        }
        let command = doc! {
            "find": "conversations",
            "filter": &query,
            "sort": &sort,
            "limit": limit,
            "singleBatch": true,
            "readConcern": read_concern,
        };
        match self.db.run_command(command).await {
            Ok(reply) => {
                let cursor = reply.get_document("cursor").map_err(bson_error)?;
                let at = match cursor.get("atClusterTime") {
                    Some(Bson::Timestamp(t)) => Some(*t),
                    _ => at,
                };
                let conversations = cursor
                    .get_array("firstBatch")
                    .map_err(bson_error)?
                    .iter()
                    .map(|d| bson::deserialize_from_bson(d.clone()))
                    .collect::<Result<_, _>>()
                    .map_err(bson_error)?;
                Ok(Listed { conversations, at })
            }
            Err(error)
                if at.is_some()
                    && command_code(&error).is_some_and(|c| NOT_A_SNAPSHOT.contains(&c)) =>
            {
                Err(ApiError::invalid(
                    "cursor",
                    "is not a cursor this list gave out",
                ))
            }
            Err(error) if command_code(&error).is_some_and(|c| SNAPSHOT_GONE.contains(&c)) => {
                let conversations = self
                    .collection::<Conversation>("conversations")
                    .find(query)
                    .sort(sort)
                    .limit(limit)
                    .await?
                    .try_collect()
                    .await?;
                Ok(Listed {
                    conversations,
                    at: None,
                })
            }
            Err(error) => Err(error.into()),
        }
    }

    /// A page of the caller's trash, most recently deleted first, after `after`.
    pub async fn list_trash(
        &self,
        account_id: &str,
        after: Option<&TrashPosition>,
        limit: i64,
    ) -> Result<Vec<Conversation>, ApiError> {
        let mut query = doc! { "account_id": account_id, "trashed": true };
        if let Some(p) = after {
            query.insert(
                "$or",
                vec![
                    doc! { "deleted_at": { "$lt": p.deleted_at } },
                    doc! { "deleted_at": p.deleted_at, "_id": { "$lt": &p.id } },
                ],
            );
        }
        Ok(self
            .collection::<Conversation>("conversations")
            .find(query)
            .sort(doc! { "deleted_at": -1, "_id": -1 })
            .limit(limit)
            .await?
            .try_collect()
            .await?)
    }

    /// The caller's live conversations, oldest first, after `after` (`(created_at, _id)`).
    pub async fn conversations_after(
        &self,
        account_id: &str,
        after: Option<(DateTime, &str)>,
        limit: i64,
    ) -> Result<Vec<Conversation>, ApiError> {
        let mut filter = doc! { "account_id": account_id, "trashed": false };
        if let Some((at, id)) = after {
            filter.insert(
                "$or",
                vec![
                    doc! { "created_at": { "$gt": at } },
                    doc! { "created_at": at, "_id": { "$gt": id } },
                ],
            );
        }
        Ok(self
            .collection::<Conversation>("conversations")
            .find(filter)
            .sort(doc! { "created_at": 1, "_id": 1 })
            .limit(limit)
            .await?
            .try_collect()
            .await?)
    }

    /// How many conversations the account has (trash included), counting no further than
    /// `up_to`.
    pub async fn count_conversations(&self, account_id: &str, up_to: i64) -> Result<i64, ApiError> {
        let count = self
            .collection::<Conversation>("conversations")
            .count_documents(doc! { "account_id": account_id })
            .limit(up_to.max(1) as u64)
            .await?;
        Ok(count as i64)
    }

    /// Marks every conversation of an account for purging now.
    pub async fn expire_account_data(&self, account_id: &str) -> Result<(), ApiError> {
        let now = DateTime::now();
        self.collection::<Conversation>("conversations")
            .update_many(
                doc! { "account_id": account_id },
                doc! { "$set": { "trashed": true, "purge_at": now, "deleted_at": now } },
            )
            .await?;
        Ok(())
    }

    /// Up to `limit` conversations whose purge time has passed — of any account, or of
    /// `account_id` only — the longest overdue first.
    pub async fn due_for_purge(
        &self,
        account_id: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Conversation>, ApiError> {
        let mut filter = doc! { "purge_at": { "$lte": DateTime::now() } };
        if let Some(account_id) = account_id {
            filter.insert("account_id", account_id);
        }
        Ok(self
            .collection::<Conversation>("conversations")
            .find(filter)
            .sort(doc! { "purge_at": 1 })
            .limit(limit)
            .await?
            .try_collect()
            .await?)
    }

    /// Deletes the messages stored in these chats of the caller's.
    pub async fn delete_messages_of(
        &self,
        account_id: &str,
        chat_ids: &[&str],
    ) -> Result<(), ApiError> {
        self.collection::<Document>("messages")
            .delete_many(doc! { "account_id": account_id, "chat_id": { "$in": chat_ids } })
            .await?;
        Ok(())
    }

    /// Deletes every chat of a tree.
    pub async fn delete_tree_chats(&self, account_id: &str, root: &str) -> Result<(), ApiError> {
        self.collection::<Document>("chats")
            .delete_many(doc! { "account_id": account_id, "root_chat_id": root })
            .await?;
        Ok(())
    }

    /// Deletes a conversation document, if its purge time has passed.
    pub async fn delete_expired_conversation(
        &self,
        account_id: &str,
        root: &str,
    ) -> Result<(), ApiError> {
        self.collection::<Document>("conversations")
            .delete_one(doc! { "_id": root, "account_id": account_id, "purge_at": { "$lte": DateTime::now() } })
            .await?;
        Ok(())
    }
}

fn command_code(error: &mongodb::error::Error) -> Option<i32> {
    match &*error.kind {
        mongodb::error::ErrorKind::Command(e) => Some(e.code),
        _ => None,
    }
}

fn bson_error(error: impl std::fmt::Display) -> ApiError {
    tracing::error!(%error, "unexpected list reply");
    ApiError::Internal
}
