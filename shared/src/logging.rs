//! Log setup: JSON lines in Lambda (CloudWatch indexes the fields), plain text locally.
//! The level comes from `AWS_LAMBDA_LOG_LEVEL` (Lambda's advanced logging controls), else
//! `RUST_LOG` (`level` or `target=level,...`), else `info`. Request bodies, passwords and tokens
//! are never logged.

use lambda_http::tracing::subscriber::filter::{LevelFilter, Targets};
use lambda_http::tracing::subscriber::{fmt, prelude::*, registry};

use crate::config::env_var;

pub fn init(json: bool) {
    // `Targets` rather than `EnvFilter`: the same directives but for span and field filters,
    // which we never use and which link a regex engine into every function.
    let filter = ["AWS_LAMBDA_LOG_LEVEL", "RUST_LOG"]
        .into_iter()
        .find_map(|name| env_var(name)?.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(LevelFilter::INFO));
    let layer = fmt::layer().with_target(false);
    // A second init (tests, or a binary calling twice) keeps the first subscriber.
    let _ = if json {
        registry().with(layer.json()).with(filter).try_init()
    } else {
        registry().with(layer).with(filter).try_init()
    };
}
