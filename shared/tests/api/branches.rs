//! Branching: a branch shows its parent's prefix plus its own messages, nests to any depth,
//! never copies or disturbs its parent or siblings, and one member per tree is active.

use lambda_http::http::Method;
use mongodb::bson::{Document, doc};
use serde_json::{Value, json};
use shared::Endpoint;

use crate::common::*;

async fn branch(app: &shared::App, token: &str, parent: &str, index: i64, name: &str) -> Reply {
    post_json(
        "/api/v1/branches/create-branch",
        json!({"parent_chat_id": parent, "message_index": index, "name": name}),
    )
    .token(token)
    .send(app, Endpoint::CreateBranch)
    .await
}

async fn branch_id(app: &shared::App, token: &str, parent: &str, index: i64) -> String {
    let reply = branch(app, token, parent, index, &format!("from {index}")).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body["branch_id"].as_str().unwrap().to_owned()
}

/// A chat with questions `prefix0`, `prefix1`, …
async fn chat_with(app: &shared::App, token: &str, prefix: &str, n: usize) -> String {
    let chat_id = create_chat(app, token, prefix).await;
    for i in 0..n {
        assert_eq!(
            add_message(app, token, &chat_id, &format!("{prefix}{i}"))
                .await
                .status,
            200
        );
    }
    chat_id
}

async fn visible(app: &shared::App, token: &str, chat_id: &str) -> Vec<String> {
    let reply = get_chat(app, token, chat_id).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    questions(&reply.body)
}

async fn set_active(app: &shared::App, token: &str, chat_id: &str, body: Option<Value>) -> Reply {
    let call = match body {
        Some(body) => post_json("/api/v1/branches/set-active-branch", body),
        None => post("/api/v1/branches/set-active-branch", ""),
    };
    call.method(Method::PUT)
        .token(token)
        .query(&[("chat_id", chat_id)])
        .send(app, Endpoint::SetActiveBranch)
        .await
}

