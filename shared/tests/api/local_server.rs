//! The local server over real HTTP: same handlers, real routing, real byte streams.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::{Client, connect::HttpConnector};
use hyper_util::rt::TokioExecutor;
use lambda_http::http::{HeaderMap, Method, Request, header};
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
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(shared::local::serve(app().await, listener));
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
        let mut request = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
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
        201
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
    assert_eq!(chat.status, 201);
    let chat_id = chat.body["chat_id"].as_str().unwrap();
    for question in ["first?", "second?"] {
        let reply = server
            .post(
                "/api/v1/messages/add-message",
                Some(token),
                json!({"chat_id": chat_id, "question": question, "response": "yes"}),
            )
            .await;
        assert_eq!(reply.status, 201);
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
    let reply = server.send(Method::GET, "/", None, "").await;
    assert_eq!(reply.status, 404);
    let reply = server
        .send(Method::GET, "/api/v1/auth/login", None, "")
        .await;
    assert_eq!(
        (reply.status, reply.body.clone()),
        (405, json!({"detail": "Method Not Allowed"}))
    );
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
