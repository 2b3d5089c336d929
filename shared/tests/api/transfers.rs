//! ChatGPT's `conversations.json`, in and out: realistic exports (edits at message 0,
//! regenerations, system, tool and hidden nodes, a 2,000-message conversation) import as
//! trees, and export → import → export gives the first export back, ids aside.

use serde_json::{Value, json};
use shared::{App, Endpoint};

use crate::common::*;

/// Builds a conversation the way ChatGPT's export writes one.
struct Export {
    mapping: serde_json::Map<String, Value>,
    next: u64,
}

impl Export {
    fn new() -> Self {
        let mut mapping = serde_json::Map::new();
        mapping.insert(
            "client-created-root".into(),
            json!({"id": "client-created-root", "message": null, "parent": null, "children": []}),
        );
        Self { mapping, next: 0 }
    }

    /// Adds a node under `parent`; returns its id.
    fn node(&mut self, parent: &str, role: &str, content: Value, hidden: bool) -> String {
        self.next += 1;
        let id = format!("aaaaaaaa-0000-4000-8000-{:012}", self.next);
        let message = json!({
            "id": id,
            "author": {"role": role, "name": null, "metadata": {}},
            "create_time": 1_700_000_000.0 + self.next as f64,
            "update_time": null,
            "content": content,
            "status": "finished_successfully",
            "end_turn": true,
            "weight": 1.0,
            "metadata": {"is_visually_hidden_from_conversation": hidden, "model_slug": "gpt-4o"},
            "recipient": "all",
            "channel": null
        });
        self.mapping.insert(
            id.clone(),
            json!({"id": id, "message": message, "parent": parent, "children": []}),
        );
        self.mapping[parent]["children"]
            .as_array_mut()
            .unwrap()
            .push(json!(id));
        id
    }

    fn text(&mut self, parent: &str, role: &str, text: &str) -> String {
        self.node(
            parent,
            role,
            json!({"content_type": "text", "parts": [text]}),
            false,
        )
    }

    fn done(self, title: &str, current: &str) -> Value {
        json!({
            "title": title,
            "create_time": 1_700_000_000.5,
            "update_time": 1_700_000_999.25,
            "mapping": self.mapping,
            "moderation_results": [],
            "current_node": current,
            "plugin_ids": null,
            "conversation_id": "67a1b2c3-0000-4000-8000-000000000000",
            "conversation_template_id": null,
            "gizmo_id": null,
            "is_archived": false,
            "safe_urls": [],
            "default_model_slug": "gpt-4o",
            "id": "67a1b2c3-0000-4000-8000-000000000000"
        })
    }
}

/// Three conversations: edits at message 0, a regeneration, and system/tool/hidden nodes.
fn fixture() -> Value {
    // 1. A hidden system prompt, then a question edited at message 0 (two user children).
    let mut one = Export::new();
    let system = one.node(
        "client-created-root",
        "system",
        json!({"content_type": "text", "parts": [""]}),
        true,
    );
    let q1 = one.text(&system, "user", "What is a B-tree?");
    let a1 = one.text(&q1, "assistant", "A balanced search tree.");
    let q2 = one.text(&a1, "user", "And a B+ tree?");
    one.text(&q2, "assistant", "Leaves hold all the keys.");
    let q1b = one.text(&system, "user", "Explain B-trees to a child.");
    let a1b = one.text(&q1b, "assistant", "A tree with many children per node.");
    let one = one.done("B-trees", &a1b);

    // 2. A regeneration: one question, two answers, each continued.
    let mut two = Export::new();
    let q = two.text("client-created-root", "user", "Name a prime.");
    let first = two.text(&q, "assistant", "7");
    let second = two.text(&q, "assistant", "11");
    let q_after_first = two.text(&first, "user", "Another?");
    two.text(&q_after_first, "assistant", "13");
    let q_after_second = two.text(&second, "user", "Bigger?");
    let last = two.text(&q_after_second, "assistant", "101");
    let two = two.done("Primes", &last);

    // 3. A tool call between question and answer, and an image part beside text.
    let mut three = Export::new();
    let q = three.node(
        "client-created-root",
        "user",
        json!({"content_type": "multimodal_text", "parts": [{"content_type": "image_asset_pointer", "asset_pointer": "file-service://x"}, "What is in this picture?"]}),
        false,
    );
    let tool_call = three.node(
        &q,
        "assistant",
        json!({"content_type": "code", "language": "unknown", "text": "search(\"cat\")"}),
        false,
    );
    let tool = three.node(
        &tool_call,
        "tool",
        json!({"content_type": "tether_browsing_display", "result": "…"}),
        false,
    );
    let answer = three.text(&tool, "assistant", "A cat.");
    let three = three.done("Picture", &answer);
    json!([one, two, three])
}

