//! Configuration, read and checked once per cold start. Plain settings come from the
//! environment; the two secrets (MongoDB URI, JWT secret) come from SSM Parameter Store in AWS
//! (`secrets.rs`) or from the environment locally. Every variable is listed in the README.

use std::ops::RangeInclusive;
use std::time::Duration;

use crate::cors::AllowedOrigins;

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
    /// Sent to MongoDB with every connection (`appName`), so server logs and fail points can
    /// tell functions apart.
    pub app_name: String,
    pub jwt_issuer: String,
    pub token_ttl: Duration,
    /// How long to wait for MongoDB to be reachable before answering 503.
    pub db_timeout: Duration,
    /// This process's MongoDB connection pool (the README's *Scaling* section sizes it).
    pub pool: Pool,
    /// Upper bound on any one request; past it the client gets 503 instead of a hung connection.
    pub request_timeout: Duration,
    /// How long a deleted conversation stays in the trash before it is purged.
    pub trash_retention: Duration,
    /// Failed logins for one username before it is locked out...
    pub login_max_failures: u32,
    /// ...for this long; failures older than this are forgotten.
    pub login_lockout: Duration,
    /// Which web origins may call the API from a browser.
    pub cors_origins: AllowedOrigins,
    /// Local server only: how long a client may take to send a request's head.
    pub header_read_timeout: Duration,
    /// Quotas: members of one conversation tree, lineage segments of one branch (what one
    /// read of a branch's history must combine), conversations of one account.
    pub max_members: i64,
    pub max_depth: i64,
    pub max_conversations: i64,
}

/// The connection pool of one process. Every Lambda instance holds its own, so the database
/// sees `max_size` (plus monitoring) connections times the number of instances.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pool {
    /// At most this many connections for operations (`maxPoolSize`); none are kept open
    /// ahead of need (`minPoolSize` 0).
    pub max_size: u32,
    /// A connection idle this long is closed instead of reused (`maxIdleTimeMS`): below the
    /// 350 s after which an AWS NAT gateway silently drops an idle flow.
    pub max_idle: Duration,
    /// Check the servers by polling, one monitoring connection per server, instead of
    /// streaming, which takes two: what the driver does by itself on Lambda (a frozen
    /// instance cannot stream anyway); explicit, so benchmarks standing in for Lambda
    /// instances count the same connections.
    pub poll_monitoring: bool,
}

impl Pool {
    /// Sized for a Lambda instance, which serves one request at a time: two connections let
    /// the handlers that issue two queries at once (login, search, get-tree, get-branches)
    /// run them in parallel; more are never used (README, *Scaling*).
    pub const LAMBDA: Pool = Pool {
        max_size: MONGODB_MAX_POOL_SIZE_LAMBDA,
        max_idle: Duration::from_millis(MONGODB_MAX_IDLE_MS.default),
        poll_monitoring: true,
    };

    /// Sized for a long-running process that serves many requests at once (the local
    /// server): the driver's own default, with which the load test and the throughput
    /// benchmark run.
    pub const LOCAL: Pool = Pool {
        max_size: MONGODB_MAX_POOL_SIZE_LOCAL,
        max_idle: Duration::from_millis(MONGODB_MAX_IDLE_MS.default),
        poll_monitoring: false,
    };
}

/// Every numeric setting: its variable, default and accepted range. Values outside the range
/// stop the process at start-up with a message naming the variable.
struct Setting {
    name: &'static str,
    default: u64,
    range: RangeInclusive<u64>,
}

const JWT_TTL_SECONDS: Setting = setting("JWT_TTL_SECONDS", 30 * 60, 60..=30 * 24 * 3600);
const MONGODB_TIMEOUT_MS: Setting = setting("MONGODB_TIMEOUT_MS", 3000, 100..=60_000);
const REQUEST_TIMEOUT_MS: Setting = setting("REQUEST_TIMEOUT_MS", 10_000, 200..=900_000);
const TRASH_RETENTION_DAYS: Setting = setting("TRASH_RETENTION_DAYS", 30, 1..=3650);
const LOGIN_MAX_FAILURES: Setting = setting("LOGIN_MAX_FAILURES", 5, 1..=1000);
const LOGIN_LOCKOUT_SECONDS: Setting = setting("LOGIN_LOCKOUT_SECONDS", 15 * 60, 1..=86_400);
const TREE_MAX_MEMBERS: Setting = setting("TREE_MAX_MEMBERS", 1000, 2..=100_000);
const TREE_MAX_DEPTH: Setting = setting("TREE_MAX_DEPTH", 100, 1..=10_000);
const ACCOUNT_MAX_CONVERSATIONS: Setting =
    setting("ACCOUNT_MAX_CONVERSATIONS", 100_000, 1..=100_000_000);
