//! The local server: every route of the API on one port, served by the very handlers the
//! Lambda functions run. It turns each HTTP request into the `lambda_http::Request` API
//! Gateway would deliver (query parameters pre-parsed into the request extensions) and the
//! handler's response back into HTTP.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use lambda_http::aws_lambda_events::query_map::QueryMap;
use lambda_http::http::header;
use lambda_http::{Body, Request, RequestExt};
use tokio::net::TcpListener;

use crate::accounts;
use crate::app::App;
use crate::config::{Mode, StartupError};
use crate::error::ApiError;
use crate::logging;
use crate::routes::{self, Endpoint};
use crate::web;

pub const DEFAULT_ADDR: &str = "127.0.0.1:3000";

/// API Gateway refuses requests whose request line and headers together exceed 10 KiB before
/// any function runs; the local server refuses them too, with the usual JSON body.
const MAX_HEADER_BYTES: usize = 10 * 1024;

/// hyper's limit on a connection's read buffer, past which it answers a request head with a
/// bodiless 431 of its own. Far above `MAX_HEADER_BYTES`, so nearly every oversized head gets
/// our JSON answer instead; it also bounds what one connection can make us hold.
const MAX_BUFFER_BYTES: usize = 1024 * 1024;

/// `local-api`: configure from the environment, create the demo user, serve until Ctrl-C.
pub async fn run() -> Result<(), StartupError> {
    logging::init(false);
    crate::auth::password::return_large_blocks_to_the_os();
    let app = Arc::new(App::from_env(Mode::Local, None).await?);
    app.warm_up().await;
    match app.store().await {
        Ok(store) => match accounts::ensure_demo_user(store).await {
            Ok(()) => tracing::info!(
                username = accounts::DEMO_USERNAME,
                "demo user ready (password in the README)"
            ),
            Err(error) => tracing::warn!(%error, "could not create the demo user"),
        },
        Err(error) => tracing::warn!(%error, "MongoDB is not reachable yet"),
    }
    let addr: SocketAddr = std::env::var("LOCAL_ADDR")
        .unwrap_or_else(|_| DEFAULT_ADDR.into())
        .parse()?;
    let listener = TcpListener::bind(addr).await?;
    tracing::info!(
        "serving http://{addr}{} and the explorer at http://{addr}/",
        routes::BASE_PATH
    );
    tokio::select! {
        result = serve(app, listener) => result?,
        _ = tokio::signal::ctrl_c() => tracing::info!("shutting down"),
    }
    Ok(())
}

/// Serves HTTP/1.1 connections from `listener` until it fails.
pub async fn serve(app: Arc<App>, listener: TcpListener) -> std::io::Result<()> {
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(connection) => connection,
            // Out of file descriptors and the like: keep serving the connections we have.
            Err(error) => {
                tracing::warn!(%error, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let app = app.clone();
        tokio::spawn(async move {
            let header_read_timeout = app.config.header_read_timeout;
            let service = service_fn(move |request| respond(app.clone(), request));
            // A client that trickles its request head (slow loris) is cut off, as API
            // Gateway would; the timer is what makes hyper enforce the timeout.
            if let Err(error) = http1::Builder::new()
                .max_buf_size(MAX_BUFFER_BYTES)
                .timer(TokioTimer::new())
                .header_read_timeout(header_read_timeout)
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(%error, "connection closed with an error");
            }
        });
    }
}

async fn respond(
    app: Arc<App>,
    request: hyper::Request<Incoming>,
) -> Result<hyper::Response<Full<Bytes>>, Infallible> {
    let origin = request.headers().get(header::ORIGIN).cloned();
    if web::serves(request.uri().path()) {
        let (parts, _) = request.into_parts();
        let response = web::respond(&Request::from_parts(parts, Body::Empty));
        return Ok(response.map(|body| Full::new(Bytes::copy_from_slice(body.as_ref()))));
    }
    let response = match to_lambda_request(request).await {
        // In a task of its own: hyper drops a request's future when its client hangs up, and
        // a MongoDB operation dropped half-way leaves the driver without a usable connection
        // for seconds, for every request of the process. Left to finish, it costs nothing.
        Ok((endpoint, request)) => {
            let app = app.clone();
            let handled = tokio::spawn(async move { endpoint.handle(&app, request).await });
            handled
                .await
                .unwrap_or_else(|_| ApiError::Internal.into_response())
        }
        // Refused before any endpoint: CORS headers all the same, so a page can read why.
        Err(error) => {
            let mut response = error.into_response();
            app.config
                .cors_origins
                .decorate(origin.as_ref(), &mut response);
            response
        }
    };
    Ok(response.map(|body| Full::new(Bytes::copy_from_slice(body.as_ref()))))
}

/// The request as API Gateway would hand it to the function.
async fn to_lambda_request(
    request: hyper::Request<Incoming>,
) -> Result<(Endpoint, Request), ApiError> {
    let (parts, body) = request.into_parts();
    let request_line = parts.uri.path_and_query().map_or(0, |pq| pq.as_str().len());
    let header_bytes: usize = parts
        .headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if request_line + header_bytes > MAX_HEADER_BYTES {
        return Err(ApiError::HeadersTooLarge {
            limit: MAX_HEADER_BYTES,
        });
    }
    let endpoint = routes::find(parts.uri.path())?;
    // Reads one byte past the limit at most, so a huge upload costs no memory.
    let limit = endpoint.max_body_bytes();
    let bytes = Limited::new(body, limit)
        .collect()
        .await
        .map_err(|error| {
            if error.is::<LengthLimitError>() {
                ApiError::PayloadTooLarge { limit }
            } else {
                ApiError::BadRequest("Could not read the request body".into())
            }
        })?
        .to_bytes();
    let body = if bytes.is_empty() {
        Body::Empty
    } else {
        match String::from_utf8(bytes.to_vec()) {
            Ok(text) => Body::Text(text),
            Err(error) => Body::Binary(error.into_bytes()),
        }
    };
    let query: QueryMap = parts.uri.query().unwrap_or("").parse().unwrap_or_default();
    let request = Request::from_parts(parts, body).with_query_string_parameters(query);
    Ok((endpoint, request))
}
