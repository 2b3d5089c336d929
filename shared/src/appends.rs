//! Group commit for add-message. Appends wait in their account's lane; the first to find the
//! lane idle leads: it takes everything waiting there and writes it in one transaction — each
//! chat's counter raised by the number of its messages (one find-and-modify for one chat; for
//! more, one read and one `update` command), one `insertMany` for all the messages, one
//! `update` command moving their conversations, one durable commit: five round trips at most,
//! however many chats — then hands the lead to the oldest append that
//! arrived meanwhile, so no request waits on more than the batch before its own. One request
//! at a time (a Lambda instance) is a batch of one.
//!
//! Nothing is weakened: a message is answered only after the commit that stores it is
//! majority-acknowledged and journaled; positions come from the counter inside the
//! transaction, so they stay dense and unique across processes (a conflict with another
//! process retries the whole batch); the conversation's `updated_at`, length and preview move
//! in the same commit; an `Idempotency-Key`'s answer is stored with its message.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use mongodb::bson::oid::ObjectId;
use mongodb::bson::{DateTime, doc};
use tokio::sync::oneshot;

use crate::chats::{Refused, keep_answer};
use crate::error::ApiError;
use crate::idempotency::Idempotency;
use crate::store::{Message, Store};
use crate::views::MessageView;

/// One add-message, validated.
pub(crate) struct Append {
    pub account_id: String,
    pub chat_id: String,
    pub question: String,
    pub response: String,
    pub idempotency: Option<Idempotency>,
    /// When its request must be answered: a batch finishes before its earliest member's.
    pub deadline: Instant,
}

pub(crate) struct Lanes {
    /// Per account with appends under way: its queue. Accounts never share one, so a
    /// request on someone else's chat id never waits behind that chat's owner.
    lanes: Arc<Mutex<HashMap<String, Lane>>>,
    next_id: AtomicU64,
}

#[derive(Default)]
struct Lane {
    waiting: Vec<Waiting>,
    /// Someone leads this lane (or has been handed the lead and is about to).
    busy: bool,
}

struct Waiting {
    id: u64,
    append: Arc<Append>,
    reply: oneshot::Sender<Reply>,
}

enum Reply {
    Done(Outcome),
    /// Lead the next batch (your own append was taken out of the queue for it).
    Lead,
}

type Outcome = Result<MessageView, ApiError>;

type Map = Mutex<HashMap<String, Lane>>;

impl Default for Lanes {
    fn default() -> Self {
        Self {
            lanes: Arc::default(),
            next_id: AtomicU64::new(0),
        }
    }
}

impl Lanes {
    /// Stores `append` (in a batch with whatever else its account is appending) and answers it.
    pub async fn submit(&self, store: &Store, append: Append) -> Outcome {
        let store = store.clone();
        self.submit_with(
            append,
            move |batch| async move { write(&store, &batch).await },
        )
        .await
    }

    /// `submit`, with the batch written by `write` (one outcome per append, in order).
    async fn submit_with<W, F>(&self, append: Append, write: W) -> Outcome
    where
        W: FnOnce(Vec<Arc<Append>>) -> F + Send + 'static,
        F: Future<Output = Vec<Outcome>> + Send,
    {
        let account = append.account_id.clone();
        let append = Arc::new(append);
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (reply, answer) = oneshot::channel();
        let lead = {
            let mut lanes = lock(&self.lanes);
            let lane = lanes.entry(account.clone()).or_default();
            if lane.busy {
                lane.waiting.push(Waiting {
                    id,
                    append: append.clone(),
                    reply,
                });
                false
            } else {
                lane.busy = true;
                true
            }
        };
        if !lead {
            let mut queued = Queued {
                lanes: &self.lanes,
                account: &account,
                id,
                answer: Some(answer),
            };
            let reply = queued.answer.as_mut().expect("unanswered").await;
            queued.answer = None;
            match reply {
                Ok(Reply::Done(outcome)) => return outcome,
                Ok(Reply::Lead) => {}
                // The batch that took it failed without answering (a panic).
                Err(_) => return Err(ApiError::Internal),
            }
        }
        // The batch runs in a task of its own, so that it finishes, answers every append in
        // it and passes the lead on even if this request goes away meanwhile (a driver
        // operation dropped half-way also costs the whole process its connections for a
        // while).
        let lanes = self.lanes.clone();
        let batch = tokio::spawn(async move {
            let _leading = Leading {
                lanes: &lanes,
                account: &account,
            };
            let waiting: Vec<Waiting> = lock(&lanes)
                .get_mut(&account)
                .map(|lane| std::mem::take(&mut lane.waiting))
                .unwrap_or_default();
            let mut appends = vec![append];
            appends.extend(waiting.iter().map(|w| w.append.clone()));
            let mut outcomes = write(appends).await.into_iter();
            let own = outcomes.next().expect("one outcome per append");
            for (waiting, outcome) in waiting.into_iter().zip(outcomes) {
                let _ = waiting.reply.send(Reply::Done(outcome));
            }
            own
        });
        // A panicking batch has answered nobody: its appends may or may not be stored.
        batch.await.unwrap_or(Err(ApiError::Internal))
    }
}

