//! What a process builds once at cold start and every request then shares.

use lambda_http::Request;

use crate::auth::known_accounts::KnownAccounts;
use crate::auth::token::Tokens;
use crate::config::{self, Config, Mode, StartupError};
use crate::error::ApiError;
use crate::http::bearer_token;
use crate::store::Store;

pub struct App {
    pub config: Config,
    tokens: Tokens,
    known_accounts: KnownAccounts,
    store: Store,
}

impl App {
    pub async fn new(config: Config, jwt_secret: &[u8]) -> Result<Self, StartupError> {
        let tokens = Tokens::new(jwt_secret, &config.jwt_issuer, config.token_ttl);
        let store = Store::connect(&config).await?;
        Ok(Self {
            known_accounts: KnownAccounts::new(config.account_cache_ttl),
            config,
            tokens,
            store,
        })
    }

    /// Configuration from the environment; the JWT secret from there or from SSM.
    pub async fn from_env(mode: Mode) -> Result<Self, StartupError> {
        let config = Config::from_env(mode)?;
        let secret = config::jwt_secret(mode).await?;
        Self::new(config, &secret).await
    }

    /// Best effort at start-up: creates the indexes now so the first request need not. If
    /// MongoDB is down, the first request that finds it up again does it instead.
    pub async fn warm_up(&self) {
        if let Err(error) = self.store.ready().await {
            tracing::warn!(%error, "database not ready at start-up; will retry on first request");
        }
    }

    /// The store, its indexes ensured.
    pub async fn store(&self) -> Result<&Store, ApiError> {
        self.store.ready().await
    }

    pub fn tokens(&self) -> &Tokens {
        &self.tokens
    }

    /// The account id the request's bearer token speaks for. The account must still exist, and
    /// the token must not be older than it: a token of a deleted account whose username was
    /// registered again belongs to someone else.
    pub async fn authenticate(&self, request: &Request) -> Result<String, ApiError> {
        const REFUSED: ApiError = ApiError::Unauthorized("Could not validate credentials");
        let bearer = self.tokens.verify(bearer_token(request)?)?;
        let created_at = match self.known_accounts.created_at(&bearer.account_id) {
            Some(created_at) => created_at,
            None => {
                let store = self.store().await?;
                let created = store.account_created_at(&bearer.account_id).await?;
                let created_at = created.ok_or(REFUSED)?.timestamp_millis().div_euclid(1000);
                self.known_accounts.remember(&bearer.account_id, created_at);
                created_at
            }
        };
        if bearer.issued_at < created_at {
            return Err(REFUSED);
        }
        Ok(bearer.account_id)
    }
}
