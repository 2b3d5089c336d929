//! Sharding readiness (README, *Sharding*): every query the hot endpoints send names its
//! collection's shard key prefix by equality, so a sharded cluster routes it to the shards of
//! one account, and uses an index; every single-document write (updateOne, deleteOne,
//! findAndModify) names the whole key, as a sharded cluster requires before MongoDB 7.1.
//! Checked on the queries the handlers really send, as MongoDB's profiler records them, each
//! explained again with `explain()`.

use mongodb::bson::{Bson, Document, doc};
use serde_json::json;
use shared::Endpoint;
use shared::lambda_http::http::header::HeaderName;
use shared::store::{SCATTER_GATHER, SHARD_KEYS};

use crate::common::*;

#[tokio::test]
async fn every_hot_query_uses_an_index_and_names_its_shard_key() {
    let database = unique_database();
    let app = app_with(shared::Config::new(mongodb_uri(), &database)).await;
    let (username, token) = user(&app).await;
    let chat = create_chat(&app, &token, "sharded").await;
    for question in ["alpha", "beta"] {
        assert_eq!(add_message(&app, &token, &chat, question).await.status, 200);
    }
    let branch = create_branch(&app, &token, &chat, 0).await;
    assert_eq!(
        add_message(&app, &token, &branch, "gamma").await.status,
        200
    );

    let db = mongo().await.database(&database);
    db.run_command(doc! { "profile": 2 }).await.unwrap();
    // get-chat of a branch reads its lineage: pieces stored in two chats.
    assert_eq!(get_chat(&app, &token, &branch).await.status, 200);
    let add = post_json(
        "/api/v1/messages/add-message",
        json!({"chat_id": branch, "question": "delta", "response": "r"}),
    )
    .token(&token)
    .header(HeaderName::from_static("idempotency-key"), "sharding-1");
    assert_eq!(add.send(&app, Endpoint::AddMessage).await.status, 200);
    let hot = [
        (Endpoint::ListChats, "/api/v1/chats/list-chats", vec![]),
        (
            Endpoint::SearchMessages,
            "/api/v1/messages/search-messages",
            vec![("q", "alpha")],
        ),
        (
            Endpoint::GetTree,
            "/api/v1/chats/get-tree",
            vec![("chat_id", branch.as_str())],
        ),
    ];
    for (endpoint, path, query) in hot {
        let reply = get(path, &query).token(&token).send(&app, endpoint).await;
        assert_eq!(reply.status, 200, "{path}: {}", reply.body);
    }
    let login = post_json(
        "/api/v1/auth/login",
        json!({"username": username, "password": "password123"}),
    );
    assert_eq!(login.send(&app, Endpoint::Login).await.status, 200);
    db.run_command(doc! { "profile": 0 }).await.unwrap();

    let mut profiled = db
        .collection::<Document>("system.profile")
        .find(doc! {})
        .await
        .unwrap();
    let mut checked = Vec::new();
    while profiled.advance().await.unwrap() {
        let entry = profiled.deserialize_current().unwrap();
        for (collection, filter, single) in queries(&entry, &database) {
            let plan = winning_plan(&db, &collection, &filter).await;
            assert!(
                !plan.to_string().contains("COLLSCAN"),
                "{collection} {filter}: no index used: {plan}"
            );
            let first = filter.keys().next().map(String::as_str).unwrap_or("");
            if SCATTER_GATHER.contains(&(collection.as_str(), first)) {
                continue;
            }
            let key = SHARD_KEYS
                .iter()
                .find(|k| k.collection == collection)
                .unwrap_or_else(|| panic!("{collection} has no shard key in the plan"));
            for field in key.routed_by {
                assert!(
                    names(&filter, field),
                    "{collection} {filter}: does not name {field}, so it would go to every shard"
                );
            }
            for field in key.key.iter().filter(|_| single) {
                assert!(
                    names(&filter, field),
                    "{collection} {filter}: a single-document write without {field}"
                );
            }
            checked.push(collection);
        }
    }
    for key in SHARD_KEYS {
        assert!(
            checked.contains(&key.collection.to_owned()),
            "no hot query of {} was profiled: {checked:?}",
            key.collection
        );
    }

    // Inserts are routed by the document itself: every document carries its key.
    for key in SHARD_KEYS.iter().filter(|k| !k.key.is_empty()) {
        let missing: Vec<Document> = key
            .key
            .iter()
            .map(|field| doc! { *field: { "$exists": false } })
            .collect();
        let count = db
            .collection::<Document>(key.collection)
            .count_documents(doc! { "$or": missing })
            .await
            .unwrap();
        assert_eq!(
            count, 0,
            "{} documents without their shard key",
            key.collection
        );
    }
}

