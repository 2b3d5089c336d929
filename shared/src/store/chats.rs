use futures_util::TryStreamExt;
use mongodb::ClientSession;
use mongodb::bson::oid::ObjectId;
use mongodb::bson::{DateTime, Document, RawArrayBuf, doc};
use mongodb::options::ReturnDocument;
use serde::{Deserialize, Serialize};

use super::Store;
use crate::error::ApiError;

/// A chat or a branch. A branch's visible history is the prefix it inherits — described by
/// `lineage` — followed by its own messages; positions continue across the two, so the
/// message at visible index `i` is stored with `position == i` in whichever chat holds it.
/// (The rules that build a lineage live in `tree`.)
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
    /// The start of the last visible question, for list previews.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_question: Option<String>,
    /// Set while the chat is in the trash (with its conversation, or with a deleted branch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<DateTime>,
    /// For a deleted branch: the deletion it belongs to (restored as one) and when it is purged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_with: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purge_at: Option<DateTime>,
    /// For a branch deleted while it was the active member: the member that became active in
    /// its place. Restoring the deletion makes this one active again if that one still is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_fallback: Option<String>,
}

/// "Messages of `chat_id` at positions up to `upto`": one piece of an inherited prefix.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    pub chat_id: String,
    pub upto: i64,
}

/// `deleted_with` of the members that went to the trash with their whole conversation.
const WITH_CONVERSATION: &str = "conversation";

/// A chat with everything its view needs but the messages (`Store::read_chat`).
#[derive(Debug)]
pub struct ChatRead {
    pub chat: Chat,
    /// Its live conversation's head.
    pub head: ConversationHead,
    /// Its live direct branches, oldest first.
    pub branches: Vec<Chat>,
    /// With `Store::read_chat`'s `newest`: the newest messages stored in the chat itself
    /// (not inherited), newest first, left as BSON: get-chat turns the ones its page shows
    /// straight into views (`MessageView::from_raw`).
    pub newest: RawArrayBuf,
}

/// Each document of `array`, decoded.
fn decode_each<T: serde::de::DeserializeOwned>(
    array: &mongodb::bson::RawArray,
) -> mongodb::error::Result<Vec<T>> {
    array
        .into_iter()
        .map(|value| {
            let document = value?.as_document().ok_or_else(|| {
                mongodb::error::Error::custom("an array of documents holds something else")
            })?;
            Ok(mongodb::bson::deserialize_from_slice(document.as_bytes())?)
        })
        .collect()
}

/// What an append needs of its chat (`Store::take_positions`): nothing more crosses the wire
/// in the hot path.
#[derive(Debug, Deserialize)]
pub struct Positions {
    pub message_count: i64,
    pub root_chat_id: String,
}

/// What a member's view takes from its conversation.
#[derive(Debug, Deserialize)]
pub struct ConversationHead {
    pub active_branch_id: String,
    #[serde(default)]
    pub version: i64,
}

impl Chat {
    pub fn is_root(&self) -> bool {
        self.parent_chat_id.is_none()
    }
}

/// The caller's live (not deleted) chat with this id.
fn live(account_id: &str, chat_id: &str) -> Document {
    doc! { "account_id": account_id, "chat_id": chat_id, "deleted_at": null }
}

impl Store {
    pub(crate) async fn insert_chat(
        &self,
        session: &mut ClientSession,
        chat: &Chat,
    ) -> mongodb::error::Result<()> {
        self.collection::<Chat>("chats")
            .insert_one(chat)
            .session(session)
            .await?;
        Ok(())
    }

    /// The caller's chat with this id; `None` also when it belongs to someone else or is in
    /// the trash.
    pub async fn find_chat(
        &self,
        account_id: &str,
        chat_id: &str,
    ) -> Result<Option<Chat>, ApiError> {
        Ok(self
            .collection::<Chat>("chats")
            .find_one(live(account_id, chat_id))
            .await?)
    }

    /// The same, read inside a transaction or a snapshot.
    pub(crate) async fn find_chat_in(
        &self,
        session: &mut ClientSession,
        account_id: &str,
        chat_id: &str,
    ) -> mongodb::error::Result<Option<Chat>> {
        self.collection_in::<Chat>("chats")
            .find_one(live(account_id, chat_id))
            .session(session)
            .await
    }

