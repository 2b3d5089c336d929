//! What the service costs on top of MongoDB. In one run, on one mongod:
//! - add-message, get-chat and create-branch through `Endpoint::handle`, the function the Lambda
//!   runtime calls (token check, JSON in, validation, the store, JSON out), and
//! - the same MongoDB operations written directly against the driver: the same documents,
//!   indexes, write concern, transaction and queries, nothing else;
//!
//! interleaved, so drift on the machine hits both sides alike. Also the CPU cost of verifying a
//! token and of encoding a 50-message get-chat answer.
//!
//! Run: `cargo run --release -p bench --bin overhead [rounds]` (default 300 rounds).

use std::hint::black_box;
use std::time::{Duration, Instant};

use bench::{Caller, mongodb_uri, percentile, timed};
use mongodb::bson::oid::ObjectId;
use mongodb::bson::{DateTime, RawDocumentBuf, doc, rawdoc};
use mongodb::options::{
    Acknowledgment, ClientOptions, ReadConcern, ReturnDocument, TransactionOptions, WriteConcern,
};
use mongodb::{Client, Collection, Database};
use serde::Serialize;
use shared::Endpoint;
use shared::lambda_http::http::StatusCode;
use shared::requests::{NewBranch, NewMessage};

/// Visible messages of the chats read and branched.
const MESSAGES: usize = 50;
/// Rounds run first and thrown away: connection pools, caches and the allocator settle.
const WARM_UP: usize = 50;
/// Iterations of each CPU-only measurement.
const CPU_ROUNDS: u32 = 10_000;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// A question and answer of realistic size (200 and 1,000 bytes) rather than a few words, so
/// that decoding and encoding cost what they would in production.
fn texts(i: usize) -> (String, String) {
    let question = format!("{i:>8} {}", "How do branches work? ".repeat(9));
    let response = format!("{i:>8} {}", "Each branch is a chat of its own. ".repeat(30));
    (question[..200].to_owned(), response[..1000].to_owned())
}

