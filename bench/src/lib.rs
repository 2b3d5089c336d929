//! What the benchmarks share: an in-process caller of the real handlers (the same entry point
//! the Lambda runtime uses, fed requests built by `shared::gateway`, the one builder of "a
//! request as API Gateway delivers it", with bodies from the typed structs of
//! `shared::requests`), direct seeding of MongoDB in the store's own document shapes, and a
//! little statistics.

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mongodb::bson::{DateTime, RawDocumentBuf};
use mongodb::options::{
    Acknowledgment, ClientOptions, CollectionOptions, ReadConcern, WriteConcern,
};
use serde::Serialize;
use serde_json::Value;
use shared::gateway::GatewayRequest;
use shared::lambda_http::Request;
use shared::requests::{Credentials, NewBranch, NewChat, NewMessage};
use shared::store::{Chat, Conversation, Message};
use shared::views::{ChatView, MessageView, NewBranchView};
use shared::{App, Config, Endpoint};

/// The JWT secret of every app the benchmarks build, so any app accepts any caller's token.
pub const SECRET: &[u8] = b"benchmark-secret-benchmark-secret!";

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

/// Calls handlers in-process, as one account, on a database of its own (or, with
/// `another_account`, as a second account on the same one).
pub struct Caller {
    pub app: Arc<App>,
    /// The account's id: the `sub` of its tokens (a UUID, not the username).
    pub account_id: String,
    token: String,
}

