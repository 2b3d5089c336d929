//! AWS Lambda function serving the `regenerate-message` endpoint (see `shared::routes`).

#[tokio::main]
async fn main() -> Result<(), shared::config::StartupError> {
    shared::lambda::run(
        shared::Endpoint::RegenerateMessage,
        shared::handlers::regenerate_message,
    )
    .await
}
