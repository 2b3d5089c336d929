//! Operations on a whole conversation tree: see it, compare two members, edit or regenerate a
//! message as a new branch, delete a branch (or everything off one path) and undo it, promote
//! a branch to the main line, fork a conversation. The rules are in `tree`; this module reads,
//! decides and writes, each change in one transaction.

use std::time::Duration;

use mongodb::bson::oid::ObjectId;
use mongodb::bson::{DateTime, doc};
use serde::{Deserialize, Serialize};

use crate::chats::{self, CHAT_NOT_FOUND, Refused, keep_answer, validate_name};
use crate::config::Config;
use crate::cursor;
use crate::error::ApiError;
use crate::idempotency::Idempotency;
use crate::messages::{preview, validate_message};
use crate::store::{Chat, Conversation, Message, Store};
use crate::time::rfc3339;
use crate::tree;
use crate::views::{
    BranchDeletionView, ChatView, ComparisonView, MemberView, MessageView, PromotionView, SideView,
    TreeView,
};

/// Members per page of get-tree when not asked for fewer.
pub const DEFAULT_TREE_PAGE: i64 = 1000;

/// A 422 before anything is written when the tree would pass its member quota.
pub(crate) fn check_members(
    conversation: &Conversation,
    adding: i64,
    config: &Config,
    field: &'static str,
) -> Result<(), ApiError> {
    if conversation.branch_count + 1 + adding > config.max_members {
        return Err(ApiError::invalid(
            field,
            format!(
                "the conversation would pass {} members, the most allowed",
                config.max_members
            ),
        ));
    }
    Ok(())
}

/// A 422 when a branch would combine more stored pieces than allowed in one read.
pub(crate) fn check_depth(
    branch: &Chat,
    config: &Config,
    field: &'static str,
) -> Result<(), ApiError> {
    if branch.lineage.len() as i64 > config.max_depth {
        return Err(ApiError::invalid(
            field,
            format!(
                "a branch here would nest {} levels deep, past the limit of {}",
                branch.lineage.len(),
                config.max_depth
            ),
        ));
    }
    Ok(())
}

/// A 422 when the account already holds its most conversations.
pub(crate) async fn check_conversations(
    store: &Store,
    account_id: &str,
    config: &Config,
) -> Result<(), ApiError> {
    if store
        .count_conversations(account_id, config.max_conversations)
        .await?
        >= config.max_conversations
    {
        return Err(ApiError::invalid(
            "account",
            format!(
                "holds {} conversations, the most allowed: delete some first",
                config.max_conversations
            ),
        ));
    }
    Ok(())
}

/// The live members of `chat`'s tree and its conversation.
async fn tree_of(store: &Store, chat: &Chat) -> Result<(Vec<Chat>, Conversation), ApiError> {
    let roots = [chat.root_chat_id.as_str()];
    let (members, conversation) = tokio::try_join!(
        store.tree_members(&chat.account_id, &roots),
        chats::conversation_of(store, chat),
    )?;
    let live = members
        .into_iter()
        .filter(|m| m.deleted_at.is_none())
        .collect();
    Ok((live, conversation))
}

#[derive(Serialize, Deserialize)]
struct TreeCursor {
    offset: usize,
}

/// The whole tree of any member: every live member in drawing order (paged past `limit`),
/// the active member and the path to it. One indexed query for the members.
pub async fn get_tree(
    store: &Store,
    account_id: &str,
    chat_id: &str,
    limit: Option<i64>,
    cursor: Option<&str>,
) -> Result<TreeView, ApiError> {
    let chat = find(store, account_id, chat_id).await?;
    let (members, conversation) = tree_of(store, &chat).await?;
    let offset = cursor
        .map(cursor::decode::<TreeCursor>)
        .transpose()?
        .map_or(0, |c| c.offset);
    let limit = limit.unwrap_or(DEFAULT_TREE_PAGE) as usize;
    let order = tree::drawing_order(&members);
    let active = &conversation.active_branch_id;
    let page: Vec<MemberView> = order
        .iter()
        .skip(offset)
        .take(limit)
        .map(|m| MemberView {
            chat_id: m.chat_id.clone(),
            name: m.name.clone(),
            parent_chat_id: m.parent_chat_id.clone(),
            created_from_message_index: m.created_from_message_index,
            own_message_count: m.message_count - m.created_from_message_index.map_or(0, |i| i + 1),
            message_count: m.message_count,
            created_at: rfc3339(m.created_at),
            active: &m.chat_id == active,
        })
        .collect();
    let next = offset + page.len();
    Ok(TreeView {
        root_chat_id: chat.root_chat_id.clone(),
        active_branch_id: active.clone(),
        active_path: tree::path_to(&members, active)
            .iter()
            .map(|m| m.chat_id.clone())
            .collect(),
        member_count: order.len() as i64,
        members: page,
        next_cursor: (next < order.len()).then(|| cursor::encode(&TreeCursor { offset: next })),
        pinned: conversation.pinned,
        archived: conversation.archived,
    })
}

