//! Hostile input: whatever a client sends — bytes that are not UTF-8, JSON of any shape, the
//! real field names with values of any type, MongoDB operators where ids go, any query string
//! or `Authorization` header, huge or deeply nested bodies and headers — the answer is never a
//! 5xx, every error is `{"detail": "<string>"}`, and nothing reaches another account's data.
//!
//! The properties run through `Endpoint::handle`, as Lambda calls it, against one app, user and
//! chat built once (proptest is synchronous, so each case blocks on a shared runtime). They run
//! 128 cases each; `PROPTEST_CASES=2000 scripts/test.sh hostile` runs more.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, OnceLock};

use futures_util::TryStreamExt;
use lambda_http::http::{HeaderValue, header};
use lambda_http::{Body, Request, RequestExt, Response};
use mongodb::bson::{Bson, Document, doc};
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::{Value, json};
use shared::routes::ROUTES;
use shared::{App, Config, Endpoint};
use tokio::runtime::Runtime;

use crate::common::*;
use crate::raw_http::Http;

// ---------------------------------------------------------------------------------------------
// Properties of every endpoint, through the Lambda path
// ---------------------------------------------------------------------------------------------

/// Every endpoint with the body fields it reads (from the typed structs it parses with).
fn endpoints() -> Vec<(Endpoint, &'static [&'static str])> {
    ROUTES
        .iter()
        .map(|r| (r.endpoint, r.endpoint.inputs().body))
        .collect()
}

/// The endpoints that take `?chat_id=`.
fn query_endpoints() -> Vec<Endpoint> {
    ROUTES
        .iter()
        .map(|r| r.endpoint)
        .filter(|e| e.inputs().query.contains(&"chat_id"))
        .collect()
}

/// A body every `?chat_id=` endpoint accepts, so that the lookup is what answers.
fn lookup_body() -> Value {
    json!({"name": "renamed"})
}

/// Keys a body might try to smuggle into a stored document: operators, dotted paths, and
/// fields the server sets itself.
const SMUGGLED_KEYS: &[&str] = &["$set", "$inc", "$where", "$ne", "a.b", "account_id", "_id"];

struct Fixture {
    runtime: Runtime,
    app: Arc<App>,
    token: String,
    /// A chat of the user's with three messages, so that ids in bodies can get past "chat not
    /// found" to the rules behind it.
    chat_id: String,
    /// Another, for delete-chat and restore-chat to move in and out of the trash.
    spare_chat_id: String,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let (app, token, chat_id, spare_chat_id) = runtime.block_on(async {
            let app = app().await;
            let (_, token) = user(&app).await;
            let chat_id = create_chat(&app, &token, "hostile").await;
            for question in ["one", "two", "three"] {
                assert_eq!(
                    add_message(&app, &token, &chat_id, question).await.status,
                    200
                );
            }
            let spare = create_chat(&app, &token, "spare").await;
            (app, token, chat_id, spare)
        });
        Fixture {
            runtime,
            app,
            token,
            chat_id,
            spare_chat_id,
        }
    })
}

/// 128 cases per property keep this file under 10 s on two cores; `PROPTEST_CASES`
/// overrides it.
fn config() -> ProptestConfig {
    let mut config = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = 128;
    }
    config
}

/// A request for `endpoint` as API Gateway delivers it: the body as text when it is UTF-8,
/// else as binary; the fixture's chat in the query; the fixture's token unless `authorization`
/// replaces it.
fn request(endpoint: Endpoint, body: Vec<u8>, authorization: Option<HeaderValue>) -> Request {
    let fx = fixture();
    let route = endpoint.route();
    let body = match String::from_utf8(body) {
        Ok(text) if text.is_empty() => Body::Empty,
        Ok(text) => Body::Text(text),
        Err(error) => Body::Binary(error.into_bytes()),
    };
    let chat_id = match endpoint {
        Endpoint::DeleteChat | Endpoint::RestoreChat => &fx.spare_chat_id,
        _ => &fx.chat_id,
    };
    let mut request = Request::new(body)
        .with_query_string_parameters(HashMap::from([("chat_id".to_string(), chat_id.clone())]));
    *request.method_mut() = route.method.clone();
    *request.uri_mut() = route.path.parse().unwrap();
    let authorization = authorization
        .unwrap_or_else(|| HeaderValue::from_str(&format!("Bearer {}", fx.token)).unwrap());
    request
        .headers_mut()
        .insert(header::AUTHORIZATION, authorization);
    request
}

