//! The tree operations in the load: get-tree, edit and regenerate, delete/restore/prune
//! branches, promote, compare, fork, export and import. Each checks its answer against the
//! model on the spot and changes the model as the README says the operation changes the
//! conversation; the verifier checks the end state.
//!
//! What must not race, and why:
//! - delete-branch, restore-branch, prune-branches and promote-branch take the conversation's
//!   turn (like set-active, update and delete-chat), so the model applies them one at a time,
//!   in the order the service did.
//! - While one runs, only the members whose history it changes take no new requests, and it
//!   waits for those under way (`Freeze`): for a delete-branch the deleted subtree, for a
//!   promote the root (its history changes) and the branch (what the root will show).
//!   Appends, branches and reads everywhere else race with it — also on the members whose
//!   stored messages the promote moves and whose lineage it rewrites, which must read the
//!   same throughout (bench/examples/branch_during_promote.rs and read_during_promote.rs
//!   reproduce the races the load test found there, since fixed).
//! - prune-branches, get-tree and export-chat freeze the whole conversation: their answers
//!   are checked exactly, counts included.
//! - edit-message and regenerate-message take the turn (they change the active member) and
//!   race with appends and branches.

use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use shared::Endpoint;
use shared::exports::{GptConversation, ImportedView};
use shared::requests::{EditMessage, ForkChat, Regeneration};
use shared::views::{BranchDeletionView, ChatView, ComparisonView, PromotionView, TreeView};

use crate::api::{Call, Reply};
use crate::model::{self, Member};
use crate::workload::{
    Account, AckedMessage, ChatRecord, Client, Deletion, Freeze, ImportRecord, Kind, Known, Origin,
    Phase, TOPICS, Turn, Written,
};

/// Members whose get-chat pages are kept before a branch deletion, to compare after a restore.
const DELETION_SNAPSHOT: usize = 2;
/// The suffix promote-branch gives the old main line's name.
const OLD_MAIN_SUFFIX: &str = " (main line before promoting)";

/// Counts a request that may store messages in chats the account does not know yet, until
/// dropped.
struct Unsettled(Arc<Account>);

impl Unsettled {
    fn new(client: &Client) -> Self {
        client.account.state.lock().unwrap().unsettled += 1;
        Self(client.account.clone())
    }
}

impl Drop for Unsettled {
    fn drop(&mut self) {
        self.0.state.lock().unwrap().unsettled -= 1;
    }
}

/// How a tree operation (sent once: it is not idempotent) ended.
enum Sent {
    Answered(Reply),
    /// A 503 or no answer (recorded): done or not, to be read back.
    Unknown,
}

/// An export reduced to what an import → export round trip keeps: the tree of (role, text)
/// nodes, the path to `current_node`, and the figures import-chats answers with.
#[derive(Debug, PartialEq)]
pub struct Shape {
    pub title: Option<String>,
    /// A hash of the node tree: each node's role and text and its children's hashes, in order.
    pub tree: u64,
    /// Role and text of each node from the root down to `current_node`, and on along first
    /// children to the end of the chat that holds it.
    pub current: Vec<(String, String)>,
    pub user_nodes: usize,
    /// Pairs along the first child from the root: the imported root's `message_count`.
    pub main_len: usize,
    /// Children after the first, summed over the nodes: the imported `branch_count`.
    pub branches: usize,
}

impl Shape {
    pub fn of(export: &GptConversation) -> Result<Self, String> {
        let mapping = &export.mapping;
        let roots: Vec<&String> = mapping
            .iter()
            .filter(|(_, n)| n.parent.is_none())
            .map(|(id, _)| id)
            .collect();
        let [root] = roots.as_slice() else {
            return Err(format!("{} root nodes", roots.len()));
        };
        let label = |id: &str| -> Result<(String, String), String> {
            let node = mapping.get(id).ok_or(format!("no node {id}"))?;
            Ok(match &node.message {
                None => (String::new(), String::new()),
                Some(m) => {
                    let parts: Vec<&str> =
                        m.content.parts.iter().filter_map(Value::as_str).collect();
                    (m.author.role.clone(), parts.join("\n"))
                }
            })
        };
        // Depth first, then hashes children before parents (no recursion: chains are deep).
        let mut order = vec![(*root).clone()];
        let mut i = 0;
        while i < order.len() {
            let node = &mapping[&order[i]];
            for child in &node.children {
                if !mapping.contains_key(child) || order.len() > mapping.len() {
                    return Err(format!("child {child} is no node (or the nodes loop)"));
                }
                order.push(child.clone());
            }
            i += 1;
        }
        let mut hashes: HashMap<&str, u64> = HashMap::new();
        let (mut user_nodes, mut branches) = (0, 0);
        for id in order.iter().rev() {
            let node = &mapping[id];
            let (role, text) = label(id)?;
            user_nodes += (role == "user") as usize;
            branches += node.children.len().saturating_sub(1);
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            (role, text).hash(&mut hasher);
            for child in &node.children {
                hashes[child.as_str()].hash(&mut hasher);
            }
            hashes.insert(id, hasher.finish());
        }
        let mut current = Vec::new();
        let mut at = export.current_node.clone();
        while let Some(id) = at {
            current.push(label(&id)?);
            at = mapping.get(&id).and_then(|n| n.parent.clone());
            if current.len() > mapping.len() {
                return Err("current_node's parents loop".into());
            }
        }
        current.reverse();
        // An import makes active the chat holding `current_node`, and a chat goes on along
        // first children: what a round trip keeps is that chat's last node.
        let mut at = export.current_node.as_ref().and_then(|c| mapping.get(c));
        while let Some(next) = at.and_then(|n| n.children.first()) {
            current.push(label(next)?);
            at = mapping.get(next);
            if current.len() > mapping.len() {
                return Err("first children loop".into());
            }
        }
        let mut main_len = 0;
        let mut at = &mapping[*root];
        while let Some(question) = at.children.first().and_then(|c| mapping.get(c)) {
            main_len += 1;
            match question.children.first().and_then(|c| mapping.get(c)) {
                Some(answer) => at = answer,
                None => break,
            }
        }
        Ok(Self {
            title: export.title.clone(),
            tree: hashes[root.as_str()],
            current,
            user_nodes,
            main_len,
            branches,
        })
    }
}

