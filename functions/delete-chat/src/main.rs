//! AWS Lambda function serving the `delete-chat` endpoint (see `shared::routes`).

#[tokio::main]
async fn main() -> Result<(), shared::config::StartupError> {
    shared::lambda::run(shared::Endpoint::DeleteChat, shared::handlers::delete_chat).await
}
