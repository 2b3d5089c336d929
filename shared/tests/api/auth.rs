//! Registering, logging in, and what a bad or missing token gets.

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use mongodb::bson::Document;
use serde_json::json;
use shared::Endpoint;
use shared::lambda_http::http::header;

use crate::common::*;

#[tokio::test]
async fn a_user_registers_then_logs_in_and_the_token_works() {
    let app = app().await;
    let credentials = json!({"username": "alice.b-c_1", "password": "s3cret-password"});
    let reply = post_json("/api/v1/auth/register", credentials.clone())
        .send(&app, Endpoint::Register)
        .await;
    assert_eq!(reply.status, 200);
    // The account id is a UUID of its own; the username is only the login name.
    let account_id = reply.body["account_id"].as_str().unwrap().to_owned();
    assert!(is_uuid_v4(&account_id), "{account_id}");
    assert_eq!(reply.body["username"], "alice.b-c_1");
    assert!(reply.body["created_at"].as_str().unwrap().ends_with('Z'));
    assert!(reply.body.get("password_hash").is_none());

    let reply = post_json("/api/v1/auth/login", credentials)
        .send(&app, Endpoint::Login)
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body["token_type"], "bearer");
    assert_eq!(reply.body["expires_in"], 1800);
    let token = reply.body["access_token"].as_str().unwrap();
    assert_eq!(token.split('.').count(), 3);
    assert_eq!(
        account_of(token),
        account_id,
        "the token's sub is the account id"
    );

    let chat_id = create_chat(&app, token, "first").await;
    assert_eq!(
        get_chat(&app, token, &chat_id).await.body["account_id"],
        account_id.as_str()
    );
}

#[tokio::test]
async fn passwords_are_stored_as_argon2id_hashes_only() {
    let app = app().await;
    let (username, _) = user(&app).await;
    let users = mongodb::Client::with_uri_str(mongodb_uri())
        .await
        .unwrap()
        .database(&app.config.database)
        .collection::<Document>("users");
    let stored = users
        .find_one(mongodb::bson::doc! {"username": &username})
        .await
        .unwrap()
        .unwrap();
    let hash = stored.get_str("password_hash").unwrap();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert!(!stored.to_string().contains("password123"));
}

#[tokio::test]
async fn a_taken_username_is_409_and_the_first_account_keeps_its_password() {
    let app = app().await;
    let first = json!({"username": "bob", "password": "first-password"});
    let second = json!({"username": "bob", "password": "other-password"});
    assert_eq!(
        post_json("/api/v1/auth/register", first.clone())
            .send(&app, Endpoint::Register)
            .await
            .status,
        200
    );
    let reply = post_json("/api/v1/auth/register", second.clone())
        .send(&app, Endpoint::Register)
        .await;
    assert_eq!(reply.status, 409);
    assert_eq!(reply.detail(), "Username already registered");
    assert_eq!(
        post_json("/api/v1/auth/login", first)
            .send(&app, Endpoint::Login)
            .await
            .status,
        200
    );
    assert_eq!(
        post_json("/api/v1/auth/login", second)
            .send(&app, Endpoint::Login)
            .await
            .status,
        401
    );
}

#[tokio::test]
async fn concurrent_registrations_of_one_name_create_one_account() {
    let app = app().await;
    let attempts = (0..8).map(|i| {
        let app = app.clone();
        tokio::spawn(async move {
            post_json(
                "/api/v1/auth/register",
                json!({"username": "carol", "password": format!("password-{i}")}),
            )
            .send(&app, Endpoint::Register)
            .await
            .status
        })
    });
    let mut statuses = Vec::new();
    for attempt in attempts {
        statuses.push(attempt.await.unwrap().as_u16());
    }
    statuses.sort();
    assert_eq!(statuses, [200, 409, 409, 409, 409, 409, 409, 409]);
}

