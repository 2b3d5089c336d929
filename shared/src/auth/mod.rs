//! Who is calling: password hashing for accounts, signed tokens for requests.

pub mod known_accounts;
pub mod password;
pub mod token;
