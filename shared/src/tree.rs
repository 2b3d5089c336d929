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
