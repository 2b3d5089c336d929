//! Chats and conversations: creating, reading a page of history, listing, renaming, archiving,
//! pinning, and the trash (delete, restore, purge). A branch is a chat with a parent:
//! everything that reads a chat reads a branch.

use mongodb::bson::{DateTime, Document, RawArrayBuf, Timestamp, doc};
use mongodb::error::ErrorKind;
use serde::{Deserialize, Serialize};

use crate::cursor;
use crate::error::ApiError;
use crate::idempotency::Idempotency;
use crate::requests::ChatUpdate;
use crate::store::{Chat, Conversation, Inserted, ListPosition, Segment, Store, TrashPosition};
use crate::tags::Tagger;
use crate::text;
use crate::time::rfc3339;
use crate::tree;
use crate::views::{BranchView, ChatView, ConversationView, MessageView, Page, UpdatedView};

pub const MAX_NAME_CHARS: usize = 200;

pub const CHAT_NOT_FOUND: ApiError = ApiError::NotFound("Chat not found");

/// get-chat's page size when not given (at most 1000, see `requests::ChatPageQuery`).
pub const DEFAULT_PAGE: i64 = 100;
/// Lambda refuses responses over 6 MB; a page stops short of that whatever its text (JSON
/// escaping can make a message six times its stored size).
pub const MAX_PAGE_BYTES: usize = 5 * 1024 * 1024;

/// List pages' size when not given (at most 100).
pub const DEFAULT_LIST: i64 = 20;

/// Expired trash purged per request that looks at the trash (bounded work; the oldest first).
const PURGE_PER_REQUEST: i64 = 2;

/// A name is required, shows something (not only white space or invisible characters), holds
/// no control characters but tab and newline, and is at most 200 characters. Stored as given.
pub fn validate_name(name: &str) -> Result<(), ApiError> {
    if text::is_blank(name) {
        return Err(ApiError::invalid("name", "must not be blank"));
    }
    if name.chars().any(text::is_forbidden_in_names) {
        return Err(ApiError::invalid(
            "name",
            "must not contain control characters",
        ));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(ApiError::invalid(
            "name",
            format!("must be at most {MAX_NAME_CHARS} characters"),
        ));
    }
    Ok(())
}

/// What a transaction found instead of doing its write.
pub enum Refused {
    NotFound,
    /// Another request with the same `Idempotency-Key` committed first.
    KeyTaken,
    /// A rule checked again inside the transaction no longer holds.
    Invalid(ApiError),
    /// The account was deleted after the request was authenticated.
    AccountGone,
}

impl Refused {
    pub fn into_error(self) -> ApiError {
        match self {
            Self::NotFound => CHAT_NOT_FOUND,
            // The key's answer exists now; the caller replays it (see handlers).
            Self::KeyTaken => {
                ApiError::Conflict("A request with this Idempotency-Key is in progress")
            }
            Self::Invalid(error) => error,
            Self::AccountGone => ApiError::Unauthorized("Could not validate credentials"),
        }
    }
}

/// Stores an idempotency record in the transaction, or reports the key taken.
pub(crate) async fn keep_answer(
    store: &Store,
    session: &mut mongodb::ClientSession,
    idempotency: Option<&Idempotency>,
    answer: &impl Serialize,
) -> mongodb::error::Result<Result<(), Refused>> {
    let Some(idempotency) = idempotency else {
        return Ok(Ok(()));
    };
    Ok(
        match store
            .insert_idempotency(session, &idempotency.record(answer))
            .await?
        {
            Inserted::Inserted => Ok(()),
            Inserted::Duplicate => Err(Refused::KeyTaken),
        },
    )
}

/// A new conversation: its root chat, active, with no messages.
pub async fn create_chat(
    store: &Store,
    config: &crate::config::Config,
    account_id: &str,
    name: &str,
    idempotency: Option<&Idempotency>,
) -> Result<ChatView, ApiError> {
    validate_name(name)?;
    crate::trees::check_conversations(store, account_id, config).await?;
    let (chat, conversation) = tree::new_root(account_id, name);
    let view = chat_view(
        chat.clone(),
        &conversation.active_branch_id,
        Vec::new(),
        Vec::new(),
        0,
    );
    let (chat, conversation, answer) = (&chat, &conversation, &view);
    store
        .transaction(account_id, |session| async move {
            let mut session = session.lock().await;
            store.insert_chat(&mut session, chat).await?;
            store
                .insert_conversation(&mut session, conversation)
                .await?;
            if !store.hold_account(&mut session, account_id).await? {
                return Ok(Err(Refused::AccountGone));
            }
            keep_answer(store, &mut session, idempotency, answer).await
        })
        .await?
        .map_err(Refused::into_error)?;
    Ok(view)
}