    /// The caller's live chat in a live conversation, with the conversation's head and the
    /// chat's branches, in one command read in `session` (a snapshot): one round trip where
    /// three reads would take two. With `newest: Some((before, limit))` it also carries the
    /// newest `limit` messages stored in the chat itself at positions before `before`, which
    /// are the whole page of a root chat or a branch with enough messages of its own: get-chat
    /// then needs no second round trip. (They come from an uncorrelated sub-pipeline, run
    /// once, on the messages index like any page.)
    pub(crate) async fn read_chat(
        &self,
        session: &mut ClientSession,
        account_id: &str,
        chat_id: &str,
        newest: Option<(Option<i64>, i64)>,
    ) -> mongodb::error::Result<Option<ChatRead>> {
        let mut pipeline = vec![
            doc! { "$match": live(account_id, chat_id) },
            doc! { "$replaceWith": { "chat": "$$ROOT" } },
            doc! { "$lookup": {
                "from": "conversations",
                "localField": "chat.root_chat_id",
                "foreignField": "_id",
                "pipeline": [
                    { "$match": { "account_id": account_id, "trashed": false } },
                    { "$project": { "_id": 0, "active_branch_id": 1, "version": 1 } },
                ],
                "as": "conversation",
            } },
            doc! { "$lookup": {
                "from": "chats",
                "pipeline": [
                    { "$match": { "account_id": account_id, "parent_chat_id": chat_id, "deleted_at": null } },
                    { "$sort": { "created_at": 1, "_id": 1 } },
                ],
                "as": "branches",
            } },
        ];
        if let Some((before, limit)) = newest {
            let mut own = doc! { "account_id": account_id, "chat_id": chat_id };
            if let Some(before) = before {
                own.insert("position", doc! { "$lt": before });
            }
            pipeline.push(doc! { "$lookup": {
                "from": "messages",
                "pipeline": [
                    { "$match": own },
                    { "$sort": { "position": -1 } },
                    { "$limit": limit },
                ],
                "as": "newest",
            } });
        }
        let mut cursor = self
            .collection_in::<Chat>("chats")
            .aggregate(pipeline)
            .session(&mut *session)
            .await?;
        if !cursor.advance(session).await? {
            return Ok(None);
        }
        // Decoded part by part: serde would walk the whole page only to skip it (checking
        // every string as it goes), and its path to a raw array would link 0.1 MB more into
        // each zip; the page is copied as bytes.
        let found = cursor.current();
        // A chat whose conversation is in the trash is not live either.
        let Some(head) = decode_each(found.get_array("conversation")?)?.pop() else {
            return Ok(None);
        };
        let chat = found.get_document("chat")?;
        Ok(Some(ChatRead {
            chat: mongodb::bson::deserialize_from_slice(chat.as_bytes())?,
            head,
            branches: decode_each(found.get_array("branches")?)?,
            newest: match found.get("newest")?.and_then(|v| v.as_array()) {
                Some(newest) => newest.to_owned(),
                None => RawArrayBuf::new(),
            },
        }))
    }

    /// Takes the next `n` positions of a live chat: its counter goes up by `n`, and what it
    /// was is returned (the first new message's position), with the chat's root.
    pub(crate) async fn take_positions(
        &self,
        session: &mut ClientSession,
        account_id: &str,
        chat_id: &str,
        n: i64,
        last_question: &str,
    ) -> mongodb::error::Result<Option<Positions>> {
        self.collection::<Positions>("chats")
            .find_one_and_update(
                live(account_id, chat_id),
                doc! {
                    "$inc": { "message_count": n },
                    "$set": { "last_question": last_question },
                },
            )
            .projection(doc! { "_id": 0, "message_count": 1, "root_chat_id": 1 })
            .return_document(ReturnDocument::Before)
            .session(session)
            .await
    }

    /// `take_positions` for each `(chat, n, last question)` of the caller's (distinct chats),
    /// in order; `None` for a chat that is not live. One chat takes one find-and-modify; more
    /// take two round trips whatever their number: their counters read, then raised by one
    /// `update` command. The transaction makes the pair as safe as find-and-modify: a counter
    /// another writer moved since the read fails the raise with a write conflict, and the
    /// batch runs again.
    pub(crate) async fn take_positions_of(
        &self,
        session: &mut ClientSession,
        account_id: &str,
        takes: &[(&str, i64, &str)],
    ) -> mongodb::error::Result<Vec<Option<Positions>>> {
        if let [(chat_id, n, last_question)] = takes {
            let taken = self
                .take_positions(session, account_id, chat_id, *n, last_question)
                .await?;
            return Ok(vec![taken]);
        }
        #[derive(Deserialize)]
        struct Counter {
            chat_id: String,
            message_count: i64,
            root_chat_id: String,
        }
        let ids: Vec<&str> = takes.iter().map(|(chat_id, _, _)| *chat_id).collect();
        let filter =
            doc! { "account_id": account_id, "chat_id": { "$in": &ids }, "deleted_at": null };
        let projection = doc! { "_id": 0, "chat_id": 1, "message_count": 1, "root_chat_id": 1 };
        let mut counters: Vec<Counter> = self
            .collection::<Counter>("chats")
            .find(filter)
            .projection(projection)
            .session(&mut *session)
            .await?
            .stream(&mut *session)
            .try_collect()
            .await?;
        let mut raises = Vec::new();
        let taken = takes
            .iter()
            .map(|&(chat_id, n, last_question)| {
                let at = counters.iter().position(|c| c.chat_id == chat_id)?;
                let counter = counters.swap_remove(at);
                let raise = doc! {
                    "$inc": { "message_count": n },
                    "$set": { "last_question": last_question },
                };
                raises.push((live(account_id, chat_id), raise.into()));
                Some(Positions {
                    message_count: counter.message_count,
                    root_chat_id: counter.root_chat_id,
                })
            })
            .collect();
        let expected = raises.len();
        if self.update_each(session, "chats", raises).await? != expected {
            // Cannot happen inside the transaction: a chat changed since the read conflicts.
            return Err(mongodb::error::Error::custom("a chat's counter vanished"));
        }
        Ok(taken)
    }

