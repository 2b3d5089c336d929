//! The route table: which function serves which method and path. API Gateway (template.yaml),
//! `cargo lambda watch` (Cargo.toml) and the local server all follow it; a test checks that.

use std::panic::AssertUnwindSafe;
use std::time::Instant;

use futures_util::FutureExt;
use lambda_http::http::{Method, header};
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
    DeleteAccount,
    CreateChat,
    GetChat,
    ListChats,
    UpdateChat,
    DeleteChat,
    RestoreChat,
    ListDeleted,
    GetTree,
    ForkChat,
    ExportChat,
    ExportChats,
    ImportChats,
    AddMessage,
    SearchMessages,
    EditMessage,
    RegenerateMessage,
    CreateBranch,
    GetBranches,
    SetActiveBranch,
    DeleteBranch,
    RestoreBranch,
    PruneBranches,
    PromoteBranch,
    CompareBranches,
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
        endpoint: Endpoint::DeleteAccount,
        function: "delete-account",
        method: Method::DELETE,
        path: "/api/v1/auth/delete-account",
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
        endpoint: Endpoint::ListChats,
        function: "list-chats",
        method: Method::GET,
        path: "/api/v1/chats/list-chats",
    },
    Route {
        endpoint: Endpoint::UpdateChat,
        function: "update-chat",
        method: Method::PATCH,
        path: "/api/v1/chats/update-chat",
    },
    Route {
        endpoint: Endpoint::DeleteChat,
        function: "delete-chat",
        method: Method::DELETE,
        path: "/api/v1/chats/delete-chat",
    },
    Route {
        endpoint: Endpoint::RestoreChat,
        function: "restore-chat",
        method: Method::POST,
        path: "/api/v1/chats/restore-chat",
    },
    Route {
        endpoint: Endpoint::ListDeleted,
        function: "list-deleted",
        method: Method::GET,
        path: "/api/v1/chats/list-deleted",
    },
    Route {
        endpoint: Endpoint::GetTree,
        function: "get-tree",
        method: Method::GET,
        path: "/api/v1/chats/get-tree",
    },
    Route {
        endpoint: Endpoint::ForkChat,
        function: "fork-chat",
        method: Method::POST,
        path: "/api/v1/chats/fork-chat",
    },
    Route {
        endpoint: Endpoint::ExportChat,
        function: "export-chat",
        method: Method::GET,
        path: "/api/v1/chats/export-chat",
    },
    Route {
        endpoint: Endpoint::ExportChats,
        function: "export-chats",
        method: Method::GET,
        path: "/api/v1/chats/export-chats",
    },
    Route {
        endpoint: Endpoint::ImportChats,
        function: "import-chats",
        method: Method::POST,
        path: "/api/v1/chats/import-chats",
    },
    Route {
        endpoint: Endpoint::AddMessage,
        function: "add-message",
        method: Method::POST,
        path: "/api/v1/messages/add-message",
    },
    Route {
        endpoint: Endpoint::SearchMessages,
        function: "search-messages",
        method: Method::GET,
        path: "/api/v1/messages/search-messages",
    },
    Route {
        endpoint: Endpoint::EditMessage,
        function: "edit-message",
        method: Method::POST,
        path: "/api/v1/messages/edit-message",
    },
    Route {
        endpoint: Endpoint::RegenerateMessage,
        function: "regenerate-message",
        method: Method::POST,
        path: "/api/v1/messages/regenerate-message",
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
    Route {
        endpoint: Endpoint::DeleteBranch,
        function: "delete-branch",
        method: Method::DELETE,
        path: "/api/v1/branches/delete-branch",
    },
    Route {
        endpoint: Endpoint::RestoreBranch,
        function: "restore-branch",
        method: Method::POST,
        path: "/api/v1/branches/restore-branch",
    },
    Route {
        endpoint: Endpoint::PruneBranches,
        function: "prune-branches",
        method: Method::POST,
        path: "/api/v1/branches/prune-branches",
    },
    Route {
        endpoint: Endpoint::PromoteBranch,
        function: "promote-branch",
        method: Method::POST,
        path: "/api/v1/branches/promote-branch",
    },
    Route {
        endpoint: Endpoint::CompareBranches,
        function: "compare-branches",
        method: Method::GET,
        path: "/api/v1/branches/compare-branches",
    },
];

/// The endpoint serving `path`, whatever the method: 404 for an unknown path. As in AWS, where
/// API Gateway hands a function every method of its path, the endpoint itself answers
/// preflights and wrong methods (`Endpoint::handle`).
pub fn find(path: &str) -> Result<Endpoint, ApiError> {
    let path = path
        .strip_suffix('/')
        .filter(|p| !p.is_empty())
        .unwrap_or(path);
    ROUTES
        .iter()
        .find(|r| r.path == path)
        .map(|r| r.endpoint)
        .ok_or(ApiError::NotFound("Not Found"))
}

tokio::task_local! {
    /// When the request being served must have been answered.
    static DEADLINE: Instant;
}

/// The current request's deadline, inside `Endpoint::handle`. Work that must clean up before
/// answering (a transaction to abort) stops short of it.
pub(crate) fn deadline() -> Option<Instant> {
    DEADLINE.try_with(|deadline| *deadline).ok()
}

/// Runs `work` as if its request had to be answered by `deadline` (work done for several
/// requests at once finishes before the earliest of theirs).
pub(crate) async fn within<F: Future>(deadline: Instant, work: F) -> F::Output {
    DEADLINE.scope(deadline, work).await
}

