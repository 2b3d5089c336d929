//! AWS Lambda function serving the `prune-branches` endpoint (see `shared::routes`).

#[tokio::main]
async fn main() -> Result<(), shared::config::StartupError> {
    shared::lambda::run(
        shared::Endpoint::PruneBranches,
        shared::handlers::prune_branches,
    )
    .await
}