async fn find(store: &Store, account_id: &str, chat_id: &str) -> Result<Chat, ApiError> {
    store
        .find_chat(account_id, chat_id)
        .await?
        .ok_or(CHAT_NOT_FOUND)
}

/// Any two members of one tree, from the index where they diverge: each side's messages from
/// there (or from `from`, for later pages), `limit` at a time.
pub async fn compare(
    store: &Store,
    account_id: &str,
    a: &str,
    b: &str,
    limit: Option<i64>,
    from: Option<i64>,
) -> Result<ComparisonView, ApiError> {
    // Both members and their messages at one moment (see `chats::get_chat`).
    let mut snapshot = store.snapshot().await?;
    let (Some(a), Some(b)) = (
        store.find_chat_in(&mut snapshot, account_id, a).await?,
        store.find_chat_in(&mut snapshot, account_id, b).await?,
    ) else {
        return Err(CHAT_NOT_FOUND);
    };
    if a.root_chat_id != b.root_chat_id {
        return Err(ApiError::invalid(
            "b",
            "must be a member of a's conversation",
        ));
    }
    let divergence = tree::common_prefix(&a, &b);
    let start = from.unwrap_or(divergence).max(divergence);
    let limit = limit.unwrap_or(chats::DEFAULT_PAGE);
    let a_side = side(store, &mut snapshot, a, start, limit).await?;
    let b_side = side(store, &mut snapshot, b, start, limit).await?;
    Ok(ComparisonView {
        divergence_index: divergence,
        a: a_side,
        b: b_side,
    })
}

async fn side(
    store: &Store,
    snapshot: &mut mongodb::ClientSession,
    chat: Chat,
    start: i64,
    limit: i64,
) -> Result<SideView, ApiError> {
    let start = start.min(chat.message_count);
    let end = start.saturating_add(limit).min(chat.message_count);
    let pieces = tree::pieces(&chat, start, end);
    let messages = store
        .messages_in_at(snapshot, &chat.account_id, &pieces)
        .await?;
    let has_more = end < chat.message_count;
    Ok(SideView {
        chat_id: chat.chat_id,
        name: chat.name,
        message_count: chat.message_count,
        messages: messages.into_iter().map(MessageView::from).collect(),
        has_more,
        next_from: has_more.then_some(end),
    })
}

