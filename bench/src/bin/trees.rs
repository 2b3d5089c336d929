//! Tree operation costs, against a real MongoDB, in one run:
//! - (a) get-tree of a conversation of 10 members vs one of 1,000 (the most a tree may hold):
//!   one indexed query for the members either way, so the ratio is what 100 times the members
//!   costs to read, order and encode;
//! - (b) fork-chat of a 10,000-message chat (questions of about 75 bytes, answers of about
//!   240): every message copied, in one transaction;
//! - (c) promote-branch of a branch at depth 10 (each level's messages move into the root);
//! - (d) import-chats of a 2,000-message ChatGPT export (2,000 question/answer pairs, 4,000
//!   nodes, about 1.7 MB), the same body every round.
//!
//! The trees, the long chat and each round's fresh tree for (c) are written straight into
//! MongoDB in the store's own shapes (`bench::Seeder`, built by `shared::tree`'s rules); every
//! measured call goes through `Endpoint::handle`, in-process, as the Lambda runtime calls it.
//! Rounds are interleaved — each round times (a) ten times a side, then (b), (c) and (d) once —
//! so drift on the machine hits every side alike; what a round creates (forks, imports,
//! promoted trees) is removed after it, untimed, so every round meets the same database. The
//! database is dropped at the end.
//!
//! A fork of 10,000 messages writes about 9.6 MB in one transaction, and MongoDB keeps five
//! minutes of history (`minSnapshotHistoryWindowInSeconds`, which list-chats' snapshots need)
//! in the cache of `scripts/mongo.sh`'s mongod, 256 MB: some sixteen such forks in a row fill
//! it, and from then on every fork runs past the request deadline (503; see
//! bench/examples/fork_cache_cliff.rs). This run's 23 forks, spaced by its other calls and each
//! removed after its round, stayed below that when measured; should a fork fail all the same,
//! it is reported, forks stop, and the rest goes on. Run it on a MongoDB that had no such load
//! in the last five minutes.
//!
//! Run: `cargo run --release -p bench --bin trees [--quick] [rounds]` (default 20 rounds after
//! 2 warm-up; `--quick`: 5 rounds after 1, a 1,000-message chat to fork and a 200-message
//! export to import: a few seconds).

use std::time::{Duration, Instant};

use bench::{Caller, Seeder, report_pair, summary, timed, typed};
use serde_json::{Value, json};
use shared::Endpoint;
use shared::exports::ImportedView;
use shared::requests::ForkChat;
use shared::views::{ChatView, PromotionView, TreeView};

/// get-tree calls per side per round.
const TREE_READS: usize = 10;

struct Sizes {
    big_tree: usize,
    long_chat: usize,
    export_messages: usize,
    depth: usize,
    rounds: usize,
    warm_up: usize,
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    let mut sizes = match quick {
        true => Sizes {
            big_tree: 1_000,
            long_chat: 1_000,
            export_messages: 200,
            depth: 10,
            rounds: 5,
            warm_up: 1,
        },
        false => Sizes {
            big_tree: 1_000,
            long_chat: 10_000,
            export_messages: 2_000,
            depth: 10,
            rounds: 20,
            warm_up: 2,
        },
    };
    if let Some(rounds) = args.iter().find(|a| !a.starts_with("--")) {
        sizes.rounds = rounds.parse().expect("rounds");
    }
    let Sizes {
        big_tree,
        long_chat,
        export_messages,
        depth,
        rounds,
        warm_up,
    } = sizes;

    let setup = Instant::now();
    let caller = Caller::new("bench_trees").await;
    let account = caller.account_id.clone();
    let seeder = Seeder::new(&caller.app.config.database).await;

    // (a) Two trees of random shape: each branch cut from an earlier member.
    let step = Instant::now();
    let small = seeder
        .tree(&account, "small tree", 20, &shape(10, 20))
        .await
        .remove(0);
    let big = seeder
        .tree(&account, "big tree", 20, &shape(big_tree, 20))
        .await
        .remove(0);
    for (root, members) in [(&small, 10), (&big, big_tree)] {
        let tree: TreeView = typed(caller.get(Endpoint::GetTree, &[("chat_id", root)]).await);
        assert_eq!(tree.member_count, members as i64);
        assert_eq!(tree.members.len(), members);
        assert!(tree.next_cursor.is_none());
    }
    let setup_a = step.elapsed();

