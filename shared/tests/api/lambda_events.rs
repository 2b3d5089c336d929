//! The handlers fed real API Gateway events, decoded by `lambda_http` exactly as in AWS.

use serde_json::json;
use shared::Endpoint;

use crate::common::*;

async fn invoke(app: &shared::App, endpoint: Endpoint, event: serde_json::Value) -> Reply {
    let request = lambda_http::request::from_str(&event.to_string()).expect("a valid event");
    let response = endpoint.handle(app, request).await;
    Reply {
        status: response.status(),
        headers: response.headers().clone(),
        body: serde_json::from_slice(response.body().as_ref()).unwrap(),
    }
}

/// A REST API (v1) proxy event, as API Gateway sends it in production.
fn rest_event(
    method: &str,
    path: &str,
    query: serde_json::Value,
    token: &str,
    body: Option<String>,
) -> serde_json::Value {
    json!({
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": {"Authorization": format!("Bearer {token}"), "Content-Type": "application/json"},
        "multiValueHeaders": {"Authorization": [format!("Bearer {token}")], "Content-Type": ["application/json"]},
        "queryStringParameters": query,
        "multiValueQueryStringParameters": null,
        "pathParameters": null,
        "stageVariables": null,
        "requestContext": {
            "accountId": "123456789012", "resourceId": "abc123", "stage": "v1", "requestId": "req-1",
            "identity": {"sourceIp": "127.0.0.1", "userAgent": "test"},
            "resourcePath": path, "httpMethod": method, "apiId": "api123", "path": format!("/v1{path}"),
            "protocol": "HTTP/1.1", "requestTimeEpoch": 1700000000000_i64
        },
        "body": body,
        "isBase64Encoded": false
    })
}

#[tokio::test]
async fn rest_api_events_reach_the_handlers_with_their_query_and_body() {
    let app = app().await;
    let (_, token) = user(&app).await;
    let chat_id = create_chat(&app, &token, "via events").await;

    let body =
        json!({"chat_id": chat_id, "question": "from an event", "response": "ok"}).to_string();
    let reply = invoke(
        &app,
        Endpoint::AddMessage,
        rest_event(
            "POST",
            "/api/v1/messages/add-message",
            json!(null),
            &token,
            Some(body),
        ),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);

    let reply = invoke(
        &app,
        Endpoint::GetChat,
        rest_event(
            "GET",
            "/api/v1/chats/get-chat",
            json!({"chat_id": chat_id}),
            &token,
            None,
        ),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(questions(&reply.body), ["from an event"]);

    let reply = invoke(
        &app,
        Endpoint::GetChat,
        rest_event("GET", "/api/v1/chats/get-chat", json!(null), &token, None),
    )
    .await;
    assert_eq!(
        (reply.status.as_u16(), reply.detail()),
        (422, "chat_id: field required")
    );
}

#[tokio::test]
async fn http_api_v2_events_as_cargo_lambda_watch_sends_them_work_too() {
    let app = app().await;
    let (_, token) = user(&app).await;
    let chat_id = create_chat(&app, &token, "v2").await;
    let event = json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/api/v1/chats/get-chat",
        "rawQueryString": format!("chat_id={chat_id}"),
        "headers": {"authorization": format!("Bearer {token}")},
        "queryStringParameters": {"chat_id": chat_id},
        "requestContext": {
            "accountId": "123456789012", "apiId": "api", "domainName": "localhost", "domainPrefix": "localhost",
            "http": {"method": "GET", "path": "/api/v1/chats/get-chat", "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "test"},
            "requestId": "req-2", "routeKey": "$default", "stage": "$default", "time": "24/Nov/2026:12:00:00 +0000", "timeEpoch": 1700000000000_i64
        },
        "isBase64Encoded": false
    });
    let reply = invoke(&app, Endpoint::GetChat, event).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["chat_id"], chat_id.as_str());
}

/// The same event seen from a browser page on `origin`.
fn from_page(
    mut event: serde_json::Value,
    origin: &str,
    extra: &[(&str, &str)],
) -> serde_json::Value {
    for (name, value) in [("Origin", origin)].iter().chain(extra) {
        event["headers"][name] = json!(value);
        event["multiValueHeaders"][name] = json!([value]);
    }
    event
}

/// API Gateway routes every method of a function's path to it (its `ANY` event), so the
/// function itself answers browsers' preflights and wrong methods, with CORS headers.
#[tokio::test]
async fn a_function_answers_preflights_wrong_methods_and_refusals_with_cors_headers() {
    let mut config = shared::Config::new(mongodb_uri(), unique_database());
    config.cors_origins = shared::cors::AllowedOrigins::parse("https://app.example.com").unwrap();
    let app = app_with(config).await;
    let path = "/api/v1/chats/create-chat";
    let page = "https://app.example.com";

    let preflight = from_page(
        rest_event("OPTIONS", path, json!(null), "", None),
        page,
        &[("Access-Control-Request-Method", "POST")],
    );
    let request = lambda_http::request::from_str(&preflight.to_string()).unwrap();
    let response = Endpoint::CreateChat.handle(&app, request).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["access-control-allow-origin"], page);
    assert!(
        response.headers()["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("POST")
    );

    let wrong = invoke(
        &app,
        Endpoint::CreateChat,
        from_page(rest_event("DELETE", path, json!(null), "", None), page, &[]),
    )
    .await;
    assert_eq!(wrong.status, 405);
    assert_eq!(wrong.headers["allow"], "POST, OPTIONS");
    assert_eq!(wrong.headers["access-control-allow-origin"], page);

    // A refusal a page must be able to read: the 401 and its WWW-Authenticate.
    let refused = invoke(
        &app,
        Endpoint::CreateChat,
        from_page(
            rest_event("POST", path, json!(null), "not-a-token", Some("{}".into())),
            page,
            &[],
        ),
    )
    .await;
    assert_eq!(refused.status, 401);
    assert_eq!(refused.headers["access-control-allow-origin"], page);
    assert!(
        refused.headers["access-control-expose-headers"]
            .to_str()
            .unwrap()
            .contains("WWW-Authenticate")
    );
}