/// "Edit and resend" (`question` given) or "regenerate" (`question` None: the original's): a
/// new branch cut just before message `message_index`, holding the new pair, made the active
/// member, answered with its view. Editing message 0 makes a branch with no inherited prefix.
#[allow(clippy::too_many_arguments)]
pub async fn edit_message(
    store: &Store,
    config: &Config,
    account_id: &str,
    chat_id: &str,
    message_index: i64,
    question: Option<&str>,
    response: &str,
    idempotency: Option<&Idempotency>,
) -> Result<ChatView, ApiError> {
    let chat = find(store, account_id, chat_id).await?;
    if !(0..chat.message_count).contains(&message_index) {
        return Err(edit_index_rule(chat.message_count));
    }
    if let Some(question) = question {
        validate_message(question, response)?;
    }
    let conversation = chats::conversation_of(store, &chat).await?;
    check_members(&conversation, 1, config, "chat_id")?;
    let (branch_id, object_id) = (uuid::Uuid::new_v4().to_string(), ObjectId::new());
    let response_id = uuid::Uuid::new_v4().to_string();
    let root = chat.root_chat_id.as_str();
    let (branch_id, response_id) = (&branch_id, &response_id);
    store
        .transaction(root, |session| async move {
            let mut session = session.lock().await;
            // Everything from the chat as this transaction sees it (a promotion may have
            // moved what it inherits since the first read).
            let Some(chat) = store
                .find_chat_in(&mut session, account_id, chat_id)
                .await?
            else {
                return Ok(Err(Refused::NotFound));
            };
            if message_index >= chat.message_count {
                return Ok(Err(Refused::Invalid(edit_index_rule(chat.message_count))));
            }
            // The answer shows the default page ending in the new pair.
            let start = (message_index + 1 - chats::DEFAULT_PAGE).max(0);
            let pieces = tree::pieces(&chat, start, message_index + 1);
            let mut page = store
                .messages_in_at(&mut session, account_id, &pieces)
                .await?;
            let Some(original) = page.pop() else {
                return Ok(Err(Refused::NotFound));
            };
            let question = question.unwrap_or(&original.question);
            if let Err(error) = validate_message(question, response) {
                return Ok(Err(Refused::Invalid(error)));
            }
            let kind = if question == original.question {
                "Regenerated"
            } else {
                "Edited"
            };
            let mut branch = tree::edit_branch(
                &chat,
                message_index,
                &format!("{kind} at message {message_index}"),
            );
            branch.chat_id = branch_id.clone();
            branch.id = object_id;
            branch.message_count = message_index + 1;
            branch.last_question = Some(preview(question));
            if let Err(error) = check_depth(&branch, config, "chat_id") {
                return Ok(Err(Refused::Invalid(error)));
            }
            let message = Message {
                id: ObjectId::new(),
                chat_id: branch.chat_id.clone(),
                account_id: account_id.to_owned(),
                position: message_index,
                question: question.to_owned(),
                response: response.to_owned(),
                response_id: response_id.clone(),
                timestamp: DateTime::now(),
            };
            store.insert_chat(&mut session, &branch).await?;
            store.insert_message(&mut session, &message).await?;
            let touched = store
                .update_conversation(
                    &mut session,
                    account_id,
                    root,
                    doc! {
                        "$inc": { "branch_count": 1 },
                        "$set": {
                            "active_branch_id": &branch.chat_id,
                            "active_length": branch.message_count,
                            "preview": &branch.last_question,
                            "updated_at": message.timestamp,
                        },
                    },
                )
                .await?;
            if touched.is_none() {
                return Ok(Err(Refused::NotFound));
            }
            let mut page: Vec<MessageView> = page.into_iter().map(MessageView::from).collect();
            page.push(MessageView::from(message));
            let view = chats::page_view(
                branch.clone(),
                &branch.chat_id,
                page,
                Vec::new(),
                message_index + 1,
            );
            Ok(keep_answer(store, &mut session, idempotency, &view)
                .await?
                .map(|()| view))
        })
        .await?
        .map_err(Refused::into_error)
}

fn edit_index_rule(len: i64) -> ApiError {
    ApiError::invalid(
        "message_index",
        match len {
            0 => "the chat has no messages to edit".to_owned(),
            n => format!("must be between 0 and {} for this chat", n - 1),
        },
    )
}

/// Deletes `branch_id` and every branch below it (those cut inside its inherited prefix too):
/// soft, like delete-chat, and undone as one by `restore_branch` until purged. Every other
/// member reads what it read before; if the active member was inside, the deleted branch's
/// parent becomes active.
pub async fn delete_branch(
    store: &Store,
    account_id: &str,
    branch_id: &str,
    retention: Duration,
) -> Result<BranchDeletionView, ApiError> {
    let chat = find(store, account_id, branch_id).await?;
    if chat.is_root() {
        return Err(ApiError::invalid(
            "branch_id",
            "is a conversation's root: delete it with delete-chat",
        ));
    }
    let parent = chat.parent_chat_id.clone().unwrap_or_default();
    remove(store, &chat, retention, &parent, |live| {
        tree::subtree(live, branch_id)
            .into_iter()
            .map(|m| m.chat_id.clone())
            .collect()
    })
    .await
}