fn handle(endpoint: Endpoint, request: Request) -> Response<Body> {
    let fx = fixture();
    fx.runtime.block_on(endpoint.handle(&fx.app, request))
}

/// What every answer must be: below 500, JSON, and `{"detail": "<string>"}` when an error.
/// Returns the status and the decoded body.
fn sound(response: &Response<Body>) -> Result<(u16, Value), TestCaseError> {
    let status = response.status().as_u16();
    let text = String::from_utf8_lossy(response.body().as_ref());
    prop_assert!(status < 500, "{status}: {text}");
    prop_assert_eq!(
        response.headers().get(header::CONTENT_TYPE),
        Some(&HeaderValue::from_static("application/json"))
    );
    let body: Value = serde_json::from_str(&text)
        .map_err(|e| TestCaseError::fail(format!("{status}: body is not JSON ({e}): {text}")))?;
    if status >= 400 {
        prop_assert!(body["detail"].is_string(), "{status}: {body}");
    }
    Ok((status, body))
}

/// Sound, and a 422 names the field at fault: one the endpoint reads, or the body itself.
fn sound_naming_fields(
    endpoint: Endpoint,
    fields: &[&str],
    response: &Response<Body>,
) -> Result<u16, TestCaseError> {
    let (status, body) = sound(response)?;
    if status == 422 {
        let detail = body["detail"].as_str().unwrap();
        let read = fields.iter().chain(endpoint.inputs().query);
        let named = read.chain(&["body"]).any(|field| {
            detail
                .strip_prefix(field)
                .is_some_and(|rest| rest.starts_with(": "))
        }) || (endpoint == Endpoint::ImportChats && detail.starts_with('['));
        prop_assert!(named, "{:?}: {}", endpoint, detail);
    }
    Ok(status)
}

/// Text a hostile client might send: any characters (control characters and NUL included),
/// the ones MongoDB gives meaning to, and operator look-alikes.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::collection::vec(any::<char>(), 0..24).prop_map(String::from_iter),
        "[\\x00-\\x1f\\x7f$.{}\\[\\]\"\\\\ a-z\u{a0}-\u{10ffff}]{0,24}",
        prop::sample::select(vec![
            "",
            " ",
            "\u{0}",
            "\u{feff}",
            "\u{200b}\u{2800}\u{3164}",
            "\u{ad} \u{e0020}",
            "$gt",
            "$where",
            "a.b",
            "{\"$ne\": null}",
            "{\"$where\": \"sleep(1000)\"}",
            "'; db.dropDatabase(); '",
        ])
        .prop_map(String::from),
    ]
}

/// Any JSON value, nested a few levels.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("JSON has no NaN or infinities", |f| {
            serde_json::Number::from_f64(f).map(Value::Number)
        }),
        text().prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(text(), inner, 0..4)
                .prop_map(|fields| Value::Object(fields.into_iter().collect())),
        ]
    })
}

/// A value for `field` as JSON text: any value, or a number serde_json cannot hold, or —
/// for ids and indexes — one that exists, so the rules behind the lookup are reached.
fn raw_value(field: &str) -> BoxedStrategy<String> {
    let any_value = prop_oneof![
        3 => text().prop_map(|text| json!(text).to_string()),
        2 => json_value().prop_map(|value| value.to_string()),
        1 => prop::sample::select(vec![
            "1e400", "-1e400", "1e-400", "-0", "0.5", "3.0", "-1",
            "123456789012345678901234567890", "9007199254740993",
        ])
        .prop_map(String::from),
    ];
    match field {
        "chat_id" | "parent_chat_id" | "branch_id" => {
            prop_oneof![Just(json!(fixture().chat_id).to_string()), any_value].boxed()
        }
        "message_index" => prop_oneof![(-2i64..5).prop_map(|i| i.to_string()), any_value].boxed(),
        _ => any_value.boxed(),
    }
}

