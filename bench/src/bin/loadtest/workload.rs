//! The simulated users: each client is one browser tab of an account, sending one request at a
//! time in a realistic mix. Several clients share an account and its chats, so appends and
//! branches also race on the same conversations. Every acknowledged write goes to the ledger,
//! which the verifier checks against what the service stores.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hyper::Method;
use serde_json::{Value, json};

use crate::api::{Api, Reply, query};

/// How a call ended, judged on the spot; 503s are judged later against the fault windows.
pub enum Kind {
    Ok,
    Unavailable,
    Failed(String),
}

pub struct Outcome {
    pub endpoint: &'static str,
    pub started: Instant,
    pub elapsed: Duration,
    pub kind: Kind,
}

/// A chat or branch whose creation was acknowledged.
pub struct ChatRecord {
    pub account: usize,
    pub chat_id: String,
    pub root_chat_id: String,
    /// `(parent, message_index)` for a branch.
    pub parent: Option<(String, usize)>,
}

pub struct AckedMessage {
    pub chat_id: String,
    pub index: usize,
    pub response_id: String,
    pub question: String,
    pub response: String,
}

/// Everything acknowledged or attempted during the run.
#[derive(Default)]
pub struct Ledger {
    pub chats: Vec<ChatRecord>,
    pub messages: Vec<AckedMessage>,
    /// Every question sent, answered or not, and the chat it was sent to: a stored message
    /// must be one of these, in that chat.
    pub questions: HashMap<String, String>,
    pub outcomes: Vec<Outcome>,
}

pub type SharedLedger = Arc<Mutex<Ledger>>;

/// What the clients of one account know about its chats.
struct Known {
    chat_id: String,
    root_chat_id: String,
    /// A lower bound on the visible length: acknowledged facts only.
    len: usize,
}

pub struct Account {
    pub index: usize,
    pub username: String,
    pub password: String,
    chats: Mutex<Vec<Known>>,
}

impl Account {
    pub fn new(index: usize, run: &str) -> Self {
        Self {
            index,
            username: format!("load-{run}-{index}"),
            password: format!("password-{run}-{index}"),
            chats: Mutex::new(Vec::new()),
        }
    }

    pub fn credentials(&self) -> Value {
        json!({"username": self.username, "password": self.password})
    }

    /// A known chat with at least `min_len` visible messages, if any.
    fn pick(&self, rng: &mut Rng, min_len: usize) -> Option<(String, String, usize)> {
        let chats = self.chats.lock().unwrap();
        let eligible: Vec<&Known> = chats.iter().filter(|c| c.len >= min_len).collect();
        (!eligible.is_empty()).then(|| {
            let c = eligible[rng.below(eligible.len())];
            (c.chat_id.clone(), c.root_chat_id.clone(), c.len)
        })
    }

    fn learn(&self, chat_id: &str, root_chat_id: &str, len: usize) {
        let mut chats = self.chats.lock().unwrap();
        match chats.iter_mut().find(|c| c.chat_id == chat_id) {
            Some(known) => known.len = known.len.max(len),
            None => chats.push(Known {
                chat_id: chat_id.to_owned(),
                root_chat_id: root_chat_id.to_owned(),
                len,
            }),
        }
    }
}

/// xorshift64*: deterministic per client, no dependency.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % n.max(1)
    }
}

pub struct Client {
    pub id: usize,
    pub api: Api,
    pub account: Arc<Account>,
    pub ledger: SharedLedger,
    rng: Rng,
    token: String,
    sent: usize,
}

impl Client {
    pub fn new(id: usize, api: Api, account: Arc<Account>, ledger: SharedLedger) -> Self {
        Self {
            rng: Rng::new(id as u64 + 1),
            id,
            api,
            account,
            ledger,
            token: String::new(),
            sent: 0,
        }
    }

    /// Sends requests until `deadline`, one at a time.
    pub async fn run(mut self, deadline: Instant) {
        while Instant::now() < deadline {
            if self.token.is_empty() {
                self.login().await;
                continue;
            }
            let roll = self.rng.below(100);
            let has_chat = self.account.pick(&mut self.rng, 0).is_some();
            match roll {
                _ if !has_chat => self.create_chat().await,
                0..40 => self.add_message().await,
                40..68 => self.get_chat().await,
                68..76 => self.create_chat().await,
                76..88 => self.create_branch().await,
                88..94 => self.set_active_branch().await,
                94..98 => self.get_branches().await,
                _ => self.login().await,
            }
        }
    }

    /// Records the outcome of a call expected to answer `expected`; returns the reply if it did.
    fn judge(&self, endpoint: &'static str, reply: Reply, expected: u16) -> Option<Reply> {
        let kind = if reply.is(expected) {
            Kind::Ok
        } else if reply.is_unavailable() {
            Kind::Unavailable
        } else {
            Kind::Failed(match reply.status {
                Some(status) => format!("{endpoint}: {status} {}", reply.body),
                None => format!(
                    "{endpoint}: no answer within {:.1} s",
                    reply.elapsed.as_secs_f64()
                ),
            })
        };
        let ok = matches!(kind, Kind::Ok);
        self.ledger.lock().unwrap().outcomes.push(Outcome {
            endpoint,
            started: reply.started,
            elapsed: reply.elapsed,
            kind,
        });
        ok.then_some(reply)
    }

