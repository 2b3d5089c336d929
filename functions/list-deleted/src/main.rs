//! AWS Lambda function serving the `list-deleted` endpoint (see `shared::routes`).

#[tokio::main]
async fn main() -> Result<(), shared::config::StartupError> {
    shared::lambda::run(
        shared::Endpoint::ListDeleted,
        shared::handlers::list_deleted,
    )
    .await
}
