//! After the load: does the service hold exactly what it acknowledged? Read back through the
//! API (what a user sees: every chat paged through with `before`, the conversation lists, the
//! trash, search) and straight from MongoDB (every stored message, exactly once, at dense
//! positions, and nothing that was not acknowledged).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{StreamExt, TryStreamExt, stream};
use mongodb::bson::{Document, doc};
use shared::Endpoint;
use shared::views::{ChatView, ConversationView, MessageView, Page, SearchHit};

use crate::api::{Api, Call, Reply};
use crate::workload::{Account, ChatRecord, Ledger, TreeRecord};

/// Requests the verifier keeps in flight.
const PARALLEL: usize = 8;
/// Page sizes the verifier lists with, small so that paging is exercised.
const LIST_PAGE: usize = 7;
const HISTORY_PAGE: usize = 7;
/// Acknowledged messages looked up by their own word with search-messages.
const SEARCH_SAMPLE: usize = 200;

#[derive(Default)]
pub struct Findings {
    pub problems: Vec<String>,
    pub chats: usize,
    pub trees: usize,
    pub trashed_trees: usize,
    pub acked_messages: usize,
    pub stored_messages: usize,
    /// get-chat pages read back.
    pub pages: usize,
    /// Conversations checked in the lists, and in the trash.
    pub listed: usize,
    pub in_trash: usize,
    pub searched: usize,
    /// Writes never answered definitively, and what of them MongoDB holds.
    pub unresolved: usize,
    pub unresolved_stored: usize,
    /// Conversations whose counts an unresolved write left unknown (not checked exactly).
    pub uncertain_trees: usize,
}

impl Findings {
    fn problem(&mut self, problem: String) {
        if self.problems.len() < 1000 {
            self.problems.push(problem);
        }
    }
}

/// A chat read back (`None`: it answers 404), or why not; and the pages read.
type ReadBack<'a> = (&'a ChatRecord, Result<Option<History>, String>, usize);

/// A chat as read back: its first (newest) page's view, and its whole history.
struct History {
    view: ChatView,
    messages: Vec<MessageView>,
}

