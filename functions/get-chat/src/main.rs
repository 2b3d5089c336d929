//! AWS Lambda function serving the `get-chat` endpoint (see `shared::routes`).

#[tokio::main]
async fn main() -> Result<(), shared::config::StartupError> {
    shared::lambda::run(shared::Endpoint::GetChat, shared::handlers::get_chat).await
}
