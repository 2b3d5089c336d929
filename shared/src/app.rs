//! What a process builds once at cold start and every request then shares.

use lambda_http::Request;

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
    /// Signs get-chat's entity tags (with a key derived from the JWT secret).
    tagger: Option<crate::tags::Tagger>,
    store: Store,
    /// The one endpoint this process serves (a Lambda function), or `None` for all of them.
    function: Option<Endpoint>,
}

impl App {
    pub async fn new(config: Config, jwt_secret: &[u8]) -> Result<Self, StartupError> {
        Self::build(config, Some(jwt_secret), None).await
    }

    async fn build(
        config: Config,
        jwt_secret: Option<&[u8]>,
        function: Option<Endpoint>,
    ) -> Result<Self, StartupError> {
        let tokens = jwt_secret.map(|s| Tokens::new(s, &config.jwt_issuer, config.token_ttl));
        let tagger = jwt_secret.map(crate::tags::Tagger::new);
        let store = Store::connect(&config).await?;
        Ok(Self {
            config,
            tokens,
            tagger,
            store,
            function,
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
        Self::build(config, secret.as_deref(), function).await
    }

    /// Best effort at start-up, so the first requests need not: creates the indexes (if
    /// MongoDB is down, the first request that finds it up again does it instead), and
    /// where logins are served, computes the decoy password hash, so the first login of an
    /// unknown username costs what every later one does. (Only login checks a password for
    /// a username that may not exist; the other functions' cold starts skip the ~20 ms.)
    pub async fn warm_up(&self) {
        if self.function.is_none_or(|f| f == Endpoint::Login) {
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

    pub fn tagger(&self) -> Result<&crate::tags::Tagger, ApiError> {
        self.tagger.as_ref().ok_or(ApiError::Internal)
    }

    /// The account id the request's bearer token speaks for. The account must still exist:
    /// asked of the database on every request (one read of the `_id` index), so the tokens
    /// of a deleted account are refused at once, on every instance.
    pub async fn authenticate(&self, request: &Request) -> Result<String, ApiError> {
        let account_id = self.token_account(request)?;
        self.require_account(&account_id).await?;
        Ok(account_id)
    }

    /// Refuses (401) a token's account that no longer exists.
    pub async fn require_account(&self, account_id: &str) -> Result<(), ApiError> {
        match self.store().await?.account_exists(account_id).await? {
            true => Ok(()),
            false => Err(ApiError::Unauthorized("Could not validate credentials")),
        }
    }

    /// The account id the request's bearer token speaks for, from the token alone: for a
    /// handler whose own read or write confirms that the account exists (get-chat,
    /// add-message).
    pub fn token_account(&self, request: &Request) -> Result<String, ApiError> {
        Ok(self.tokens()?.verify(bearer_token(request)?)?.account_id)
    }
}
