//! AWS Lambda function serving the `register` endpoint (see `shared::routes`).

#[tokio::main]
async fn main() -> Result<(), shared::config::StartupError> {
    shared::lambda::run(shared::Endpoint::Register, shared::handlers::register).await
}
