//! AWS Lambda function serving the `login` endpoint (see `shared::routes`).

#[tokio::main]
async fn main() -> Result<(), shared::config::StartupError> {
    shared::lambda::run(shared::Endpoint::Login, shared::handlers::login).await
}
