//! AWS Lambda function serving the `add-message` endpoint (see `shared::routes`).

#[tokio::main]
async fn main() -> Result<(), shared::config::StartupError> {
    shared::lambda::run(shared::Endpoint::AddMessage, shared::handlers::add_message).await
}
