//! What the load knows about each chat's history, exactly, independently of how the service
//! stores it.
//!
//! Every message the load writes fills a *slot*: `(source, index)`. A source is where a chat's
//! own messages go: a branch's id, or for a root `"{root}#{n}"`, `n` counting the promotions
//! of its conversation (a promote gives the root a new history, and its later messages must
//! not be confused with the old ones, which the old main line now shows). A chat's history is
//! its inherited pieces (source, last index taken) followed by its own slots; two members show
//! the same message at an index exactly when they show the same slot there.
//!
//! Where each slot is *stored* is modelled apart (`Storage`): in the chat that wrote it, until
//! a promote moves it (the root's messages after the cut to the old main line, the promoted
//! branch's later messages to the root), as the README documents.

use std::collections::HashMap;

/// Where a chat's own messages go (see the module's description).
pub type Src = String;

/// A slot: a source and an index.
pub type Slot = (Src, usize);

/// A chat's visible history, as pieces of sources.
#[derive(Clone, Debug, PartialEq)]
pub struct History {
    /// Inherited pieces, root first: each a source and the last index taken from it; together
    /// they cover indexes `0..own_from`.
    pub segments: Vec<(Src, usize)>,
    /// Where its own messages go: indexes `own_from..`.
    pub src: Src,
    pub own_from: usize,
}

impl History {
    /// A history of its own messages only.
    pub fn own(src: Src) -> Self {
        Self {
            segments: Vec::new(),
            src,
            own_from: 0,
        }
    }

    /// The slot at index `i`.
    pub fn slot(&self, i: usize) -> Slot {
        for (src, upto) in &self.segments {
            if i <= *upto {
                return (src.clone(), i);
            }
        }
        (self.src.clone(), i)
    }

    /// The first `len` indexes as runs of one source: `(source, first, last)`.
    pub fn pieces(&self, len: usize) -> Vec<(Src, usize, usize)> {
        let mut pieces = Vec::new();
        let mut start = 0;
        for (src, upto) in &self.segments {
            if start >= len {
                return pieces;
            }
            pieces.push((src.clone(), start, (*upto).min(len - 1)));
            start = upto + 1;
        }
        if start < len {
            pieces.push((self.src.clone(), start, len - 1));
        }
        pieces
    }

    /// The history of a chat that inherits the first `n` messages of this one and writes its
    /// own to `src`.
    pub fn prefix(&self, n: usize, src: Src) -> Self {
        Self {
            segments: self
                .pieces(n)
                .into_iter()
                .map(|(src, _, last)| (src, last))
                .collect(),
            src,
            own_from: n,
        }
    }

    /// How many leading messages two histories of lengths `a_len` and `b_len` share.
    pub fn common_prefix(&self, a_len: usize, other: &History, b_len: usize) -> usize {
        let len = a_len.min(b_len);
        (0..len)
            .find(|&i| self.slot(i) != other.slot(i))
            .unwrap_or(len)
    }
}

/// The chat a source belongs to: a root's `"{root}#{n}"` is the root's.
pub fn home(src: &str) -> &str {
    src.split('#').next().unwrap_or(src)
}

/// The source of a root's history after `promotions` promotions.
pub fn root_src(root: &str, promotions: usize) -> Src {
    format!("{root}#{promotions}")
}

/// Where slots are stored: in their source's chat unless a promote moved them.
#[derive(Clone, Debug, Default)]
pub struct Storage {
    /// `(source, first, last, chat)`, oldest first: those slots moved to `chat`.
    pub moves: Vec<(Src, usize, usize, String)>,
}

impl Storage {
    pub fn holder(&self, (src, i): &Slot) -> String {
        self.moves
            .iter()
            .rev()
            .find(|(s, first, last, _)| s == src && (*first..=*last).contains(i))
            .map_or_else(|| home(src).to_owned(), |(_, _, _, chat)| chat.clone())
    }
}

/// What a promote does to the model, per the README: `root` shows `branch`'s history from now
/// on (a new source for its later messages), the old main line shows the root's old history,
/// and the slots after the cut move: the root's to the old main line, the branch's to the root.
pub struct Promotion {
    /// The last index the branch shares with the root (-1: none).
    pub cut: i64,
    pub root: History,
    pub old_main: History,
    pub moves: Vec<(Src, usize, usize, String)>,
    /// Messages moved.
    pub moved: usize,
}

