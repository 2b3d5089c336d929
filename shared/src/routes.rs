//! The route table: which function serves which method and path. API Gateway (template.yaml),
//! `cargo lambda watch` (Cargo.toml) and the local server all follow it; a test checks that.

use std::panic::AssertUnwindSafe;
use std::time::Instant;

use futures_util::FutureExt;
use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};

use crate::app::App;
use crate::error::ApiError;
use crate::handlers;

/// Every path lives under this prefix.
pub const BASE_PATH: &str = "/api/v1";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    Register,
    Login,
    CreateChat,
    GetChat,
    AddMessage,
    CreateBranch,
    GetBranches,
    SetActiveBranch,
}

pub struct Route {
    pub endpoint: Endpoint,
    /// The Lambda function (binary under `functions/`) that serves it.
    pub function: &'static str,
    pub method: Method,
    pub path: &'static str,
}

pub const ROUTES: &[Route] = &[
    Route {
        endpoint: Endpoint::Register,
        function: "register",
        method: Method::POST,
        path: "/api/v1/auth/register",
    },
    Route {
        endpoint: Endpoint::Login,
        function: "login",
        method: Method::POST,
        path: "/api/v1/auth/login",
    },
    Route {
        endpoint: Endpoint::CreateChat,
        function: "create-chat",
        method: Method::POST,
        path: "/api/v1/chats/create-chat",
    },
    Route {
        endpoint: Endpoint::GetChat,
        function: "get-chat",
        method: Method::GET,
        path: "/api/v1/chats/get-chat",
    },
    Route {
        endpoint: Endpoint::AddMessage,
        function: "add-message",
        method: Method::POST,
        path: "/api/v1/messages/add-message",
    },
    Route {
        endpoint: Endpoint::CreateBranch,
        function: "create-branch",
        method: Method::POST,
        path: "/api/v1/branches/create-branch",
    },
    Route {
        endpoint: Endpoint::GetBranches,
        function: "get-branches",
        method: Method::GET,
        path: "/api/v1/branches/get-branches",
    },
    Route {
        endpoint: Endpoint::SetActiveBranch,
        function: "set-active-branch",
        method: Method::PUT,
        path: "/api/v1/branches/set-active-branch",
    },
];

/// The endpoint for a method and path: 404 for an unknown path, 405 for a known path with the
/// wrong method.
pub fn find(method: &Method, path: &str) -> Result<Endpoint, ApiError> {
    let path = path
        .strip_suffix('/')
        .filter(|p| !p.is_empty())
        .unwrap_or(path);
    let mut allowed = None;
    for route in ROUTES.iter().filter(|r| r.path == path) {
        if route.method == method {
            return Ok(route.endpoint);
        }
        allowed = Some(route.method.clone());
    }
    Err(match allowed {
        Some(method) => ApiError::MethodNotAllowed(method),
        None => ApiError::NotFound("Not Found"),
    })
}

impl Endpoint {
    pub fn route(self) -> &'static Route {
        ROUTES
            .iter()
            .find(|r| r.endpoint == self)
            .expect("every endpoint has a route")
    }

    /// Serves one request: never fails, never hangs past the configured request timeout, and
    /// answers even if a handler panics.
    pub async fn handle(self, app: &App, request: Request) -> Response<Body> {
        let started = Instant::now();
        let work = AssertUnwindSafe(self.dispatch(app, request)).catch_unwind();
        let result = match tokio::time::timeout(app.config.request_timeout, work).await {
            Ok(Ok(result)) => result,
            Ok(Err(_panic)) => {
                tracing::error!(function = self.route().function, "handler panicked");
                Err(ApiError::Internal)
            }
            Err(_elapsed) => Err(ApiError::Unavailable("Request timed out, please retry")),
        };
        let response = result.unwrap_or_else(ApiError::into_response);
        tracing::info!(
            function = self.route().function,
            status = response.status().as_u16(),
            ms = started.elapsed().as_millis() as u64,
            "request"
        );
        response
    }

    async fn dispatch(self, app: &App, request: Request) -> handlers::Outcome {
        match self {
            Self::Register => handlers::register(app, request).await,
            Self::Login => handlers::login(app, request).await,
            Self::CreateChat => handlers::create_chat(app, request).await,
            Self::GetChat => handlers::get_chat(app, request).await,
            Self::AddMessage => handlers::add_message(app, request).await,
            Self::CreateBranch => handlers::create_branch(app, request).await,
            Self::GetBranches => handlers::get_branches(app, request).await,
            Self::SetActiveBranch => handlers::set_active_branch(app, request).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_resolve_by_method_and_path() {
        assert_eq!(
            find(&Method::POST, "/api/v1/auth/login").unwrap(),
            Endpoint::Login
        );
        assert_eq!(
            find(&Method::GET, "/api/v1/chats/get-chat/").unwrap(),
            Endpoint::GetChat
        );
        assert_eq!(
            find(&Method::GET, "/api/v1/auth/login")
                .unwrap_err()
                .status(),
            405
        );
        assert_eq!(
            find(&Method::GET, "/api/v1/nope").unwrap_err().status(),
            404
        );
        assert_eq!(find(&Method::GET, "/").unwrap_err().status(), 404);
    }

    #[test]
    fn every_endpoint_has_exactly_one_route_under_the_base_path() {
        for route in ROUTES {
            assert_eq!(route.endpoint.route().function, route.function);
            assert!(route.path.starts_with(BASE_PATH));
            assert_eq!(
                ROUTES
                    .iter()
                    .filter(|r| r.function == route.function)
                    .count(),
                1
            );
        }
    }
}