/// A chat or branch with a page of its visible history: the newest `limit` messages before
/// index `before` (default: the end), cut shorter if the answer would pass `MAX_PAGE_BYTES`.
/// Answered with its entity tag, and without the page (`None`) when `known` says the client
/// holds that tag already.
///
/// Revalidating a tag the client `offered` reads the conversation it names and nothing else
/// (see `tags`): every change to the tree moves the conversation's version. Otherwise the
/// chat, its conversation, its branches and the chat's newest own messages are one read; a
/// branch whose page reaches into its inherited prefix reads that in a second. The caller's
/// token has been checked but not its account: a live conversation confirms it (deleting an
/// account trashes them all first), so the account is read only when there is none.
#[allow(clippy::too_many_arguments)]
pub async fn get_chat(
    store: &Store,
    tagger: &Tagger,
    account_id: &str,
    chat_id: &str,
    limit: Option<i64>,
    before: Option<i64>,
    offered: Option<&str>,
    known: impl Fn(&str) -> bool,
) -> Result<(String, Option<ChatView>), ApiError> {
    let limit = limit.unwrap_or(DEFAULT_PAGE);
    if let Some(root) = offered.and_then(crate::tags::root_named)
        && let Some(version) = store.conversation_version(account_id, root).await?
    {
        let etag = tagger.page(chat_id, root, version, before, limit);
        if known(&etag) {
            return Ok((etag, None));
        }
    }
    // The chat and the messages its lineage names are read at one moment: a promotion
    // moves messages and rewrites lineages, and a mix of before and after would be wrong.
    let mut snapshot = store.snapshot().await?;
    let newest = Some((before, limit));
    let read = match store
        .read_chat(&mut snapshot, account_id, chat_id, newest)
        .await
    {
        // Over 16 MB of stored text in the page (which JSON cuts to 5 MB anyway): read the
        // chat alone, and the page with a cursor.
        Err(e) if crate::error::is_too_large(&e) => {
            snapshot = store.snapshot().await?;
            store
                .read_chat(&mut snapshot, account_id, chat_id, None)
                .await?
        }
        read => read?,
    };
    let Some(mut read) = read else {
        return Err(not_found_or_gone(store, account_id).await);
    };
    let newest = std::mem::take(&mut read.newest);
    let (chat, head) = (&read.chat, &read.head);
    let end = match before {
        None => chat.message_count,
        Some(before) if (0..=chat.message_count).contains(&before) => before,
        Some(_) => {
            return Err(ApiError::invalid(
                "before",
                format!("must be between 0 and {} for this chat", chat.message_count),
            ));
        }
    };
    let etag = tagger.page(chat_id, &chat.root_chat_id, head.version, before, limit);
    if known(&etag) {
        return Ok((etag, None));
    }
    let pieces = tree::pieces(chat, (end - limit).max(0), end);
    let messages =
        page_messages(store, &mut snapshot, account_id, chat_id, pieces, &newest).await?;
    let active = head.active_branch_id.clone();
    let view = page_view(read.chat, &active, messages, read.branches, end);
    Ok((etag, Some(view)))
}

