//! Paging costs, against a real MongoDB, in one run:
//! - (a) get-chat of the newest page (default limit, 100) and of the oldest page (`before`) of
//!   a 10,000-message chat vs the one page of a 10-message chat: a page costs what it holds,
//!   not what the history holds (target: ratio of medians ≤ 1.5);
//! - (b) list-chats' first page (limit 20) for an account with 10,000 conversations vs one
//!   with 10;
//! - (c) search-messages over an account holding 100,000 messages, for a word in 1% of them.
//!
//! The large data sets are written straight into MongoDB in the store's own document shapes
//! (`bench::Seeder`); the small ones and every measured call go through `Endpoint::handle`,
//! in-process, as the Lambda runtime calls it. Rounds are interleaved, so drift on the machine
//! hits every side alike. The database is dropped at the end.
//!
//! Run: `cargo run --release -p bench --bin paging [--quick] [rounds]` (default 300 rounds;
//! `--quick`: 20 rounds over data sets a tenth of the size, for CI).

use std::time::{Duration, Instant};

use bench::{Caller, Seeder, report_pair, summary, timed, typed};
use shared::Endpoint;
use shared::views::{ConversationView, Page, SearchHit};

/// Rounds run first and thrown away: connection pools, caches and the allocator settle.
const WARM_UP: usize = 20;

/// The searched word, in 1% of the messages; the others are drawn from `WORDS`.
const NEEDLE: &str = "zanzibar";
const WORDS: [&str; 48] = [
    "branch",
    "message",
    "history",
    "question",
    "answer",
    "model",
    "prompt",
    "token",
    "context",
    "window",
    "summary",
    "draft",
    "review",
    "travel",
    "budget",
    "recipe",
    "garden",
    "weather",
    "market",
    "report",
    "letter",
    "meeting",
    "schedule",
    "project",
    "invoice",
    "contract",
    "design",
    "kitchen",
    "bicycle",
    "mountain",
    "river",
    "library",
    "concert",
    "museum",
    "holiday",
    "airport",
    "station",
    "hospital",
    "school",
    "college",
    "office",
    "studio",
    "camera",
    "guitar",
    "piano",
    "coffee",
    "dinner",
    "breakfast",
];

struct Sizes {
    long_chat: usize,
    many_conversations: usize,
    searched_messages: usize,
    rounds: usize,
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    let mut sizes = match quick {
        true => Sizes {
            long_chat: 1_000,
            many_conversations: 1_000,
            searched_messages: 10_000,
            rounds: 20,
        },
        false => Sizes {
            long_chat: 10_000,
            many_conversations: 10_000,
            searched_messages: 100_000,
            rounds: 300,
        },
    };
    if let Some(rounds) = args.iter().find(|a| !a.starts_with("--")) {
        sizes.rounds = rounds.parse().expect("rounds");
    }
    let Sizes {
        long_chat,
        many_conversations,
        searched_messages,
        rounds,
    } = sizes;

    let setup = Instant::now();
    let reader = Caller::new("bench_paging").await;
    let seeder = Seeder::new(&reader.app.config.database).await;

    // (a) A 10-message chat through the API; a 10,000-message one written directly.
    let step = Instant::now();
    let short = reader.create_chat("short").await;
    reader.add_messages(&short, 10).await;
    let long = seeder
        .conversations(&reader.account_id, 1, long_chat, |_, i| {
            (format!("question {i}"), format!("answer {i}"))
        })
        .await
        .remove(0)
        .chat_id;
    let newest = reader.get_chat(&long, None, None).await;
    let oldest = reader.get_chat(&long, None, Some(100)).await;
    assert_eq!(newest.message_count, long_chat as i64);
    assert_eq!(newest.messages.len(), 100);
    assert_eq!(newest.messages[99].index, long_chat as i64 - 1);
    assert_eq!(newest.next_before, Some(long_chat as i64 - 100));
    assert_eq!(oldest.messages.first().map(|m| m.index), Some(0));
    assert!(!oldest.has_more);
    assert_eq!(reader.get_chat(&short, None, None).await.messages.len(), 10);
    let setup_a = step.elapsed();

    // (b) 10,000 conversations for one account, 10 for another.
    let step = Instant::now();
    let many = reader.another_account("many").await;
    let few = reader.another_account("few").await;
    let empty = |_, _| (String::new(), String::new());
    seeder
        .conversations(&many.account_id, many_conversations, 0, empty)
        .await;
    seeder.conversations(&few.account_id, 10, 0, empty).await;
    for (caller, n) in [(&many, many_conversations), (&few, 10)] {
        let page: Page<ConversationView> =
            typed(caller.get(Endpoint::ListChats, &[("limit", "20")]).await);
        assert_eq!(page.items.len(), 20.min(n));
        assert_eq!(page.next_cursor.is_some(), n > 20);
    }
    let setup_b = step.elapsed();