pub async fn verify(
    api: &Api,
    accounts: &[Arc<Account>],
    ledger: &Ledger,
    database: &mongodb::Database,
) -> Findings {
    let mut findings = Findings {
        chats: ledger.chats.len(),
        trees: ledger.trees.len(),
        trashed_trees: ledger
            .trees
            .values()
            .filter(|t| t.trashed == Some(true))
            .count(),
        acked_messages: ledger.messages.len(),
        unresolved: ledger.unresolved.len(),
        uncertain_trees: ledger.trees.values().filter(|t| t.uncertain).count(),
        ..Findings::default()
    };
    let mut tokens = Vec::new();
    for account in accounts {
        let call = Call::to(Endpoint::Login).json(&account.credentials());
        tokens.push(patiently(api, &call).await.str("access_token"));
    }
    let tokens = &tokens;
    let tree = |chat: &ChatRecord| &ledger.trees[&chat.root_chat_id];

    // Every acknowledged chat and branch, as its owner sees it: the live ones page by page,
    // those in the trash answer 404.
    let reads: Vec<ReadBack> = stream::iter(&ledger.chats)
        .map(|chat| async move {
            let token = &tokens[chat.account];
            let (read, pages) = read_history(api, token, &chat.chat_id).await;
            (chat, read, pages)
        })
        .buffer_unordered(PARALLEL)
        .collect()
        .await;
    let mut histories: HashMap<&str, History> = HashMap::new();
    for (chat, read, pages) in reads {
        findings.pages += pages;
        match (read, tree(chat).trashed) {
            (Ok(Some(history)), Some(false) | None) => {
                histories.insert(&chat.chat_id, history);
            }
            (Ok(None), Some(true) | None) => {}
            (Ok(Some(_)), Some(true)) => findings.problem(format!(
                "{}: its conversation was deleted, yet it reads",
                chat.chat_id
            )),
            (Ok(None), Some(false)) => findings.problem(format!(
                "{}: acknowledged, not deleted, answers 404",
                chat.chat_id
            )),
            (Err(why), _) => findings.problem(format!("{}: {why}", chat.chat_id)),
        }
    }
    let messages = |chat_id: &str| -> &[MessageView] {
        histories
            .get(chat_id)
            .map_or(&[], |h| h.messages.as_slice())
    };

    // Each chat shows its prefix, then only messages sent to it, each once.
    let mut own_acked: HashMap<&str, usize> = HashMap::new();
    for acked in &ledger.messages {
        *own_acked.entry(&acked.chat_id).or_default() += 1;
    }
    for chat in &ledger.chats {
        let Some(history) = histories.get(chat.chat_id.as_str()) else {
            continue;
        };
        let (view, shown) = (&history.view, &history.messages);
        let own_from = chat.parent.as_ref().map_or(0, |(_, index)| index + 1);
        let mut seen = HashSet::new();
        for (i, message) in shown.iter().enumerate() {
            if !seen.insert(message.question.as_str()) {
                findings.problem(format!(
                    "{}: {:?} shown twice",
                    chat.chat_id, message.question
                ));
            }
            // Its own messages were all sent to this very chat.
            if i >= own_from && ledger.questions.get(&message.question) != Some(&chat.chat_id) {
                findings.problem(format!(
                    "{}: message {i} {:?} was never sent to it",
                    chat.chat_id, message.question
                ));
            }
        }
        let expected_len = own_from + own_acked.get(chat.chat_id.as_str()).copied().unwrap_or(0);
        if !tree(chat).uncertain && shown.len() != expected_len {
            findings.problem(format!(
                "{}: {} messages, {expected_len} acknowledged (inherited included)",
                chat.chat_id,
                shown.len()
            ));
        }
        if let Some(Some(name)) = ledger.names.get(&chat.chat_id)
            && view.name != *name
        {
            findings.problem(format!(
                "{}: named {:?}, not {name:?}",
                chat.chat_id, view.name
            ));
        }
        if view.root_chat_id != chat.root_chat_id
            || view.account_id != tokens_account(accounts, chat.account)
        {
            findings.problem(format!(
                "{}: wrong root or account in its view",
                chat.chat_id
            ));
        }
        if let Some((parent, index)) = &chat.parent {
            let prefix = |list: &[MessageView]| -> Vec<String> {
                list.iter()
                    .take(index + 1)
                    .map(|m| m.response_id.clone())
                    .collect()
            };
            let inherited = prefix(messages(parent));
            if histories.contains_key(parent.as_str())
                && (inherited.len() != index + 1 || prefix(shown) != inherited)
            {
                findings.problem(format!(
                    "branch {} does not show the first {} messages of {parent}",
                    chat.chat_id,
                    index + 1
                ));
            }
            if view.parent_chat_id.as_ref() != Some(parent)
                || view.created_from_message_index != Some(*index as i64)
            {
                findings.problem(format!("branch {}: wrong parent or index", chat.chat_id));
            }
        }
    }

    // Each acknowledged message exactly where the service said it put it.
    for acked in &ledger.messages {
        if !histories.contains_key(acked.chat_id.as_str()) {
            continue; // in the trash: checked in MongoDB below
        }
        let matches = messages(&acked.chat_id).get(acked.index).is_some_and(|m| {
            m.response_id == acked.response_id
                && m.question == acked.question
                && m.response == acked.response
        });
        if !matches {
            findings.problem(format!(
                "{}: acknowledged message {} is not at index {}",
                acked.chat_id, acked.response_id, acked.index
            ));
        }
    }

    // Exactly one active member per conversation tree: the last acknowledged choice.
    let mut members: HashMap<&str, Vec<&str>> = HashMap::new();
    for chat in &ledger.chats {
        members
            .entry(&chat.root_chat_id)
            .or_default()
            .push(&chat.chat_id);
    }
    for (root, members) in &members {
        let Some(root_view) = histories.get(root) else {
            continue;
        };
        let active: Vec<&str> = members
            .iter()
            .copied()
            .filter(|m| histories.get(m).is_some_and(|h| h.view.active))
            .collect();
        let named = &root_view.view.active_branch_id;
        let expected = &ledger.trees[*root].active;
        if active.len() != 1
            || active[0] != named
            || expected.as_ref().is_some_and(|e| e != named)
            || members.iter().any(|m| {
                histories
                    .get(m)
                    .is_some_and(|h| h.view.active_branch_id != *named)
            })
        {
            findings.problem(format!(
                "tree {root}: active members {active:?}, root names {named}, last set {expected:?}"
            ));
        }
    }

    // The lists: every live conversation exactly once, as it reads; the trash exactly the
    // deleted ones.
    let unresolved_creates = ledger
        .unresolved
        .iter()
        .filter(|u| u.endpoint == "create-chat")
        .count();
    for (index, token) in tokens.iter().enumerate() {
        let trees: HashMap<&str, &TreeRecord> = ledger
            .trees
            .iter()
            .filter(|(_, t)| t.account == index)
            .map(|(root, t)| (root.as_str(), t))
            .collect();
        check_lists(
            api,
            token,
            &trees,
            &histories,
            unresolved_creates,
            &mut findings,
        )
        .await;
    }

    search_sample(api, tokens, ledger, &histories, &mut findings).await;

    if let Err(e) = check_store(database, accounts, ledger, &mut findings).await {
        findings.problem(format!("reading MongoDB: {e}"));
    }
    findings
}

