//! Warm-up computes the decoy password hash where logins are served, so the first login of an
//! unknown username costs no more than any other; the other functions start without that work
//! (a separate test binary: the hash is per process).

use shared::{App, Endpoint, Mode};

#[tokio::test]
async fn only_the_login_function_computes_the_decoy_hash_at_warm_up() {
    // No database is needed for this: warm-up gives up on it quickly and carries on.
    // SAFETY: set before anything else in this test binary reads the environment.
    unsafe {
        std::env::set_var(
            "MONGODB_URI",
            "mongodb://127.0.0.1:9/?directConnection=true",
        );
        std::env::set_var("MONGODB_TIMEOUT_MS", "200");
        std::env::set_var("JWT_SECRET", "warm-up-secret-warm-up-secret-warm-up!");
    }
    let started = |function| async move {
        let app = App::from_env(Mode::Lambda, function).await.unwrap();
        app.warm_up().await;
    };
    for function in [
        Endpoint::GetChat,
        Endpoint::AddMessage,
        Endpoint::DeleteAccount,
    ] {
        started(Some(function)).await;
        assert!(!shared::auth::password::warmed_up(), "{function:?}");
    }
    started(Some(Endpoint::Login)).await;
    assert!(shared::auth::password::warmed_up());
}
