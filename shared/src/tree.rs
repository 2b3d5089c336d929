//! The rules of a conversation tree, with no database in sight: how a branch describes the
//! prefix it inherits (its lineage), where each visible message is stored, and which members
//! show a given stored message.
//!
//! A branch keeps its parent's visible messages `0..=message_index` and then its own. Nothing
//! is copied: its `lineage` lists, root first, each ancestor that holds part of that prefix and
//! the last position taken from it. Positions continue across the prefix and the branch's own
//! messages, so visible index `i` is stored at position `i` in whichever chat holds it.

use mongodb::bson::DateTime;
use mongodb::bson::oid::ObjectId;

use crate::store::{Chat, Conversation, Segment};

/// A new root chat and its conversation, in which it is the one member and the active one.
pub fn new_root(account_id: &str, name: &str) -> (Chat, Conversation) {
    let chat_id = uuid::Uuid::new_v4().to_string();
    let now = DateTime::now();
    let chat = Chat {
        id: ObjectId::new(),
        account_id: account_id.to_owned(),
        name: name.to_owned(),
        created_at: now,
        root_chat_id: chat_id.clone(),
        parent_chat_id: None,
        created_from_message_index: None,
        lineage: Vec::new(),
        message_count: 0,
        last_question: None,
        deleted_at: None,
        deleted_with: None,
        purge_at: None,
        active_fallback: None,
        chat_id: chat_id.clone(),
    };
    let conversation = Conversation {
        root_chat_id: chat_id.clone(),
        account_id: account_id.to_owned(),
        title: name.to_owned(),
        created_at: now,
        updated_at: now,
        branch_count: 0,
        active_branch_id: chat_id,
        active_length: 0,
        preview: None,
        archived: false,
        pinned: false,
        trashed: false,
        deleted_at: None,
        purge_at: None,
        version: 0,
    };
    (chat, conversation)
}

/// A branch of `parent` holding its first `message_index + 1` visible messages, whose last
/// question begins with `last_question`. Only the description of that prefix is stored, never
/// the messages: O(1) writes at any length.
pub fn new_branch(
    parent: &Chat,
    message_index: i64,
    name: &str,
    last_question: Option<String>,
) -> Chat {
    Chat {
        id: ObjectId::new(),
        chat_id: uuid::Uuid::new_v4().to_string(),
        account_id: parent.account_id.clone(),
        name: name.to_owned(),
        created_at: DateTime::now(),
        root_chat_id: parent.root_chat_id.clone(),
        parent_chat_id: Some(parent.chat_id.clone()),
        created_from_message_index: Some(message_index),
        lineage: lineage_up_to(parent, message_index),
        message_count: message_index + 1,
        last_question,
        deleted_at: None,
        deleted_with: None,
        purge_at: None,
        active_fallback: None,
    }
}

/// Where `chat`'s visible messages `0..=upto` are stored, root first. The chat's own messages
/// start after its last inherited position, so an ancestor that already holds `upto` ends the
/// walk and nothing after it is referenced.
fn lineage_up_to(chat: &Chat, upto: i64) -> Vec<Segment> {
    let mut lineage = Vec::with_capacity(chat.lineage.len() + 1);
    for segment in &chat.lineage {
        if segment.upto >= upto {
            lineage.push(Segment {
                chat_id: segment.chat_id.clone(),
                upto,
            });
            return lineage;
        }
        lineage.push(segment.clone());
    }
    lineage.push(Segment {
        chat_id: chat.chat_id.clone(),
        upto,
    });
    lineage
}

/// Where `chat`'s visible messages at positions `from..to` are stored: each piece is a chat,
/// the last position taken from it, and the first. Pieces that hold nothing in the range are
/// left out, so reading a page costs what the page holds, not what the history holds.
pub fn pieces(chat: &Chat, from: i64, to: i64) -> Vec<(Segment, i64)> {
    let own = Segment {
        chat_id: chat.chat_id.clone(),
        upto: chat.message_count - 1,
    };
    let mut start = 0;
    let mut pieces = Vec::new();
    for segment in chat.lineage.iter().chain(std::iter::once(&own)) {
        let (lo, hi) = (start.max(from), segment.upto.min(to - 1));
        if lo <= hi {
            pieces.push((
                Segment {
                    chat_id: segment.chat_id.clone(),
                    upto: hi,
                },
                lo,
            ));
        }
        start = segment.upto + 1;
    }
    pieces
}

