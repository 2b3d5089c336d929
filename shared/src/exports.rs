//! ChatGPT's export format (`conversations.json`), both ways.
//!
//! A ChatGPT conversation is a tree of nodes (`mapping`), each with one message (or none, for
//! the root) and its `parent` and `children`; a user message and the assistant's answer are
//! two nodes. Here a question/response pair is one message, and a branch is a chat cut from
//! its parent at a message.
//!
//! **Export** writes each stored pair as a user node and an assistant node (their ids derived
//! from the pair's `response_id`); the first pair a branch adds hangs from the message it was
//! cut at (or from the root node, for a branch that replaced message 0). `current_node` is the
//! active member's last answer. A branch that adds no message of its own has nothing to show
//! in this format and is left out.
//!
//! **Import** keeps user and assistant messages with text and skips the rest (system, tool and
//! hidden nodes, and content that is not text), attaching what hung from a skipped node to its
//! nearest kept ancestor. A user message followed by an answer is one pair; several answers to
//! one question (regenerations) are sibling branches; consecutive answers are joined into one
//! response (a blank line between); a question with no answer gets an empty response. The
//! first child at every branch point continues the same chat; each other child starts a branch
//! there ("Alternative N"). The chat holding `current_node` becomes active. Original times are
//! kept. A file that breaks the format is a 422 naming the JSON path of the first problem, and
//! nothing of it is stored.

use std::collections::{BTreeMap, HashMap};

use mongodb::bson::DateTime;
use mongodb::bson::oid::ObjectId;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::ApiError;
use crate::messages::preview;
use crate::store::{Chat, Conversation, Message};
use crate::tree;

