//! Load with an integrity check, optionally with database faults, against a running local
//! server (`scripts/loadtest.sh` sets everything up):
//!
//! 1. `--clients` simulated users (four per account) send a realistic mix for `--seconds`:
//!    login, create chats, add messages, branch (nested), set the active branch, read.
//! 2. Optionally mongod is killed with SIGKILL at `--kill-at` seconds and started again
//!    `--down-for` seconds later, and frozen with SIGSTOP at `--pause-at` for `--pause-for`.
//!    Inside those windows a 503 with a JSON body is the expected answer; outside, any answer
//!    but the documented success is an error, and so is no answer within `--timeout`.
//! 3. The verifier reads everything back and checks it against the acknowledged writes.
//!
//! Prints throughput, p50/p99 per endpoint, errors, and what each fault did; exits non-zero
//! on any error or integrity problem. Needs `MONGODB_URI` and `MONGODB_DATABASE` (the server's)
//! for the verifier, and `MONGO_PORT` / `MONGO_DBPATH` (of `scripts/mongo.sh`) for faults.

mod api;
mod faults;
mod verify;
mod workload;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bench::percentile;
use hyper::Method;

use api::Api;
use workload::{Account, Client, Kind, Ledger};

const CLIENTS_PER_ACCOUNT: usize = 4;

struct Args(HashMap<String, String>);

impl Args {
    fn parse() -> Self {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let pairs = args.chunks(2).map(|pair| match pair {
            [key, value] if key.starts_with("--") => (key[2..].to_owned(), value.clone()),
            _ => panic!("usage: loadtest --base URL [--clients N --seconds S --timeout S --kill-at S --down-for S --pause-at S --pause-for S --grace S]"),
        });
        Self(pairs.collect())
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    fn seconds(&self, key: &str, default: f64) -> Duration {
        Duration::from_secs_f64(self.get(key).map_or(default, |v| v.parse().expect(key)))
    }
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} must be set"))
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let base = args.get("base").unwrap_or("http://127.0.0.1:3000/api/v1");
    let clients: usize = args
        .get("clients")
        .map_or(32, |n| n.parse().expect("clients"));
    let duration = args.seconds("seconds", 60.0);
    let api = Api::new(base, args.seconds("timeout", 15.0));
    let database = mongodb::Client::with_uri_str(env("MONGODB_URI"))
        .await
        .expect("MongoDB client")
        .database(&env("MONGODB_DATABASE"));

    // Accounts exist before the clock starts.
    let run = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let accounts: Vec<Arc<Account>> = (0..clients.div_ceil(CLIENTS_PER_ACCOUNT))
        .map(|i| Arc::new(Account::new(i, &run)))
        .collect();
    for account in &accounts {
        let reply = api
            .call(
                Method::POST,
                "/auth/register",
                None,
                Some(&account.credentials()),
            )
            .await;
        assert!(reply.is(200), "register: {:?} {}", reply.status, reply.body);
    }

    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let start = Instant::now();
    let deadline = start + duration;
    let tasks: Vec<_> = (0..clients)
        .map(|id| {
            let account = accounts[id / CLIENTS_PER_ACCOUNT].clone();
            let client = Client::new(id, api.clone(), account, ledger.clone());
            tokio::spawn(client.run(deadline))
        })
        .collect();
    let plan = faults::Plan {
        mongo_port: std::env::var("MONGO_PORT").unwrap_or_default(),
        mongo_dbpath: std::env::var("MONGO_DBPATH").unwrap_or_default().into(),
        kill_at: args.get("kill-at").map(|_| args.seconds("kill-at", 0.0)),
        down_for: args.seconds("down-for", 10.0),
        pause_at: args.get("pause-at").map(|_| args.seconds("pause-at", 0.0)),
        pause_for: args.seconds("pause-for", 3.0),
        grace: args.seconds("grace", 5.0),
    };
    let windows = faults::run(plan, start).await;
    for task in tasks {
        task.await.expect("client task");
    }
    let elapsed = start.elapsed();