/// Which of `members` (the chats of one tree) show the message stored in `chat_id` at
/// `position`: the chat itself and every branch whose lineage takes that position from it.
pub fn members_showing<'a>(members: &'a [Chat], chat_id: &str, position: i64) -> Vec<&'a str> {
    members
        .iter()
        .filter(|m| m.deleted_at.is_none())
        .filter(|m| {
            (m.chat_id == chat_id && position < m.message_count)
                || m.lineage
                    .iter()
                    .any(|s| s.chat_id == chat_id && position <= s.upto)
        })
        .map(|m| m.chat_id.as_str())
        .collect()
}

/// The chat that stores visible position `position` of `chat`, if it has one.
pub fn holder(chat: &Chat, position: i64) -> Option<&str> {
    if !(0..chat.message_count).contains(&position) {
        return None;
    }
    Some(
        chat.lineage
            .iter()
            .find(|s| position <= s.upto)
            .map_or(chat.chat_id.as_str(), |s| s.chat_id.as_str()),
    )
}

/// How many leading messages `a` and `b` share: the first visible index where they differ (or
/// the shorter length). Two members share a position when the same chat stores it for both.
pub fn common_prefix(a: &Chat, b: &Chat) -> i64 {
    // Holders change only at segment ends, so checking those boundaries is enough.
    let len = a.message_count.min(b.message_count);
    let mut starts: Vec<i64> = a
        .lineage
        .iter()
        .chain(&b.lineage)
        .map(|s| s.upto + 1)
        .chain([0])
        .filter(|p| *p < len)
        .collect();
    starts.sort_unstable();
    starts.dedup();
    starts
        .into_iter()
        .find(|&p| holder(a, p) != holder(b, p))
        .unwrap_or(len)
}

/// The members from the root down to `chat_id` (following `parent_chat_id`), root first.
pub fn path_to<'a>(members: &'a [Chat], chat_id: &str) -> Vec<&'a Chat> {
    let mut path = Vec::new();
    let mut next = members.iter().find(|m| m.chat_id == chat_id);
    while let Some(chat) = next {
        path.push(chat);
        next = chat
            .parent_chat_id
            .as_deref()
            .and_then(|p| members.iter().find(|m| m.chat_id == p));
        if path.len() > members.len() {
            break; // a cycle cannot happen, but must not hang either
        }
    }
    path.reverse();
    path
}

/// `chat_id` and every member below it (children, their children, …).
pub fn subtree<'a>(members: &'a [Chat], chat_id: &str) -> Vec<&'a Chat> {
    let mut found: Vec<&Chat> = members.iter().filter(|m| m.chat_id == chat_id).collect();
    let mut i = 0;
    while i < found.len() {
        let parent = found[i].chat_id.as_str();
        found.extend(
            members
                .iter()
                .filter(|m| m.parent_chat_id.as_deref() == Some(parent)),
        );
        i += 1;
    }
    found
}

/// The members in drawing order: depth first from the root, each member's branches by the
/// index they were cut at, then by creation.
pub fn drawing_order(members: &[Chat]) -> Vec<&Chat> {
    let mut order = Vec::with_capacity(members.len());
    let mut stack: Vec<&Chat> = members.iter().filter(|m| m.is_root()).collect();
    while let Some(chat) = stack.pop() {
        order.push(chat);
        let mut children: Vec<&Chat> = members
            .iter()
            .filter(|m| m.parent_chat_id.as_deref() == Some(chat.chat_id.as_str()))
            .collect();
        children.sort_by_key(|c| (c.created_from_message_index, c.created_at, c.id));
        stack.extend(children.into_iter().rev());
    }
    order
}

/// A branch of `parent` for an edit of its message `message_index`: it inherits the messages
/// before that one (none for message 0) and will hold the edited pair as its own.
pub fn edit_branch(parent: &Chat, message_index: i64, name: &str) -> Chat {
    let mut branch = new_branch(parent, message_index.max(1) - 1, name, None);
    if message_index == 0 {
        branch.lineage.clear();
        branch.message_count = 0;
        branch.created_from_message_index = Some(-1);
    }
    branch
}

/// Messages of `from` at positions `first..=last` that move to `to` (positions unchanged).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Move {
    pub from: String,
    pub to: String,
    pub first: i64,
    pub last: i64,
}

