//! After the load: does the service hold exactly what it acknowledged? Read back through the
//! API (what a user sees) and, for position density, straight from MongoDB.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::TryStreamExt;
use hyper::Method;
use mongodb::bson::{Document, doc};
use serde_json::Value;

use crate::api::{Api, Reply, query};
use crate::workload::{Account, Ledger};

#[derive(Default)]
pub struct Findings {
    pub problems: Vec<String>,
    pub chats: usize,
    pub trees: usize,
    pub acked_messages: usize,
    /// Messages stored although their request was not acknowledged (it got a 503 after the
    /// commit, or timed out): allowed, and counted.
    pub unacked_stored: u64,
}

impl Findings {
    fn problem(&mut self, problem: String) {
        if self.problems.len() < 1000 {
            self.problems.push(problem);
        }
    }
}

pub async fn verify(
    api: &Api,
    accounts: &[Arc<Account>],
    ledger: &Ledger,
    database: &mongodb::Database,
) -> Findings {
    let mut findings = Findings {
        chats: ledger.chats.len(),
        acked_messages: ledger.messages.len(),
        ..Findings::default()
    };
    let mut tokens = Vec::new();
    for account in accounts {
        let credentials = account.credentials();
        let reply =
            patiently(|| api.call(Method::POST, "/auth/login", None, Some(&credentials))).await;
        tokens.push(reply.str("access_token"));
    }

    // Every acknowledged chat and branch, as its owner sees it.
    let mut views: HashMap<&str, Value> = HashMap::new();
    for chat in &ledger.chats {
        let path = format!("/chats/get-chat?{}", query(&chat.chat_id));
        let token = &tokens[chat.account];
        let reply = patiently(|| api.call(Method::GET, &path, Some(token), None)).await;
        if reply.is(200) {
            views.insert(&chat.chat_id, reply.body);
        } else {
            findings.problem(format!(
                "acknowledged chat {} answers {:?} {}",
                chat.chat_id, reply.status, reply.body
            ));
        }
    }
    let messages = |chat_id: &str| messages_of(&views, chat_id);

    for chat in &ledger.chats {
        let Some(view) = views.get(chat.chat_id.as_str()) else {
            continue;
        };
        let shown = messages(&chat.chat_id);
        let own_from = chat.parent.as_ref().map_or(0, |(_, index)| index + 1);
        let mut seen = HashSet::new();
        for (i, message) in shown.iter().enumerate() {
            let question = message["question"].as_str().unwrap_or_default();
            if message["index"].as_u64() != Some(i as u64) {
                findings.problem(format!(
                    "{}: message {i} shows index {}",
                    chat.chat_id, message["index"]
                ));
            }
            if !seen.insert(question) {
                findings.problem(format!("{}: {question:?} shown twice", chat.chat_id));
            }
            // Its own messages were all sent to this very chat.
            if i >= own_from && ledger.questions.get(question) != Some(&chat.chat_id) {
                findings.problem(format!(
                    "{}: message {i} {question:?} was never sent to it",
                    chat.chat_id
                ));
            }
        }
        if let Some((parent, index)) = &chat.parent {
            let prefix = |list: &[Value]| -> Vec<Value> {
                list.iter()
                    .take(index + 1)
                    .map(|m| m["response_id"].clone())
                    .collect()
            };
            let inherited = prefix(messages(parent));
            if inherited.len() != index + 1 || prefix(shown) != inherited {
                findings.problem(format!(
                    "branch {} does not show the first {} messages of {parent}",
                    chat.chat_id,
                    index + 1
                ));
            }
            if view["parent_chat_id"] != parent.as_str()
                || view["created_from_message_index"] != *index
            {
                findings.problem(format!(
                    "branch {}: wrong parent or index in {view}",
                    chat.chat_id
                ));
            }
        }
    }

    // Each acknowledged message exactly where the service said it put it.
    for acked in &ledger.messages {
        let shown = messages(&acked.chat_id);
        let matches = shown.get(acked.index).is_some_and(|m| {
            m["response_id"] == acked.response_id.as_str()
                && m["question"] == acked.question.as_str()
                && m["response"] == acked.response.as_str()
        });
        if !matches {
            findings.problem(format!(
                "{}: acknowledged message {} is not at index {}",
                acked.chat_id, acked.response_id, acked.index
            ));
        }
    }

    // Exactly one active member per conversation tree, named by the root.
    let mut trees: HashMap<&str, Vec<&str>> = HashMap::new();
    for chat in &ledger.chats {
        trees
            .entry(&chat.root_chat_id)
            .or_default()
            .push(&chat.chat_id);
    }
    findings.trees = trees.len();
    for (root, members) in &trees {
        let active: Vec<&str> = members
            .iter()
            .copied()
            .filter(|m| views.get(m).is_some_and(|v| v["active"] == true))
            .collect();
        let named = views.get(root).map(|v| v["active_branch_id"].clone());
        if active.len() != 1 || named.as_ref().and_then(Value::as_str) != Some(active[0]) {
            findings.problem(format!(
                "tree {root}: active members {active:?}, root names {named:?}"
            ));
        }
    }

    if let Err(e) = check_density(database, &mut findings).await {
        findings.problem(format!("reading MongoDB: {e}"));
    }
    findings
}