    // (c) 100,000 messages in 100 conversations of 1,000, `NEEDLE` in every hundredth.
    let step = Instant::now();
    let searcher = reader.another_account("searcher").await;
    let per_chat = 1_000;
    seeder
        .conversations(
            &searcher.account_id,
            searched_messages / per_chat,
            per_chat,
            |c, i| texts(c * per_chat + i),
        )
        .await;
    let hits = count_hits(&searcher).await;
    assert_eq!(hits, searched_messages / 100, "hits for {NEEDLE:?}");
    let setup_c = step.elapsed();
    println!(
        "setup {:.1} s: (a) {:.1} s, (b) {:.1} s, (c) {:.1} s (text index included; the search \
         finds {hits} hits, {:.0}% of {searched_messages} messages, all paged through once)",
        setup.elapsed().as_secs_f64(),
        setup_a.as_secs_f64(),
        setup_b.as_secs_f64(),
        setup_c.as_secs_f64(),
        hits as f64 * 100.0 / searched_messages as f64
    );

    let mut samples: [Vec<Duration>; 7] = Default::default();
    let before_oldest = 100.to_string();
    for round in 0..WARM_UP + rounds {
        let took = [
            timed(reader.get(Endpoint::GetChat, &[("chat_id", &short)]))
                .await
                .1,
            timed(reader.get(Endpoint::GetChat, &[("chat_id", &long)]))
                .await
                .1,
            timed(reader.get(
                Endpoint::GetChat,
                &[("chat_id", &long), ("before", &before_oldest)],
            ))
            .await
            .1,
            timed(few.get(Endpoint::ListChats, &[("limit", "20")]))
                .await
                .1,
            timed(many.get(Endpoint::ListChats, &[("limit", "20")]))
                .await
                .1,
            timed(searcher.get(Endpoint::SearchMessages, &[("q", NEEDLE)]))
                .await
                .1,
            timed(searcher.get(Endpoint::SearchMessages, &[("q", NEEDLE), ("limit", "100")]))
                .await
                .1,
        ];
        if round >= WARM_UP {
            for (side, took) in samples.iter_mut().zip(took) {
                side.push(took);
            }
        }
    }

    println!(
        "{rounds} rounds after {WARM_UP} warm-up, interleaved, in-process handlers, {} cores{}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        if quick {
            " (--quick: small data sets)"
        } else {
            ""
        }
    );
    let [
        short_page,
        newest_page,
        oldest_page,
        few_list,
        many_list,
        search,
        search_100,
    ] = &mut samples;
    let long_name = format!("{} messages", thousands(long_chat));
    report_pair(
        "get-chat newest page",
        ("10 messages (one page)", short_page),
        (&format!("{long_name}, newest 100"), newest_page),
        Some(1.5),
    );
    report_pair(
        "get-chat oldest page",
        ("10 messages (one page)", short_page),
        (&format!("{long_name}, before=100"), oldest_page),
        Some(1.5),
    );
    report_pair(
        "list-chats first page",
        ("10 conversations, limit 20", few_list),
        (
            &format!("{} conversations, limit 20", thousands(many_conversations)),
            many_list,
        ),
        None,
    );
    for (what, side) in [("first 20 hits", search), ("first 100 hits", search_100)] {
        let (median, p90) = summary(side);
        println!(
            "search-messages: {:<34} median {median:.3} ms  p90 {p90:.3} ms",
            format!("{what} of {hits}")
        );
    }
    println!(
        "search-messages: over {} messages, {NEEDLE:?} in 1% of them",
        thousands(searched_messages)
    );

    seeder
        .db
        .drop()
        .await
        .expect("drop the benchmark's database");
}

/// A question of about 12 words and an answer of about 40, from `WORDS`; every hundredth
/// question holds `NEEDLE`.
fn texts(n: usize) -> (String, String) {
    let mut state = (n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut word = || {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        WORDS[(state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % WORDS.len()]
    };
    let mut question: Vec<&str> = (0..12).map(|_| word()).collect();
    if n % 100 == 37 {
        question[5] = NEEDLE;
    }
    let answer: Vec<&str> = (0..40).map(|_| word()).collect();
    (
        format!("{}?", question.join(" ")),
        format!("{}.", answer.join(" ")),
    )
}

/// Every hit for `NEEDLE`, paged through 100 at a time.
async fn count_hits(searcher: &Caller) -> usize {
    let mut hits = 0;
    let mut cursor: Option<String> = None;
    loop {
        let mut query = vec![("q", NEEDLE), ("limit", "100")];
        if let Some(cursor) = &cursor {
            query.push(("cursor", cursor));
        }
        let page: Page<SearchHit> = typed(searcher.get(Endpoint::SearchMessages, &query).await);
        assert!(page.items.iter().all(|h| h.snippet.contains(NEEDLE)));
        hits += page.items.len();
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return hits,
        }
    }
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