/// The default depends on the mode (`Pool::LAMBDA`, `Pool::LOCAL`); `default` is Lambda's.
const MONGODB_MAX_POOL_SIZE: Setting = setting(
    "MONGODB_MAX_POOL_SIZE",
    MONGODB_MAX_POOL_SIZE_LAMBDA as u64,
    1..=500,
);
const MONGODB_MAX_POOL_SIZE_LAMBDA: u32 = 2;
const MONGODB_MAX_POOL_SIZE_LOCAL: u32 = 10;
const MONGODB_MAX_IDLE_MS: Setting = setting("MONGODB_MAX_IDLE_MS", 300_000, 1_000..=3_600_000);
const HEADER_TIMEOUT_MS: Setting = setting("LOCAL_HEADER_TIMEOUT_MS", 10_000, 100..=600_000);

const DAY: u64 = 24 * 3600;

const fn setting(name: &'static str, default: u64, range: RangeInclusive<u64>) -> Setting {
    Setting {
        name,
        default,
        range,
    }
}

impl Setting {
    fn read(&self, vars: &impl Fn(&str) -> Option<String>) -> Result<u64, StartupError> {
        let Some(text) = vars(self.name) else {
            return Ok(self.default);
        };
        match text.trim().parse::<u64>() {
            Ok(n) if self.range.contains(&n) => Ok(n),
            _ => Err(format!(
                "{} must be a whole number from {} to {}, got {text:?}",
                self.name,
                self.range.start(),
                self.range.end()
            )
            .into()),
        }
    }
}

impl Config {
    /// Defaults for everything but where the data lives.
    pub fn new(mongodb_uri: impl Into<String>, database: impl Into<String>) -> Self {
        Self {
            mongodb_uri: mongodb_uri.into(),
            database: database.into(),
            app_name: "chat-backend".into(),
            jwt_issuer: "chat-backend".into(),
            token_ttl: Duration::from_secs(JWT_TTL_SECONDS.default),
            db_timeout: Duration::from_millis(MONGODB_TIMEOUT_MS.default),
            pool: Pool::LOCAL,
            request_timeout: Duration::from_millis(REQUEST_TIMEOUT_MS.default),
            trash_retention: Duration::from_secs(TRASH_RETENTION_DAYS.default * DAY),
            login_max_failures: LOGIN_MAX_FAILURES.default as u32,
            login_lockout: Duration::from_secs(LOGIN_LOCKOUT_SECONDS.default),
            cors_origins: AllowedOrigins::Any,
            header_read_timeout: Duration::from_millis(HEADER_TIMEOUT_MS.default),
            max_members: TREE_MAX_MEMBERS.default as i64,
            max_depth: TREE_MAX_DEPTH.default as i64,
            max_conversations: ACCOUNT_MAX_CONVERSATIONS.default as i64,
        }
    }

    /// Everything but the secrets, from the process environment. The MongoDB URI is left
    /// empty when `MONGODB_URI_PARAM` will supply it.
    pub fn from_env(mode: Mode) -> Result<Self, StartupError> {
        Self::from_vars(mode, &env_var)
    }

    /// The same, from any lookup: blank values count as unset.
    pub fn from_vars(
        mode: Mode,
        vars: &impl Fn(&str) -> Option<String>,
    ) -> Result<Self, StartupError> {
        let uri = match (vars("MONGODB_URI"), vars("MONGODB_URI_PARAM"), mode) {
            (Some(uri), _, _) => uri,
            (None, Some(_), _) => String::new(),
            (None, None, Mode::Local) => LOCAL_MONGODB_URI.to_owned(),
            (None, None, Mode::Lambda) => {
                return Err("set MONGODB_URI_PARAM (an SSM SecureString) or MONGODB_URI".into());
            }
        };
        let mut config = Self::new(
            uri,
            vars("MONGODB_DATABASE").unwrap_or_else(|| "chat_backend".into()),
        );
        if let Some(issuer) = vars("JWT_ISSUER") {
            config.jwt_issuer = issuer;
        }
        config.token_ttl = Duration::from_secs(JWT_TTL_SECONDS.read(vars)?);
        config.db_timeout = Duration::from_millis(MONGODB_TIMEOUT_MS.read(vars)?);
        config.request_timeout = Duration::from_millis(REQUEST_TIMEOUT_MS.read(vars)?);
        config.pool = match mode {
            Mode::Lambda => Pool::LAMBDA,
            Mode::Local => Pool::LOCAL,
        };
        if vars(MONGODB_MAX_POOL_SIZE.name).is_some() {
            config.pool.max_size = MONGODB_MAX_POOL_SIZE.read(vars)? as u32;
        }
        config.pool.max_idle = Duration::from_millis(MONGODB_MAX_IDLE_MS.read(vars)?);
        config.trash_retention = Duration::from_secs(TRASH_RETENTION_DAYS.read(vars)? * DAY);
        config.login_max_failures = LOGIN_MAX_FAILURES.read(vars)? as u32;
        config.login_lockout = Duration::from_secs(LOGIN_LOCKOUT_SECONDS.read(vars)?);
        config.header_read_timeout = Duration::from_millis(HEADER_TIMEOUT_MS.read(vars)?);
        config.max_members = TREE_MAX_MEMBERS.read(vars)? as i64;
        config.max_depth = TREE_MAX_DEPTH.read(vars)? as i64;
        config.max_conversations = ACCOUNT_MAX_CONVERSATIONS.read(vars)? as i64;
        if let Some(origins) = vars("CORS_ALLOWED_ORIGINS") {
            config.cors_origins = AllowedOrigins::parse(&origins)
                .map_err(|e| format!("CORS_ALLOWED_ORIGINS: {e}"))?;
        }
        Ok(config)
    }
}

