//! The `web` function: the conversation explorer's page and files (`shared::web`).

#[tokio::main]
async fn main() -> Result<(), shared::lambda_http::Error> {
    shared::web::run().await
}