fn add_message_body(chat_id: &str, i: usize) -> NewMessage {
    let (question, response) = texts(i);
    NewMessage {
        chat_id: chat_id.to_owned(),
        question,
        response,
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let rounds: usize = std::env::args()
        .nth(1)
        .map_or(300, |n| n.parse().expect("rounds"));
    let caller = Caller::new("bench_overhead").await;
    let bare = Bare::connect(&caller.app.config.database, &caller.account_id).await?;

    eprintln!("seeding two chats of {MESSAGES} messages…");
    let read = caller.create_chat("read").await;
    let parent = caller.create_chat("parent").await;
    for chat in [&read, &parent] {
        for i in 0..MESSAGES {
            caller
                .call(Endpoint::AddMessage, &[], &add_message_body(chat, i))
                .await;
        }
    }
    // A chat read in practice often has a branch or two; the branches query then returns some.
    for _ in 0..2 {
        caller.create_branch(&read, MESSAGES / 2).await;
    }
    let append = caller.create_chat("append").await;

    let mut add = Samples::default();
    let mut get = Samples::default();
    let mut branch = Samples::default();
    for round in 0..WARM_UP + rounds {
        // Alternate which side goes first, so neither always finds a freshly warmed server.
        let service_first = round % 2 == 0;
        let (question, response) = texts(round);
        let [service, driver] = both(
            service_first,
            handle_timed(
                &caller,
                Endpoint::AddMessage,
                &[],
                Some(&add_message_body(&append, round)),
            ),
            bare.add_message(&append, &question, &response),
        )
        .await;
        add.keep(round, service, driver);

        let [service, driver] = both(
            service_first,
            handle_timed(
                &caller,
                Endpoint::GetChat,
                &[("chat_id", &read)],
                None::<&()>,
            ),
            bare.get_chat(&read),
        )
        .await;
        get.keep(round, service, driver);

        let body = NewBranch {
            parent_chat_id: parent.clone(),
            message_index: MESSAGES as i64 - 1,
            name: "branch".to_owned(),
        };
        let [service, driver] = both(
            service_first,
            handle_timed(&caller, Endpoint::CreateBranch, &[], Some(&body)),
            bare.create_branch(&parent, MESSAGES as i64 - 1, "branch"),
        )
        .await;
        branch.keep(round, service, driver);
    }

    // CPU only: a tight loop with nothing else running, so wall time is CPU time.
    let tokens = caller.app.tokens().expect("tokens");
    let token = tokens.issue(&caller.account_id)?.access_token;
    let verify = cpu_micros(|| {
        tokens.verify(black_box(&token)).expect("valid token");
    });
    let (_, view) = shared::chats::get_chat(
        caller.app.store().await?,
        caller.app.tagger()?,
        &caller.account_id,
        &read,
        None,
        None,
        None,
        |_| false,
    )
    .await?;
    let view = view.expect("a page");
    assert_eq!(view.messages.len(), MESSAGES);
    let answer_bytes = shared::http::json(StatusCode::OK, &view).body().len();
    let encode = cpu_micros(|| {
        // Exactly what the get-chat handler does with its answer.
        black_box(shared::http::json(StatusCode::OK, black_box(&view)));
    });

    println!(
        "{rounds} rounds after {WARM_UP} warm-up, interleaved, {} cores; messages of 200 + 1,000 bytes",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!("service = Endpoint::handle in-process; driver = the same MongoDB operations, bare");
    println!(
        "{:<36} {:>15} {:>15} {:>15} {:>15} {:>7}",
        "", "service median", "service p99", "driver median", "driver p99", "ratio"
    );
    add.report("add-message (a batch of one)");
    get.report(&format!("get-chat ({MESSAGES} messages, 2 branches)"));
    branch.report(&format!("create-branch (parent of {MESSAGES})"));
    println!("ratio = service median / driver median (target ≤ 1.3)\n");
    println!("CPU per request, mean of {CPU_ROUNDS}:");
    println!("  JWT verify (Tokens::verify)                           {verify:>6.1} µs");
    println!(
        "  JSON-encode the get-chat answer ({MESSAGES} messages, {answer_bytes} B) {encode:>6.1} µs"
    );

    bare.db.drop().await?;
    Ok(())
}

/// Runs both sides, in the order asked, and returns their times as `[service, driver]`.
async fn both(
    service_first: bool,
    service: impl Future<Output = Duration>,
    driver: impl Future<Output = Result<()>>,
) -> [Duration; 2] {
    let driver = async {
        let (result, took) = timed(driver).await;
        result.expect("bare driver operation");
        took
    };
    if service_first {
        let service = service.await;
        [service, driver.await]
    } else {
        let driver = driver.await;
        [service.await, driver]
    }
}

/// Times `Endpoint::handle` alone: building the request and reading the answer are the
/// client's work, not the service's.
async fn handle_timed(
    caller: &Caller,
    endpoint: Endpoint,
    query: &[(&str, &str)],
    body: Option<&impl Serialize>,
) -> Duration {
    let request = caller.request(endpoint, query, body);
    let (response, took) = timed(endpoint.handle(&caller.app, request)).await;
    assert!(
        response.status().is_success(),
        "{endpoint:?}: {} {}",
        response.status(),
        String::from_utf8_lossy(response.body().as_ref())
    );
    took
}

#[derive(Default)]
struct Samples {
    service: Vec<Duration>,
    driver: Vec<Duration>,
}

impl Samples {
    fn keep(&mut self, round: usize, service: Duration, driver: Duration) {
        if round >= WARM_UP {
            self.service.push(service);
            self.driver.push(driver);
        }
    }

    fn report(&mut self, what: &str) {
        let service = percentile(&mut self.service, 0.5);
        let driver = percentile(&mut self.driver, 0.5);
        println!(
            "{what:<36} {service:>12.3} ms {:>12.3} ms {driver:>12.3} ms {:>12.3} ms {:>7.2}",
            percentile(&mut self.service, 0.99),
            percentile(&mut self.driver, 0.99),
            service / driver,
        );
    }
}

fn cpu_micros(mut work: impl FnMut()) -> f64 {
    let started = Instant::now();
    for _ in 0..CPU_ROUNDS {
        work();
    }
    started.elapsed().as_secs_f64() * 1e6 / f64::from(CPU_ROUNDS)
}

/// The store's MongoDB operations for the three endpoints, written directly against the driver:
/// the same reads, writes and transactions (`shared/src/store`, `appends`,
/// `chats::get_chat`, `branches::create_branch`), including the account-existence read
/// authenticated requests make (get-chat's live conversation stands for it) and
/// create-branch's ownership read before its transaction. Answers stay raw BSON, read only for
/// the fields the next step needs: the least any service could do, so decoding into types
/// counts as the service's overhead.
struct Bare {
    client: Client,
    db: Database,
    account: String,
}

impl Bare {
    async fn connect(database: &str, account: &str) -> Result<Self> {
        let mut options = ClientOptions::parse(mongodb_uri()).await?;
        // The store's defaults: majority-replicated and journaled writes, majority reads.
        options.write_concern = Some(durable());
        options.read_concern = Some(ReadConcern::majority());
        let client = Client::with_options(options)?;
        let db = client.database(database);
        Ok(Self {
            client,
            db,
            account: account.to_owned(),
        })
    }

    fn chats(&self) -> Collection<RawDocumentBuf> {
        self.db.collection("chats")
    }

    fn messages(&self) -> Collection<RawDocumentBuf> {
        self.db.collection("messages")
    }

    fn conversations(&self) -> Collection<RawDocumentBuf> {
        self.db.collection("conversations")
    }

    /// The token's account still exists: one read of the `_id` index.
    async fn account_exists(&self) -> Result<()> {
        self.db
            .collection::<RawDocumentBuf>("users")
            .find_one(doc! { "_id": &self.account })
            .projection(doc! { "_id": 1 })
            .await?
            .ok_or("no such account")?;
        Ok(())
    }

    /// The caller's live chat.
    async fn find_chat(&self, chat_id: &str) -> Result<RawDocumentBuf> {
        Ok(self
            .chats()
            .find_one(doc! { "account_id": &self.account, "chat_id": chat_id, "deleted_at": null })
            .await?
            .ok_or("no such chat")?)
    }

    fn transaction_options() -> TransactionOptions {
        TransactionOptions::builder()
            .read_concern(ReadConcern::snapshot())
            .write_concern(durable())
            .build()
    }

    /// In one transaction: the counter's `$inc`, the insert at its old value and the
    /// conversation's activity and version (and, for its active member, length and preview).
    /// (The service's group commit makes this a batch of one when requests come one at a time.)
    async fn add_message(&self, chat_id: &str, question: &str, response: &str) -> Result<()> {
        self.account_exists().await?;
        let preview: String = question.chars().take(200).collect();
        let mut session = self.client.start_session().await?;
        session
            .start_transaction()
            .with_options(Self::transaction_options())
            .await?;
        let counter = self
            .chats()
            .find_one_and_update(
                doc! { "account_id": &self.account, "chat_id": chat_id, "deleted_at": null },
                doc! { "$inc": { "message_count": 1 }, "$set": { "last_question": &preview } },
            )
            .projection(doc! { "_id": 0, "message_count": 1, "root_chat_id": 1 })
            .return_document(ReturnDocument::Before)
            .session(&mut session)
            .await?
            .ok_or("no such chat")?;
        let position = counter.get_i64("message_count")?;
        let root = counter.get_str("root_chat_id")?;
        let now = DateTime::now();
        let message = rawdoc! {
            "_id": ObjectId::new(),
            "chat_id": chat_id,
            "account_id": self.account.as_str(),
            "position": position,
            "question": question,
            "response": response,
            "response_id": uuid::Uuid::new_v4().to_string(),
            "timestamp": now,
        };
        self.messages()
            .insert_many([message])
            .session(&mut session)
            .await?;
        let is_active = doc! { "$eq": ["$active_branch_id", { "$literal": chat_id }] };
        let moved = self
            .conversations()
            .update_one(
                doc! { "_id": root, "account_id": &self.account, "trashed": false },
                vec![
                    doc! { "$set": {
                        "updated_at": now,
                        "active_length": { "$cond": [&is_active, position + 1, "$active_length"] },
                        "preview": { "$cond": [&is_active, { "$literal": &preview }, "$preview"] },
                    } },
                    doc! { "$set": { "version": { "$add": [{ "$ifNull": ["$version", 0] }, 1] } } },
                ],
            )
            .session(&mut session)
            .await?;
        if moved.matched_count != 1 {
            return Err("no such conversation".into());
        }
        session.commit_transaction().await?;
        Ok(())
    }

    /// One aggregation in a snapshot: the chat with its conversation's head, its branches and
    /// its newest page of messages (up to 100).
    async fn get_chat(&self, chat_id: &str) -> Result<()> {
        let read = bench::bare_get_chat(&self.client, &self.db, &self.account, chat_id)
            .await?
            .ok_or("no such chat")?;
        assert_eq!(read.get_array("branches")?.into_iter().count(), 2);
        assert_eq!(read.get_array("newest")?.into_iter().count(), MESSAGES);
        Ok(())
    }

    /// The parent, then, in one transaction, the parent again, one new chat document
    /// describing the inherited prefix and the conversation's branch count. (Branching at the
    /// parent's last message takes the preview from the parent: no message is read.)
    async fn create_branch(&self, parent_id: &str, index: i64, name: &str) -> Result<()> {
        self.account_exists().await?;
        let parent = self.find_chat(parent_id).await?;
        assert_eq!(index, parent.get_i64("message_count")? - 1);
        let root = parent.get_str("root_chat_id")?;
        let now = DateTime::now();
        let branch = rawdoc! {
            "_id": ObjectId::new(),
            "chat_id": uuid::Uuid::new_v4().to_string(),
            "account_id": self.account.as_str(),
            "name": name,
            "created_at": now,
            "root_chat_id": root,
            "parent_chat_id": parent_id,
            "created_from_message_index": index,
            // The parent is a root: the branch inherits one segment of it.
            "lineage": [{ "chat_id": parent_id, "upto": index }],
            "message_count": index + 1,
            "last_question": parent.get_str("last_question")?,
        };
        let mut session = self.client.start_session().await?;
        session
            .start_transaction()
            .with_options(Self::transaction_options())
            .await?;
        self.chats()
            .find_one(
                doc! { "account_id": &self.account, "chat_id": parent_id, "deleted_at": null },
            )
            .session(&mut session)
            .await?
            .ok_or("no such chat")?;
        self.chats()
            .insert_one(branch)
            .session(&mut session)
            .await?;
        self.conversations()
            .find_one_and_update(
                doc! { "_id": root, "account_id": &self.account, "trashed": false },
                doc! { "$inc": { "branch_count": 1, "version": 1 }, "$set": { "updated_at": now } },
            )
            .return_document(ReturnDocument::After)
            .session(&mut session)
            .await?
            .ok_or("no such conversation")?;
        session.commit_transaction().await?;
        Ok(())
    }
}

fn durable() -> WriteConcern {
    WriteConcern::builder()
        .w(Acknowledgment::Majority)
        .journal(true)
        .build()
}
