//! The whole API on one local port (default 127.0.0.1:3000, `LOCAL_ADDR` to change), served
//! by the same handlers as the Lambda functions. Start it with `scripts/dev.sh`.

#[tokio::main]
async fn main() -> Result<(), shared::config::StartupError> {
    shared::local::run().await
}
