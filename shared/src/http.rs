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
    let body = serde_json::to_string(value).unwrap_or_else(|_| "{}".to_owned());
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// Identifies the answers' format in every entity tag: a release that changes how an answer
/// looks makes the tags clients hold stale.
pub(crate) const FORMAT: &str = concat!("chat-backend/", env!("CARGO_PKG_VERSION"));

/// A strong entity tag for what `parts` identify (quoted, as the header carries it).
pub fn entity_tag(parts: &[&[u8]]) -> String {
    use base64::Engine;
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    for part in [FORMAT.as_bytes()].iter().chain(parts) {
        // Length-prefixed, so that no two lists of parts hash alike.
        hash.update((part.len() as u64).to_le_bytes());
        hash.update(part);
    }
    let digest = hash.finalize();
    format!(
        "\"{}\"",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..16])
    )
}

/// The entity tags the request's `If-None-Match` offers, as given.
pub fn offered_tags(request: &Request) -> impl Iterator<Item = &str> {
    request
        .headers()
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
}

/// Whether the request's `If-None-Match` names `etag` (or is `*`). Weak comparison, as RFC 9110
/// asks for this header: a `W/` prefix is ignored.
pub fn client_has(request: &Request, etag: &str) -> bool {
    offered_tags(request).any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag)
}

/// Answers a cacheable read: `fresh`, the 200 answer, or when there is none (the client holds
/// `etag`), 304 with no body. Either way with the tag and `Cache-Control: private, no-cache`
/// (only the caller's own client may keep it, and must ask again before reusing it).
pub fn cacheable(etag: &str, fresh: Option<Response<Body>>) -> Response<Body> {
    let mut response = fresh.unwrap_or_else(|| {
        let mut response = Response::new(Body::Empty);
        *response.status_mut() = StatusCode::NOT_MODIFIED;
        response
    });
    let headers = response.headers_mut();
    if let Ok(tag) = HeaderValue::from_str(etag) {
        headers.insert(header::ETAG, tag);
    }
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-cache"),
    );
    response
}

/// A cacheable read whose tag is the hash of the answer itself: it saves the transfer, not
/// the read (for answers that cost little to read next to sending them).
pub fn cacheable_json<T: Serialize>(request: &Request, value: &T) -> Response<Body> {
    let response = json(StatusCode::OK, value);
    let etag = entity_tag(&[response.body().as_ref()]);
    let fresh = (!client_has(request, &etag)).then_some(response);
    cacheable(&etag, fresh)
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

    fn with_if_none_match(value: &str) -> Request {
        let mut req = Request::default();
        req.headers_mut()
            .insert(header::IF_NONE_MATCH, value.parse().unwrap());
        req
    }

    #[test]
    fn if_none_match_is_compared_weakly_in_a_list_or_as_a_wildcard() {
        let tag = entity_tag(&[b"chat", b"7"]);
        assert!(tag.starts_with('"') && tag.ends_with('"') && tag.len() == 24);
        assert_ne!(tag, entity_tag(&[b"chat7"]), "parts are delimited");
        assert!(client_has(&with_if_none_match(&tag), &tag));
        assert!(client_has(&with_if_none_match(&format!("W/{tag}")), &tag));
        assert!(client_has(
            &with_if_none_match(&format!("\"x\", {tag}")),
            &tag
        ));
        assert!(client_has(&with_if_none_match("*"), &tag));
        assert!(!client_has(&with_if_none_match("\"x\""), &tag));
        assert!(!client_has(&Request::default(), &tag));
    }

    #[test]
    fn a_current_tag_answers_304_without_a_body_and_another_the_json() {
        let value = serde_json::json!({ "a": 1 });
        let fresh = cacheable_json(&Request::default(), &value);
        assert_eq!(fresh.status(), 200);
        assert_eq!(fresh.headers()[header::CACHE_CONTROL], "private, no-cache");
        assert_eq!(fresh.body().as_ref(), br#"{"a":1}"#);
        let tag = fresh.headers()[header::ETAG].to_str().unwrap().to_owned();
        let again = cacheable_json(&with_if_none_match(&tag), &value);
        assert_eq!(again.status(), 304);
        assert!(again.body().is_empty());
        assert_eq!(again.headers()[header::ETAG], tag.as_str());
    }
}
