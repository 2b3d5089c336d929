use mongodb::bson::{DateTime, doc};
use serde::{Deserialize, Serialize};

use super::Store;
use crate::error::{ApiError, is_duplicate_key};

/// An account. Its id is its username, which is also the token's `sub`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct User {
    pub username: String,
    pub password_hash: String,
    pub created_at: DateTime,
}

impl Store {
    /// Stores a new user; 409 when the username is taken (the unique index decides, so two
    /// concurrent registrations of one name cannot both succeed).
    pub async fn insert_user(&self, user: &User) -> Result<(), ApiError> {
        match self.users().insert_one(user).await {
            Ok(_) => Ok(()),
            Err(e) if is_duplicate_key(&e) => {
                Err(ApiError::Conflict("Username already registered"))
            }
            Err(e) => Err(e.into()),
        }
    }

    pub async fn find_user(&self, username: &str) -> Result<Option<User>, ApiError> {
        Ok(self.users().find_one(doc! { "username": username }).await?)
    }

    /// When the account was created, if it exists.
    pub async fn account_created_at(&self, username: &str) -> Result<Option<DateTime>, ApiError> {
        let found = self
            .users()
            .clone_with_type::<mongodb::bson::Document>()
            .find_one(doc! { "username": username })
            .projection(doc! { "_id": 0, "created_at": 1 })
            .await?;
        Ok(found.and_then(|user| user.get_datetime("created_at").ok().copied()))
    }
}
