//! AWS Lambda function serving the `delete-branch` endpoint (see `shared::routes`).

#[tokio::main]
async fn main() -> Result<(), shared::config::StartupError> {
    shared::lambda::run(
        shared::Endpoint::DeleteBranch,
        shared::handlers::delete_branch,
    )
    .await
}