/// A conversation of `n` pairs, as ChatGPT exports it.
fn long_conversation(n: usize) -> Value {
    let mut export = Export::new();
    let mut parent = "client-created-root".to_owned();
    for i in 0..n {
        let q = export.text(&parent, "user", &format!("question {i}"));
        parent = export.text(
            &q,
            "assistant",
            &format!("answer {i} {}", "lorem ipsum ".repeat(5)),
        );
    }
    export.done("Long", &parent)
}

async fn import(app: &App, token: &str, body: &Value) -> Reply {
    post_json("/api/v1/chats/import-chats", body.clone())
        .token(token)
        .send(app, Endpoint::ImportChats)
        .await
}

async fn export_one(app: &App, token: &str, chat_id: &str) -> Value {
    let reply = get("/api/v1/chats/export-chat", &[("chat_id", chat_id)])
        .token(token)
        .send(app, Endpoint::ExportChat)
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body
}

/// An export with its ids taken out: the tree of (role, text, time) from the root, children
/// in order, the title and times, and the path to `current_node`.
fn shape(conversation: &Value) -> Value {
    let mapping = conversation["mapping"].as_object().unwrap();
    fn walk(mapping: &serde_json::Map<String, Value>, id: &str) -> Value {
        let node = &mapping[id];
        let message = &node["message"];
        let children: Vec<Value> = node["children"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| walk(mapping, c.as_str().unwrap()))
            .collect();
        json!({
            "role": message["author"]["role"],
            "text": message["content"]["parts"],
            "time": message["create_time"],
            "children": children,
        })
    }
    let root = mapping.values().find(|n| n["parent"].is_null()).unwrap();
    let mut path = Vec::new();
    let mut at = conversation["current_node"].as_str().unwrap().to_owned();
    while let Some(node) = mapping.get(&at) {
        path.push(node["message"]["content"]["parts"].clone());
        match node["parent"].as_str() {
            Some(parent) => at = parent.to_owned(),
            None => break,
        }
    }
    json!({
        "title": conversation["title"],
        "create_time": conversation["create_time"],
        "update_time": conversation["update_time"],
        "tree": walk(mapping, root["id"].as_str().unwrap()),
        "current": path,
    })
}