/// What promoting a branch does to its tree: the messages that move, the new branch that
/// keeps the old main line, and every member whose description changes.
#[derive(Debug)]
pub struct Promotion {
    pub moves: Vec<Move>,
    /// The old main line from the cut onward, as a branch of the root.
    pub old_main: Chat,
    /// Members with a new lineage, parent, length or preview (the root among them).
    pub changed: Vec<Chat>,
}

/// Promotes `branch_id`: afterwards the root (whose id clients hold) shows the branch's
/// history, the old main line from the cut onward lives on as a new branch of the root, and
/// every other member — the promoted branch included — shows exactly what it showed before.
///
/// The algorithm: `cut` is the last position the branch takes from the root. The root's own
/// messages after `cut` move to the new branch; the pieces of the branch's history held by
/// other chats (its ancestors' and its own messages) move into the root, positions unchanged.
/// Every member's lineage is then rewritten by mapping each piece of its history to the chat
/// that now holds it; branches cut from the root after `cut` hang from the new branch. Cost:
/// the moved messages and the members, never the rest of the history.
pub fn promote(members: &[Chat], branch_id: &str, old_main_name: &str) -> Option<Promotion> {
    let branch = members.iter().find(|m| m.chat_id == branch_id)?;
    let root = members.iter().find(|m| m.is_root())?;
    if branch.is_root() {
        return None;
    }
    let pieces = pieces(branch, 0, branch.message_count);
    let cut = match pieces.first() {
        Some((segment, _)) if segment.chat_id == root.chat_id => segment.upto,
        _ => -1,
    };
    let mut old_main = new_branch(root, cut.max(0), old_main_name, root.last_question.clone());
    old_main.message_count = root.message_count;
    if cut < 0 {
        old_main.lineage.clear();
        old_main.created_from_message_index = Some(-1);
    }
    let mut moves = Vec::new();
    if root.message_count - 1 > cut {
        moves.push(Move {
            from: root.chat_id.clone(),
            to: old_main.chat_id.clone(),
            first: cut + 1,
            last: root.message_count - 1,
        });
    }
    for (segment, first) in pieces.iter().filter(|(s, _)| s.chat_id != root.chat_id) {
        moves.push(Move {
            from: segment.chat_id.clone(),
            to: root.chat_id.clone(),
            first: *first,
            last: segment.upto,
        });
    }
    // Where a stored position lives after the moves.
    let new_holder = |holder: &str, position: i64| -> String {
        moves
            .iter()
            .find(|m| m.from == holder && (m.first..=m.last).contains(&position))
            .map_or_else(|| holder.to_owned(), |m| m.to.clone())
    };
    let rewrite = |chat: &Chat, history: &[(Segment, i64)]| -> Vec<Segment> {
        let mut lineage: Vec<Segment> = Vec::new();
        for (segment, first) in history {
            // A piece can split where a move starts or ends: map each run separately.
            let mut bounds: Vec<i64> = moves
                .iter()
                .filter(|m| m.from == segment.chat_id)
                .flat_map(|m| [m.first, m.last + 1])
                .filter(|p| *p > *first && *p <= segment.upto)
                .collect();
            bounds.push(*first);
            bounds.sort_unstable();
            bounds.dedup();
            for (i, start) in bounds.iter().enumerate() {
                let end = bounds.get(i + 1).map_or(segment.upto, |next| next - 1);
                let holder = new_holder(&segment.chat_id, *start);
                match lineage.last_mut() {
                    Some(last) if last.chat_id == holder => last.upto = end,
                    _ => lineage.push(Segment {
                        chat_id: holder,
                        upto: end,
                    }),
                }
            }
        }
        // What the chat holds itself is its own messages, not part of its lineage.
        if lineage.last().is_some_and(|s| s.chat_id == chat.chat_id) {
            lineage.pop();
        }
        lineage
    };
    let mut changed = Vec::new();
    for member in members {
        let mut updated = member.clone();
        if member.chat_id == root.chat_id {
            updated.message_count = branch.message_count;
            updated.last_question = branch.last_question.clone();
            updated.lineage = Vec::new();
        } else {
            updated.lineage = rewrite(member, &self::pieces(member, 0, member.message_count));
            let hangs_from_old_main = member.parent_chat_id.as_deref() == Some(&root.chat_id)
                && member.created_from_message_index.is_some_and(|i| i > cut);
            if hangs_from_old_main {
                updated.parent_chat_id = Some(old_main.chat_id.clone());
            }
        }
        // The root always changes (its history does, even when its length does not).
        if member.is_root()
            || updated.lineage != member.lineage
            || updated.parent_chat_id != member.parent_chat_id
            || updated.message_count != member.message_count
        {
            changed.push(updated);
        }
    }
    old_main.lineage = rewrite(&old_main, &self::pieces(root, 0, root.message_count))
        .into_iter()
        .filter(|s| s.chat_id != old_main.chat_id)
        .collect();
    Some(Promotion {
        moves,
        old_main,
        changed,
    })
}

