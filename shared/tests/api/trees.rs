//! Whole-tree operations: see the tree, edit and regenerate, delete and prune (and undo),
//! promote, compare, fork, and the quotas — each leaving every other member reading exactly
//! what it read before.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use shared::{App, Config, Endpoint};

use crate::common::*;

async fn call(
    app: &App,
    token: &str,
    endpoint: Endpoint,
    query: &[(&str, &str)],
    body: Option<Value>,
) -> Reply {
    let route = endpoint.route();
    let call = match body {
        Some(body) => post_json(route.path, body),
        None => post(route.path, ""),
    };
    call.method(route.method.clone())
        .query(query)
        .token(token)
        .send(app, endpoint)
        .await
}

async fn ok(
    app: &App,
    token: &str,
    endpoint: Endpoint,
    query: &[(&str, &str)],
    body: Option<Value>,
) -> Value {
    let reply = call(app, token, endpoint, query, body).await;
    assert_eq!(reply.status, 200, "{endpoint:?} {query:?}: {}", reply.body);
    reply.body
}

async fn branch(app: &App, token: &str, parent: &str, index: i64, name: &str) -> String {
    let body = json!({"parent_chat_id": parent, "message_index": index, "name": name});
    ok(app, token, Endpoint::CreateBranch, &[], Some(body)).await["branch_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn add(app: &App, token: &str, chat: &str, questions: &[&str]) {
    for q in questions {
        assert_eq!(add_message(app, token, chat, q).await.status, 200);
    }
}

/// The whole visible history (questions) of a member.
async fn history(app: &App, token: &str, chat: &str) -> Vec<String> {
    questions(
        &ok(
            app,
            token,
            Endpoint::GetChat,
            &[("chat_id", chat), ("limit", "1000")],
            None,
        )
        .await,
    )
}

async fn set_active(app: &App, token: &str, root: &str, branch: &str) {
    let body = json!({ "branch_id": branch });
    ok(
        app,
        token,
        Endpoint::SetActiveBranch,
        &[("chat_id", root)],
        Some(body),
    )
    .await;
}

async fn tree(app: &App, token: &str, chat: &str) -> Value {
    ok(app, token, Endpoint::GetTree, &[("chat_id", chat)], None).await
}

/// What every live member of the tree shows.
async fn everything(app: &App, token: &str, chat: &str) -> BTreeMap<String, Vec<String>> {
    let mut shown = BTreeMap::new();
    for member in tree(app, token, chat).await["members"].as_array().unwrap() {
        let id = member["chat_id"].as_str().unwrap().to_owned();
        shown.insert(id.clone(), history(app, token, &id).await);
    }
    shown
}

/// root: a0..a5; b (from a2): b3 b4; c (from b3, cut inside b's own part): c4; d (from a4): d5.
async fn sample(app: &App, token: &str) -> (String, String, String, String) {
    let root = create_chat(app, token, "root").await;
    add(app, token, &root, &["a0", "a1", "a2", "a3", "a4", "a5"]).await;
    let b = branch(app, token, &root, 2, "b").await;
    add(app, token, &b, &["b3", "b4"]).await;
    let c = branch(app, token, &b, 3, "c").await;
    add(app, token, &c, &["c4"]).await;
    let d = branch(app, token, &root, 4, "d").await;
    add(app, token, &d, &["d5"]).await;
    (root, b, c, d)
}

#[tokio::test]
async fn the_tree_is_drawn_in_one_answer() {
    let app = app().await;
    let (_, token) = user(&app).await;
    let (root, b, c, d) = sample(&app, &token).await;
    set_active(&app, &token, &root, &c).await;
    let view = tree(&app, &token, &d).await;
    let order: Vec<&str> = view["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(order, ["root", "b", "c", "d"], "depth first, by cut index");
    assert_eq!(view["member_count"], 4);
    assert_eq!(view["active_branch_id"], c.as_str());
    assert_eq!(view["active_path"], json!([root, b, c]));
    let c_view = &view["members"][2];
    assert_eq!(c_view["parent_chat_id"], b.as_str());
    assert_eq!(c_view["created_from_message_index"], 3);
    assert_eq!(
        (
            c_view["own_message_count"].clone(),
            c_view["message_count"].clone()
        ),
        (json!(1), json!(5))
    );
    assert_eq!(c_view["active"], true);
    assert_eq!(
        (&view["pinned"], &view["archived"]),
        (&json!(false), &json!(false))
    );
    // The conversation's flags, from any member.
    ok(
        &app,
        &token,
        Endpoint::UpdateChat,
        &[("chat_id", &root)],
        Some(json!({"pinned": true, "archived": true})),
    )
    .await;
    let flagged = tree(&app, &token, &c).await;
    assert_eq!(
        (&flagged["pinned"], &flagged["archived"]),
        (&json!(true), &json!(true))
    );
    // Paged.
    let first = ok(
        &app,
        &token,
        Endpoint::GetTree,
        &[("chat_id", &root), ("limit", "3")],
        None,
    )
    .await;
    assert_eq!(first["members"].as_array().unwrap().len(), 3);
    let cursor = first["next_cursor"].as_str().unwrap();
    let rest = ok(
        &app,
        &token,
        Endpoint::GetTree,
        &[("chat_id", &root), ("cursor", cursor)],
        None,
    )
    .await;
    assert_eq!(rest["members"][0]["name"], "d");
    assert_eq!(rest["next_cursor"], Value::Null);
}

#[tokio::test]
async fn edit_and_regenerate_make_an_active_branch_before_the_message() {
    let app = app().await;
    let (_, token) = user(&app).await;
    let (root, b, ..) = sample(&app, &token).await;
    let before = everything(&app, &token, &root).await;

    let edited = ok(
        &app,
        &token,
        Endpoint::EditMessage,
        &[],
        Some(json!({
            "chat_id": b, "message_index": 3, "question": "b3 edited", "response": "r"
        })),
    )
    .await;
    let edited_id = edited["chat_id"].as_str().unwrap().to_owned();
    assert_eq!(questions(&edited), ["a0", "a1", "a2", "b3 edited"]);
    assert_eq!(edited["active"], true);
    assert_eq!(edited["parent_chat_id"], b.as_str());
    assert_eq!(edited["created_from_message_index"], 2);

    let regenerated = ok(
        &app,
        &token,
        Endpoint::RegenerateMessage,
        &[],
        Some(json!({
            "chat_id": root, "message_index": 1, "response": "another answer"
        })),
    )
    .await;
    assert_eq!(questions(&regenerated), ["a0", "a1"]);
    assert_eq!(regenerated["messages"][1]["response"], "another answer");
    assert_eq!(regenerated["name"], "Regenerated at message 1");

    // Message 0: a branch with nothing inherited.
    let first = ok(
        &app,
        &token,
        Endpoint::EditMessage,
        &[],
        Some(json!({
            "chat_id": root, "message_index": 0, "question": "a different start", "response": "r"
        })),
    )
    .await;
    assert_eq!(questions(&first), ["a different start"]);
    assert_eq!(first["created_from_message_index"], -1);
    let first_id = first["chat_id"].as_str().unwrap();
    add(&app, &token, first_id, &["and on"]).await;
    assert_eq!(
        history(&app, &token, first_id).await,
        ["a different start", "and on"]
    );
    let view = tree(&app, &token, &root).await;
    assert_eq!(view["active_branch_id"], first_id);

    // Nothing else changed.
    let after = everything(&app, &token, &root).await;
    for (id, shown) in &before {
        assert_eq!(&after[id], shown);
    }
    assert_eq!(
        history(&app, &token, &edited_id).await,
        ["a0", "a1", "a2", "b3 edited"]
    );

    for (body, detail) in [
        (
            json!({"chat_id": b, "message_index": 5, "question": "q", "response": "r"}),
            "message_index: must be between 0 and 4 for this chat",
        ),
        (
            json!({"chat_id": b, "message_index": 1, "question": " ", "response": "r"}),
            "question: must not be blank",
        ),
        (
            json!({"chat_id": b, "message_index": "1", "question": "q", "response": "r"}),
            "message_index: must be an integer",
        ),
    ] {
        let reply = call(&app, &token, Endpoint::EditMessage, &[], Some(body)).await;
        assert_eq!((reply.status.as_u16(), reply.detail()), (422, detail));
    }
}

#[tokio::test]
async fn deleting_a_branch_takes_its_subtree_and_restoring_brings_it_back() {
    let app = app().await;
    let (_, token) = user(&app).await;
    let (root, b, c, d) = sample(&app, &token).await;
    // e is cut from b inside b's inherited prefix: below b, though it inherits nothing of b's.
    let e = branch(&app, &token, &b, 1, "e").await;
    set_active(&app, &token, &root, &c).await;
    let before = everything(&app, &token, &root).await;

    let deleted = ok(
        &app,
        &token,
        Endpoint::DeleteBranch,
        &[("branch_id", &b)],
        None,
    )
    .await;
    let mut gone: Vec<&str> = deleted["chat_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    gone.sort();
    let mut expected = vec![b.as_str(), c.as_str(), e.as_str()];
    expected.sort();
    assert_eq!(gone, expected);
    assert_eq!(
        deleted["active_branch_id"],
        root.as_str(),
        "the parent of b takes over"
    );
    for id in [&b, &c, &e] {
        assert_eq!(get_chat(&app, &token, id).await.status, 404);
    }
    let after = everything(&app, &token, &root).await;
    assert_eq!(after.len(), 2);
    assert_eq!(after[&root], before[&root]);
    assert_eq!(after[&d], before[&d]);
    let listed = ok(&app, &token, Endpoint::ListChats, &[], None).await;
    assert_eq!(listed["items"][0]["branch_count"], 1);

    // Restoring any of them restores the deletion; c before b cannot hang from nothing.
    let restored = ok(
        &app,
        &token,
        Endpoint::RestoreBranch,
        &[("branch_id", &c)],
        None,
    )
    .await;
    assert_eq!(restored["chat_ids"].as_array().unwrap().len(), 3);
    assert_eq!(everything(&app, &token, &root).await, before);
    // An undo: c, active when the deletion took it, is active again.
    assert_eq!(restored["active_branch_id"], c.as_str());
    let tree = ok(&app, &token, Endpoint::GetTree, &[("chat_id", &root)], None).await;
    assert_eq!(tree["active_branch_id"], c.as_str());
    assert_eq!(
        call(
            &app,
            &token,
            Endpoint::RestoreBranch,
            &[("branch_id", &c)],
            None
        )
        .await
        .status,
        404
    );

    ok(
        &app,
        &token,
        Endpoint::DeleteBranch,
        &[("branch_id", &c)],
        None,
    )
    .await;
    ok(
        &app,
        &token,
        Endpoint::DeleteBranch,
        &[("branch_id", &b)],
        None,
    )
    .await;
    let reply = call(
        &app,
        &token,
        Endpoint::RestoreBranch,
        &[("branch_id", &c)],
        None,
    )
    .await;
    assert_eq!(
        (reply.status.as_u16(), reply.detail()),
        (
            422,
            "branch_id: hangs from a branch that is deleted too: restore that one first"
        )
    );
    let reply = call(
        &app,
        &token,
        Endpoint::DeleteBranch,
        &[("branch_id", &root)],
        None,
    )
    .await;
    assert_eq!(
        (reply.status.as_u16(), reply.detail()),
        (
            422,
            "branch_id: is a conversation's root: delete it with delete-chat"
        )
    );
}

#[tokio::test]
async fn pruning_keeps_one_path_and_is_undone_as_one() {
    let app = app().await;
    let (_, token) = user(&app).await;
    let (root, b, c, d) = sample(&app, &token).await;
    set_active(&app, &token, &root, &d).await;
    let before = everything(&app, &token, &root).await;
    let pruned = ok(
        &app,
        &token,
        Endpoint::PruneBranches,
        &[("chat_id", &c)],
        None,
    )
    .await;
    assert_eq!(pruned["chat_ids"], json!([d]));
    assert_eq!(pruned["active_branch_id"], c.as_str());
    let after = everything(&app, &token, &root).await;
    assert_eq!(after.keys().cloned().collect::<Vec<_>>().len(), 3);
    for id in [&root, &b, &c] {
        assert_eq!(after[id], before[id]);
    }
    let restored = ok(
        &app,
        &token,
        Endpoint::RestoreBranch,
        &[("branch_id", &d)],
        None,
    )
    .await;
    assert_eq!(everything(&app, &token, &root).await, before);
    assert_eq!(
        restored["active_branch_id"],
        d.as_str(),
        "d is active again"
    );

    // Pruned again, then another member chosen: restoring keeps that choice.
    ok(
        &app,
        &token,
        Endpoint::PruneBranches,
        &[("chat_id", &c)],
        None,
    )
    .await;
    set_active(&app, &token, &root, &b).await;
    let restored = ok(
        &app,
        &token,
        Endpoint::RestoreBranch,
        &[("branch_id", &d)],
        None,
    )
    .await;
    assert_eq!(restored["active_branch_id"], b.as_str());
    let tree = ok(&app, &token, Endpoint::GetTree, &[("chat_id", &root)], None).await;
    assert_eq!(tree["active_branch_id"], b.as_str());
}

#[tokio::test]
async fn promoting_makes_the_branch_the_main_line_and_keeps_the_old_one() {
    let app = app().await;
    let (_, token) = user(&app).await;
    let (root, b, c, d) = sample(&app, &token).await;
    let before = everything(&app, &token, &root).await;
    let promoted = ok(
        &app,
        &token,
        Endpoint::PromoteBranch,
        &[("branch_id", &c)],
        None,
    )
    .await;
    let old_main = promoted["old_main_branch_id"].as_str().unwrap().to_owned();
    assert_eq!(promoted["moved_messages"], 5, "a3..a5 out, b3 and c4 in");
    let after = everything(&app, &token, &root).await;
    assert_eq!(
        after[&root], before[&c],
        "the root id now shows the promoted history"
    );
    assert_eq!(
        after[&old_main], before[&root],
        "the old main line lives on"
    );
    for id in [&b, &c, &d] {
        assert_eq!(after[id], before[id], "{id}");
    }
    let view = tree(&app, &token, &root).await;
    let d_view = view["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["chat_id"] == d.as_str())
        .unwrap();
    assert_eq!(
        d_view["parent_chat_id"],
        old_main.as_str(),
        "d was cut from the old main line"
    );
    // Branching from the new main line and adding to everything still works.
    let f = branch(&app, &token, &root, 4, "f").await;
    assert_eq!(
        history(&app, &token, &f).await,
        ["a0", "a1", "a2", "b3", "c4"]
    );
    add(&app, &token, &root, &["new main"]).await;
    add(&app, &token, &old_main, &["old main"]).await;
    assert_eq!(history(&app, &token, &c).await, before[&c]);
    assert_eq!(history(&app, &token, &d).await, before[&d]);
    let reply = call(
        &app,
        &token,
        Endpoint::PromoteBranch,
        &[("branch_id", &root)],
        None,
    )
    .await;
    assert_eq!(
        (reply.status.as_u16(), reply.detail()),
        (422, "branch_id: is already the main line")
    );
}

#[tokio::test]
async fn promoting_a_branch_ten_deep_moves_only_what_it_must() {
    let app = app().await;
    let (_, token) = user(&app).await;
    let root = create_chat(&app, &token, "deep").await;
    add(&app, &token, &root, &["m0", "m1", "m2"]).await;
    let mut parent = root.clone();
    for depth in 0..10 {
        let at = 2 + depth;
        let child = branch(&app, &token, &parent, at, &format!("level {depth}")).await;
        add(&app, &token, &child, &[&format!("deep {depth}")]).await;
        parent = child;
    }
    let before = everything(&app, &token, &root).await;
    let promoted = ok(
        &app,
        &token,
        Endpoint::PromoteBranch,
        &[("branch_id", &parent)],
        None,
    )
    .await;
    assert_eq!(promoted["moved_messages"], 10);
    let after = everything(&app, &token, &root).await;
    assert_eq!(after[&root], before[&parent]);
    for (id, shown) in &before {
        if id != &root {
            assert_eq!(&after[id], shown, "{id}");
        }
    }
}

#[tokio::test]
async fn comparing_shows_both_sides_from_where_they_diverge() {
    let app = app().await;
    let (_, token) = user(&app).await;
    let (root, b, c, _) = sample(&app, &token).await;
    let compared = ok(
        &app,
        &token,
        Endpoint::CompareBranches,
        &[("a", &c), ("b", &root)],
        None,
    )
    .await;
    assert_eq!(compared["divergence_index"], 3);
    assert_eq!(questions(&compared["a"]), ["b3", "c4"]);
    assert_eq!(questions(&compared["b"]), ["a3", "a4", "a5"]);
    let nested = ok(
        &app,
        &token,
        Endpoint::CompareBranches,
        &[("a", &b), ("b", &c), ("limit", "1")],
        None,
    )
    .await;
    assert_eq!(
        nested["divergence_index"], 4,
        "an ancestor and its descendant"
    );
    assert_eq!(questions(&nested["a"]), ["b4"]);
    assert_eq!(questions(&nested["b"]), ["c4"]);
    let other = create_chat(&app, &token, "other").await;
    let reply = call(
        &app,
        &token,
        Endpoint::CompareBranches,
        &[("a", &c), ("b", &other)],
        None,
    )
    .await;
    assert_eq!(
        (reply.status.as_u16(), reply.detail()),
        (422, "b: must be a member of a's conversation")
    );
}

#[tokio::test]
async fn a_fork_is_independent_of_its_source() {
    let app = app().await;
    let (_, token) = user(&app).await;
    let (root, _, c, _) = sample(&app, &token).await;
    let fork = ok(
        &app,
        &token,
        Endpoint::ForkChat,
        &[],
        Some(json!({"chat_id": c, "message_index": 3, "name": "forked"})),
    )
    .await;
    let fork_id = fork["chat_id"].as_str().unwrap().to_owned();
    assert_eq!(questions(&fork), ["a0", "a1", "a2", "b3"]);
    assert_eq!(fork["root_chat_id"], fork_id.as_str());
    let whole = ok(
        &app,
        &token,
        Endpoint::ForkChat,
        &[],
        Some(json!({"chat_id": c, "name": "all"})),
    )
    .await;
    assert_eq!(questions(&whole), ["a0", "a1", "a2", "b3", "c4"]);
    let reply = call(
        &app,
        &token,
        Endpoint::DeleteChat,
        &[("chat_id", &root)],
        None,
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        history(&app, &token, &fork_id).await,
        ["a0", "a1", "a2", "b3"]
    );
    assert_eq!(tree(&app, &token, &fork_id).await["member_count"], 1);
}

#[tokio::test]
async fn quotas_are_a_clear_422() {
    let mut config = Config::new(mongodb_uri(), unique_database());
    config.max_members = 3;
    config.max_depth = 2;
    config.max_conversations = 2;
    let app = app_with(config).await;
    let (_, token) = user(&app).await;
    let root = create_chat(&app, &token, "small").await;
    add(&app, &token, &root, &["q0", "q1", "q2"]).await;
    let b1 = branch(&app, &token, &root, 0, "b1").await;
    add(&app, &token, &b1, &["x1"]).await;
    let b2 = branch(&app, &token, &b1, 1, "b2").await;
    let reply = call(
        &app,
        &token,
        Endpoint::CreateBranch,
        &[],
        Some(json!({"parent_chat_id": root, "message_index": 1, "name": "b3"})),
    )
    .await;
    assert_eq!(
        (reply.status.as_u16(), reply.detail()),
        (
            422,
            "parent_chat_id: the conversation would pass 3 members, the most allowed"
        )
    );
    let reply = call(
        &app,
        &token,
        Endpoint::EditMessage,
        &[],
        Some(json!({"chat_id": root, "message_index": 1, "question": "q", "response": "r"})),
    )
    .await;
    assert_eq!(reply.status, 422);
    ok(
        &app,
        &token,
        Endpoint::DeleteBranch,
        &[("branch_id", &b2)],
        None,
    )
    .await;
    add(&app, &token, &b2.clone(), &[]).await;
    create_chat(&app, &token, "second").await;
    let reply = post_json("/api/v1/chats/create-chat", json!({"name": "third"}))
        .token(&token)
        .send(&app, Endpoint::CreateChat)
        .await;
    assert_eq!(
        (reply.status.as_u16(), reply.detail()),
        (
            422,
            "account: holds 2 conversations, the most allowed: delete some first"
        )
    );
    // Depth: each level past the parent's own messages adds a lineage segment.
    let deep_app = app_with({
        let mut c = Config::new(mongodb_uri(), unique_database());
        c.max_depth = 2;
        c
    })
    .await;
    let (_, token) = user(&deep_app).await;
    let mut parent = create_chat(&deep_app, &token, "deep").await;
    add(&deep_app, &token, &parent, &["m0"]).await;
    for level in 0..2 {
        let child = branch(&deep_app, &token, &parent, level, "level").await;
        add(&deep_app, &token, &child, &["more"]).await;
        parent = child;
    }
    let reply = call(
        &deep_app,
        &token,
        Endpoint::CreateBranch,
        &[],
        Some(json!({"parent_chat_id": parent, "message_index": 2, "name": "too deep"})),
    )
    .await;
    assert_eq!(
        (reply.status.as_u16(), reply.detail()),
        (
            422,
            "parent_chat_id: a branch here would nest 3 levels deep, past the limit of 2"
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_tree_changes_leave_a_consistent_tree() {
    let database = unique_database();
    let app = app_with(Config::new(mongodb_uri(), &database)).await;
    let other = app_with(Config::new(mongodb_uri(), &database)).await;
    let (_, token) = user(&app).await;
    let (root, b, c, d) = sample(&app, &token).await;
    let before = everything(&app, &token, &root).await;

    // delete-branch racing add-message to a descendant; promote racing create-branch; two
    // prunes at once — through two instances.
    let t = token.clone();
    let (a1, a2) = (app.clone(), other.clone());
    let (b1, c1, d1, r1) = (b.clone(), c.clone(), d.clone(), root.clone());
    let results = tokio::join!(
        async {
            call(&a1, &t, Endpoint::DeleteBranch, &[("branch_id", &b1)], None)
                .await
                .status
                .as_u16()
        },
        async { add_message(&a2, &t, &c1, "racing").await.status.as_u16() },
        async {
            call(
                &a2,
                &t,
                Endpoint::PromoteBranch,
                &[("branch_id", &d1)],
                None,
            )
            .await
            .status
            .as_u16()
        },
        async {
            call(
                &a1,
                &t,
                Endpoint::CreateBranch,
                &[],
                Some(json!({"parent_chat_id": r1, "message_index": 1, "name": "racer"})),
            )
            .await
            .status
            .as_u16()
        },
    );
    for status in [results.0, results.2, results.3] {
        assert_eq!(status, 200);
    }
    assert!([200, 404].contains(&results.1), "{}", results.1);
    let (q1, q2) = ([("chat_id", root.as_str())], [("chat_id", d.as_str())]);
    let (p1, p2) = tokio::join!(
        call(&app, &token, Endpoint::PruneBranches, &q1, None),
        call(&other, &token, Endpoint::PruneBranches, &q2, None),
    );
    // Each prune either applies or finds its chat already pruned by the other.
    for reply in [&p1, &p2] {
        assert!(
            [200, 404].contains(&reply.status.as_u16()),
            "{}",
            reply.body
        );
    }
    assert!(p1.status == 200 || p2.status == 200);

    // Whatever the order: every live member reads a history that is a prefix-consistent tree,
    // its figures agree with the list, and d still reads what it read.
    let view = tree(&app, &token, &root).await;
    let members = view["members"].as_array().unwrap();
    assert!(
        members
            .iter()
            .any(|m| m["chat_id"] == view["active_branch_id"])
    );
    for member in members {
        let id = member["chat_id"].as_str().unwrap();
        let shown = history(&app, &token, id).await;
        assert_eq!(
            shown.len() as i64,
            member["message_count"].as_i64().unwrap(),
            "{id}"
        );
        if let Some(parent) = member["parent_chat_id"].as_str() {
            let cut = member["created_from_message_index"].as_i64().unwrap();
            let parent_shown = history(&app, &token, parent).await;
            assert_eq!(
                shown[..(cut + 1) as usize],
                parent_shown[..(cut + 1) as usize],
                "{id} from {parent}"
            );
        }
    }
    if members.iter().any(|m| m["chat_id"] == d.as_str()) {
        assert_eq!(history(&app, &token, &d).await, before[&d]);
    }
    let listed = ok(&app, &token, Endpoint::ListChats, &[], None).await;
    assert_eq!(listed["items"][0]["branch_count"], json!(members.len() - 1));
    let active = members.iter().find(|m| m["active"] == true).unwrap();
    assert_eq!(listed["items"][0]["message_count"], active["message_count"]);
}

#[tokio::test]
async fn a_huge_from_in_a_comparison_reads_nothing_more() {
    let app = app().await;
    let (_, token) = user(&app).await;
    let (root, b, ..) = sample(&app, &token).await;
    let far = i64::MAX.to_string();
    let compared = ok(
        &app,
        &token,
        Endpoint::CompareBranches,
        &[("a", &root), ("b", &b), ("from", &far)],
        None,
    )
    .await;
    for side in ["a", "b"] {
        assert_eq!(compared[side]["messages"], json!([]));
        assert_eq!(compared[side]["has_more"], false);
    }
}

#[tokio::test]
async fn restoring_a_conversation_keeps_its_deleted_branches_in_the_trash() {
    let app = app().await;
    let (_, token) = user(&app).await;
    let (root, b, c, d) = sample(&app, &token).await;
    ok(
        &app,
        &token,
        Endpoint::DeleteBranch,
        &[("branch_id", &d)],
        None,
    )
    .await;
    ok(
        &app,
        &token,
        Endpoint::DeleteChat,
        &[("chat_id", &root)],
        None,
    )
    .await;
    ok(
        &app,
        &token,
        Endpoint::RestoreChat,
        &[("chat_id", &root)],
        None,
    )
    .await;
    assert_eq!(
        get_chat(&app, &token, &d).await.status,
        404,
        "still deleted on its own"
    );
    for id in [&root, &b, &c] {
        assert_eq!(get_chat(&app, &token, id).await.status, 200);
    }
    assert_eq!(tree(&app, &token, &root).await["member_count"], 3);
    let listed = ok(&app, &token, Endpoint::ListChats, &[], None).await;
    assert_eq!(listed["items"][0]["branch_count"], 2);
    ok(
        &app,
        &token,
        Endpoint::RestoreBranch,
        &[("branch_id", &d)],
        None,
    )
    .await;
    assert_eq!(tree(&app, &token, &root).await["member_count"], 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_during_a_promotion_see_before_or_after_never_a_mix() {
    let app = app().await;
    let (_, token) = user(&app).await;
    for _ in 0..10 {
        let root = create_chat(&app, &token, "R").await;
        add(&app, &token, &root, &["r0", "r1", "r2", "r3"]).await;
        let a = branch(&app, &token, &root, 1, "a").await;
        add(&app, &token, &a, &["a2", "a3"]).await;
        let late = branch(&app, &token, &root, 3, "late").await;
        let done = std::sync::atomic::AtomicBool::new(false);
        let promote = async {
            let reply = call(
                &app,
                &token,
                Endpoint::PromoteBranch,
                &[("branch_id", &a)],
                None,
            )
            .await;
            done.store(true, std::sync::atomic::Ordering::SeqCst);
            reply
        };
        let read = async {
            let mut seen = Vec::new();
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                seen.push(history(&app, &token, &late).await);
            }
            seen
        };
        let (promoted, seen) = tokio::join!(promote, read);
        assert_eq!(promoted.status, 200);
        for shown in seen {
            assert_eq!(shown, ["r0", "r1", "r2", "r3"]);
        }
        assert_eq!(history(&app, &token, &late).await, ["r0", "r1", "r2", "r3"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_branch_made_during_a_promotion_inherits_what_its_parent_shows() {
    let app = app().await;
    let (_, token) = user(&app).await;
    for _ in 0..10 {
        let root = create_chat(&app, &token, "R").await;
        add(&app, &token, &root, &["r0", "r1", "r2", "r3"]).await;
        let a = branch(&app, &token, &root, 1, "a").await;
        add(&app, &token, &a, &["a2", "a3"]).await;
        let late = branch(&app, &token, &root, 3, "late").await;
        let query = [("branch_id", a.as_str())];
        let (promoted, made) = tokio::join!(
            call(&app, &token, Endpoint::PromoteBranch, &query, None),
            branch(&app, &token, &late, 3, "during"),
        );
        assert_eq!(promoted.status, 200);
        assert_eq!(history(&app, &token, &made).await, ["r0", "r1", "r2", "r3"]);
    }
}
