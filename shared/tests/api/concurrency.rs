//! Appends are safe under concurrency: dense, distinct positions and nothing lost.

use std::collections::BTreeSet;

use mongodb::bson::{Document, doc};
use serde_json::Value;
use shared::{Config, Endpoint};

use crate::common::*;

/// 200 appends at once, spread over four apps on one database — four MongoDB clients, like four
/// Lambda instances — so they contend both within a process and across processes.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_concurrent_appends_to_one_chat_all_land_in_distinct_dense_positions() {
    const N: usize = 200;
    let app = app().await;
    let mut instances = vec![app.clone()];
    for _ in 1..4 {
        instances.push(app_with(Config::new(mongodb_uri(), app.config.database.clone())).await);
    }
    let (_, token) = user(&app).await;
    let chat_id = create_chat(&app, &token, "busy").await;

    let tasks: Vec<_> = (0..N)
        .map(|i| {
            let (app, token, chat_id) = (
                instances[i % instances.len()].clone(),
                token.clone(),
                chat_id.clone(),
            );
            tokio::spawn(async move { add_message(&app, &token, &chat_id, &format!("q{i}")).await })
        })
        .collect();
    let mut acknowledged = Vec::new();
    for task in tasks {
        let reply = task.await.unwrap();
        assert_eq!(reply.status, 200, "{}", reply.body);
        acknowledged.push(reply.body);
    }

    let indexes: BTreeSet<i64> = acknowledged
        .iter()
        .map(|m| m["index"].as_i64().unwrap())
        .collect();
    assert_eq!(
        indexes,
        (0..N as i64).collect(),
        "positions are distinct and dense"
    );

    // The chat shows every acknowledged message exactly once, at the index it was given.
    let chat = get(
        "/api/v1/chats/get-chat",
        &[("chat_id", &chat_id), ("limit", "1000")],
    )
    .token(&token)
    .send(&app, Endpoint::GetChat)
    .await
    .body;
    let messages = chat["messages"].as_array().unwrap();
    assert_eq!(messages.len(), N);
    for (position, message) in messages.iter().enumerate() {
        assert_eq!(message["index"], position as i64);
    }
    let mut shown: Vec<&Value> = messages.iter().collect();
    shown.sort_by_key(|m| m["response_id"].as_str().unwrap().to_owned());
    let mut sent: Vec<&Value> = acknowledged.iter().collect();
    sent.sort_by_key(|m| m["response_id"].as_str().unwrap().to_owned());
    assert_eq!(shown, sent);

    // And the database agrees: N message documents, the counter at N.
    let db = mongodb::Client::with_uri_str(mongodb_uri())
        .await
        .unwrap()
        .database(&app.config.database);
    let stored = db
        .collection::<Document>("messages")
        .count_documents(doc! {"chat_id": &chat_id})
        .await
        .unwrap();
    assert_eq!(stored, N as u64);
    let counter = db
        .collection::<Document>("chats")
        .find_one(doc! {"chat_id": &chat_id})
        .await
        .unwrap()
        .unwrap();
    assert_eq!(counter.get_i64("message_count").unwrap(), N as i64);
}
