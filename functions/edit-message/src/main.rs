//! AWS Lambda function serving the `edit-message` endpoint (see `shared::routes`).

#[tokio::main]
async fn main() -> Result<(), shared::config::StartupError> {
    shared::lambda::run(
        shared::Endpoint::EditMessage,
        shared::handlers::edit_message,
    )
    .await
}
