//! Branches: creating one at any message, listing a chat's branches, and choosing the active
//! member of a conversation.

use mongodb::bson::{DateTime, doc};

use crate::chats::{CHAT_NOT_FOUND, Refused, conversation_of, keep_answer, validate_name};
use crate::error::ApiError;
use crate::idempotency::Idempotency;
use crate::store::Store;
use crate::time::rfc3339;
use crate::tree;
use crate::views::{ActiveBranchView, BranchView, NewBranchView};

/// Branches `parent_chat_id` (a chat or a branch) after its message `message_index`, an index
/// into the parent's whole visible history. Writes one chat document, whatever the length.
pub async fn create_branch(
    store: &Store,
    config: &crate::config::Config,
    account_id: &str,
    parent_chat_id: &str,
    message_index: i64,
    name: &str,
    idempotency: Option<&Idempotency>,
) -> Result<NewBranchView, ApiError> {
    validate_name(name)?;
    let parent = store
        .find_chat(account_id, parent_chat_id)
        .await?
        .ok_or(CHAT_NOT_FOUND)?;
    // The counter only counts committed messages, so every index accepted here is readable.
    if !(0..parent.message_count).contains(&message_index) {
        return Err(index_rule(parent.message_count));
    }
    let conversation = conversation_of(store, &parent).await?;
    // Its lineage and preview are taken again inside the transaction, from the parent as
    // the transaction sees it.
    let branch = tree::new_branch(&parent, message_index, name, None);
    crate::trees::check_members(&conversation, 1, config, "parent_chat_id")?;
    crate::trees::check_depth(&branch, config, "parent_chat_id")?;
    let view = NewBranchView {
        branch_id: branch.chat_id.clone(),
        parent_chat_id: parent.chat_id.clone(),
        root_chat_id: branch.root_chat_id.clone(),
        name: branch.name.clone(),
        created_from_message_index: message_index,
        created_at: rfc3339(branch.created_at),
        active: false,
    };
    let (root, branch, answer) = (&parent.root_chat_id, &branch, &view);
    store
        .transaction(root, |session| async move {
            let mut session = session.lock().await;
            // The lineage is taken from the parent as this transaction sees it: a promotion
            // that committed since the first read may have moved what it names. (Both write
            // the conversation document, so they cannot commit over each other unseen.)
            let Some(parent) = store
                .find_chat_in(&mut session, account_id, parent_chat_id)
                .await?
            else {
                return Ok(Err(Refused::NotFound));
            };
            if message_index >= parent.message_count {
                return Ok(Err(Refused::Invalid(index_rule(parent.message_count))));
            }
            let pieces = tree::pieces(&parent, message_index, message_index + 1);
            let at_index = store
                .messages_in_at(&mut session, account_id, &pieces)
                .await?;
            let mut branch = branch.clone();
            let fresh = tree::new_branch(&parent, message_index, &branch.name, None);
            branch.lineage = fresh.lineage;
            branch.last_question = at_index.first().map(|m| crate::messages::preview(&m.question));
            if let Err(error) = crate::trees::check_depth(&branch, config, "parent_chat_id") {
                return Ok(Err(Refused::Invalid(error)));
            }
            let branch = &branch;
            store.insert_chat(&mut session, branch).await?;
            let touched = store
                .update_conversation(
                    &mut session,
                    account_id,
                    root,
                    doc! { "$inc": { "branch_count": 1 }, "$set": { "updated_at": branch.created_at } },
                )
                .await?;
            if touched.is_none() {
                return Ok(Err(Refused::NotFound));
            }
            keep_answer(store, &mut session, idempotency, answer).await
        })
        .await?
        .map_err(Refused::into_error)?;
    Ok(view)
}

fn index_rule(len: i64) -> ApiError {
    let rule = match len {
        0 => "the chat has no messages to branch from".to_owned(),
        _ => format!("must be between 0 and {} for this chat", len - 1),
    };
    ApiError::invalid("message_index", rule)
}

/// The direct branches of a chat or branch, oldest first.
pub async fn get_branches(
    store: &Store,
    account_id: &str,
    chat_id: &str,
) -> Result<Vec<BranchView>, ApiError> {
    let chat = store
        .find_chat(account_id, chat_id)
        .await?
        .ok_or(CHAT_NOT_FOUND)?;
    let (branches, conversation) =
        tokio::try_join!(store.branches_of(&chat), conversation_of(store, &chat))?;
    Ok(branches
        .into_iter()
        .map(|b| BranchView::new(b, &conversation.active_branch_id))
        .collect())
}

/// Makes `branch_id` — or, without one, `chat_id` itself — the active member of `chat_id`'s
/// conversation tree. One field of the conversation document: there is always exactly one,
/// and other trees, including the caller's other chats, are untouched.
pub async fn set_active_branch(
    store: &Store,
    account_id: &str,
    chat_id: &str,
    branch_id: Option<&str>,
) -> Result<ActiveBranchView, ApiError> {
    let chat = store
        .find_chat(account_id, chat_id)
        .await?
        .ok_or(CHAT_NOT_FOUND)?;
    let target_id = branch_id.unwrap_or(chat_id);
    let outside = || {
        ApiError::invalid(
            "branch_id",
            "must be a chat or branch of the same conversation",
        )
    };
    let root = &chat.root_chat_id;
    let outcome = store
        .transaction(root, |session| async move {
            let mut session = session.lock().await;
            let Some(target) = store
                .find_chat_in(&mut session, account_id, target_id)
                .await?
            else {
                return Ok(Err(None));
            };
            if &target.root_chat_id != root {
                return Ok(Err(None));
            }
            let updated = store
                .update_conversation(
                    &mut session,
                    account_id,
                    root,
                    doc! { "$set": {
                        "active_branch_id": &target.chat_id,
                        "active_length": target.message_count,
                        "preview": &target.last_question,
                        "updated_at": DateTime::now(),
                    } },
                )
                .await?;
            Ok(match updated {
                Some(_) => Ok(target.chat_id),
                None => Err(Some(Refused::NotFound)),
            })
        })
        .await?;
    let active = match outcome {
        Ok(active) => active,
        Err(None) if branch_id.is_some() => return Err(outside()),
        Err(_) => return Err(CHAT_NOT_FOUND),
    };
    Ok(ActiveBranchView {
        message: "Active branch set successfully.".into(),
        chat_id: chat.chat_id,
        active_branch_id: active,
    })
}