    /// Direct live branches of a chat, oldest first.
    pub async fn branches_of(&self, chat: &Chat) -> Result<Vec<Chat>, ApiError> {
        let branches = self
            .collection::<Chat>("chats")
            .find(doc! {
                "account_id": &chat.account_id,
                "parent_chat_id": &chat.chat_id,
                "deleted_at": null,
            })
            .sort(doc! { "created_at": 1, "_id": 1 })
            .await?
            .try_collect()
            .await?;
        Ok(branches)
    }

    /// Live chats of the caller among `chat_ids`.
    pub async fn chats_by_id(
        &self,
        account_id: &str,
        chat_ids: &[&str],
    ) -> Result<Vec<Chat>, ApiError> {
        Ok(self
            .collection::<Chat>("chats")
            .find(doc! { "account_id": account_id, "chat_id": { "$in": chat_ids }, "deleted_at": null })
            .await?
            .try_collect()
            .await?)
    }

    /// Every member of the caller's conversation trees `roots` (deleted or not).
    pub async fn tree_members(
        &self,
        account_id: &str,
        roots: &[&str],
    ) -> Result<Vec<Chat>, ApiError> {
        Ok(self
            .collection::<Chat>("chats")
            .find(doc! { "account_id": account_id, "root_chat_id": { "$in": roots } })
            .await?
            .try_collect()
            .await?)
    }

    pub(crate) async fn rename_chat(
        &self,
        session: &mut ClientSession,
        account_id: &str,
        chat_id: &str,
        name: &str,
    ) -> mongodb::error::Result<()> {
        self.collection::<Chat>("chats")
            .update_one(live(account_id, chat_id), doc! { "$set": { "name": name } })
            .session(session)
            .await?;
        Ok(())
    }

    /// Marks every live member of a tree deleted with its conversation (`Some`), or brings
    /// back the members deleted that way (`None`). Branches already in the trash on their own
    /// (delete-branch, prune-branches) stay there either way.
    pub(crate) async fn mark_tree(
        &self,
        session: &mut ClientSession,
        account_id: &str,
        root_chat_id: &str,
        deleted_at: Option<DateTime>,
    ) -> mongodb::error::Result<()> {
        let tree = doc! { "account_id": account_id, "root_chat_id": root_chat_id };
        let (mut filter, update) = match deleted_at {
            Some(at) => (
                doc! { "deleted_at": null },
                doc! { "$set": { "deleted_at": at, "deleted_with": WITH_CONVERSATION } },
            ),
            None => (
                doc! { "deleted_with": WITH_CONVERSATION },
                doc! { "$unset": { "deleted_at": "", "deleted_with": "" } },
            ),
        };
        filter.extend(tree);
        self.collection::<Chat>("chats")
            .update_many(filter, update)
            .session(session)
            .await?;
        Ok(())
    }

    /// Every member of one tree, read inside a transaction (deleted ones included).
    pub(crate) async fn tree_members_in(
        &self,
        session: &mut ClientSession,
        account_id: &str,
        root: &str,
    ) -> mongodb::error::Result<Vec<Chat>> {
        self.collection_in::<Chat>("chats")
            .find(doc! { "account_id": account_id, "root_chat_id": root })
            .session(&mut *session)
            .await?
            .stream(session)
            .try_collect()
            .await
    }

    pub(crate) async fn insert_chats(
        &self,
        session: &mut ClientSession,
        chats: &[Chat],
    ) -> mongodb::error::Result<()> {
        if !chats.is_empty() {
            self.collection::<Chat>("chats")
                .insert_many(chats)
                .session(session)
                .await?;
        }
        Ok(())
    }

