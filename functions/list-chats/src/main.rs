//! AWS Lambda function serving the `list-chats` endpoint (see `shared::routes`).

#[tokio::main]
async fn main() -> Result<(), shared::config::StartupError> {
    shared::lambda::run(shared::Endpoint::ListChats, shared::handlers::list_chats).await
}