/// Largest import body: Lambda accepts 6 MB requests; bigger exports go in several calls.
pub const MAX_IMPORT_BYTES: usize = 5 * 1024 * 1024;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GptConversation {
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub create_time: Option<f64>,
    #[serde(default)]
    pub update_time: Option<f64>,
    pub mapping: BTreeMap<String, GptNode>,
    #[serde(default)]
    pub current_node: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GptNode {
    pub id: String,
    #[serde(default)]
    pub message: Option<GptMessage>,
    #[serde(default)]
    pub parent: Option<String>,
    #[serde(default)]
    pub children: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GptMessage {
    pub id: String,
    pub author: GptAuthor,
    #[serde(default)]
    pub create_time: Option<f64>,
    pub content: GptContent,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GptAuthor {
    pub role: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GptContent {
    pub content_type: String,
    #[serde(default)]
    pub parts: Vec<Value>,
}

fn seconds(at: DateTime) -> f64 {
    at.timestamp_millis() as f64 / 1000.0
}

fn from_seconds(seconds: Option<f64>) -> Option<DateTime> {
    seconds
        .filter(|s| s.is_finite() && *s >= 0.0 && *s < 1e11)
        .map(|s| DateTime::from_millis((s * 1000.0).round() as i64))
}

fn node(id: String, role: &str, text: &str, at: DateTime, parent: String) -> GptNode {
    GptNode {
        id: id.clone(),
        message: Some(GptMessage {
            id,
            author: GptAuthor { role: role.into() },
            create_time: Some(seconds(at)),
            content: GptContent {
                content_type: "text".into(),
                parts: vec![Value::String(text.to_owned())],
            },
            metadata: None,
        }),
        parent: Some(parent),
        children: Vec::new(),
    }
}

/// A conversation tree as ChatGPT exports it: `members` are its live chats, `messages` every
/// message they store.
pub fn export(
    conversation: &Conversation,
    members: &[Chat],
    messages: &[Message],
) -> GptConversation {
    let root_id = conversation.root_chat_id.clone();
    let stored: HashMap<(&str, i64), &Message> = messages
        .iter()
        .map(|m| ((m.chat_id.as_str(), m.position), m))
        .collect();
    let answer_id = |m: &Message| m.response_id.clone();
    let question_id = |m: &Message| format!("{}-question", m.response_id);
    let mut mapping: BTreeMap<String, GptNode> = BTreeMap::new();
    mapping.insert(
        root_id.clone(),
        GptNode {
            id: root_id.clone(),
            message: None,
            parent: None,
            children: Vec::new(),
        },
    );
    // Parents first, so a branch's cut point exists when it is attached; siblings by creation.
    for member in tree::drawing_order(members) {
        // What the member stores itself starts after its lineage (after a promotion that is
        // not always right after its cut).
        let first_own = member.lineage.last().map_or(0, |s| s.upto + 1);
        let mut parent = match first_own {
            0 => root_id.clone(),
            p => tree::holder(member, p - 1)
                .and_then(|holder| stored.get(&(holder, p - 1)))
                .map_or(root_id.clone(), |m| answer_id(m)),
        };
        for position in first_own..member.message_count {
            let Some(message) = stored.get(&(member.chat_id.as_str(), position)) else {
                break;
            };
            let (q, a) = (question_id(message), answer_id(message));
            mapping.insert(
                q.clone(),
                node(
                    q.clone(),
                    "user",
                    &message.question,
                    message.timestamp,
                    parent.clone(),
                ),
            );
            mapping.insert(
                a.clone(),
                node(
                    a.clone(),
                    "assistant",
                    &message.response,
                    message.timestamp,
                    q.clone(),
                ),
            );
            if let Some(up) = mapping.get_mut(&parent) {
                up.children.push(q.clone());
            }
            if let Some(question) = mapping.get_mut(&q) {
                question.children.push(a.clone());
            }
            parent = a;
        }
    }
    let active = members
        .iter()
        .find(|m| m.chat_id == conversation.active_branch_id);
    let current = active
        .and_then(|m| {
            let last = m.message_count - 1;
            tree::holder(m, last).and_then(|h| stored.get(&(h, last)))
        })
        .map_or(root_id, |m| answer_id(m));
    GptConversation {
        title: Some(conversation.title.clone()),
        create_time: Some(seconds(conversation.created_at)),
        update_time: Some(seconds(conversation.updated_at)),
        mapping,
        current_node: Some(current),
    }
}

/// A question and its answer, as the import makes them, with what follows each (indexes into
/// the list of pairs: a long conversation is a deep tree, kept flat so nothing recurses).
#[derive(Debug)]
struct Pair {
    question: String,
    response: String,
    at: Option<DateTime>,
    /// The ChatGPT nodes it was made of (to find `current_node`).
    nodes: Vec<String>,
    next: Vec<usize>,
}

/// What one imported conversation becomes: documents ready to insert.
#[derive(Debug)]
pub struct Imported {
    pub conversation: Conversation,
    pub chats: Vec<Chat>,
    pub messages: Vec<Message>,
}

fn invalid(path: String, message: impl Into<String>) -> ApiError {
    ApiError::invalid(path, message)
}

/// Parses a `conversations.json` body: an array of conversations (one object is accepted too).
pub fn parse(body: &[u8]) -> Result<Vec<GptConversation>, ApiError> {
    if body.len() > MAX_IMPORT_BYTES {
        return Err(ApiError::PayloadTooLarge {
            limit: MAX_IMPORT_BYTES,
        });
    }
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("Malformed JSON body: {e}")))?;
    let value = match value {
        Value::Object(_) => Value::Array(vec![value]),
        Value::Array(_) => value,
        _ => return Err(invalid("body".into(), "must be a conversations.json array")),
    };
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let message = e.inner().to_string();
        // serde reports a missing field at its parent, naming it in the message.
        if let Some(field) = message
            .strip_prefix("missing field `")
            .and_then(|rest| rest.strip_suffix('`'))
        {
            return invalid(format!("{path}.{field}"), "field required");
        }
        invalid(if path == "." { "body".into() } else { path }, message)
    })
}

