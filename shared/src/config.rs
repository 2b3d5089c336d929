//! Configuration, read once per cold start from the environment (and, for the JWT secret in
//! AWS, from SSM Parameter Store). Every variable is listed in the README.

use std::env;
use std::time::Duration;

use crate::auth::token::MIN_SECRET_BYTES;

/// Startup failures: the process refuses to serve rather than serve wrongly.
pub type StartupError = lambda_http::Error;

/// Where the code runs. Local mode is friendlier: it has a default MongoDB URI, may generate a
/// throwaway JWT secret, and creates the demo user.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Lambda,
    Local,
}

/// The URI `scripts/mongo.sh` prints for its default port.
pub const LOCAL_MONGODB_URI: &str = "mongodb://127.0.0.1:27117/?replicaSet=rs0";

#[derive(Clone, Debug)]
pub struct Config {
    pub mongodb_uri: String,
    pub database: String,
    pub jwt_issuer: String,
    pub token_ttl: Duration,
    /// How long to wait for MongoDB to be reachable before answering 503.
    pub db_timeout: Duration,
    /// Upper bound on any one request; past it the client gets 503 instead of a hung connection.
    pub request_timeout: Duration,
    /// How long an account, once seen to exist, is trusted without asking the database again;
    /// a deleted account's tokens stop working within this time (at once on a new instance).
    pub account_cache_ttl: Duration,
    /// Failed logins for one username before it is locked out...
    pub login_max_failures: u32,
    /// ...for this long; failures older than this are forgotten.
    pub login_lockout: Duration,
}

impl Config {
    /// Defaults for everything but where the data lives.
    pub fn new(mongodb_uri: impl Into<String>, database: impl Into<String>) -> Self {
        Self {
            mongodb_uri: mongodb_uri.into(),
            database: database.into(),
            jwt_issuer: "chat-backend".into(),
            token_ttl: Duration::from_secs(30 * 60),
            db_timeout: Duration::from_secs(3),
            request_timeout: Duration::from_secs(10),
            account_cache_ttl: Duration::from_secs(60),
            login_max_failures: 5,
            login_lockout: Duration::from_secs(15 * 60),
        }
    }

    pub fn from_env(mode: Mode) -> Result<Self, StartupError> {
        let uri = match (env::var("MONGODB_URI"), mode) {
            (Ok(uri), _) if !uri.trim().is_empty() => uri,
            (_, Mode::Local) => LOCAL_MONGODB_URI.to_owned(),
            (_, Mode::Lambda) => return Err("MONGODB_URI is not set".into()),
        };
        let mut config = Self::new(uri, var_or("MONGODB_DATABASE", "chat_backend"));
        config.jwt_issuer = var_or("JWT_ISSUER", "chat-backend");
        config.token_ttl = Duration::from_secs(number("JWT_TTL_SECONDS", 30 * 60, 1)?);
        config.db_timeout = Duration::from_millis(number("MONGODB_TIMEOUT_MS", 3000, 1)?);
        config.request_timeout = Duration::from_millis(number("REQUEST_TIMEOUT_MS", 10_000, 1)?);
        config.account_cache_ttl = Duration::from_secs(number("ACCOUNT_CACHE_SECONDS", 60, 0)?);
        config.login_max_failures = u32::try_from(number("LOGIN_MAX_FAILURES", 5, 1)?)
            .map_err(|_| "LOGIN_MAX_FAILURES is too large")?;
        config.login_lockout = Duration::from_secs(number("LOGIN_LOCKOUT_SECONDS", 15 * 60, 1)?);
        Ok(config)
    }
}

fn var_or(name: &str, default: &str) -> String {
    env::var(name)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| default.to_owned())
}

fn number(name: &str, default: u64, min: u64) -> Result<u64, StartupError> {
    match env::var(name) {
        Ok(v) if !v.trim().is_empty() => match v.trim().parse() {
            Ok(n) if n >= min => Ok(n),
            _ => Err(format!("{name} must be an integer of at least {min}, got {v:?}").into()),
        },
        _ => Ok(default),
    }
}

/// The HS256 signing secret: from SSM when `JWT_SECRET_PARAM` names a parameter, else from
/// `JWT_SECRET`. Local mode without either generates one (tokens then die with the process).
pub async fn jwt_secret(mode: Mode) -> Result<Vec<u8>, StartupError> {
    let secret = if let Ok(name) = env::var("JWT_SECRET_PARAM")
        && !name.trim().is_empty()
    {
        secret_from_ssm(name.trim()).await?
    } else if let Ok(secret) = env::var("JWT_SECRET")
        && !secret.is_empty()
    {
        secret.into_bytes()
    } else if mode == Mode::Local {
        tracing::warn!(
            "JWT_SECRET is not set: generated a random one for this run; tokens will not outlive the process"
        );
        let mut secret = vec![0u8; 48];
        getrandom::fill(&mut secret).map_err(|e| format!("no randomness for a JWT secret: {e}"))?;
        secret
    } else {
        return Err("set JWT_SECRET_PARAM (an SSM SecureString) or JWT_SECRET".into());
    };
    check_secret(&secret)?;
    Ok(secret)
}

fn check_secret(secret: &[u8]) -> Result<(), StartupError> {
    if secret.len() < MIN_SECRET_BYTES {
        return Err(format!(
            "the JWT secret has {} bytes; at least {MIN_SECRET_BYTES} are required",
            secret.len()
        )
        .into());
    }
    Ok(())
}

async fn secret_from_ssm(name: &str) -> Result<Vec<u8>, StartupError> {
    let aws = aws_config::load_from_env().await;
    let output = aws_sdk_ssm::Client::new(&aws)
        .get_parameter()
        .name(name)
        .with_decryption(true)
        .send()
        .await
        .map_err(|e| {
            format!(
                "reading SSM parameter {name}: {}",
                aws_sdk_ssm::error::DisplayErrorContext(e)
            )
        })?;
    let value = output
        .parameter
        .and_then(|p| p.value)
        .ok_or_else(|| format!("SSM parameter {name} has no value"))?;
    Ok(value.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_secrets_are_refused() {
        assert!(check_secret(b"too short").is_err());
        assert!(check_secret(&[7u8; MIN_SECRET_BYTES]).is_ok());
    }

    #[test]
    fn defaults_match_the_documented_ones() {
        let config = Config::new("mongodb://x", "db");
        assert_eq!(config.token_ttl, Duration::from_secs(1800));
        assert_eq!(config.jwt_issuer, "chat-backend");
        assert!(config.db_timeout < config.request_timeout);
    }
}