/// The queries (collection, filter, and whether it writes one document) one profiled operation
/// ran: its own, and those of the `$lookup`s of an aggregation (`foreignField` an equality).
fn queries(entry: &Document, database: &str) -> Vec<(String, Document, bool)> {
    let Some(collection) = entry
        .get_str("ns")
        .ok()
        .and_then(|ns| ns.strip_prefix(&format!("{database}.")))
    else {
        return Vec::new();
    };
    if collection.starts_with("system.") {
        return Vec::new();
    }
    let command = entry.get_document("command").cloned().unwrap_or_default();
    let filter = |key: &str| command.get_document(key).ok().cloned();
    let own = match entry.get_str("op").unwrap_or("") {
        "query" => filter("filter").map(|f| (f, false)),
        "update" => filter("q").map(|f| (f, !command.get_bool("multi").unwrap_or(false))),
        "remove" => filter("q").map(|f| (f, command.get("limit") == Some(&Bson::Int32(1)))),
        "command" if command.contains_key("findAndModify") => filter("query").map(|f| (f, true)),
        "command" if command.contains_key("aggregate") => {
            return aggregation(collection, command.get_array("pipeline").unwrap());
        }
        _ => None,
    };
    own.map(|(f, single)| (collection.to_owned(), f, single))
        .into_iter()
        .collect()
}

fn aggregation(collection: &str, pipeline: &[Bson]) -> Vec<(String, Document, bool)> {
    let stages: Vec<&Document> = pipeline.iter().filter_map(Bson::as_document).collect();
    let mut queries = Vec::new();
    if let Some(Ok(first)) = stages.first().map(|s| s.get_document("$match")) {
        queries.push((collection.to_owned(), first.clone(), false));
    }
    for lookup in stages.iter().filter_map(|s| s.get_document("$lookup").ok()) {
        let from = lookup.get_str("from").unwrap().to_owned();
        let mut filter = lookup
            .get_array("pipeline")
            .ok()
            .and_then(|p| p.first())
            .and_then(Bson::as_document)
            .and_then(|s| s.get_document("$match").ok())
            .cloned()
            .unwrap_or_default();
        if let Ok(field) = lookup.get_str("foreignField") {
            filter.insert(field, "a value of the local field");
        }
        queries.push((from, filter, false));
    }
    queries
}

/// Whether `filter` pins `field` to one value (directly, with `$eq`, in an `$and`, or in
/// every branch of an `$or`).
fn names(filter: &Document, field: &str) -> bool {
    if let Some(value) = filter.get(field) {
        return match value {
            Bson::Document(d) => d.keys().all(|k| !k.starts_with('$')) || d.contains_key("$eq"),
            _ => true,
        };
    }
    let clauses = |op: &str| -> Vec<Document> {
        filter
            .get_array(op)
            .map(|a| a.iter().filter_map(Bson::as_document).cloned().collect())
            .unwrap_or_default()
    };
    clauses("$and").iter().any(|c| names(c, field))
        || (!clauses("$or").is_empty() && clauses("$or").iter().all(|c| names(c, field)))
}

async fn winning_plan(db: &mongodb::Database, collection: &str, filter: &Document) -> Document {
    let explained = db
        .run_command(doc! {
            "explain": { "find": collection, "filter": filter.clone() },
            "verbosity": "queryPlanner",
        })
        .await
        .unwrap_or_else(|e| panic!("explain {collection} {filter}: {e}"));
    explained
        .get_document("queryPlanner")
        .and_then(|p| p.get_document("winningPlan"))
        .unwrap()
        .clone()
}
