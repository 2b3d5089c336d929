//! AWS Lambda function serving the `compare-branches` endpoint (see `shared::routes`).

#[tokio::main]
async fn main() -> Result<(), shared::config::StartupError> {
    shared::lambda::run(
        shared::Endpoint::CompareBranches,
        shared::handlers::compare_branches,
    )
    .await
}