/// A JSON object with the endpoint's fields (each usually present, of any type) and sometimes
/// a smuggled key.
fn object_with(fields: &'static [&'static str]) -> impl Strategy<Value = String> {
    let members: Vec<_> = fields
        .iter()
        .map(|&field| {
            prop::option::weighted(0.9, raw_value(field))
                .prop_map(move |value| value.map(|value| format!("{}:{value}", json!(field))))
        })
        .collect();
    let extra = prop::option::of((prop::sample::select(SMUGGLED_KEYS), raw_value("")))
        .prop_map(|extra| extra.map(|(key, value)| format!("{}:{value}", json!(key))));
    (members, extra).prop_map(|(members, extra)| {
        let members: Vec<String> = members.into_iter().flatten().chain(extra).collect();
        format!("{{{}}}", members.join(","))
    })
}

/// Arbitrary bytes, or a plausible body with a few bytes overwritten (which is how invalid
/// UTF-8 ends up inside an otherwise valid JSON string).
fn bytes_for(fields: &'static [&'static str]) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..256),
        (
            object_with(fields),
            prop::collection::vec((any::<Index>(), any::<u8>()), 1..4)
        )
            .prop_map(|(text, edits)| {
                let mut bytes = text.into_bytes();
                for (at, byte) in edits {
                    let at = at.index(bytes.len());
                    bytes[at] = byte;
                }
                bytes
            }),
    ]
}

