//! Integration tests: every endpoint against a real MongoDB, through the handlers the Lambda
//! functions run and through the local server over HTTP.

mod auth;
mod branches;
mod caching;
mod chats;
mod common;
mod concurrency;
mod contract;
mod conversations;
mod group_commit;
mod hardening;
mod hostile;
mod idempotency;
mod lambda_events;
mod local_server;
mod outage;
mod pool;
mod raw_http;
mod route_tables;
mod sam_local;
mod scripts;
mod sharding;
mod startup;
mod transfers;
mod trees;
