//! The connection budget (README, *Scaling*): an instance with the smallest pool serves the
//! handlers that send two queries at once, and still serves after a request was cut off by its
//! timeout in the middle of a query (its driver future dropped, its connection in use).

use std::time::Duration;

use mongodb::bson::doc;
use shared::Pool;

use crate::common::*;

#[tokio::test]
async fn a_request_cut_off_mid_query_leaves_a_one_connection_pool_usable() {
    let (mut config, name) = config_named(&unique_database());
    config.pool = Pool {
        max_size: 1,
        ..Pool::LAMBDA
    };
    config.request_timeout = Duration::from_millis(800);
    let app = app_with(config).await;
    // Login sends two queries at once: with one connection they take turns.
    let (_, token) = user(&app).await;
    let chat = create_chat(&app, &token, "budget").await;
    assert_eq!(add_message(&app, &token, &chat, "q").await.status, 200);

    fail_point(
        &name,
        doc! { "failCommands": ["aggregate"], "blockConnection": true, "blockTimeMS": 3000 },
        1,
    )
    .await;
    let reply = get_chat(&app, &token, &chat).await;
    assert_eq!(reply.status, 503, "{}", reply.body);
    // The next request finds a connection at once (else it would time out too).
    for _ in 0..3 {
        let reply = get_chat(&app, &token, &chat).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
    }
}