impl Caller {
    pub async fn new(database_prefix: &str) -> Self {
        let database = format!(
            "{database_prefix}_{}",
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        let app = App::new(Config::new(mongodb_uri(), database), SECRET)
            .await
            .expect("app");
        Self::register(Arc::new(app), "bench").await
    }

    /// Another account, on the same app and database.
    pub async fn another_account(&self, username: &str) -> Self {
        Self::register(self.app.clone(), username).await
    }

    /// A new account `username` (password `password123`), registered and logged in on `app`.
    pub async fn register(app: Arc<App>, username: &str) -> Self {
        let mut caller = Self {
            app,
            account_id: String::new(),
            token: String::new(),
        };
        let credentials = Credentials {
            username: username.to_owned(),
            password: "password123".to_owned(),
        };
        let account = caller.call(Endpoint::Register, &[], &credentials).await;
        caller.account_id = account["account_id"]
            .as_str()
            .expect("account id")
            .to_owned();
        let login = caller.call(Endpoint::Login, &[], &credentials).await;
        caller.token = login["access_token"].as_str().expect("token").to_owned();
        caller
    }

    /// A request to `endpoint` as API Gateway would hand it over, with this account's token.
    pub fn gateway(&self, endpoint: Endpoint) -> GatewayRequest {
        let request = GatewayRequest::to(endpoint);
        match self.token.is_empty() {
            true => request,
            false => request.bearer(&self.token),
        }
    }

    /// A request with query parameters and, unless `None`, a JSON body.
    pub fn request(
        &self,
        endpoint: Endpoint,
        query: &[(&str, &str)],
        body: Option<&impl Serialize>,
    ) -> Request {
        let request = self.gateway(endpoint).query(query);
        match body {
            Some(body) => request.json(body).build(),
            None => request.build(),
        }
    }

    /// One request through `Endpoint::handle`; panics unless it succeeds.
    pub async fn send(&self, endpoint: Endpoint, request: Request) -> Value {
        let response = endpoint.handle(&self.app, request).await;
        let status = response.status();
        let value: Value = serde_json::from_slice(response.body().as_ref()).expect("JSON body");
        let route = endpoint.route();
        assert!(
            status.is_success(),
            "{} {}: {status} {value}",
            route.method,
            route.path
        );
        value
    }

    /// A request without a body (query parameters only).
    pub async fn get(&self, endpoint: Endpoint, query: &[(&str, &str)]) -> Value {
        self.send(endpoint, self.request(endpoint, query, None::<&()>))
            .await
    }

    /// A request with a JSON body.
    pub async fn call(
        &self,
        endpoint: Endpoint,
        query: &[(&str, &str)],
        body: &impl Serialize,
    ) -> Value {
        self.send(endpoint, self.request(endpoint, query, Some(body)))
            .await
    }

    pub async fn create_chat(&self, name: &str) -> String {
        let body = NewChat {
            name: name.to_owned(),
        };
        let chat = self.call(Endpoint::CreateChat, &[], &body).await;
        chat["chat_id"].as_str().unwrap().to_owned()
    }

    pub async fn add_message(&self, chat_id: &str, question: &str, response: &str) -> MessageView {
        let body = NewMessage {
            chat_id: chat_id.to_owned(),
            question: question.to_owned(),
            response: response.to_owned(),
        };
        typed(self.call(Endpoint::AddMessage, &[], &body).await)
    }

    pub async fn add_messages(&self, chat_id: &str, n: usize) {
        for i in 0..n {
            self.add_message(chat_id, &format!("question {i}"), &format!("answer {i}"))
                .await;
        }
    }

    pub async fn create_branch(&self, parent: &str, index: usize) -> String {
        let body = NewBranch {
            parent_chat_id: parent.to_owned(),
            message_index: index as i64,
            name: "branch".to_owned(),
        };
        let branch: NewBranchView = typed(self.call(Endpoint::CreateBranch, &[], &body).await);
        branch.branch_id
    }

    /// A page of a chat: the newest `limit` (default 100) messages before `before`.
    pub async fn get_chat(
        &self,
        chat_id: &str,
        limit: Option<usize>,
        before: Option<usize>,
    ) -> ChatView {
        let (limit, before) = (limit.map(|n| n.to_string()), before.map(|n| n.to_string()));
        let mut query = vec![("chat_id", chat_id)];
        query.extend(limit.as_deref().map(|l| ("limit", l)));
        query.extend(before.as_deref().map(|b| ("before", b)));
        typed(self.get(Endpoint::GetChat, &query).await)
    }

    /// The whole visible history of a chat, read page by page with `before`, oldest first.
    pub async fn history(&self, chat_id: &str) -> Vec<MessageView> {
        let mut page = self.get_chat(chat_id, None, None).await;
        let mut pages = vec![std::mem::take(&mut page.messages)];
        while let Some(before) = page.next_before {
            page = self.get_chat(chat_id, None, Some(before as usize)).await;
            pages.push(std::mem::take(&mut page.messages));
        }
        pages.into_iter().rev().flatten().collect()
    }
}

/// An answer as the typed view it must be.
pub fn typed<T: serde::de::DeserializeOwned>(value: Value) -> T {
    serde_json::from_value(value.clone())
        .unwrap_or_else(|e| panic!("unexpected answer {value}: {e}"))
}

/// Writes documents straight into the service's database, in the store's own shapes
/// (`shared::store::{Chat, Conversation, Message}`, built by `shared::tree`), for sizes the API
/// would take minutes to reach. Majority-acknowledged, as the store writes.
pub struct Seeder {
    pub db: mongodb::Database,
}

/// One seeded conversation: a root chat with its messages.
pub struct Seeded {
    pub chat_id: String,
    pub messages: usize,
}

impl Seeder {
    pub async fn new(database: &str) -> Self {
        let mut options = ClientOptions::parse(mongodb_uri())
            .await
            .expect("MongoDB URI");
        options.write_concern = Some(WriteConcern::builder().w(Acknowledgment::Majority).build());
        let client = mongodb::Client::with_options(options).expect("MongoDB client");
        Self {
            db: client.database(database),
        }
    }

