//! Accounts: registration rules, login, deleting an account with everything in it, and the
//! demo user of local mode. An account's id is a UUID given once and never reused; the
//! username is only the name it logs in with.

use mongodb::bson::DateTime;
use serde::Serialize;

use crate::auth::password;
use crate::auth::token::{IssuedToken, Tokens};
use crate::config::Config;
use crate::error::ApiError;
use crate::store::{Inserted, Store, User};
use crate::time::rfc3339;
use crate::views::DeletedAccountView;

pub const USERNAME_CHARS: std::ops::RangeInclusive<usize> = 3..=64;
pub const PASSWORD_CHARS: std::ops::RangeInclusive<usize> = 8..=1024;

/// The account the original README documents; created in local mode only.
pub const DEMO_USERNAME: &str = "testuser";
pub const DEMO_PASSWORD: &str = "testpassword";

#[derive(Debug, Serialize)]
pub struct Account {
    pub account_id: String,
    pub username: String,
    pub created_at: String,
}

/// Usernames are 3–64 of `[A-Za-z0-9_.-]` and case-sensitive.
pub fn validate_username(username: &str) -> Result<(), ApiError> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-');
    if !USERNAME_CHARS.contains(&username.chars().count()) || !username.chars().all(allowed) {
        return Err(ApiError::invalid(
            "username",
            "must be 3-64 characters of letters, digits, '_', '.' or '-'",
        ));
    }
    Ok(())
}

/// At least 8 characters; the upper bound only keeps hashing cost bounded.
pub fn validate_password(password: &str) -> Result<(), ApiError> {
    if !PASSWORD_CHARS.contains(&password.chars().count()) {
        return Err(ApiError::invalid(
            "password",
            "must be between 8 and 1024 characters",
        ));
    }
    Ok(())
}

pub async fn register(store: &Store, username: &str, password: &str) -> Result<Account, ApiError> {
    validate_username(username)?;
    validate_password(password)?;
    let user = User {
        account_id: uuid::Uuid::new_v4().to_string(),
        username: username.to_owned(),
        password_hash: password::hash(password.to_owned()).await?,
        created_at: DateTime::now(),
    };
    if store.insert_user(&user).await? == Inserted::Duplicate {
        return Err(ApiError::Conflict("Username already registered"));
    }
    Ok(Account {
        account_id: user.account_id,
        created_at: rfc3339(user.created_at),
        username: user.username,
    })
}

/// A token for valid credentials. Unknown user and wrong password give the same 401 after the
/// same amount of hashing work. Every attempt on a well-formed username is counted before the
/// password is checked; past `login_max_failures` attempts without a success, the username
/// answers 429 without checking any password until its window ends — the same for existing and
/// unknown usernames, so the lock reveals nothing either.
pub async fn login(
    store: &Store,
    tokens: &Tokens,
    config: &Config,
    username: &str,
    password: &str,
) -> Result<IssuedToken, ApiError> {
    // A name that breaks the username rule can never log in: nothing to protect or count.
    let counted = validate_username(username).is_ok();
    let count = async {
        match counted {
            true => {
                let (max, window) = (config.login_max_failures, config.login_lockout);
                store.count_login_attempt(username, max, window).await
            }
            false => Ok(None),
        }
    };
    let (refused, user) = tokio::try_join!(count, store.find_user(username))?;
    if let Some(retry_after) = refused {
        return Err(ApiError::TooManyRequests { retry_after });
    }
    let (account_id, stored_hash) = user.map(|u| (u.account_id, u.password_hash)).unzip();
    if !password::verify(password.to_owned(), stored_hash).await {
        return Err(ApiError::Unauthorized("Invalid credentials"));
    }
    if counted {
        store.clear_login_attempts(username).await?;
    }
    tokens.issue(&account_id.unwrap_or_default())
}

/// Deletes the caller's account once its password is given again (counted like a login, so
/// a stolen token cannot be used to guess it). Its conversations go to the trash, then the
/// account: from that moment its tokens are refused everywhere, and the username can be
/// registered again by anyone, who sees none of this account's data. The conversations are
/// then purged: now, as far as the request's time allows, and otherwise by the purge that runs
/// inside later requests.
pub async fn delete_account(
    store: &Store,
    config: &Config,
    account_id: &str,
    password: &str,
) -> Result<DeletedAccountView, ApiError> {
    let user = store
        .find_user_by_id(account_id)
        .await?
        .ok_or(ApiError::Unauthorized("Could not validate credentials"))?;
    let (max, window) = (config.login_max_failures, config.login_lockout);
    if let Some(retry_after) = store
        .count_login_attempt(&user.username, max, window)
        .await?
    {
        return Err(ApiError::TooManyRequests { retry_after });
    }
    if !password::verify(password.to_owned(), Some(user.password_hash)).await {
        return Err(ApiError::invalid(
            "password",
            "is not this account's password",
        ));
    }
    store.clear_login_attempts(&user.username).await?;
    // Conversations first: get-chat and revalidation take a live conversation as proof that
    // its account exists. A conversation made live meanwhile (created, forked, imported or
    // restored by a request that had authenticated already) committed before the account's
    // removal, which it conflicts with (`Store::hold_account`): the second pass takes it, and
    // none can follow.
    store.expire_account_data(account_id).await?;
    store.delete_user(account_id).await?;
    store.expire_account_data(account_id).await?;
    // Purge while the request has time to spare; what is left goes with later requests.
    let stop = crate::routes::deadline()
        .map(|d| d - d.saturating_duration_since(std::time::Instant::now()) / 2);
    while crate::chats::purge_expired(store, Some(account_id), 5).await? == 5
        && stop.is_none_or(|stop| std::time::Instant::now() < stop)
    {}
    Ok(DeletedAccountView {
        message: "Account deleted.".into(),
        account_id: account_id.to_owned(),
    })
}

/// Creates the demo account if it is missing (local mode only).
pub async fn ensure_demo_user(store: &Store) -> Result<(), ApiError> {
    match register(store, DEMO_USERNAME, DEMO_PASSWORD).await {
        Ok(_) | Err(ApiError::Conflict(_)) => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_follow_the_documented_rule() {
        for ok in ["abc", "a.b-c_d", "User123", &"x".repeat(64)] {
            assert!(validate_username(ok).is_ok(), "{ok}");
        }
        for bad in [
            "ab",
            "",
            "has space",
            "émile",
            "a/b",
            "$gt",
            &"x".repeat(65),
        ] {
            let error = validate_username(bad).unwrap_err();
            assert_eq!(error.status(), 422, "{bad}");
            assert!(error.to_string().starts_with("username: "));
        }
    }

    #[test]
    fn passwords_need_eight_characters() {
        assert!(validate_password("12345678").is_ok());
        assert!(validate_password("ééééééé").is_err());
        let error = validate_password("1234567").unwrap_err();
        assert!(error.to_string().starts_with("password: "));
    }
}
