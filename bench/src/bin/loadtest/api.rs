//! A small HTTP client for the API: one connection pool shared by every simulated user, each
//! call bounded by a client-side timeout so a stuck connection shows up as an error. Methods
//! and paths come from the route table (`shared::routes`), bodies from the typed request
//! structs (`shared::requests`), so the load sends exactly what the API defines.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, StatusCode, header};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use shared::Endpoint;
use shared::idempotency::HEADER as IDEMPOTENCY_KEY;
use shared::routes::BASE_PATH;

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
    /// The answer carried `Idempotent-Replayed: true`: the stored answer of an earlier
    /// request with the same `Idempotency-Key`.
    pub replayed: bool,
    /// Which attempt of a write this was (1 for the first, and for every other call).
    pub attempt: u32,
}

impl Reply {
    /// No reply: what a failure found by comparing several answers is recorded with.
    pub fn none() -> Self {
        Self {
            started: Instant::now(),
            elapsed: Duration::ZERO,
            status: None,
            body: Value::Null,
            replayed: false,
            attempt: 1,
        }
    }

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

    /// The body as the typed view the API documents for it.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, String> {
        serde_json::from_value(self.body.clone())
            .map_err(|e| format!("unexpected answer ({e}): {}", self.body))
    }

    /// How it ended, for messages.
    pub fn describe(&self) -> String {
        match self.status {
            Some(status) => format!("{status} {}", self.body),
            None => format!("no answer within {:.1} s", self.elapsed.as_secs_f64()),
        }
    }
}

/// One request: an endpoint, its query parameters, a JSON body, a token, a key.
pub struct Call {
    pub endpoint: Endpoint,
    query: Vec<(String, String)>,
    body: Option<Bytes>,
    token: Option<String>,
    key: Option<String>,
}

impl Call {
    pub fn to(endpoint: Endpoint) -> Self {
        Self {
            endpoint,
            query: Vec::new(),
            body: None,
            token: None,
            key: None,
        }
    }

    pub fn query(mut self, name: &str, value: impl ToString) -> Self {
        self.query.push((name.to_owned(), value.to_string()));
        self
    }

    pub fn json(mut self, body: &impl Serialize) -> Self {
        self.body = Some(Bytes::from(serde_json::to_vec(body).expect("JSON body")));
        self
    }

    pub fn token(mut self, token: &str) -> Self {
        self.token = Some(token.to_owned());
        self
    }

    /// An `Idempotency-Key`: retries of this call are the same write.
    pub fn key(mut self, key: &str) -> Self {
        self.key = Some(key.to_owned());
        self
    }

    /// Whether it carries an idempotency key.
    pub fn keyed(&self) -> bool {
        self.key.is_some()
    }

    /// The path under the base URL, with the encoded query string.
    fn path(&self) -> String {
        let route = self.endpoint.route();
        let mut path = route
            .path
            .strip_prefix(BASE_PATH)
            .unwrap_or(route.path)
            .to_owned();
        for (i, (name, value)) in self.query.iter().enumerate() {
            path.push(if i == 0 { '?' } else { '&' });
            path.push_str(&encode(name));
            path.push('=');
            path.push_str(&encode(value));
        }
        path
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

    pub async fn send(&self, call: &Call) -> Reply {
        let mut request = Request::builder()
            .method(call.endpoint.route().method.clone())
            .uri(format!("{}{}", self.base, call.path()))
            .header(header::CONTENT_TYPE, "application/json");
        if let Some(token) = &call.token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        if let Some(key) = &call.key {
            request = request.header(IDEMPOTENCY_KEY, key.as_str());
        }
        let body = call.body.clone().unwrap_or_default();
        let request = request.body(Full::new(body)).expect("request");
        let started = Instant::now();
        let answer = tokio::time::timeout(self.timeout, async {
            let response = self.client.request(request).await.ok()?;
            let status = response.status();
            let replayed = response
                .headers()
                .get("idempotent-replayed")
                .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"true"));
            let bytes = response.into_body().collect().await.ok()?.to_bytes();
            let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            Some((status, body, replayed))
        })
        .await
        .ok()
        .flatten();
        let (status, body, replayed) = match answer {
            Some((status, body, replayed)) => (Some(status), body, replayed),
            None => (None, Value::Null, false),
        };
        Reply {
            started,
            elapsed: started.elapsed(),
            status,
            body,
            replayed,
            attempt: 1,
        }
    }
}

/// A query-string value, percent-encoded (ids are UUIDs and cursors URL-safe base64, but stay
/// correct for anything).
fn encode(value: &str) -> String {
    let mut encoded = String::new();
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                encoded.push(byte as char)
            }
            _ => encoded.push_str(&format!("%{byte:02X}")),
        }
    }
    encoded
}
