//! AWS Lambda function serving the `import-chats` endpoint (see `shared::routes`).

#[tokio::main]
async fn main() -> Result<(), shared::config::StartupError> {
    shared::lambda::run(
        shared::Endpoint::ImportChats,
        shared::handlers::import_chats,
    )
    .await
}