pub fn promote(
    root_id: &str,
    root: &History,
    root_len: usize,
    branch: &History,
    branch_len: usize,
    promotions: usize,
    old_main_id: &str,
) -> Promotion {
    let shared = root.common_prefix(root_len, branch, branch_len);
    let cut = shared as i64 - 1;
    let after_cut = |pieces: Vec<(Src, usize, usize)>, to: &str| {
        pieces
            .into_iter()
            .filter(|(_, _, last)| *last >= shared)
            .map(|(src, first, last)| (src, first.max(shared), last, to.to_owned()))
            .collect::<Vec<_>>()
    };
    let mut moves = after_cut(root.pieces(root_len), old_main_id);
    moves.extend(after_cut(branch.pieces(branch_len), root_id));
    let moved = moves
        .iter()
        .map(|(_, first, last, _)| last - first + 1)
        .sum();
    Promotion {
        cut,
        root: branch.prefix(branch_len, root_src(root_id, promotions + 1)),
        old_main: root.prefix(root_len, old_main_id.to_owned()),
        moves,
        moved,
    }
}

/// A whole tree as the model has it: per live member, its history and length.
pub struct Member<'a> {
    pub chat_id: &'a str,
    pub is_root: bool,
    /// `created_from_message_index` (-1: none inherited), for a branch.
    pub cut: Option<i64>,
    pub history: &'a History,
    pub len: usize,
}

/// How many messages the live members store (each stored once, in the chat that holds it);
/// and how many export-chat shows if it walks each member's stored messages from its cut and
/// stops at the first one the member does not hold (see bench/examples/export_after_promote.rs).
pub fn stored_and_exported(members: &[Member], storage: &Storage) -> (usize, usize) {
    let (mut stored, mut exported) = (0, 0);
    for member in members {
        let holds = |i: usize| storage.holder(&member.history.slot(i)) == member.chat_id;
        stored += (0..member.len).filter(|&i| holds(i)).count();
        let from = match member.is_root {
            true => 0,
            false => (member.cut.unwrap_or(-1) + 1).max(0) as usize,
        };
        exported += (from..member.len).take_while(|&i| holds(i)).count();
    }
    (stored, exported)
}

/// The members of a tree from its root down to `chat_id`, following parents.
pub fn path_to(parents: &HashMap<&str, Option<&str>>, chat_id: &str) -> Vec<String> {
    let mut path = vec![chat_id.to_owned()];
    let mut at = chat_id;
    while let Some(Some(parent)) = parents.get(at) {
        path.push((*parent).to_owned());
        at = parent;
        if path.len() > parents.len() + 1 {
            break;
        }
    }
    path.reverse();
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_prefixes_and_promotion() {
        let root = History::own(root_src("r", 0));
        let a = root.prefix(2, "a".into()); // r0 r1, then a's own
        assert_eq!(a.slot(1), ("r#0".into(), 1));
        assert_eq!(a.slot(2), ("a".into(), 2));
        let b = a.prefix(3, "b".into()); // r0 r1 a2, then b's own
        assert_eq!(b.common_prefix(5, &a, 4), 3);
        assert_eq!(b.common_prefix(5, &root, 4), 2);
        let p = promote("r", &root, 4, &b, 5, 0, "old");
        assert_eq!(p.cut, 1);
        assert_eq!(p.moved, 2 + 3);
        assert_eq!(p.root.slot(2), ("a".into(), 2));
        assert_eq!(p.root.slot(5), ("r#1".into(), 5));
        assert_eq!(p.old_main.slot(3), ("r#0".into(), 3));
        let mut storage = Storage::default();
        storage.moves.extend(p.moves);
        assert_eq!(storage.holder(&("r#0".into(), 3)), "old");
        assert_eq!(storage.holder(&("r#0".into(), 1)), "r");
        assert_eq!(storage.holder(&("a".into(), 2)), "r");
        assert_eq!(storage.holder(&("b".into(), 4)), "r");
        assert_eq!(storage.holder(&("b".into(), 5)), "b");
        let edit = root.prefix(0, "e".into());
        assert_eq!(edit.pieces(1), [("e".into(), 0, 0)]);
    }
}
