//! Everything a request goes through before it reaches MongoDB, fed arbitrary bytes: routing,
//! the query string, the bearer token and its verification, the `Idempotency-Key`, the body
//! parsed into every endpoint's typed struct, every validation rule, and the error response.
//! Nothing may panic, and no client mistake may become a 5xx.
//!
//! Input layout: `method path?query\nauthorization\nidempotency-key\nbody`.

#![no_main]

use std::sync::LazyLock;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use shared::ApiError;
use shared::auth::token::Tokens;
use shared::gateway::GatewayRequest;
use shared::http::bearer_token;
use shared::lambda_http::aws_lambda_events::query_map::QueryMap;
use shared::lambda_http::http::Method;
use shared::lambda_http::{Body, Request};
use shared::requests::{self as req, *};
use shared::{accounts, chats, cursor, exports, idempotency, messages, routes};

static TOKENS: LazyLock<Tokens> = LazyLock::new(|| {
    Tokens::new(
        b"fuzz-secret-fuzz-secret-fuzz-secret!",
        "chat-backend",
        Duration::from_secs(60),
    )
});

/// Every error must render as a JSON client error.
fn refused(error: ApiError) {
    let response = error.into_response();
    assert!(response.status().is_client_error(), "{}", response.status());
    let body: serde_json::Value = serde_json::from_slice(response.body().as_ref()).expect("JSON");
    assert!(body["detail"].is_string());
}

fn check<T>(result: Result<T, ApiError>) -> Option<T> {
    result.map_err(refused).ok()
}

/// The body as every endpoint's struct, and each one's rules.
fn bodies(request: &Request) {
    if let Some(c) = check(req::body::<Credentials>(request)) {
        check(accounts::validate_username(&c.username));
        check(accounts::validate_password(&c.password));
    }
    check(req::body::<PasswordCheck>(request));
    if let Some(c) = check(req::body::<NewChat>(request)) {
        check(chats::validate_name(&c.name));
    }
    if let Some(m) = check(req::body::<NewMessage>(request)) {
        check(messages::validate_message(&m.question, &m.response));
    }
    if let Some(b) = check(req::body::<NewBranch>(request)) {
        check(chats::validate_name(&b.name));
    }
    check(req::optional_body::<ActiveBranch>(request));
    if let Some(Some(name)) = check(req::body::<ChatUpdate>(request)).map(|u| u.name) {
        check(chats::validate_name(&name));
    }
    if let Some(e) = check(req::body::<EditMessage>(request)) {
        check(messages::validate_message(&e.question, &e.response));
    }
    check(req::body::<Regeneration>(request));
    if let Some(f) = check(req::body::<ForkChat>(request)) {
        check(chats::validate_name(&f.name));
    }
    // An import: the ChatGPT format, then each conversation turned into a tree.
    if let Some(conversations) = check(exports::parse(request.body().as_ref())) {
        for (i, conversation) in conversations.iter().enumerate() {
            check(exports::import(conversation, "fuzz", &format!("[{i}]")));
        }
    }
}

/// The query string as every endpoint's struct, and the cursors in it.
fn queries(request: &Request) {
    check(req::query::<ChatQuery>(request));
    check(req::query::<ChatPageQuery>(request));
    check(req::query::<BranchQuery>(request));
    check(req::query::<CompareQuery>(request));
    for cursor in [
        check(req::query::<ListQuery>(request)).and_then(|q| q.cursor),
        check(req::query::<TrashQuery>(request)).and_then(|q| q.cursor),
        check(req::query::<SearchQuery>(request)).and_then(|q| q.cursor),
        check(req::query::<TreeQuery>(request)).and_then(|q| q.cursor),
        check(req::query::<ExportQuery>(request)).and_then(|q| q.cursor),
    ]
    .into_iter()
    .flatten()
    {
        check(cursor::decode::<serde_json::Value>(&cursor));
    }
}

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(4, |&b| b == b'\n');
    let mut next = || parts.next().unwrap_or_default();
    let (line, authorization, key, body) = (next(), next(), next(), next());
    let line = String::from_utf8_lossy(line);
    let (method, target) = line.split_once(' ').unwrap_or(("GET", &line));
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let method = Method::from_bytes(method.as_bytes()).unwrap_or(Method::GET);
    check(routes::find(path));

    let query: QueryMap = query.parse().unwrap_or_default();
    let params: Vec<(String, String)> = query
        .iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let params: Vec<(&str, &str)> = params.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let request = GatewayRequest::new(method, path)
        .query(&params)
        .header("authorization", authorization)
        .header(idempotency::HEADER, key)
        .body(Body::Binary(body.to_vec()))
        .build();

    if let Some(token) = check(bearer_token(&request)) {
        check(TOKENS.verify(token));
    }
    check(idempotency::key(&request));
    queries(&request);
    bodies(&request);
});