/// The text of a message, if it is one worth keeping: a user's or assistant's text content.
fn kept_text(node: &GptNode) -> Option<(&str, String)> {
    let message = node.message.as_ref()?;
    let role = message.author.role.as_str();
    if !matches!(role, "user" | "assistant") {
        return None;
    }
    let hidden = message
        .metadata
        .as_ref()
        .and_then(|m| m.get("is_visually_hidden_from_conversation"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if hidden
        || !matches!(
            message.content.content_type.as_str(),
            "text" | "multimodal_text"
        )
    {
        return None;
    }
    let text: Vec<&str> = message
        .content
        .parts
        .iter()
        .filter_map(Value::as_str)
        .collect();
    Some((role, text.join("\n")))
}

/// Turns one ChatGPT conversation into a conversation tree of `account_id`'s. `path` names it
/// in errors (`[3]`).
pub fn import(
    conversation: &GptConversation,
    account_id: &str,
    path: &str,
) -> Result<Imported, ApiError> {
    let mapping = &conversation.mapping;
    let roots: Vec<&GptNode> = mapping.values().filter(|n| n.parent.is_none()).collect();
    let root = match roots.as_slice() {
        [root] => *root,
        [] => {
            return Err(invalid(
                format!("{path}.mapping"),
                "has no root node (one without a parent)",
            ));
        }
        _ => {
            return Err(invalid(
                format!("{path}.mapping"),
                "has more than one root node",
            ));
        }
    };
    for (key, node) in mapping {
        for child in &node.children {
            match mapping.get(child) {
                Some(c) if c.parent.as_deref() == Some(key.as_str()) => {}
                _ => {
                    return Err(invalid(
                        format!("{path}.mapping.{key}.children"),
                        format!("names {child:?}, which is not a node whose parent is {key:?}"),
                    ));
                }
            }
        }
    }
    // Kept nodes' children, with skipped nodes spliced out (a depth bound guards cycles).
    let kept_children = |id: &str| -> Vec<&GptNode> {
        let mut out = Vec::new();
        let mut stack: Vec<(&str, usize)> = vec![(id, 0)];
        while let Some((at, depth)) = stack.pop() {
            let Some(node) = mapping.get(at) else {
                continue;
            };
            for child in node.children.iter().rev() {
                let Some(c) = mapping.get(child) else {
                    continue;
                };
                if kept_text(c).is_some() {
                    out.push(c);
                } else if depth < mapping.len() {
                    stack.push((child, depth + 1));
                }
            }
        }
        out.reverse();
        out
    };
    let (pairs, top) = pairs_of(root, &kept_children, mapping.len())
        .ok_or_else(|| invalid(format!("{path}.mapping"), "has a cycle"))?;
    let title = conversation
        .title
        .clone()
        .filter(|t| !crate::text::is_blank(t))
        .unwrap_or_else(|| "Imported conversation".into());
    let title: String = title.chars().take(crate::chats::MAX_NAME_CHARS).collect();
    let (mut main, mut record) = tree::new_root(account_id, &title);
    let created = from_seconds(conversation.create_time).unwrap_or(main.created_at);
    main.created_at = created;
    record.created_at = created;
    record.updated_at = from_seconds(conversation.update_time).unwrap_or(created);
    let mut chats = Vec::new();
    let mut messages = Vec::new();
    let mut alternatives = 0;
    let mut current_chat = None;
    // The first pair of each top-level alternative: the first continues the root chat, the
    // others replace message 0 as branches.
    let mut work: Vec<(Chat, usize)> = Vec::new();
    for (i, &pair) in top.iter().enumerate() {
        let chat = if i == 0 {
            main.clone()
        } else {
            alternatives += 1;
            tree::edit_branch(&main, 0, &format!("Alternative {alternatives}"))
        };
        work.push((chat, pair));
    }
    if top.is_empty() {
        chats.push(main.clone());
    }
    while let Some((mut chat, first)) = work.pop() {
        // Follow the first child down; every other child starts a branch at that pair.
        let mut index = first;
        let mut forks: Vec<(i64, usize)> = Vec::new();
        loop {
            let pair = &pairs[index];
            let position = chat.message_count;
            let at = pair.at.unwrap_or(created);
            messages.push(Message {
                id: ObjectId::new(),
                chat_id: chat.chat_id.clone(),
                account_id: account_id.to_owned(),
                position,
                question: pair.question.clone(),
                response: pair.response.clone(),
                response_id: uuid::Uuid::new_v4().to_string(),
                timestamp: at,
            });
            chat.message_count += 1;
            chat.last_question = Some(preview(&pair.question));
            if conversation
                .current_node
                .as_ref()
                .is_some_and(|c| pair.nodes.contains(c))
            {
                current_chat = Some(chat.chat_id.clone());
            }
            forks.extend(pair.next.iter().skip(1).map(|&p| (position, p)));
            match pair.next.first() {
                Some(&next) => index = next,
                None => break,
            }
        }
        for (position, next) in forks {
            alternatives += 1;
            let branch = tree::new_branch(
                &chat,
                position,
                &format!("Alternative {alternatives}"),
                None,
            );
            work.push((branch, next));
        }
        chats.push(chat);
    }
    let main = chats.iter().find(|c| c.is_root()).cloned().unwrap_or(main);
    let active = current_chat
        .and_then(|id| chats.iter().find(|c| c.chat_id == id))
        .unwrap_or(&main);
    record.branch_count = chats.len() as i64 - 1;
    record.active_branch_id = active.chat_id.clone();
    record.active_length = active.message_count;
    record.preview = active.last_question.clone();
    for chat in &mut chats {
        chat.created_at = created;
    }
    Ok(Imported {
        conversation: record,
        chats,
        messages,
    })
}

/// The pairs below `root`, as a flat list with the indexes of the top ones; `None` when the
/// nodes loop (each node is expanded at most once).
fn pairs_of<'a>(
    root: &'a GptNode,
    kept_children: &dyn Fn(&str) -> Vec<&'a GptNode>,
    nodes: usize,
) -> Option<(Vec<Pair>, Vec<usize>)> {
    let mut pairs: Vec<Pair> = Vec::new();
    let mut top = Vec::new();
    // Sibling lists still to turn into pairs, and whose `next` (or the top) they extend.
    let mut tasks: Vec<(Vec<&GptNode>, Option<usize>)> = vec![(kept_children(&root.id), None)];
    let mut expanded = 0;
    while let Some((siblings, parent)) = tasks.pop() {
        let mut queue: std::collections::VecDeque<&GptNode> = siblings.into();
        let mut made = Vec::new();
        while let Some(node) = queue.pop_front() {
            expanded += 1;
            if expanded > nodes * 2 + 2 {
                return None;
            }
            let Some((role, text)) = kept_text(node) else {
                continue;
            };
            let children = kept_children(&node.id);
            if role == "assistant" {
                // An answer with no question before it (a greeting): what follows it counts.
                for child in children.into_iter().rev() {
                    queue.push_front(child);
                }
                continue;
            }
            let at = from_seconds(node.message.as_ref().and_then(|m| m.create_time));
            let role_of = |c: &&GptNode| kept_text(c).map(|(r, _)| r == "assistant");
            let answers: Vec<&GptNode> = children
                .iter()
                .copied()
                .filter(|c| role_of(c) == Some(true))
                .collect();
            let questions: Vec<&GptNode> = children
                .iter()
                .copied()
                .filter(|c| role_of(c) == Some(false))
                .collect();
            for answer in &answers {
                for (response, last, path) in answer_chains(answer, kept_children, nodes)? {
                    pairs.push(Pair {
                        question: text.clone(),
                        response,
                        at: from_seconds(last.message.as_ref().and_then(|m| m.create_time)).or(at),
                        nodes: [vec![node.id.clone()], path].concat(),
                        next: Vec::new(),
                    });
                    made.push(pairs.len() - 1);
                    tasks.push((kept_children(&last.id), Some(pairs.len() - 1)));
                }
            }
            if answers.is_empty() || !questions.is_empty() {
                pairs.push(Pair {
                    question: text,
                    response: String::new(),
                    at,
                    nodes: vec![node.id.clone()],
                    next: Vec::new(),
                });
                made.push(pairs.len() - 1);
                tasks.push((questions, Some(pairs.len() - 1)));
            }
        }
        match parent {
            Some(parent) => pairs[parent].next = made,
            None => top = made,
        }
    }
    Some((pairs, top))
}

/// The responses an answer node starts: itself, joined with each chain of answers that follows
/// it directly (with the node each chain ends at, and the nodes it is made of).
#[allow(clippy::type_complexity)]
fn answer_chains<'a>(
    answer: &'a GptNode,
    kept_children: &dyn Fn(&str) -> Vec<&'a GptNode>,
    nodes: usize,
) -> Option<Vec<(String, &'a GptNode, Vec<String>)>> {
    let mut done = Vec::new();
    let mut open = vec![(String::new(), answer, Vec::new())];
    while let Some((before, node, mut path)) = open.pop() {
        if path.len() > nodes {
            return None;
        }
        let text = kept_text(node).map(|(_, t)| t).unwrap_or_default();
        let text = if path.is_empty() {
            text
        } else {
            format!("{before}\n\n{text}")
        };
        path.push(node.id.clone());
        let more: Vec<&GptNode> = kept_children(&node.id)
            .into_iter()
            .filter(|c| kept_text(c).is_some_and(|(r, _)| r == "assistant"))
            .collect();
        if more.is_empty() {
            done.push((text, node, path));
        } else {
            for next in more.into_iter().rev() {
                open.push((text.clone(), next, path.clone()));
            }
        }
    }
    Some(done)
}

/// What import-chats created, one entry per conversation.
#[derive(Debug, Serialize, Deserialize)]
pub struct ImportedView {
    pub chat_id: String,
    pub name: String,
    pub message_count: i64,
    pub branch_count: i64,
}

/// A page of exported conversations.
#[derive(Debug, Serialize, Deserialize)]
pub struct ExportPage {
    pub items: Vec<GptConversation>,
    pub next_cursor: Option<String>,
}
