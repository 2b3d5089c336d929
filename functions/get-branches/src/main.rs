//! AWS Lambda function serving the `get-branches` endpoint (see `shared::routes`).

#[tokio::main]
async fn main() -> Result<(), shared::config::StartupError> {
    shared::lambda::run(
        shared::Endpoint::GetBranches,
        shared::handlers::get_branches,
    )
    .await
}