async fn branches(app: &shared::App, token: &str, chat_id: &str) -> Reply {
    get("/api/v1/branches/get-branches", &[("chat_id", chat_id)])
        .token(token)
        .send(app, Endpoint::GetBranches)
        .await
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn a_branch_of_a_chat_shows_the_prefix_then_its_own_messages() {
    let app = app().await;
    let (_, token) = user(&app).await;
    let root = chat_with(&app, &token, "q", 5).await;

    let reply = branch(&app, &token, &root, 2, "retry from q2").await;
    assert_eq!(reply.status, 200);
    let b = reply.body["branch_id"].as_str().unwrap().to_owned();
    assert!(uuid::Uuid::parse_str(&b).is_ok());
    assert_eq!(reply.body["parent_chat_id"], root.as_str());
    assert_eq!(reply.body["name"], "retry from q2");
    assert_eq!(reply.body["created_from_message_index"], 2);
    assert!(reply.body["created_at"].as_str().unwrap().ends_with('Z'));

    let chat = get_chat(&app, &token, &b).await.body;
    assert_eq!(questions(&chat), strings(&["q0", "q1", "q2"]));
    assert_eq!(chat["parent_chat_id"], root.as_str());
    assert_eq!(chat["created_from_message_index"], 2);
    assert_eq!(chat["root_chat_id"], root.as_str());
    assert_eq!(chat["active"], false);
    assert_eq!(chat["branches"], json!([]));

    let added = add_message(&app, &token, &b, "b3").await;
    assert_eq!(added.status, 200);
    assert_eq!(added.body["index"], 3);
    assert_eq!(
        visible(&app, &token, &b).await,
        strings(&["q0", "q1", "q2", "b3"])
    );
    assert_eq!(
        visible(&app, &token, &root).await,
        strings(&["q0", "q1", "q2", "q3", "q4"])
    );

    // Shared messages are the same messages: same response_id on both.
    let on_root = get_chat(&app, &token, &root).await.body;
    let on_branch = get_chat(&app, &token, &b).await.body;
    for i in 0..3 {
        assert_eq!(on_root["messages"][i], on_branch["messages"][i]);
    }
    // Indexes run on across the prefix and the branch's own messages.
    let indexes: Vec<i64> = on_branch["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["index"].as_i64().unwrap())
        .collect();
    assert_eq!(indexes, [0, 1, 2, 3]);
}

#[tokio::test]
async fn branches_nest_to_any_depth() {
    let app = app().await;
    let (_, token) = user(&app).await;
    let root = chat_with(&app, &token, "r", 4).await; // r0 r1 r2 r3
    let b1 = branch_id(&app, &token, &root, 1).await; // r0 r1 | a2 a3
    add_message(&app, &token, &b1, "a2").await;
    add_message(&app, &token, &b1, "a3").await;
    let b2 = branch_id(&app, &token, &b1, 3).await; // r0 r1 a2 a3 | b4
    add_message(&app, &token, &b2, "b4").await;
    let b3 = branch_id(&app, &token, &b2, 4).await; // r0 r1 a2 a3 b4 | c5 c6
    add_message(&app, &token, &b3, "c5").await;
    add_message(&app, &token, &b3, "c6").await;
    let b4 = branch_id(&app, &token, &b3, 5).await; // r0 r1 a2 a3 b4 c5 | d6
    add_message(&app, &token, &b4, "d6").await;
    let inside = branch_id(&app, &token, &b4, 2).await; // r0 r1 a2: from b1's messages only

    assert_eq!(
        visible(&app, &token, &root).await,
        strings(&["r0", "r1", "r2", "r3"])
    );
    assert_eq!(
        visible(&app, &token, &b1).await,
        strings(&["r0", "r1", "a2", "a3"])
    );
    assert_eq!(
        visible(&app, &token, &b2).await,
        strings(&["r0", "r1", "a2", "a3", "b4"])
    );
    assert_eq!(
        visible(&app, &token, &b3).await,
        strings(&["r0", "r1", "a2", "a3", "b4", "c5", "c6"])
    );
    assert_eq!(
        visible(&app, &token, &b4).await,
        strings(&["r0", "r1", "a2", "a3", "b4", "c5", "d6"])
    );
    assert_eq!(
        visible(&app, &token, &inside).await,
        strings(&["r0", "r1", "a2"])
    );

    // The deepest branch still reports its tree's root and its direct parent.
    let deep = get_chat(&app, &token, &b4).await.body;
    assert_eq!(deep["root_chat_id"], root.as_str());
    assert_eq!(deep["parent_chat_id"], b3.as_str());
    assert_eq!(deep["active_branch_id"], root.as_str());
}

#[tokio::test]
async fn siblings_and_parents_never_see_each_others_messages() {
    let app = app().await;
    let (_, token) = user(&app).await;
    let root = chat_with(&app, &token, "q", 3).await;
    let left = branch_id(&app, &token, &root, 1).await;
    let right = branch_id(&app, &token, &root, 1).await;
    add_message(&app, &token, &left, "left").await;
    add_message(&app, &token, &right, "right").await;
    add_message(&app, &token, &root, "root").await;
    assert_eq!(
        visible(&app, &token, &left).await,
        strings(&["q0", "q1", "left"])
    );
    assert_eq!(
        visible(&app, &token, &right).await,
        strings(&["q0", "q1", "right"])
    );
    assert_eq!(
        visible(&app, &token, &root).await,
        strings(&["q0", "q1", "q2", "root"])
    );
}

#[tokio::test]
async fn creating_a_branch_copies_no_messages() {
    let app = app().await;
    let (_, token) = user(&app).await;
    let root = chat_with(&app, &token, "q", 30).await;
    let db = mongodb::Client::with_uri_str(mongodb_uri())
        .await
        .unwrap()
        .database(&app.config.database);
    let messages = db.collection::<Document>("messages");
    let chats = db.collection::<Document>("chats");
    let (messages_before, chats_before) = (
        messages.count_documents(doc! {}).await.unwrap(),
        chats.count_documents(doc! {}).await.unwrap(),
    );
    let b = branch_id(&app, &token, &root, 28).await;
    branch_id(&app, &token, &b, 10).await;
    assert_eq!(
        messages.count_documents(doc! {}).await.unwrap(),
        messages_before
    );
    assert_eq!(
        chats.count_documents(doc! {}).await.unwrap(),
        chats_before + 2
    );
    assert_eq!(visible(&app, &token, &b).await.len(), 29);
}

#[tokio::test]
async fn get_branches_lists_direct_branches_in_creation_order() {
    let app = app().await;
    let (_, token) = user(&app).await;
    let root = chat_with(&app, &token, "q", 3).await;
    let first = branch_id(&app, &token, &root, 0).await;
    let second = branch_id(&app, &token, &root, 2).await;
    let third = branch_id(&app, &token, &root, 1).await;
    let grandchild = branch_id(&app, &token, &first, 0).await;

    let reply = branches(&app, &token, &root).await;
    assert_eq!(reply.status, 200);
    let listed = reply.body.as_array().unwrap();
    let ids: Vec<&str> = listed
        .iter()
        .map(|b| b["branch_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [first.as_str(), second.as_str(), third.as_str()]);
    assert_eq!(listed[1]["name"], "from 2");
    assert_eq!(listed[1]["created_from_message_index"], 2);
    assert_eq!(listed[1]["active"], false);
    assert!(listed[1]["created_at"].as_str().unwrap().ends_with('Z'));
    let keys: Vec<&String> = listed[0].as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "active",
            "branch_id",
            "created_at",
            "created_from_message_index",
            "name"
        ]
    );

    // get-chat lists the same, and a branch lists its own branches.
    assert_eq!(
        get_chat(&app, &token, &root).await.body["branches"],
        reply.body
    );
    let nested = branches(&app, &token, &first).await.body;
    assert_eq!(nested.as_array().unwrap().len(), 1);
    assert_eq!(nested[0]["branch_id"], grandchild.as_str());
    assert_eq!(branches(&app, &token, &third).await.body, json!([]));
}

#[tokio::test]
async fn one_member_of_a_tree_is_active_and_other_trees_are_untouched() {
    let app = app().await;
    let (_, token) = user(&app).await;
    let root = chat_with(&app, &token, "q", 3).await;
    let other_chat = create_chat(&app, &token, "another conversation").await;
    let b = branch_id(&app, &token, &root, 1).await;
    let c = branch_id(&app, &token, &b, 0).await;

    // By default the root is active.
    let root_view = get_chat(&app, &token, &root).await.body;
    assert_eq!(
        (
            root_view["active"].clone(),
            root_view["active_branch_id"].clone()
        ),
        (json!(true), json!(root))
    );
    assert_eq!(get_chat(&app, &token, &b).await.body["active"], false);

    // With a body: the named branch becomes active in ID's tree.
    let reply = set_active(&app, &token, &root, Some(json!({"branch_id": b}))).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["message"], "Active branch set successfully.");
    assert_eq!(reply.body["chat_id"], root.as_str());
    assert_eq!(reply.body["active_branch_id"], b.as_str());
    assert_eq!(get_chat(&app, &token, &root).await.body["active"], false);
    assert_eq!(
        get_chat(&app, &token, &root).await.body["active_branch_id"],
        b.as_str()
    );
    assert_eq!(get_chat(&app, &token, &b).await.body["active"], true);
    assert_eq!(branches(&app, &token, &root).await.body[0]["active"], true);
    assert_eq!(
        get_chat(&app, &token, &other_chat).await.body["active"],
        true,
        "other trees keep theirs"
    );

    // Without a body: ID itself becomes active, whatever its depth.
    let reply = set_active(&app, &token, &c, None).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body["active_branch_id"], c.as_str());
    for (id, active) in [(&root, false), (&b, false), (&c, true), (&other_chat, true)] {
        assert_eq!(
            get_chat(&app, &token, id).await.body["active"],
            active,
            "{id}"
        );
    }
    // A null branch_id means the same as no body; so do an empty object and a JSON null.
    let reply = post("/api/v1/branches/set-active-branch", "null")
        .method(Method::PUT)
        .token(&token)
        .query(&[("chat_id", &c)])
        .send(&app, Endpoint::SetActiveBranch)
        .await;
    assert_eq!(reply.body["active_branch_id"], c.as_str());
    assert_eq!(
        set_active(&app, &token, &b, Some(json!({"branch_id": null})))
            .await
            .body["active_branch_id"],
        b.as_str()
    );
    assert_eq!(
        set_active(&app, &token, &root, Some(json!({}))).await.body["active_branch_id"],
        root.as_str()
    );

    // A branch of another tree is refused, and nothing changes.
    let foreign = branch_id(&app, &token, &chat_with(&app, &token, "z", 1).await, 0).await;
    let reply = set_active(&app, &token, &root, Some(json!({"branch_id": foreign}))).await;
    assert_eq!(
        (reply.status.as_u16(), reply.detail()),
        (
            422,
            "branch_id: must be a chat or branch of the same conversation"
        )
    );
    let reply = set_active(&app, &token, &root, Some(json!({"branch_id": other_chat}))).await;
    assert_eq!(reply.status, 422);
    assert_eq!(
        get_chat(&app, &token, &root).await.body["active_branch_id"],
        root.as_str()
    );
    assert_eq!(get_chat(&app, &token, &foreign).await.body["active"], false);
}

