//! The benchmark's own mongod (it restarts it, so never anyone else's): started, stopped and
//! started again by `scripts/mongo.sh` on `MONGO_PORT` / `MONGO_DBPATH`, and watched through
//! `serverStatus().connections`.

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use mongodb::bson::{Document, doc};
use mongodb::options::ClientOptions;

pub struct Mongod {
    port: String,
    dbpath: String,
    pub uri: String,
}

impl Mongod {
    /// `MONGO_PORT` (default 27150) and `MONGO_DBPATH` (default `.local/mongo-instances-<port>`).
    pub fn from_env() -> Self {
        let port = std::env::var("MONGO_PORT").unwrap_or_else(|_| "27150".into());
        let dbpath = std::env::var("MONGO_DBPATH").unwrap_or_else(|_| {
            format!(
                "{}/../.local/mongo-instances-{port}",
                env!("CARGO_MANIFEST_DIR")
            )
        });
        let uri = format!("mongodb://127.0.0.1:{port}/?replicaSet=rs0");
        Self { port, dbpath, uri }
    }

    /// Starts it (a no-op when it runs) and returns once it is primary.
    pub fn start(&self) {
        self.script("start");
    }

    /// A clean shutdown: every connection is closed by the server.
    pub fn stop(&self) {
        self.script("stop");
    }

    fn script(&self, action: &str) {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/mongo.sh");
        let status = Command::new(script)
            .arg(action)
            .env("MONGO_PORT", &self.port)
            .env("MONGO_DBPATH", &self.dbpath)
            .stdout(Stdio::null())
            .status()
            .expect("scripts/mongo.sh");
        assert!(status.success(), "scripts/mongo.sh {action}");
    }
}

/// `serverStatus().connections`, sampled every 50 ms by a client of its own (one connection
/// for commands plus its monitoring, all counted in `current`).
#[derive(Clone)]
pub struct Connections(Arc<Counters>);

#[derive(Default)]
struct Counters {
    current: AtomicU64,
    /// The highest `current` since the last `reset_peak`.
    peak: AtomicU64,
    total_created: AtomicU64,
}

impl Connections {
    pub async fn watch(uri: &str) -> Self {
        let mut options = ClientOptions::parse(format!("{uri}&directConnection=true"))
            .await
            .expect("URI");
        options.server_selection_timeout = Some(Duration::from_millis(300));
        options.max_pool_size = Some(1);
        let client = mongodb::Client::with_options(options).expect("client");
        let this = Self(Arc::default());
        let counters = this.0.clone();
        tokio::spawn(async move {
            let admin = client.database("admin");
            loop {
                let status = admin.run_command(doc! { "serverStatus": 1 }).await;
                match status.as_ref().map(|s| s.get_document("connections")) {
                    Ok(Ok(connections)) => {
                        let current = number(connections, "current");
                        counters.current.store(current, Ordering::Relaxed);
                        counters.peak.fetch_max(current, Ordering::Relaxed);
                        let created = number(connections, "totalCreated");
                        counters.total_created.store(created, Ordering::Relaxed);
                    }
                    // mongod is down: nothing is connected.
                    _ => counters.current.store(0, Ordering::Relaxed),
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        });
        while this.current() == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        this
    }

    pub fn current(&self) -> u64 {
        self.0.current.load(Ordering::Relaxed)
    }

    pub fn peak(&self) -> u64 {
        self.0.peak.load(Ordering::Relaxed)
    }

    /// Starts a new peak from the next sample.
    pub fn reset_peak(&self) {
        self.0.peak.store(0, Ordering::Relaxed);
    }

    /// Connections the server has accepted since it (last) started.
    pub fn total_created(&self) -> u64 {
        self.0.total_created.load(Ordering::Relaxed)
    }

    /// Waits until `current` is at most `level` (closed connections take a moment to go).
    pub async fn settle(&self, level: u64) {
        for _ in 0..100 {
            if self.current() <= level {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn number(document: &Document, key: &str) -> u64 {
    match document.get(key) {
        Some(mongodb::bson::Bson::Int32(n)) => *n as u64,
        Some(mongodb::bson::Bson::Int64(n)) => *n as u64,
        _ => 0,
    }
}