#[cfg(test)]
mod rules {
    use super::*;

    fn chain() -> (Chat, Chat, Chat) {
        let (mut root, _) = new_root("alice", "root");
        root.message_count = 10;
        let mut child = new_branch(&root, 4, "child", None);
        child.message_count = 9;
        let mut grandchild = new_branch(&child, 7, "grandchild", None);
        grandchild.message_count = 12;
        (root, child, grandchild)
    }

    #[test]
    fn the_holder_of_each_position_follows_the_lineage() {
        let (root, child, grandchild) = chain();
        assert_eq!(holder(&grandchild, 0), Some(root.chat_id.as_str()));
        assert_eq!(holder(&grandchild, 4), Some(root.chat_id.as_str()));
        assert_eq!(holder(&grandchild, 5), Some(child.chat_id.as_str()));
        assert_eq!(holder(&grandchild, 8), Some(grandchild.chat_id.as_str()));
        assert_eq!(holder(&grandchild, 12), None);
        assert_eq!(holder(&root, -1), None);
    }

    #[test]
    fn members_share_the_prefix_their_holders_share() {
        let (root, child, grandchild) = chain();
        assert_eq!(common_prefix(&root, &child), 5);
        assert_eq!(common_prefix(&child, &grandchild), 8);
        assert_eq!(common_prefix(&grandchild, &child), 8);
        assert_eq!(common_prefix(&root, &grandchild), 5);
        assert_eq!(common_prefix(&child, &child), 9);
        let sibling = new_branch(&root, 2, "sibling", None);
        assert_eq!(common_prefix(&sibling, &grandchild), 3);
        let edited = edit_branch(&root, 0, "edit");
        assert_eq!(common_prefix(&edited, &root), 0);
    }

    #[test]
    fn paths_subtrees_and_drawing_order() {
        let (root, child, grandchild) = chain();
        let sibling = new_branch(&root, 2, "sibling", None);
        let members = vec![
            grandchild.clone(),
            sibling.clone(),
            root.clone(),
            child.clone(),
        ];
        let ids = |chats: Vec<&Chat>| chats.iter().map(|c| c.name.clone()).collect::<Vec<_>>();
        assert_eq!(
            ids(path_to(&members, &grandchild.chat_id)),
            ["root", "child", "grandchild"]
        );
        assert_eq!(
            ids(subtree(&members, &child.chat_id)),
            ["child", "grandchild"]
        );
        assert_eq!(subtree(&members, &root.chat_id).len(), 4);
        assert_eq!(
            ids(drawing_order(&members)),
            ["root", "sibling", "child", "grandchild"]
        );
    }

    /// What each member shows, as (holder, position) pairs, in a world of `members`.
    fn shows(members: &[Chat], chat_id: &str) -> Vec<(String, i64)> {
        let chat = members.iter().find(|m| m.chat_id == chat_id).unwrap();
        (0..chat.message_count)
            .map(|p| (holder(chat, p).unwrap().to_owned(), p))
            .collect()
    }

    /// Applies a promotion to a world where each stored message is named by (holder, position):
    /// returns, for each member, the original names of what it shows afterwards.
    fn after(members: &[Chat], promotion: &Promotion) -> Vec<(String, Vec<(String, i64)>)> {
        let mut world: Vec<Chat> = members
            .iter()
            .map(|m| {
                promotion
                    .changed
                    .iter()
                    .find(|c| c.chat_id == m.chat_id)
                    .unwrap_or(m)
                    .clone()
            })
            .collect();
        world.push(promotion.old_main.clone());
        // A stored message keeps its original name wherever it moves.
        let original = |holder: &str, p: i64| -> (String, i64) {
            promotion
                .moves
                .iter()
                .find(|m| m.to == holder && (m.first..=m.last).contains(&p))
                .map_or((holder.to_owned(), p), |m| (m.from.clone(), p))
        };
        world
            .iter()
            .map(|m| {
                let shown = shows(&world, &m.chat_id)
                    .into_iter()
                    .map(|(h, p)| original(&h, p))
                    .collect();
                (m.chat_id.clone(), shown)
            })
            .collect()
    }