    fn fail(&self, endpoint: &'static str, reply: &Reply, why: String) {
        self.ledger.lock().unwrap().outcomes.push(Outcome {
            endpoint,
            started: reply.started,
            elapsed: reply.elapsed,
            kind: Kind::Failed(format!("{endpoint}: {why}")),
        });
    }

    async fn login(&mut self) {
        let credentials = self.account.credentials();
        let reply = self
            .api
            .call(Method::POST, "/auth/login", None, Some(&credentials))
            .await;
        if let Some(reply) = self.judge("login", reply, 200) {
            self.token = reply.str("access_token");
        }
    }

    async fn create_chat(&mut self) {
        let body = json!({"name": format!("chat of client {}", self.id)});
        let reply = self.post("/chats/create-chat", &body).await;
        if let Some(reply) = self.judge("create-chat", reply, 200) {
            let chat_id = reply.str("chat_id");
            self.account.learn(&chat_id, &chat_id, 0);
            self.ledger.lock().unwrap().chats.push(ChatRecord {
                account: self.account.index,
                root_chat_id: chat_id.clone(),
                chat_id,
                parent: None,
            });
        }
    }

    async fn add_message(&mut self) {
        let Some((chat_id, root, _)) = self.account.pick(&mut self.rng, 0) else {
            return;
        };
        self.sent += 1;
        let question = format!(
            "question {}-{} from {}",
            self.id, self.sent, self.account.username
        );
        // Answers of varied length, as a model's would be.
        let response = format!("answer {}-{} ", self.id, self.sent).repeat(1 + self.rng.below(40));
        self.ledger
            .lock()
            .unwrap()
            .questions
            .insert(question.clone(), chat_id.clone());
        let body = json!({"chat_id": chat_id, "question": question, "response": response});
        let reply = self.post("/messages/add-message", &body).await;
        let Some(reply) = self.judge("add-message", reply, 200) else {
            return;
        };
        let Some(index) = reply.body["index"].as_u64() else {
            return self.fail("add-message", &reply, format!("no index in {}", reply.body));
        };
        let index = index as usize;
        self.account.learn(&chat_id, &root, index + 1);
        self.ledger.lock().unwrap().messages.push(AckedMessage {
            chat_id,
            index,
            response_id: reply.str("response_id"),
            question,
            response,
        });
    }

    async fn create_branch(&mut self) {
        let Some((parent, root, len)) = self.account.pick(&mut self.rng, 1) else {
            return self.add_message().await;
        };
        let index = self.rng.below(len);
        let body = json!({"parent_chat_id": parent, "message_index": index, "name": "alternative"});
        let reply = self.post("/branches/create-branch", &body).await;
        if let Some(reply) = self.judge("create-branch", reply, 200) {
            let branch_id = reply.str("branch_id");
            self.account.learn(&branch_id, &root, index + 1);
            self.ledger.lock().unwrap().chats.push(ChatRecord {
                account: self.account.index,
                chat_id: branch_id,
                root_chat_id: root,
                parent: Some((parent, index)),
            });
        }
    }

    async fn set_active_branch(&mut self) {
        let Some((chat_id, root, _)) = self.account.pick(&mut self.rng, 0) else {
            return;
        };
        // Both forms of the call: name the branch from the root, or activate the chat itself.
        let (path, body) = if self.rng.below(2) == 0 {
            (query(&root), Some(json!({"branch_id": chat_id})))
        } else {
            (query(&chat_id), None)
        };
        let path = format!("/branches/set-active-branch?{path}");
        let reply = self
            .api
            .call(Method::PUT, &path, Some(&self.token), body.as_ref())
            .await;
        self.judge("set-active-branch", reply, 200);
    }

    async fn get_chat(&mut self) {
        let Some((chat_id, _, len)) = self.account.pick(&mut self.rng, 0) else {
            return;
        };
        let path = format!("/chats/get-chat?{}", query(&chat_id));
        let reply = self.get(&path).await;
        if let Some(reply) = self.judge("get-chat", reply, 200) {
            // Acknowledged messages never disappear.
            let seen = reply.body["messages"].as_array().map_or(0, Vec::len);
            if seen < len {
                self.fail(
                    "get-chat",
                    &reply,
                    format!("{chat_id} shows {seen} messages, {len} were acknowledged"),
                );
            }
        }
    }

    async fn get_branches(&mut self) {
        let Some((chat_id, _, _)) = self.account.pick(&mut self.rng, 0) else {
            return;
        };
        let path = format!("/branches/get-branches?{}", query(&chat_id));
        let reply = self.get(&path).await;
        self.judge("get-branches", reply, 200);
    }

    async fn get(&self, path: &str) -> Reply {
        self.api
            .call(Method::GET, path, Some(&self.token), None)
            .await
    }

    async fn post(&self, path: &str, body: &Value) -> Reply {
        self.api
            .call(Method::POST, path, Some(&self.token), Some(body))
            .await
    }
}
