//! Messages: adding a question/response pair, and searching everything the caller wrote.

use std::collections::{HashMap, HashSet};

use mongodb::bson::oid::ObjectId;
use mongodb::bson::{DateTime, doc};
use serde::{Deserialize, Serialize};

use crate::appends::Append;
use crate::cursor;
use crate::error::ApiError;
use crate::idempotency::Idempotency;
use crate::store::{Chat, Store};
use crate::text;
use crate::time::rfc3339;
use crate::tree;
use crate::views::{MessageView, Page, SearchHit};

/// Per field, in UTF-8 bytes: a long answer from a model fits, a novel does not.
pub const MAX_TEXT_BYTES: usize = 64 * 1024;

/// Characters of a question kept for list previews.
pub const PREVIEW_CHARS: usize = 200;

/// Longest search query, in characters.
pub const MAX_QUERY_CHARS: usize = 200;

/// Characters of context a snippet shows before and after the match.
const SNIPPET_BEFORE: usize = 60;
const SNIPPET_AFTER: usize = 140;

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

/// The first `PREVIEW_CHARS` characters.
pub fn preview(question: &str) -> String {
    question.chars().take(PREVIEW_CHARS).collect()
}

/// Appends a pair to the caller's chat or branch at the next index, in one transaction with
/// whatever else this process is appending at the moment (group commit, see `appends`): the
/// chat's counter goes up and the message is inserted at the old value, so positions are
/// dense and unique however many clients append at once, and a crash never leaves a gap; the
/// conversation's `updated_at` moves (and, when this chat is the active member, its length
/// and preview); and the answer is kept for the idempotency key.
pub async fn add_message(
    store: &Store,
    account_id: &str,
    chat_id: &str,
    question: &str,
    response: &str,
    idempotency: Option<&Idempotency>,
) -> Result<MessageView, ApiError> {
    validate_message(question, response)?;
    let append = Append {
        account_id: account_id.to_owned(),
        chat_id: chat_id.to_owned(),
        question: question.to_owned(),
        response: response.to_owned(),
        idempotency: idempotency.cloned(),
        deadline: crate::store::request_deadline(),
    };
    match store.appends.submit(store, append).await {
        Err(ApiError::NotFound(_)) => Err(crate::chats::not_found_or_gone(store, account_id).await),
        outcome => outcome,
    }
}

/// Where a search stopped in each of its two sources.
#[derive(Default, Serialize, Deserialize)]
struct SearchCursor {
    /// The last message hit handed out (time in ms, id), and whether there are no more.
    message: Option<(i64, String)>,
    messages_done: bool,
    /// The last chat-name hit handed out, and whether there are no more.
    chat: Option<(i64, String)>,
    chats_done: bool,
}

/// Full-text search over the caller's own messages (question and response) and chat names,
/// newest first. Conversations in the trash are left out. A message is reported once, in the
/// chat that stores it, with every member that shows it (`shown_in`).
pub async fn search(
    store: &Store,
    account_id: &str,
    query: &str,
    limit: i64,
    cursor: Option<&str>,
) -> Result<Page<SearchHit>, ApiError> {
    if text::is_blank(query) {
        return Err(ApiError::invalid("q", "must not be blank"));
    }
    if query.chars().count() > MAX_QUERY_CHARS {
        return Err(ApiError::invalid(
            "q",
            format!("must be at most {MAX_QUERY_CHARS} characters"),
        ));
    }
    let mut position: SearchCursor = cursor.map(cursor::decode).transpose()?.unwrap_or_default();
    let message_after = parse_position(position.message.as_ref())?;
    let chat_after = parse_position(position.chat.as_ref())?;
    let (messages, chats) = tokio::try_join!(
        async {
            match position.messages_done {
                true => Ok(Vec::new()),
                false => {
                    store
                        .search_messages(account_id, query, message_after, limit)
                        .await
                }
            }
        },
        async {
            match position.chats_done {
                true => Ok(Vec::new()),
                false => {
                    store
                        .search_chat_names(account_id, query, chat_after, limit)
                        .await
                }
            }
        },
    )?;
    // Merge the two newest-first streams, up to `limit` hits.
    let (mut m, mut c) = (0, 0);
    while m + c < limit as usize && (m < messages.len() || c < chats.len()) {
        let take_message = match (messages.get(m), chats.get(c)) {
            (Some(msg), Some(chat)) => msg.timestamp >= chat.created_at,
            (Some(_), None) => true,
            _ => false,
        };
        if take_message { m += 1 } else { c += 1 }
    }
    // A source that returned less than a page, all of it handed out now, is done.
    position.messages_done |= messages.len() < limit as usize && m == messages.len();
    position.chats_done |= chats.len() < limit as usize && c == chats.len();
    let (messages, chats) = (&messages[..m], &chats[..c]);
    if let Some(last) = messages.last() {
        position.message = Some((last.timestamp.timestamp_millis(), last.id.to_hex()));
    }
    if let Some(last) = chats.last() {
        position.chat = Some((last.created_at.timestamp_millis(), last.id.to_hex()));
    }

    // The chats that store the message hits: the live ones give names; hits in the trash go.
    let ids: Vec<&str> = messages
        .iter()
        .map(|m| m.chat_id.as_str())
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let holders: HashMap<String, Chat> = store
        .chats_by_id(account_id, &ids)
        .await?
        .into_iter()
        .map(|chat| (chat.chat_id.clone(), chat))
        .collect();
    let roots: Vec<&str> = holders
        .values()
        .map(|chat| chat.root_chat_id.as_str())
        .chain(chats.iter().map(|chat| chat.root_chat_id.as_str()))
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let members = store.tree_members(account_id, &roots).await?;
    let mut hits: Vec<(DateTime, SearchHit)> = Vec::new();
    for message in messages {
        let Some(holder) = holders.get(&message.chat_id) else {
            continue;
        };
        let tree: Vec<Chat> = members
            .iter()
            .filter(|m| m.root_chat_id == holder.root_chat_id)
            .cloned()
            .collect();
        let snippet = snippet(&message.question, query)
            .or_else(|| snippet(&message.response, query))
            .unwrap_or_else(|| preview(&message.question));
        let mut shown_in: Vec<String> =
            tree::members_showing(&tree, &message.chat_id, message.position)
                .into_iter()
                .map(str::to_owned)
                .collect();
        // Deleted between the reads above: no live member shows it any more.
        if !shown_in.contains(&message.chat_id) {
            continue;
        }
        shown_in.sort_by_key(|id| id != &message.chat_id);
        hits.push((
            message.timestamp,
            SearchHit {
                chat_id: message.chat_id.clone(),
                chat_name: holder.name.clone(),
                root_chat_id: holder.root_chat_id.clone(),
                index: Some(message.position),
                snippet,
                timestamp: rfc3339(message.timestamp),
                shown_in,
            },
        ));
    }
    for chat in chats {
        hits.push((
            chat.created_at,
            SearchHit {
                chat_id: chat.chat_id.clone(),
                chat_name: chat.name.clone(),
                root_chat_id: chat.root_chat_id.clone(),
                index: None,
                snippet: snippet(&chat.name, query).unwrap_or_else(|| chat.name.clone()),
                timestamp: rfc3339(chat.created_at),
                shown_in: vec![chat.chat_id.clone()],
            },
        ));
    }
    hits.sort_by_key(|hit| std::cmp::Reverse(hit.0));
    let done = position.messages_done && position.chats_done;
    Ok(Page {
        items: hits.into_iter().map(|(_, hit)| hit).collect(),
        next_cursor: (!done).then(|| cursor::encode(&position)),
    })
}