    #[test]
    fn promoting_shows_the_branch_at_the_root_and_changes_nothing_else() {
        let (root, child, grandchild) = chain();
        let mut late = new_branch(&root, 8, "late", None); // cut after the promoted cut
        late.message_count = 11;
        let mut early = new_branch(&root, 1, "early", None);
        early.message_count = 3;
        let mut nested = new_branch(&grandchild, 10, "nested", None);
        nested.message_count = 13;
        let members = vec![
            root.clone(),
            child.clone(),
            grandchild.clone(),
            late.clone(),
            early.clone(),
            nested.clone(),
        ];
        let promotion = promote(&members, &grandchild.chat_id, "main before").unwrap();
        let world = after(&members, &promotion);
        let shown = |id: &str| world.iter().find(|(m, _)| m == id).unwrap().1.clone();
        assert_eq!(shown(&root.chat_id), shows(&members, &grandchild.chat_id));
        assert_eq!(
            shown(&promotion.old_main.chat_id),
            shows(&members, &root.chat_id)
        );
        for other in [&child, &grandchild, &late, &early, &nested] {
            assert_eq!(
                shown(&other.chat_id),
                shows(&members, &other.chat_id),
                "{}",
                other.name
            );
        }
        // The root now holds its whole history itself; the late branch hangs from the old main.
        let changed = |id: &str| promotion.changed.iter().find(|c| c.chat_id == id).unwrap();
        assert!(changed(&root.chat_id).lineage.is_empty());
        assert_eq!(
            changed(&late.chat_id).parent_chat_id.as_deref(),
            Some(promotion.old_main.chat_id.as_str())
        );
        assert!(
            promotion.changed.iter().all(|c| c.chat_id != early.chat_id),
            "untouched"
        );
        assert_eq!(promotion.old_main.created_from_message_index, Some(4));
        assert_eq!(promotion.old_main.message_count, 10);
        assert!(promote(&members, &root.chat_id, "x").is_none());
        // A branch as long as the root: the root's preview still follows its new history.
        let mut same = new_branch(&root, 0, "same", Some("b9".into()));
        same.message_count = root.message_count;
        let promotion = promote(&[root.clone(), same.clone()], &same.chat_id, "before").unwrap();
        let new_root = promotion.changed.iter().find(|c| c.is_root()).unwrap();
        assert_eq!(new_root.last_question.as_deref(), Some("b9"));
    }

    #[test]
    fn promoting_an_edit_of_the_first_message_moves_the_whole_main_line() {
        let (root, child, _) = chain();
        let mut edit = edit_branch(&root, 0, "edit");
        edit.message_count = 2;
        let members = vec![root.clone(), child.clone(), edit.clone()];
        let promotion = promote(&members, &edit.chat_id, "before").unwrap();
        let world = after(&members, &promotion);
        let shown = |id: &str| world.iter().find(|(m, _)| m == id).unwrap().1.clone();
        assert_eq!(shown(&root.chat_id), shows(&members, &edit.chat_id));
        assert_eq!(
            shown(&promotion.old_main.chat_id),
            shows(&members, &root.chat_id)
        );
        assert_eq!(shown(&child.chat_id), shows(&members, &child.chat_id));
        assert_eq!(promotion.old_main.created_from_message_index, Some(-1));
    }