/// The messages a view shows (none if the chat could not be read).
fn messages_of<'a>(views: &'a HashMap<&str, Value>, chat_id: &str) -> &'a [Value] {
    views
        .get(chat_id)
        .and_then(|v| v["messages"].as_array())
        .map_or(&[], Vec::as_slice)
}

/// Straight from MongoDB, every chat in the database (acknowledged or not): its own messages
/// sit at positions `start..message_count`, each exactly once, where `start` is 0 for a root
/// and `created_from_message_index + 1` for a branch.
async fn check_density(
    database: &mongodb::Database,
    findings: &mut Findings,
) -> mongodb::error::Result<()> {
    let mut expected: HashMap<String, (i64, i64)> = HashMap::new();
    let mut chats = database
        .collection::<Document>("chats")
        .find(doc! {})
        .await?;
    while let Some(chat) = chats.try_next().await? {
        let start = chat
            .get_i64("created_from_message_index")
            .map_or(0, |i| i + 1);
        let count = chat.get_i64("message_count").unwrap_or(-1);
        expected.insert(
            chat.get_str("chat_id").unwrap_or_default().to_owned(),
            (start, count),
        );
    }
    let pipeline = [
        doc! {"$group": {"_id": "$chat_id", "n": {"$sum": 1_i64}, "min": {"$min": "$position"}, "max": {"$max": "$position"}}},
    ];
    let mut groups = database
        .collection::<Document>("messages")
        .aggregate(pipeline)
        .await?;
    let mut stored = 0;
    while let Some(group) = groups.try_next().await? {
        let chat_id = group.get_str("_id").unwrap_or_default().to_owned();
        let (n, min, max) = (
            group.get_i64("n")?,
            group.get_i64("min")?,
            group.get_i64("max")?,
        );
        stored += n;
        match expected.remove(&chat_id) {
            Some((start, count)) if min == start && max == count - 1 && n == count - start => {}
            other => findings.problem(format!("chat {chat_id}: {n} messages at {min}..={max}, chat says (start, count) = {other:?}")),
        }
    }
    for (chat_id, (start, count)) in expected {
        if count != start {
            findings.problem(format!(
                "chat {chat_id}: counter says {count}, no messages stored"
            ));
        }
    }
    findings.unacked_stored = (stored as u64).saturating_sub(findings.acked_messages as u64);
    Ok(())
}

/// The first answer that is not a 503 (MongoDB may still be settling after the last fault).
async fn patiently<F: Future<Output = Reply>>(call: impl Fn() -> F) -> Reply {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let reply = call().await;
        if !reply.is_unavailable() || Instant::now() > deadline {
            return reply;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
