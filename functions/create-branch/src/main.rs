//! AWS Lambda function serving the `create-branch` endpoint (see `shared::routes`).

#[tokio::main]
async fn main() -> Result<(), shared::config::StartupError> {
    shared::lambda::run(
        shared::Endpoint::CreateBranch,
        shared::handlers::create_branch,
    )
    .await
}