#[tokio::test]
async fn registration_input_is_validated_field_by_field() {
    let app = app().await;
    let cases = [
        (
            json!({"username": "ab", "password": "password123"}),
            "username: ",
        ),
        (
            json!({"username": "has space", "password": "password123"}),
            "username: ",
        ),
        (
            json!({"username": "x".repeat(65), "password": "password123"}),
            "username: ",
        ),
        (
            json!({"username": {"$gt": ""}, "password": "password123"}),
            "username: must be a string",
        ),
        (
            json!({"password": "password123"}),
            "username: field required",
        ),
        (
            json!({"username": "dave", "password": "short"}),
            "password: ",
        ),
        (
            json!({"username": "dave", "password": 12345678}),
            "password: must be a string",
        ),
        (json!({"username": "dave"}), "password: field required"),
        (
            json!(["dave", "password123"]),
            "body: must be a JSON object",
        ),
    ];
    for (body, expected) in cases {
        let reply = post_json("/api/v1/auth/register", body.clone())
            .send(&app, Endpoint::Register)
            .await;
        assert_eq!(reply.status, 422, "{body}");
        assert!(
            reply.detail().starts_with(expected),
            "{body} → {}",
            reply.detail()
        );
    }
    // Nothing was created along the way.
    let reply = post_json(
        "/api/v1/auth/login",
        json!({"username": "dave", "password": "password123"}),
    )
    .send(&app, Endpoint::Login)
    .await;
    assert_eq!(reply.status, 401);
}

#[tokio::test]
async fn malformed_and_oversized_bodies_are_400_and_413() {
    let app = app().await;
    for endpoint in [Endpoint::Register, Endpoint::Login] {
        let reply = post("/api/v1/auth/x", "{\"username\": \"eve\",")
            .send(&app, endpoint)
            .await;
        assert_eq!(reply.status, 400);
        assert!(reply.detail().starts_with("Malformed JSON"));
        let huge = format!(
            "{{\"username\": \"eve\", \"password\": \"{}\"}}",
            "p".repeat(1 << 20)
        );
        let reply = post("/api/v1/auth/x", huge).send(&app, endpoint).await;
        assert_eq!(reply.status, 413);
    }
}

#[tokio::test]
async fn unknown_user_and_wrong_password_get_the_same_401() {
    let app = app().await;
    let (username, _) = user(&app).await;
    let wrong_password = post_json(
        "/api/v1/auth/login",
        json!({"username": username, "password": "not-the-password"}),
    )
    .send(&app, Endpoint::Login)
    .await;
    let unknown_user = post_json(
        "/api/v1/auth/login",
        json!({"username": "nobody-here", "password": "password123"}),
    )
    .send(&app, Endpoint::Login)
    .await;
    for reply in [&wrong_password, &unknown_user] {
        assert_eq!(reply.status, 401);
        assert_eq!(reply.body, json!({"detail": "Invalid credentials"}));
    }
    assert_eq!(wrong_password.headers, unknown_user.headers);
}

fn sign(claims: serde_json::Value, secret: &[u8]) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret),
    )
    .unwrap()
}

#[tokio::test]
async fn every_protected_endpoint_refuses_bad_tokens_with_401_bearer() {
    let app = app().await;
    let (username, token) = user(&app).await;
    let chat_id = create_chat(&app, &token, "mine").await;
    let now = chrono::Utc::now().timestamp();
    let mut tampered = token.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    let payload = base64_url(
        json!({"sub": username, "iat": now, "exp": now + 600, "iss": "chat-backend"}).to_string(),
    );
    let bad_tokens = [
        ("garbage", "garbage".to_string()),
        ("tampered", tampered),
        (
            "expired",
            sign(
                json!({"sub": username, "iat": now - 7200, "exp": now - 3600, "iss": "chat-backend"}),
                SECRET,
            ),
        ),
        (
            "wrong secret",
            sign(
                json!({"sub": username, "iat": now, "exp": now + 600, "iss": "chat-backend"}),
                b"some-other-secret-some-other-secret!",
            ),
        ),
        (
            "alg none",
            format!(
                "{}.{payload}.",
                base64_url(r#"{"alg":"none","typ":"JWT"}"#.into())
            ),
        ),
    ];
    let calls = |token: Option<&str>| {
        let with = |call: Call| match token {
            Some(t) => call.token(t),
            None => call,
        };
        [
            (
                with(post_json("/api/v1/chats/create-chat", json!({"name": "x"}))),
                Endpoint::CreateChat,
            ),
            (
                with(get("/api/v1/chats/get-chat", &[("chat_id", &chat_id)])),
                Endpoint::GetChat,
            ),
            (
                with(post_json(
                    "/api/v1/messages/add-message",
                    json!({"chat_id": chat_id, "question": "q", "response": "r"}),
                )),
                Endpoint::AddMessage,
            ),
        ]
    };
    for (call, endpoint) in calls(None) {
        let reply = call.send(&app, endpoint).await;
        assert_eq!(reply.status, 401, "{endpoint:?} without a token");
        assert_eq!(reply.headers["www-authenticate"], "Bearer");
        assert_eq!(reply.detail(), "Not authenticated");
    }
    for (case, bad) in &bad_tokens {
        for (call, endpoint) in calls(Some(bad)) {
            let reply = call.send(&app, endpoint).await;
            assert_eq!(reply.status, 401, "{endpoint:?} with {case} token");
            assert_eq!(reply.headers["www-authenticate"], "Bearer");
            assert_eq!(reply.detail(), "Could not validate credentials");
        }
    }
    for scheme in ["Basic dXNlcjpwYXNz", "Token abc"] {
        let reply = get("/api/v1/chats/get-chat", &[("chat_id", &chat_id)])
            .header(lambda_http::http::header::AUTHORIZATION, scheme)
            .send(&app, Endpoint::GetChat)
            .await;
        assert_eq!(reply.status, 401, "{scheme}");
    }
    // None of the refused calls changed anything.
    let chat = get_chat(&app, &token, &chat_id).await;
    assert_eq!(chat.body["messages"], json!([]));
}

fn base64_url(text: String) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}