/// Keeps only the path from the root to `chat_id` and moves every other member of the tree to
/// the trash, as one deletion (`restore_branch` with any of them undoes it all).
pub async fn prune_branches(
    store: &Store,
    account_id: &str,
    chat_id: &str,
    retention: Duration,
) -> Result<BranchDeletionView, ApiError> {
    let chat = find(store, account_id, chat_id).await?;
    remove(store, &chat, retention, chat_id, |live| {
        let keep: Vec<&str> = tree::path_to(live, chat_id)
            .iter()
            .map(|m| m.chat_id.as_str())
            .collect();
        live.iter()
            .filter(|m| !keep.contains(&m.chat_id.as_str()))
            .map(|m| m.chat_id.clone())
            .collect()
    })
    .await
}

/// Moves the members `choose` picks (from the live ones) to the trash as one deletion; if the
/// active member is among them, `fallback` becomes active.
async fn remove(
    store: &Store,
    chat: &Chat,
    retention: Duration,
    fallback: &str,
    choose: impl Fn(&[Chat]) -> Vec<String>,
) -> Result<BranchDeletionView, ApiError> {
    let account_id = chat.account_id.as_str();
    let root = chat.root_chat_id.as_str();
    let now = DateTime::now();
    let purge_at = now.saturating_add_duration(retention);
    let deletion = uuid::Uuid::new_v4().to_string();
    let (deletion, choose) = (&deletion, &choose);
    let (removed, active) = store
        .transaction(root, |session| async move {
            let mut session = session.lock().await;
            let members = store
                .tree_members_in(&mut session, account_id, root)
                .await?;
            let live: Vec<Chat> = members
                .into_iter()
                .filter(|m| m.deleted_at.is_none())
                .collect();
            let removed = choose(&live);
            let Some(conversation) = store
                .find_conversation_in(&mut session, account_id, root)
                .await?
            else {
                return Ok(Err(Refused::NotFound));
            };
            let ids: Vec<&str> = removed.iter().map(String::as_str).collect();
            store
                .mark_deleted(&mut session, account_id, &ids, deletion, now, purge_at)
                .await?;
            let mut set = doc! { "updated_at": now };
            let mut active = conversation.active_branch_id.clone();
            if removed.contains(&active) {
                let Some(next) = live.iter().find(|m| m.chat_id == fallback) else {
                    return Ok(Err(Refused::NotFound));
                };
                store
                    .note_active_fallback(&mut session, account_id, &active, fallback)
                    .await?;
                active = next.chat_id.clone();
                set.insert("active_branch_id", &next.chat_id);
                set.insert("active_length", next.message_count);
                set.insert("preview", &next.last_question);
            }
            let updated = store
                .update_conversation(
                    &mut session,
                    account_id,
                    root,
                    doc! { "$inc": { "branch_count": -(removed.len() as i64) }, "$set": set },
                )
                .await?;
            Ok(match updated {
                Some(_) => Ok((removed, active)),
                None => Err(Refused::NotFound),
            })
        })
        .await?
        .map_err(Refused::into_error)?;
    Ok(BranchDeletionView {
        message: format!("{} member(s) moved to the trash.", removed.len()),
        chat_ids: removed,
        active_branch_id: active,
        purge_at: Some(rfc3339(purge_at)),
    })
}

