//! The local server over real HTTP: same handlers, real routing, real byte streams.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::{Client, connect::HttpConnector};
use hyper_util::rt::TokioExecutor;
use lambda_http::http::{HeaderMap, Method, Request};
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::common::*;

struct Server {
    base: String,
    client: Client<HttpConnector, Full<Bytes>>,
}

struct HttpReply {
    status: u16,
    headers: HeaderMap,
    body: Value,
}

async fn start() -> Server {
    start_with(app().await).await
}

async fn start_with(app: std::sync::Arc<shared::App>) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(shared::local::serve(app, listener));
    Server {
        base,
        client: Client::builder(TokioExecutor::new()).build_http(),
    }
}

impl Server {
    async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: impl Into<Bytes>,
    ) -> HttpReply {
        let auth = token.map(|t| format!("Bearer {t}"));
        let headers: Vec<(&str, &str)> =
            auth.iter().map(|a| ("authorization", a.as_str())).collect();
        self.send_with(method, path, &headers, body).await
    }

    async fn send_with(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> HttpReply {
        let mut request = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = self
            .client
            .request(request.body(Full::new(body.into())).unwrap())
            .await
            .unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let body = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            if bytes.is_empty() {
                return Value::Null;
            }
            panic!(
                "{path}: body is not JSON ({e}): {:?}",
                String::from_utf8_lossy(&bytes)
            )
        });
        HttpReply {
            status,
            headers,
            body,
        }
    }

    async fn post(&self, path: &str, token: Option<&str>, body: Value) -> HttpReply {
        self.send(Method::POST, path, token, body.to_string()).await
    }
}

#[tokio::test]
async fn a_newcomer_walks_through_the_api_over_http() {
    let server = start().await;
    let credentials = json!({"username": "newcomer", "password": "password123"});
    assert_eq!(
        server
            .post("/api/v1/auth/register", None, credentials.clone())
            .await
            .status,
        200
    );
    let login = server.post("/api/v1/auth/login", None, credentials).await;
    assert_eq!(login.status, 200);
    assert_eq!(login.headers["content-type"], "application/json");
    let token = login.body["access_token"].as_str().unwrap();

    let chat = server
        .post(
            "/api/v1/chats/create-chat",
            Some(token),
            json!({"name": "over http"}),
        )
        .await;
    assert_eq!(chat.status, 200);
    let chat_id = chat.body["chat_id"].as_str().unwrap();
    for question in ["first?", "second?"] {
        let reply = server
            .post(
                "/api/v1/messages/add-message",
                Some(token),
                json!({"chat_id": chat_id, "question": question, "response": "yes"}),
            )
            .await;
        assert_eq!(reply.status, 200);
    }
    let read = server
        .send(
            Method::GET,
            &format!("/api/v1/chats/get-chat?chat_id={chat_id}"),
            Some(token),
            "",
        )
        .await;
    assert_eq!(read.status, 200);
    assert_eq!(questions(&read.body), ["first?", "second?"]);

    // Query strings are decoded as API Gateway decodes them.
    let encoded = chat_id.replace('-', "%2D");
    let read = server
        .send(
            Method::GET,
            &format!("/api/v1/chats/get-chat?x=1&chat_id={encoded}"),
            Some(token),
            "",
        )
        .await;
    assert_eq!(read.status, 200);
    let missing = server
        .send(
            Method::GET,
            "/api/v1/chats/get-chat?chatid=1",
            Some(token),
            "",
        )
        .await;
    assert_eq!(
        (missing.status, missing.body["detail"].as_str().unwrap()),
        (422, "chat_id: field required")
    );
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_json() {
    let server = start().await;
    let reply = server
        .send(Method::GET, "/api/v1/nothing-here", None, "")
        .await;
    assert_eq!(
        (reply.status, reply.body.clone()),
        (404, json!({"detail": "Not Found"}))
    );
    let reply = server.send(Method::GET, "/no-such-page", None, "").await;
    assert_eq!(
        (reply.status, reply.body.clone()),
        (404, json!({"detail": "Not Found"}))
    );
    let reply = server
        .send(Method::GET, "/api/v1/auth/login", None, "")
        .await;
    assert_eq!(
        (reply.status, reply.body.clone()),
        (405, json!({"detail": "Method Not Allowed"}))
    );
    assert_eq!(reply.headers["allow"], "POST, OPTIONS");
    let reply = server
        .send(Method::DELETE, "/api/v1/chats/get-chat", None, "")
        .await;
    assert_eq!(reply.status, 405);
}

#[tokio::test]
async fn bad_bodies_over_http_get_json_errors() {
    let server = start().await;
    let reply = server
        .send(
            Method::POST,
            "/api/v1/auth/register",
            None,
            "{\"username\":",
        )
        .await;
    assert_eq!(reply.status, 400);
    let reply = server
        .send(
            Method::POST,
            "/api/v1/auth/register",
            None,
            vec![0xff, 0xfe, b'{'],
        )
        .await;
    assert_eq!(reply.status, 400);
    let reply = server
        .send(Method::POST, "/api/v1/auth/register", None, "")
        .await;
    assert_eq!(
        (reply.status, reply.body["detail"].as_str().unwrap()),
        (422, "body: field required")
    );
    let huge = format!("{{\"username\": \"{}\"}}", "u".repeat(3 << 20));
    let reply = server
        .send(Method::POST, "/api/v1/auth/register", None, huge)
        .await;
    assert_eq!(reply.status, 413);
    assert_eq!(
        reply.body["detail"],
        "Request body too large (limit 1048576 bytes)"
    );
    let reply = server
        .post("/api/v1/chats/create-chat", None, json!({"name": "x"}))
        .await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.headers["www-authenticate"], "Bearer");
}

