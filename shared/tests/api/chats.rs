//! Creating chats, adding messages, reading them back; other accounts' data stays invisible.

use serde_json::json;
use shared::Endpoint;

use crate::common::*;

fn is_utc_rfc3339(s: &str) -> bool {
    s.ends_with('Z') && chrono::DateTime::parse_from_rfc3339(s).is_ok()
}

#[tokio::test]
async fn create_chat_returns_the_documented_shape() {
    let app = app().await;
    let (username, token) = user(&app).await;
    let reply = post_json(
        "/api/v1/chats/create-chat",
        json!({"name": "Trip to Lisbon"}),
    )
    .token(&token)
    .send(&app, Endpoint::CreateChat)
    .await;
    assert_eq!(reply.status, 200);
    let chat = &reply.body;
    assert!(is_uuid_v4(chat["chat_id"].as_str().unwrap()), "{chat}");
    assert_eq!(chat["account_id"], account_of(&token).as_str());
    assert!(!username.is_empty());
    assert_eq!(chat["name"], "Trip to Lisbon");
    assert!(
        is_utc_rfc3339(chat["created_at"].as_str().unwrap()),
        "{chat}"
    );
    assert_eq!(chat["active"], true);
    assert_eq!(chat["branches"], json!([]));
    assert_eq!(chat["messages"], json!([]));
    let id = chat["_id"].as_str().unwrap();
    assert!(
        id.len() == 24 && id.chars().all(|c| c.is_ascii_hexdigit()),
        "{id}"
    );
}

#[tokio::test]
async fn messages_come_back_in_the_order_added() {
    let app = app().await;
    let (_, token) = user(&app).await;
    let chat_id = create_chat(&app, &token, "ordered").await;
    let mut added = Vec::new();
    for i in 0..5 {
        let reply = add_message(&app, &token, &chat_id, &format!("question {i}")).await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.body["question"], format!("question {i}"));
        assert_eq!(reply.body["response"], format!("answer to question {i}"));
        assert_eq!(reply.body["index"], i);
        assert!(is_uuid_v4(reply.body["response_id"].as_str().unwrap()));
        assert!(is_utc_rfc3339(reply.body["timestamp"].as_str().unwrap()));
        added.push(reply.body);
    }
    let chat = get_chat(&app, &token, &chat_id).await;
    assert_eq!(chat.status, 200);
    assert_eq!(chat.body["chat_id"], chat_id.as_str());
    assert_eq!(chat.body["active"], true);
    assert_eq!(chat.body["branches"], json!([]));
    assert_eq!(chat.body["messages"], json!(added));
}

#[tokio::test]
async fn text_is_stored_exactly_as_sent() {
    let app = app().await;
    let (_, token) = user(&app).await;
    let chat_id = create_chat(&app, &token, "  spaced  name ").await;
    let question = "  Ünïcödé ✓ \"quotes\" \\ $gt {\"$ne\": null} \u{0} ";
    let reply = post_json(
        "/api/v1/messages/add-message",
        json!({"chat_id": chat_id, "question": question, "response": ""}),
    )
    .token(&token)
    .send(&app, Endpoint::AddMessage)
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let chat = get_chat(&app, &token, &chat_id).await.body;
    assert_eq!(chat["name"], "  spaced  name ");
    assert_eq!(chat["messages"][0]["question"], question);
    assert_eq!(chat["messages"][0]["response"], "");
}

#[tokio::test]
async fn another_accounts_chat_is_404_for_reads_and_writes() {
    let app = app().await;
    let (_, owner) = user(&app).await;
    let (_, intruder) = user(&app).await;
    let chat_id = create_chat(&app, &owner, "private").await;
    add_message(&app, &owner, &chat_id, "secret question").await;

    let reply = get_chat(&app, &intruder, &chat_id).await;
    assert_eq!(
        (reply.status.as_u16(), reply.detail()),
        (404, "Chat not found")
    );
    let reply = add_message(&app, &intruder, &chat_id, "injected").await;
    assert_eq!(
        (reply.status.as_u16(), reply.detail()),
        (404, "Chat not found")
    );
    let reply = get_chat(&app, &owner, "00000000-0000-4000-8000-000000000000").await;
    assert_eq!(
        (reply.status.as_u16(), reply.detail()),
        (404, "Chat not found")
    );
    let reply = add_message(&app, &owner, "no-such-chat", "q").await;
    assert_eq!(reply.status, 404);

    let chat = get_chat(&app, &owner, &chat_id).await.body;
    assert_eq!(questions(&chat), ["secret question"]);
}