    /// `count` conversations of `account_id`, each a root chat holding the messages
    /// `text(conversation, position)` gives for positions `0..messages`. Message times are one
    /// millisecond apart, conversation activity one second apart (the last one newest).
    pub async fn conversations(
        &self,
        account_id: &str,
        count: usize,
        messages: usize,
        text: impl Fn(usize, usize) -> (String, String),
    ) -> Vec<Seeded> {
        let start = DateTime::now().timestamp_millis() - (count * messages) as i64 - 1000;
        let (mut chats, mut conversations, mut batch) = (Vec::new(), Vec::new(), Vec::new());
        let mut seeded = Vec::with_capacity(count);
        for c in 0..count {
            let (mut chat, mut conversation) =
                shared::tree::new_root(account_id, &format!("seeded {c}"));
            let mut last_question = None;
            for position in 0..messages {
                let (question, response) = text(c, position);
                last_question = Some(shared::messages::preview(&question));
                batch.push(Message {
                    id: mongodb::bson::oid::ObjectId::new(),
                    chat_id: chat.chat_id.clone(),
                    account_id: account_id.to_owned(),
                    position: position as i64,
                    question,
                    response,
                    response_id: uuid::Uuid::new_v4().to_string(),
                    timestamp: DateTime::from_millis(start + (c * messages + position) as i64),
                });
                if batch.len() == 10_000 {
                    self.insert("messages", std::mem::take(&mut batch)).await;
                }
            }
            let activity = DateTime::from_millis(
                DateTime::now().timestamp_millis() - (count - c) as i64 * 1000,
            );
            chat.message_count = messages as i64;
            chat.last_question.clone_from(&last_question);
            conversation.active_length = messages as i64;
            conversation.preview = last_question;
            conversation.updated_at = activity;
            seeded.push(Seeded {
                chat_id: chat.chat_id.clone(),
                messages,
            });
            chats.push(chat);
            conversations.push(conversation);
            if chats.len() == 10_000 {
                self.insert::<Chat>("chats", std::mem::take(&mut chats))
                    .await;
                self.insert::<Conversation>("conversations", std::mem::take(&mut conversations))
                    .await;
            }
        }
        self.insert("messages", batch).await;
        self.insert("chats", chats).await;
        self.insert("conversations", conversations).await;
        seeded
    }

    /// One conversation tree of `account_id`, written directly: a root holding `messages`
    /// messages, then a branch per `(parent, cut, own)` in order — cut from member `parent`
    /// (an index into the members so far, the root being 0) after its visible message `cut`,
    /// holding `own` messages of its own. Built by `shared::tree`'s rules, as create-branch
    /// builds them. Returns the members' chat ids, root first.
    pub async fn tree(
        &self,
        account_id: &str,
        name: &str,
        messages: usize,
        branches: &[(usize, usize, usize)],
    ) -> Vec<String> {
        let (mut root, mut conversation) = shared::tree::new_root(account_id, name);
        let mut stored = Vec::new();
        let mut add = |chat: &mut Chat, visible: &mut Vec<String>, n: usize| {
            for _ in 0..n {
                let position = chat.message_count;
                let question = format!("question {} of {}", position, chat.chat_id);
                stored.push(Message {
                    id: mongodb::bson::oid::ObjectId::new(),
                    chat_id: chat.chat_id.clone(),
                    account_id: account_id.to_owned(),
                    position,
                    question: question.clone(),
                    response: format!("answer {position}"),
                    response_id: uuid::Uuid::new_v4().to_string(),
                    timestamp: DateTime::now(),
                });
                chat.message_count += 1;
                chat.last_question = Some(shared::messages::preview(&question));
                visible.push(question);
            }
        };
        let mut root_visible = Vec::new();
        add(&mut root, &mut root_visible, messages);
        let mut members = vec![(root, root_visible)];
        for (i, &(parent, cut, own)) in branches.iter().enumerate() {
            let (parent, visible) = &members[parent];
            assert!(cut < visible.len(), "branch {i}: cut {cut} past its parent");
            let preview = Some(shared::messages::preview(&visible[cut]));
            let mut branch =
                shared::tree::new_branch(parent, cut as i64, &format!("branch {i}"), preview);
            let mut visible = visible[..=cut].to_vec();
            add(&mut branch, &mut visible, own);
            members.push((branch, visible));
        }
        let root = &members[0].0;
        conversation.branch_count = branches.len() as i64;
        conversation.active_length = root.message_count;
        conversation.preview.clone_from(&root.last_question);
        let ids = members.iter().map(|(c, _)| c.chat_id.clone()).collect();
        self.insert("messages", stored).await;
        self.insert("chats", members.into_iter().map(|(c, _)| c).collect())
            .await;
        self.insert("conversations", vec![conversation]).await;
        ids
    }

