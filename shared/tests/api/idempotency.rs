//! Safe retries: the same `Idempotency-Key` with the same request answers the first answer
//! again and writes nothing more; with another request it is refused.

use mongodb::bson::doc;
use serde_json::{Value, json};
use shared::Endpoint;

use crate::common::*;

fn keyed(path: &str, body: Value, token: &str, key: &str) -> Call {
    post_json(path, body)
        .token(token)
        .header("idempotency-key".parse().unwrap(), key)
}

#[tokio::test]
async fn a_retried_create_answers_the_first_answer_and_writes_once() {
    let database = unique_database();
    let app = app_with(shared::Config::new(mongodb_uri(), &database)).await;
    let (_, token) = user(&app).await;
    let account = account_of(&token);

    let create = || {
        keyed(
            "/api/v1/chats/create-chat",
            json!({"name": "once"}),
            &token,
            "key-1",
        )
    };
    let first = create().send(&app, Endpoint::CreateChat).await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert!(!first.headers.contains_key("idempotent-replayed"));
    let again = create().send(&app, Endpoint::CreateChat).await;
    assert_eq!(again.status, 200);
    assert_eq!(again.headers["idempotent-replayed"], "true");
    assert_eq!(again.body, first.body);
    assert_eq!(
        stored(&database, "chats", doc! { "account_id": &account }).await,
        1
    );
    let chat = first.body["chat_id"].as_str().unwrap();

    let message = json!({"chat_id": chat, "question": "q", "response": "r"});
    let add = || {
        keyed(
            "/api/v1/messages/add-message",
            message.clone(),
            &token,
            "key-2",
        )
    };
    let first = add().send(&app, Endpoint::AddMessage).await;
    // The key is quoted the way the IETF draft writes it: the same key.
    let again = keyed(
        "/api/v1/messages/add-message",
        message.clone(),
        &token,
        "\"key-2\"",
    )
    .send(&app, Endpoint::AddMessage)
    .await;
    assert_eq!((first.status.as_u16(), again.status.as_u16()), (200, 200));
    assert_eq!(again.body, first.body);
    assert_eq!(
        stored(&database, "messages", doc! { "chat_id": chat }).await,
        1
    );
    assert_eq!(get_chat(&app, &token, chat).await.body["message_count"], 1);

    let branch = json!({"parent_chat_id": chat, "message_index": 0, "name": "b"});
    let create_branch = || {
        keyed(
            "/api/v1/branches/create-branch",
            branch.clone(),
            &token,
            "key-3",
        )
    };
    let first = create_branch().send(&app, Endpoint::CreateBranch).await;
    let again = create_branch().send(&app, Endpoint::CreateBranch).await;
    assert_eq!(again.body, first.body);
    assert_eq!(
        stored(&database, "chats", doc! { "account_id": &account }).await,
        2
    );

    // Without a key, every request writes.
    assert_eq!(add_message(&app, &token, chat, "q").await.status, 200);
    assert_eq!(add_message(&app, &token, chat, "q").await.status, 200);
    assert_eq!(
        stored(&database, "messages", doc! { "chat_id": chat }).await,
        3
    );
}

#[tokio::test]
async fn a_key_reused_for_another_request_is_refused_and_keys_are_per_account() {
    let database = unique_database();
    let app = app_with(shared::Config::new(mongodb_uri(), &database)).await;
    let (_, token) = user(&app).await;
    let first = keyed(
        "/api/v1/chats/create-chat",
        json!({"name": "a"}),
        &token,
        "shared",
    )
    .send(&app, Endpoint::CreateChat)
    .await;
    assert_eq!(first.status, 200);
    for (path, body, endpoint) in [
        (
            "/api/v1/chats/create-chat",
            json!({"name": "b"}),
            Endpoint::CreateChat,
        ),
        (
            "/api/v1/messages/add-message",
            json!({"chat_id": first.body["chat_id"], "question": "q", "response": "r"}),
            Endpoint::AddMessage,
        ),
    ] {
        let reply = keyed(path, body, &token, "shared")
            .send(&app, endpoint)
            .await;
        assert_eq!(
            (reply.status.as_u16(), reply.detail()),
            (
                422,
                "Idempotency-Key: was already used with a different request"
            )
        );
    }
    // Another account's key of the same name is its own.
    let (_, other) = user(&app).await;
    let theirs = keyed(
        "/api/v1/chats/create-chat",
        json!({"name": "a"}),
        &other,
        "shared",
    )
    .send(&app, Endpoint::CreateChat)
    .await;
    assert_eq!(theirs.status, 200);
    assert_ne!(theirs.body["chat_id"], first.body["chat_id"]);
    for bad in ["", "\"\"", "has space", &"k".repeat(256)] {
        let reply = keyed(
            "/api/v1/chats/create-chat",
            json!({"name": "x"}),
            &token,
            bad,
        )
        .send(&app, Endpoint::CreateChat)
        .await;
        assert_eq!(
            (reply.status.as_u16(), reply.detail()),
            (
                422,
                "Idempotency-Key: must be 1-255 visible ASCII characters"
            ),
            "{bad:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_with_one_key_make_one_write() {
    let database = unique_database();
    let app = app_with(shared::Config::new(mongodb_uri(), &database)).await;
    // A second instance, as a second Lambda sandbox would be.
    let other = app_with(shared::Config::new(mongodb_uri(), &database)).await;
    let (_, token) = user(&app).await;
    let chat = create_chat(&app, &token, "race").await;
    let body = json!({"chat_id": chat, "question": "once?", "response": "once."});
    let mut tasks = Vec::new();
    for i in 0..12 {
        let instance = if i % 2 == 0 {
            app.clone()
        } else {
            other.clone()
        };
        let (body, token) = (body.clone(), token.clone());
        tasks.push(tokio::spawn(async move {
            keyed("/api/v1/messages/add-message", body, &token, "the-key")
                .send(&instance, Endpoint::AddMessage)
                .await
        }));
    }
    let mut answers = Vec::new();
    for task in tasks {
        let reply = task.await.unwrap();
        match reply.status.as_u16() {
            200 => answers.push(reply.body),
            409 => assert_eq!(
                reply.detail(),
                "A request with this Idempotency-Key is in progress"
            ),
            other => panic!("{other}: {}", reply.body),
        }
    }
    assert!(!answers.is_empty());
    assert!(
        answers.iter().all(|a| a == &answers[0]),
        "one answer: {answers:?}"
    );
    assert_eq!(
        stored(&database, "messages", doc! { "chat_id": &chat }).await,
        1
    );
}
