//! A small HTTP client for the API: one connection pool shared by every simulated user, each
//! call bounded by a client-side timeout so a stuck connection shows up as an error.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode, header};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

#[derive(Clone)]
pub struct Api {
    base: String,
    client: Client<HttpConnector, Full<Bytes>>,
    timeout: Duration,
}

/// What one call got back.
pub struct Reply {
    pub started: Instant,
    pub elapsed: Duration,
    /// `None` when the connection failed or the client gave up waiting.
    pub status: Option<StatusCode>,
    pub body: Value,
}

impl Reply {
    pub fn is(&self, expected: u16) -> bool {
        self.status.is_some_and(|s| s.as_u16() == expected)
    }

    /// A 503 with a JSON `detail`: the documented answer while MongoDB is away.
    pub fn is_unavailable(&self) -> bool {
        self.is(503) && self.body["detail"].is_string()
    }

    pub fn str(&self, field: &str) -> String {
        self.body[field].as_str().unwrap_or_default().to_owned()
    }
}

impl Api {
    pub fn new(base: &str, timeout: Duration) -> Self {
        let client = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(256)
            .build_http();
        Self {
            base: base.trim_end_matches('/').to_owned(),
            client,
            timeout,
        }
    }

    /// `path` is relative to the base URL and may carry a query string.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Reply {
        let mut request = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header(header::CONTENT_TYPE, "application/json");
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let body = body.map_or_else(Bytes::new, |b| Bytes::from(b.to_string()));
        let request = request.body(Full::new(body)).expect("request");
        let started = Instant::now();
        let answer = tokio::time::timeout(self.timeout, async {
            let response = self.client.request(request).await.ok()?;
            let status = response.status();
            let bytes = response.into_body().collect().await.ok()?.to_bytes();
            Some((
                status,
                serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            ))
        })
        .await
        .ok()
        .flatten();
        let (status, body) = answer.map_or((None, Value::Null), |(s, b)| (Some(s), b));
        Reply {
            started,
            elapsed: started.elapsed(),
            status,
            body,
        }
    }
}

/// `chat_id` as a query string value (ids are UUIDs, but stay correct for anything).
pub fn query(chat_id: &str) -> String {
    let mut encoded = String::new();
    for byte in chat_id.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                encoded.push(byte as char)
            }
            _ => encoded.push_str(&format!("%{byte:02X}")),
        }
    }
    format!("chat_id={encoded}")
}
