//! N instances at load, then mongod restarted under it. Requests arrive at a total rate, spread
//! evenly over the instances (each at the same pace, their phases staggered), and an instance
//! serves one at a time, as a Lambda instance does: a request due while the last one is still
//! running starts when it ends.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bench::percentile;
use shared::{Endpoint, Pool};

use crate::mongod::{Connections, Mongod};
use crate::{User, instance};

pub struct Plan {
    pub instances: usize,
    pub rate: f64,
    pub steady: Duration,
    pub down: Duration,
}

/// One answered request.
struct Sample {
    started: Instant,
    took: Duration,
    endpoint: Endpoint,
    status: u16,
    /// The error's `detail`, for answers other than 2xx.
    detail: Option<String>,
}

/// Shared between the driver and the instances' loops.
struct Clock {
    zero: Instant,
    stop: AtomicBool,
    /// Nanoseconds after `zero` from which a success counts as served again (MAX: not yet).
    back: AtomicU64,
}

impl Clock {
    fn nanos(&self, at: Instant) -> u64 {
        at.duration_since(self.zero).as_nanos() as u64
    }
}

pub async fn run(
    mongod: &Arc<Mongod>,
    database: &str,
    users: Arc<Vec<User>>,
    connections: &Connections,
    plan: Plan,
) -> bool {
    let n = plan.instances;
    let base = connections.current();
    let mut apps = Vec::new();
    for _ in 0..n {
        apps.push(instance(&mongod.uri, database, Pool::LAMBDA).await);
    }
    let clock = Arc::new(Clock {
        zero: Instant::now(),
        stop: AtomicBool::new(false),
        back: AtomicU64::new(u64::MAX),
    });
    let recovered: Arc<Vec<AtomicU64>> = Arc::new((0..n).map(|_| AtomicU64::new(0)).collect());
    connections.reset_peak();
    let interval = Duration::from_secs_f64(n as f64 / plan.rate);
    let loops: Vec<_> = apps
        .iter()
        .enumerate()
        .map(|(k, app)| {
            let (app, clock, recovered) = (app.clone(), clock.clone(), recovered.clone());
            let users = users.clone();
            tokio::spawn(async move {
                let mut samples = Vec::new();
                let phase = interval.mul_f64(k as f64 / n as f64);
                let mut due = clock.zero + phase;
                let mut i = 0u64;
                while !clock.stop.load(Ordering::Relaxed) {
                    tokio::time::sleep_until(due.into()).await;
                    due += interval;
                    i += 1;
                    // Reads three times out of five, appends the rest.
                    let endpoint = match i % 5 {
                        0 | 2 => Endpoint::AddMessage,
                        _ => Endpoint::GetChat,
                    };
                    let started = Instant::now();
                    let response = endpoint.handle(&app, users[k].request(endpoint, i)).await;
                    let status = response.status().as_u16();
                    let detail = (status >= 300)
                        .then(|| String::from_utf8_lossy(response.body().as_ref()).into_owned());
                    let ended = Instant::now();
                    if status < 300 && clock.nanos(ended) >= clock.back.load(Ordering::Relaxed) {
                        let _ = recovered[k].compare_exchange(
                            0,
                            clock.nanos(ended),
                            Ordering::Relaxed,
                            Ordering::Relaxed,
                        );
                    }
                    samples.push(Sample {
                        started,
                        took: ended - started,
                        endpoint,
                        status,
                        detail,
                    });
                    due = due.max(ended);
                }
                samples
            })
        })
        .collect();

    tokio::time::sleep(plan.steady).await;
    let steady_end = Instant::now();
    let steady_peak = connections.peak();

    // The restart: a clean shutdown, `down` with no server, a start.
    let stopping = Instant::now();
    let stop = mongod.clone();
    tokio::task::spawn_blocking(move || stop.stop())
        .await
        .unwrap();
    let stopped = Instant::now();
    clock.back.store(clock.nanos(stopped), Ordering::Relaxed);
    tokio::time::sleep(plan.down).await;
    let starting = Instant::now();
    let start = mongod.clone();
    tokio::task::spawn_blocking(move || start.start())
        .await
        .unwrap();
    let primary = Instant::now();
    connections.reset_peak();
    let give_up = primary + Duration::from_secs(60);
    while recovered.iter().any(|r| r.load(Ordering::Relaxed) == 0) && Instant::now() < give_up {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let restart_peak = connections.peak();
    // The new server counts from its start.
    let created = connections.total_created();
    clock.stop.store(true, Ordering::Relaxed);
    let mut samples = Vec::new();
    for task in loops {
        samples.extend(task.await.expect("instance loop"));
    }
    let served_again: Vec<f64> = recovered
        .iter()
        .map(|r| r.load(Ordering::Relaxed))
        .filter(|&r| r > 0)
        .map(|r| (clock.zero + Duration::from_nanos(r)).saturating_duration_since(starting))
        .map(|d| d.as_secs_f64())
        .collect();

    println!(
        "fleet of {n} instances ({:.0} requests/s in all, one at a time each; maxPoolSize {})",
        plan.rate,
        Pool::LAMBDA.max_size
    );
    println!(
        "  connections.current: {base} before, peak {steady_peak} at load (+{} for the fleet, {:.2} per instance)",
        steady_peak.saturating_sub(base),
        steady_peak.saturating_sub(base) as f64 / n as f64
    );
    let steady: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.started >= clock.zero + Duration::from_secs(1) && s.started < steady_end)
        .collect();
    for endpoint in [Endpoint::GetChat, Endpoint::AddMessage] {
        let mut took: Vec<Duration> = steady
            .iter()
            .filter(|s| s.endpoint == endpoint)
            .map(|s| s.took)
            .collect();
        if !took.is_empty() {
            println!(
                "  {endpoint:?} at load: {} requests, p50 {:.2} ms, p99 {:.2} ms",
                took.len(),
                percentile(&mut took, 0.5),
                percentile(&mut took, 0.99)
            );
        }
    }
    let load_errors = steady.iter().filter(|s| s.status >= 300).count();
    println!("  errors at load: {load_errors} of {}", steady.len());
    let outage: Vec<&Sample> = samples.iter().filter(|s| s.started >= steady_end).collect();
    let unavailable = outage.iter().filter(|s| s.status == 503).count();
    let other = outage
        .iter()
        .filter(|s| s.status >= 300 && s.status != 503)
        .count();
    let mut slowest: Vec<Duration> = outage.iter().map(|s| s.took).collect();
    println!(
        "  restart: stop took {:.1} s, down {:.1} s, start until primary {:.1} s; {} requests meanwhile and after: {unavailable} answered 503, {other} other errors, slowest answer {:.0} ms",
        (stopped - stopping).as_secs_f64(),
        plan.down.as_secs_f64(),
        (primary - starting).as_secs_f64(),
        outage.len(),
        if slowest.is_empty() {
            0.0
        } else {
            percentile(&mut slowest, 1.0)
        },
    );
    let mut kinds: Vec<(u16, &str)> = samples
        .iter()
        .filter_map(|s| s.detail.as_deref().map(|d| (s.status, d)))
        .collect();
    kinds.sort();
    kinds.dedup();
    for (status, detail) in kinds {
        let count = samples
            .iter()
            .filter(|s| s.status == status && s.detail.as_deref() == Some(detail))
            .count();
        println!("  {count} × {status} {detail}");
    }
    let mut after = served_again.clone();
    after.sort_by(f64::total_cmp);
    let median = after.get(after.len() / 2).copied().unwrap_or(f64::NAN);
    println!(
        "  after the restart: peak connections.current {restart_peak}, {created} connections created; {}/{n} instances served again, median {median:.2} s and all within {:.2} s of mongod being started (primary after {:.2} s)",
        served_again.len(),
        after.last().copied().unwrap_or(f64::NAN),
        (primary - starting).as_secs_f64(),
    );
    println!();
    drop(apps);
    connections.settle(base).await;
    // At load every answer is a success; around the restart, a success or the documented 503.
    load_errors == 0 && other == 0 && served_again.len() == n
}