#[tokio::test]
async fn chatgpt_exports_import_as_trees() {
    let app = app().await;
    let (_, token) = user(&app).await;
    let reply = import(&app, &token, &fixture()).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let created = reply.body.as_array().unwrap();
    assert_eq!(created.len(), 3);

    // 1: the edit at message 0 is a branch with nothing inherited, and it is active.
    let b_trees = created[0]["chat_id"].as_str().unwrap();
    assert_eq!(created[0]["name"], "B-trees");
    assert_eq!(created[0]["branch_count"], 1);
    let main = get_chat(&app, &token, b_trees).await.body;
    assert_eq!(questions(&main), ["What is a B-tree?", "And a B+ tree?"]);
    assert_eq!(main["messages"][1]["response"], "Leaves hold all the keys.");
    assert_eq!(
        main["messages"][0]["timestamp"], "2023-11-14T22:13:23.000Z",
        "the answer's original time"
    );
    let edit = main["active_branch_id"].as_str().unwrap();
    let edited = get_chat(&app, &token, edit).await.body;
    assert_eq!(questions(&edited), ["Explain B-trees to a child."]);
    assert_eq!(edited["created_from_message_index"], -1);

    // 2: a regeneration is a sibling branch at the question.
    let primes = created[1]["chat_id"].as_str().unwrap();
    let main = get_chat(&app, &token, primes).await.body;
    assert_eq!(
        main["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["response"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["7", "13"]
    );
    let regenerated = get_chat(&app, &token, main["active_branch_id"].as_str().unwrap())
        .await
        .body;
    assert_eq!(
        regenerated["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["response"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["11", "101"]
    );

    // 3: the tool call and its result are skipped; the image part too.
    let picture = created[2]["chat_id"].as_str().unwrap();
    let main = get_chat(&app, &token, picture).await.body;
    assert_eq!(questions(&main), ["What is in this picture?"]);
    assert_eq!(main["messages"][0]["response"], "A cat.");
}

#[tokio::test]
async fn export_import_export_gives_the_same_conversation() {
    let app = app().await;
    let (_, token) = user(&app).await;
    // A conversation built through the API: branches, a nested one, an edit at 0.
    let root = create_chat(&app, &token, "round trip").await;
    for q in ["q0", "q1", "q2"] {
        add_message(&app, &token, &root, q).await;
    }
    let branch = post_json(
        "/api/v1/branches/create-branch",
        json!({"parent_chat_id": root, "message_index": 1, "name": "b"}),
    )
    .token(&token)
    .send(&app, Endpoint::CreateBranch)
    .await
    .body["branch_id"]
        .as_str()
        .unwrap()
        .to_owned();
    add_message(&app, &token, &branch, "b2").await;
    post_json(
        "/api/v1/messages/edit-message",
        json!({"chat_id": root, "message_index": 0, "question": "q0 edited", "response": "r"}),
    )
    .token(&token)
    .send(&app, Endpoint::EditMessage)
    .await;
    let first = export_one(&app, &token, &root).await;
    let reply = import(&app, &token, &json!([first.clone()])).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let copy = reply.body[0]["chat_id"].as_str().unwrap();
    let second = export_one(&app, &token, copy).await;
    assert_eq!(shape(&second), shape(&first));

    // And for the realistic fixtures, once imported: export → import → export is stable.
    let reply = import(&app, &token, &fixture()).await;
    for created in reply.body.as_array().unwrap() {
        let once = export_one(&app, &token, created["chat_id"].as_str().unwrap()).await;
        let again = import(&app, &token, &json!([once.clone()])).await;
        let twice = export_one(&app, &token, again.body[0]["chat_id"].as_str().unwrap()).await;
        assert_eq!(shape(&twice), shape(&once), "{}", created["name"]);
    }
}

#[tokio::test]
async fn a_two_thousand_message_conversation_imports_and_pages() {
    let app = app().await;
    let (_, token) = user(&app).await;
    let reply = import(&app, &token, &json!([long_conversation(2000)])).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body[0]["message_count"], 2000);
    let chat = reply.body[0]["chat_id"].as_str().unwrap();
    let read = get_chat(&app, &token, chat).await.body;
    assert_eq!(read["message_count"], 2000);
    assert_eq!(questions(&read).last().unwrap(), "question 1999");
    let page = get("/api/v1/chats/export-chats", &[("limit", "5")])
        .token(&token)
        .send(&app, Endpoint::ExportChats)
        .await;
    assert_eq!(page.status, 200);
    assert_eq!(page.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(
        page.body["items"][0]["mapping"].as_object().unwrap().len(),
        4001
    );
}

#[tokio::test]
async fn a_malformed_file_is_a_422_at_its_json_path_and_nothing_is_imported() {
    let app = app().await;
    let (_, token) = user(&app).await;
    let mut broken = fixture();
    broken[2]["mapping"]["client-created-root"]["children"] = json!([7]);
    let mut no_root = long_conversation(2);
    no_root["mapping"]["client-created-root"]["parent"] =
        json!("aaaaaaaa-0000-4000-8000-000000000001");
    let mut dangling = long_conversation(2);
    dangling["mapping"]["client-created-root"]["children"] = json!(["missing"]);
    for (body, detail) in [
        (
            broken,
            "[2].mapping.client-created-root.children[0]: invalid type: integer `7`, expected a string",
        ),
        (json!([{"title": "x"}]), "[0].mapping: field required"),
        (
            json!([no_root]),
            "[0].mapping: has no root node (one without a parent)",
        ),
        (
            json!([long_conversation(1), dangling]),
            "[1].mapping.client-created-root.children: names \"missing\", which is not a node whose parent is \"client-created-root\"",
        ),
        (json!("text"), "body: must be a conversations.json array"),
    ] {
        let reply = import(&app, &token, &body).await;
        assert_eq!((reply.status.as_u16(), reply.detail()), (422, detail));
    }
    let listed = get("/api/v1/chats/list-chats", &[])
        .token(&token)
        .send(&app, Endpoint::ListChats)
        .await;
    assert_eq!(listed.body["items"], json!([]), "nothing half-imported");
}

#[tokio::test]
async fn an_export_after_a_promotion_holds_every_message() {
    let app = app().await;
    let (_, token) = user(&app).await;
    let root = create_chat(&app, &token, "promoted").await;
    for q in ["r0", "r1", "r2"] {
        add_message(&app, &token, &root, q).await;
    }
    let branch = |parent: String, index: i64| {
        let (app, token) = (app.clone(), token.clone());
        async move {
            post_json(
                "/api/v1/branches/create-branch",
                json!({"parent_chat_id": parent, "message_index": index, "name": "b"}),
            )
            .token(&token)
            .send(&app, Endpoint::CreateBranch)
            .await
            .body["branch_id"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let a = branch(root.clone(), 0).await;
    for q in ["a1", "a2", "a3"] {
        add_message(&app, &token, &a, q).await;
    }
    let b = branch(a.clone(), 1).await;
    add_message(&app, &token, &b, "b2").await;
    let promoted = post("/api/v1/branches/promote-branch", "")
        .query(&[("branch_id", &b)])
        .token(&token)
        .send(&app, Endpoint::PromoteBranch)
        .await;
    assert_eq!(promoted.status, 200, "{}", promoted.body);
    add_message(&app, &token, &b, "b3 after").await;
    let exported = export_one(&app, &token, &root).await;
    let questions: Vec<String> = exported["mapping"]
        .as_object()
        .unwrap()
        .values()
        .filter(|n| n["message"]["author"]["role"] == "user")
        .map(|n| {
            n["message"]["content"]["parts"][0]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    let mut sorted = questions.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        ["a1", "a2", "a3", "b2", "b3 after", "r0", "r1", "r2"]
    );
}
