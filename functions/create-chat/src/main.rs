//! AWS Lambda function serving the `create-chat` endpoint (see `shared::routes`).

#[tokio::main]
async fn main() -> Result<(), shared::config::StartupError> {
    shared::lambda::run(shared::Endpoint::CreateChat, shared::handlers::create_chat).await
}
