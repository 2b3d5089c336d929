//! Conversations a product can use: list, page, rename, archive, pin, delete and restore,
//! read long chats a page at a time, search, and delete the account.

use std::collections::BTreeSet;

use lambda_http::http::Method;
use mongodb::bson::{Document, doc};
use serde_json::{Value, json};
use shared::Endpoint;

use crate::common::*;

async fn list(app: &shared::App, token: &str, query: &[(&str, &str)]) -> Reply {
    get("/api/v1/chats/list-chats", query)
        .token(token)
        .send(app, Endpoint::ListChats)
        .await
}

/// Every item of every page, following `next_cursor`.
async fn list_all(app: &shared::App, token: &str, query: &[(&str, &str)]) -> Vec<Value> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut q = query.to_vec();
        if let Some(c) = &cursor {
            q.push(("cursor", c));
        }
        let page = list(app, token, &q).await;
        assert_eq!(page.status, 200, "{}", page.body);
        items.extend(page.body["items"].as_array().unwrap().iter().cloned());
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return items,
        }
    }
}

fn ids(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|i| i["chat_id"].as_str().unwrap().to_owned())
        .collect()
}

async fn update(app: &shared::App, token: &str, chat_id: &str, body: Value) -> Reply {
    post_json("/api/v1/chats/update-chat", body)
        .method(Method::PATCH)
        .token(token)
        .query(&[("chat_id", chat_id)])
        .send(app, Endpoint::UpdateChat)
        .await
}

async fn restore(app: &shared::App, token: &str, chat_id: &str) -> Reply {
    post("/api/v1/chats/restore-chat", "")
        .query(&[("chat_id", chat_id)])
        .token(token)
        .send(app, Endpoint::RestoreChat)
        .await
}

/// Appends `text` as both question and response.
async fn add_pair(app: &shared::App, token: &str, chat: &str, text: &str) {
    let reply = post_json(
        "/api/v1/messages/add-message",
        json!({"chat_id": chat, "question": text, "response": text}),
    )
    .token(token)
    .send(app, Endpoint::AddMessage)
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
}

async fn search(app: &shared::App, token: &str, query: &[(&str, &str)]) -> Reply {
    get("/api/v1/messages/search-messages", query)
        .token(token)
        .send(app, Endpoint::SearchMessages)
        .await
}

#[tokio::test]
async fn the_list_shows_pinned_first_then_most_recent_activity_with_previews() {
    let app = app().await;
    let (_, token) = user(&app).await;
    let first = create_chat(&app, &token, "first").await;
    let second = create_chat(&app, &token, "second").await;
    let third = create_chat(&app, &token, "third").await;
    assert_eq!(
        ids(&list_all(&app, &token, &[]).await),
        [third.as_str(), second.as_str(), first.as_str()]
    );

    // Activity moves a conversation up; pinning puts it first whatever its activity.
    add_message(&app, &token, &first, &"long question ".repeat(30)).await;
    assert_eq!(
        update(&app, &token, &second, json!({"pinned": true}))
            .await
            .status,
        200
    );
    let items = list_all(&app, &token, &[]).await;
    assert_eq!(
        ids(&items),
        [second.as_str(), first.as_str(), third.as_str()]
    );
    let item = &items[1];
    assert_eq!(item["name"], "first");
    assert_eq!(item["message_count"], 1);
    assert_eq!(item["branch_count"], 0);
    assert_eq!(item["active_branch_id"], first.as_str());
    assert_eq!(item["pinned"], false);
    assert_eq!(item["archived"], false);
    assert_eq!(item["preview"].as_str().unwrap().chars().count(), 200);
    assert!(item["updated_at"].as_str().unwrap() > item["created_at"].as_str().unwrap());

    // The preview and count follow the active member.
    let alt = create_branch(&app, &token, &first, 0).await;
    add_message(&app, &token, &alt, "on the branch").await;
    let item = &list_all(&app, &token, &[]).await[1];
    assert_eq!(
        (item["message_count"].clone(), item["branch_count"].clone()),
        (json!(1), json!(1))
    );
    let reply = post_json(
        "/api/v1/branches/set-active-branch",
        json!({"branch_id": alt}),
    )
    .method(Method::PUT)
    .query(&[("chat_id", &first)])
    .token(&token)
    .send(&app, Endpoint::SetActiveBranch)
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let item = &list_all(&app, &token, &[]).await[1];
    assert_eq!(item["active_branch_id"], alt.as_str());
    assert_eq!(item["message_count"], 2);
    assert_eq!(item["preview"], "on the branch");

    // Filters.
    assert_eq!(
        ids(&list_all(&app, &token, &[("pinned", "true")]).await),
        [second.as_str()]
    );
    assert_eq!(
        update(&app, &token, &third, json!({"archived": true}))
            .await
            .status,
        200
    );
    assert_eq!(
        ids(&list_all(&app, &token, &[("archived", "true")]).await),
        [third.as_str()]
    );
    assert_eq!(
        ids(&list_all(&app, &token, &[]).await),
        [second.as_str(), first.as_str()]
    );

    // Another account sees none of it.
    let (_, other) = user(&app).await;
    assert!(list_all(&app, &other, &[]).await.is_empty());
}

