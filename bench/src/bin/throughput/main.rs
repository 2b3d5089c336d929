//! Throughput at concurrency, in one run on one mongod: closed-loop workers (each sends its next
//! request when the last one is answered) drive
//! - the service: `Endpoint::handle`, the function the Lambda runtime and the local server
//!   call, in this process; and
//! - the bare driver: the same MongoDB operations written directly (`bare.rs`), and for
//!   add-message the alternative designs compared before choosing one;
//!
//! for the same time each, alternating twice so drift on the machine hits every side alike.
//! Messages are 200 + 1,000 bytes. Prints requests/s, median and p99 latency, ratios, and this
//! process's CPU per request (what the client side takes from the cores mongod also needs).
//!
//! Run: `cargo run --release -p bench --bin throughput [seconds per phase, default 3]
//! [scenario…]` with scenarios `append64`, `append1`, `get`, `create`, `designs` (default: all).

mod bare;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bench::{Caller, percentile};
use shared::Endpoint;
use shared::lambda_http::http::header;
use shared::requests::{NewChat, NewMessage};

use bare::{Bare, Design};

/// Visible messages of the chat read.
const MESSAGES: usize = 50;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// A question and answer of realistic size (200 and 1,000 bytes).
fn texts(i: u64) -> (String, String) {
    let question = format!("{i:>8} {}", "How do branches work? ".repeat(9));
    let response = format!("{i:>8} {}", "Each branch is a chat of its own. ".repeat(30));
    (question[..200].to_owned(), response[..1000].to_owned())
}

/// What one side did in one scenario.
#[derive(Default)]
struct Stats {
    done: u64,
    errors: u64,
    elapsed: Duration,
    latencies: Vec<Duration>,
    /// This process's CPU time (user + system) while the side ran: the client's share of
    /// the two cores, which mongod gets less of.
    cpu: Duration,
}

impl Stats {
    fn per_second(&self) -> f64 {
        self.done as f64 / self.elapsed.as_secs_f64()
    }

    fn merge(&mut self, other: Stats) {
        self.done += other.done;
        self.errors += other.errors;
        self.elapsed += other.elapsed;
        self.latencies.extend(other.latencies);
        self.cpu += other.cpu;
    }

    fn line(&mut self, what: &str) -> String {
        format!(
            "  {what:<44} {:>8.0} req/s   median {:>7.2} ms   p99 {:>7.2} ms   errors {}   client CPU {:>4.0} µs/req",
            self.per_second(),
            percentile(&mut self.latencies, 0.5),
            percentile(&mut self.latencies, 0.99),
            self.errors,
            self.cpu.as_secs_f64() * 1e6 / self.done.max(1) as f64
        )
    }
}

/// `workers` closed loops calling `op(worker, iteration)` for `duration`; `op` answers whether
/// the call succeeded.
async fn drive<F, Fut>(workers: usize, duration: Duration, op: F) -> Stats
where
    F: Fn(usize, u64) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = bool> + Send,
{
    let started = Instant::now();
    let until = started + duration;
    let tasks: Vec<_> = (0..workers)
        .map(|worker| {
            let op = op.clone();
            tokio::spawn(async move {
                let mut stats = Stats::default();
                let mut i = 0;
                while Instant::now() < until {
                    let began = Instant::now();
                    let ok = op(worker, i).await;
                    stats.latencies.push(began.elapsed());
                    match ok {
                        true => stats.done += 1,
                        false => stats.errors += 1,
                    }
                    i += 1;
                }
                stats
            })
        })
        .collect();
    let mut total = Stats::default();
    for task in tasks {
        total.merge(task.await.expect("worker"));
    }
    total.elapsed = started.elapsed();
    total
}

/// A side of a comparison: a name and a closed-loop run of it.
type Side<'a> = (
    String,
    Box<dyn Fn() -> std::pin::Pin<Box<dyn Future<Output = Stats> + Send + 'a>> + 'a>,
);

/// Runs every side twice, alternating, and prints them with their ratio to the first.
async fn compare(title: &str, sides: Vec<Side<'_>>) -> Vec<f64> {
    let mut totals: Vec<Stats> = sides.iter().map(|_| Stats::default()).collect();
    for _round in 0..2 {
        for (i, (_, run)) in sides.iter().enumerate() {
            let before = process_cpu();
            let mut stats = run().await;
            stats.cpu = process_cpu().saturating_sub(before);
            totals[i].merge(stats);
        }
    }
    println!("{title}");
    let first = totals[0].per_second();
    let mut rates = Vec::new();
    for ((name, _), stats) in sides.iter().zip(&mut totals) {
        let rate = stats.per_second();
        println!("{}   × {:.2}", stats.line(name), rate / first);
        rates.push(rate);
    }
    rates
}

