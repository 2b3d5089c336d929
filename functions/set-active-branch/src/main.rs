//! AWS Lambda function serving the `set-active-branch` endpoint (see `shared::routes`).

#[tokio::main]
async fn main() -> Result<(), shared::config::StartupError> {
    shared::lambda::run(
        shared::Endpoint::SetActiveBranch,
        shared::handlers::set_active_branch,
    )
    .await
}
