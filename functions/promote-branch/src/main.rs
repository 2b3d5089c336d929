//! AWS Lambda function serving the `promote-branch` endpoint (see `shared::routes`).

#[tokio::main]
async fn main() -> Result<(), shared::config::StartupError> {
    shared::lambda::run(
        shared::Endpoint::PromoteBranch,
        shared::handlers::promote_branch,
    )
    .await
}