#[tokio::test]
async fn create_chat_input_is_validated() {
    let app = app().await;
    let (_, token) = user(&app).await;
    let cases = [
        (json!({"name": ""}), "name: must not be blank"),
        (json!({"name": " \t\n"}), "name: must not be blank"),
        // Characters that render as nothing are blank too.
        (
            json!({"name": "\u{200B}\u{2800}\u{3164}\u{00AD}\u{FEFF}"}),
            "name: must not be blank",
        ),
        (
            json!({"name": "beep\u{7}"}),
            "name: must not contain control characters",
        ),
        (
            json!({"name": "x".repeat(201)}),
            "name: must be at most 200 characters",
        ),
        (json!({"name": 42}), "name: must be a string"),
        (json!({"name": null}), "name: field required"),
        (json!({}), "name: field required"),
    ];
    assert_each_refused(&app, &token, Endpoint::CreateChat, &cases).await;
    let reply = post("/api/v1/chats/create-chat", "{name: 'x'}")
        .token(&token)
        .send(&app, Endpoint::CreateChat)
        .await;
    assert_eq!(reply.status, 400);
    let reply = post(
        "/api/v1/chats/create-chat",
        format!("{{\"name\": \"{}\"}}", "n".repeat(2 << 20)),
    )
    .token(&token)
    .send(&app, Endpoint::CreateChat)
    .await;
    assert_eq!(reply.status, 413);
}

#[tokio::test]
async fn add_message_input_is_validated_and_a_refusal_loses_nothing() {
    let app = app().await;
    let (_, token) = user(&app).await;
    let chat_id = create_chat(&app, &token, "validated").await;
    add_message(&app, &token, &chat_id, "kept").await;
    let long = "x".repeat(64 * 1024 + 1);
    let cases = [
        (
            json!({"chat_id": chat_id, "question": "", "response": "r"}),
            "question: must not be blank",
        ),
        (
            json!({"chat_id": chat_id, "question": "   ", "response": "r"}),
            "question: must not be blank",
        ),
        (
            json!({"chat_id": chat_id, "question": "\u{200B} \u{2800}\u{E0020}", "response": "r"}),
            "question: must not be blank",
        ),
        (
            json!({"chat_id": chat_id, "question": long, "response": "r"}),
            "question: must be at most 65536 bytes",
        ),
        (
            json!({"chat_id": chat_id, "question": "q", "response": long}),
            "response: must be at most 65536 bytes",
        ),
        (
            json!({"chat_id": chat_id, "question": "q"}),
            "response: field required",
        ),
        (
            json!({"chat_id": chat_id, "question": ["q"], "response": "r"}),
            "question: must be a string",
        ),
        (
            json!({"question": "q", "response": "r"}),
            "chat_id: field required",
        ),
        (
            json!({"chat_id": {"$ne": null}, "question": "q", "response": "r"}),
            "chat_id: must be a string",
        ),
        (
            json!({"chat_id": 7, "question": "q", "response": "r"}),
            "chat_id: must be a string",
        ),
    ];
    assert_each_refused(&app, &token, Endpoint::AddMessage, &cases).await;
    let reply = post("/api/v1/messages/add-message", "{\"chat_id\": \"x\", ")
        .token(&token)
        .send(&app, Endpoint::AddMessage)
        .await;
    assert_eq!(reply.status, 400);
    // A question of exactly the limit is fine, and the earlier message is still there.
    let at_limit = "y".repeat(64 * 1024);
    let reply = post_json(
        "/api/v1/messages/add-message",
        json!({"chat_id": chat_id, "question": at_limit, "response": at_limit}),
    )
    .token(&token)
    .send(&app, Endpoint::AddMessage)
    .await;
    assert_eq!(reply.status, 200);
    let chat = get_chat(&app, &token, &chat_id).await.body;
    assert_eq!(questions(&chat), ["kept".to_string(), at_limit]);
}

#[tokio::test]
async fn get_chat_needs_a_chat_id() {
    let app = app().await;
    let (_, token) = user(&app).await;
    let reply = get("/api/v1/chats/get-chat", &[])
        .token(&token)
        .send(&app, Endpoint::GetChat)
        .await;
    assert_eq!(
        (reply.status.as_u16(), reply.detail()),
        (422, "chat_id: field required")
    );
}
