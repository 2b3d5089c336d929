//! Test helpers: a real MongoDB, an `App` on a database of its own, and requests built the way
//! API Gateway delivers them.

use std::process::Command;
use std::sync::{Arc, OnceLock};

use lambda_http::Body;
use lambda_http::http::{HeaderMap, Method, StatusCode, header};
use serde_json::{Value, json};
use shared::gateway::GatewayRequest;
use shared::{App, Config, Endpoint};

pub const SECRET: &[u8] = b"test-secret-test-secret-test-secret!";

/// `MONGODB_URI`, or a test MongoDB on port 27118 started by `scripts/mongo.sh` (so plain
/// `cargo test` works; `scripts/test.sh` sets the variable and uses a throwaway instance).
pub fn mongodb_uri() -> String {
    static URI: OnceLock<String> = OnceLock::new();
    URI.get_or_init(|| {
        if let Ok(uri) = std::env::var("MONGODB_URI") {
            return uri;
        }
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/mongo.sh");
        let output = Command::new(script)
            .arg("start")
            .env("MONGO_PORT", "27118")
            .env("MONGO_TEST_COMMANDS", "1")
            .output()
            .expect("run scripts/mongo.sh");
        assert!(
            output.status.success(),
            "scripts/mongo.sh start failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap().trim().to_owned()
    })
    .clone()
}

/// A database name no other test uses, so tests run in parallel.
pub fn unique_database() -> String {
    format!("test_{}", &uuid::Uuid::new_v4().simple().to_string()[..16])
}

pub async fn app_with(config: Config) -> Arc<App> {
    Arc::new(App::new(config, SECRET).await.expect("app"))
}

pub async fn app() -> Arc<App> {
    app_with(Config::new(mongodb_uri(), unique_database())).await
}

/// What a handler answered, decoded.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn detail(&self) -> &str {
        self.body["detail"]
            .as_str()
            .unwrap_or_else(|| panic!("no detail in {}", self.body))
    }
}

/// Builds requests the way API Gateway hands them to a function (`shared::gateway`).
pub struct Call {
    request: GatewayRequest,
}

pub fn post(path: &str, body: impl Into<String>) -> Call {
    let request = GatewayRequest::new(Method::POST, path)
        .header("content-type", "application/json")
        .body(Body::Text(body.into()));
    Call { request }
}

pub fn post_json(path: &str, body: Value) -> Call {
    post(path, body.to_string())
}

pub fn get(path: &str, query: &[(&str, &str)]) -> Call {
    Call {
        request: GatewayRequest::new(Method::GET, path),
    }
    .query(query)
}

impl Call {
    /// Query parameters, pre-parsed into the request as API Gateway delivers them.
    pub fn query(mut self, query: &[(&str, &str)]) -> Self {
        self.request = self.request.query(query);
        self
    }

    pub fn method(mut self, method: Method) -> Self {
        self.request = self.request.method(method);
        self
    }

    pub fn token(mut self, token: &str) -> Self {
        self.request = self.request.bearer(token);
        self
    }

    pub fn header(mut self, name: header::HeaderName, value: &str) -> Self {
        self.request = self.request.header(name.as_str(), value);
        self
    }

