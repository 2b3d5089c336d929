use mongodb::ClientSession;
use mongodb::bson::{DateTime, Document, doc};
use serde::{Deserialize, Serialize};

use super::Store;
use crate::error::{ApiError, is_duplicate_key};

/// An account. Its id is a UUID given at registration and never reused; the username is only
/// the name it logs in with.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct User {
    #[serde(rename = "_id")]
    pub account_id: String,
    pub username: String,
    pub password_hash: String,
    pub created_at: DateTime,
}

/// What an insert under a unique index did.
#[derive(Debug, PartialEq, Eq)]
pub enum Inserted {
    Inserted,
    /// The unique index already holds that key.
    Duplicate,
}

impl Store {
    /// Stores a new account; `Duplicate` when the username is taken (the unique index decides,
    /// so two concurrent registrations of one name cannot both succeed).
    pub async fn insert_user(&self, user: &User) -> Result<Inserted, ApiError> {
        match self.collection::<User>("users").insert_one(user).await {
            Ok(_) => Ok(Inserted::Inserted),
            Err(e) if is_duplicate_key(&e) => Ok(Inserted::Duplicate),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn find_user(&self, username: &str) -> Result<Option<User>, ApiError> {
        Ok(self
            .collection::<User>("users")
            .find_one(doc! { "username": username })
            .await?)
    }

    pub async fn find_user_by_id(&self, account_id: &str) -> Result<Option<User>, ApiError> {
        Ok(self
            .collection::<User>("users")
            .find_one(doc! { "_id": account_id })
            .await?)
    }

    /// Whether the account exists: one read of the `_id` index.
    pub async fn account_exists(&self, account_id: &str) -> Result<bool, ApiError> {
        let found = self
            .collection::<mongodb::bson::Document>("users")
            .find_one(doc! { "_id": account_id })
            .projection(doc! { "_id": 1 })
            .await?;
        Ok(found.is_some())
    }

    /// Inside a transaction that makes a conversation live (create, fork, import, restore):
    /// writes the account's document, so that the transaction conflicts with the account's
    /// removal and cannot commit after it. Whether the account is still there. (Nothing reads
    /// the counter; the write is the point.)
    pub(crate) async fn hold_account(
        &self,
        session: &mut ClientSession,
        account_id: &str,
    ) -> mongodb::error::Result<bool> {
        let held = self
            .collection::<Document>("users")
            .update_one(
                doc! { "_id": account_id },
                doc! { "$inc": { "conversation_writes": 1 } },
            )
            .session(session)
            .await?;
        Ok(held.matched_count == 1)
    }

    /// Removes the account: from now on its tokens name no account.
    pub async fn delete_user(&self, account_id: &str) -> Result<(), ApiError> {
        self.collection::<User>("users")
            .delete_one(doc! { "_id": account_id })
            .await?;
        Ok(())
    }
}