/// Undoes the branch deletion `branch_id` was part of, while it is not yet purged and its
/// branches still have somewhere to hang from.
pub async fn restore_branch(
    store: &Store,
    config: &Config,
    account_id: &str,
    branch_id: &str,
) -> Result<BranchDeletionView, ApiError> {
    let chat = store
        .find_any_chat(account_id, branch_id)
        .await?
        .filter(|c| c.purge_at.is_some_and(|at| at > DateTime::now()))
        .ok_or(CHAT_NOT_FOUND)?;
    let deletion = chat.deleted_with.clone().ok_or(CHAT_NOT_FOUND)?;
    let members = store
        .tree_members(account_id, &[&chat.root_chat_id])
        .await?;
    let conversation = chats::conversation_of(store, &chat).await?;
    let restored: Vec<&Chat> = members
        .iter()
        .filter(|m| m.deleted_with.as_deref() == Some(deletion.as_str()))
        .collect();
    let orphaned = restored.iter().any(|m| {
        let parent = m.parent_chat_id.as_deref();
        !restored.iter().any(|r| Some(r.chat_id.as_str()) == parent)
            && !members
                .iter()
                .any(|p| Some(p.chat_id.as_str()) == parent && p.deleted_at.is_none())
    });
    if orphaned {
        return Err(ApiError::invalid(
            "branch_id",
            "hangs from a branch that is deleted too: restore that one first",
        ));
    }
    check_members(&conversation, restored.len() as i64, config, "branch_id")?;
    let root = chat.root_chat_id.as_str();
    let deletion_ref = &deletion;
    // The member that was active when this deletion took it away, and who took over.
    let was_active = restored
        .iter()
        .find_map(|m| Some((*m, m.active_fallback.as_deref()?)));
    let (count, active) = store
        .transaction(root, |session| async move {
            let mut session = session.lock().await;
            let Some(conversation) = store
                .find_conversation_in(&mut session, account_id, root)
                .await?
            else {
                return Ok(Err(Refused::NotFound));
            };
            let count = store
                .unmark_deleted(&mut session, account_id, deletion_ref)
                .await?;
            let mut set = doc! { "updated_at": DateTime::now() };
            let mut active = conversation.active_branch_id;
            // An undo: active again, unless someone chose another member since.
            if let Some((member, fallback)) = was_active
                && active == fallback
            {
                active = member.chat_id.clone();
                set.insert("active_branch_id", &member.chat_id);
                set.insert("active_length", member.message_count);
                set.insert("preview", &member.last_question);
            }
            let updated = store
                .update_conversation(
                    &mut session,
                    account_id,
                    root,
                    doc! { "$inc": { "branch_count": count as i64 }, "$set": set },
                )
                .await?;
            Ok(updated.map(|_| (count, active)).ok_or(Refused::NotFound))
        })
        .await?
        .map_err(Refused::into_error)?;
    Ok(BranchDeletionView {
        message: format!("{count} member(s) restored."),
        chat_ids: restored.iter().map(|m| m.chat_id.clone()).collect(),
        active_branch_id: active,
        purge_at: None,
    })
}

/// Makes `branch_id`'s history the conversation's main line (see `tree::promote`): get-chat of
/// the root now shows it, the old main line from the cut onward lives on as a new branch named
/// after it, and every other member reads what it read before. If the root was active, it
/// stays active, now showing the promoted history.
pub async fn promote_branch(
    store: &Store,
    config: &Config,
    account_id: &str,
    branch_id: &str,
) -> Result<PromotionView, ApiError> {
    let chat = find(store, account_id, branch_id).await?;
    if chat.is_root() {
        return Err(ApiError::invalid("branch_id", "is already the main line"));
    }
    let conversation = chats::conversation_of(store, &chat).await?;
    check_members(&conversation, 1, config, "branch_id")?;
    let root = chat.root_chat_id.as_str();
    let outcome = store
        .transaction(root, |session| async move {
            let mut session = session.lock().await;
            let members = store
                .tree_members_in(&mut session, account_id, root)
                .await?;
            let Some(root_chat) = members.iter().find(|m| m.is_root()) else {
                return Ok(Err(Refused::NotFound));
            };
            let name = format!("{} (main line before promoting)", root_chat.name);
            let name: String = name.chars().take(chats::MAX_NAME_CHARS).collect();
            let Some(plan) = tree::promote(&members, branch_id, &name) else {
                return Ok(Err(Refused::NotFound));
            };
            let mut moved = 0;
            for step in &plan.moves {
                store.move_messages(&mut session, account_id, step).await?;
                moved += step.last - step.first + 1;
            }
            store.insert_chat(&mut session, &plan.old_main).await?;
            for member in &plan.changed {
                store.rewrite_chat(&mut session, member).await?;
            }
            let new_root = plan
                .changed
                .iter()
                .find(|c| c.is_root())
                .unwrap_or(root_chat);
            let updated = store
                .update_conversation(
                    &mut session,
                    account_id,
                    root,
                    vec![doc! { "$set": {
                        "branch_count": { "$add": ["$branch_count", 1] },
                        "updated_at": DateTime::now(),
                        "active_length": { "$cond": [
                            { "$eq": ["$active_branch_id", { "$literal": root }] },
                            new_root.message_count,
                            "$active_length",
                        ] },
                        "preview": { "$cond": [
                            { "$eq": ["$active_branch_id", { "$literal": root }] },
                            { "$literal": &new_root.last_question },
                            "$preview",
                        ] },
                    } }],
                )
                .await?;
            Ok(match updated {
                Some(conversation) => Ok((
                    plan.old_main.chat_id.clone(),
                    moved,
                    conversation.active_branch_id,
                )),
                None => Err(Refused::NotFound),
            })
        })
        .await?
        .map_err(Refused::into_error)?;
    let (old_main, moved, active) = outcome;
    Ok(PromotionView {
        message: "Branch promoted to the main line.".into(),
        root_chat_id: chat.root_chat_id.clone(),
        promoted_branch_id: branch_id.to_owned(),
        old_main_branch_id: old_main,
        active_branch_id: active,
        moved_messages: moved,
    })
}

