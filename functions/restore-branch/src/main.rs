//! AWS Lambda function serving the `restore-branch` endpoint (see `shared::routes`).

#[tokio::main]
async fn main() -> Result<(), shared::config::StartupError> {
    shared::lambda::run(
        shared::Endpoint::RestoreBranch,
        shared::handlers::restore_branch,
    )
    .await
}
