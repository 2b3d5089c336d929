//! Load with an integrity check, optionally with database faults, against a running local
//! server (`scripts/loadtest.sh` sets everything up):
//!
//! 1. `--clients` simulated users (four per account) send a realistic mix for `--seconds`:
//!    login, create chats, add messages, branch (nested), set the active branch, read (paging
//!    back with `before`), list conversations (filters, cursors), rename, pin, archive,
//!    delete and restore conversations, list the trash, search; and, a few percent, the tree
//!    operations: get-tree, edit, regenerate, delete/restore/prune branches, promote,
//!    compare, fork, export and import (`trees`). Creating writes carry an `Idempotency-Key`
//!    and are retried with it until a definitive answer.
//! 2. Optionally mongod is killed with SIGKILL at `--kill-at` seconds and started again
//!    `--down-for` seconds later, and frozen with SIGSTOP at `--pause-at` for `--pause-for`.
//!    Inside those windows a 503 with a JSON body is the expected answer; outside, any answer
//!    but the documented success is an error, and so is no answer within `--timeout`.
//! 3. The verifier reads everything back and checks it against the acknowledged writes and
//!    the load's model of what every chat shows (`model`): no message lost, none duplicated,
//!    none stored that was not acknowledged (but for writes whose every retry went
//!    unanswered, counted apart), each where the model says it is stored.
//! 4. One account is deleted: its token must then be refused (401).
//!
//! Prints throughput, p50/p99 per endpoint, errors, and what each fault did; exits non-zero
//! on any error or integrity problem. Needs `MONGODB_URI` and `MONGODB_DATABASE` (the server's)
//! for the verifier, and `MONGO_PORT` / `MONGO_DBPATH` (of `scripts/mongo.sh`) for faults.

mod api;
mod faults;
mod model;
mod trees;
mod verify;
mod workload;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bench::percentile;
use mongodb::bson::doc;
use shared::Endpoint;
use shared::requests::PasswordCheck;
use shared::views::{DeletedAccountView, Page};

use api::{Api, Call};
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
    let mut accounts: Vec<Arc<Account>> = Vec::new();
    for index in 0..clients.div_ceil(CLIENTS_PER_ACCOUNT) {
        let account = Account::new(index, &run, String::new());
        let reply = api
            .send(&Call::to(Endpoint::Register).json(&account.credentials()))
            .await;
        assert!(reply.is(200), "register: {:?} {}", reply.status, reply.body);
        // Accounts are known by a UUID (their tokens' `sub`), not by the username.
        let account_id = reply.str("account_id");
        assert!(
            uuid::Uuid::parse_str(&account_id).is_ok(),
            "account id {account_id}"
        );
        accounts.push(Arc::new(Account::new(index, &run, account_id)));
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
    let verified = Instant::now();
    let mut findings = verify::verify(&api, &accounts, &ledger, &database).await;
    println!(
        "verified in {:.1} s: {} chats and branches in {} conversation trees ({} in the trash), \
         {} acknowledged messages, {} stored; {} get-chat pages read, {} conversations checked \
         in list-chats and {} in list-deleted, {} messages found by search",
        verified.elapsed().as_secs_f64(),
        findings.chats,
        findings.trees,
        findings.trashed_trees,
        findings.acked_messages,
        findings.stored_messages,
        findings.pages,
        findings.listed,
        findings.in_trash,
        findings.searched,
    );
    println!(
        "model: {} chats and branches read exactly as modelled, slot by slot; {} deleted \
         branches answer 404; {} imported conversations ({} chats) export as their source",
        findings.modelled, findings.deleted_branches, findings.imported, findings.imported_chats,
    );
    println!(
        "idempotency: {} writes retried, {} of them answered by a retry ({} answers replayed, \
         {} \"in progress\" answers); {} writes unresolved after every retry ({} of their \
         messages stored); {} conversations left uncertain by them",
        ledger.stats.retried,
        ledger.stats.resolved_by_retry,
        ledger.stats.replayed,
        ledger.stats.in_progress,
        findings.unresolved,
        findings.unresolved_stored,
        findings.uncertain_trees,
    );
    for unresolved in ledger.unresolved.iter().take(10) {
        println!("  UNRESOLVED {} {}", unresolved.endpoint, unresolved.what);
    }
    if let Some(account) = accounts.last() {
        delete_account(&api, account, &database, &mut findings.problems).await;
    }
    println!("integrity: {} problems", findings.problems.len());
    for problem in findings.problems.iter().take(20) {
        println!("  PROBLEM {problem}");
    }
    // Unresolved writes must not happen in a normal run: the retries outlast every fault.
    if errors > 0 || !findings.problems.is_empty() || findings.unresolved > 0 {
        std::process::exit(1);
    }
}