#[tokio::test]
async fn paging_neither_skips_nor_repeats_while_other_writes_move_items() {
    let app = app().await;
    let (_, token) = user(&app).await;
    let mut created = Vec::new();
    for i in 0..25 {
        created.push(create_chat(&app, &token, &format!("chat {i}")).await);
    }
    let first = list(&app, &token, &[("limit", "10")]).await;
    assert_eq!(first.body["items"].as_array().unwrap().len(), 10);
    let mut seen = ids(first.body["items"].as_array().unwrap());
    // Meanwhile: the oldest conversations get new activity (they jump to the top), and new
    // ones are created.
    for id in &created[..5] {
        add_message(&app, &token, id, "bump").await;
    }
    create_chat(&app, &token, "newcomer").await;
    let mut cursor = first.body["next_cursor"].as_str().map(str::to_owned);
    while let Some(c) = cursor {
        let page = list(&app, &token, &[("limit", "10"), ("cursor", &c)]).await;
        assert_eq!(page.status, 200, "{}", page.body);
        seen.extend(ids(page.body["items"].as_array().unwrap()));
        cursor = page.body["next_cursor"].as_str().map(str::to_owned);
    }
    assert_eq!(seen.len(), 25, "no repeats: {seen:?}");
    let seen: BTreeSet<_> = seen.into_iter().collect();
    assert_eq!(seen, created.into_iter().collect(), "no skips");
}