    let ledger = std::mem::take(&mut *ledger.lock().unwrap());
    let errors = report(&ledger, &windows, elapsed, clients);
    eprintln!("loadtest: verifying…");
    let findings = verify::verify(&api, &accounts, &ledger, &database).await;
    println!(
        "verified: {} chats and branches in {} conversation trees, {} acknowledged messages, \
         {} stored without acknowledgement (answered 503 after committing); {} problems",
        findings.chats,
        findings.trees,
        findings.acked_messages,
        findings.unacked_stored,
        findings.problems.len()
    );
    for problem in findings.problems.iter().take(20) {
        println!("  PROBLEM {problem}");
    }
    if errors > 0 || !findings.problems.is_empty() {
        std::process::exit(1);
    }
}

/// Prints the figures; returns the number of errors.
fn report(ledger: &Ledger, windows: &[faults::Window], elapsed: Duration, clients: usize) -> usize {
    let in_window = |o: &workload::Outcome| {
        windows
            .iter()
            .any(|w| w.overlaps(o.started, o.started + o.elapsed))
    };
    let mut latencies: BTreeMap<&str, Vec<Duration>> = BTreeMap::new();
    let mut errors: Vec<String> = Vec::new();
    let mut unavailable = 0;
    for outcome in &ledger.outcomes {
        match &outcome.kind {
            Kind::Ok => latencies
                .entry(outcome.endpoint)
                .or_default()
                .push(outcome.elapsed),
            Kind::Unavailable if in_window(outcome) => unavailable += 1,
            Kind::Unavailable => errors.push(format!(
                "{}: 503 outside any fault window",
                outcome.endpoint
            )),
            Kind::Failed(why) => errors.push(why.clone()),
        }
    }
    let ok: usize = latencies.values().map(Vec::len).sum();
    println!(
        "load: {clients} clients for {:.1} s on {} cores: {} requests answered as documented, \
         {:.0} requests/s; {unavailable} answered 503 during faults; {} errors",
        elapsed.as_secs_f64(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        ok,
        ok as f64 / elapsed.as_secs_f64(),
        errors.len()
    );
    println!(
        "{:<18} {:>8} {:>9} {:>9} {:>9}",
        "endpoint", "count", "p50 ms", "p99 ms", "max ms"
    );
    for (endpoint, samples) in &mut latencies {
        println!(
            "{endpoint:<18} {:>8} {:>9.1} {:>9.1} {:>9.1}",
            samples.len(),
            percentile(samples, 0.5),
            percentile(samples, 0.99),
            percentile(samples, 1.0)
        );
    }
    for window in windows {
        let during: Vec<&workload::Outcome> = ledger
            .outcomes
            .iter()
            .filter(|o| window.overlaps(o.started, o.started + o.elapsed))
            .collect();
        let slowest = during.iter().map(|o| o.elapsed).max().unwrap_or_default();
        let answered_503 = during
            .iter()
            .filter(|o| matches!(o.kind, Kind::Unavailable))
            .count();
        // Recovery: from mongod being back to the first request started after it that succeeded.
        let recovered = ledger
            .outcomes
            .iter()
            .filter(|o| o.started >= window.back && matches!(o.kind, Kind::Ok))
            .map(|o| o.started + o.elapsed)
            .min()
            .map(|t| format!("{:.2} s", (t - window.back).as_secs_f64()));
        println!(
            "fault {}: {} requests overlapped it, {answered_503} answered 503, slowest answer {:.2} s, \
             first success {} after mongod was back",
            window.what,
            during.len(),
            slowest.as_secs_f64(),
            recovered.unwrap_or_else(|| "never".into())
        );
    }
    for error in errors.iter().take(20) {
        println!("  ERROR {error}");
    }
    errors.len()
}