#[tokio::test]
async fn a_page_on_an_allowed_origin_can_read_every_answer_even_refusals() {
    let mut config = shared::Config::new(mongodb_uri(), unique_database());
    config.cors_origins = shared::cors::AllowedOrigins::parse("http://127.0.0.1:8123").unwrap();
    let server = start_with(app_with(config).await).await;
    let page = [("origin", "http://127.0.0.1:8123")];
    let big = "x".repeat(2 << 20);
    // Answered by the local server before any handler (404, 413), by a handler's refusal
    // (405, 422) and by a handler's success alike.
    for (method, path, body, status) in [
        (Method::GET, "/api/v1/nothing-here", "", 404),
        (Method::POST, "/api/v1/auth/register", big.as_str(), 413),
        (Method::GET, "/api/v1/auth/login", "", 405),
        (Method::POST, "/api/v1/auth/register", "{}", 422),
        (
            Method::POST,
            "/api/v1/auth/register",
            r#"{"username": "from-a-page", "password": "password123"}"#,
            200,
        ),
    ] {
        let reply = server.send_with(method, path, &page, body.to_owned()).await;
        assert_eq!(reply.status, status, "{path}: {}", reply.body);
        assert_eq!(
            reply.headers["access-control-allow-origin"], "http://127.0.0.1:8123",
            "{path}"
        );
        assert_eq!(reply.headers["vary"], "Origin", "{path}");
    }
    // Another origin gets its answer too, but no permission for the browser to show it.
    let reply = server
        .send_with(
            Method::GET,
            "/api/v1/nothing-here",
            &[("origin", "http://evil.example")],
            "",
        )
        .await;
    assert!(!reply.headers.contains_key("access-control-allow-origin"));
}

#[tokio::test]
async fn every_route_answers_its_preflight() {
    let mut config = shared::Config::new(mongodb_uri(), unique_database());
    config.cors_origins = shared::cors::AllowedOrigins::parse("https://app.example.com").unwrap();
    let server = start_with(app_with(config).await).await;
    for route in shared::routes::ROUTES {
        let headers = [
            ("origin", "https://app.example.com"),
            ("access-control-request-method", route.method.as_str()),
            (
                "access-control-request-headers",
                "authorization,content-type,idempotency-key",
            ),
        ];
        let reply = server
            .send_with(Method::OPTIONS, route.path, &headers, "")
            .await;
        assert_eq!(reply.status, 200, "{}", route.path);
        let h = &reply.headers;
        assert_eq!(h["access-control-allow-origin"], "https://app.example.com");
        assert_eq!(
            h["access-control-allow-methods"],
            shared::cors::allowed_methods().as_str()
        );
        assert_eq!(
            h["access-control-allow-headers"],
            shared::cors::ALLOWED_HEADERS
        );
        assert_eq!(h["access-control-max-age"], "600");
        let refused = server
            .send_with(
                Method::OPTIONS,
                route.path,
                &[("origin", "https://evil.example"), headers[1]],
                "",
            )
            .await;
        assert_eq!(
            (refused.status, refused.body["detail"].as_str()),
            (403, Some("Origin not allowed"))
        );
        assert!(!refused.headers.contains_key("access-control-allow-origin"));
    }
}