#[tokio::test]
async fn another_accounts_branches_are_invisible() {
    let app = app().await;
    let (_, owner) = user(&app).await;
    let (_, intruder) = user(&app).await;
    let root = chat_with(&app, &owner, "q", 2).await;
    let b = branch_id(&app, &owner, &root, 0).await;
    let intruders_chat = create_chat(&app, &intruder, "mine").await;

    for target in [&root, &b] {
        let reply = branch(&app, &intruder, target, 0, "steal").await;
        assert_eq!(
            (reply.status.as_u16(), reply.detail()),
            (404, "Chat not found")
        );
        assert_eq!(branches(&app, &intruder, target).await.status, 404);
        assert_eq!(get_chat(&app, &intruder, target).await.status, 404);
        assert_eq!(add_message(&app, &intruder, target, "x").await.status, 404);
        assert_eq!(set_active(&app, &intruder, target, None).await.status, 404);
    }
    // Naming someone else's branch as the active one of your own chat is refused too.
    let reply = set_active(
        &app,
        &intruder,
        &intruders_chat,
        Some(json!({"branch_id": b})),
    )
    .await;
    assert_eq!(reply.status, 422);
    // The owner's data is as it was.
    assert_eq!(
        branches(&app, &owner, &root)
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        get_chat(&app, &owner, &root).await.body["active_branch_id"],
        root.as_str()
    );
    assert_eq!(visible(&app, &owner, &b).await, strings(&["q0"]));
}