    // (b) One long chat.
    let step = Instant::now();
    let long = seeder
        .conversations(&account, 1, long_chat, |_, i| {
            (
                format!("question {i}: {}", "words of a question ".repeat(3)),
                format!("answer {i}: {}", "words of an answer ".repeat(12)),
            )
        })
        .await
        .remove(0)
        .chat_id;
    let fork = ForkChat {
        chat_id: long.clone(),
        message_index: None,
        name: "fork".into(),
    };
    let copy: ChatView = typed(caller.call(Endpoint::ForkChat, &[], &fork).await);
    assert_eq!(copy.message_count, long_chat as i64);
    assert_eq!(caller.history(&copy.chat_id).await.len(), long_chat);
    seeder.remove_conversation(&account, &copy.chat_id).await;
    let setup_b = step.elapsed();

    // (c) A chain: a root of 11 messages, then a branch of the branch before, `depth` times;
    // each cut five messages before its parent's end, each holding ten of its own.
    let step = Instant::now();
    let chain: Vec<(usize, usize, usize)> = (0..depth).map(|i| (i, 5 + i * 5, 10)).collect();
    let (root, deepest) = promotable(&seeder, &account, &chain).await;
    let promoted: PromotionView = typed(
        caller
            .get(Endpoint::PromoteBranch, &[("branch_id", &deepest)])
            .await,
    );
    // The root's 5 messages after the cut move to the old main line, and each level's own
    // messages the deepest branch shows move into the root: 5 per level but its own 10.
    assert_eq!(promoted.moved_messages, 5 + 5 * (depth as i64 - 1) + 10);
    let after = caller.history(&root).await;
    assert_eq!(after.len(), 6 + 5 * (depth - 1) + 10);
    seeder.remove_conversation(&account, &root).await;
    let setup_c = step.elapsed();

    // (d) A ChatGPT export: a root node with no message, then user and assistant nodes in turn.
    let step = Instant::now();
    let export = chatgpt_export(export_messages);
    let body_bytes = serde_json::to_vec(&json!([&export])).unwrap().len();
    let imported: Vec<ImportedView> = typed(
        caller
            .call(Endpoint::ImportChats, &[], &json!([&export]))
            .await,
    );
    assert_eq!(imported[0].message_count, export_messages as i64);
    assert_eq!(imported[0].branch_count, 0);
    let read = caller.history(&imported[0].chat_id).await;
    assert_eq!(read.len(), export_messages);
    let last = format!("question {} of the export", export_messages - 1);
    assert_eq!(read[export_messages - 1].question, last);
    seeder
        .remove_conversation(&account, &imported[0].chat_id)
        .await;
    let setup_d = step.elapsed();
    println!(
        "setup {:.1} s: (a) {:.1} s (trees of 10 and {} members, written directly), (b) {:.1} s \
         ({} messages written directly, forked once and read back), (c) {:.1} s (a depth-{depth} \
         chain written directly, promoted once and read back), (d) {:.1} s (an export of {} \
         messages, {:.1} MB, imported once and read back)",
        setup.elapsed().as_secs_f64(),
        setup_a.as_secs_f64(),
        thousands(big_tree),
        setup_b.as_secs_f64(),
        thousands(long_chat),
        setup_c.as_secs_f64(),
        setup_d.as_secs_f64(),
        thousands(export_messages),
        body_bytes as f64 / 1e6,
    );

    let (mut small_reads, mut big_reads) = (Vec::new(), Vec::new());
    let (mut forks, mut promotes, mut imports) = (Vec::new(), Vec::new(), Vec::new());
    let mut between = Duration::ZERO;
    let mut fork_failed = None;
    for round in 0..warm_up + rounds {
        let keep = round >= warm_up;
        for _ in 0..TREE_READS {
            let (_, took) = timed(caller.get(Endpoint::GetTree, &[("chat_id", &small)])).await;
            if keep {
                small_reads.push(took);
            }
            let (_, took) = timed(caller.get(Endpoint::GetTree, &[("chat_id", &big)])).await;
            if keep {
                big_reads.push(took);
            }
        }
        let mut copy = None;
        if fork_failed.is_none() {
            let request = caller.request(Endpoint::ForkChat, &[], Some(&fork));
            let (response, took) = timed(Endpoint::ForkChat.handle(&caller.app, request)).await;
            let body: Value = serde_json::from_slice(response.body().as_ref()).unwrap_or_default();
            match response.status().is_success() {
                true => copy = Some(typed::<ChatView>(body).chat_id),
                false => fork_failed = Some((round, response.status(), body, took)),
            }
            if keep && copy.is_some() {
                forks.push(took);
            }
        }
        let clean = Instant::now();
        let (root, deepest) = promotable(&seeder, &account, &chain).await;
        between += clean.elapsed();
        let query = [("branch_id", deepest.as_str())];
        let (_, took) = timed(caller.get(Endpoint::PromoteBranch, &query)).await;
        if keep {
            promotes.push(took);
        }
        let body = json!([&export]);
        let (imported, took) = timed(caller.call(Endpoint::ImportChats, &[], &body)).await;
        if keep {
            imports.push(took);
        }
        let clean = Instant::now();
        let imported: Vec<ImportedView> = typed(imported);
        if let Some(copy) = copy {
            seeder.remove_conversation(&account, &copy).await;
        }
        seeder.remove_conversation(&account, &root).await;
        seeder
            .remove_conversation(&account, &imported[0].chat_id)
            .await;
        between += clean.elapsed();
    }