fn parse_position(
    position: Option<&(i64, String)>,
) -> Result<Option<(DateTime, ObjectId)>, ApiError> {
    position
        .map(|(millis, id)| {
            ObjectId::parse_str(id)
                .map(|id| (DateTime::from_millis(*millis), id))
                .map_err(|_| ApiError::invalid("cursor", "is not a cursor this list gave out"))
        })
        .transpose()
}

/// A window of `text` around the first place one of the query's words appears (ignoring
/// case), with `…` where it is cut; `None` if no word appears as written (MongoDB's stemming
/// can match "runs" for "running").
pub fn snippet(text: &str, query: &str) -> Option<String> {
    let lower: Vec<(usize, char)> = text
        .char_indices()
        .flat_map(|(at, c)| c.to_lowercase().map(move |l| (at, l)))
        .collect();
    let words = query
        .split(|c: char| c.is_whitespace() || c == '"' || c == '-')
        .filter(|w| !w.is_empty())
        .map(|w| w.to_lowercase().chars().collect::<Vec<char>>());
    let (start, len) = words
        .filter_map(|word| {
            let found = lower
                .windows(word.len())
                .position(|window| window.iter().map(|(_, c)| *c).eq(word.iter().copied()))?;
            Some((lower[found].0, word.len()))
        })
        .min()?;
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let at = chars.iter().position(|(i, _)| *i == start).unwrap_or(0);
    let from = at.saturating_sub(SNIPPET_BEFORE);
    let to = (at + len + SNIPPET_AFTER).min(chars.len());
    let mut snippet: String = chars[from..to].iter().map(|(_, c)| *c).collect();
    if from > 0 {
        snippet.insert(0, '…');
    }
    if to < chars.len() {
        snippet.push('…');
    }
    Some(snippet)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn questions_must_be_present_and_texts_bounded() {
        assert!(validate_message("Hi?", "").is_ok());
        for blank in [" ", "\u{200B}\u{FEFF}"] {
            let error = validate_message(blank, "x").unwrap_err();
            assert!(error.to_string().starts_with("question: "));
        }
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

    #[test]
    fn a_snippet_shows_the_match_in_its_context() {
        assert_eq!(
            snippet("What is MongoDB?", "mongodb").as_deref(),
            Some("What is MongoDB?")
        );
        let long = format!("{}needle{}", "a".repeat(100), "b".repeat(200));
        let found = snippet(&long, "NEEDLE").unwrap();
        assert!(found.starts_with('…') && found.ends_with('…'), "{found}");
        assert!(found.contains("needle"));
        assert_eq!(found.chars().count(), 1 + 60 + 6 + 140 + 1);
        assert_eq!(
            snippet("Straße und Öl", "öl").as_deref(),
            Some("Straße und Öl")
        );
        assert_eq!(snippet("nothing here", "absent"), None);
        assert_eq!(
            snippet("two words", "\"words two\"").as_deref(),
            Some("two words")
        );
    }
}