fn endpoint() -> impl Strategy<Value = (Endpoint, &'static [&'static str])> {
    prop::sample::select(endpoints())
}
/// Any `Authorization` value HTTP can carry: raw bytes, a bearer scheme with any token, or the
/// real token with one byte changed.
fn authorization() -> impl Strategy<Value = HeaderValue> {
    let token = fixture().token.clone();
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..64),
        text().prop_map(|text| format!("Bearer {text}").into_bytes()),
        (any::<Index>(), any::<u8>()).prop_filter_map("unchanged", move |(at, byte)| {
            let mut bytes = token.clone().into_bytes();
            let at = at.index(bytes.len());
            (bytes[at] != byte).then(|| {
                bytes[at] = byte;
                [b"Bearer ".as_slice(), &bytes].concat()
            })
        }),
    ]
    .prop_filter_map("not a header value", |bytes| {
        HeaderValue::from_bytes(&bytes).ok()
    })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_bytes_as_a_body_get_a_json_answer(
        (endpoint, fields, body) in endpoint()
            .prop_flat_map(|(endpoint, fields)| (Just(endpoint), Just(fields), bytes_for(fields)))
    ) {
        sound_naming_fields(endpoint, fields, &handle(endpoint, request(endpoint, body, None)))?;
    }

    #[test]
    fn any_json_value_as_a_body_gets_a_json_answer(
        (endpoint, fields) in endpoint(),
        body in json_value(),
    ) {
        let request = request(endpoint, body.to_string().into_bytes(), None);
        sound_naming_fields(endpoint, fields, &handle(endpoint, request))?;
    }

    #[test]
    fn the_real_fields_with_values_of_any_type_get_a_json_answer(
        (endpoint, fields, body) in endpoint()
            .prop_flat_map(|(endpoint, fields)| (Just(endpoint), Just(fields), object_with(fields)))
    ) {
        let request = request(endpoint, body.clone().into_bytes(), None);
        let status = sound_naming_fields(endpoint, fields, &handle(endpoint, request))?;
        // Valid JSON that serde_json can hold is never a 400.
        if status == 400 {
            prop_assert!(serde_json::from_str::<Value>(&body).is_err(), "{}", body);
        }
    }

    #[test]
    fn any_chat_id_in_the_query_is_a_literal_id_that_matches_nothing(
        endpoint in prop::sample::select(query_endpoints()),
        chat_id in text(),
    ) {
        let body = lookup_body().to_string().into_bytes();
        let request = request(endpoint, body, None).with_query_string_parameters(
            HashMap::from([("chat_id".to_string(), chat_id)]),
        );
        let (status, body) = sound(&handle(endpoint, request))?;
        prop_assert_eq!((status, body), (404, json!({"detail": "Chat not found"})));
    }

    #[test]
    fn any_query_parameters_get_a_json_answer_naming_the_one_at_fault(
        (endpoint, params) in prop::sample::select(endpoints()).prop_flat_map(|(endpoint, _)| {
            let values: Vec<_> = endpoint
                .inputs()
                .query
                .iter()
                .map(|&name| {
                    let value = prop_oneof![
                        text(),
                        (-3i64..1500).prop_map(|n| n.to_string()),
                        prop::sample::select(vec!["true", "false", "", "1e3", "0x10", " 7 "]).prop_map(String::from),
                    ];
                    prop::option::weighted(0.8, value).prop_map(move |v| v.map(|v| (name.to_string(), v)))
                })
                .collect();
            (Just(endpoint), values)
        }),
    ) {
        let params: HashMap<String, String> = params.into_iter().flatten().collect();
        let body = lookup_body().to_string().into_bytes();
        let request = request(endpoint, body, None).with_query_string_parameters(params);
        sound_naming_fields(endpoint, endpoint.inputs().body, &handle(endpoint, request))?;
    }

    #[test]
    fn any_authorization_header_but_a_valid_token_is_401(
        (endpoint, _) in endpoint().prop_filter("needs a token", |(endpoint, _)| {
            !matches!(endpoint, Endpoint::Register | Endpoint::Login)
        }),
        authorization in authorization(),
    ) {
        let response = handle(endpoint, request(endpoint, Vec::new(), Some(authorization)));
        prop_assert_eq!(
            response.headers().get(header::WWW_AUTHENTICATE),
            Some(&HeaderValue::from_static("Bearer"))
        );
        let (status, body) = sound(&response)?;
        prop_assert_eq!(status, 401);
        let detail = body["detail"].as_str().unwrap();
        prop_assert!(
            ["Not authenticated", "Could not validate credentials"].contains(&detail),
            "{}", detail
        );
    }

    #[test]
    fn create_chat_stores_the_name_exactly_as_sent(
        name in prop_oneof![4 => text(), 1 => (198usize..=202).prop_map(|n| "é".repeat(n))],
    ) {
        let fx = fixture();
        fx.runtime.block_on(async {
            let reply = post_json("/api/v1/chats/create-chat", json!({ "name": name }))
                .token(&fx.token)
                .send(&fx.app, Endpoint::CreateChat)
                .await;
            // The documented rule: 1–200 characters, something visible, no control characters
            // but tab and newline.
            let valid = !shared::text::is_blank(&name)
                && !name.chars().any(|c| c.is_control() && c != '\t' && c != '\n')
                && name.chars().count() <= 200;
            if !valid {
                prop_assert_eq!(reply.status, 422);
                prop_assert!(reply.detail().starts_with("name: "), "{}", reply.detail());
                return Ok(());
            }
            prop_assert_eq!(reply.status, 200, "{}", reply.body);
            prop_assert_eq!(&reply.body["name"], &json!(name));
            let chat_id = reply.body["chat_id"].as_str().unwrap();
            let read = get_chat(&fx.app, &fx.token, chat_id).await;
            prop_assert_eq!(&read.body["name"], &json!(name));
            Ok(())
        })?;
    }

    #[test]
    fn add_message_stores_the_text_exactly_as_sent(
        question in prop_oneof![4 => text(), 1 => (65534usize..=65538).prop_map(|n| "q".repeat(n))],
        response in prop_oneof![4 => text(), 1 => (65534usize..=65538).prop_map(|n| "r".repeat(n))],
    ) {
        let fx = fixture();
        fx.runtime.block_on(async {
            let chat_id = create_chat(&fx.app, &fx.token, "texts").await;
            let reply = post_json(
                "/api/v1/messages/add-message",
                json!({"chat_id": chat_id, "question": question, "response": response}),
            )
            .token(&fx.token)
            .send(&fx.app, Endpoint::AddMessage)
            .await;
            // The documented rule: a question with something visible; each text at most 64 KiB
            // of UTF-8.
            let valid = !shared::text::is_blank(&question)
                && question.len() <= 65536
                && response.len() <= 65536;
            if !valid {
                prop_assert_eq!(reply.status, 422);
                let detail = reply.detail();
                prop_assert!(
                    detail.starts_with("question: ") || detail.starts_with("response: "),
                    "{}", detail
                );
                return Ok(());
            }
            prop_assert_eq!(reply.status, 200, "{}", reply.body);
            prop_assert_eq!(&reply.body["question"], &json!(question));
            prop_assert_eq!(&reply.body["response"], &json!(response));
            let read = get_chat(&fx.app, &fx.token, &chat_id).await;
            prop_assert_eq!(&read.body["messages"], &json!([reply.body]));
            Ok(())
        })?;
    }
}