/// CPU time this process has used, user and system.
fn process_cpu() -> Duration {
    // SAFETY: getrusage only writes the struct it is given.
    let usage = unsafe {
        let mut usage = std::mem::zeroed::<libc::rusage>();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let time = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    time(usage.ru_utime) + time(usage.ru_stime)
}

/// Picks one of `n` chats for a worker's `i`-th request: a fixed pseudo-random sequence, so
/// chats collide now and then as real users' would.
fn pick(worker: usize, i: u64, n: usize) -> usize {
    let x = (worker as u64 + 1)
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(i.wrapping_mul(0xBF58_476D_1CE4_E5B9));
    ((x ^ (x >> 31)) % n as u64) as usize
}

fn add_message_request(caller: &Caller, chat_id: &str, i: u64) -> shared::lambda_http::Request {
    let (question, response) = texts(i);
    let body = NewMessage {
        chat_id: chat_id.to_owned(),
        question,
        response,
    };
    caller.request(Endpoint::AddMessage, &[], Some(&body))
}

async fn service_call(
    caller: &Caller,
    endpoint: Endpoint,
    request: shared::lambda_http::Request,
) -> bool {
    endpoint
        .handle(&caller.app, request)
        .await
        .status()
        .is_success()
}

#[tokio::main]
async fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let seconds: f64 = args.next().map_or(3.0, |s| s.parse().expect("seconds"));
    let scenarios: Vec<String> = args.collect();
    let wanted = |s: &str| scenarios.is_empty() || scenarios.iter().any(|x| x == s);
    let phase = Duration::from_secs_f64(seconds);

    let caller = Arc::new(Caller::new("bench_throughput").await);
    let bare = Arc::new(Bare::connect(&caller.app.config.database, &caller.account_id).await?);
    println!(
        "{} cores; each side runs 2 × {seconds} s, alternating; messages of 200 + 1,000 bytes",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );

    if wanted("append64") || wanted("append1") {
        for (scenario, chats, workers) in [("append64", 64, 32), ("append1", 1, 16)] {
            if !wanted(scenario) {
                continue;
            }
            let mut ids = Vec::new();
            for _ in 0..chats {
                ids.push(caller.create_chat("append").await);
            }
            let ids = Arc::new(ids);
            let (c, b, i1, i2) = (caller.clone(), bare.clone(), ids.clone(), ids.clone());
            compare(
                &format!("add-message over {chats} chat(s), {workers} workers"),
                vec![
                    side("service", move || {
                        let (c, ids) = (c.clone(), i1.clone());
                        drive(workers, phase, move |w, i| {
                            let (c, ids) = (c.clone(), ids.clone());
                            async move {
                                let chat = &ids[pick(w, i, ids.len())];
                                let request = add_message_request(&c, chat, i);
                                service_call(&c, Endpoint::AddMessage, request).await
                            }
                        })
                    }),
                    side("bare driver, same operations", move || {
                        let (b, ids) = (b.clone(), i2.clone());
                        drive(workers, phase, move |w, i| {
                            let (b, ids) = (b.clone(), ids.clone());
                            async move {
                                let chat = &ids[pick(w, i, ids.len())];
                                let (q, r) = texts(i);
                                b.append(Design::Service, chat, &q, &r).await.is_ok()
                            }
                        })
                    }),
                ],
            )
            .await;
        }
    }

    if wanted("create") {
        for workers in [1usize, 16] {
            let c = caller.clone();
            compare(
                &format!("create-chat, one account, {workers} workers"),
                vec![side("service", move || {
                    let c = c.clone();
                    drive(workers, phase, move |_, _| {
                        let c = c.clone();
                        async move {
                            let body = NewChat { name: "new".into() };
                            let request = c.request(Endpoint::CreateChat, &[], Some(&body));
                            service_call(&c, Endpoint::CreateChat, request).await
                        }
                    })
                })],
            )
            .await;
        }
    }

    if wanted("designs") {
        for (chats, workers) in [(64, 32), (1, 16)] {
            let mut sides = Vec::new();
            for design in Design::ALL {
                let mut ids = Vec::new();
                for _ in 0..chats {
                    ids.push(caller.create_chat("design").await);
                }
                let (b, ids) = (bare.clone(), Arc::new(ids));
                sides.push(side(design.name(), move || {
                    let (b, ids) = (b.clone(), ids.clone());
                    drive(workers, phase, move |w, i| {
                        let (b, ids) = (b.clone(), ids.clone());
                        async move {
                            let chat = &ids[pick(w, i, ids.len())];
                            let (q, r) = texts(i);
                            match b.append(design, chat, &q, &r).await {
                                Ok(()) => true,
                                Err(error) => {
                                    eprintln!("{}: {error}", design.name());
                                    false
                                }
                            }
                        }
                    })
                }));
            }
            compare(
                &format!("append designs, bare driver, {chats} chat(s), {workers} workers"),
                sides,
            )
            .await;
            let problems = bare.check_positions().await?;
            println!(
                "  positions dense and unique, counters exact: {}",
                match problems.is_empty() {
                    true => "yes".to_owned(),
                    false => problems.join("; "),
                }
            );
        }
    }

    if wanted("get") {
        let read = caller.create_chat("read").await;
        for i in 0..MESSAGES as u64 {
            let request = add_message_request(&caller, &read, i);
            assert!(service_call(&caller, Endpoint::AddMessage, request).await);
        }
        for _ in 0..2 {
            caller.create_branch(&read, MESSAGES / 2).await;
        }
        let first = Endpoint::GetChat
            .handle(
                &caller.app,
                caller.request(Endpoint::GetChat, &[("chat_id", &read)], None::<&()>),
            )
            .await;
        let etag = first.headers().get(header::ETAG).cloned();
        let read = Arc::new(read);
        let (c1, c2, b, r1, r2, r3) = (
            caller.clone(),
            caller.clone(),
            bare.clone(),
            read.clone(),
            read.clone(),
            read.clone(),
        );
        let (b_former, r_former) = (bare.clone(), read.clone());
        let (b304, r304) = (bare.clone(), read.clone());
        let workers = 16;
        let mut sides: Vec<Side> = vec![
            side("service", move || {
                let (c, read) = (c1.clone(), r1.clone());
                drive(workers, phase, move |_, _| {
                    let (c, read) = (c.clone(), read.clone());
                    async move {
                        let request =
                            c.request(Endpoint::GetChat, &[("chat_id", &read)], None::<&()>);
                        service_call(&c, Endpoint::GetChat, request).await
                    }
                })
            }),
            side("bare driver, same operations", move || {
                let (b, read) = (b.clone(), r2.clone());
                drive(workers, phase, move |_, _| {
                    let (b, read) = (b.clone(), read.clone());
                    async move { b.get_chat(&read, MESSAGES).await.is_ok() }
                })
            }),
            side("bare driver, the former reads (before)", move || {
                let (b, read) = (b_former.clone(), r_former.clone());
                drive(workers, phase, move |_, _| {
                    let (b, read) = (b.clone(), read.clone());
                    async move { b.get_chat_former(&read, MESSAGES).await.is_ok() }
                })
            }),
        ];
        if let Some(etag) = etag {
            let etag = etag.to_str()?.to_owned();
            sides.push(side("service, If-None-Match (304)", move || {
                let (c, read, etag) = (c2.clone(), r3.clone(), etag.clone());
                drive(workers, phase, move |_, _| {
                    let (c, read, etag) = (c.clone(), read.clone(), etag.clone());
                    async move {
                        let request = c
                            .gateway(Endpoint::GetChat)
                            .query(&[("chat_id", &read)])
                            .header("if-none-match", &etag)
                            .build();
                        Endpoint::GetChat.handle(&c.app, request).await.status() == 304
                    }
                })
            }));
            sides.push(side("bare driver, the 304's one read", move || {
                let (b, read) = (b304.clone(), r304.clone());
                drive(workers, phase, move |_, _| {
                    let (b, read) = (b.clone(), read.clone());
                    async move { b.conversation_version(&read).await.is_ok() }
                })
            }));
        }
        let rates = compare(
            &format!("get-chat of {MESSAGES} messages with 2 branches, {workers} workers"),
            sides,
        )
        .await;
        println!(
            "  service / the former reads: × {:.2} (target ≥ 1.5)",
            rates[0] / rates[2]
        );
        if let [full, _, former, not_modified, _] = rates[..] {
            println!(
                "  304 / full read: × {:.2}; 304 / the former full read: × {:.2} (target ≥ 5)",
                not_modified / full,
                not_modified / former
            );
        }
    }

    bare.drop_database().await?;
    Ok(())
}

fn side<'a, F, Fut>(name: &str, run: F) -> Side<'a>
where
    F: Fn() -> Fut + 'a,
    Fut: Future<Output = Stats> + Send + 'a,
{
    (name.to_owned(), Box::new(move || Box::pin(run())))
}