#[tokio::test]
async fn a_client_that_trickles_its_headers_is_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut config = shared::Config::new(mongodb_uri(), unique_database());
    config.header_read_timeout = std::time::Duration::from_secs(1);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(shared::local::serve(app_with(config).await, listener));
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /api/v1/chats/get-chat HTTP/1.1\r\nX-Slow: ")
        .await
        .unwrap();
    let started = std::time::Instant::now();
    // One header byte a second, as a slow-loris client sends them, for up to 8 s.
    let cut_off = async {
        let mut buffer = [0u8; 256];
        loop {
            tokio::select! {
                read = stream.read(&mut buffer) => {
                    if matches!(read, Ok(0) | Err(_)) { return; }
                }
                _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {
                    if stream.write_all(b"a").await.is_err() { return; }
                }
            }
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(8), cut_off)
        .await
        .expect("the server should close a connection whose head takes over 1 s");
    assert!(started.elapsed() < std::time::Duration::from_secs(3));
}

#[tokio::test]
async fn conversations_are_listed_renamed_deleted_and_restored_over_http() {
    let server = start().await;
    let credentials = json!({"username": "lister", "password": "password123"});
    server
        .post("/api/v1/auth/register", None, credentials.clone())
        .await;
    let login = server.post("/api/v1/auth/login", None, credentials).await;
    let token = login.body["access_token"].as_str().unwrap().to_owned();
    let token = Some(token.as_str());
    let chat = server
        .post(
            "/api/v1/chats/create-chat",
            token,
            json!({"name": "over http"}),
        )
        .await;
    let chat_id = chat.body["chat_id"].as_str().unwrap();
    let with_chat = |path: &str| format!("{path}?chat_id={chat_id}");

    let renamed = server
        .send(
            Method::PATCH,
            &with_chat("/api/v1/chats/update-chat"),
            token,
            json!({"name": "renamed", "pinned": true}).to_string(),
        )
        .await;
    assert_eq!(renamed.status, 200, "{}", renamed.body);
    let listed = server
        .send(Method::GET, "/api/v1/chats/list-chats?limit=5", token, "")
        .await;
    assert_eq!(listed.body["items"][0]["name"], "renamed");
    assert_eq!(listed.body["items"][0]["pinned"], true);

    let deleted = server
        .send(
            Method::DELETE,
            &with_chat("/api/v1/chats/delete-chat"),
            token,
            "",
        )
        .await;
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    let gone = server
        .send(Method::GET, &with_chat("/api/v1/chats/get-chat"), token, "")
        .await;
    assert_eq!(gone.status, 404);
    let trash = server
        .send(Method::GET, "/api/v1/chats/list-deleted", token, "")
        .await;
    assert_eq!(trash.body["items"][0]["chat_id"], chat_id);
    let restored = server
        .send(
            Method::POST,
            &with_chat("/api/v1/chats/restore-chat"),
            token,
            "",
        )
        .await;
    assert_eq!(restored.status, 200, "{}", restored.body);
    let found = server
        .send(
            Method::GET,
            "/api/v1/messages/search-messages?q=renamed",
            token,
            "",
        )
        .await;
    assert_eq!(found.body["items"][0]["chat_id"], chat_id);

    let wrong = server
        .send(
            Method::PATCH,
            "/api/v1/chats/delete-chat?chat_id=x",
            token,
            "",
        )
        .await;
    assert_eq!(wrong.status, 405);
    assert_eq!(wrong.headers["allow"], "DELETE, OPTIONS");
    let account = server
        .send(
            Method::DELETE,
            "/api/v1/auth/delete-account",
            token,
            json!({"password": "password123"}).to_string(),
        )
        .await;
    assert_eq!(account.status, 200, "{}", account.body);
    let after = server
        .send(Method::GET, "/api/v1/chats/list-chats", token, "")
        .await;
    assert_eq!(after.status, 401);
}