    println!(
        "{rounds} rounds after {warm_up} warm-up, interleaved ({TREE_READS} get-tree a side per \
         round), in-process handlers, {} cores{}; untimed work between calls (a fresh tree for \
         each promote, removing what each round made) {:.1} s",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        if quick {
            " (--quick: small fork and import)"
        } else {
            ""
        },
        between.as_secs_f64()
    );
    report_pair(
        "get-tree",
        ("10 members", &mut small_reads),
        (&format!("{} members", thousands(big_tree)), &mut big_reads),
        None,
    );
    if let Some((round, status, body, took)) = &fork_failed {
        println!(
            "fork-chat FAILED in round {round} (counting warm-up) after {took:.1?}: {status} \
             {body}; no forks after it"
        );
    }
    for (what, samples) in [
        (
            format!("fork-chat of {} messages", thousands(long_chat)),
            &mut forks,
        ),
        (format!("promote-branch at depth {depth}"), &mut promotes),
        (
            format!("import-chats of {} messages", thousands(export_messages)),
            &mut imports,
        ),
    ] {
        if samples.is_empty() {
            println!("{what:<40} no samples");
            continue;
        }
        let (median, p90) = summary(samples);
        println!(
            "{what:<40} median {median:.3} ms  p90 {p90:.3} ms  ({} rounds)",
            samples.len()
        );
    }

    seeder
        .db
        .drop()
        .await
        .expect("drop the benchmark's database");
}

/// `members - 1` branches, each cut from a random earlier member (deterministically) at a
/// random visible message, holding 0 to 3 of its own; the root holds `root_messages`.
fn shape(members: usize, root_messages: usize) -> Vec<(usize, usize, usize)> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut below = |n: usize| {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        (state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % n
    };
    let mut lengths = vec![root_messages];
    let mut branches = Vec::new();
    for _ in 1..members {
        let parent = below(lengths.len());
        let cut = below(lengths[parent]);
        let own = below(4);
        lengths.push(cut + 1 + own);
        branches.push((parent, cut, own));
    }
    branches
}

/// A fresh tree for promote-branch: a root of 11 messages and the `chain`; returns the root
/// and the deepest branch.
async fn promotable(
    seeder: &Seeder,
    account: &str,
    chain: &[(usize, usize, usize)],
) -> (String, String) {
    let mut members = seeder.tree(account, "chain", 11, chain).await;
    let deepest = members.pop().expect("a branch");
    (members.swap_remove(0), deepest)
}

/// A ChatGPT `conversations.json` entry of `pairs` questions and answers, one after the other.
fn chatgpt_export(pairs: usize) -> Value {
    let mut mapping = serde_json::Map::new();
    let root = "client-created-root".to_owned();
    mapping.insert(
        root.clone(),
        json!({"id": root, "message": null, "parent": null, "children": []}),
    );
    let created = 1_700_000_000.0;
    let mut parent = root;
    for i in 0..pairs {
        for (role, text) in [
            ("user", format!("question {i} of the export")),
            (
                "assistant",
                format!(
                    "answer {i}: {}",
                    "a sentence of a longer answer. ".repeat(12)
                ),
            ),
        ] {
            let id = format!("{role}-{i}");
            mapping.insert(
                id.clone(),
                json!({
                    "id": id,
                    "message": {
                        "id": id,
                        "author": {"role": role},
                        "create_time": created + i as f64 * 10.0,
                        "content": {"content_type": "text", "parts": [text]},
                    },
                    "parent": parent,
                    "children": [],
                }),
            );
            mapping[&parent]["children"]
                .as_array_mut()
                .unwrap()
                .push(json!(id));
            parent = id;
        }
    }
    json!({
        "title": "A long conversation",
        "create_time": created,
        "update_time": created + pairs as f64 * 10.0,
        "mapping": mapping,
        "current_node": parent,
    })
}

fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