/// Deletes an account at the end: its token is refused from then on, its password no longer
/// logs in, it has no live conversation left in MongoDB, and its username can be registered
/// again, as a new, empty account.
async fn delete_account(
    api: &Api,
    account: &Account,
    database: &mongodb::Database,
    problems: &mut Vec<String>,
) {
    let login = api
        .send(&Call::to(Endpoint::Login).json(&account.credentials()))
        .await;
    let token = login.str("access_token");
    let call = Call::to(Endpoint::DeleteAccount)
        .token(&token)
        .json(&PasswordCheck {
            password: account.password.clone(),
        });
    let reply = api.send(&call).await;
    match reply.parse::<DeletedAccountView>() {
        Ok(deleted) if reply.is(200) && deleted.account_id == account.account_id => {}
        _ => return problems.push(format!("delete-account: {}", reply.describe())),
    }
    let mut refused = 0;
    for endpoint in [Endpoint::ListChats, Endpoint::ListDeleted] {
        let reply = api.send(&Call::to(endpoint).token(&token)).await;
        match reply.is(401) {
            true => refused += 1,
            false => problems.push(format!(
                "{endpoint:?} with a deleted account's token: {}",
                reply.describe()
            )),
        }
    }
    let login = api
        .send(&Call::to(Endpoint::Login).json(&account.credentials()))
        .await;
    if !login.is(401) {
        problems.push(format!("login of a deleted account: {}", login.describe()));
    }
    let live = database
        .collection::<mongodb::bson::Document>("conversations")
        .count_documents(doc! { "account_id": &account.account_id, "trashed": false })
        .await
        .unwrap_or(u64::MAX);
    if live > 0 {
        problems.push(format!("{live} live conversations of a deleted account"));
    }
    let again = api
        .send(&Call::to(Endpoint::Register).json(&account.credentials()))
        .await;
    let fresh = again.str("account_id");
    let login = api
        .send(&Call::to(Endpoint::Login).json(&account.credentials()))
        .await;
    let list = api
        .send(&Call::to(Endpoint::ListChats).token(&login.str("access_token")))
        .await;
    let empty = list
        .parse::<Page<serde_json::Value>>()
        .is_ok_and(|p| p.items.is_empty());
    if !again.is(200) || fresh == account.account_id || !empty {
        problems.push(format!(
            "the username registered again: {} / list {}",
            again.describe(),
            list.describe()
        ));
    }
    println!(
        "delete-account: {} deleted; its token then answered 401 on {refused} of 2 endpoints and \
         its login 401; {live} live conversations left; the username registered again is a \
         new, empty account",
        account.username
    );
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
    let retries = ledger.outcomes.iter().filter(|o| o.retry).count();
    println!(
        "load: {clients} clients for {:.1} s on {} cores: {} requests answered as documented, \
         {:.0} requests/s; {unavailable} answered 503 during faults; {retries} were retries of a \
         write; {} errors",
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
        let retried = during.iter().filter(|o| o.retry).count();
        // Recovery: from mongod being back to the first request started after it that succeeded.
        let recovered = ledger
            .outcomes
            .iter()
            .filter(|o| o.started >= window.back && matches!(o.kind, Kind::Ok))
            .map(|o| o.started + o.elapsed)
            .min()
            .map(|t| format!("{:.2} s", (t - window.back).as_secs_f64()));
        println!(
            "fault {}: {} requests overlapped it, {answered_503} answered 503, {retried} were \
             retries, slowest answer {:.2} s, first success {} after mongod was back",
            window.what,
            during.len(),
            slowest.as_secs_f64(),
            recovered.unwrap_or_else(|| "never".into())
        );
    }
    let checks: Vec<String> = ledger
        .stats
        .checks
        .iter()
        .map(|(what, n)| format!("{what} {n}"))
        .collect();
    println!("checked during the load: {}", checks.join(", "));
    for error in errors.iter().take(20) {
        println!("  ERROR {error}");
    }
    errors.len()
}