#[tokio::test]
async fn bad_branch_requests_are_refused_with_the_field_named() {
    let app = app().await;
    let (_, token) = user(&app).await;
    let root = chat_with(&app, &token, "q", 3).await;
    let empty = create_chat(&app, &token, "empty").await;
    let cases = [
        (
            json!({"parent_chat_id": root, "message_index": 3, "name": "n"}),
            "message_index: must be between 0 and 2 for this chat",
        ),
        (
            json!({"parent_chat_id": root, "message_index": -1, "name": "n"}),
            "message_index: must be between 0 and 2 for this chat",
        ),
        (
            json!({"parent_chat_id": root, "message_index": "1", "name": "n"}),
            "message_index: must be an integer",
        ),
        (
            json!({"parent_chat_id": root, "message_index": 1.5, "name": "n"}),
            "message_index: must be an integer",
        ),
        (
            json!({"parent_chat_id": root, "message_index": true, "name": "n"}),
            "message_index: must be an integer",
        ),
        (
            json!({"parent_chat_id": root, "message_index": 1e30, "name": "n"}),
            "message_index: must be an integer",
        ),
        (
            json!({"parent_chat_id": root, "name": "n"}),
            "message_index: field required",
        ),
        (
            json!({"parent_chat_id": root, "message_index": 1, "name": " "}),
            "name: must not be blank",
        ),
        (
            json!({"parent_chat_id": root, "message_index": 1}),
            "name: field required",
        ),
        (
            json!({"message_index": 1, "name": "n"}),
            "parent_chat_id: field required",
        ),
        (
            json!({"parent_chat_id": {"$gt": ""}, "message_index": 1, "name": "n"}),
            "parent_chat_id: must be a string",
        ),
        (
            json!({"parent_chat_id": empty, "message_index": 0, "name": "n"}),
            "message_index: the chat has no messages to branch from",
        ),
    ];
    assert_each_refused(&app, &token, Endpoint::CreateBranch, &cases).await;
    let reply = branch(&app, &token, "no-such-chat", 0, "n").await;
    assert_eq!(
        (reply.status.as_u16(), reply.detail()),
        (404, "Chat not found")
    );
    let reply = post("/api/v1/branches/create-branch", "{\"parent_chat_id\":")
        .token(&token)
        .send(&app, Endpoint::CreateBranch)
        .await;
    assert_eq!(reply.status, 400);
    assert_eq!(
        branches(&app, &token, &root).await.body,
        json!([]),
        "nothing was created"
    );

    // set-active-branch and get-branches
    let reply = post("/api/v1/branches/set-active-branch", "{oops")
        .method(Method::PUT)
        .token(&token)
        .query(&[("chat_id", &root)])
        .send(&app, Endpoint::SetActiveBranch)
        .await;
    assert_eq!(reply.status, 400);
    let reply = set_active(&app, &token, &root, Some(json!({"branch_id": 5}))).await;
    assert_eq!(
        (reply.status.as_u16(), reply.detail()),
        (422, "branch_id: must be a string")
    );
    let reply = set_active(&app, &token, &root, Some(json!({"branch_id": "nope"}))).await;
    assert_eq!(reply.status, 422);
    let reply = post_json("/api/v1/branches/set-active-branch", json!({}))
        .method(Method::PUT)
        .token(&token)
        .send(&app, Endpoint::SetActiveBranch)
        .await;
    assert_eq!(
        (reply.status.as_u16(), reply.detail()),
        (422, "chat_id: field required")
    );
    let reply = get("/api/v1/branches/get-branches", &[])
        .token(&token)
        .send(&app, Endpoint::GetBranches)
        .await;
    assert_eq!(
        (reply.status.as_u16(), reply.detail()),
        (422, "chat_id: field required")
    );
    assert_eq!(branches(&app, &token, "no-such-chat").await.status, 404);
    assert_eq!(
        set_active(&app, &token, "no-such-chat", None).await.status,
        404
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_branch_created_during_appends_sees_exactly_its_prefix() {
    let app = app().await;
    let (_, token) = user(&app).await;
    let root = chat_with(&app, &token, "seed", 1).await;

    let writers: Vec<_> = (0..4)
        .map(|w| {
            let (app, token, root) = (app.clone(), token.clone(), root.clone());
            tokio::spawn(async move {
                for i in 0..15 {
                    assert_eq!(
                        add_message(&app, &token, &root, &format!("w{w}-{i}"))
                            .await
                            .status,
                        200
                    );
                }
            })
        })
        .collect();
    let mut created = Vec::new();
    while created.len() < 30 {
        let len = get_chat(&app, &token, &root).await.body["messages"]
            .as_array()
            .unwrap()
            .len() as i64;
        created.push((branch_id(&app, &token, &root, len - 1).await, len - 1));
    }
    for writer in writers {
        writer.await.unwrap();
    }

    let parent = get_chat(&app, &token, &root).await.body;
    let parent_messages = parent["messages"].as_array().unwrap();
    assert_eq!(parent_messages.len(), 61);
    for (branch, index) in created {
        let seen = get_chat(&app, &token, &branch).await.body;
        assert_eq!(
            seen["messages"].as_array().unwrap()[..],
            parent_messages[..=index as usize],
            "branch at {index}"
        );
    }
}
