//! Pool sizes compared on one instance serving one request at a time: queries a handler
//! issues one after another need one connection; only those it issues at once need more.

use std::time::{Duration, Instant};

use bench::percentile;
use shared::{Endpoint, Pool};

use crate::mongod::Connections;
use crate::{User, instance};

const SIZES: [u32; 4] = [1, 2, 3, 10];

/// get-chat and add-message run their queries one after another; search-messages and
/// get-tree run two at once.
const ENDPOINTS: [Endpoint; 4] = [
    Endpoint::GetChat,
    Endpoint::AddMessage,
    Endpoint::SearchMessages,
    Endpoint::GetTree,
];

pub async fn run(uri: &str, database: &str, user: &User, connections: &Connections, rounds: usize) {
    println!("pool sizes: connections one instance holds after serving, in turn, each endpoint");
    for size in SIZES {
        let base = connections.current();
        let app = instance(uri, database, pool(size)).await;
        let mut held = Vec::new();
        for (i, endpoint) in ENDPOINTS.into_iter().enumerate() {
            let response = endpoint
                .handle(&app, user.request(endpoint, i as u64))
                .await;
            assert!(response.status().is_success(), "{endpoint:?}");
            tokio::time::sleep(Duration::from_millis(200)).await;
            held.push(format!(
                "{:?} {}",
                endpoint,
                connections.current().saturating_sub(base)
            ));
        }
        println!("  maxPoolSize {size:>2}: {}", held.join(", "));
        drop(app);
        connections.settle(base).await;
    }

    let before = connections.current();
    let mut apps = Vec::new();
    for size in SIZES {
        apps.push(instance(uri, database, pool(size)).await);
    }
    // samples[size][endpoint]
    let mut samples = vec![vec![Vec::<Duration>::new(); ENDPOINTS.len()]; SIZES.len()];
    let mut i = 1000;
    for round in 0..rounds + 5 {
        for k in 0..SIZES.len() {
            let side = (k + round) % SIZES.len();
            for (e, endpoint) in ENDPOINTS.into_iter().enumerate() {
                i += 1;
                let request = user.request(endpoint, i);
                let began = Instant::now();
                let response = endpoint.handle(&apps[side], request).await;
                let took = began.elapsed();
                assert!(response.status().is_success(), "{endpoint:?}");
                // The first rounds warm every instance up (connections, indexes).
                if round >= 5 {
                    samples[side][e].push(took);
                }
            }
        }
    }
    println!("pool sizes: one request at a time, {rounds} rounds, interleaved (median / p99 ms)");
    let header: Vec<String> = ENDPOINTS.iter().map(|e| format!("{e:?}")).collect();
    println!("  maxPoolSize  {}", header.join(" | "));
    for (k, size) in SIZES.into_iter().enumerate() {
        let cells: Vec<String> = samples[k]
            .iter_mut()
            .map(|s| format!("{:.2} / {:.2}", percentile(s, 0.5), percentile(s, 0.99)))
            .collect();
        println!("  {size:>11}  {}", cells.join(" | "));
    }
    println!();
    drop(apps);
    connections.settle(before).await;
}

fn pool(max_size: u32) -> Pool {
    Pool {
        max_size,
        ..Pool::LAMBDA
    }
}
