//! After the load: does the service hold exactly what it acknowledged? Read back through the
//! API (what a user sees: every chat paged through with `before`, the conversation lists, the
//! trash, search, the imported conversations' exports) and straight from MongoDB (every
//! stored message, exactly once, where the model says it is stored, at dense positions, and
//! nothing that was not acknowledged).
//!
//! What each chat must show comes from the load's model (`model`): its history is a sequence
//! of slots, each filled by one acknowledged message; promotions, edits, forks and branch
//! deletions changed the model as the README says they change the conversation.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{StreamExt, TryStreamExt, stream};
use mongodb::bson::{Document, doc};
use shared::Endpoint;
use shared::exports::GptConversation;
use shared::views::{ChatView, ConversationView, MessageView, Page, SearchHit, TreeView};

use crate::api::{Api, Call, Reply};
use crate::model::{Slot, Storage};
use crate::trees::Shape;
use crate::workload::{Account, AckedMessage, Known, Ledger, Origin, TreeRecord};

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
    /// Chats whose whole history was checked slot by slot against the model, and branches
    /// that answer 404 because a branch deletion put them in the trash.
    pub modelled: usize,
    pub deleted_branches: usize,
    /// Imported conversations, and their chats, checked against the export they came from.
    pub imported: usize,
    pub imported_chats: usize,
}

impl Findings {
    fn problem(&mut self, problem: String) {
        if self.problems.len() < 1000 {
            self.problems.push(problem);
        }
    }
}

/// A chat to read back: acknowledged, or found in an imported conversation.
struct Chat {
    account: usize,
    chat_id: String,
    root: String,
    imported: bool,
}

/// A chat read back (`None`: it answers 404), or why not; and the pages read.
type ReadBack<'a> = (&'a Chat, Result<Option<History>, String>, usize);

/// A chat as read back: its first (newest) page's view, and its whole history.
struct History {
    view: ChatView,
    messages: Vec<MessageView>,
}

/// The load's model, every account's together.
struct Model<'a> {
    chats: HashMap<String, Known>,
    /// Where each conversation stores its messages.
    storage: HashMap<String, Storage>,
    /// Acknowledged messages by slot and by response id.
    slots: HashMap<Slot, &'a AckedMessage>,
    by_response: HashMap<&'a str, &'a AckedMessage>,
}

impl<'a> Model<'a> {
    fn new(accounts: &[Arc<Account>], ledger: &'a Ledger) -> Self {
        let mut chats = HashMap::new();
        let mut storage = HashMap::new();
        for account in accounts {
            let (known, stores) = account.model();
            chats.extend(known.into_iter().map(|k| (k.chat_id.clone(), k)));
            storage.extend(stores);
        }
        Self {
            chats,
            storage,
            slots: ledger
                .messages
                .iter()
                .map(|m| ((m.src.clone(), m.index), m))
                .collect(),
            by_response: ledger
                .messages
                .iter()
                .map(|m| (m.response_id.as_str(), m))
                .collect(),
        }
    }

    /// The chat that stores an acknowledged message.
    fn holder(&self, message: &AckedMessage) -> Option<String> {
        let root = &self.chats.get(&message.chat_id)?.root;
        let slot = (message.src.clone(), message.index);
        Some(self.storage.get(root)?.holder(&slot))
    }

    /// The message in the slot a copy or regeneration came from.
    fn source(&self, message: &AckedMessage) -> Option<&'a AckedMessage> {
        match &message.origin {
            Origin::Copied(slot) | Origin::Regenerated(slot) => self.slots.get(slot).copied(),
            _ => None,
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
        trees: ledger.trees.len(),
        trashed_trees: ledger
            .trees
            .values()
            .filter(|t| t.trashed == Some(true))
            .count(),
        acked_messages: ledger.messages.len(),
        unresolved: ledger.unresolved.len(),
        uncertain_trees: ledger.trees.values().filter(|t| t.uncertain).count(),
        imported: ledger.imports.len(),
        ..Findings::default()
    };
    let mut tokens = Vec::new();
    for account in accounts {
        let call = Call::to(Endpoint::Login).json(&account.credentials());
        tokens.push(patiently(api, &call).await.str("access_token"));
    }
    let tokens = &tokens;
    let model = Model::new(accounts, ledger);
    let tree = |root: &str| &ledger.trees[root];