/// A variable of the process environment; blank counts as unset.
pub fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(pairs: &[(&str, &str)]) -> Result<Config, String> {
        let vars: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let lookup = |name: &str| vars.get(name).filter(|v| !v.trim().is_empty()).cloned();
        Config::from_vars(Mode::Local, &lookup).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_match_the_documented_ones() {
        let config = config(&[]).unwrap();
        assert_eq!(config.mongodb_uri, LOCAL_MONGODB_URI);
        assert_eq!(config.token_ttl, Duration::from_secs(1800));
        assert_eq!(config.jwt_issuer, "chat-backend");
        assert_eq!(config.cors_origins, AllowedOrigins::Any);
        assert!(config.db_timeout < config.request_timeout);
    }

    #[test]
    fn every_numeric_setting_is_range_checked_naming_its_variable() {
        for setting in [
            JWT_TTL_SECONDS,
            MONGODB_TIMEOUT_MS,
            REQUEST_TIMEOUT_MS,
            TRASH_RETENTION_DAYS,
            LOGIN_MAX_FAILURES,
            LOGIN_LOCKOUT_SECONDS,
            HEADER_TIMEOUT_MS,
            MONGODB_MAX_POOL_SIZE,
            MONGODB_MAX_IDLE_MS,
            TREE_MAX_MEMBERS,
            TREE_MAX_DEPTH,
            ACCOUNT_MAX_CONVERSATIONS,
        ] {
            let above = (setting.range.end() + 1).to_string();
            let mut bad = vec![
                above.as_str(),
                "-1",
                "ten",
                "1.5",
                "99999999999999999999999",
            ];
            let below = setting.range.start().checked_sub(1).map(|n| n.to_string());
            bad.extend(below.as_deref());
            for value in bad {
                let error = config(&[(setting.name, value)]).unwrap_err();
                assert!(error.starts_with(setting.name), "{value}: {error}");
            }
            let end = setting.range.end().to_string();
            assert!(config(&[(setting.name, &end)]).is_ok(), "{}", setting.name);
        }
    }

    #[test]
    fn the_pool_is_sized_for_the_mode_unless_set() {
        assert_eq!(config(&[]).unwrap().pool, Pool::LOCAL);
        let lambda = |name: &str| match name {
            "MONGODB_URI" => Some("mongodb://db/".to_owned()),
            _ => None,
        };
        let pool = Config::from_vars(Mode::Lambda, &lambda).unwrap().pool;
        assert_eq!(pool, Pool::LAMBDA);
        assert_eq!((pool.max_size, pool.max_idle.as_secs()), (2, 300));
        let set = config(&[
            ("MONGODB_MAX_POOL_SIZE", "3"),
            ("MONGODB_MAX_IDLE_MS", "60000"),
        ]);
        let pool = set.unwrap().pool;
        assert_eq!((pool.max_size, pool.max_idle.as_secs()), (3, 60));
    }

    #[test]
    fn a_huge_token_lifetime_is_refused_before_it_can_overflow() {
        // `iat + ttl` overflowed i64 and minted tokens born expired.
        let error = config(&[("JWT_TTL_SECONDS", "18446744073709551615")]).unwrap_err();
        assert!(error.contains("JWT_TTL_SECONDS"), "{error}");
    }

    #[test]
    fn lambda_needs_a_mongodb_uri_or_its_parameter() {
        let none = |_: &str| None;
        let error = Config::from_vars(Mode::Lambda, &none).unwrap_err();
        assert!(error.to_string().contains("MONGODB_URI_PARAM"));
        let param = |name: &str| (name == "MONGODB_URI_PARAM").then(|| "/app/uri".to_owned());
        assert_eq!(
            Config::from_vars(Mode::Lambda, &param).unwrap().mongodb_uri,
            ""
        );
    }

    #[test]
    fn cors_origins_are_a_list() {
        let config = config(&[(
            "CORS_ALLOWED_ORIGINS",
            "https://app.example.com, http://127.0.0.1:8080",
        )])
        .unwrap();
        assert_eq!(
            config.cors_origins,
            AllowedOrigins::List(vec![
                "https://app.example.com".into(),
                "http://127.0.0.1:8080".into()
            ])
        );
        let error = config_error("CORS_ALLOWED_ORIGINS", "app.example.com");
        assert!(error.starts_with("CORS_ALLOWED_ORIGINS"), "{error}");
    }

    fn config_error(name: &str, value: &str) -> String {
        config(&[(name, value)]).unwrap_err()
    }
}