    #[test]
    fn an_edit_branch_inherits_what_comes_before_the_edited_message() {
        let (root, child, _) = chain();
        let edit = edit_branch(&child, 6, "edit");
        assert_eq!(edit.message_count, 6);
        assert_eq!(edit.created_from_message_index, Some(5));
        assert_eq!(holder(&edit, 5), Some(child.chat_id.as_str()));
        let first = edit_branch(&root, 0, "edit");
        assert_eq!((first.message_count, first.lineage.len()), (0, 0));
        assert_eq!(first.created_from_message_index, Some(-1));
        assert_eq!(first.parent_chat_id.as_deref(), Some(root.chat_id.as_str()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment(chat_id: &str, upto: i64) -> Segment {
        Segment {
            chat_id: chat_id.into(),
            upto,
        }
    }

    fn root() -> Chat {
        new_root("alice", "root").0
    }

    fn branch_of(parent: &Chat, at: i64) -> Chat {
        new_branch(parent, at, "b", None)
    }

    #[test]
    fn a_new_root_is_the_active_member_of_its_own_conversation() {
        let (chat, conversation) = new_root("alice", "Trip");
        assert_eq!(chat.root_chat_id, chat.chat_id);
        assert_eq!(conversation.root_chat_id, chat.chat_id);
        assert_eq!(conversation.active_branch_id, chat.chat_id);
        assert_eq!(conversation.title, "Trip");
        assert_eq!(
            (conversation.branch_count, conversation.active_length),
            (0, 0)
        );
    }

    #[test]
    fn a_branch_of_a_root_inherits_one_segment() {
        let root = root();
        let branch = branch_of(&root, 4);
        assert_eq!(branch.lineage, [segment(&root.chat_id, 4)]);
        assert_eq!(branch.message_count, 5);
        assert_eq!(branch.root_chat_id, root.chat_id);
        assert_eq!(
            branch.parent_chat_id.as_deref(),
            Some(root.chat_id.as_str())
        );
    }

    #[test]
    fn branching_inside_the_inherited_prefix_skips_the_parent() {
        let root = root();
        let child = branch_of(&root, 4);
        let grandchild = branch_of(&child, 2);
        assert_eq!(grandchild.lineage, [segment(&root.chat_id, 2)]);
        let at_boundary = branch_of(&child, 4);
        assert_eq!(at_boundary.lineage, [segment(&root.chat_id, 4)]);
    }

    #[test]
    fn branching_past_the_prefix_adds_the_parent() {
        let root = root();
        let child = branch_of(&root, 4);
        let grandchild = branch_of(&child, 7);
        assert_eq!(
            grandchild.lineage,
            [segment(&root.chat_id, 4), segment(&child.chat_id, 7)]
        );
        let great = branch_of(&grandchild, 6);
        assert_eq!(
            great.lineage,
            [segment(&root.chat_id, 4), segment(&child.chat_id, 6)]
        );
        assert_eq!(great.root_chat_id, root.chat_id);
    }

    #[test]
    fn a_page_reads_only_the_pieces_that_hold_it() {
        let mut root = root();
        root.message_count = 10;
        let mut child = branch_of(&root, 4); // 0..=4 from root
        child.message_count = 9; // 5..=8 its own
        let mut grandchild = branch_of(&child, 7); // 0..=4 root, 5..=7 child
        grandchild.message_count = 12; // 8..=11 its own
        let (r, c, g) = (&root.chat_id, &child.chat_id, &grandchild.chat_id);
        assert_eq!(
            pieces(&grandchild, 0, 12),
            [(segment(r, 4), 0), (segment(c, 7), 5), (segment(g, 11), 8)]
        );
        assert_eq!(pieces(&grandchild, 9, 12), [(segment(g, 11), 9)]);
        assert_eq!(
            pieces(&grandchild, 3, 6),
            [(segment(r, 4), 3), (segment(c, 5), 5)]
        );
        assert_eq!(pieces(&grandchild, 6, 6), []);
        assert_eq!(pieces(&root, 2, 5), [(segment(r, 4), 2)]);
    }

    #[test]
    fn a_stored_message_is_shown_by_its_chat_and_the_branches_that_inherit_it() {
        let mut root = root();
        root.message_count = 6;
        let child = branch_of(&root, 2);
        let mut late = branch_of(&root, 4);
        late.message_count = 7;
        let members = [root.clone(), child.clone(), late.clone()];
        let showing = |position| members_showing(&members, &root.chat_id, position);
        assert_eq!(showing(1), [&root.chat_id, &child.chat_id, &late.chat_id]);
        assert_eq!(showing(3), [&root.chat_id, &late.chat_id]);
        assert_eq!(showing(5), [&root.chat_id]);
        assert_eq!(members_showing(&members, &late.chat_id, 6), [&late.chat_id]);
    }
}
