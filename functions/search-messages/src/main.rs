//! AWS Lambda function serving the `search-messages` endpoint (see `shared::routes`).

#[tokio::main]
async fn main() -> Result<(), shared::config::StartupError> {
    shared::lambda::run(
        shared::Endpoint::SearchMessages,
        shared::handlers::search_messages,
    )
    .await
}
