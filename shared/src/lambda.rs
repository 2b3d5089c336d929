//! The body of every function's `main`: set up once per cold start, then serve invocations.

use std::convert::Infallible;

use std::pin::Pin;

use lambda_http::{Body, IntoResponse, Request, Response, service_fn};

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
        Ok::<_, Infallible>(Ready(endpoint.handle_with(app, request, handler).await))
    }))
    .await
}

/// An answer handed to the runtime as it is. lambda_http's own conversion collects every body
/// and decodes it again by the charset its content type names, which costs a copy of each
/// answer and links encoding_rs's tables into every function; ours are UTF-8 JSON, the page's
/// files, or empty.
pub(crate) struct Ready(pub(crate) Response<Body>);

impl IntoResponse for Ready {
    fn into_response(self) -> Pin<Box<dyn Future<Output = Response<Body>> + Send>> {
        let (parts, body) = self.0.into_parts();
        // A binary body would reach API Gateway base64-encoded; text goes as text.
        let body = match body {
            Body::Binary(bytes) => match String::from_utf8(bytes) {
                Ok(text) => Body::Text(text),
                Err(error) => Body::Binary(error.into_bytes()),
            },
            body => body,
        };
        Box::pin(std::future::ready(Response::from_parts(parts, body)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn handed_over(body: Body) -> Body {
        Ready(Response::new(body)).into_response().await.into_body()
    }

    #[tokio::test]
    async fn answers_reach_api_gateway_as_text_unless_they_are_not_utf8() {
        let json = br#"{"detail":"Chat not found"}"#.to_vec();
        assert!(matches!(
            handed_over(Body::Binary(json)).await,
            Body::Text(text) if text == r#"{"detail":"Chat not found"}"#
        ));
        let page = Body::Text("<!doctype html>".into());
        assert!(matches!(handed_over(page).await, Body::Text(t) if t == "<!doctype html>"));
        assert!(matches!(handed_over(Body::Empty).await, Body::Empty));
        let bytes = vec![0xff, 0xfe];
        assert!(
            matches!(handed_over(Body::Binary(bytes)).await, Body::Binary(b) if b == [0xff, 0xfe])
        );
    }
}
