//! Its own test binary: it measures this process's memory, which the other API tests running
//! in parallel would disturb.

#[allow(dead_code)]
#[path = "api/common.rs"]
mod common;
#[path = "api/raw_http.rs"]
mod raw_http;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{StreamExt, stream};
use serde_json::json;

use common::app;
use raw_http::{Http, RawReply};

/// This process's resident memory (the server runs in it).
fn resident_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kib = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().strip_suffix("kB"))
        .and_then(|kib| kib.trim().parse::<u64>().ok())
        .expect("VmRSS in /proc/self/status");
    kib * 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_huge_bodies_leave_memory_bounded() {
    const MIB: usize = 1024 * 1024;
    let server = Http::start(app().await).await;
    let register = "POST /api/v1/auth/register";
    assert_eq!(server.exchange(register, &[], b"{}").await.status, 422);

    // Peak resident memory while 50 bodies of 20 MiB arrive, 8 at a time: were they buffered,
    // that alone would be 160 MiB.
    let baseline = resident_bytes();
    let done = Arc::new(AtomicBool::new(false));
    let sampler = std::thread::spawn({
        let done = done.clone();
        move || {
            let mut peak = resident_bytes();
            while !done.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(2));
                peak = peak.max(resident_bytes());
            }
            peak.max(resident_bytes())
        }
    });
    let chunk = Bytes::from(vec![b' '; 64 * 1024]);
    let replies: Vec<RawReply> = stream::iter(0..50)
        .map(|_| server.exchange_repeated(register, &[], chunk.clone(), 20 * MIB / chunk.len()))
        .buffer_unordered(8)
        .collect()
        .await;
    done.store(true, Ordering::Relaxed);
    let peak = sampler.join().unwrap();

    for reply in &replies {
        assert_eq!(
            (reply.status, reply.json()),
            (
                413,
                json!({"detail": "Request body too large (limit 1048576 bytes)"})
            )
        );
    }
    let grown = peak.saturating_sub(baseline);
    assert!(
        grown < 64 * MIB as u64,
        "resident memory grew by {} MiB",
        grown / MIB as u64
    );
}
