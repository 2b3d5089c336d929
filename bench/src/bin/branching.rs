//! Branching costs, against a real MongoDB:
//! - create-branch on a parent of 10 vs 10,000 messages (zero copy: the ratio should be ~1);
//! - get-chat of a branch at depth 1 vs depth 10 with the same number of visible messages
//!   (one messages query whatever the depth: the ratio should be ~1).
//!
//! Run: `cargo run --release -p bench --bin branching [rounds]` (default 300 rounds).

use bench::{Caller, Seeder, report_pair, timed};

const VISIBLE: usize = 100;

#[tokio::main]
async fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .map_or(300, |n| n.parse().expect("rounds"));
    let caller = Caller::new("bench_branching").await;

    eprintln!("seeding a 10-message chat and a 10,000-message chat…");
    let small = caller.create_chat("small").await;
    caller.add_messages(&small, 10).await;
    // Written straight into MongoDB, in the store's own shapes: 10,000 appends through the
    // API would take most of a minute and measure nothing here.
    let seeder = Seeder::new(&caller.app.config.database).await;
    let large = seeder
        .conversations(&caller.account_id, 1, 10_000, |_, i| {
            (format!("question {i}"), format!("answer {i}"))
        })
        .await
        .remove(0)
        .chat_id;
    assert_eq!(
        caller.get_chat(&large, None, None).await.message_count,
        10_000
    );

    eprintln!("seeding a depth-1 and a depth-10 branch, {VISIBLE} visible messages each…");
    let shallow_root = caller.create_chat("shallow").await;
    caller.add_messages(&shallow_root, VISIBLE).await;
    let shallow = caller.create_branch(&shallow_root, VISIBLE - 1).await;
    // Depth 10: every level inherits 10 more messages than its parent did.
    let step = VISIBLE / 10;
    let mut deep = caller.create_chat("deep").await;
    caller.add_messages(&deep, step).await;
    for level in 1..=10 {
        deep = caller.create_branch(&deep, level * step - 1).await;
        if level < 10 {
            caller.add_messages(&deep, step).await;
        }
    }
    for chat in [&shallow, &deep] {
        let view = caller.get_chat(chat, None, None).await;
        assert_eq!(view.messages.len(), VISIBLE);
        assert_eq!(view.message_count, VISIBLE as i64);
    }

    // Interleaved, so drift on the machine hits both sides alike.
    let (mut branch_small, mut branch_large, mut read_shallow, mut read_deep) =
        (vec![], vec![], vec![], vec![]);
    for _ in 0..rounds {
        branch_small.push(timed(caller.create_branch(&small, 9)).await.1);
        branch_large.push(timed(caller.create_branch(&large, 9_999)).await.1);
        read_shallow.push(timed(caller.get_chat(&shallow, None, None)).await.1);
        read_deep.push(timed(caller.get_chat(&deep, None, None)).await.1);
    }

    println!(
        "{rounds} rounds each, in-process handlers, {} cores",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    report_pair(
        "create-branch",
        ("parent of 10 messages", &mut branch_small),
        ("parent of 10,000 messages", &mut branch_large),
        Some(1.5),
    );
    report_pair(
        "get-chat",
        ("branch at depth 1", &mut read_shallow),
        ("branch at depth 10", &mut read_deep),
        Some(2.0),
    );
}
