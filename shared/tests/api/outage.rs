//! MongoDB going away and coming back: 503 JSON quickly, then service again without a restart.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::json;
use shared::{Config, Endpoint};

use crate::common::*;

/// A MongoDB of this test's own, on its own port and data directory; stopped when dropped.
struct OwnMongo {
    port: u16,
    dbpath: PathBuf,
}

impl OwnMongo {
    fn new() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dbpath = std::env::temp_dir().join(format!("chat-backend-outage-{port}"));
        Self { port, dbpath }
    }

    fn script(&self, action: &str) {
        let status = Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/mongo.sh"))
            .arg(action)
            .env("MONGO_PORT", self.port.to_string())
            .env("MONGO_DBPATH", &self.dbpath)
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "mongo.sh {action}");
    }
}

impl Drop for OwnMongo {
    fn drop(&mut self) {
        self.script("stop");
        let _ = std::fs::remove_dir_all(&self.dbpath);
        let _ = std::fs::remove_file(self.dbpath.with_extension("lock"));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn database_down_is_a_quick_503_and_the_same_process_recovers() {
    let mongo = OwnMongo::new();
    let mut config = Config::new(
        format!("mongodb://127.0.0.1:{}/?replicaSet=rs0", mongo.port),
        unique_database(),
    );
    config.db_timeout = Duration::from_secs(1);
    let app = app_with(config).await;
    let credentials = json!({"username": "patient", "password": "password123"});

    // Nothing listens yet: a prompt 503 with a JSON body and a Retry-After hint.
    let started = Instant::now();
    let reply = post_json("/api/v1/auth/register", credentials.clone())
        .send(&app, Endpoint::Register)
        .await;
    let waited = started.elapsed();
    assert_eq!(reply.status, 503, "{}", reply.body);
    assert_eq!(reply.detail(), "Database unavailable, please retry");
    assert_eq!(reply.headers["retry-after"], "1");
    assert!(waited < Duration::from_secs(5), "answered after {waited:?}");

    // MongoDB comes up: the very same app (same client) serves.
    mongo.script("start");
    let (_, token) = user(&app).await;
    let chat_id = create_chat(&app, &token, "survives").await;
    assert_eq!(
        add_message(&app, &token, &chat_id, "before the outage")
            .await
            .status,
        200
    );

    // It goes down mid-session: writes and reads get 503, never 500 or a hang.
    mongo.script("stop");
    let started = Instant::now();
    let reply = add_message(&app, &token, &chat_id, "during the outage").await;
    assert_eq!(reply.status, 503, "{}", reply.body);
    let reply = get_chat(&app, &token, &chat_id).await;
    assert_eq!(reply.status, 503, "{}", reply.body);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "answered after {:?}",
        started.elapsed()
    );

    // And back again, with the acknowledged message intact.
    mongo.script("start");
    assert_eq!(
        add_message(&app, &token, &chat_id, "after the outage")
            .await
            .status,
        200
    );
    let chat = get_chat(&app, &token, &chat_id).await.body;
    assert_eq!(questions(&chat), ["before the outage", "after the outage"]);
}