// ---------------------------------------------------------------------------------------------
// NoSQL injection
// ---------------------------------------------------------------------------------------------

/// Query operators a client might put where a string belongs.
fn operators(victim_chat: &str) -> [Value; 6] {
    [
        json!({"$gt": ""}),
        json!({"$ne": null}),
        json!({"$regex": ".*"}),
        json!({"$exists": true}),
        json!({"$in": [victim_chat]}),
        json!({"$where": "sleep(1000) || true"}),
    ]
}

/// Two accounts: the victim with a chat of one message and one branch, and the attacker with
/// a chat of their own. The test's attacks must leave the victim's view exactly as it was.
struct Accounts {
    app: Arc<App>,
    victim: String,
    victim_token: String,
    victim_chat: String,
    victim_branch: String,
    attacker_token: String,
    attacker_chat: String,
    /// What the victim saw of their chat and branch before any attack.
    victim_saw: Vec<Value>,
}

/// What `token`'s owner sees of these chats.
async fn view(app: &App, token: &str, chat_ids: [&str; 2]) -> Vec<Value> {
    let mut seen = Vec::new();
    for chat_id in chat_ids {
        let reply = get_chat(app, token, chat_id).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        seen.push(reply.body);
    }
    seen
}

impl Accounts {
    async fn new(app: Arc<App>) -> Self {
        let (victim, victim_token) = user(&app).await;
        let victim_chat = create_chat(&app, &victim_token, "victim's").await;
        add_message(&app, &victim_token, &victim_chat, "victim's secret").await;
        let reply = post_json(
            "/api/v1/branches/create-branch",
            json!({"parent_chat_id": victim_chat, "message_index": 0, "name": "victim's branch"}),
        )
        .token(&victim_token)
        .send(&app, Endpoint::CreateBranch)
        .await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        let victim_branch = reply.body["branch_id"].as_str().unwrap().to_owned();
        let (_, attacker_token) = user(&app).await;
        let attacker_chat = create_chat(&app, &attacker_token, "attacker's").await;
        add_message(&app, &attacker_token, &attacker_chat, "mine").await;
        let victim_saw = view(&app, &victim_token, [&victim_chat, &victim_branch]).await;
        Self {
            app,
            victim,
            victim_token,
            victim_chat,
            victim_branch,
            attacker_token,
            attacker_chat,
            victim_saw,
        }
    }

    async fn assert_victim_untouched(&self) {
        let ids = [self.victim_chat.as_str(), &self.victim_branch];
        assert_eq!(
            view(&self.app, &self.victim_token, ids).await,
            self.victim_saw
        );
        // No failed login was counted against the victim either: the password still works.
        let login = post_json(
            "/api/v1/auth/login",
            json!({"username": self.victim, "password": "password123"}),
        )
        .send(&self.app, Endpoint::Login)
        .await;
        assert_eq!(login.status, 200, "{}", login.body);
    }

    async fn send(&self, endpoint: Endpoint, query: Option<&str>, body: Value) -> Reply {
        let route = endpoint.route();
        let mut call = post_json(route.path, body).method(route.method.clone());
        if let Some(chat_id) = query {
            call = call.query(&[("chat_id", chat_id)]);
        }
        if !matches!(endpoint, Endpoint::Register | Endpoint::Login) {
            call = call.token(&self.attacker_token);
        }
        call.send(&self.app, endpoint).await
    }
}