impl Endpoint {
    pub fn route(self) -> &'static Route {
        ROUTES
            .iter()
            .find(|r| r.endpoint == self)
            .expect("every endpoint has a route")
    }

    /// The largest body this endpoint takes: an import carries a whole export.
    pub fn max_body_bytes(self) -> usize {
        match self {
            Self::ImportChats => crate::exports::MAX_IMPORT_BYTES,
            _ => crate::requests::MAX_BODY_BYTES,
        }
    }

    /// Whether the function needs the JWT secret: all but register, which neither signs nor
    /// checks a token, and so is never given it.
    pub fn needs_tokens(self) -> bool {
        self != Self::Register
    }

    /// Serves one request on this endpoint's path: the preflight for `OPTIONS`, 405 with
    /// `Allow` for another wrong method, else the handler. Every answer carries the CORS
    /// headers; none fails, hangs past the request timeout, or is lost to a panic.
    pub async fn handle(self, app: &App, request: Request) -> Response<Body> {
        self.handle_with(app, request, |app, request| self.dispatch(app, request))
            .await
    }

    /// `handle` with the endpoint's handler given by the caller. A Lambda function passes its
    /// own (`lambda::run`), so the call is resolved at compile time and LTO drops every other
    /// handler from its binary; `handle` passes the runtime dispatch over all of them.
    pub async fn handle_with<'a, H, F>(
        self,
        app: &'a App,
        request: Request,
        handler: H,
    ) -> Response<Body>
    where
        H: FnOnce(&'a App, Request) -> F,
        F: Future<Output = handlers::Outcome>,
    {
        let started = Instant::now();
        let origin = request.headers().get(header::ORIGIN).cloned();
        let route = self.route();
        let cors = &app.config.cors_origins;
        let mut response = if request.method() == Method::OPTIONS {
            cors.preflight(origin.as_ref(), &format!("{}, OPTIONS", route.method))
        } else if request.method() != route.method {
            ApiError::MethodNotAllowed(route.method.clone()).into_response()
        } else {
            self.serve(app, request, handler, started).await
        };
        cors.decorate(origin.as_ref(), &mut response);
        tracing::info!(
            function = route.function,
            status = response.status().as_u16(),
            ms = started.elapsed().as_millis() as u64,
            "request"
        );
        response
    }

    async fn serve<'a, H, F>(
        self,
        app: &'a App,
        request: Request,
        handler: H,
        started: Instant,
    ) -> Response<Body>
    where
        H: FnOnce(&'a App, Request) -> F,
        F: Future<Output = handlers::Outcome>,
    {
        let deadline = started + app.config.request_timeout;
        // The handler is called inside, so a panic even before its first await is caught.
        let work = DEADLINE.scope(deadline, async move { handler(app, request).await });
        let result =
            match tokio::time::timeout_at(deadline.into(), AssertUnwindSafe(work).catch_unwind())
                .await
            {
                Ok(Ok(result)) => result,
                Ok(Err(_panic)) => {
                    tracing::error!(function = self.route().function, "handler panicked");
                    Err(ApiError::Internal)
                }
                Err(_elapsed) => Err(ApiError::Unavailable("Request timed out, please retry")),
            };
        result.unwrap_or_else(ApiError::into_response)
    }

    async fn dispatch(self, app: &App, request: Request) -> handlers::Outcome {
        match self {
            Self::Register => handlers::register(app, request).await,
            Self::Login => handlers::login(app, request).await,
            Self::DeleteAccount => handlers::delete_account(app, request).await,
            Self::CreateChat => handlers::create_chat(app, request).await,
            Self::GetChat => handlers::get_chat(app, request).await,
            Self::ListChats => handlers::list_chats(app, request).await,
            Self::UpdateChat => handlers::update_chat(app, request).await,
            Self::DeleteChat => handlers::delete_chat(app, request).await,
            Self::RestoreChat => handlers::restore_chat(app, request).await,
            Self::ListDeleted => handlers::list_deleted(app, request).await,
            Self::GetTree => handlers::get_tree(app, request).await,
            Self::ForkChat => handlers::fork_chat(app, request).await,
            Self::ExportChat => handlers::export_chat(app, request).await,
            Self::ExportChats => handlers::export_chats(app, request).await,
            Self::ImportChats => handlers::import_chats(app, request).await,
            Self::AddMessage => handlers::add_message(app, request).await,
            Self::SearchMessages => handlers::search_messages(app, request).await,
            Self::EditMessage => handlers::edit_message(app, request).await,
            Self::RegenerateMessage => handlers::regenerate_message(app, request).await,
            Self::CreateBranch => handlers::create_branch(app, request).await,
            Self::GetBranches => handlers::get_branches(app, request).await,
            Self::SetActiveBranch => handlers::set_active_branch(app, request).await,
            Self::DeleteBranch => handlers::delete_branch(app, request).await,
            Self::RestoreBranch => handlers::restore_branch(app, request).await,
            Self::PruneBranches => handlers::prune_branches(app, request).await,
            Self::PromoteBranch => handlers::promote_branch(app, request).await,
            Self::CompareBranches => handlers::compare_branches(app, request).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_resolve_by_path() {
        assert_eq!(find("/api/v1/auth/login").unwrap(), Endpoint::Login);
        assert_eq!(find("/api/v1/chats/get-chat/").unwrap(), Endpoint::GetChat);
        assert_eq!(find("/api/v1/nope").unwrap_err().status(), 404);
        assert_eq!(find("/").unwrap_err().status(), 404);
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