/// The members of a conversation below `top` (itself included), as the model has them.
fn subtree(members: &[&Known], top: &str) -> Vec<String> {
    let mut found = vec![top.to_owned()];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i].clone();
        found.extend(
            members
                .iter()
                .filter(|m| m.parent.as_ref().is_some_and(|(p, _)| *p == parent))
                .map(|m| m.chat_id.clone()),
        );
        i += 1;
    }
    found
}

fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

impl Client {
    fn uncertain(&self, root: &str) -> bool {
        self.ledger.lock().unwrap().trees[root].uncertain
    }

    fn active(&self, root: &str) -> Option<String> {
        self.ledger.lock().unwrap().trees[root].active.clone()
    }

    /// The turn of a live conversation whose state the model knows exactly.
    fn exact_turn(&mut self) -> Option<Turn> {
        let turn = self.account.turn(&mut self.rng, Phase::Live)?;
        (!self.uncertain(&turn.root)).then_some(turn)
    }

    fn known(&self, chat_id: &str) -> Option<Known> {
        self.account.state.lock().unwrap().known(chat_id).cloned()
    }

    fn live_members(&self, root: &str) -> Vec<Known> {
        let state = self.account.state.lock().unwrap();
        state.live_members(root).into_iter().cloned().collect()
    }

    /// A get-chat page's messages, or None (a failure is recorded).
    async fn page(&mut self, chat_id: &str) -> Option<Value> {
        let call = self.call(Endpoint::GetChat).query("chat_id", chat_id);
        let reply = self.api.send(&call).await;
        self.expect::<ChatView>("get-chat", reply)
            .map(|(reply, _)| reply.body["messages"].clone())
    }

    /// Sends a tree operation once (it is not idempotent); a 503 or no answer is recorded.
    async fn send_once(&mut self, endpoint: &'static str, call: &Call) -> Sent {
        let reply = self.api.send(call).await;
        if !(reply.is_unavailable() || reply.status.is_none()) {
            return Sent::Answered(reply);
        }
        let kind = match reply.is_unavailable() {
            true => Kind::Unavailable,
            false => Kind::Failed(format!("{endpoint}: {}", reply.describe())),
        };
        self.record(endpoint, &reply, kind);
        Sent::Unknown
    }

