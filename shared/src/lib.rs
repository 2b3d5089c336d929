//! chat-backend's library: everything the Lambda functions and the local server share.
//!
//! A request flows one way: `routes` picks the handler, `handlers` parses (`requests`) and
//! authenticates, `accounts` / `chats` / `messages` / `branches` apply the rules (`tree` holds
//! those of lineage), `store` talks to MongoDB, `views` are the JSON answers, and `error`
//! turns any failure into a `{"detail": ...}` response.

pub mod accounts;
pub mod app;
mod appends;
pub mod auth;
pub mod branches;
pub mod chats;
pub mod config;
pub mod cors;
pub mod cursor;
pub mod error;
pub mod exports;
pub mod gateway;
pub mod handlers;
pub mod http;
pub mod idempotency;
pub mod lambda;
pub mod local;
pub mod logging;
pub mod messages;
pub mod requests;
pub mod routes;
pub mod secrets;
pub mod store;
pub mod tags;
pub mod text;
pub mod time;
pub mod transfers;
pub mod tree;
pub mod trees;
pub mod views;
pub mod web;

pub use app::App;
pub use config::{Config, Mode, Pool};
pub use error::ApiError;
pub use routes::Endpoint;

/// Re-exported so tools build requests with exactly the version and features the handlers use.
pub use lambda_http;