/// Deletes an account the way an operator would: straight from the database.
async fn delete_account(app: &shared::App, username: &str) {
    mongodb::Client::with_uri_str(mongodb_uri())
        .await
        .unwrap()
        .database(&app.config.database)
        .collection::<Document>("users")
        .delete_one(mongodb::bson::doc! {"username": username})
        .await
        .unwrap();
}

#[tokio::test]
async fn tokens_of_a_deleted_account_stop_working_at_once() {
    let app = app().await;
    let (username, token) = user(&app).await;
    // A warm instance that has just served this token…
    create_chat(&app, &token, "before").await;
    delete_account(&app, &username).await;
    // …refuses it on the very next request: nothing is cached.
    let reply = post_json("/api/v1/chats/create-chat", json!({"name": "after"}))
        .token(&token)
        .send(&app, Endpoint::CreateChat)
        .await;
    assert_eq!(
        (reply.status.as_u16(), reply.detail()),
        (401, "Could not validate credentials")
    );
}

/// add-message reads no account: the live conversation its write moves stands for it, because
/// delete-account trashes every conversation before it removes the account.
#[tokio::test]
async fn a_deleted_accounts_token_cannot_add_messages_nor_replay_one() {
    let app = app().await;
    let (_, token) = user(&app).await;
    let chat = create_chat(&app, &token, "gone").await;
    let body = json!({"chat_id": chat, "question": "q", "response": "r"});
    let send = |key: Option<&str>| {
        let mut call = post_json("/api/v1/messages/add-message", body.clone()).token(&token);
        if let Some(key) = key {
            call = call.header(header::HeaderName::from_static("idempotency-key"), key);
        }
        call.send(&app, Endpoint::AddMessage)
    };
    assert_eq!(send(Some("key-1")).await.status, 200);
    let reply = delete_own_account(&app, &token).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    for key in [None, Some("key-1"), Some("key-2")] {
        let reply = send(key).await;
        assert_eq!(
            (reply.status.as_u16(), reply.detail()),
            (401, "Could not validate credentials"),
            "{key:?}"
        );
        assert_eq!(reply.headers[header::WWW_AUTHENTICATE], "Bearer");
    }
}

#[tokio::test]
async fn forged_token_headers_are_refused() {
    let app = app().await;
    let (username, _) = user(&app).await;
    let now = chrono::Utc::now().timestamp();
    let claims = json!({"sub": username, "iat": now, "exp": now + 600, "iss": "chat-backend"});
    let mut with_kid = Header::new(Algorithm::HS256);
    with_kid.kid = Some("rotated-key-2".into());
    let unknown_kid =
        jsonwebtoken::encode(&with_kid, &claims, &EncodingKey::from_secret(SECRET)).unwrap();
    // RS/HS confusion: claim RS256 but sign with HMAC over the (public) secret.
    let header = base64_url(r#"{"alg":"RS256","typ":"JWT"}"#.into());
    let payload = base64_url(claims.to_string());
    let signature = {
        let signed = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(SECRET),
        )
        .unwrap();
        signed.rsplit('.').next().unwrap().to_owned()
    };
    let confused = format!("{header}.{payload}.{signature}");
    let huge = sign(
        json!({"sub": username, "iat": now, "exp": now + 600, "iss": "chat-backend", "pad": "x".repeat(8000)}),
        SECRET,
    );
    for (case, token) in [
        ("unknown kid", unknown_kid),
        ("RS256 confusion", confused),
        ("huge", huge),
    ] {
        let reply = get("/api/v1/chats/get-chat", &[("chat_id", "x")])
            .token(&token)
            .send(&app, Endpoint::GetChat)
            .await;
        assert_eq!(reply.status, 401, "{case}");
        assert_eq!(reply.headers["www-authenticate"], "Bearer", "{case}");
    }
}