    /// Removes a whole conversation (every member and message) of `account_id`, straight
    /// from the database: a benchmark's clean-up between rounds.
    pub async fn remove_conversation(&self, account_id: &str, root: &str) {
        let chats = self.db.collection::<mongodb::bson::Document>("chats");
        let filter = mongodb::bson::doc! { "account_id": account_id, "root_chat_id": root };
        let ids: Vec<String> = chats
            .distinct("chat_id", filter.clone())
            .await
            .expect("members")
            .into_iter()
            .filter_map(|id| id.as_str().map(str::to_owned))
            .collect();
        let messages = mongodb::bson::doc! { "account_id": account_id, "chat_id": { "$in": &ids } };
        let conversation = mongodb::bson::doc! { "account_id": account_id, "_id": root };
        let db = &self.db;
        db.collection::<mongodb::bson::Document>("messages")
            .delete_many(messages)
            .await
            .expect("remove messages");
        chats.delete_many(filter).await.expect("remove chats");
        db.collection::<mongodb::bson::Document>("conversations")
            .delete_one(conversation)
            .await
            .expect("remove the conversation");
    }

    async fn insert<T: Serialize + Send + Sync>(&self, collection: &str, documents: Vec<T>) {
        if documents.is_empty() {
            return;
        }
        self.db
            .collection::<T>(collection)
            .insert_many(documents)
            .ordered(false)
            .await
            .unwrap_or_else(|e| panic!("seeding {collection}: {e}"));
    }
}

/// get-chat's read written out for the driver, as `shared::store` runs it: the live chat, with
/// its conversation's head, its live branches and the newest page (100) of its own messages
/// (the bare-driver sides of the benchmarks).
pub fn get_chat_pipeline(account: &str, chat_id: &str) -> Vec<mongodb::bson::Document> {
    use mongodb::bson::doc;
    vec![
        doc! { "$match": { "account_id": account, "chat_id": chat_id, "deleted_at": null } },
        doc! { "$replaceWith": { "chat": "$$ROOT" } },
        doc! { "$lookup": {
            "from": "conversations",
            "localField": "chat.root_chat_id",
            "foreignField": "_id",
            "pipeline": [
                { "$match": { "account_id": account, "trashed": false } },
                { "$project": { "_id": 0, "active_branch_id": 1, "version": 1 } },
            ],
            "as": "conversation",
        } },
        doc! { "$lookup": {
            "from": "chats",
            "pipeline": [
                { "$match": { "account_id": account, "parent_chat_id": chat_id, "deleted_at": null } },
                { "$sort": { "created_at": 1, "_id": 1 } },
            ],
            "as": "branches",
        } },
        doc! { "$lookup": {
            "from": "messages",
            "pipeline": [
                { "$match": { "account_id": account, "chat_id": chat_id } },
                { "$sort": { "position": -1 } },
                { "$limit": 100 },
            ],
            "as": "newest",
        } },
    ]
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

/// Prints two sides' medians and p90s and the ratio of their medians, against a target.
pub fn report_pair(
    what: &str,
    base: (&str, &mut [Duration]),
    other: (&str, &mut [Duration]),
    target: Option<f64>,
) -> f64 {
    let (base_median, base_p90) = summary(base.1);
    let (other_median, other_p90) = summary(other.1);
    println!(
        "{what}: {:<34} median {base_median:.3} ms  p90 {base_p90:.3} ms",
        base.0
    );
    println!(
        "{what}: {:<34} median {other_median:.3} ms  p90 {other_p90:.3} ms",
        other.0
    );
    let ratio = other_median / base_median;
    match target {
        Some(target) => println!("{what}: ratio of medians {ratio:.2} (target ≤ {target})\n"),
        None => println!("{what}: ratio of medians {ratio:.2}\n"),
    }
    ratio
}

/// get-chat's read on the bare driver, as `shared::store` runs it for a root chat: one
/// aggregation (`get_chat_pipeline`) in a snapshot. Answers its document (none for an unknown
/// chat), messages included, left as raw BSON.
pub async fn bare_get_chat(
    client: &mongodb::Client,
    db: &mongodb::Database,
    account: &str,
    chat_id: &str,
) -> mongodb::error::Result<Option<RawDocumentBuf>> {
    let mut session = client.start_session().snapshot(true).await?;
    let snapshot = CollectionOptions::builder()
        .read_concern(ReadConcern::snapshot())
        .build();
    db.collection_with_options::<RawDocumentBuf>("chats", snapshot)
        .aggregate(get_chat_pipeline(account, chat_id))
        .with_type::<RawDocumentBuf>()
        .session(&mut session)
        .await?
        .next(&mut session)
        .await
        .transpose()
}