/// The messages at `pieces`, in order: the chat's own part from `newest` (the first read's
/// newest own messages) when they cover it, as they do for a root chat or a branch with a
/// page of its own, and the rest (a branch's inherited prefix) read in `snapshot`.
async fn page_messages(
    store: &Store,
    snapshot: &mut mongodb::ClientSession,
    account_id: &str,
    chat_id: &str,
    mut pieces: Vec<(Segment, i64)>,
    newest: &RawArrayBuf,
) -> Result<Vec<MessageView>, ApiError> {
    let mut own = Vec::new();
    if let Some((segment, from)) = pieces.last()
        && segment.chat_id == chat_id
    {
        let range = *from..=segment.upto;
        for message in newest
            .into_iter()
            .map(|m| m.and_then(MessageView::from_raw))
        {
            let view = message.map_err(|e| mongodb::error::Error::from(ErrorKind::from(e)))?;
            if range.contains(&view.index) {
                own.push(view);
            }
        }
        own.reverse();
        // Positions are unique in a chat, so as many as the range holds means all of them.
        if own.len() as i64 == segment.upto - from + 1 {
            pieces.pop();
        } else {
            own.clear();
        }
    }
    let inherited = store.messages_in_at(snapshot, account_id, &pieces).await?;
    let mut messages: Vec<MessageView> = inherited.into_iter().map(MessageView::from).collect();
    messages.extend(own);
    Ok(messages)
}

/// A valid token whose account was deleted since it was issued.
const ACCOUNT_GONE: ApiError = ApiError::Unauthorized("Could not validate credentials");

/// The error for a chat whose live conversation was not found, for a caller known only by
/// token. A live conversation vouches for its account (delete-account trashes them all before
/// it removes the account), which spares get-chat and add-message the account read; without
/// one, the answer depends on whether the account is gone.
pub(crate) async fn not_found_or_gone(store: &Store, account_id: &str) -> ApiError {
    match store.account_exists(account_id).await {
        Ok(true) => CHAT_NOT_FOUND,
        Ok(false) => ACCOUNT_GONE,
        Err(error) => error,
    }
}

/// The view of `chat` with the page `messages` (the newest ones before index `end`), cut to
/// what fits in `MAX_PAGE_BYTES`.
pub(crate) fn page_view(
    chat: Chat,
    active_branch_id: &str,
    messages: Vec<MessageView>,
    branches: Vec<Chat>,
    end: i64,
) -> ChatView {
    let mut view = chat_view(chat, active_branch_id, Vec::new(), branches, 0);
    view.messages = fit(messages, MAX_PAGE_BYTES.saturating_sub(encoded_len(&view)));
    let first = view.messages.first().map_or(end, |m| m.index);
    view.has_more = first > 0;
    view.next_before = view.has_more.then_some(first);
    view
}

/// The newest messages of `messages` whose JSON fits in `budget` bytes.
fn fit(mut messages: Vec<MessageView>, budget: usize) -> Vec<MessageView> {
    // Nearly always all of them, which a bound shows without encoding anything.
    let bound: usize = messages.iter().map(|m| max_encoded_len(m) + 1).sum();
    if bound <= budget {
        return messages;
    }
    let mut used = 0;
    let mut keep = messages.len();
    for message in messages.iter().rev() {
        let size = encoded_len(message) + 1;
        if used + size > budget {
            break;
        }
        used += size;
        keep -= 1;
    }
    messages.split_off(keep)
}

fn encoded_len(value: &impl Serialize) -> usize {
    let mut counter = ByteCount(0);
    serde_json::to_writer(&mut counter, value).map_or(0, |()| counter.0)
}

/// A bound on a message's JSON size: escaping turns a byte into six at most (`\u001f`), and
/// the field names, index and quotes take well under 128 bytes.
fn max_encoded_len(m: &MessageView) -> usize {
    6 * (m.question.len() + m.response.len() + m.response_id.len() + m.timestamp.len()) + 128
}

/// Counts what is written, storing nothing.
struct ByteCount(usize);