    pub async fn send(self, app: &App, endpoint: Endpoint) -> Reply {
        let response = endpoint.handle(app, self.request.build()).await;
        let (parts, body) = response.into_parts();
        // A 304 has no body at all.
        let body = match body.is_empty() {
            true => Value::Null,
            false => serde_json::from_slice(body.as_ref()).unwrap_or_else(|e| {
                panic!(
                    "body is not JSON ({e}): {:?}",
                    String::from_utf8_lossy(body.as_ref())
                )
            }),
        };
        Reply {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    }
}

/// Posts each body to `endpoint` as the token's user; every one must be a 422 with exactly
/// the paired detail.
pub async fn assert_each_refused(
    app: &App,
    token: &str,
    endpoint: Endpoint,
    cases: &[(Value, &str)],
) {
    for (body, expected) in cases {
        let reply = post_json(endpoint.route().path, body.clone())
            .token(token)
            .send(app, endpoint)
            .await;
        assert_eq!(
            (reply.status.as_u16(), reply.detail()),
            (422, *expected),
            "{body}"
        );
    }
}

/// Registers a fresh user and logs in: returns (username, token).
pub async fn user(app: &App) -> (String, String) {
    let username = format!("user-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let credentials = json!({"username": username, "password": "password123"});
    let reply = post_json("/api/v1/auth/register", credentials.clone())
        .send(app, Endpoint::Register)
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let reply = post_json("/api/v1/auth/login", credentials)
        .send(app, Endpoint::Login)
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    (
        username,
        reply.body["access_token"].as_str().unwrap().to_owned(),
    )
}

pub async fn create_chat(app: &App, token: &str, name: &str) -> String {
    let reply = post_json("/api/v1/chats/create-chat", json!({ "name": name }))
        .token(token)
        .send(app, Endpoint::CreateChat)
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body["chat_id"].as_str().unwrap().to_owned()
}

/// A new branch of `parent` at `index`; its id.
pub async fn create_branch(app: &App, token: &str, parent: &str, index: i64) -> String {
    let reply = post_json(
        "/api/v1/branches/create-branch",
        json!({"parent_chat_id": parent, "message_index": index, "name": "alt"}),
    )
    .token(token)
    .send(app, Endpoint::CreateBranch)
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body["branch_id"].as_str().unwrap().to_owned()
}

pub async fn add_message(app: &App, token: &str, chat_id: &str, question: &str) -> Reply {
    post_json(
        "/api/v1/messages/add-message",
        json!({"chat_id": chat_id, "question": question, "response": format!("answer to {question}")}),
    )
    .token(token)
    .send(app, Endpoint::AddMessage)
    .await
}

/// Deletes the token's account through delete-account (`user`'s password).
pub async fn delete_own_account(app: &App, token: &str) -> Reply {
    let route = Endpoint::DeleteAccount.route();
    post_json(route.path, json!({"password": "password123"}))
        .method(route.method.clone())
        .token(token)
        .send(app, Endpoint::DeleteAccount)
        .await
}

/// Moves a conversation (by its root chat) to the trash.
pub async fn delete_chat(app: &App, token: &str, chat_id: &str) -> Reply {
    get("/api/v1/chats/delete-chat", &[("chat_id", chat_id)])
        .method(Method::DELETE)
        .token(token)
        .send(app, Endpoint::DeleteChat)
        .await
}

pub async fn get_chat(app: &App, token: &str, chat_id: &str) -> Reply {
    get("/api/v1/chats/get-chat", &[("chat_id", chat_id)])
        .token(token)
        .send(app, Endpoint::GetChat)
        .await
}

/// The questions of a chat's visible history, in order.
pub fn questions(chat: &Value) -> Vec<String> {
    chat["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["question"].as_str().unwrap().to_owned())
        .collect()
}

/// A direct connection to the test MongoDB, for looking behind the API.
pub async fn mongo() -> mongodb::Client {
    mongodb::Client::with_uri_str(mongodb_uri()).await.unwrap()
}

/// How many documents of `collection` in `database` match `filter`, asked of MongoDB itself.
pub async fn stored(database: &str, collection: &str, filter: mongodb::bson::Document) -> u64 {
    mongo()
        .await
        .database(database)
        .collection::<mongodb::bson::Document>(collection)
        .count_documents(filter)
        .await
        .unwrap()
}

/// Sets mongod's `failCommand` fail point for the connections of one app (by its `appName`).
/// Needs a mongod started with test commands (`MONGO_TEST_COMMANDS=1 scripts/mongo.sh start`).
pub async fn fail_point(app_name: &str, data: mongodb::bson::Document, times: i32) {
    let mut data = data;
    data.insert("appName", app_name);
    mongo()
        .await
        .database("admin")
        .run_command(mongodb::bson::doc! {
            "configureFailPoint": "failCommand",
            "mode": { "times": times },
            "data": data,
        })
        .await
        .expect("configureFailPoint: is the test mongod running with MONGO_TEST_COMMANDS=1?");
}

/// A config on a fresh database whose connections carry an `appName` of their own, so a fail
/// point can single them out.
pub fn config_named(database: &str) -> (Config, String) {
    let mut config = Config::new(mongodb_uri(), database);
    config.app_name = format!("test-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let name = config.app_name.clone();
    (config, name)
}

/// The account id a token speaks for (its `sub`), as registration answered it.
pub fn account_of(token: &str) -> String {
    use base64::Engine;
    let payload = token.split('.').nth(1).expect("a JWT");
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    claims["sub"].as_str().unwrap().to_owned()
}

pub fn is_uuid_v4(s: &str) -> bool {
    uuid::Uuid::parse_str(s).is_ok_and(|u| u.get_version_num() == 4)
}
