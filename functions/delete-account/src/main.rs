//! AWS Lambda function serving the `delete-account` endpoint (see `shared::routes`).

#[tokio::main]
async fn main() -> Result<(), shared::config::StartupError> {
    shared::lambda::run(
        shared::Endpoint::DeleteAccount,
        shared::handlers::delete_account,
    )
    .await
}
