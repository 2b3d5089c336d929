//! Password hashing with Argon2id (OWASP parameters: 19 MiB, 2 passes, 1 lane — the crate's
//! defaults), run on the blocking pool so a hash never stalls other requests.

use std::sync::{Arc, LazyLock, OnceLock};

use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use tokio::sync::Semaphore;

use crate::error::ApiError;

/// Hashes run at most one per core at a time. They are CPU-bound, so more in parallel would not
/// finish sooner, and each holds 19 MiB: a flood of logins must queue, not exhaust memory.
static HASHING: LazyLock<Arc<Semaphore>> = LazyLock::new(|| {
    Arc::new(Semaphore::new(
        std::thread::available_parallelism().map_or(2, |n| n.get()),
    ))
});

/// Runs one hash on the blocking pool once a core is free for it. The permit travels with the
/// hash: a request that times out or is dropped does not free the core before its hash ends.
async fn run_hash<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    let permit = HASHING.clone().acquire_owned().await.ok()?;
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        work()
    })
    .await
    .ok()
}

/// glibc serves a 19 MiB block with mmap only until the first one is freed; then it raises its
/// mmap threshold and keeps such blocks in per-thread arenas, so a long-lived process that
/// hashed on many blocking threads holds hundreds of MiB it no longer uses (measured: the local
/// server at 1.5 GiB after a 15-second, 16-client load). A fixed threshold hands each block
/// back. Called once at start by the local server; a Lambda instance hashes one password at a
/// time and needs nothing.
pub fn return_large_blocks_to_the_os() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only adjusts allocator parameters; any value is valid.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}

/// A hash of a random password nobody knows. Unknown usernames are verified against it so
/// that "no such user" costs as much time as "wrong password" and the two cannot be told apart.
static DECOY_HASH: OnceLock<String> = OnceLock::new();

fn decoy_hash() -> &'static str {
    DECOY_HASH.get_or_init(|| {
        let mut password = [0u8; 32];
        // Without randomness any fixed input serves: nobody can log in as an unknown user.
        let _ = getrandom::fill(&mut password);
        hash_now(&password).unwrap_or_default()
    })
}

/// Computes the decoy hash now, on the blocking pool, so that no login pays for it.
pub async fn warm_up() {
    run_hash(|| decoy_hash().len()).await;
}

/// Whether the decoy hash has been computed.
pub fn warmed_up() -> bool {
    DECOY_HASH.get().is_some()
}

fn hash_now(password: &[u8]) -> Result<String, argon2::password_hash::Error> {
    Ok(Argon2::default().hash_password(password)?.to_string())
}

/// Hashes a new password into a PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`).
pub async fn hash(password: String) -> Result<String, ApiError> {
    run_hash(move || hash_now(password.as_bytes()))
        .await
        .ok_or(ApiError::Internal)?
        .map_err(|e| {
            tracing::error!(error = %e, "password hashing failed");
            ApiError::Internal
        })
}

/// Checks `password` against a stored hash, or against the decoy when the user does not exist.
pub async fn verify(password: String, stored: Option<String>) -> bool {
    run_hash(move || {
        let hash = stored.as_deref().unwrap_or_else(|| decoy_hash());
        let matches = Argon2::default()
            .verify_password(password.as_bytes(), hash)
            .is_ok();
        matches && stored.is_some()
    })
    .await
    .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let stored = hash("correct horse".into()).await.unwrap();
        assert!(stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(verify("correct horse".into(), Some(stored.clone())).await);
        assert!(!verify("correct horsf".into(), Some(stored)).await);
    }

    #[tokio::test]
    async fn unknown_users_never_verify() {
        assert!(!verify(String::new(), None).await);
        assert!(!verify("anything".into(), None).await);
    }

    #[tokio::test]
    async fn the_same_password_hashes_differently_each_time() {
        let a = hash("same password".into()).await.unwrap();
        let b = hash("same password".into()).await.unwrap();
        assert_ne!(a, b);
    }
}