    /// The first answer to `call` that is neither a 503 nor missing, within a minute; `None`
    /// after that, and then `root` is marked uncertain, `endpoint` unresolved.
    async fn read_back(
        &mut self,
        endpoint: &'static str,
        root: &str,
        call: &Call,
    ) -> Option<Reply> {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            let reply = self.api.send(call).await;
            if !(reply.is_unavailable() || reply.status.is_none()) {
                self.check("tree operation's outcome read back after a 503");
                return Some(reply);
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        self.ledger.lock().unwrap().tree(root).uncertain = true;
        self.unresolved(endpoint, format!("on {root}"), None);
        None
    }

    /// get-tree of a frozen conversation: exactly its live members, with their parents, cuts
    /// and lengths, the active member, and the path to it.
    pub(crate) async fn get_tree(&mut self) {
        let Some(turn) = self.exact_turn() else {
            return self.get_chat().await;
        };
        let root = turn.root.clone();
        if !self.account.freeze(&root, Freeze::All).await {
            return;
        }
        let members = self.live_members(&root);
        let asked = &members[self.rng.below(members.len())].chat_id;
        let call = self.call(Endpoint::GetTree).query("chat_id", asked);
        let reply = self.api.send(&call).await;
        let answer = self.expect::<TreeView>("get-tree", reply);
        let active = self.active(&root);
        self.account.thaw(&root);
        let Some((reply, tree)) = answer else {
            return;
        };
        let by_id: HashMap<&str, &Known> =
            members.iter().map(|m| (m.chat_id.as_str(), m)).collect();
        let mut wrong = Vec::new();
        let listed = sorted(tree.members.iter().map(|m| m.chat_id.clone()).collect());
        let expected = sorted(members.iter().map(|m| m.chat_id.clone()).collect());
        if tree.root_chat_id != root
            || tree.member_count != expected.len() as i64
            || listed != expected
            || tree.next_cursor.is_some()
        {
            wrong.push(format!(
                "{} members {listed:?} (member_count {}), the load made {expected:?}",
                listed.len(),
                tree.member_count
            ));
        }
        let mut seen = HashSet::new();
        for member in &tree.members {
            let Some(known) = by_id.get(member.chat_id.as_str()) else {
                continue;
            };
            let parent = known.parent.as_ref();
            if member.parent_chat_id.as_ref() != parent.map(|(p, _)| p)
                || member.created_from_message_index != parent.map(|(_, cut)| *cut)
                || member.message_count != known.len as i64
                || member.active != (Some(&member.chat_id) == active.as_ref())
            {
                wrong.push(format!("member {member:?}, the model has {known:?}"));
            }
            // Drawing order: depth first, so a parent comes before its branches.
            if member
                .parent_chat_id
                .as_ref()
                .is_some_and(|p| !seen.contains(p))
            {
                wrong.push(format!("{} listed before its parent", member.chat_id));
            }
            seen.insert(member.chat_id.clone());
        }
        let parents: HashMap<&str, Option<&str>> = members
            .iter()
            .map(|m| {
                (
                    m.chat_id.as_str(),
                    m.parent.as_ref().map(|(p, _)| p.as_str()),
                )
            })
            .collect();
        if let Some(active) = &active {
            let path = model::path_to(&parents, active);
            if tree.active_branch_id != *active
                || !listed.contains(active)
                || tree.active_path != path
            {
                wrong.push(format!(
                    "active {} by path {:?}; the last set is {active} by {path:?}",
                    tree.active_branch_id, tree.active_path
                ));
            }
        }
        if tree.active_path.last() != Some(&tree.active_branch_id) {
            wrong.push("active_path does not end at the active member".into());
        }
        match wrong.is_empty() {
            true => self.check("get-tree: exactly the live members, the active one and its path"),
            false => self.fail("get-tree", &reply, format!("{root}: {}", wrong.join("; "))),
        }
        drop(turn);
    }

    /// edit-message (a new question) or regenerate-message (the same question, a new answer):
    /// a new branch cut just before the message, holding the new pair, now active.
    pub(crate) async fn edit_message(&mut self, regenerate: bool) {
        let Some(turn) = self.account.turn(&mut self.rng, Phase::Live) else {
            return self.get_chat().await;
        };
        let root = turn.root.clone();
        let Some(picked) = self.account.pick_in(&mut self.rng, &root, 1, "") else {
            return;
        };
        let index = self.rng.below(picked.len);
        self.sent += 1;
        let tag = format!("m{}x{}", self.id, self.sent);
        let topic = TOPICS[self.rng.below(TOPICS.len())];
        let response = format!("another answer {tag} ").repeat(1 + self.rng.below(10));
        let question = format!(
            "{topic} edited question {tag} from {}",
            self.account.username
        );
        let (endpoint, name, call) = match regenerate {
            false => (
                "edit-message",
                format!("Edited at message {index}"),
                self.call(Endpoint::EditMessage).json(&EditMessage {
                    chat_id: picked.chat_id.clone(),
                    message_index: index as i64,
                    question: question.clone(),
                    response: response.clone(),
                }),
            ),
            true => (
                "regenerate-message",
                format!("Regenerated at message {index}"),
                self.call(Endpoint::RegenerateMessage).json(&Regeneration {
                    chat_id: picked.chat_id.clone(),
                    message_index: index as i64,
                    response: response.clone(),
                }),
            ),
        };
        let unsettled = Unsettled::new(self);
        let call = call.key(&uuid::Uuid::new_v4().to_string());
        let reply = match self.write(endpoint, &call).await {
            Written::Answered(reply) => reply,
            Written::Unresolved => {
                let mut ledger = self.ledger.lock().unwrap();
                let tree = ledger.tree(&root);
                (tree.uncertain, tree.active) = (true, None);
                drop(ledger);
                let what = format!("{} at {index}", picked.chat_id);
                return self.unresolved(endpoint, what, regenerate.then_some(question));
            }
        };
        let Some((reply, view)) = self.expect::<ChatView>(endpoint, reply) else {
            // Refused: nothing made; but the active member is not certain any more.
            self.ledger.lock().unwrap().tree(&root).active = None;
            return;
        };
        let last = view.messages.last();
        let first = (index + 1).saturating_sub(100) as i64;
        let indexes: Vec<i64> = view.messages.iter().map(|m| m.index).collect();
        let wrong = view.parent_chat_id.as_ref() != Some(&picked.chat_id)
            || view.root_chat_id != root
            || view.created_from_message_index != Some(index as i64 - 1)
            || view.message_count != index as i64 + 1
            || !view.active
            || view.active_branch_id != view.chat_id
            || view.name != name
            || indexes != (first..=index as i64).collect::<Vec<_>>()
            || last.is_none_or(|m| m.response != response)
            || (!regenerate && last.is_none_or(|m| m.question != question))
            || self.known(&view.chat_id).is_some();
        if wrong {
            self.ledger.lock().unwrap().tree(&root).active = None;
            return self.fail(
                endpoint,
                &reply,
                format!("{} at {index}: not the new active branch", picked.chat_id),
            );
        }
        let last = last.expect("checked");
        {
            let mut ledger = self.ledger.lock().unwrap();
            ledger.keyed += 1;
            ledger.chats.push(ChatRecord {
                account: self.account.index,
                chat_id: view.chat_id.clone(),
                root_chat_id: root.clone(),
            });
            ledger.names.insert(view.chat_id.clone(), Some(name));
            let tree = ledger.tree(&root);
            tree.branches += 1;
            tree.active = Some(view.chat_id.clone());
            ledger.messages.push(AckedMessage {
                chat_id: view.chat_id.clone(),
                index,
                src: view.chat_id.clone(),
                origin: match regenerate {
                    true => Origin::Regenerated(picked.history.slot(index)),
                    false => Origin::Edited,
                },
                response_id: last.response_id.clone(),
                question: last.question.clone(),
                response,
                tag,
            });
        }
        self.account
            .learn_branch(&picked.chat_id, &view.chat_id, index, index + 1);
        drop(unsettled);
        self.check(match regenerate {
            false => "edit-message: a new active branch with the new pair",
            true => "regenerate-message: a new active branch with the new answer",
        });
        drop(picked);
        drop(turn);
    }

    /// Deletes a branch and everything below it (and half the time restores it at once), or,
    /// now and then, restores an earlier deletion of the conversation.
    pub(crate) async fn delete_branch(&mut self) {
        let Some(turn) = self.exact_turn() else {
            return self.get_chat().await;
        };
        let root = turn.root.clone();
        let earlier = {
            let state = self.account.state.lock().unwrap();
            state.trees[&root].deletions.keys().next().cloned()
        };
        if let Some(key) = earlier
            && self.rng.chance(3)
        {
            return self.restore_branch(&turn, &key).await;
        }
        let members = self.live_members(&root);
        let branches: Vec<&Known> = members.iter().filter(|m| m.parent.is_some()).collect();
        if branches.is_empty() {
            return;
        }
        let top = branches[self.rng.below(branches.len())].chat_id.clone();
        if !self
            .account
            .freeze(&root, Freeze::Subtree(top.clone()))
            .await
        {
            return;
        }
        let members = self.live_members(&root);
        let refs: Vec<&Known> = members.iter().collect();
        let removed = subtree(&refs, &top);
        let parent = self.known(&top).and_then(|k| k.parent).map(|(p, _)| p);
        let call = self.call(Endpoint::DeleteBranch).query("branch_id", &top);
        self.remove(
            "delete-branch",
            &turn,
            call,
            removed,
            parent.unwrap_or_default(),
        )
        .await;
    }

    /// prune-branches: everything off the path from the root to a member goes to the trash.
    pub(crate) async fn prune_branches(&mut self) {
        let Some(turn) = self.exact_turn() else {
            return self.get_chat().await;
        };
        let root = turn.root.clone();
        if !self.account.freeze(&root, Freeze::All).await {
            return;
        }
        let members = self.live_members(&root);
        let kept = &members[self.rng.below(members.len())];
        let parents: HashMap<&str, Option<&str>> = members
            .iter()
            .map(|m| {
                (
                    m.chat_id.as_str(),
                    m.parent.as_ref().map(|(p, _)| p.as_str()),
                )
            })
            .collect();
        let path = model::path_to(&parents, &kept.chat_id);
        let removed: Vec<String> = members
            .iter()
            .filter(|m| !path.contains(&m.chat_id))
            .map(|m| m.chat_id.clone())
            .collect();
        let call = self
            .call(Endpoint::PruneBranches)
            .query("chat_id", &kept.chat_id);
        let fallback = kept.chat_id.clone();
        self.remove("prune-branches", &turn, call, removed, fallback)
            .await;
    }

    /// A branch deletion (delete-branch, prune-branches) of the frozen `removed`; `fallback`
    /// becomes active if the active member goes.
    async fn remove(
        &mut self,
        endpoint: &'static str,
        turn: &Turn,
        call: Call,
        removed: Vec<String>,
        fallback: String,
    ) {
        let root = turn.root.clone();
        let mut pages = Vec::new();
        for member in removed.iter().take(DELETION_SNAPSHOT) {
            match self.page(member).await {
                Some(page) => pages.push((member.clone(), page)),
                None => return self.account.thaw(&root),
            }
        }
        let active = self.active(&root);
        let active_fallback = active
            .clone()
            .filter(|a| removed.contains(a))
            .map(|a| (a, fallback.clone()));
        let expected_active = match &active {
            Some(a) if removed.contains(a) => Some(fallback),
            other => other.clone(),
        };
        let done = match self.send_once(endpoint, &call).await {
            // Nothing to remove: done or not, nothing changes.
            Sent::Unknown if removed.is_empty() => false,
            Sent::Unknown => {
                let probe = self.call(Endpoint::GetChat).query("chat_id", &removed[0]);
                match self.read_back(endpoint, &root, &probe).await {
                    Some(reply) => reply.is(404),
                    None => return self.account.thaw(&root),
                }
            }
            Sent::Answered(reply) => match self.expect::<BranchDeletionView>(endpoint, reply) {
                None => false,
                Some((reply, view)) => {
                    if sorted(view.chat_ids.clone()) != sorted(removed.clone())
                        || expected_active
                            .as_ref()
                            .is_some_and(|a| *a != view.active_branch_id)
                        || (view.purge_at.is_none() && !removed.is_empty())
                    {
                        self.fail(
                            endpoint,
                            &reply,
                            format!(
                                "{root}: removed {:?} making {} active; the model removes \
                                 {removed:?} making {expected_active:?} active",
                                view.chat_ids, view.active_branch_id
                            ),
                        );
                    } else {
                        self.check("branch deletion: exactly the members expected");
                    }
                    true
                }
            },
        };
        if done && !removed.is_empty() {
            let key = removed[0].clone();
            {
                let mut state = self.account.state.lock().unwrap();
                for member in &removed {
                    if let Some(known) = state.known_mut(member) {
                        known.removed = Some(key.clone());
                    }
                }
                let tree = state.trees.get_mut(&root).expect("tree");
                tree.deletions.insert(
                    key.clone(),
                    Deletion {
                        members: removed.clone(),
                        pages,
                        active_fallback,
                    },
                );
            }
            let mut ledger = self.ledger.lock().unwrap();
            let tree = ledger.tree(&root);
            tree.branches -= removed.len();
            tree.active = expected_active;
        }
        self.account.thaw(&root);
        if !done || removed.is_empty() {
            return;
        }
        let call = self.call(Endpoint::GetChat).query("chat_id", &removed[0]);
        let reply = self.api.send(&call).await;
        if self.judge("get-chat", reply, 404).is_some() {
            self.check("deleted branch answers 404");
        }
        if self.rng.chance(2) {
            self.restore_branch(turn, &removed[0]).await;
        }
    }

    /// restore-branch of an earlier deletion: everything of it back, reading as before; or a
    /// 422 while what it hangs from is deleted too.
    async fn restore_branch(&mut self, turn: &Turn, key: &str) {
        let root = turn.root.clone();
        let active = self.active(&root);
        let (members, orphaned, expected_active) = {
            let state = self.account.state.lock().unwrap();
            let deletion = &state.trees[&root].deletions[key];
            let members = deletion.members.clone();
            // An undo: the member the deletion took from active is active again, unless
            // another was chosen since.
            let expected_active = match (&deletion.active_fallback, &active) {
                (Some((was, fallback)), Some(now)) if now == fallback => Some(was.clone()),
                _ => active.clone(),
            };
            let orphaned = members.iter().any(|m| {
                let parent = state.known(m).and_then(|k| k.parent.clone());
                parent.is_some_and(|(p, _)| {
                    !members.contains(&p) && state.known(&p).is_none_or(|k| k.removed.is_some())
                })
            });
            (members, orphaned, expected_active)
        };
        let call = self.call(Endpoint::RestoreBranch).query("branch_id", key);
        let done = match self.send_once("restore-branch", &call).await {
            Sent::Unknown => {
                let probe = self.call(Endpoint::GetChat).query("chat_id", key);
                match self.read_back("restore-branch", &root, &probe).await {
                    Some(reply) => reply.is(200),
                    None => return,
                }
            }
            Sent::Answered(reply) if orphaned => {
                if self.judge("restore-branch", reply, 422).is_some() {
                    self.check("restore-branch of a branch hanging from a deleted one: 422");
                }
                false
            }
            Sent::Answered(reply) => match self
                .expect::<BranchDeletionView>("restore-branch", reply)
            {
                None => false,
                Some((reply, view)) => {
                    if sorted(view.chat_ids.clone()) != sorted(members.clone())
                        || expected_active
                            .as_ref()
                            .is_some_and(|a| *a != view.active_branch_id)
                    {
                        self.fail(
                            "restore-branch",
                            &reply,
                            format!("{root}: restored {:?}, deleted {members:?}", view.chat_ids),
                        );
                    }
                    true
                }
            },
        };
        if !done {
            return;
        }
        let deletion = {
            let mut state = self.account.state.lock().unwrap();
            for member in &members {
                if let Some(known) = state.known_mut(member) {
                    known.removed = None;
                }
            }
            let tree = state.trees.get_mut(&root).expect("tree");
            tree.deletions.remove(key).expect("a deletion")
        };
        {
            let mut ledger = self.ledger.lock().unwrap();
            let tree = ledger.tree(&root);
            tree.branches += members.len();
            tree.active = expected_active;
        }
        for (member, before) in deletion.pages {
            let Some(after) = self.page(&member).await else {
                continue;
            };
            if after != before {
                let why = format!("{member} reads {after} after restore-branch, {before} before");
                self.fail("restore-branch", &Reply::none(), why);
            } else {
                self.check("restored branch reads as before its deletion");
            }
        }
    }

    /// promote-branch: the root shows the branch's history, the old main line lives on as a
    /// new branch, every other member reads as before; the messages after the cut move.
    pub(crate) async fn promote_branch(&mut self) {
        let Some(turn) = self.exact_turn() else {
            return self.get_chat().await;
        };
        let root = turn.root.clone();
        let members = self.live_members(&root);
        let branches: Vec<&Known> = members.iter().filter(|m| m.parent.is_some()).collect();
        if branches.is_empty() {
            return;
        }
        let branch = branches[self.rng.below(branches.len())].chat_id.clone();
        // The root's history changes, and the branch's is what it will show: both must hold
        // still. Every other member keeps racing.
        let freeze = Freeze::Chats(vec![root.clone(), branch.clone()]);
        if !self.account.freeze(&root, freeze).await {
            return;
        }
        let (Some(root_known), Some(branch_known)) = (self.known(&root), self.known(&branch))
        else {
            return self.account.thaw(&root);
        };
        // Not a branch exactly as long as the root: the root would keep its old last question
        // as its preview (a server bug: bench/examples/promote_same_length_preview.rs). Drop
        // this when it is fixed.
        if branch_known.len == root_known.len {
            self.check("promote-branch of a branch as long as the root: skipped");
            return self.account.thaw(&root);
        }
        let promotions = self.account.state.lock().unwrap().trees[&root].promotions;
        let (Some(root_page), Some(branch_page)) =
            (self.page(&root).await, self.page(&branch).await)
        else {
            return self.account.thaw(&root);
        };
        let plan = model::promote(
            &root,
            &root_known.history,
            root_known.len,
            &branch_known.history,
            branch_known.len,
            promotions,
            "",
        );
        let active = self.active(&root);
        let unsettled = Unsettled::new(self);
        let call = self
            .call(Endpoint::PromoteBranch)
            .query("branch_id", &branch);
        let old_main = match self.send_once("promote-branch", &call).await {
            // Done or not: done if a new member is the old main line.
            Sent::Unknown => {
                let probe = self.call(Endpoint::GetTree).query("chat_id", &root);
                let Some(reply) = self.read_back("promote-branch", &root, &probe).await else {
                    drop(unsettled);
                    return self.account.thaw(&root);
                };
                self.old_main_in(&root, &reply)
            }
            Sent::Answered(reply) => match self.expect::<PromotionView>("promote-branch", reply) {
                None => None,
                Some((reply, view)) => {
                    if view.root_chat_id != root
                        || view.promoted_branch_id != branch
                        || self.known(&view.old_main_branch_id).is_some()
                        || active.as_ref().is_some_and(|a| *a != view.active_branch_id)
                        || view.moved_messages != plan.moved as i64
                    {
                        self.fail(
                            "promote-branch",
                            &reply,
                            format!(
                                "{branch} of {root}: {view:?}; the model moves {} messages",
                                plan.moved
                            ),
                        );
                    } else {
                        self.check("promote-branch: answered as the model expects");
                    }
                    Some(view.old_main_branch_id)
                }
            },
        };
        let Some(old_main) = old_main else {
            drop(unsettled);
            return self.account.thaw(&root);
        };
        let plan = model::promote(
            &root,
            &root_known.history,
            root_known.len,
            &branch_known.history,
            branch_known.len,
            promotions,
            &old_main,
        );
        let cut = plan.cut;
        {
            let mut state = self.account.state.lock().unwrap();
            let tree = state.trees.get_mut(&root).expect("tree");
            tree.promotions += 1;
            tree.storage.moves.extend(plan.moves);
            let members = tree.members.clone();
            for member in &members {
                let known = state.known_mut(member).expect("a member");
                if known.chat_id == root {
                    known.history = plan.root.clone();
                    known.len = branch_known.len;
                }
                // Branches cut from the root after the cut hang from the old main line.
                if let Some((parent, at)) = &mut known.parent
                    && *parent == root
                    && *at > cut
                {
                    *parent = old_main.clone();
                }
            }
        }
        self.account.learn(Known {
            chat_id: old_main.clone(),
            root: root.clone(),
            len: root_known.len,
            history: plan.old_main,
            parent: Some((root.clone(), cut)),
            removed: None,
            inflight: 0,
        });
        {
            let mut ledger = self.ledger.lock().unwrap();
            let name = ledger.names[&root].as_ref().map(|name| {
                format!("{name}{OLD_MAIN_SUFFIX}")
                    .chars()
                    .take(shared::chats::MAX_NAME_CHARS)
                    .collect()
            });
            ledger.names.insert(old_main.clone(), name);
            ledger.chats.push(ChatRecord {
                account: self.account.index,
                chat_id: old_main.clone(),
                root_chat_id: root.clone(),
            });
            ledger.tree(&root).branches += 1;
        }
        drop(unsettled);
        self.account.thaw(&root);
        // The root now reads as the branch did; the old main line as the root did.
        for (chat, expected, what) in [
            (&root, &branch_page, "promoted root reads as the branch did"),
            (&old_main, &root_page, "old main line reads as the root did"),
        ] {
            if let Some(page) = self.page(chat).await {
                match page == *expected {
                    true => self.check(what),
                    false => self.fail(
                        "promote-branch",
                        &Reply::none(),
                        format!("{chat} reads {page} after promoting {branch}, not {expected}"),
                    ),
                }
            }
        }
        drop(turn);
    }

    /// After a promote answered 503: the old main line in get-tree's answer, if it was done.
    fn old_main_in(&self, root: &str, reply: &Reply) -> Option<String> {
        let tree = reply.parse::<TreeView>().ok()?;
        tree.members
            .into_iter()
            .find(|m| {
                m.name.ends_with(OLD_MAIN_SUFFIX)
                    && m.parent_chat_id.as_deref() == Some(root)
                    && self.known(&m.chat_id).is_none()
            })
            .map(|m| m.chat_id)
    }

    /// compare-branches of two members of one tree: where they diverge, by the model.
    pub(crate) async fn compare_branches(&mut self) {
        let Some(a) = self.account.pick(&mut self.rng, 0) else {
            return;
        };
        let Some(b) = self.account.pick_in(&mut self.rng, &a.root, 0, &a.chat_id) else {
            return;
        };
        let limit = 1 + self.rng.below(20);
        let call = self
            .call(Endpoint::CompareBranches)
            .query("a", &a.chat_id)
            .query("b", &b.chat_id)
            .query("limit", limit);
        let reply = self.api.send(&call).await;
        let Some((reply, view)) = self.expect::<ComparisonView>("compare-branches", reply) else {
            return;
        };
        let (a_len, b_len) = (view.a.message_count as usize, view.b.message_count as usize);
        let divergence = a.history.common_prefix(a_len, &b.history, b_len);
        let side_ok = |side: &shared::views::SideView, len: usize| {
            let end = (divergence + limit).min(len);
            let indexes: Vec<i64> = side.messages.iter().map(|m| m.index).collect();
            indexes == (divergence as i64..end as i64).collect::<Vec<_>>()
                && side.has_more == (end < len)
                && side.next_from == (end < len).then_some(end as i64)
        };
        if view.a.chat_id != a.chat_id
            || view.b.chat_id != b.chat_id
            || a_len < a.len
            || b_len < b.len
            || view.divergence_index != divergence as i64
            || !side_ok(&view.a, a_len)
            || !side_ok(&view.b, b_len)
        {
            return self.fail(
                "compare-branches",
                &reply,
                format!(
                    "{} ({a_len}) vs {} ({b_len}): divergence_index {}, the model says \
                     {divergence}",
                    a.chat_id, b.chat_id, view.divergence_index
                ),
            );
        }
        self.check("compare-branches: divergence_index as the model has it");
    }

    /// fork-chat of a member, up to a message: a new conversation holding copies.
    pub(crate) async fn fork_chat(&mut self) {
        let Some(picked) = self.account.pick(&mut self.rng, 0) else {
            return;
        };
        // Forks of at most 100 messages: the answer then shows every copy.
        let index = (picked.len > 0).then(|| self.rng.below(picked.len.min(100)));
        self.sent += 1;
        let name = format!("fork {} of client {}", self.sent, self.id);
        let body = ForkChat {
            chat_id: picked.chat_id.clone(),
            message_index: index.map(|i| i as i64),
            name: name.clone(),
        };
        let unsettled = Unsettled::new(self);
        let call = self
            .call(Endpoint::ForkChat)
            .json(&body)
            .key(&uuid::Uuid::new_v4().to_string());
        let reply = match self.write("fork-chat", &call).await {
            Written::Answered(reply) => reply,
            Written::Unresolved => {
                let what = format!("of {} up to {index:?}", picked.chat_id);
                return self.unresolved("fork-chat", what, None);
            }
        };
        let Some((reply, view)) = self.expect::<ChatView>("fork-chat", reply) else {
            return;
        };
        let count = view.message_count as usize;
        let indexes: Vec<i64> = view.messages.iter().map(|m| m.index).collect();
        if view.root_chat_id != view.chat_id
            || view.parent_chat_id.is_some()
            || view.name != name
            || !view.active
            || index.is_some_and(|i| count != i + 1)
            || count < picked.len.min(index.map_or(0, |i| i + 1))
            || indexes != (0..count as i64).collect::<Vec<_>>()
            || self.known(&view.chat_id).is_some()
        {
            return self.fail(
                "fork-chat",
                &reply,
                format!(
                    "of {} up to {index:?}: not a new conversation",
                    picked.chat_id
                ),
            );
        }
        self.new_conversation(&view.chat_id, name, false);
        {
            let mut ledger = self.ledger.lock().unwrap();
            for (i, copy) in view.messages.iter().enumerate() {
                ledger.messages.push(AckedMessage {
                    chat_id: view.chat_id.clone(),
                    index: i,
                    src: model::root_src(&view.chat_id, 0),
                    origin: Origin::Copied(picked.history.slot(i)),
                    response_id: copy.response_id.clone(),
                    question: copy.question.clone(),
                    response: copy.response.clone(),
                    tag: String::new(),
                });
            }
        }
        self.account.learn_root(&view.chat_id, count);
        drop(unsettled);
        self.check("fork-chat: a new conversation of the copied prefix");
    }

    /// export-chat of a frozen conversation: it parses, and holds a user node per message its
    /// live members store. Now and then the export is imported again.
    pub(crate) async fn export_chat(&mut self) {
        let Some(turn) = self.exact_turn() else {
            return self.get_chat().await;
        };
        let root = turn.root.clone();
        if !self.account.freeze(&root, Freeze::All).await {
            return;
        }
        let members = self.live_members(&root);
        let asked = members[self.rng.below(members.len())].chat_id.clone();
        let call = self.call(Endpoint::ExportChat).query("chat_id", &asked);
        let reply = self.api.send(&call).await;
        let (stored, exported) = {
            let state = self.account.state.lock().unwrap();
            let members: Vec<Member> = members
                .iter()
                .map(|m| Member {
                    chat_id: &m.chat_id,
                    is_root: m.parent.is_none(),
                    cut: m.parent.as_ref().map(|(_, cut)| *cut),
                    history: &m.history,
                    len: m.len,
                })
                .collect();
            model::stored_and_exported(&members, &state.trees[&root].storage)
        };
        self.account.thaw(&root);
        drop(turn);
        let Some(reply) = self.judge("export-chat", reply, 200) else {
            return;
        };
        let export: GptConversation = match reply.parse() {
            Ok(export) => export,
            Err(why) => return self.fail("export-chat", &reply, why),
        };
        let user_nodes = export
            .mapping
            .values()
            .filter(|n| n.message.as_ref().is_some_and(|m| m.author.role == "user"))
            .count();
        if user_nodes != stored {
            // `exported`: what an export that walks each member from its cut would show (the
            // bug bench/examples/export_after_promote.rs reproduces, since fixed).
            let why = match user_nodes == exported {
                true => " (messages a promote moved are left out)",
                false => "",
            };
            return self.fail(
                "export-chat",
                &reply,
                format!("{root}: {user_nodes} user nodes; the live members store {stored}{why}"),
            );
        }
        let shape = match Shape::of(&export) {
            Ok(shape) => shape,
            Err(why) => return self.fail("export-chat", &reply, format!("{root}: {why}")),
        };
        self.check("export-chat: a user node per stored message");
        if self.rng.chance(3) {
            self.import(reply.body, shape).await;
        }
    }

    /// import-chats of an export: one new conversation, as the export describes it, which
    /// exports again as the export was.
    async fn import(&mut self, export: Value, shape: Shape) {
        let unsettled = Unsettled::new(self);
        let call = self
            .call(Endpoint::ImportChats)
            .json(&[&export])
            .key(&uuid::Uuid::new_v4().to_string());
        let reply = match self.write("import-chats", &call).await {
            Written::Answered(reply) => reply,
            Written::Unresolved => {
                return self.unresolved("import-chats", format!("{:?}", shape.title), None);
            }
        };
        let Some((reply, imported)) = self.expect::<Vec<ImportedView>>("import-chats", reply)
        else {
            return;
        };
        let [one] = imported.as_slice() else {
            return self.fail("import-chats", &reply, "not one conversation".into());
        };
        if Some(&one.name) != shape.title.as_ref()
            || one.message_count != shape.main_len as i64
            || one.branch_count != shape.branches as i64
        {
            return self.fail(
                "import-chats",
                &reply,
                format!(
                    "{one:?}; the export has {} messages on its main line and {} branches",
                    shape.main_len, shape.branches
                ),
            );
        }
        let root = one.chat_id.clone();
        self.new_conversation(&root, one.name.clone(), true);
        let questions = export["mapping"]
            .as_object()
            .into_iter()
            .flat_map(|m| m.values())
            .filter(|n| n["message"]["author"]["role"] == "user")
            .filter_map(|n| n["message"]["content"]["parts"][0].as_str())
            .map(str::to_owned)
            .collect();
        {
            let mut ledger = self.ledger.lock().unwrap();
            let tree = ledger.tree(&root);
            tree.branches = one.branch_count as usize;
            tree.active = None;
            ledger.imports.push(ImportRecord {
                account: self.account.index,
                root: root.clone(),
                shape,
                questions,
            });
        }
        self.account
            .state
            .lock()
            .unwrap()
            .imported
            .insert(root.clone());
        drop(unsettled);
        // Export → import → export gives the first export back, ids aside.
        let call = self.call(Endpoint::ExportChat).query("chat_id", &root);
        let reply = self.api.send(&call).await;
        let Some((reply, again)) = self.expect::<GptConversation>("export-chat", reply) else {
            return;
        };
        match Shape::of(&again) {
            Ok(again) if self.same_shape(&root, &again) => {
                self.check("import-chats: exports again as its source")
            }
            Ok(again) => self.fail(
                "import-chats",
                &reply,
                format!("{root} exports as {again:?}, not as its source"),
            ),
            Err(why) => self.fail("export-chat", &reply, why),
        }
    }

    fn same_shape(&self, root: &str, shape: &Shape) -> bool {
        let ledger = self.ledger.lock().unwrap();
        ledger
            .imports
            .iter()
            .find(|i| i.root == root)
            .is_some_and(|i| i.shape == *shape)
    }
}
