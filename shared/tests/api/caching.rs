//! Conditional reads: get-chat, get-tree and list-chats carry a strong `ETag`; asked again
//! with it in `If-None-Match`, they answer 304 with no body until something the answer shows
//! changes.

use serde_json::{Value, json};
use shared::lambda_http::http::header;
use shared::{App, Endpoint};

use crate::common::*;

/// One read with an optional `If-None-Match`.
async fn read(
    app: &App,
    token: &str,
    endpoint: Endpoint,
    query: &[(&str, &str)],
    tag: Option<&str>,
) -> Reply {
    let mut call = get(endpoint.route().path, query).token(token);
    if let Some(tag) = tag {
        call = call.header(header::IF_NONE_MATCH, tag);
    }
    call.send(app, endpoint).await
}

fn etag(reply: &Reply) -> String {
    assert_eq!(reply.headers[header::CACHE_CONTROL], "private, no-cache");
    reply.headers[header::ETAG].to_str().unwrap().to_owned()
}

/// Reads with `tag`: must be a 304 without a body, carrying the same tag.
async fn unchanged(app: &App, token: &str, endpoint: Endpoint, query: &[(&str, &str)], tag: &str) {
    let reply = read(app, token, endpoint, query, Some(tag)).await;
    assert_eq!(reply.status, 304, "{endpoint:?} {query:?}: {}", reply.body);
    assert_eq!(reply.body, Value::Null, "a 304 has no body");
    assert_eq!(etag(&reply), tag);
}

/// Reads with `tag`: must be a full 200 with another tag, which it returns.
async fn changed(
    app: &App,
    token: &str,
    endpoint: Endpoint,
    query: &[(&str, &str)],
    tag: &str,
) -> String {
    let reply = read(app, token, endpoint, query, Some(tag)).await;
    assert_eq!(reply.status, 200, "{endpoint:?} {query:?}: {}", reply.body);
    let new = etag(&reply);
    assert_ne!(new, tag);
    new
}

async fn write(
    app: &App,
    token: &str,
    endpoint: Endpoint,
    query: &[(&str, &str)],
    body: Value,
) -> Value {
    let route = endpoint.route();
    let reply = post_json(route.path, body)
        .method(route.method.clone())
        .query(query)
        .token(token)
        .send(app, endpoint)
        .await;
    assert_eq!(reply.status, 200, "{endpoint:?}: {}", reply.body);
    reply.body
}

#[tokio::test]
async fn get_chat_answers_304_until_anything_its_answer_shows_changes() {
    let app = app().await;
    let (_, token) = user(&app).await;
    let root = create_chat(&app, &token, "cached").await;
    for q in ["one", "two"] {
        assert_eq!(add_message(&app, &token, &root, q).await.status, 200);
    }
    let page = [("chat_id", root.as_str())];
    let first = read(&app, &token, Endpoint::GetChat, &page, None).await;
    assert_eq!(first.status, 200);
    let mut tag = etag(&first);
    unchanged(&app, &token, Endpoint::GetChat, &page, &tag).await;
    // Other pages of the same chat are other answers.
    let older = [("chat_id", root.as_str()), ("limit", "1")];
    changed(&app, &token, Endpoint::GetChat, &older, &tag).await;

    // A new message.
    assert_eq!(add_message(&app, &token, &root, "three").await.status, 200);
    tag = changed(&app, &token, Endpoint::GetChat, &page, &tag).await;
    unchanged(&app, &token, Endpoint::GetChat, &page, &tag).await;

    // A branch from it (its list of branches), then that branch made active elsewhere in
    // the tree (the chat's `active` flag), then a rename.
    let body = json!({"parent_chat_id": root, "message_index": 0, "name": "alt"});
    let branch = write(&app, &token, Endpoint::CreateBranch, &[], body).await["branch_id"]
        .as_str()
        .unwrap()
        .to_owned();
    tag = changed(&app, &token, Endpoint::GetChat, &page, &tag).await;
    let mut branch_tag = etag(
        &read(
            &app,
            &token,
            Endpoint::GetChat,
            &[("chat_id", &branch)],
            None,
        )
        .await,
    );
    write(
        &app,
        &token,
        Endpoint::SetActiveBranch,
        &page,
        json!({"branch_id": branch}),
    )
    .await;
    tag = changed(&app, &token, Endpoint::GetChat, &page, &tag).await;
    branch_tag = changed(
        &app,
        &token,
        Endpoint::GetChat,
        &[("chat_id", &branch)],
        &branch_tag,
    )
    .await;
    write(
        &app,
        &token,
        Endpoint::UpdateChat,
        &page,
        json!({"name": "renamed"}),
    )
    .await;
    let reply = read(&app, &token, Endpoint::GetChat, &page, Some(&tag)).await;
    assert_eq!(
        (reply.status.as_u16(), reply.body["name"].as_str()),
        (200, Some("renamed"))
    );

    // A tag is no key: another account asking with it finds nothing.
    let (_, stranger) = user(&app).await;
    let reply = read(
        &app,
        &stranger,
        Endpoint::GetChat,
        &[("chat_id", &branch)],
        Some(&branch_tag),
    )
    .await;
    assert_eq!(
        (reply.status.as_u16(), reply.detail()),
        (404, "Chat not found")
    );
    // Nor does a deleted conversation answer 304.
    let route = Endpoint::DeleteChat.route();
    let reply = post(route.path, "")
        .method(route.method.clone())
        .query(&page)
        .token(&token)
        .send(&app, Endpoint::DeleteChat)
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let reply = read(
        &app,
        &token,
        Endpoint::GetChat,
        &[("chat_id", &branch)],
        Some(&branch_tag),
    )
    .await;
    assert_eq!(reply.status, 404);
}

#[tokio::test]
async fn get_tree_and_list_chats_answer_304_until_they_change() {
    let app = app().await;
    let (_, token) = user(&app).await;
    let root = create_chat(&app, &token, "tree").await;
    assert_eq!(add_message(&app, &token, &root, "one").await.status, 200);
    for (endpoint, query) in [
        (Endpoint::GetTree, vec![("chat_id", root.as_str())]),
        (Endpoint::ListChats, vec![]),
    ] {
        let first = read(&app, &token, endpoint, &query, None).await;
        assert_eq!(first.status, 200);
        let tag = etag(&first);
        unchanged(&app, &token, endpoint, &query, &tag).await;
        let reply = read(
            &app,
            &token,
            endpoint,
            &query,
            Some("\"something else\", *"),
        )
        .await;
        assert_eq!(reply.status, 304, "`*` matches any current answer");
        assert_eq!(add_message(&app, &token, &root, "two").await.status, 200);
        changed(&app, &token, endpoint, &query, &tag).await;
    }
}

#[tokio::test]
async fn a_deleted_accounts_token_is_refused_by_get_chat_whatever_the_tag() {
    let app = app().await;
    let (_, token) = user(&app).await;
    let chat = create_chat(&app, &token, "gone").await;
    let page = [("chat_id", chat.as_str())];
    let tag = etag(&read(&app, &token, Endpoint::GetChat, &page, None).await);
    let reply = delete_own_account(&app, &token).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    for tag in [None, Some(tag.as_str())] {
        let reply = read(&app, &token, Endpoint::GetChat, &page, tag).await;
        assert_eq!(reply.status, 401, "{}", reply.body);
        assert_eq!(reply.headers[header::WWW_AUTHENTICATE], "Bearer");
    }
}
