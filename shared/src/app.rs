//! What a process builds once at cold start and every request then shares.

use lambda_http::Request;

use crate::auth::known_accounts::KnownAccounts;
use crate::auth::password;
use crate::auth::token::Tokens;
use crate::config::{Config, Mode, StartupError};
use crate::error::ApiError;
use crate::http::bearer_token;
use crate::routes::Endpoint;
use crate::secrets;
use crate::store::Store;

pub struct App {
    pub config: Config,
    /// Absent in the register function, which is never given the JWT secret.
    tokens: Option<Tokens>,
    known_accounts: KnownAccounts,
    store: Store,
}

impl App {
    pub async fn new(config: Config, jwt_secret: &[u8]) -> Result<Self, StartupError> {
        Self::build(config, Some(jwt_secret)).await
    }

    async fn build(config: Config, jwt_secret: Option<&[u8]>) -> Result<Self, StartupError> {
        let tokens = jwt_secret.map(|s| Tokens::new(s, &config.jwt_issuer, config.token_ttl));
        let store = Store::connect(&config).await?;
        Ok(Self {
            known_accounts: KnownAccounts::new(config.account_cache_ttl),
            config,
            tokens,
            store,
        })
    }

    /// Configuration from the environment, the secrets from there or from SSM, for one
    /// function (`None`: the local server, which serves them all). A function that needs no
    /// tokens does not read the JWT secret at all.
    pub async fn from_env(mode: Mode, function: Option<Endpoint>) -> Result<Self, StartupError> {
        let mut config = Config::from_env(mode)?;
        let name = function.map_or("local-api", |f| f.route().function);
        config.app_name = format!("chat-backend/{name}");
        let needs_tokens = function.is_none_or(Endpoint::needs_tokens);
        let secret = secrets::load(&mut config, mode, needs_tokens).await?;
        Self::build(config, secret.as_deref()).await
    }

    /// Best effort at start-up, so the first requests need not: creates the indexes (if
    /// MongoDB is down, the first request that finds it up again does it instead), and
    /// computes the decoy password hash, so the first login of an unknown username costs
    /// what every later one does.
    pub async fn warm_up(&self) {
        if self.tokens.is_some() {
            password::warm_up().await;
        }
        if let Err(error) = self.store.ready().await {
            tracing::warn!(%error, "database not ready at start-up; will retry on first request");
        }
    }

    /// The store, its indexes ensured.
    pub async fn store(&self) -> Result<&Store, ApiError> {
        self.store.ready().await
    }

    pub fn tokens(&self) -> Result<&Tokens, ApiError> {
        self.tokens.as_ref().ok_or_else(|| {
            tracing::error!("this function was started without the JWT secret");
            ApiError::Internal
        })
    }

    /// The account id the request's bearer token speaks for. The account must still exist, and
    /// the token must not be older than it: a token of a deleted account whose username was
    /// registered again belongs to someone else.
    pub async fn authenticate(&self, request: &Request) -> Result<String, ApiError> {
        const REFUSED: ApiError = ApiError::Unauthorized("Could not validate credentials");
        let bearer = self.tokens()?.verify(bearer_token(request)?)?;
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
