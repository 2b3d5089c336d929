//! Reading requests and writing responses: one way to parse a body, read a query parameter,
//! find the bearer token, and answer with JSON.

use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::ApiError;

/// Largest request body accepted. API Gateway allows 10 MB; nothing in this API needs more
/// than a message pair (2 × 64 KiB), so 1 MiB leaves room without inviting abuse.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Longest `Authorization` token considered; a real one is ~200 bytes.
const MAX_TOKEN_BYTES: usize = 4096;

/// A JSON object body, read field by field so that every 422 names the field at fault.
/// Unknown fields are ignored, as the original service (pydantic) did.
#[derive(Debug)]
pub struct JsonBody(Map<String, Value>);

impl JsonBody {
    /// Parses the body whatever its `Content-Type`: clients that forget the header still work.
    pub fn parse(request: &Request) -> Result<Self, ApiError> {
        let bytes: &[u8] = request.body().as_ref();
        if bytes.len() > MAX_BODY_BYTES {
            return Err(ApiError::PayloadTooLarge {
                limit: MAX_BODY_BYTES,
            });
        }
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::invalid("body", "field required"));
        }
        match serde_json::from_slice(bytes) {
            Ok(Value::Object(fields)) => Ok(Self(fields)),
            Ok(_) => Err(ApiError::invalid("body", "must be a JSON object")),
            Err(e) => Err(ApiError::BadRequest(format!("Malformed JSON body: {e}"))),
        }
    }

    /// A body that may be absent: `None` when empty or JSON `null`.
    pub fn parse_optional(request: &Request) -> Result<Option<Self>, ApiError> {
        let bytes: &[u8] = request.body().as_ref();
        if bytes.iter().all(u8::is_ascii_whitespace) || bytes.trim_ascii() == b"null" {
            return Ok(None);
        }
        Self::parse(request).map(Some)
    }

    fn get(&self, field: &str) -> Option<&Value> {
        self.0.get(field).filter(|value| !value.is_null())
    }

    /// A required string field.
    pub fn string(&self, field: &'static str) -> Result<&str, ApiError> {
        self.optional_string(field)?
            .ok_or_else(|| ApiError::invalid(field, "field required"))
    }

    /// A string field that may be missing or null.
    pub fn optional_string(&self, field: &'static str) -> Result<Option<&str>, ApiError> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(ApiError::invalid(field, "must be a string")),
        }
    }

    /// A required integer field. `3.0` counts (JSON Schema and pydantic agree); `3.5`, `"3"`,
    /// `true` and integers beyond ±2^53 written as floats do not.
    pub fn integer(&self, field: &'static str) -> Result<i64, ApiError> {
        const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53: larger floats are not exact
        let value = self
            .get(field)
            .ok_or_else(|| ApiError::invalid(field, "field required"))?;
        value
            .as_i64()
            .or_else(|| {
                value
                    .as_f64()
                    .filter(|f| f.fract() == 0.0 && f.abs() <= EXACT)
                    .map(|f| f as i64)
            })
            .ok_or_else(|| ApiError::invalid(field, "must be an integer"))
    }
}

/// A required query-string parameter, as API Gateway (or the local server) pre-parsed it.
pub fn query_param(request: &Request, name: &'static str) -> Result<String, ApiError> {
    request
        .query_string_parameters_ref()
        .and_then(|params| params.first(name))
        .map(str::to_owned)
        .ok_or_else(|| ApiError::invalid(name, "field required"))
}

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
    use std::collections::HashMap;

    fn request(body: &str) -> Request {
        Request::new(Body::from(body))
    }

    fn detail(error: ApiError) -> (u16, String) {
        (error.status().as_u16(), error.to_string())
    }

    #[test]
    fn malformed_json_is_400() {
        let error = JsonBody::parse(&request("{\"name\": ")).unwrap_err();
        assert_eq!(error.status(), 400);
    }

    #[test]
    fn empty_body_and_non_objects_are_422_naming_the_body() {
        for body in ["", "  ", "[1]", "\"x\"", "null"] {
            let (status, detail) = detail(JsonBody::parse(&request(body)).unwrap_err());
            assert_eq!(status, 422, "{body:?}");
            assert!(detail.starts_with("body: "), "{body:?} → {detail}");
        }
    }

    #[test]
    fn oversized_body_is_413() {
        let huge = format!("{{\"name\": \"{}\"}}", "x".repeat(MAX_BODY_BYTES));
        assert_eq!(JsonBody::parse(&request(&huge)).unwrap_err().status(), 413);
    }

    #[test]
    fn deeply_nested_json_is_refused_not_a_stack_overflow() {
        let deep = format!("{{\"a\":{}1{}}}", "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(JsonBody::parse(&request(&deep)).unwrap_err().status(), 400);
    }

    #[test]
    fn fields_are_checked_for_presence_and_type() {
        let body = JsonBody::parse(&request(
            r#"{"s": "x", "n": 3, "f": 3.5, "w": 3.0, "big": 1e30, "z": null}"#,
        ))
        .unwrap();
        assert_eq!(body.string("s").unwrap(), "x");
        assert_eq!(body.integer("n").unwrap(), 3);
        assert_eq!(body.integer("w").unwrap(), 3);
        assert!(body.integer("big").is_err());
        assert_eq!(
            detail(body.string("n").unwrap_err()),
            (422, "n: must be a string".into())
        );
        assert_eq!(
            detail(body.string("missing").unwrap_err()),
            (422, "missing: field required".into())
        );
        assert_eq!(
            detail(body.string("z").unwrap_err()),
            (422, "z: field required".into())
        );
        assert_eq!(
            detail(body.integer("f").unwrap_err()),
            (422, "f: must be an integer".into())
        );
        assert_eq!(
            detail(body.integer("s").unwrap_err()),
            (422, "s: must be an integer".into())
        );
        assert_eq!(body.optional_string("z").unwrap(), None);
    }

    #[test]
    fn query_params_come_from_the_request_extensions() {
        let req = Request::default().with_query_string_parameters(HashMap::from([(
            "chat_id".to_string(),
            "abc".to_string(),
        )]));
        assert_eq!(query_param(&req, "chat_id").unwrap(), "abc");
        let (status, detail) = detail(query_param(&Request::default(), "chat_id").unwrap_err());
        assert_eq!((status, detail.as_str()), (422, "chat_id: field required"));
    }

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