impl std::io::Write for ByteCount {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0 += bytes.len();
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub(crate) fn chat_view(
    chat: Chat,
    active_branch_id: &str,
    messages: Vec<MessageView>,
    branches: Vec<Chat>,
    first_index: i64,
) -> ChatView {
    ChatView {
        id: chat.id.to_hex(),
        active: chat.chat_id == active_branch_id,
        branches: branches
            .into_iter()
            .map(|b| BranchView::new(b, active_branch_id))
            .collect(),
        active_branch_id: active_branch_id.to_owned(),
        message_count: chat.message_count,
        has_more: first_index > 0,
        next_before: (first_index > 0).then_some(first_index),
        messages,
        chat_id: chat.chat_id,
        account_id: chat.account_id,
        name: chat.name,
        created_at: rfc3339(chat.created_at),
        root_chat_id: chat.root_chat_id,
        parent_chat_id: chat.parent_chat_id,
        created_from_message_index: chat.created_from_message_index,
    }
}

/// Filters of list-chats.
pub struct ListFilter {
    /// Archived conversations only (`true`) or unarchived only (`false`, the default).
    pub archived: bool,
    /// Pinned only, unpinned only, or both.
    pub pinned: Option<bool>,
}

/// Where list-chats stopped, and as of which snapshot of the database.
#[derive(Serialize, Deserialize)]
struct ListCursor {
    /// The snapshot's cluster time (seconds, increment).
    at: Option<(u32, u32)>,
    /// The filters it belongs to.
    archived: bool,
    pinned: Option<bool>,
    after: ListPosition,
}

/// The caller's conversations, pinned first, then most recent activity first. Pages after
/// the first read the database as of the first page, so that while other writes move items
/// around, paging neither skips nor repeats one (within MongoDB's snapshot window, five
/// minutes by default; later pages read live data from the same position).
pub async fn list_chats(
    store: &Store,
    account_id: &str,
    filter: ListFilter,
    limit: Option<i64>,
    cursor: Option<&str>,
) -> Result<Page<ConversationView>, ApiError> {
    let limit = limit.unwrap_or(DEFAULT_LIST);
    let cursor: Option<ListCursor> = cursor.map(cursor::decode).transpose()?;
    if let Some(c) = &cursor
        && (c.archived, c.pinned) != (filter.archived, filter.pinned)
    {
        return Err(ApiError::invalid(
            "cursor",
            "belongs to a list with other filters",
        ));
    }
    let mut query = doc! { "archived": filter.archived };
    if let Some(pinned) = filter.pinned {
        query.insert("pinned", pinned);
    }
    let at = cursor
        .as_ref()
        .and_then(|c| c.at)
        .map(|(time, increment)| Timestamp { time, increment });
    let listed = store
        .list_conversations(
            account_id,
            query,
            cursor.as_ref().map(|c| &c.after),
            limit + 1,
            at,
        )
        .await?;
    purge_expired(store, None, PURGE_PER_REQUEST).await?;
    let mut items = listed.conversations;
    let next = (items.len() as i64 > limit).then(|| {
        items.truncate(limit as usize);
        let last = items.last().expect("a full page");
        cursor::encode(&ListCursor {
            at: listed.at.map(|t| (t.time, t.increment)),
            archived: filter.archived,
            pinned: filter.pinned,
            after: ListPosition {
                pinned: last.pinned,
                updated_at: last.updated_at,
                id: last.root_chat_id.clone(),
            },
        })
    });
    Ok(Page {
        items: items.into_iter().map(ConversationView::from).collect(),
        next_cursor: next,
    })
}

/// The caller's trash, most recently deleted first. Expired conversations are purged first.
pub async fn list_deleted(
    store: &Store,
    account_id: &str,
    limit: Option<i64>,
    cursor: Option<&str>,
) -> Result<Page<ConversationView>, ApiError> {
    let limit = limit.unwrap_or(DEFAULT_LIST);
    let after: Option<TrashPosition> = cursor.map(cursor::decode).transpose()?;
    purge_expired(store, Some(account_id), PURGE_PER_REQUEST).await?;
    purge_expired(store, None, PURGE_PER_REQUEST).await?;
    let mut items = store
        .list_trash(account_id, after.as_ref(), limit + 1)
        .await?;
    let next = (items.len() as i64 > limit).then(|| {
        items.truncate(limit as usize);
        let last = items.last().expect("a full page");
        cursor::encode(&TrashPosition {
            deleted_at: last.deleted_at.unwrap_or(DateTime::MIN),
            id: last.root_chat_id.clone(),
        })
    });
    Ok(Page {
        items: items.into_iter().map(ConversationView::from).collect(),
        next_cursor: next,
    })
}

/// Renames a chat or branch, and archives or pins a conversation (a root chat id only).
pub async fn update_chat(
    store: &Store,
    account_id: &str,
    chat_id: &str,
    update: &ChatUpdate,
) -> Result<UpdatedView, ApiError> {
    if update == &ChatUpdate::default() {
        return Err(ApiError::invalid(
            "body",
            "give at least one of name, archived, pinned",
        ));
    }
    if let Some(name) = &update.name {
        validate_name(name)?;
    }
    let chat = store
        .find_chat(account_id, chat_id)
        .await?
        .ok_or(CHAT_NOT_FOUND)?;
    if !chat.is_root() {
        for (field, given) in [
            ("archived", update.archived.is_some()),
            ("pinned", update.pinned.is_some()),
        ] {
            if given {
                return Err(ApiError::invalid(
                    field,
                    "applies to a whole conversation: use its root chat_id",
                ));
            }
        }
    }
    let mut set = Document::new();
    if let Some(name) = &update.name {
        // A rename is activity: the conversation moves up the list.
        set.insert("updated_at", DateTime::now());
        if chat.is_root() {
            set.insert("title", name);
        }
    }
    if let Some(archived) = update.archived {
        set.insert("archived", archived);
    }
    if let Some(pinned) = update.pinned {
        set.insert("pinned", pinned);
    }
    let name = update.name.clone().unwrap_or_else(|| chat.name.clone());
    let (root, set) = (&chat.root_chat_id, &set);
    let conversation = store
        .transaction(root, |session| async move {
            let mut session = session.lock().await;
            if let Some(name) = &update.name {
                store
                    .rename_chat(&mut session, account_id, chat_id, name)
                    .await?;
            }
            let updated = store
                .update_conversation(&mut session, account_id, root, doc! { "$set": set.clone() })
                .await?;
            Ok(updated.ok_or(Refused::NotFound))
        })
        .await?
        .map_err(Refused::into_error)?;
    Ok(UpdatedView {
        chat_id: chat.chat_id,
        name,
        conversation: conversation.into(),
    })
}

/// Moves a whole conversation to the trash: from now on every member answers 404, and no
/// list or search shows it, until it is restored or, `retention` later, purged.
pub async fn delete_chat(
    store: &Store,
    account_id: &str,
    chat_id: &str,
    retention: std::time::Duration,
) -> Result<ConversationView, ApiError> {
    let chat = store
        .find_chat(account_id, chat_id)
        .await?
        .ok_or(CHAT_NOT_FOUND)?;
    if !chat.is_root() {
        return Err(ApiError::invalid(
            "chat_id",
            "is a branch: delete-chat takes a conversation's root chat_id",
        ));
    }
    let now = DateTime::now();
    let purge_at = now.saturating_add_duration(retention);
    let root = &chat.root_chat_id;
    let deleted = store
        .transaction(root, |session| async move {
            let mut session = session.lock().await;
            let Some(conversation) = store
                .set_trash(&mut session, account_id, root, Some((now, purge_at)))
                .await?
            else {
                return Ok(Err(Refused::NotFound));
            };
            store
                .mark_tree(&mut session, account_id, root, Some(now))
                .await?;
            Ok(Ok(conversation))
        })
        .await?
        .map_err(Refused::into_error)?;
    purge_expired(store, None, PURGE_PER_REQUEST).await?;
    Ok(deleted.into())
}

/// Brings a conversation back from the trash, intact, while it is not yet purged.
pub async fn restore_chat(
    store: &Store,
    account_id: &str,
    chat_id: &str,
) -> Result<ConversationView, ApiError> {
    let restored = store
        .transaction(account_id, |session| async move {
            let mut session = session.lock().await;
            let Some(conversation) = store
                .set_trash(&mut session, account_id, chat_id, None)
                .await?
            else {
                return Ok(Err(Refused::NotFound));
            };
            store
                .mark_tree(&mut session, account_id, chat_id, None)
                .await?;
            if !store.hold_account(&mut session, account_id).await? {
                return Ok(Err(Refused::AccountGone));
            }
            Ok(Ok(conversation))
        })
        .await?
        .map_err(Refused::into_error)?;
    Ok(restored.into())
}

/// Purges up to `limit` conversations whose time in the trash is over — of any account, or of
/// `account_id` only — with every chat and message: messages first, then chats, then the
/// conversation document, so that an interrupted purge is found and finished by the next one.
/// Returns how many were purged.
pub async fn purge_expired(
    store: &Store,
    account_id: Option<&str>,
    limit: i64,
) -> Result<usize, ApiError> {
    let due = store.due_for_purge(account_id, limit).await?;
    for conversation in &due {
        let (account, root) = (&conversation.account_id, &conversation.root_chat_id);
        let members = store.tree_members(account, &[root]).await?;
        let ids: Vec<&str> = members.iter().map(|m| m.chat_id.as_str()).collect();
        store.delete_messages_of(account, &ids).await?;
        store.delete_tree_chats(account, root).await?;
        store.delete_expired_conversation(account, root).await?;
    }
    // Deleted branches whose time is over go the same way: their own messages, then them.
    // (Only the deleted branches below them inherit from them, and those went with them.)
    let branches = store.branches_due_for_purge(limit).await?;
    for branch in &branches {
        store
            .delete_messages_of(&branch.account_id, &[&branch.chat_id])
            .await?;
        store
            .delete_chat_document(&branch.account_id, &branch.chat_id)
            .await?;
    }
    Ok(due.len() + branches.len())
}

/// Finds the conversation of a live chat, for the operations that need the active member.
pub(crate) async fn conversation_of(store: &Store, chat: &Chat) -> Result<Conversation, ApiError> {
    store
        .find_conversation(&chat.account_id, &chat.root_chat_id, false)
        .await?
        .ok_or(CHAT_NOT_FOUND)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_size_bound_holds_for_the_worst_text_and_pages_are_cut_only_past_the_budget() {
        let message = |text: &str| MessageView {
            index: i64::MAX,
            question: text.to_owned(),
            response: text.to_owned(),
            response_id: uuid::Uuid::new_v4().to_string(),
            timestamp: "2026-11-25T00:00:00.000Z".to_owned(),
        };
        for text in [
            "",
            "plain",
            &"\u{1f}".repeat(1000),
            &"\"\\".repeat(500),
            &"é".repeat(300),
        ] {
            let m = message(text);
            assert!(encoded_len(&m) <= max_encoded_len(&m), "{text:?}");
        }
        let page: Vec<MessageView> = (0..10).map(|_| message(&"x".repeat(1000))).collect();
        let one = encoded_len(&page[0]) + 1;
        assert_eq!(fit(page.clone(), usize::MAX).len(), 10);
        assert_eq!(
            fit(page.clone(), one * 3 + 1).len(),
            3,
            "the newest that fit"
        );
        assert_eq!(fit(page, 0).len(), 0);
    }

    #[test]
    fn names_must_be_present_visible_and_short() {
        assert!(validate_name("Trip to Lisbon").is_ok());
        assert!(validate_name("two\tcolumns\nand lines").is_ok());
        assert!(validate_name(&"é".repeat(MAX_NAME_CHARS)).is_ok());
        for bad in [
            "",
            "   ",
            "\n\t",
            "\u{200B}\u{2800}",
            "\u{3164}",
            "a\u{0}b",
            "bell\u{7}",
            &"x".repeat(MAX_NAME_CHARS + 1),
        ] {
            let error = validate_name(bad).unwrap_err();
            assert_eq!(error.status(), 422);
            assert!(error.to_string().starts_with("name: "), "{error}");
        }
    }

    fn message(index: i64, text: &str) -> MessageView {
        MessageView {
            index,
            question: text.into(),
            response: String::new(),
            response_id: "r".into(),
            timestamp: "t".into(),
        }
    }

    #[test]
    fn a_page_keeps_the_newest_messages_that_fit() {
        let messages: Vec<_> = (0..10).map(|i| message(i, &"x".repeat(100))).collect();
        let one = encoded_len(&messages[0]) + 1;
        assert_eq!(fit(messages.clone(), usize::MAX).len(), 10);
        let kept = fit(messages.clone(), one * 3 + 5);
        assert_eq!(kept.iter().map(|m| m.index).collect::<Vec<_>>(), [7, 8, 9]);
        assert!(fit(messages, one - 1).is_empty());
        // Escaping counts: a control character takes six bytes of JSON.
        let escaped = vec![message(0, &"\u{1}".repeat(100))];
        assert!(fit(escaped.clone(), 300).is_empty());
        assert_eq!(fit(escaped, 700).len(), 1);
    }
}
