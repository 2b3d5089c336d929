//! AWS Lambda function serving the `export-chat` endpoint (see `shared::routes`).

#[tokio::main]
async fn main() -> Result<(), shared::config::StartupError> {
    shared::lambda::run(shared::Endpoint::ExportChat, shared::handlers::export_chat).await
}
