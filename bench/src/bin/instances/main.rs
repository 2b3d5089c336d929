//! Connections under many Lambda instances, on one mongod of the benchmark's own.
//!
//! - `pools`: one instance serving one request at a time (as Lambda does) with pool sizes 1, 2,
//!   3 and 10, interleaved: get-chat, add-message, and the two handlers that issue two queries
//!   at once (search-messages, get-tree); median and p99 of each, and the connections one
//!   instance holds after serving each endpoint.
//! - `fleet`: N independent instances (each an `App` with its own MongoDB client and the Lambda
//!   pool, each serving one request at a time) driven at a total request rate: peak
//!   `serverStatus().connections.current`, latency and errors; then mongod is restarted under
//!   that load: the reconnection peak, the connections created, and how long until every
//!   instance has served again.
//!
//! Run: `cargo run --release -p bench --bin instances [-- --long] [--pools ROUNDS]
//! [--fleet 10,50,200] [--seconds S] [--rate R] [--down S]`. The default is short (40 rounds,
//! N = 10 for 4 s); `--long` is 300 rounds and N = 10, 50, 200 for 15 s each. mongod is started
//! by `scripts/mongo.sh` on `MONGO_PORT` (default 27150) and `MONGO_DBPATH`, and stopped at
//! the end.

mod fleet;
mod mongod;
mod pools;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bench::{Caller, SECRET};
use shared::requests::NewMessage;
use shared::{App, Config, Endpoint, Pool};

use mongod::{Connections, Mongod};

struct Args {
    rounds: usize,
    fleets: Vec<usize>,
    seconds: u64,
    /// Requests per second over all instances.
    rate: f64,
    /// How long mongod stays down.
    down: Duration,
}

impl Args {
    fn parse() -> Self {
        let mut args = Args {
            rounds: 40,
            fleets: vec![10],
            seconds: 4,
            rate: 200.0,
            down: Duration::from_secs(2),
        };
        let mut given = std::env::args().skip(1);
        while let Some(flag) = given.next() {
            let mut value = || {
                given
                    .next()
                    .unwrap_or_else(|| panic!("{flag} needs a value"))
            };
            match flag.as_str() {
                "--long" => {
                    (args.rounds, args.seconds) = (300, 15);
                    args.fleets = vec![10, 50, 200];
                }
                "--pools" => args.rounds = value().parse().expect("--pools ROUNDS"),
                "--fleet" => {
                    args.fleets = value()
                        .split(',')
                        .map(|n| n.parse().expect("--fleet N,N,…"))
                        .collect();
                }
                "--seconds" => args.seconds = value().parse().expect("--seconds S"),
                "--rate" => args.rate = value().parse().expect("--rate R"),
                "--down" => args.down = Duration::from_secs(value().parse().expect("--down S")),
                other => panic!("unknown argument {other}"),
            }
        }
        args
    }
}

/// A question and answer of realistic size (200 and 1,000 bytes).
pub fn texts(i: u64) -> (String, String) {
    let question = format!("{i:>8} {}", "How do branches work? ".repeat(9));
    let response = format!("{i:>8} {}", "Each branch is a chat of its own. ".repeat(30));
    (question[..200].to_owned(), response[..1000].to_owned())
}

/// A new instance, as a Lambda cold start builds it: its own client and pool.
pub async fn instance(uri: &str, database: &str, pool: Pool) -> Arc<App> {
    let mut config = Config::new(uri, database);
    config.pool = pool;
    Arc::new(App::new(config, SECRET).await.expect("app"))
}

/// What a user of the benchmark reads and appends to.
pub struct User {
    pub caller: Caller,
    pub chat: String,
}

impl User {
    /// A request of `endpoint` on this user's chat; `i` numbers the message added.
    pub fn request(&self, endpoint: Endpoint, i: u64) -> shared::lambda_http::Request {
        let chat = self.chat.as_str();
        match endpoint {
            Endpoint::AddMessage => {
                let (question, response) = texts(i);
                let body = NewMessage {
                    chat_id: chat.to_owned(),
                    question,
                    response,
                };
                self.caller.request(endpoint, &[], Some(&body))
            }
            Endpoint::SearchMessages => {
                self.caller
                    .request(endpoint, &[("q", "branches"), ("limit", "10")], None::<&()>)
            }
            _ => self
                .caller
                .request(endpoint, &[("chat_id", chat)], None::<&()>),
        }
    }
}

/// `count` users on `database`, each with a chat of `messages` messages.
async fn users(uri: &str, database: &str, count: usize, messages: u64) -> Vec<User> {
    let app = instance(uri, database, Pool::LOCAL).await;
    let mut users = Vec::new();
    for n in 0..count {
        let caller = Caller::register(app.clone(), &format!("user{n}")).await;
        let chat = caller.create_chat("bench").await;
        let user = User { caller, chat };
        for i in 0..messages {
            let request = user.request(Endpoint::AddMessage, i);
            user.caller.send(Endpoint::AddMessage, request).await;
        }
        users.push(user);
    }
    users
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    // The service's logs (RUST_LOG=warn shows why each error was answered), only when asked.
    if std::env::var_os("RUST_LOG").is_some() {
        shared::logging::init(false);
    }
    let mongod = Arc::new(Mongod::from_env());
    mongod.start();
    let connections = Connections::watch(&mongod.uri).await;
    let database = format!(
        "instances_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let started = Instant::now();
    let most = args.fleets.iter().copied().max().unwrap_or(1).max(1);
    let users = Arc::new(users(&mongod.uri, &database, most, 10).await);
    eprintln!(
        "instances: {most} users seeded in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    if args.rounds > 0 {
        pools::run(&mongod.uri, &database, &users[0], &connections, args.rounds).await;
    }
    let mut ok = true;
    for &n in &args.fleets {
        let plan = fleet::Plan {
            instances: n,
            rate: args.rate,
            steady: Duration::from_secs(args.seconds),
            down: args.down,
        };
        ok &= fleet::run(&mongod, &database, users.clone(), &connections, plan).await;
    }
    // Its own mongod, restarted by the run: it goes with it.
    mongod.stop();
    if !ok {
        eprintln!(
            "instances: an answer other than a success or a 503, or an instance that never served again"
        );
        std::process::exit(1);
    }
}