    // Every acknowledged chat and branch, and every member of the imported conversations.
    let mut chats: Vec<Chat> = ledger
        .chats
        .iter()
        .map(|c| Chat {
            account: c.account,
            chat_id: c.chat_id.clone(),
            root: c.root_chat_id.clone(),
            imported: tree(&c.root_chat_id).imported,
        })
        .collect();
    for import in &ledger.imports {
        let call = Call::to(Endpoint::GetTree)
            .token(&tokens[import.account])
            .query("chat_id", &import.root);
        let reply = patiently(api, &call).await;
        match reply.is(200).then(|| reply.parse::<TreeView>()) {
            Some(Ok(view)) => chats.extend(
                view.members
                    .into_iter()
                    .filter(|m| m.chat_id != import.root)
                    .map(|m| Chat {
                        account: import.account,
                        chat_id: m.chat_id,
                        root: import.root.clone(),
                        imported: true,
                    }),
            ),
            _ => findings.problem(format!(
                "imported {}: get-tree answers {}",
                import.root,
                reply.describe()
            )),
        }
    }
    findings.imported_chats = chats.iter().filter(|c| c.imported).count();

    // Every chat as its owner sees it: the live ones page by page; those in the trash (with
    // their conversation, or by a branch deletion) answer 404.
    let reads: Vec<ReadBack> = stream::iter(&chats)
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
        let removed = model
            .chats
            .get(&chat.chat_id)
            .is_some_and(|k| k.removed.is_some());
        let gone = match tree(&chat.root).trashed {
            Some(true) => Some(true),
            Some(false) => Some(removed),
            None => None,
        };
        match (read, gone) {
            (Ok(Some(history)), Some(false) | None) => {
                histories.insert(&chat.chat_id, history);
            }
            (Ok(None), Some(true) | None) => findings.deleted_branches += removed as usize,
            (Ok(Some(_)), Some(true)) => findings.problem(format!(
                "{}: deleted (its conversation or by a branch deletion), yet it reads",
                chat.chat_id
            )),
            (Ok(None), Some(false)) => findings.problem(format!(
                "{}: acknowledged, not deleted, answers 404",
                chat.chat_id
            )),
            (Err(why), _) => findings.problem(format!("{}: {why}", chat.chat_id)),
        }
    }

    // Each chat shows exactly the slots the model gives it, each filled by its acknowledged
    // message; its parent and cut are the model's.
    let mut own_acked: HashMap<&str, usize> = HashMap::new();
    for acked in &ledger.messages {
        *own_acked.entry(&acked.src).or_default() += 1;
    }
    for chat in chats.iter().filter(|c| !c.imported) {
        let Some(history) = histories.get(chat.chat_id.as_str()) else {
            continue;
        };
        let Some(known) = model.chats.get(&chat.chat_id) else {
            findings.problem(format!("{}: acknowledged, not in the model", chat.chat_id));
            continue;
        };
        let uncertain = tree(&chat.root).uncertain;
        let (view, shown) = (&history.view, &history.messages);
        let own = &known.history;
        let expected_len = own.own_from + own_acked.get(own.src.as_str()).copied().unwrap_or(0);
        if !uncertain && shown.len() != expected_len {
            findings.problem(format!(
                "{}: {} messages, the model has {expected_len} (inherited included)",
                chat.chat_id,
                shown.len()
            ));
        }
        let mut seen = HashSet::new();
        for (i, message) in shown.iter().enumerate() {
            if !seen.insert(message.response_id.as_str()) {
                findings.problem(format!(
                    "{}: {:?} shown twice",
                    chat.chat_id, message.question
                ));
            }
            let slot = own.slot(i);
            match model.slots.get(&slot) {
                Some(acked)
                    if acked.response_id == message.response_id
                        && acked.question == message.question
                        && acked.response == message.response => {}
                Some(acked) => findings.problem(format!(
                    "{}: message {i} is {:?} ({}), the model has {:?} ({}) from {} there",
                    chat.chat_id,
                    message.question,
                    message.response_id,
                    acked.question,
                    acked.response_id,
                    acked.chat_id
                )),
                None if uncertain => {}
                None => findings.problem(format!(
                    "{}: message {i} {:?} fills slot {slot:?}, which no acknowledged write filled",
                    chat.chat_id, message.question
                )),
            }
        }
        if !uncertain && shown.len() == expected_len {
            findings.modelled += 1;
        }
        if let Some(Some(name)) = ledger.names.get(&chat.chat_id)
            && view.name != *name
        {
            findings.problem(format!(
                "{}: named {:?}, not {name:?}",
                chat.chat_id, view.name
            ));
        }
        if view.root_chat_id != chat.root || view.account_id != accounts[chat.account].account_id {
            findings.problem(format!(
                "{}: wrong root or account in its view",
                chat.chat_id
            ));
        }
        let parent = known.parent.as_ref();
        if view.parent_chat_id.as_ref() != parent.map(|(p, _)| p)
            || view.created_from_message_index != parent.map(|(_, cut)| *cut)
        {
            findings.problem(format!(
                "{}: parent {:?} at {:?}, the model has {parent:?}",
                chat.chat_id, view.parent_chat_id, view.created_from_message_index
            ));
        }
    }

    // Copies hold their source's text (with ids of their own); regenerations its question.
    for message in &ledger.messages {
        let Some(source) = model.source(message) else {
            continue;
        };
        let wrong = match message.origin {
            Origin::Copied(_) => {
                message.question != source.question
                    || message.response != source.response
                    || message.response_id == source.response_id
            }
            _ => message.question != source.question,
        };
        if wrong {
            findings.problem(format!(
                "{} at {}: {:?} / {:?} is no {:?} of {:?} / {:?}",
                message.chat_id,
                message.index,
                message.question,
                message.response,
                message.origin,
                source.question,
                source.response
            ));
        }
    }

    // Exactly one active member per conversation tree: the last acknowledged choice.
    let mut members: HashMap<&str, Vec<&str>> = HashMap::new();
    for chat in &chats {
        members.entry(&chat.root).or_default().push(&chat.chat_id);
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
        let expected = &tree(root).active;
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

    // Imported conversations export as the export they were made of.
    for import in &ledger.imports {
        let call = Call::to(Endpoint::ExportChat)
            .token(&tokens[import.account])
            .query("chat_id", &import.root);
        let reply = patiently(api, &call).await;
        let shape = reply
            .parse::<GptConversation>()
            .and_then(|export| Shape::of(&export));
        if !reply.is(200) || shape.as_ref().ok() != Some(&import.shape) {
            findings.problem(format!(
                "imported {} exports as {shape:?}, not as its source {:?}",
                import.root, import.shape
            ));
        }
    }

    // The lists: every live conversation exactly once, as it reads; the trash exactly the
    // deleted ones.
    let unresolved_creates = ledger
        .unresolved
        .iter()
        .filter(|u| matches!(u.endpoint, "create-chat" | "fork-chat" | "import-chats"))
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

    search_sample(api, tokens, ledger, &model, &histories, &mut findings).await;

    if let Err(e) = check_store(database, accounts, ledger, &model, &chats, &mut findings).await {
        findings.problem(format!("reading MongoDB: {e}"));
    }
    findings
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

/// Acknowledged messages found by the word only they hold: once, in the chat that stores them,
/// with every live member that shows them; none from the trash (or from a deleted branch).
/// Messages whose word other stored messages share (copied by a fork or an import, or
/// regenerated) are left out.
async fn search_sample(
    api: &Api,
    tokens: &[String],
    ledger: &Ledger,
    model: &Model<'_>,
    histories: &HashMap<&str, History>,
    findings: &mut Findings,
) {
    let mut shared_tags: HashSet<&str> = ledger
        .messages
        .iter()
        .filter_map(|m| model.source(m))
        .map(|m| m.tag.as_str())
        .collect();
    let imported: HashSet<&str> = ledger
        .imports
        .iter()
        .flat_map(|i| i.questions.iter().map(String::as_str))
        .collect();
    for message in &ledger.messages {
        if imported.contains(message.question.as_str()) {
            shared_tags.insert(&message.tag);
        }
    }
    let sample: Vec<&AckedMessage> = ledger
        .messages
        .iter()
        .filter(|m| !m.tag.is_empty() && !shared_tags.contains(m.tag.as_str()))
        .collect();
    let step = (sample.len() / SEARCH_SAMPLE).max(1);
    for acked in sample.into_iter().step_by(step) {
        let Some(known) = model.chats.get(&acked.chat_id) else {
            continue;
        };
        let root = &known.root;
        let tree = &ledger.trees[root];
        let call = Call::to(Endpoint::SearchMessages)
            .token(&tokens[tree.account])
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
        let holder = model.holder(acked).unwrap_or_default();
        let holder_live = model
            .chats
            .get(&holder)
            .is_some_and(|k| k.removed.is_none());
        match tree.trashed {
            Some(true) if !hits.is_empty() => {
                findings.problem(format!(
                    "search {:?} finds a message in the trash",
                    acked.tag
                ));
            }
            Some(false) if !holder_live && !hits.is_empty() => {
                findings.problem(format!(
                    "search {:?} finds a message of a deleted branch: {:?}",
                    acked.tag,
                    hits.iter().map(|h| &h.chat_id).collect::<Vec<_>>()
                ));
            }
            Some(false) if holder_live => {
                // Every read member whose history shows this message at this index.
                let mut showing: Vec<&str> = histories
                    .iter()
                    .filter(|(_, h)| {
                        h.view.root_chat_id == *root
                            && h.messages
                                .get(acked.index)
                                .is_some_and(|m| m.response_id == acked.response_id)
                    })
                    .map(|(chat, _)| *chat)
                    .collect();
                showing.sort();
                let fits = |hit: &SearchHit| {
                    let mut shown: Vec<&str> = hit.shown_in.iter().map(String::as_str).collect();
                    shown.sort();
                    hit.chat_id == holder
                        && hit.index == Some(acked.index as i64)
                        && hit.root_chat_id == *root
                        && hit.shown_in.first() == Some(&holder)
                        && (tree.uncertain || shown == showing)
                };
                if hits.len() != 1 || !fits(hits[0]) {
                    findings.problem(format!(
                        "search {:?}: {} hits, expected one in {holder} at {} shown in {showing:?}: {:?}",
                        acked.tag,
                        hits.len(),
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

/// Straight from MongoDB: every stored message is an acknowledged one, stored once, at the
/// index its answer said, in the chat the model says holds it (or one of the unresolved
/// writes); every acknowledged message is stored; no question is stored more often than
/// acknowledged writes put it there (no duplicate); every chat's own messages sit at dense
/// positions `start..message_count`, each once, where `start` follows its lineage (0 with
/// none, else one past the last position it takes from other chats: a branch starts after its
/// cut until a promote moves what it holds); every chat, conversation and idempotency key
/// stored belongs to an acknowledged write. Imported conversations store exactly a message per
/// user node of the export they came from.
async fn check_store(
    database: &mongodb::Database,
    accounts: &[Arc<Account>],
    ledger: &Ledger,
    model: &Model<'_>,
    chats: &[Chat],
    findings: &mut Findings,
) -> mongodb::error::Result<()> {
    let account_ids: Vec<&str> = accounts.iter().map(|a| a.account_id.as_str()).collect();
    let ours = doc! { "account_id": { "$in": &account_ids } };
    let unresolved = |endpoints: &[&str]| {
        ledger
            .unresolved
            .iter()
            .filter(|u| endpoints.contains(&u.endpoint))
            .count()
    };
    let imported: HashMap<&str, &str> = chats
        .iter()
        .filter(|c| c.imported)
        .map(|c| (c.chat_id.as_str(), c.root.as_str()))
        .collect();

    // Messages.
    let unresolved_questions: HashSet<&str> = ledger
        .unresolved
        .iter()
        .filter_map(|u| u.question.as_deref())
        .collect();
    let mut acked_questions: HashMap<&str, usize> = HashMap::new();
    for message in &ledger.messages {
        *acked_questions.entry(&message.question).or_default() += 1;
    }
    let mut stored_questions: HashMap<String, usize> = HashMap::new();
    let mut imported_stored: HashMap<&str, usize> = HashMap::new();
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
        positions.entry(chat_id.clone()).or_default().push(position);
        if let Some(root) = imported.get(chat_id.as_str()) {
            *imported_stored.entry(root).or_default() += 1;
            continue;
        }
        *stored_questions.entry(question.to_owned()).or_default() += 1;
        match model.by_response.get(response_id) {
            Some(a) => {
                let holder = model.holder(a).unwrap_or_default();
                if holder == chat_id && a.index as i64 == position {
                    found.insert(response_id.to_owned());
                } else {
                    findings.problem(format!(
                        "acknowledged message {response_id} ({:?}) stored in {chat_id} at \
                         {position}; the model has it in {holder} at {}",
                        a.question, a.index
                    ));
                }
            }
            None if unresolved_questions.contains(question) => findings.unresolved_stored += 1,
            None if !model.chats.contains_key(&chat_id) => {} // an unresolved write's chat
            None => findings.problem(format!(
                "{chat_id}: message {question:?} at {position} stored without acknowledgement"
            )),
        }
    }
    for (question, count) in &stored_questions {
        let acked = acked_questions.get(question.as_str()).copied().unwrap_or(0);
        let allowed = acked + unresolved_questions.contains(question.as_str()) as usize;
        if *count > allowed.max(1) {
            findings.problem(format!(
                "{question:?} stored {count} times, written {acked} times (a duplicate)"
            ));
        }
    }
    for message in &ledger.messages {
        if !found.contains(&message.response_id) {
            findings.problem(format!(
                "{}: acknowledged message {} ({:?}) not stored",
                message.chat_id, message.response_id, message.question
            ));
        }
    }
    for import in &ledger.imports {
        let stored = imported_stored
            .get(import.root.as_str())
            .copied()
            .unwrap_or(0);
        if stored != import.shape.user_nodes {
            findings.problem(format!(
                "imported {}: {stored} messages stored, its export has {} user nodes",
                import.root, import.shape.user_nodes
            ));
        }
    }

    // Chats: acknowledged ones, dense positions matching their counters and lineages.
    let mut unknown_chats = 0;
    let mut chat_docs = database
        .collection::<Document>("chats")
        .find(ours.clone())
        .await?;
    while let Some(chat) = chat_docs.try_next().await? {
        let chat_id = chat.get_str("chat_id").unwrap_or_default();
        let account = chat.get_str("account_id").unwrap_or_default();
        let owner = match (model.chats.get(chat_id), imported.get(chat_id)) {
            (Some(known), _) => ledger.trees.get(&known.root).map(|t| t.account),
            (None, Some(root)) => ledger.trees.get(*root).map(|t| t.account),
            (None, None) => {
                unknown_chats += 1;
                None
            }
        };
        if owner.is_some_and(|i| accounts[i].account_id != account) {
            findings.problem(format!("chat {chat_id} stored under another account"));
        }
        let start = chat
            .get_array("lineage")
            .ok()
            .and_then(|l| l.last())
            .and_then(|s| s.as_document())
            .and_then(|s| s.get_i64("upto").ok())
            .map_or(0, |upto| upto + 1);
        let count = chat.get_i64("message_count").unwrap_or(-1);
        let mut stored = positions.remove(chat_id).unwrap_or_default();
        stored.sort_unstable();
        if stored != (start..count).collect::<Vec<_>>() {
            findings.problem(format!(
                "chat {chat_id}: positions {}..={} ({} messages), counter and lineage say \
                 {start}..{count}",
                stored.first().unwrap_or(&-1),
                stored.last().unwrap_or(&-1),
                stored.len()
            ));
        }
    }
    let creating = [
        "create-chat",
        "create-branch",
        "edit-message",
        "regenerate-message",
        "fork-chat",
    ];
    if unknown_chats > unresolved(&creating) && unresolved(&["import-chats"]) == 0 {
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
                "conversation {root}: branch_count {branches}, {} expected",
                tree.branches
            ));
        }
    }
    if unknown_trees > unresolved(&["create-chat", "fork-chat", "import-chats"]) {
        findings.problem(format!(
            "{unknown_trees} conversations stored that were never acknowledged"
        ));
    }

    // Idempotency keys: one per acknowledged creating write, stored with it.
    let keys = database
        .collection::<Document>("idempotency_keys")
        .count_documents(doc! { "_id.account_id": { "$in": &account_ids } })
        .await? as usize;
    let allowance = unresolved(&creating) + unresolved(&["add-message", "import-chats"]);
    if keys < ledger.keyed || keys > ledger.keyed + allowance {
        findings.problem(format!(
            "{keys} idempotency keys stored for {} acknowledged creating writes",
            ledger.keyed
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