#[tokio::test]
async fn operators_where_a_string_belongs_are_422_naming_the_field() {
    let accounts = Accounts::new(app().await).await;
    let own = accounts.attacker_chat.as_str();
    for op in operators(&accounts.victim_chat) {
        let cases = [
            (
                Endpoint::AddMessage,
                None,
                json!({"chat_id": op, "question": "q", "response": "r"}),
                "chat_id: must be a string",
            ),
            (
                Endpoint::CreateBranch,
                None,
                json!({"parent_chat_id": op, "message_index": 0, "name": "n"}),
                "parent_chat_id: must be a string",
            ),
            (
                Endpoint::CreateBranch,
                None,
                json!({"parent_chat_id": own, "message_index": op, "name": "n"}),
                "message_index: must be an integer",
            ),
            (
                Endpoint::SetActiveBranch,
                Some(own),
                json!({ "branch_id": op }),
                "branch_id: must be a string",
            ),
            (
                Endpoint::Register,
                None,
                json!({"username": op, "password": "password123"}),
                "username: must be a string",
            ),
            (
                Endpoint::Register,
                None,
                json!({"username": "mallory", "password": op}),
                "password: must be a string",
            ),
            (
                Endpoint::Login,
                None,
                json!({"username": op, "password": "password123"}),
                "username: must be a string",
            ),
            (
                Endpoint::Login,
                None,
                json!({"username": accounts.victim, "password": op}),
                "password: must be a string",
            ),
        ];
        for (endpoint, query, body, expected) in cases {
            let reply = accounts.send(endpoint, query, body.clone()).await;
            assert_eq!(
                (reply.status.as_u16(), reply.detail()),
                (422, expected),
                "{body}"
            );
        }
    }
    // The login attempts above were refused before any password check, or the victim's
    // six would have locked the account.
    accounts.assert_victim_untouched().await;
    let own_chat = get_chat(&accounts.app, &accounts.attacker_token, own).await;
    assert_eq!(
        own_chat.body["branches"],
        json!([]),
        "no branch was created"
    );
}

#[tokio::test]
async fn an_operator_in_the_query_is_a_literal_id_that_matches_nothing() {
    let app = app().await;
    let accounts = Accounts::new(app.clone()).await;
    let literal_operators = [
        r#"{"$ne":null}"#,
        r#"{"$gt":""}"#,
        r#"{"$regex":".*"}"#,
        "$where",
        ".*",
        accounts.victim_chat.as_str(),
    ];
    for chat_id in literal_operators {
        for endpoint in query_endpoints() {
            let mut body = lookup_body();
            body["branch_id"] = json!(accounts.victim_branch);
            let reply = accounts.send(endpoint, Some(chat_id), body).await;
            assert_eq!(
                (reply.status.as_u16(), reply.detail()),
                (404, "Chat not found"),
                "{endpoint:?} {chat_id}"
            );
        }
    }

    // Over HTTP, percent-encoded, and in the bracket syntax some frameworks turn into objects.
    let server = Http::start(app).await;
    let auth = format!("Authorization: Bearer {}", accounts.attacker_token);
    for (query, expected) in [
        ("chat_id=%7B%22%24ne%22%3Anull%7D", (404, "Chat not found")),
        (
            "chat_id=%7B%22%24gt%22%3A%22%22%7D",
            (404, "Chat not found"),
        ),
        ("chat_id[$ne]=x", (422, "chat_id: field required")),
        ("chat_id[%24ne]=x", (422, "chat_id: field required")),
        ("chat_id=%FF%FE", (404, "Chat not found")),
    ] {
        for path in ["chats/get-chat", "branches/get-branches"] {
            let reply = server
                .exchange(&format!("GET /api/v1/{path}?{query}"), &[&auth], b"")
                .await;
            assert_eq!(
                (reply.status, reply.json()["detail"].as_str().unwrap()),
                expected,
                "{path}?{query}"
            );
        }
    }
    accounts.assert_victim_untouched().await;
}

/// Every key of every document in the database, at any depth.
async fn stored_keys(db: &mongodb::Database) -> BTreeSet<String> {
    fn walk(value: &Bson, keys: &mut BTreeSet<String>) {
        match value {
            Bson::Document(document) => {
                for (key, value) in document {
                    keys.insert(key.clone());
                    walk(value, keys);
                }
            }
            Bson::Array(items) => items.iter().for_each(|item| walk(item, keys)),
            _ => {}
        }
    }
    let mut keys = BTreeSet::new();
    for name in db.list_collection_names().await.unwrap() {
        let documents: Vec<Document> = db
            .collection::<Document>(&name)
            .find(doc! {})
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        for document in documents {
            walk(&Bson::Document(document), &mut keys);
        }
    }
    keys
}

