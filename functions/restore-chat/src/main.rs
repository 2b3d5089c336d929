//! AWS Lambda function serving the `restore-chat` endpoint (see `shared::routes`).

#[tokio::main]
async fn main() -> Result<(), shared::config::StartupError> {
    shared::lambda::run(
        shared::Endpoint::RestoreChat,
        shared::handlers::restore_chat,
    )
    .await
}