/// A new, independent conversation holding a copy of `chat_id`'s visible history up to
/// `message_index` (all of it without one): the source can change or go without touching it.
pub async fn fork_chat(
    store: &Store,
    config: &Config,
    account_id: &str,
    chat_id: &str,
    message_index: Option<i64>,
    name: &str,
    idempotency: Option<&Idempotency>,
) -> Result<ChatView, ApiError> {
    validate_name(name)?;
    // The source and its history at one moment (see `chats::get_chat`).
    let mut snapshot = store.snapshot().await?;
    let source = store
        .find_chat_in(&mut snapshot, account_id, chat_id)
        .await?
        .ok_or(CHAT_NOT_FOUND)?;
    let end = match message_index {
        None => source.message_count,
        Some(i) if (0..source.message_count).contains(&i) => i + 1,
        Some(_) => {
            return Err(ApiError::invalid(
                "message_index",
                match source.message_count {
                    0 => "the chat has no messages to fork at".to_owned(),
                    n => format!("must be between 0 and {} for this chat", n - 1),
                },
            ));
        }
    };
    let pieces = tree::pieces(&source, 0, end);
    let history = store
        .messages_in_at(&mut snapshot, account_id, &pieces)
        .await?;
    check_conversations(store, account_id, config).await?;
    let (mut root, mut conversation) = tree::new_root(account_id, name);
    let copies: Vec<Message> = history
        .into_iter()
        .map(|m| Message {
            id: ObjectId::new(),
            chat_id: root.chat_id.clone(),
            response_id: uuid::Uuid::new_v4().to_string(),
            ..m
        })
        .collect();
    root.message_count = end;
    root.last_question = copies.last().map(|m| preview(&m.question));
    conversation.active_length = end;
    conversation.preview = root.last_question.clone();
    let new_id = root.chat_id.clone();
    let page_start = copies.len().saturating_sub(chats::DEFAULT_PAGE as usize);
    let page = copies[page_start..]
        .iter()
        .cloned()
        .map(MessageView::from)
        .collect();
    let answer = chats::page_view(root.clone(), &new_id, page, Vec::new(), end);
    let (root_ref, conversation_ref, copies_ref, answer_ref) =
        (&root, &conversation, &copies, &answer);
    store
        .transaction(account_id, |session| async move {
            let mut session = session.lock().await;
            store.insert_chat(&mut session, root_ref).await?;
            store
                .insert_conversation(&mut session, conversation_ref)
                .await?;
            store.insert_messages(&mut session, copies_ref).await?;
            if !store.hold_account(&mut session, account_id).await? {
                return Ok(Err(Refused::AccountGone));
            }
            keep_answer(store, &mut session, idempotency, answer_ref).await
        })
        .await?
        .map_err(Refused::into_error)?;
    Ok(answer)
}
