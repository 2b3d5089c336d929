//! The one error type of the API. Each variant knows its HTTP status; every response body is
//! `{"detail": "..."}`, the shape FastAPI clients of the original service already parse.

use lambda_http::http::{HeaderValue, Method, StatusCode, header};
use lambda_http::{Body, Response};
use mongodb::error::{ErrorKind, WriteFailure};

#[derive(Clone, Debug, thiserror::Error)]
pub enum ApiError {
    /// The body is not JSON at all.
    #[error("{0}")]
    BadRequest(String),
    /// The request is well-formed but a field breaks a rule; `field` names it.
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    /// Missing, malformed, tampered or expired credentials.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// A browser page from an origin that may not call the API.
    #[error("{0}")]
    Forbidden(&'static str),
    /// Unknown resource, or one that belongs to another account: the two are indistinguishable.
    #[error("{0}")]
    NotFound(&'static str),
    /// A known path asked with the wrong method; carries the one it accepts.
    #[error("Method Not Allowed")]
    MethodNotAllowed(Method),
    #[error("{0}")]
    Conflict(&'static str),
    /// Too many failed logins for this username; it is locked for `retry_after` seconds.
    #[error("Too many failed login attempts; try again in {retry_after} seconds")]
    TooManyRequests { retry_after: u64 },
    #[error("Request body too large (limit {limit} bytes)")]
    PayloadTooLarge { limit: usize },
    /// Headers past API Gateway's limit. In AWS the gateway refuses them before any function
    /// runs; the local server answers this itself so it behaves the same.
    #[error("Request headers too large (limit {limit} bytes)")]
    HeadersTooLarge { limit: usize },
    /// The database cannot be reached or did not answer in time; the client may retry.
    #[error("{0}")]
    Unavailable(&'static str),
    /// A bug or an unexpected database answer; the cause is logged, never sent.
    #[error("Internal server error")]
    Internal,
}

impl ApiError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::HeadersTooLarge { .. } => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn into_response(self) -> Response<Body> {
        let mut response = crate::http::json(self.status(), &Detail::new(self.to_string()));
        let headers = response.headers_mut();
        match &self {
            Self::Unauthorized(_) => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            Self::Unavailable(_) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            Self::TooManyRequests { retry_after } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after));
            }
            Self::MethodNotAllowed(allow) => {
                if let Ok(value) = HeaderValue::from_str(&format!("{allow}, OPTIONS")) {
                    headers.insert(header::ALLOW, value);
                }
            }
            _ => {}
        }
        response
    }
}

/// The body of every error response.
#[derive(serde::Serialize)]
struct Detail {
    detail: String,
}

impl Detail {
    fn new(detail: String) -> Self {
        Self { detail }
    }
}

/// Whether a driver error means "MongoDB is unreachable or mid-failover" (worth a retry: 503)
/// rather than a bug (500).
pub(crate) fn is_unavailable(error: &mongodb::error::Error) -> bool {
    const RETRY_LABELS: [&str; 3] = [
        "RetryableWriteError",
        "TransientTransactionError",
        "UnknownTransactionCommitResult",
    ];
    matches!(
        *error.kind,
        ErrorKind::ServerSelection { .. }
            | ErrorKind::Io(_)
            | ErrorKind::ConnectionPoolCleared { .. }
            | ErrorKind::DnsResolve { .. }
            | ErrorKind::Shutdown
    ) || RETRY_LABELS.iter().any(|label| error.contains_label(label))
        || matches!(
            &*error.kind,
            ErrorKind::Write(WriteFailure::WriteConcernError(_))
        )
        || server_code(error).is_some_and(|code| RESTARTING_CODES.contains(&code))
}

/// Server answers that mean "this node is shutting down, stepping down, not primary or not
/// ready yet": a restart or a failover, over in seconds (the codes the driver retries a read
/// on; after one retry they reach us). A clean shutdown under load answers some with these.
const RESTARTING_CODES: [i32; 13] = [
    11600, 11602, 10107, 13435, 13436, 189, 91, 7, 6, 89, 9001, 134, 262,
];

fn server_code(error: &mongodb::error::Error) -> Option<i32> {
    match &*error.kind {
        ErrorKind::Command(e) => Some(e.code),
        ErrorKind::Write(WriteFailure::WriteError(e)) => Some(e.code),
        _ => None,
    }
}

/// Duplicate key (E11000): the unique index refused a second user, chat, or message position.
pub(crate) fn is_duplicate_key(error: &mongodb::error::Error) -> bool {
    match &*error.kind {
        ErrorKind::Write(WriteFailure::WriteError(e)) => e.code == 11000,
        ErrorKind::Command(e) => e.code == 11000,
        _ => false,
    }
}

/// A result over MongoDB's 16 MB document limit: a `$lookup` array (4568) or a whole result
/// document (10334, BSONObjectTooLarge).
pub(crate) fn is_too_large(error: &mongodb::error::Error) -> bool {
    matches!(server_code(error), Some(4568 | 10334))
}

impl From<mongodb::error::Error> for ApiError {
    fn from(error: mongodb::error::Error) -> Self {
        if is_unavailable(&error) {
            tracing::warn!(%error, "database unavailable");
            Self::Unavailable("Database unavailable, please retry")
        } else {
            tracing::error!(%error, "database error");
            Self::Internal
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(response: &Response<Body>) -> serde_json::Value {
        serde_json::from_slice(response.body().as_ref()).unwrap()
    }

    #[test]
    fn every_error_is_a_json_detail_with_its_status() {
        let response = ApiError::invalid("name", "must not be blank").into_response();
        assert_eq!(response.status(), 422);
        assert_eq!(response.headers()["content-type"], "application/json");
        assert_eq!(body(&response)["detail"], "name: must not be blank");
    }

    #[test]
    fn unauthorized_asks_for_a_bearer_token() {
        let response = ApiError::Unauthorized("Not authenticated").into_response();
        assert_eq!(response.status(), 401);
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
        assert_eq!(body(&response)["detail"], "Not authenticated");
    }

    #[test]
    fn oversized_headers_are_431_naming_the_limit() {
        let response = ApiError::HeadersTooLarge { limit: 10240 }.into_response();
        assert_eq!(response.status(), 431);
        assert_eq!(
            body(&response)["detail"],
            "Request headers too large (limit 10240 bytes)"
        );
    }

    #[test]
    fn a_node_shutting_down_or_stepping_down_is_503_not_500() {
        for code in [91, 11600, 189, 10107, 134] {
            let command: mongodb::error::CommandError = serde_json::from_value(
                serde_json::json!({"code": code, "codeName": "ShutdownInProgress", "errmsg": "shutting down"}),
            )
            .unwrap();
            let error = mongodb::error::Error::from(ErrorKind::Command(command));
            assert_eq!(ApiError::from(error).status(), 503, "{code}");
        }
    }

    #[test]
    fn unreachable_database_is_503_not_500() {
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        let error = mongodb::error::Error::from(refused);
        let response = ApiError::from(error).into_response();
        assert_eq!(response.status(), 503);
        assert!(
            body(&response)["detail"]
                .as_str()
                .unwrap()
                .contains("unavailable")
        );
    }
}
