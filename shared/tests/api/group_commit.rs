//! Group commit: appends a process receives at once are written together, and each still
//! gets exactly its own answer — dense positions per chat, counters and the conversation
//! list exact, refusals only for the appends that earn them, and no queue left stuck by a
//! request that went away.

use std::collections::{BTreeMap, BTreeSet};

use futures_util::TryStreamExt;
use mongodb::bson::{Document, doc};
use serde_json::Value;
use shared::{App, Endpoint};

use crate::common::*;

async fn list(app: &App, token: &str) -> Vec<Value> {
    let reply = get("/api/v1/chats/list-chats", &[("limit", "100")])
        .token(token)
        .send(app, Endpoint::ListChats)
        .await;
    assert_eq!(reply.status, 200);
    reply.body["items"].as_array().unwrap().clone()
}

/// Every chat's messages hold exactly the positions `0..message_count`.
async fn assert_dense(app: &App, chat_id: &str) -> i64 {
    let db = mongo().await.database(&app.config.database);
    let chat = db
        .collection::<Document>("chats")
        .find_one(doc! { "chat_id": chat_id })
        .await
        .unwrap()
        .unwrap();
    let count = chat.get_i64("message_count").unwrap();
    let positions: BTreeSet<i64> = db
        .collection::<Document>("messages")
        .find(doc! { "chat_id": chat_id })
        .await
        .unwrap()
        .try_collect::<Vec<_>>()
        .await
        .unwrap()
        .iter()
        .map(|m| m.get_i64("position").unwrap())
        .collect();
    assert_eq!(positions, (0..count).collect(), "chat {chat_id}");
    count
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appends_to_many_chats_and_to_missing_ones_each_get_their_own_answer() {
    const CHATS: usize = 24;
    const EACH: usize = 4;
    let app = app().await;
    let (_, token) = user(&app).await;
    let (_, stranger) = user(&app).await;
    let theirs = create_chat(&app, &stranger, "not yours").await;
    // In the trash: its chat is there, its conversation is not live.
    let trashed = create_chat(&app, &token, "trashed").await;
    let reply = delete_chat(&app, &token, &trashed).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    // Its conversation trashed and its chat still there, as in the middle of delete-account:
    // the append's conversation update finds nothing.
    let orphaned = create_chat(&app, &token, "orphaned").await;
    mongo()
        .await
        .database(&app.config.database)
        .collection::<Document>("conversations")
        .update_one(
            doc! { "_id": &orphaned },
            doc! { "$set": { "trashed": true } },
        )
        .await
        .unwrap();
    let mut chats = Vec::new();
    for i in 0..CHATS {
        chats.push(create_chat(&app, &token, &format!("chat {i}")).await);
    }
    let mut tasks = Vec::new();
    for round in 0..EACH {
        for (i, chat) in chats.iter().enumerate() {
            let (app, token, chat) = (app.clone(), token.clone(), chat.clone());
            let question = format!("chat {i} message {round}");
            tasks.push(tokio::spawn(async move {
                (
                    Some(chat.clone()),
                    add_message(&app, &token, &chat, &question).await,
                )
            }));
        }
        let missing = [&theirs, &trashed, &orphaned].map(String::clone);
        let missing = missing
            .into_iter()
            .chain([uuid::Uuid::new_v4().to_string()]);
        for missing in missing {
            let (app, token) = (app.clone(), token.clone());
            tasks.push(tokio::spawn(async move {
                (None, add_message(&app, &token, &missing, "lost").await)
            }));
        }
    }
    let mut answered: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for task in tasks {
        match task.await.unwrap() {
            (Some(chat), reply) => {
                assert_eq!(reply.status, 200, "{}", reply.body);
                answered.entry(chat).or_default().push(reply.body);
            }
            (None, reply) => {
                assert_eq!(
                    (reply.status.as_u16(), reply.detail()),
                    (404, "Chat not found")
                );
            }
        }
    }
    let listed = list(&app, &token).await;
    for chat in &chats {
        assert_eq!(assert_dense(&app, chat).await, EACH as i64);
        // What each request was told is what the chat shows at that index.
        let page = get_chat(&app, &token, chat).await.body;
        let mut told = answered[chat].clone();
        told.sort_by_key(|m| m["index"].as_i64());
        assert_eq!(page["messages"].as_array().unwrap(), &told);
        // The list's length and preview follow the last message.
        let entry = listed
            .iter()
            .find(|c| c["chat_id"] == chat.as_str())
            .unwrap();
        assert_eq!(entry["message_count"], EACH as i64);
        assert_eq!(entry["preview"], told[EACH - 1]["question"]);
    }
    assert_eq!(
        assert_dense(&app, &theirs).await,
        0,
        "nothing landed in another account's chat"
    );
    for chat in [&trashed, &orphaned] {
        assert_eq!(assert_dense(&app, chat).await, 0, "nor in the trash");
    }
}
