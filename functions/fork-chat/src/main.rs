//! AWS Lambda function serving the `fork-chat` endpoint (see `shared::routes`).

#[tokio::main]
async fn main() -> Result<(), shared::config::StartupError> {
    shared::lambda::run(shared::Endpoint::ForkChat, shared::handlers::fork_chat).await
}
