//! HTTP plumbing: find the bearer token, answer with JSON. (Bodies and query parameters are
//! read by `requests`.)

use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Request, Response};
use serde::Serialize;

use crate::error::ApiError;

/// Longest `Authorization` token considered; a real one is ~200 bytes.
const MAX_TOKEN_BYTES: usize = 4096;

/// The token of an `Authorization: Bearer <token>` header.
pub fn bearer_token(request: &Request) -> Result<&str, ApiError> {
    let header = request
        .headers()
        .get(header::AUTHORIZATION)
        .ok_or(ApiError::Unauthorized("Not authenticated"))?;
    let value = header
        .to_str()
        .map_err(|_| ApiError::Unauthorized("Could not validate credentials"))?;
    let (scheme, token) = value
        .split_once(' ')
        .ok_or(ApiError::Unauthorized("Not authenticated"))?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(ApiError::Unauthorized("Not authenticated"));
    }
    if token.len() > MAX_TOKEN_BYTES {
        return Err(ApiError::Unauthorized("Could not validate credentials"));
    }
    Ok(token)
}

/// A JSON response with the given status.
pub fn json<T: Serialize>(status: StatusCode, value: &T) -> Response<Body> {
    // Serialising our own plain structs cannot fail; an empty object is a safe fallback.
    let body = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_auth(value: &str) -> Request {
        let mut req = Request::default();
        req.headers_mut()
            .insert(header::AUTHORIZATION, value.parse().unwrap());
        req
    }

    #[test]
    fn bearer_token_is_read_from_the_authorization_header() {
        assert_eq!(
            bearer_token(&with_auth("Bearer abc.def")).unwrap(),
            "abc.def"
        );
        assert_eq!(bearer_token(&with_auth("bearer abc")).unwrap(), "abc");
        for bad in ["Basic abc", "Bearer", "Bearer ", "abc"] {
            assert_eq!(bearer_token(&with_auth(bad)).unwrap_err().status(), 401);
        }
        assert_eq!(bearer_token(&Request::default()).unwrap_err().status(), 401);
        let long = format!("Bearer {}", "a".repeat(MAX_TOKEN_BYTES + 1));
        assert_eq!(bearer_token(&with_auth(&long)).unwrap_err().status(), 401);
    }
}