#[tokio::test]
async fn operator_and_dotted_keys_in_bodies_are_ignored_and_never_stored() {
    let database = unique_database();
    let app = app_with(Config::new(mongodb_uri(), database.clone())).await;
    let db = mongodb::Client::with_uri_str(mongodb_uri())
        .await
        .unwrap()
        .database(&database);
    let accounts = Accounts::new(app.clone()).await;
    let victim = accounts.victim.as_str();
    let victim_chat = accounts.victim_chat.as_str();
    let extras = json!({
        "$set": {"account_id": victim, "name": "overwritten"},
        "$inc": {"message_count": 100},
        "$where": "sleep(1000)",
        "a.b": 1,
        "injected": true,
        "account_id": victim,
        "_id": {"$oid": "000000000000000000000000"},
    });
    let with_extras = |mut body: Value| {
        let fields = body.as_object_mut().unwrap();
        fields.extend(extras.as_object().unwrap().clone());
        body
    };

    let chat = accounts
        .send(
            Endpoint::CreateChat,
            None,
            with_extras(json!({"name": "x"})),
        )
        .await;
    assert_eq!(chat.status, 200, "{}", chat.body);
    let chat_id = chat.body["chat_id"].as_str().unwrap();
    let body = with_extras(json!({
        "chat_id": chat_id, "question": "q", "response": "r",
        "position": 7, "response_id": "mine",
    }));
    let message = accounts.send(Endpoint::AddMessage, None, body).await;
    assert_eq!(message.status, 200, "{}", message.body);
    assert_eq!(message.body["index"], 0);
    assert_ne!(message.body["response_id"], "mine");
    let body = with_extras(json!({
        "parent_chat_id": chat_id, "message_index": 0, "name": "b",
        "root_chat_id": victim_chat,
        "lineage": [{"chat_id": victim_chat, "upto": 0}],
    }));
    let branch = accounts.send(Endpoint::CreateBranch, None, body).await;
    assert_eq!(branch.status, 200, "{}", branch.body);
    assert_eq!(branch.body["root_chat_id"], chat_id);
    let body = with_extras(json!({"branch_id": null, "active_branch_id": victim_chat}));
    let active = accounts
        .send(Endpoint::SetActiveBranch, Some(chat_id), body)
        .await;
    assert_eq!(active.status, 200, "{}", active.body);
    assert_eq!(active.body["active_branch_id"], chat_id);
    let body = with_extras(json!({
        "username": "mallory", "password": "password123", "password_hash": "known",
    }));
    let registered = accounts.send(Endpoint::Register, None, body).await;
    assert_eq!(registered.status, 200, "{}", registered.body);
    assert_eq!(registered.body["username"], "mallory");
    assert!(is_uuid_v4(registered.body["account_id"].as_str().unwrap()));

    // The attacker's chat and branch hold exactly what was sent, as theirs.
    let branch_id = branch.body["branch_id"].as_str().unwrap();
    for id in [chat_id, branch_id] {
        let read = get_chat(&app, &accounts.attacker_token, id).await;
        assert_eq!(
            read.body["account_id"],
            account_of(&accounts.attacker_token).as_str()
        );
        assert_eq!(questions(&read.body), ["q"], "no victim message inherited");
    }
    assert_eq!(
        get_chat(&app, &accounts.attacker_token, chat_id).await.body["name"],
        "x"
    );
    // mallory's password is the one sent, not a planted hash.
    let login = post_json(
        "/api/v1/auth/login",
        json!({"username": "mallory", "password": "password123"}),
    )
    .send(&app, Endpoint::Login)
    .await;
    assert_eq!(login.status, 200, "{}", login.body);

    let keys = stored_keys(&db).await;
    let planted: Vec<_> = keys
        .iter()
        .filter(|key| key.starts_with('$') || key.contains('.') || *key == "injected")
        .collect();
    assert!(planted.is_empty(), "stored: {planted:?}");
    accounts.assert_victim_untouched().await;
}