fn lock(lanes: &Map) -> MutexGuard<'_, HashMap<String, Lane>> {
    lanes.lock().unwrap_or_else(|e| e.into_inner())
}

/// Hands the account's lead to its oldest waiting append, or lets the lane go.
fn hand_off(lanes: &Map, account: &str) {
    let mut lanes = lock(lanes);
    let Some(lane) = lanes.get_mut(account) else {
        return;
    };
    while !lane.waiting.is_empty() {
        let next = lane.waiting.remove(0);
        // Fails only if that request is gone; then the next one leads.
        if next.reply.send(Reply::Lead).is_ok() {
            return;
        }
    }
    lanes.remove(account);
}

/// The leader's hold on its lane: released however the batch ends, even in a panic.
struct Leading<'a> {
    lanes: &'a Map,
    account: &'a str,
}

impl Drop for Leading<'_> {
    fn drop(&mut self) {
        hand_off(self.lanes, self.account);
    }
}

/// A queued append's place. Dropped unanswered (its request timed out or went away), it
/// leaves the queue, so nothing is stored for it; handed the lead it did not take, it passes
/// the lead on.
struct Queued<'a> {
    lanes: &'a Map,
    account: &'a str,
    id: u64,
    answer: Option<oneshot::Receiver<Reply>>,
}

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        let Some(mut answer) = self.answer.take() else {
            return;
        };
        if let Ok(Reply::Lead) = answer.try_recv() {
            hand_off(self.lanes, self.account);
        } else if let Some(lane) = lock(self.lanes).get_mut(self.account) {
            lane.waiting.retain(|w| w.id != self.id);
        }
    }
}

/// Writes a batch in one transaction, retried without the appends it must refuse (a chat
/// that is gone, a key another request holds); one outcome per append, in order.
async fn write(store: &Store, appends: &[Arc<Append>]) -> Vec<Outcome> {
    let mut outcomes: Vec<Option<Outcome>> = appends.iter().map(|_| None).collect();
    let deadline = appends.iter().map(|a| a.deadline).min().expect("an append");
    loop {
        let live: Vec<usize> = (0..appends.len())
            .filter(|&i| outcomes[i].is_none())
            .collect();
        if live.is_empty() {
            break;
        }
        let batch: Vec<&Append> = live.iter().map(|&i| &*appends[i]).collect();
        let batch = &batch;
        let written = crate::routes::within(deadline, async {
            // No turn to wait for: the lane already makes the account's appends take turns.
            store
                .transaction_without_turn(|session| async move {
                    let mut session = session.lock().await;
                    write_in(store, &mut session, batch).await
                })
                .await
        })
        .await;
        match written {
            Ok(Ok(views)) => {
                for (&i, view) in live.iter().zip(views) {
                    outcomes[i] = Some(Ok(view));
                }
            }
            Ok(Err(refused)) => {
                for (j, refusal) in refused {
                    outcomes[live[j]] = Some(Err(refusal.into_error()));
                }
            }
            Err(error) => {
                for &i in &live {
                    outcomes[i] = Some(Err(error.clone()));
                }
            }
        }
    }
    outcomes
        .into_iter()
        .map(|o| o.expect("every append answered"))
        .collect()
}