fn tokens_account(accounts: &[Arc<Account>], index: usize) -> &str {
    &accounts[index].account_id
}

/// Reads a chat's whole visible history: the default page (the newest 100), then older pages
/// with `before`; for a longer chat, once more in pages of `HISTORY_PAGE` from the end, which
/// must read the same. Checks every page's range and links. `Ok(None)` for a 404. Also
/// returns the number of pages read.
async fn read_history(
    api: &Api,
    token: &str,
    chat_id: &str,
) -> (Result<Option<History>, String>, usize) {
    let mut pages = 0;
    let result = async {
        let (first, messages) = match read_pages(api, token, chat_id, None, &mut pages).await? {
            Some(read) => read,
            None => return Ok(None),
        };
        if messages.len() > HISTORY_PAGE {
            let again = read_pages(api, token, chat_id, Some(HISTORY_PAGE), &mut pages)
                .await?
                .ok_or("answers 404 on a second read")?;
            if again.1 != messages {
                return Err(format!(
                    "paged by {HISTORY_PAGE} it reads otherwise than paged by the default"
                ));
            }
        }
        Ok(Some(History {
            view: first,
            messages,
        }))
    }
    .await;
    (result, pages)
}

/// One pass through a history from the newest page back, `limit` at a time (default: none
/// given). The first page's view and the messages, oldest first.
async fn read_pages(
    api: &Api,
    token: &str,
    chat_id: &str,
    limit: Option<usize>,
    pages: &mut usize,
) -> Result<Option<(ChatView, Vec<MessageView>)>, String> {
    let size = limit.unwrap_or(100) as i64;
    let mut before: Option<i64> = None;
    let mut first: Option<ChatView> = None;
    let mut chunks: Vec<Vec<MessageView>> = Vec::new();
    loop {
        let mut call = Call::to(Endpoint::GetChat)
            .token(token)
            .query("chat_id", chat_id);
        if let Some(limit) = limit {
            call = call.query("limit", limit);
        }
        if let Some(before) = before {
            call = call.query("before", before);
        }
        let reply = patiently(api, &call).await;
        *pages += 1;
        if reply.is(404) && first.is_none() {
            return Ok(None);
        }
        if !reply.is(200) {
            return Err(format!("get-chat answers {}", reply.describe()));
        }
        let mut view: ChatView = reply.parse()?;
        let count = view.message_count;
        let end = before.unwrap_or(count);
        let start = (end - size).max(0);
        let indexes: Vec<i64> = view.messages.iter().map(|m| m.index).collect();
        if indexes != (start..end).collect::<Vec<_>>() {
            return Err(format!(
                "page before {before:?}: indexes {indexes:?}, not {start}..{end}"
            ));
        }
        if view.has_more != (start > 0) || view.next_before != (start > 0).then_some(start) {
            return Err(format!(
                "page from {start}: has_more {}, next_before {:?}",
                view.has_more, view.next_before
            ));
        }
        if first.as_ref().is_some_and(|f| f.message_count != count) {
            return Err("message_count changed between pages".into());
        }
        chunks.push(std::mem::take(&mut view.messages));
        first.get_or_insert(view);
        if start == 0 {
            break;
        }
        before = Some(start);
    }
    let messages = chunks.into_iter().rev().flatten().collect();
    Ok(first.map(|view| (view, messages)))
}