#[tokio::test]
async fn repeated_failed_logins_lock_the_username_for_a_while() {
    let mut config = shared::Config::new(mongodb_uri(), unique_database());
    config.login_max_failures = 3;
    config.login_lockout = std::time::Duration::from_secs(2);
    let app = app_with(config).await;
    let (victim, _) = user(&app).await;
    let (bystander, _) = user(&app).await;
    let login = |username: String, password: &'static str| {
        let app = app.clone();
        async move {
            post_json(
                "/api/v1/auth/login",
                json!({"username": username, "password": password}),
            )
            .send(&app, Endpoint::Login)
            .await
        }
    };

    for _ in 0..3 {
        assert_eq!(login(victim.clone(), "wrong-password").await.status, 401);
    }
    // Locked: even the right password is not checked, and the answer says when to retry.
    let reply = login(victim.clone(), "password123").await;
    assert_eq!(reply.status, 429);
    assert!(
        reply.detail().starts_with("Too many failed login attempts"),
        "{}",
        reply.detail()
    );
    let retry_after: u64 = reply.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry_after), "{retry_after}");
    // Other accounts are unaffected; unknown usernames lock the same way, revealing nothing.
    assert_eq!(login(bystander.clone(), "password123").await.status, 200);
    for _ in 0..3 {
        assert_eq!(
            login("nobody-at-all".into(), "wrong-password").await.status,
            401
        );
    }
    assert_eq!(
        login("nobody-at-all".into(), "wrong-password").await.status,
        429
    );

    // The lock lifts by itself; a success then clears the count.
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    assert_eq!(login(victim.clone(), "password123").await.status, 200);
    for _ in 0..2 {
        assert_eq!(login(victim.clone(), "wrong-password").await.status, 401);
    }
    assert_eq!(login(victim.clone(), "password123").await.status, 200);
    assert_eq!(login(victim.clone(), "wrong-password").await.status, 401);
    assert_eq!(
        login(victim.clone(), "password123").await.status,
        200,
        "count restarted after success"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn parallel_guesses_cannot_slip_past_the_lock() {
    let mut config = shared::Config::new(mongodb_uri(), unique_database());
    config.login_max_failures = 3;
    let app = app_with(config).await;
    let (victim, _) = user(&app).await;
    let guesses = (0..20).map(|i| {
        let (app, victim) = (app.clone(), victim.clone());
        tokio::spawn(async move {
            let body = json!({"username": victim, "password": format!("guess-{i}")});
            post_json("/api/v1/auth/login", body)
                .send(&app, Endpoint::Login)
                .await
                .status
                .as_u16()
        })
    });
    let mut statuses = Vec::new();
    for guess in guesses.collect::<Vec<_>>() {
        statuses.push(guess.await.unwrap());
    }
    statuses.sort();
    // Only three passwords were ever checked, however many guesses arrived at once.
    assert_eq!(statuses, [vec![401; 3], vec![429; 17]].concat());
    let right = json!({"username": victim, "password": "password123"});
    assert_eq!(
        post_json("/api/v1/auth/login", right)
            .send(&app, Endpoint::Login)
            .await
            .status,
        429
    );
}

#[tokio::test]
async fn a_token_from_before_a_username_was_registered_again_is_refused() {
    let app = app().await;
    let (username, _) = user(&app).await;
    delete_account(&app, &username).await;
    // A token the deleted account held, then someone else registers the name.
    let now = chrono::Utc::now().timestamp();
    let old = sign(
        json!({"sub": username, "iat": now - 5, "exp": now + 600, "iss": "chat-backend"}),
        SECRET,
    );
    let credentials = json!({"username": username, "password": "another-password"});
    let reply = post_json("/api/v1/auth/register", credentials.clone())
        .send(&app, Endpoint::Register)
        .await;
    assert_eq!(reply.status, 200);

    let create = |token: String| {
        let app = app.clone();
        async move {
            post_json("/api/v1/chats/create-chat", json!({"name": "mine"}))
                .token(&token)
                .send(&app, Endpoint::CreateChat)
                .await
                .status
        }
    };
    assert_eq!(create(old).await, 401);
    let login = post_json("/api/v1/auth/login", credentials)
        .send(&app, Endpoint::Login)
        .await;
    let fresh = login.body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(create(fresh).await, 200);
}
