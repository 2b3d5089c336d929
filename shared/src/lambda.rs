//! The body of every function's `main`: set up once per cold start, then serve invocations.

use std::convert::Infallible;

use lambda_http::{Request, service_fn};

use crate::app::App;
use crate::config::{Mode, StartupError};
use crate::handlers::Outcome;
use crate::logging;
use crate::routes::Endpoint;

/// Builds the app (config, JWT secret, MongoDB client) once and hands `endpoint`, served by
/// `handler`, to the Lambda runtime. Returns only on a startup error, which Lambda reports as an
/// init failure. Taking the handler rather than dispatching on `endpoint` keeps every other
/// handler out of the function's binary (`Endpoint::handle_with`).
pub async fn run<H, F>(endpoint: Endpoint, handler: H) -> Result<(), StartupError>
where
    H: Fn(&'static App, Request) -> F + Copy + Send,
    F: Future<Output = Outcome> + Send,
{
    logging::init(true);
    // Lives as long as the execution environment; leaking it lets every invocation borrow it.
    let app = App::from_env(Mode::Lambda, Some(endpoint)).await?;
    let app: &'static App = Box::leak(Box::new(app));
    app.warm_up().await;
    lambda_http::run(service_fn(move |request| async move {
        Ok::<_, Infallible>(endpoint.handle_with(app, request, handler).await)
    }))
    .await
}