/// One account's lists against its acknowledged conversations.
async fn check_lists(
    api: &Api,
    token: &str,
    trees: &HashMap<&str, &TreeRecord>,
    histories: &HashMap<&str, History>,
    unresolved_creates: usize,
    findings: &mut Findings,
) {
    let mut listed: HashMap<String, ConversationView> = HashMap::new();
    let mut unknown = 0;
    for archived in [false, true] {
        let query = [("archived", archived.to_string())];
        let Some(items) = list_all(api, token, Endpoint::ListChats, &query, findings).await else {
            return;
        };
        for item in items {
            if item.archived != archived {
                findings.problem(format!("{} listed with archived={archived}", item.chat_id));
            }
            if !trees.contains_key(item.chat_id.as_str()) {
                unknown += 1;
                continue;
            }
            if let Some(first) = listed.insert(item.chat_id.clone(), item) {
                findings.problem(format!("{} listed twice", first.chat_id));
            }
        }
    }
    if unknown > unresolved_creates {
        findings.problem(format!(
            "{unknown} conversations listed that were never acknowledged"
        ));
    }
    // The pinned filter: exactly the pinned ones among the unarchived.
    let query = [("pinned", "true".to_owned())];
    if let Some(pinned) = list_all(api, token, Endpoint::ListChats, &query, findings).await {
        let got: HashSet<&str> = pinned.iter().map(|c| c.chat_id.as_str()).collect();
        let expected: HashSet<&str> = listed
            .values()
            .filter(|c| c.pinned && !c.archived)
            .map(|c| c.chat_id.as_str())
            .collect();
        if got.len() != pinned.len() || got != expected {
            findings.problem(format!(
                "pinned=true lists {} conversations, {} expected",
                pinned.len(),
                expected.len()
            ));
        }
    }
    for (root, tree) in trees {
        let item = listed.get(*root);
        match (tree.trashed, item) {
            (Some(false), None) => {
                findings.problem(format!("{root}: live, not in list-chats"));
                continue;
            }
            (Some(true), Some(_)) => {
                findings.problem(format!("{root}: deleted, yet in list-chats"));
                continue;
            }
            _ => {}
        }
        let Some(item) = item else {
            continue;
        };
        findings.listed += 1;
        let mut wrong = Vec::new();
        if tree.title.as_ref().is_some_and(|t| *t != item.name) {
            wrong.push(format!("name {:?}, expected {:?}", item.name, tree.title));
        }
        if tree
            .active
            .as_ref()
            .is_some_and(|a| *a != item.active_branch_id)
        {
            wrong.push(format!(
                "active {}, expected {:?}",
                item.active_branch_id, tree.active
            ));
        }
        if tree.pinned.is_some_and(|p| p != item.pinned) {
            wrong.push(format!("pinned {}", item.pinned));
        }
        if tree.archived.is_some_and(|a| a != item.archived) {
            wrong.push(format!("archived {}", item.archived));
        }
        if !tree.uncertain && item.branch_count != tree.branches as i64 {
            wrong.push(format!(
                "branch_count {}, {} created",
                item.branch_count, tree.branches
            ));
        }
        if item.deleted_at.is_some() || item.purge_at.is_some() || item.updated_at < item.created_at
        {
            wrong.push("deleted_at, purge_at or updated_at".into());
        }
        // The count and preview are the active member's, as get-chat reads it.
        match histories.get(item.active_branch_id.as_str()) {
            Some(active) => {
                let length = active.messages.len() as i64;
                if item.message_count != length || active.view.message_count != length {
                    wrong.push(format!(
                        "message_count {}, the active member shows {length}",
                        item.message_count
                    ));
                }
                let preview = active
                    .messages
                    .last()
                    .map(|m| shared::messages::preview(&m.question));
                if item.preview != preview {
                    wrong.push(format!("preview {:?}, expected {preview:?}", item.preview));
                }
            }
            None => wrong.push(format!("active member {} not read", item.active_branch_id)),
        }
        if !wrong.is_empty() {
            findings.problem(format!("list-chats {root}: {}", wrong.join("; ")));
        }
    }

    // The trash: each deleted conversation once, nothing else.
    let Some(trash) = list_all(api, token, Endpoint::ListDeleted, &[], findings).await else {
        return;
    };
    let mut seen = HashSet::new();
    for item in &trash {
        findings.in_trash += 1;
        if !seen.insert(item.chat_id.as_str()) {
            findings.problem(format!("{} twice in the trash", item.chat_id));
        }
        match trees.get(item.chat_id.as_str()) {
            Some(tree) if tree.trashed != Some(false) => {}
            Some(_) => findings.problem(format!("{}: restored, yet in the trash", item.chat_id)),
            None => findings.problem(format!(
                "{}: in the trash, never acknowledged",
                item.chat_id
            )),
        }
        if item.deleted_at.is_none() || item.purge_at.is_none() {
            findings.problem(format!("{}: in the trash without its dates", item.chat_id));
        }
    }
    for (root, tree) in trees {
        if tree.trashed == Some(true) && !seen.contains(root) {
            findings.problem(format!("{root}: deleted, not in list-deleted"));
        }
    }
}