    /// Writes a member's description (lineage, parent, length, preview) as `chat` has it.
    pub(crate) async fn rewrite_chat(
        &self,
        session: &mut ClientSession,
        chat: &Chat,
    ) -> mongodb::error::Result<()> {
        let lineage = mongodb::bson::serialize_to_bson(&chat.lineage)?;
        self.collection::<Chat>("chats")
            .update_one(
                doc! { "account_id": &chat.account_id, "chat_id": &chat.chat_id },
                doc! { "$set": {
                    "lineage": lineage,
                    "parent_chat_id": &chat.parent_chat_id,
                    "message_count": chat.message_count,
                    "last_question": &chat.last_question,
                } },
            )
            .session(session)
            .await?;
        Ok(())
    }

    /// Puts these members in the trash as one deletion, or (`deletion` `None`) takes the
    /// members of deletion `restore` out of it.
    pub(crate) async fn mark_deleted(
        &self,
        session: &mut ClientSession,
        account_id: &str,
        chat_ids: &[&str],
        deletion: &str,
        at: DateTime,
        purge_at: DateTime,
    ) -> mongodb::error::Result<()> {
        self.collection::<Chat>("chats")
            .update_many(
                doc! { "account_id": account_id, "chat_id": { "$in": chat_ids }, "deleted_at": null },
                doc! { "$set": { "deleted_at": at, "deleted_with": deletion, "purge_at": purge_at } },
            )
            .session(session)
            .await?;
        Ok(())
    }

    /// Notes on the deleted active member which member took its place (`Chat::active_fallback`).
    pub(crate) async fn note_active_fallback(
        &self,
        session: &mut ClientSession,
        account_id: &str,
        chat_id: &str,
        fallback: &str,
    ) -> mongodb::error::Result<()> {
        self.collection::<Chat>("chats")
            .update_one(
                doc! { "account_id": account_id, "chat_id": chat_id },
                doc! { "$set": { "active_fallback": fallback } },
            )
            .session(session)
            .await?;
        Ok(())
    }

    pub(crate) async fn unmark_deleted(
        &self,
        session: &mut ClientSession,
        account_id: &str,
        deletion: &str,
    ) -> mongodb::error::Result<u64> {
        let result = self
            .collection::<Chat>("chats")
            .update_many(
                doc! { "account_id": account_id, "deleted_with": deletion },
                doc! { "$unset": { "deleted_at": "", "deleted_with": "", "purge_at": "", "active_fallback": "" } },
            )
            .session(session)
            .await?;
        Ok(result.modified_count)
    }

    /// The caller's chat with this id, live or deleted.
    pub async fn find_any_chat(
        &self,
        account_id: &str,
        chat_id: &str,
    ) -> Result<Option<Chat>, ApiError> {
        Ok(self
            .collection::<Chat>("chats")
            .find_one(doc! { "account_id": account_id, "chat_id": chat_id })
            .await?)
    }

    /// Deleted branches whose purge time has passed (of any account), at most `limit`.
    pub async fn branches_due_for_purge(&self, limit: i64) -> Result<Vec<Chat>, ApiError> {
        Ok(self
            .collection::<Chat>("chats")
            .find(doc! { "purge_at": { "$lte": DateTime::now() } })
            .limit(limit)
            .await?
            .try_collect()
            .await?)
    }

    pub async fn delete_chat_document(
        &self,
        account_id: &str,
        chat_id: &str,
    ) -> Result<(), ApiError> {
        self.collection::<Chat>("chats")
            .delete_one(doc! { "account_id": account_id, "chat_id": chat_id })
            .await?;
        Ok(())
    }

    /// Live chats of the caller whose name matches `query` (MongoDB text search), newest
    /// first, created before `before` (`(created_at, _id)`), at most `limit`.
    pub async fn search_chat_names(
        &self,
        account_id: &str,
        query: &str,
        before: Option<(DateTime, ObjectId)>,
        limit: i64,
    ) -> Result<Vec<Chat>, ApiError> {
        let mut filter = doc! {
            "account_id": account_id,
            "$text": { "$search": query },
            "deleted_at": null,
        };
        if let Some((at, id)) = before {
            filter.insert(
                "$or",
                vec![
                    doc! { "created_at": { "$lt": at } },
                    doc! { "created_at": at, "_id": { "$lt": id } },
                ],
            );
        }
        Ok(self
            .collection::<Chat>("chats")
            .find(filter)
            .sort(doc! { "created_at": -1, "_id": -1 })
            .limit(limit)
            .await?
            .try_collect()
            .await?)
    }
}
