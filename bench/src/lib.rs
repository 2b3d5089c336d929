//! What the benchmarks share: an in-process caller of the real handlers (the same entry point
//! the Lambda runtime uses) and a little statistics.

use std::collections::HashMap;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use shared::lambda_http::http::{Method, header};
use shared::lambda_http::{Body, Request, RequestExt};
use shared::{App, Config, Endpoint};

/// `MONGODB_URI`, or the local MongoDB of `scripts/mongo.sh` (started if needed).
pub fn mongodb_uri() -> String {
    if let Ok(uri) = std::env::var("MONGODB_URI") {
        return uri;
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/mongo.sh");
    let output = Command::new(script)
        .arg("start")
        .output()
        .expect("run scripts/mongo.sh");
    assert!(output.status.success(), "scripts/mongo.sh start failed");
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

/// Calls handlers in-process, as one user, on a database of its own.
pub struct Caller {
    pub app: App,
    token: String,
}

impl Caller {
    pub async fn new(database_prefix: &str) -> Self {
        let database = format!(
            "{database_prefix}_{}",
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        let app = App::new(
            Config::new(mongodb_uri(), database),
            b"benchmark-secret-benchmark-secret!",
        )
        .await
        .expect("app");
        let mut caller = Self {
            app,
            token: String::new(),
        };
        let credentials = json!({"username": "bench", "password": "password123"});
        caller
            .call(Endpoint::Register, &[], Some(credentials.clone()))
            .await;
        let login = caller.call(Endpoint::Login, &[], Some(credentials)).await;
        caller.token = login["access_token"].as_str().expect("token").to_owned();
        caller
    }

    /// One request through `Endpoint::handle`; panics unless it succeeds.
    pub async fn call(
        &self,
        endpoint: Endpoint,
        query: &[(&str, &str)],
        body: Option<Value>,
    ) -> Value {
        let request = self.request(endpoint, query, body);
        let response = endpoint.handle(&self.app, request).await;
        let status = response.status();
        let value: Value = serde_json::from_slice(response.body().as_ref()).expect("JSON body");
        let route = endpoint.route();
        assert!(
            status.is_success(),
            "{} {}: {status} {value}",
            Method::as_str(&route.method),
            route.path
        );
        value
    }

    /// The request `call` sends, as API Gateway would hand it over, with this user's token.
    pub fn request(
        &self,
        endpoint: Endpoint,
        query: &[(&str, &str)],
        body: Option<Value>,
    ) -> Request {
        let route = endpoint.route();
        let params: HashMap<String, String> = query
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let body = body.map_or(Body::Empty, |b| Body::Text(b.to_string()));
        let mut request = Request::new(body).with_query_string_parameters(params);
        *request.method_mut() = route.method.clone();
        *request.uri_mut() = route.path.parse().unwrap();
        if !self.token.is_empty() {
            request.headers_mut().insert(
                header::AUTHORIZATION,
                format!("Bearer {}", self.token).parse().unwrap(),
            );
        }
        request
    }

    pub async fn create_chat(&self, name: &str) -> String {
        let chat = self
            .call(Endpoint::CreateChat, &[], Some(json!({ "name": name })))
            .await;
        chat["chat_id"].as_str().unwrap().to_owned()
    }

    pub async fn add_messages(&self, chat_id: &str, n: usize) {
        for i in 0..n {
            let body = json!({"chat_id": chat_id, "question": format!("question {i}"), "response": format!("answer {i}")});
            self.call(Endpoint::AddMessage, &[], Some(body)).await;
        }
    }

    pub async fn create_branch(&self, parent: &str, index: usize) -> String {
        let body = json!({"parent_chat_id": parent, "message_index": index, "name": "branch"});
        let branch = self.call(Endpoint::CreateBranch, &[], Some(body)).await;
        branch["branch_id"].as_str().unwrap().to_owned()
    }
}

/// Times an async operation.
pub async fn timed<T>(work: impl Future<Output = T>) -> (T, Duration) {
    let started = Instant::now();
    let value = work.await;
    (value, started.elapsed())
}

/// Median, 90th percentile, in milliseconds.
pub fn summary(samples: &mut [Duration]) -> (f64, f64) {
    (percentile(samples, 0.5), percentile(samples, 0.9))
}

/// The `q`-quantile (0.5 = median), in milliseconds; sorts `samples`.
pub fn percentile(samples: &mut [Duration], q: f64) -> f64 {
    samples.sort();
    samples[((samples.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1000.0
}