/// Every item of a list, page by page.
async fn list_all(
    api: &Api,
    token: &str,
    endpoint: Endpoint,
    query: &[(&str, String)],
    findings: &mut Findings,
) -> Option<Vec<ConversationView>> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut call = Call::to(endpoint).token(token).query("limit", LIST_PAGE);
        for (name, value) in query {
            call = call.query(name, value);
        }
        if let Some(cursor) = &cursor {
            call = call.query("cursor", cursor);
        }
        let reply = patiently(api, &call).await;
        let page = match reply
            .is(200)
            .then(|| reply.parse::<Page<ConversationView>>())
        {
            Some(Ok(page)) => page,
            Some(Err(why)) => {
                findings.problem(why);
                return None;
            }
            None => {
                findings.problem(format!("{endpoint:?} answers {}", reply.describe()));
                return None;
            }
        };
        if page.items.len() > LIST_PAGE {
            findings.problem(format!(
                "{endpoint:?}: {} items on a page",
                page.items.len()
            ));
        }
        items.extend(page.items);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return Some(items),
        }
    }
}

/// Acknowledged messages found by the word only they hold: once, where they are stored, with
/// every live member that shows them; none from the trash.
async fn search_sample(
    api: &Api,
    tokens: &[String],
    ledger: &Ledger,
    histories: &HashMap<&str, History>,
    findings: &mut Findings,
) {
    let chats: HashMap<&str, &ChatRecord> = ledger
        .chats
        .iter()
        .map(|c| (c.chat_id.as_str(), c))
        .collect();
    let step = (ledger.messages.len() / SEARCH_SAMPLE).max(1);
    for acked in ledger.messages.iter().step_by(step) {
        let chat = chats[acked.chat_id.as_str()];
        let tree = &ledger.trees[&chat.root_chat_id];
        let call = Call::to(Endpoint::SearchMessages)
            .token(&tokens[chat.account])
            .query("q", &acked.tag);
        let reply = patiently(api, &call).await;
        let page: Page<SearchHit> = match reply.is(200).then(|| reply.parse()) {
            Some(Ok(page)) => page,
            Some(Err(why)) => {
                findings.problem(why);
                continue;
            }
            None => {
                findings.problem(format!("search {:?}: {}", acked.tag, reply.describe()));
                continue;
            }
        };
        findings.searched += 1;
        let hits: Vec<&SearchHit> = page.items.iter().collect();
        match tree.trashed {
            Some(true) if !hits.is_empty() => {
                findings.problem(format!(
                    "search {:?} finds a message in the trash",
                    acked.tag
                ));
            }
            Some(false) => {
                // Every read member whose history shows this message at this index.
                let mut showing: Vec<&str> = ledger
                    .chats
                    .iter()
                    .filter(|c| c.root_chat_id == chat.root_chat_id)
                    .filter(|c| {
                        histories.get(c.chat_id.as_str()).is_some_and(|h| {
                            h.messages
                                .get(acked.index)
                                .is_some_and(|m| m.response_id == acked.response_id)
                        })
                    })
                    .map(|c| c.chat_id.as_str())
                    .collect();
                showing.sort();
                let fits = |hit: &SearchHit| {
                    let mut shown: Vec<&str> = hit.shown_in.iter().map(String::as_str).collect();
                    shown.sort();
                    hit.chat_id == acked.chat_id
                        && hit.index == Some(acked.index as i64)
                        && hit.root_chat_id == chat.root_chat_id
                        && hit.shown_in.first() == Some(&acked.chat_id)
                        && (tree.uncertain || shown == showing)
                };
                if hits.len() != 1 || !fits(hits[0]) {
                    findings.problem(format!(
                        "search {:?}: {} hits, expected one in {} at {} shown in {showing:?}: {:?}",
                        acked.tag,
                        hits.len(),
                        acked.chat_id,
                        acked.index,
                        hits.iter()
                            .map(|h| (&h.chat_id, h.index, &h.shown_in))
                            .collect::<Vec<_>>()
                    ));
                }
            }
            _ => {}
        }
    }
}

