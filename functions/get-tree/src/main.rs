//! AWS Lambda function serving the `get-tree` endpoint (see `shared::routes`).

#[tokio::main]
async fn main() -> Result<(), shared::config::StartupError> {
    shared::lambda::run(shared::Endpoint::GetTree, shared::handlers::get_tree).await
}