/// The batch's writes inside the transaction: `Ok(Err(_))` names the appends to refuse (the
/// transaction is then aborted and run again without them). Round trips do not grow with the
/// number of chats: counters (`take_positions_of`), messages, conversations, commit.
async fn write_in(
    store: &Store,
    session: &mut mongodb::ClientSession,
    batch: &[&Append],
) -> mongodb::error::Result<Result<Vec<MessageView>, Vec<(usize, Refused)>>> {
    // A lane is one account's: so is its batch.
    let account_id = batch[0].account_id.as_str();
    // Per chat, its appends in arrival order.
    let mut chats: Vec<(&str, Vec<usize>)> = Vec::new();
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, append) in batch.iter().enumerate() {
        let at = *seen.entry(append.chat_id.as_str()).or_insert_with(|| {
            chats.push((append.chat_id.as_str(), Vec::new()));
            chats.len() - 1
        });
        chats[at].1.push(i);
    }
    let previews: Vec<String> = chats
        .iter()
        .map(|(_, members)| {
            crate::messages::preview(&batch[*members.last().expect("one")].question)
        })
        .collect();
    let takes: Vec<(&str, i64, &str)> = chats
        .iter()
        .zip(&previews)
        .map(|((chat_id, members), last)| (*chat_id, members.len() as i64, last.as_str()))
        .collect();
    let taken = store.take_positions_of(session, account_id, &takes).await?;
    let now = DateTime::now();
    let mut messages: Vec<Option<Message>> = batch.iter().map(|_| None).collect();
    let mut refused = Vec::new();
    // Per chat found: its appends, and its conversation's update.
    let (mut found, mut updates) = (Vec::new(), Vec::new());
    for (((chat_id, members), preview), before) in chats.iter().zip(&previews).zip(taken) {
        let Some(before) = before else {
            refused.extend(members.iter().map(|&i| (i, Refused::NotFound)));
            continue;
        };
        for (k, &i) in members.iter().enumerate() {
            let append = batch[i];
            messages[i] = Some(Message {
                id: ObjectId::new(),
                chat_id: append.chat_id.clone(),
                account_id: append.account_id.clone(),
                position: before.message_count + k as i64,
                question: append.question.clone(),
                response: append.response.clone(),
                response_id: uuid::Uuid::new_v4().to_string(),
                timestamp: now,
            });
        }
        let length = before.message_count + members.len() as i64;
        // User text goes in as `$literal`: in a pipeline, a string starting with `$` would be
        // read as a field path.
        let is_active = doc! { "$eq": ["$active_branch_id", { "$literal": *chat_id }] };
        let update = vec![doc! { "$set": {
            "updated_at": now,
            "active_length": { "$cond": [&is_active, length, "$active_length"] },
            "preview": { "$cond": [&is_active, { "$literal": preview }, "$preview"] },
        } }];
        found.push(members);
        updates.push((before.root_chat_id, update));
    }
    if !refused.is_empty() {
        return Ok(Err(refused));
    }
    let messages: Vec<Message> = messages.into_iter().flatten().collect();
    store.insert_messages(session, &messages).await?;
    let touched = store
        .touch_conversations(session, account_id, updates)
        .await?;
    for (members, touched) in found.into_iter().zip(touched) {
        if !touched {
            refused.extend(members.iter().map(|&i| (i, Refused::NotFound)));
        }
    }
    if !refused.is_empty() {
        return Ok(Err(refused));
    }
    let views: Vec<MessageView> = messages.into_iter().map(MessageView::from).collect();
    for (i, append) in batch.iter().enumerate() {
        if let Err(refusal) =
            keep_answer(store, session, append.idempotency.as_ref(), &views[i]).await?
        {
            // A duplicate key ends the transaction: the rest go again without this one.
            return Ok(Err(vec![(i, refusal)]));
        }
    }
    Ok(Ok(views))
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex as Shared;
    use std::time::Duration;

    use super::*;

    fn append(chat: &str, question: &str) -> Append {
        Append {
            account_id: "account".into(),
            chat_id: chat.into(),
            question: question.into(),
            response: String::new(),
            idempotency: None,
            deadline: Instant::now() + Duration::from_secs(10),
        }
    }

    /// A writer that takes `pause` per batch, records each batch's questions, and answers
    /// each append with its own question.
    type Batch = std::pin::Pin<Box<dyn Future<Output = Vec<Outcome>> + Send>>;

    fn recorder(
        batches: Arc<Shared<Vec<Vec<String>>>>,
        pause: Duration,
    ) -> impl FnOnce(Vec<Arc<Append>>) -> Batch + Send + 'static {
        move |batch| {
            Box::pin(async move {
                tokio::time::sleep(pause).await;
                let questions: Vec<String> = batch.iter().map(|a| a.question.clone()).collect();
                batches.lock().unwrap().push(questions.clone());
                questions
                    .into_iter()
                    .enumerate()
                    .map(|(i, question)| {
                        Ok(MessageView {
                            index: i as i64,
                            question,
                            response: String::new(),
                            response_id: String::new(),
                            timestamp: String::new(),
                        })
                    })
                    .collect()
            })
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn appends_arriving_together_share_batches_and_each_gets_its_own_answer() {
        let lanes = Arc::new(Lanes::default());
        let batches = Arc::new(Shared::new(Vec::new()));
        let tasks: Vec<_> = (0..50)
            .map(|i| {
                let (lanes, batches) = (lanes.clone(), batches.clone());
                tokio::spawn(async move {
                    let write = recorder(batches, Duration::from_millis(5));
                    lanes
                        .submit_with(append("chat", &format!("q{i}")), write)
                        .await
                })
            })
            .collect();
        for (i, task) in tasks.into_iter().enumerate() {
            assert_eq!(task.await.unwrap().unwrap().question, format!("q{i}"));
        }
        let batches = batches.lock().unwrap();
        assert_eq!(
            batches.iter().map(Vec::len).sum::<usize>(),
            50,
            "each written once"
        );
        assert!(
            batches.len() < 25,
            "appends coalesce: {} batches",
            batches.len()
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn appends_dropped_while_queued_are_not_written_and_leave_no_lane_stuck() {
        let lanes = Arc::new(Lanes::default());
        let batches = Arc::new(Shared::new(Vec::new()));
        let tasks: Vec<_> = (0..40)
            .map(|i| {
                let (lanes, batches) = (lanes.clone(), batches.clone());
                tokio::spawn(async move {
                    let write = recorder(batches, Duration::from_millis(20));
                    lanes
                        .submit_with(append("chat", &format!("q{i}")), write)
                        .await
                })
            })
            .collect();
        // Every other request goes away, wherever it is: leading, queued, or handed the lead.
        for (i, task) in tasks.iter().enumerate() {
            if i % 2 == 1 {
                tokio::time::sleep(Duration::from_millis(2)).await;
                task.abort();
            }
        }
        let mut answered = Vec::new();
        for (i, task) in tasks.into_iter().enumerate() {
            match task.await {
                Ok(outcome) => answered.push(outcome.unwrap().question),
                Err(cancelled) => assert!(cancelled.is_cancelled() && i % 2 == 1),
            }
        }
        // The lane still serves at once.
        let write = recorder(batches.clone(), Duration::ZERO);
        let next = tokio::time::timeout(
            Duration::from_secs(2),
            lanes.submit_with(append("chat", "after"), write),
        )
        .await
        .expect("the lane is not stuck");
        assert_eq!(next.unwrap().question, "after");
        let written: Vec<String> = batches.lock().unwrap().concat();
        for question in &answered {
            assert_eq!(written.iter().filter(|w| *w == question).count(), 1);
        }
        // A dropped request's append is written only if a batch had taken it already.
        assert!(written.len() <= 41 && written.len() > answered.len());
    }

    #[tokio::test]
    async fn a_failing_batch_answers_its_appends_and_frees_the_lane() {
        let lanes = Lanes::default();
        let outcome = lanes
            .submit_with(append("chat", "boom"), |_| async {
                panic!("writer failed")
            })
            .await;
        assert!(matches!(outcome, Err(ApiError::Internal)));
        let batches = Arc::new(Shared::new(Vec::new()));
        let write = recorder(batches, Duration::ZERO);
        let next = lanes.submit_with(append("chat", "fine"), write).await;
        assert_eq!(next.unwrap().question, "fine");
    }
}
