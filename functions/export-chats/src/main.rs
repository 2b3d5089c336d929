//! AWS Lambda function serving the `export-chats` endpoint (see `shared::routes`).

#[tokio::main]
async fn main() -> Result<(), shared::config::StartupError> {
    shared::lambda::run(
        shared::Endpoint::ExportChats,
        shared::handlers::export_chats,
    )
    .await
}
