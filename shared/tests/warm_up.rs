//! Warm-up computes the decoy password hash, so the first login of an unknown username costs
//! no more than any other (a separate test binary: the hash is per process).

use std::time::Duration;

use shared::{App, Config};

#[tokio::test]
async fn warm_up_computes_the_decoy_hash_before_any_login() {
    assert!(!shared::auth::password::warmed_up());
    // No database is needed for this: warm-up gives up on it quickly and carries on.
    let mut config = Config::new("mongodb://127.0.0.1:9/?directConnection=true", "warm_up");
    config.db_timeout = Duration::from_millis(200);
    let app = App::new(config, b"warm-up-secret-warm-up-secret-warm-up!")
        .await
        .unwrap();
    app.warm_up().await;
    assert!(shared::auth::password::warmed_up());
}
