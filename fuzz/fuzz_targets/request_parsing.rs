//! Everything a request goes through before it reaches MongoDB, fed arbitrary bytes: routing,
//! the query string, the bearer token and its verification, the JSON body, every field
//! accessor and validation rule, and the error response. Nothing may panic, and no client
//! mistake may become a 5xx.
//!
//! Input layout: `method path?query\nauthorization\nbody`.

#![no_main]

use std::sync::LazyLock;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use shared::ApiError;
use shared::auth::token::Tokens;
use shared::http::{JsonBody, bearer_token, query_param};
use shared::lambda_http::aws_lambda_events::query_map::QueryMap;
use shared::lambda_http::http::{HeaderValue, Method, header};
use shared::lambda_http::{Body, Request, RequestExt};
use shared::{accounts, chats, routes};

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

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(3, |&b| b == b'\n');
    let (line, authorization, body) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    let line = String::from_utf8_lossy(line);
    let (method, target) = line.split_once(' ').unwrap_or(("GET", &line));
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    if let Ok(method) = Method::from_bytes(method.as_bytes()) {
        check(routes::find(&method, path));
    }

    let query: QueryMap = query.parse().unwrap_or_default();
    let mut request = Request::new(Body::Binary(body.to_vec())).with_query_string_parameters(query);
    if let Ok(value) = HeaderValue::from_bytes(authorization) {
        request.headers_mut().insert(header::AUTHORIZATION, value);
    }

    check(query_param(&request, "chat_id"));
    if let Some(token) = check(bearer_token(&request)) {
        check(TOKENS.verify(token));
    }
    check(JsonBody::parse_optional(&request));
    let Some(body) = check(JsonBody::parse(&request)) else {
        return;
    };
    for field in [
        "username",
        "password",
        "name",
        "chat_id",
        "question",
        "response",
        "parent_chat_id",
    ] {
        check(body.string(field));
    }
    check(body.optional_string("branch_id"));
    check(body.integer("message_index"));
    if let (Ok(username), Ok(password)) = (body.string("username"), body.string("password")) {
        check(accounts::validate_username(username));
        check(accounts::validate_password(password));
    }
    if let Ok(name) = body.string("name") {
        check(chats::validate_name(name));
    }
    if let (Ok(question), Ok(response)) = (body.string("question"), body.string("response")) {
        check(chats::validate_message(question, response));
    }
});
