//! AWS Lambda function serving the `update-chat` endpoint (see `shared::routes`).

#[tokio::main]
async fn main() -> Result<(), shared::config::StartupError> {
    shared::lambda::run(shared::Endpoint::UpdateChat, shared::handlers::update_chat).await
}
