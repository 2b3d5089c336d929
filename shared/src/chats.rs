//! Chats, branches and messages as the API shows them, and the rules for creating, adding,
//! branching and switching branches. A branch is a chat with a parent: everything that works on
//! a chat works on a branch.

use serde::Serialize;

use crate::error::ApiError;
use crate::store::{Chat, Message, Store};
use crate::text;
use crate::time::rfc3339;

pub const MAX_NAME_CHARS: usize = 200;
/// Per field, in UTF-8 bytes: a long answer from a model fits, a novel does not.
pub const MAX_TEXT_BYTES: usize = 64 * 1024;

const CHAT_NOT_FOUND: ApiError = ApiError::NotFound("Chat not found");

#[derive(Debug, Serialize)]
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
    pub messages: Vec<MessageView>,
    pub branches: Vec<BranchView>,
}

#[derive(Debug, Serialize)]
pub struct MessageView {
    /// Position in the visible history: the `message_index` to branch at.
    pub index: i64,
    pub question: String,
    pub response: String,
    pub response_id: String,
    pub timestamp: String,
}

#[derive(Debug, Serialize)]
pub struct BranchView {
    pub branch_id: String,
    pub name: String,
    pub created_from_message_index: Option<i64>,
    pub created_at: String,
    pub active: bool,
}

/// The answer to create-branch.
#[derive(Debug, Serialize)]
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
#[derive(Debug, Serialize)]
pub struct ActiveBranchView {
    pub message: &'static str,
    pub chat_id: String,
    pub active_branch_id: String,
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
    fn new(chat: Chat, active_branch_id: &str) -> Self {
        Self {
            active: chat.chat_id == active_branch_id,
            branch_id: chat.chat_id,
            name: chat.name,
            created_from_message_index: chat.created_from_message_index,
            created_at: rfc3339(chat.created_at),
        }
    }
}

impl ChatView {
    fn new(
        chat: Chat,
        active_branch_id: String,
        messages: Vec<Message>,
        branches: Vec<Chat>,
    ) -> Self {
        Self {
            id: chat.id.to_hex(),
            active: chat.chat_id == active_branch_id,
            branches: branches
                .into_iter()
                .map(|b| BranchView::new(b, &active_branch_id))
                .collect(),
            active_branch_id,
            messages: messages.into_iter().map(MessageView::from).collect(),
            chat_id: chat.chat_id,
            account_id: chat.account_id,
            name: chat.name,
            created_at: rfc3339(chat.created_at),
            root_chat_id: chat.root_chat_id,
            parent_chat_id: chat.parent_chat_id,
            created_from_message_index: chat.created_from_message_index,
        }
    }
}

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

/// The question must say something; the response may be empty (a model can answer nothing).
pub fn validate_message(question: &str, response: &str) -> Result<(), ApiError> {
    if text::is_blank(question) {
        return Err(ApiError::invalid("question", "must not be blank"));
    }
    for (field, text) in [("question", question), ("response", response)] {
        if text.len() > MAX_TEXT_BYTES {
            return Err(ApiError::invalid(
                field,
                format!("must be at most {MAX_TEXT_BYTES} bytes"),
            ));
        }
    }
    Ok(())
}

pub async fn create_chat(
    store: &Store,
    account_id: &str,
    name: &str,
) -> Result<ChatView, ApiError> {
    validate_name(name)?;
    let chat = Chat::new_root(account_id, name);
    store.insert_chat(&chat).await?;
    let active = chat.chat_id.clone();
    Ok(ChatView::new(chat, active, Vec::new(), Vec::new()))
}

/// A chat or branch with its whole visible history and its direct branches.
pub async fn get_chat(
    store: &Store,
    account_id: &str,
    chat_id: &str,
) -> Result<ChatView, ApiError> {
    let chat = store
        .find_chat(account_id, chat_id)
        .await?
        .ok_or(CHAT_NOT_FOUND)?;
    let (messages, branches, active_branch_id) = tokio::try_join!(
        store.visible_messages(&chat),
        store.branches_of(&chat),
        store.active_branch_id(&chat),
    )?;
    Ok(ChatView::new(chat, active_branch_id, messages, branches))
}

pub async fn add_message(
    store: &Store,
    account_id: &str,
    chat_id: &str,
    question: &str,
    response: &str,
) -> Result<MessageView, ApiError> {
    validate_message(question, response)?;
    let message = store
        .append_message(account_id, chat_id, question, response)
        .await?
        .ok_or(CHAT_NOT_FOUND)?;
    Ok(message.into())
}

/// Branches `parent_chat_id` (a chat or a branch) after its message `message_index`, an index
/// into the parent's whole visible history.
pub async fn create_branch(
    store: &Store,
    account_id: &str,
    parent_chat_id: &str,
    message_index: i64,
    name: &str,
) -> Result<NewBranchView, ApiError> {
    validate_name(name)?;
    let parent = store
        .find_chat(account_id, parent_chat_id)
        .await?
        .ok_or(CHAT_NOT_FOUND)?;
    // The counter only counts committed messages, so every index accepted here is readable.
    let len = parent.message_count;
    if !(0..len).contains(&message_index) {
        let rule = match len {
            0 => "the chat has no messages to branch from".to_owned(),
            _ => format!("must be between 0 and {} for this chat", len - 1),
        };
        return Err(ApiError::invalid("message_index", rule));
    }
    let branch = Chat::new_branch(&parent, message_index, name);
    store.insert_chat(&branch).await?;
    Ok(NewBranchView {
        branch_id: branch.chat_id,
        parent_chat_id: parent.chat_id,
        root_chat_id: branch.root_chat_id,
        name: branch.name,
        created_from_message_index: message_index,
        created_at: rfc3339(branch.created_at),
        active: false,
    })
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
    let (branches, active_branch_id) =
        tokio::try_join!(store.branches_of(&chat), store.active_branch_id(&chat))?;
    Ok(branches
        .into_iter()
        .map(|b| BranchView::new(b, &active_branch_id))
        .collect())
}

/// Makes `branch_id` — or, without one, `chat_id` itself — the active member of `chat_id`'s
/// conversation tree. Other trees, including the caller's other chats, are untouched.
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
    let active = match branch_id {
        None => chat.chat_id.clone(),
        Some(id) if id == chat.chat_id => chat.chat_id.clone(),
        Some(id) => match store.find_chat(account_id, id).await? {
            Some(target) if target.root_chat_id == chat.root_chat_id => target.chat_id,
            _ => {
                return Err(ApiError::invalid(
                    "branch_id",
                    "must be a chat or branch of the same conversation",
                ));
            }
        },
    };
    store
        .set_active_branch(account_id, &chat.root_chat_id, &active)
        .await?;
    Ok(ActiveBranchView {
        message: "Active branch set successfully.",
        chat_id: chat.chat_id,
        active_branch_id: active,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_must_be_present_and_short() {
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

    #[test]
    fn questions_must_be_present_and_texts_bounded() {
        assert!(validate_message("Hi?", "").is_ok());
        assert!(
            validate_message(" ", "x")
                .unwrap_err()
                .to_string()
                .starts_with("question: ")
        );
        let long = "x".repeat(MAX_TEXT_BYTES + 1);
        assert!(
            validate_message(&long, "x")
                .unwrap_err()
                .to_string()
                .starts_with("question: ")
        );
        assert!(
            validate_message("q", &long)
                .unwrap_err()
                .to_string()
                .starts_with("response: ")
        );
        assert!(validate_message(&"x".repeat(MAX_TEXT_BYTES), "").is_ok());
    }
}