#[tokio::test]
async fn bad_list_parameters_are_422_naming_them() {
    let app = app().await;
    let (_, token) = user(&app).await;
    let archived_cursor = {
        for i in 0..3 {
            create_chat(&app, &token, &format!("c{i}")).await;
        }
        list(&app, &token, &[("limit", "1")]).await.body["next_cursor"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    for (query, detail) in [
        (
            vec![("limit", "0")],
            "limit: must be a whole number from 1 to 100",
        ),
        (
            vec![("limit", "101")],
            "limit: must be a whole number from 1 to 100",
        ),
        (
            vec![("limit", "ten")],
            "limit: must be a whole number from 1 to 100",
        ),
        (vec![("archived", "yes")], "archived: must be true or false"),
        (vec![("pinned", "1")], "pinned: must be true or false"),
        (
            vec![("cursor", "garbage!")],
            "cursor: is not a cursor this list gave out",
        ),
        (
            vec![("cursor", archived_cursor.as_str()), ("archived", "true")],
            "cursor: belongs to a list with other filters",
        ),
    ] {
        let reply = list(&app, &token, &query).await;
        assert_eq!(
            (reply.status.as_u16(), reply.detail()),
            (422, detail),
            "{query:?}"
        );
    }
}

#[tokio::test]
async fn the_list_is_an_index_scan_with_no_sort_in_memory() {
    let database = unique_database();
    let app = app_with(shared::Config::new(mongodb_uri(), &database)).await;
    let (_, token) = user(&app).await;
    create_chat(&app, &token, "indexed").await;
    let account = account_of(&token);
    let db = mongo().await.database(&database);
    for filter in [
        doc! { "account_id": &account, "trashed": false, "archived": false },
        doc! { "account_id": &account, "trashed": false, "archived": false, "pinned": true },
    ] {
        let plan = explain(
            &db,
            doc! { "find": "conversations", "filter": filter, "sort": { "pinned": -1, "updated_at": -1, "_id": -1 }, "limit": 21 },
        )
        .await;
        assert!(plan.contains("IXSCAN"), "{plan}");
        assert!(!plan.contains("\"SORT\""), "{plan}");
        assert!(!plan.contains("COLLSCAN"), "{plan}");
    }
    let plan = explain(
        &db,
        doc! { "find": "conversations", "filter": { "account_id": &account, "trashed": true }, "sort": { "deleted_at": -1, "_id": -1 }, "limit": 21 },
    )
    .await;
    assert!(
        plan.contains("IXSCAN") && !plan.contains("\"SORT\""),
        "{plan}"
    );
    let plan = explain(
        &db,
        doc! { "find": "messages", "filter": { "account_id": &account, "$text": { "$search": "word" } } },
    )
    .await;
    assert!(
        plan.contains("TEXT") && !plan.contains("COLLSCAN"),
        "{plan}"
    );
}

async fn explain(db: &mongodb::Database, command: Document) -> String {
    let reply = db
        .run_command(doc! { "explain": command, "verbosity": "queryPlanner" })
        .await
        .unwrap();
    reply
        .get_document("queryPlanner")
        .unwrap()
        .get_document("winningPlan")
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn rename_archive_and_pin() {
    let app = app().await;
    let (_, token) = user(&app).await;
    let chat = create_chat(&app, &token, "old name").await;
    add_message(&app, &token, &chat, "q").await;
    let alt = create_branch(&app, &token, &chat, 0).await;

    let reply = update(
        &app,
        &token,
        &chat,
        json!({"name": "new name", "pinned": true}),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["name"], "new name");
    assert_eq!(reply.body["conversation"]["name"], "new name");
    assert_eq!(reply.body["conversation"]["pinned"], true);
    assert_eq!(get_chat(&app, &token, &chat).await.body["name"], "new name");

    let reply = update(&app, &token, &alt, json!({"name": "branch name"})).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        reply.body["conversation"]["name"], "new name",
        "a branch keeps the title"
    );
    assert_eq!(
        get_chat(&app, &token, &alt).await.body["name"],
        "branch name"
    );

    for (chat_id, body, detail) in [
        (
            &alt,
            json!({"archived": true}),
            "archived: applies to a whole conversation: use its root chat_id",
        ),
        (
            &alt,
            json!({"pinned": false}),
            "pinned: applies to a whole conversation: use its root chat_id",
        ),
        (
            &chat,
            json!({}),
            "body: give at least one of name, archived, pinned",
        ),
        (
            &chat,
            json!({"name": " \u{200B}"}),
            "name: must not be blank",
        ),
        (
            &chat,
            json!({"archived": "yes"}),
            "archived: must be true or false",
        ),
        (&chat, json!({"name": 5}), "name: must be a string"),
    ] {
        let reply = update(&app, &token, chat_id, body.clone()).await;
        assert_eq!(
            (reply.status.as_u16(), reply.detail()),
            (422, detail),
            "{body}"
        );
    }
    let (_, other) = user(&app).await;
    assert_eq!(
        update(&app, &other, &chat, json!({"name": "mine"}))
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn a_deleted_conversation_disappears_at_once_and_comes_back_intact() {
    let app = app().await;
    let (_, token) = user(&app).await;
    let chat = create_chat(&app, &token, "to delete").await;
    add_message(&app, &token, &chat, "findable question").await;
    let alt = create_branch(&app, &token, &chat, 0).await;
    add_message(&app, &token, &alt, "branch question").await;
    let before = get_chat(&app, &token, &alt).await.body;

    let reply = delete_chat(&app, &token, &alt).await;
    assert_eq!(
        (reply.status.as_u16(), reply.detail()),
        (
            422,
            "chat_id: is a branch: delete-chat takes a conversation's root chat_id"
        )
    );
    let reply = delete_chat(&app, &token, &chat).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(reply.body["deleted_at"].is_string());
    assert!(reply.body["purge_at"].as_str().unwrap() > reply.body["deleted_at"].as_str().unwrap());

    // Gone from everything at once.
    for id in [&chat, &alt] {
        assert_eq!(get_chat(&app, &token, id).await.status, 404);
        assert_eq!(add_message(&app, &token, id, "late").await.status, 404);
    }
    assert!(list_all(&app, &token, &[]).await.is_empty());
    let found = search(&app, &token, &[("q", "findable")]).await;
    assert_eq!(found.body["items"], json!([]));
    assert_eq!(delete_chat(&app, &token, &chat).await.status, 404);

    let trash = get("/api/v1/chats/list-deleted", &[])
        .token(&token)
        .send(&app, Endpoint::ListDeleted)
        .await;
    assert_eq!(
        ids(trash.body["items"].as_array().unwrap()),
        [chat.as_str()]
    );

    let (_, other) = user(&app).await;
    assert_eq!(restore(&app, &other, &chat).await.status, 404);
    let reply = restore(&app, &token, &chat).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(reply.body.get("deleted_at").is_none());
    assert_eq!(get_chat(&app, &token, &alt).await.body, before);
    assert_eq!(ids(&list_all(&app, &token, &[]).await), [chat.as_str()]);
    assert_eq!(
        restore(&app, &token, &chat).await.status,
        404,
        "not in the trash now"
    );
}

#[tokio::test]
async fn expired_trash_is_purged_with_every_message() {
    let database = unique_database();
    let app = app_with(shared::Config::new(mongodb_uri(), &database)).await;
    let (_, token) = user(&app).await;
    let chat = create_chat(&app, &token, "old").await;
    add_message(&app, &token, &chat, "q").await;
    let alt = create_branch(&app, &token, &chat, 0).await;
    add_message(&app, &token, &alt, "q2").await;
    let kept = create_chat(&app, &token, "kept").await;
    add_message(&app, &token, &kept, "q3").await;
    assert_eq!(delete_chat(&app, &token, &chat).await.status, 200);
    let db = mongo().await.database(&database);
    // The retention period passes.
    db.collection::<Document>("conversations")
        .update_one(
            doc! { "_id": &chat },
            doc! { "$set": { "purge_at": mongodb::bson::DateTime::now() } },
        )
        .await
        .unwrap();
    assert_eq!(
        restore(&app, &token, &chat).await.status,
        404,
        "too late to restore"
    );
    let trash = get("/api/v1/chats/list-deleted", &[])
        .token(&token)
        .send(&app, Endpoint::ListDeleted)
        .await;
    assert_eq!(trash.body["items"], json!([]));
    let count = |collection: &'static str, filter: Document| {
        let db = db.clone();
        async move {
            db.collection::<Document>(collection)
                .count_documents(filter)
                .await
                .unwrap()
        }
    };
    assert_eq!(count("conversations", doc! { "_id": &chat }).await, 0);
    assert_eq!(count("chats", doc! { "root_chat_id": &chat }).await, 0);
    assert_eq!(
        count("messages", doc! { "chat_id": { "$in": [&chat, &alt] } }).await,
        0
    );
    assert_eq!(count("messages", doc! { "chat_id": &kept }).await, 1);
}

#[tokio::test]
async fn a_long_chat_reads_a_page_at_a_time() {
    let app = app().await;
    let (_, token) = user(&app).await;
    let chat = create_chat(&app, &token, "long").await;
    for i in 0..130 {
        add_message(&app, &token, &chat, &format!("q{i}")).await;
    }
    let alt = create_branch(&app, &token, &chat, 119).await;
    for i in 120..125 {
        add_message(&app, &token, &alt, &format!("b{i}")).await;
    }
    let page = |chat: String, query: Vec<(&'static str, String)>| {
        let app = app.clone();
        let token = token.clone();
        async move {
            let mut q: Vec<(&str, &str)> = vec![("chat_id", chat.as_str())];
            q.extend(query.iter().map(|(k, v)| (*k, v.as_str())));
            get("/api/v1/chats/get-chat", &q)
                .token(&token)
                .send(&app, Endpoint::GetChat)
                .await
        }
    };
    // The default page: the newest 100.
    let read = page(chat.clone(), vec![]).await.body;
    assert_eq!(read["message_count"], 130);
    assert_eq!(questions(&read).first().unwrap(), "q30");
    assert_eq!(questions(&read).len(), 100);
    assert_eq!(
        (read["has_more"].clone(), read["next_before"].clone()),
        (json!(true), json!(30))
    );
    let older = page(chat.clone(), vec![("before", "30".into())]).await.body;
    assert_eq!(
        questions(&older),
        (0..30).map(|i| format!("q{i}")).collect::<Vec<_>>()
    );
    assert_eq!(
        (older["has_more"].clone(), older["next_before"].clone()),
        (json!(false), Value::Null)
    );

    // Across the branch's inherited prefix and its own messages.
    let read = page(alt.clone(), vec![("limit", "8".into())]).await.body;
    assert_eq!(read["message_count"], 125);
    assert_eq!(
        questions(&read),
        [
            "q117", "q118", "q119", "b120", "b121", "b122", "b123", "b124"
        ]
    );
    let read = page(
        alt.clone(),
        vec![("limit", "3".into()), ("before", "119".into())],
    )
    .await
    .body;
    assert_eq!(questions(&read), ["q116", "q117", "q118"]);

    for (query, detail) in [
        (
            vec![("limit", "0".to_owned())],
            "limit: must be a whole number from 1 to 1000",
        ),
        (
            vec![("limit", "1001".to_owned())],
            "limit: must be a whole number from 1 to 1000",
        ),
        (
            vec![("before", "131".to_owned())],
            "before: must be between 0 and 130 for this chat",
        ),
        (
            vec![("before", "-1".to_owned())],
            "before: must be a whole number from 0 to 9223372036854775807",
        ),
    ] {
        let reply = page(chat.clone(), query.clone()).await;
        assert_eq!(
            (reply.status.as_u16(), reply.detail()),
            (422, detail),
            "{query:?}"
        );
    }
}

#[tokio::test]
async fn no_page_can_pass_lambdas_response_limit_whatever_the_text() {
    let app = app().await;
    let (_, token) = user(&app).await;
    let chat = create_chat(&app, &token, "escapes").await;
    // Control characters: JSON writes each as six bytes (\u0001), so a 64 KiB field becomes
    // 384 KiB; 20 of them would be 15 MB.
    let text = "\u{1}".repeat(64 * 1024);
    for _ in 0..20 {
        add_pair(&app, &token, &chat, &text).await;
    }
    let response = shared::Endpoint::GetChat
        .handle(
            &app,
            shared::gateway::GatewayRequest::to(Endpoint::GetChat)
                .query(&[("chat_id", &chat)])
                .bearer(&token)
                .build(),
        )
        .await;
    assert_eq!(response.status(), 200);
    let bytes = response.body().as_ref().len();
    assert!(bytes <= 5 * 1024 * 1024, "{bytes} bytes");
    let read: Value = serde_json::from_slice(response.body().as_ref()).unwrap();
    let shown = read["messages"].as_array().unwrap().len();
    assert!((1..20).contains(&shown), "{shown}");
    assert_eq!(read["next_before"], 20 - shown as i64);
    assert_eq!(
        read["messages"][shown - 1]["index"],
        19,
        "the newest are shown"
    );
}

#[tokio::test]
async fn a_page_over_mongodbs_document_limit_reads_all_the_same() {
    let app = app().await;
    let (_, token) = user(&app).await;
    let chat = create_chat(&app, &token, "large").await;
    // 140 messages of 2 × 64 KiB are 18 MB stored: more than the one document get-chat's
    // read answers with can hold (16 MB).
    for i in 0..140 {
        add_pair(
            &app,
            &token,
            &chat,
            &format!("{i:>8}{}", "x".repeat(64 * 1024 - 8)),
        )
        .await;
    }
    let read = get(
        "/api/v1/chats/get-chat",
        &[("chat_id", &chat), ("limit", "140")],
    )
    .token(&token)
    .send(&app, Endpoint::GetChat)
    .await;
    assert_eq!(read.status, 200, "{:?}", read.body);
    let indexes: Vec<i64> = read.body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["index"].as_i64().unwrap())
        .collect();
    // Cut to what fits in 5 MB of JSON: the newest 39 or so, in order.
    let shown = indexes.len() as i64;
    assert!((30..50).contains(&shown), "{shown}");
    assert_eq!(indexes, (140 - shown..140).collect::<Vec<_>>());
    assert_eq!(read.body["next_before"], 140 - shown);
}

#[tokio::test]
async fn search_finds_own_messages_and_chat_names_once_with_snippets() {
    let app = app().await;
    let (_, token) = user(&app).await;
    let chat = create_chat(&app, &token, "Holiday planning").await;
    add_message(&app, &token, &chat, "Which ferry goes to the islands?").await;
    add_message(&app, &token, &chat, "Unrelated question").await;
    let alt = create_branch(&app, &token, &chat, 1).await;
    add_message(&app, &token, &alt, "And the ferry back?").await;
    let (_, other) = user(&app).await;
    let theirs = create_chat(&app, &other, "ferry fans").await;
    add_message(&app, &other, &theirs, "ferry ferry ferry").await;

    let found = search(&app, &token, &[("q", "ferry")]).await;
    assert_eq!(found.status, 200, "{}", found.body);
    let hits = found.body["items"].as_array().unwrap();
    assert_eq!(hits.len(), 2, "{hits:?}");
    // Newest first; the inherited message once, in the chat that stores it.
    assert_eq!(hits[0]["chat_id"], alt.as_str());
    assert_eq!(hits[0]["index"], 2);
    assert_eq!(hits[0]["snippet"], "And the ferry back?");
    assert_eq!(hits[0]["shown_in"], json!([alt]));
    assert_eq!(hits[1]["chat_id"], chat.as_str());
    assert_eq!(hits[1]["index"], 0);
    assert_eq!(hits[1]["chat_name"], "Holiday planning");
    assert_eq!(hits[1]["shown_in"], json!([chat, alt]));

    let by_name = search(&app, &token, &[("q", "holiday")]).await;
    let hits = by_name.body["items"].as_array().unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(
        (hits[0]["chat_id"].clone(), hits[0]["index"].clone()),
        (json!(chat), Value::Null)
    );

    for (query, detail) in [
        (vec![], "q: field required"),
        (vec![("q", " ")], "q: must not be blank"),
        (
            vec![("q", "x"), ("cursor", "nope")],
            "cursor: is not a cursor this list gave out",
        ),
    ] {
        let reply = search(&app, &token, &query).await;
        assert_eq!(
            (reply.status.as_u16(), reply.detail()),
            (422, detail),
            "{query:?}"
        );
    }
}

#[tokio::test]
async fn search_pages_through_every_hit_once() {
    let app = app().await;
    let (_, token) = user(&app).await;
    let chat = create_chat(&app, &token, "needle in a name").await;
    for i in 0..23 {
        add_message(&app, &token, &chat, &format!("needle number {i}")).await;
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut q = vec![("q", "needle"), ("limit", "5")];
        if let Some(c) = &cursor {
            q.push(("cursor", c));
        }
        let page = search(&app, &token, &q).await;
        assert_eq!(page.status, 200, "{}", page.body);
        for hit in page.body["items"].as_array().unwrap() {
            seen.push(format!("{}:{}", hit["chat_id"], hit["index"]));
        }
        match page.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    let unique: BTreeSet<_> = seen.iter().cloned().collect();
    assert_eq!(
        (seen.len(), unique.len()),
        (24, 24),
        "23 messages and one name: {seen:?}"
    );
}

#[tokio::test]
async fn deleting_an_account_removes_it_and_everything_in_it() {
    let database = unique_database();
    let app = app_with(shared::Config::new(mongodb_uri(), &database)).await;
    let (username, token) = user(&app).await;
    let chat = create_chat(&app, &token, "mine").await;
    add_message(&app, &token, &chat, "private").await;
    let delete_account = |password: &str| {
        post_json(
            "/api/v1/auth/delete-account",
            json!({ "password": password }),
        )
        .method(Method::DELETE)
        .token(&token)
        .send(&app, Endpoint::DeleteAccount)
    };
    let reply = delete_account("wrong-password").await;
    assert_eq!(
        (reply.status.as_u16(), reply.detail()),
        (422, "password: is not this account's password")
    );
    assert_eq!(
        get_chat(&app, &token, &chat).await.status,
        200,
        "nothing happened"
    );
    let reply = delete_account("password123").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["account_id"], account_of(&token).as_str());

    // The old token is refused at once; the data is gone from the database.
    assert_eq!(get_chat(&app, &token, &chat).await.status, 401);
    let account = account_of(&token);
    for collection in ["conversations", "chats", "messages"] {
        let left = stored(&database, collection, doc! { "account_id": &account }).await;
        assert_eq!(left, 0, "{collection}");
    }
    // The username is free again, and its new owner sees nothing of the old account.
    let credentials = json!({"username": username, "password": "another-password"});
    let reply = post_json("/api/v1/auth/register", credentials.clone())
        .send(&app, Endpoint::Register)
        .await;
    assert_eq!(reply.status, 200);
    assert_ne!(reply.body["account_id"], account.as_str());
    let login = post_json("/api/v1/auth/login", credentials)
        .send(&app, Endpoint::Login)
        .await;
    let new_token = login.body["access_token"].as_str().unwrap();
    assert!(list_all(&app, new_token, &[]).await.is_empty());
    assert_eq!(get_chat(&app, new_token, &chat).await.status, 404);
    assert_eq!(
        get_chat(&app, &token, &chat).await.status,
        401,
        "the old token stays dead"
    );
}

/// The moment between a request's authentication and its transaction: when the account is
/// removed then, nothing the request would make live (create, fork, import, restore) is
/// stored, and the request gets the 401 a later one would.
#[tokio::test]
async fn no_conversation_becomes_live_for_an_account_removed_after_authentication() {
    let database = unique_database();
    let app = app_with(shared::Config::new(mongodb_uri(), &database)).await;
    let (_, token) = user(&app).await;
    let account = account_of(&token);
    let source = create_chat(&app, &token, "source").await;
    add_message(&app, &token, &source, "first").await;
    let trashed = create_chat(&app, &token, "trashed").await;
    assert_eq!(delete_chat(&app, &token, &trashed).await.status, 200);
    let export = get("/api/v1/chats/export-chat", &[("chat_id", &source)])
        .token(&token)
        .send(&app, Endpoint::ExportChat)
        .await;
    let import = shared::exports::parse(json!([export.body]).to_string().as_bytes()).unwrap();

    // The account's document goes, as delete-account removes it.
    let db = mongo().await.database(&database);
    let users = db.collection::<Document>("users");
    users.delete_one(doc! { "_id": &account }).await.unwrap();

    // What each handler calls once `authenticate` has passed.
    let store = app.store().await.unwrap();
    let config = &app.config;
    let refused = [
        shared::chats::create_chat(store, config, &account, "new", None)
            .await
            .err(),
        shared::trees::fork_chat(store, config, &account, &source, None, "fork", None)
            .await
            .err(),
        shared::transfers::import_chats(store, config, &account, &import, None)
            .await
            .err(),
        shared::chats::restore_chat(store, &account, &trashed)
            .await
            .err(),
    ];
    for (what, error) in ["create", "fork", "import", "restore"].iter().zip(refused) {
        let error = error.unwrap_or_else(|| panic!("{what} was stored"));
        assert_eq!(error.status(), 401, "{what}: {error}");
    }
    let live = doc! { "account_id": &account, "trashed": false };
    assert_eq!(
        stored(&database, "conversations", live).await,
        1,
        "only the source, which the removal's trash pass would take"
    );
    let all = doc! { "account_id": &account };
    assert_eq!(
        stored(&database, "conversations", all).await,
        2,
        "nothing was added"
    );
}

/// Requests that authenticated before their account was deleted and write during the
/// deletion: what they made live goes with the rest, and every later one is refused.
#[tokio::test]
async fn conversations_created_during_an_account_deletion_do_not_outlive_it() {
    let database = unique_database();
    let app = app_with(shared::Config::new(mongodb_uri(), &database)).await;
    let (_, token) = user(&app).await;
    let account = account_of(&token);
    let creators: Vec<_> = (0..8)
        .map(|i| {
            let (app, account) = (app.clone(), account.clone());
            tokio::spawn(async move {
                let store = app.store().await.unwrap();
                for n in 0..500 {
                    let name = format!("{i}-{n}");
                    let created =
                        shared::chats::create_chat(store, &app.config, &account, &name, None);
                    if let Err(error) = created.await {
                        return (n, Some(error));
                    }
                }
                (500, None)
            })
        })
        .collect();
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let reply = delete_own_account(&app, &token).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let mut made = 0;
    for creator in creators {
        let (n, error) = creator.await.unwrap();
        let error = error.expect("refused once the account is gone");
        assert_eq!(error.status(), 401, "{error}");
        made += n;
    }
    assert!(made > 0, "the creators ran");
    for collection in ["conversations", "chats"] {
        let left = stored(&database, collection, doc! { "account_id": &account }).await;
        assert_eq!(left, 0, "{collection} left of {made} created");
    }
}

#[tokio::test]
async fn a_forged_list_cursor_is_a_422_not_a_database_error() {
    use base64::Engine;
    let app = app().await;
    let (_, token) = user(&app).await;
    create_chat(&app, &token, "one").await;
    let now = chrono::Utc::now().timestamp() as u32;
    for at in [json!([0, 0]), json!([now + 100_000, 1])] {
        let forged = json!({"at": at, "archived": false, "pinned": null,
            "after": {"pinned": false, "updated_at": {"$date": {"$numberLong": "0"}}, "id": "x"}});
        let cursor = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(forged.to_string());
        let reply = list(&app, &token, &[("cursor", &cursor)]).await;
        assert_eq!(
            (reply.status.as_u16(), reply.detail()),
            (422, "cursor: is not a cursor this list gave out"),
            "{at}"
        );
    }
}
