//! Who is calling: password hashing for accounts, signed tokens for requests.

pub mod password;
pub mod token;
