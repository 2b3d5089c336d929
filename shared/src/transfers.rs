//! export-chat, export-chats and import-chats: moving conversations in and out in ChatGPT's
//! `conversations.json` format (the mapping itself is in `exports`).

use serde::{Deserialize, Serialize};

use crate::chats::{self, CHAT_NOT_FOUND, Refused, keep_answer};
use crate::config::Config;
use crate::cursor;
use crate::error::ApiError;
use crate::exports::{self, ExportPage, GptConversation, ImportedView};
use crate::idempotency::Idempotency;
use crate::store::{Conversation, Store};

/// An export page stops short of Lambda's 6 MB response limit.
const MAX_EXPORT_BYTES: usize = 5 * 1024 * 1024;

/// One conversation tree, whole, as ChatGPT exports it.
pub async fn export_chat(
    store: &Store,
    account_id: &str,
    chat_id: &str,
) -> Result<GptConversation, ApiError> {
    let chat = store
        .find_chat(account_id, chat_id)
        .await?
        .ok_or(CHAT_NOT_FOUND)?;
    let conversation = chats::conversation_of(store, &chat).await?;
    let exported = export(store, &conversation).await?;
    if serde_json::to_vec(&exported).map_or(0, |v| v.len()) > MAX_EXPORT_BYTES {
        return Err(ApiError::invalid(
            "chat_id",
            "this conversation is larger than one answer can carry (5 MiB): fork it in parts to export it",
        ));
    }
    Ok(exported)
}

async fn export(store: &Store, conversation: &Conversation) -> Result<GptConversation, ApiError> {
    let account = conversation.account_id.as_str();
    // The members and their messages at one moment (a promotion moves messages between them).
    let mut snapshot = store.snapshot().await?;
    let root = &conversation.root_chat_id;
    let members = store.tree_members_in(&mut snapshot, account, root).await?;
    let members: Vec<_> = members
        .into_iter()
        .filter(|m| m.deleted_at.is_none())
        .collect();
    let ids: Vec<&str> = members.iter().map(|m| m.chat_id.as_str()).collect();
    let messages = store.messages_of_at(&mut snapshot, account, &ids).await?;
    Ok(exports::export(conversation, &members, &messages))
}

#[derive(Serialize, Deserialize)]
struct ExportCursor {
    created_at: i64,
    after: String,
}

/// All of the caller's conversations (not those in the trash), oldest first, a page at a time:
/// `limit` of them at most, fewer if the page would pass 5 MiB.
pub async fn export_chats(
    store: &Store,
    account_id: &str,
    limit: Option<i64>,
    cursor: Option<&str>,
) -> Result<ExportPage, ApiError> {
    let limit = limit.unwrap_or(10);
    let after: Option<ExportCursor> = cursor.map(cursor::decode).transpose()?;
    let after = after.as_ref().map(|a| {
        (
            mongodb::bson::DateTime::from_millis(a.created_at),
            a.after.as_str(),
        )
    });
    let conversations = store
        .conversations_after(account_id, after, limit + 1)
        .await?;
    let mut items = Vec::new();
    let mut size = 0;
    let mut last = None;
    for conversation in conversations.iter().take(limit as usize) {
        let exported = export(store, conversation).await?;
        let bytes = serde_json::to_vec(&exported).map_or(0, |v| v.len());
        if !items.is_empty() && size + bytes > MAX_EXPORT_BYTES {
            break;
        }
        size += bytes;
        items.push(exported);
        last = Some(ExportCursor {
            created_at: conversation.created_at.timestamp_millis(),
            after: conversation.root_chat_id.clone(),
        });
    }
    let more = conversations.len() > items.len();
    Ok(ExportPage {
        items,
        next_cursor: last.filter(|_| more).map(|last| cursor::encode(&last)),
    })
}

/// Imports a `conversations.json` body: every conversation or none (one transaction).
pub async fn import_chats(
    store: &Store,
    config: &Config,
    account_id: &str,
    body: &[GptConversation],
    idempotency: Option<&Idempotency>,
) -> Result<Vec<ImportedView>, ApiError> {
    let imported = body
        .iter()
        .enumerate()
        .map(|(i, c)| exports::import(c, account_id, &format!("[{i}]")))
        .collect::<Result<Vec<_>, _>>()?;
    let held = store
        .count_conversations(account_id, config.max_conversations)
        .await?;
    if held + imported.len() as i64 > config.max_conversations {
        return Err(ApiError::invalid(
            "body",
            format!(
                "would pass {} conversations, the most allowed",
                config.max_conversations
            ),
        ));
    }
    for (i, one) in imported.iter().enumerate() {
        if one.chats.len() as i64 > config.max_members {
            return Err(ApiError::invalid(
                format!("[{i}].mapping"),
                format!(
                    "has {} branches; at most {} members are allowed",
                    one.chats.len(),
                    config.max_members
                ),
            ));
        }
        if let Some(deep) = one
            .chats
            .iter()
            .find(|c| c.lineage.len() as i64 > config.max_depth)
        {
            return Err(ApiError::invalid(
                format!("[{i}].mapping"),
                format!(
                    "nests branches {} deep; at most {} are allowed",
                    deep.lineage.len(),
                    config.max_depth
                ),
            ));
        }
    }
    let views: Vec<ImportedView> = imported
        .iter()
        .map(|one| ImportedView {
            chat_id: one.conversation.root_chat_id.clone(),
            name: one.conversation.title.clone(),
            message_count: one
                .chats
                .iter()
                .find(|c| c.is_root())
                .map_or(0, |c| c.message_count),
            branch_count: one.conversation.branch_count,
        })
        .collect();
    let (imported_ref, views_ref) = (&imported, &views);
    store
        .transaction(account_id, |session| async move {
            let mut session = session.lock().await;
            for one in imported_ref {
                store
                    .insert_conversation(&mut session, &one.conversation)
                    .await?;
                store.insert_chats(&mut session, &one.chats).await?;
                store.insert_messages(&mut session, &one.messages).await?;
            }
            if !store.hold_account(&mut session, account_id).await? {
                return Ok(Err(Refused::AccountGone));
            }
            keep_answer(store, &mut session, idempotency, views_ref).await
        })
        .await?
        .map_err(Refused::into_error)?;
    Ok(views)
}
