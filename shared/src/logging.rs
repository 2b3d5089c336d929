//! Log setup: JSON lines in Lambda (CloudWatch indexes the fields), plain text locally.
//! The level comes from `AWS_LAMBDA_LOG_LEVEL` (Lambda's advanced logging controls), else
//! `RUST_LOG`, else `info`. Request bodies, passwords and tokens are never logged.

use lambda_http::tracing::subscriber::{EnvFilter, fmt};

pub fn init(json: bool) {
    let filter = EnvFilter::try_from_env("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = fmt().with_env_filter(filter).with_target(false);
    // A second init (tests, or a binary calling twice) keeps the first subscriber.
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