/// Straight from MongoDB: every stored message is an acknowledged one, stored once, where its
/// answer said (or one of the unresolved writes); every acknowledged message is stored; every
/// chat's own messages sit at positions `start..message_count`, each once (`start` is 0 for a
/// root and `created_from_message_index + 1` for a branch); every chat, conversation and
/// idempotency key stored belongs to an acknowledged write.
async fn check_store(
    database: &mongodb::Database,
    accounts: &[Arc<Account>],
    ledger: &Ledger,
    findings: &mut Findings,
) -> mongodb::error::Result<()> {
    let account_ids: Vec<&str> = accounts.iter().map(|a| a.account_id.as_str()).collect();
    let ours = doc! { "account_id": { "$in": &account_ids } };
    let unresolved = |endpoint: &str| {
        ledger
            .unresolved
            .iter()
            .filter(|u| u.endpoint == endpoint)
            .count()
    };

    // Messages.
    let acked: HashMap<&str, &crate::workload::AckedMessage> = ledger
        .messages
        .iter()
        .map(|m| (m.response_id.as_str(), m))
        .collect();
    let unresolved_questions: HashSet<&str> = ledger
        .unresolved
        .iter()
        .filter_map(|u| u.question.as_deref())
        .collect();
    let mut stored_questions: HashMap<String, usize> = HashMap::new();
    let mut found: HashSet<String> = HashSet::new();
    let mut positions: HashMap<String, Vec<i64>> = HashMap::new();
    let mut cursor = database
        .collection::<Document>("messages")
        .find(ours.clone())
        .projection(doc! { "chat_id": 1, "position": 1, "response_id": 1, "question": 1 })
        .await?;
    while let Some(message) = cursor.try_next().await? {
        findings.stored_messages += 1;
        let chat_id = message.get_str("chat_id").unwrap_or_default().to_owned();
        let position = message.get_i64("position").unwrap_or(-1);
        let response_id = message.get_str("response_id").unwrap_or_default();
        let question = message.get_str("question").unwrap_or_default();
        *stored_questions.entry(question.to_owned()).or_default() += 1;
        positions.entry(chat_id.clone()).or_default().push(position);
        if ledger.questions.get(question) != Some(&chat_id) {
            findings.problem(format!(
                "stored message {question:?} in {chat_id} was never sent there"
            ));
        }
        match acked.get(response_id) {
            Some(a) if a.chat_id == chat_id && a.index as i64 == position => {
                found.insert(response_id.to_owned());
            }
            Some(a) => findings.problem(format!(
                "acknowledged message {response_id} stored in {chat_id} at {position}, answered {} at {}",
                a.chat_id, a.index
            )),
            None if unresolved_questions.contains(question) => findings.unresolved_stored += 1,
            None => findings.problem(format!(
                "{chat_id}: message {question:?} at {position} stored without acknowledgement"
            )),
        }
    }
    for (question, count) in &stored_questions {
        if *count > 1 {
            findings.problem(format!("{question:?} stored {count} times (a duplicate)"));
        }
    }
    for message in &ledger.messages {
        if !found.contains(&message.response_id) {
            findings.problem(format!(
                "{}: acknowledged message {} not stored",
                message.chat_id, message.response_id
            ));
        }
    }

    // Chats: acknowledged ones, dense positions matching their counters.
    let known: HashMap<&str, &ChatRecord> = ledger
        .chats
        .iter()
        .map(|c| (c.chat_id.as_str(), c))
        .collect();
    let mut unknown_chats = 0;
    let mut chats = database
        .collection::<Document>("chats")
        .find(ours.clone())
        .await?;
    while let Some(chat) = chats.try_next().await? {
        let chat_id = chat.get_str("chat_id").unwrap_or_default();
        match known.get(chat_id) {
            Some(record)
                if chat.get_str("account_id").ok()
                    == Some(&accounts[record.account].account_id) => {}
            Some(_) => findings.problem(format!("chat {chat_id} stored under another account")),
            None => unknown_chats += 1,
        }
        let start = chat
            .get_i64("created_from_message_index")
            .map_or(0, |i| i + 1);
        let count = chat.get_i64("message_count").unwrap_or(-1);
        let mut stored = positions.remove(chat_id).unwrap_or_default();
        stored.sort_unstable();
        if stored != (start..count).collect::<Vec<_>>() {
            findings.problem(format!(
                "chat {chat_id}: positions {}..={} ({} messages), counter says {start}..{count}",
                stored.first().unwrap_or(&-1),
                stored.last().unwrap_or(&-1),
                stored.len()
            ));
        }
    }
    if unknown_chats > unresolved("create-chat") + unresolved("create-branch") {
        findings.problem(format!(
            "{unknown_chats} chats stored that were never acknowledged"
        ));
    }
    for (chat_id, stored) in positions {
        findings.problem(format!(
            "{} messages stored in {chat_id}, which is no chat",
            stored.len()
        ));
    }

    // Conversations: acknowledged ones, in the trash or not as last acknowledged, with their
    // branch counts (the live ones were also checked through list-chats).
    let mut unknown_trees = 0;
    let mut conversations = database
        .collection::<Document>("conversations")
        .find(ours.clone())
        .await?;
    while let Some(conversation) = conversations.try_next().await? {
        let root = conversation.get_str("_id").unwrap_or_default();
        let Some(tree) = ledger.trees.get(root) else {
            unknown_trees += 1;
            continue;
        };
        let trashed = conversation.get_bool("trashed").unwrap_or(false);
        if tree.trashed.is_some_and(|t| t != trashed) {
            findings.problem(format!(
                "conversation {root}: trashed {trashed}, expected {:?}",
                tree.trashed
            ));
        }
        let branches = conversation.get_i64("branch_count").unwrap_or(-1);
        if !tree.uncertain && branches != tree.branches as i64 {
            findings.problem(format!(
                "conversation {root}: branch_count {branches}, {} created",
                tree.branches
            ));
        }
    }
    if unknown_trees > unresolved("create-chat") {
        findings.problem(format!(
            "{unknown_trees} conversations stored that were never acknowledged"
        ));
    }

    // Idempotency keys: one per acknowledged creating write, stored with it.
    let keyed = ledger.chats.len() + ledger.messages.len();
    let keys = database
        .collection::<Document>("idempotency_keys")
        .count_documents(doc! { "_id.account_id": { "$in": &account_ids } })
        .await? as usize;
    let allowance =
        unresolved("create-chat") + unresolved("create-branch") + unresolved("add-message");
    if keys < keyed || keys > keyed + allowance {
        findings.problem(format!(
            "{keys} idempotency keys stored for {keyed} acknowledged creating writes"
        ));
    }
    Ok(())
}

/// The first answer that is neither a 503 nor missing (MongoDB may still be settling after
/// the last fault).
async fn patiently(api: &Api, call: &Call) -> Reply {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let reply = api.send(call).await;
        if !(reply.is_unavailable() || reply.status.is_none()) || Instant::now() > deadline {
            return reply;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