#[tokio::test]
async fn operator_looking_text_is_stored_and_returned_literally() {
    let accounts = Accounts::new(app().await).await;
    let (app, token) = (&accounts.app, &accounts.attacker_token);
    let texts = [
        r#"{"$where":"sleep(1000)"}"#,
        r#"{"$gt": ""}"#,
        "$ne",
        "a.b.$[]",
    ];
    for text in texts {
        let chat_id = create_chat(app, token, text).await;
        let reply = post_json(
            "/api/v1/messages/add-message",
            json!({"chat_id": chat_id, "question": text, "response": text}),
        )
        .token(token)
        .send(app, Endpoint::AddMessage)
        .await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        let chat = get_chat(app, token, &chat_id).await.body;
        assert_eq!(chat["name"], text);
        assert_eq!(chat["messages"][0]["question"], text);
        assert_eq!(chat["messages"][0]["response"], text);

        // The same text as an id is just an id no chat has.
        let reply = post_json(
            "/api/v1/messages/add-message",
            json!({"chat_id": text, "question": "q", "response": "r"}),
        )
        .token(token)
        .send(app, Endpoint::AddMessage)
        .await;
        assert_eq!(reply.status, 404, "{text}");
        // And as a username it logs nobody in.
        let reply = post_json(
            "/api/v1/auth/login",
            json!({"username": text, "password": "password123"}),
        )
        .send(app, Endpoint::Login)
        .await;
        assert_eq!(reply.status, 401, "{text}");
    }
    accounts.assert_victim_untouched().await;
}

// ---------------------------------------------------------------------------------------------
// Oversized, deep and invalid input over HTTP, through the local server
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn deep_and_invalid_json_over_http_is_400_json() {
    let server = Http::start(app().await).await;
    let bodies = [
        "[".repeat(100_000).into_bytes(),
        "{\"a\":".repeat(100_000).into_bytes(),
        [
            b"{\"username\": \"",
            &[0xc3, 0x28][..],
            b"\", \"password\": \"password123\"}",
        ]
        .concat(),
    ];
    for body in bodies {
        let reply = server
            .exchange("POST /api/v1/auth/register", &[], &body)
            .await;
        assert_eq!(reply.status, 400);
        let detail = reply.json()["detail"].as_str().unwrap().to_owned();
        assert!(detail.starts_with("Malformed JSON body: "), "{detail}");
    }
}

#[tokio::test]
async fn heads_over_10_kib_are_431_json_and_a_huge_head_does_not_stop_the_server() {
    let server = Http::start(app().await).await;
    let padding = |bytes: usize| format!("X-Padding: {}", "p".repeat(bytes));
    let login = "POST /api/v1/auth/login";

    let reply = server.exchange(login, &[&padding(12 * 1024)], b"{}").await;
    assert_eq!(
        (reply.status, reply.json()),
        (
            431,
            json!({"detail": "Request headers too large (limit 10240 bytes)"})
        )
    );
    // Refused before routing, as API Gateway does.
    let reply = server
        .exchange("GET /nowhere", &[&padding(12 * 1024)], b"")
        .await;
    assert_eq!(reply.status, 431);
    // The request line counts too: a query string of 11 KiB is as much a head as a header.
    let long_query = format!(
        "GET /api/v1/chats/get-chat?chat_id={}",
        "q".repeat(11 * 1024)
    );
    assert_eq!(server.exchange(&long_query, &[], b"").await.status, 431);
    // Up to hyper's buffer (1 MiB here; its default is ~400 KiB), the answer is ours.
    let reply = server.exchange(login, &[&padding(512 * 1024)], b"{}").await;
    assert_eq!(reply.status, 431);
    assert!(reply.json()["detail"].is_string());
    // Just under the limit, the request goes through.
    let reply = server.exchange(login, &[&padding(9 * 1024)], b"{}").await;
    assert_eq!(
        (reply.status, reply.json()["detail"].as_str().unwrap()),
        (422, "username: field required")
    );

    // Past hyper's own buffer, hyper refuses the head before our code sees it...
    let reply = server.exchange(login, &[&padding(2 << 20)], b"{}").await;
    assert!((400..500).contains(&reply.status), "{}", reply.status);
    // ...and the server goes on serving.
    let reply = server.exchange(login, &[], b"{}").await;
    assert_eq!(reply.status, 422);
}
