//! The conversation explorer: a page over this API, served from the same origin as the API
//! (the `web` function in AWS, the local server at `/`), so the page needs no CORS. Its files
//! under `web/` are compiled into the binary: nothing to upload beside the function, and a
//! deployed page always matches the API it was built with.
//!
//! The page talks only to its own origin, and the Content-Security-Policy says so: scripts and
//! styles from the page's own files only (no inline code), requests to the same origin only.

use std::sync::LazyLock;

use lambda_http::http::{HeaderValue, Method, header};
use lambda_http::{Body, Request, Response};

use crate::error::ApiError;
use crate::http;

pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; \
    form-action 'none'; frame-ancestors 'none'";

struct Asset {
    /// Path under the site root; the page itself is `/`.
    path: &'static str,
    content_type: &'static str,
    /// Text, not bytes: API Gateway passes a base64 (binary) answer through as text unless the
    /// request's `Accept` names a binary media type of the API.
    text: &'static str,
}

macro_rules! asset {
    ($path:literal, $file:literal, $type:literal) => {
        Asset {
            path: $path,
            content_type: $type,
            text: include_str!(concat!("../../web/", $file)),
        }
    };
}

/// Every file the page is made of.
const ASSETS: &[Asset] = &[
    asset!("/", "index.html", "text/html; charset=utf-8"),
    asset!("/app.js", "app.js", "text/javascript; charset=utf-8"),
    asset!("/app.css", "app.css", "text/css; charset=utf-8"),
];

/// Each asset's strong entity tag, computed once per process.
static TAGS: LazyLock<Vec<String>> = LazyLock::new(|| {
    ASSETS
        .iter()
        .map(|a| http::entity_tag(&[a.text.as_bytes()]))
        .collect()
});

/// The paths of the page's files (`/` is the page).
pub fn paths() -> impl Iterator<Item = &'static str> {
    ASSETS.iter().map(|a| a.path)
}

/// Whether `path` is one of the page's (not the API's): the local server sends those here.
pub fn serves(path: &str) -> bool {
    find(path).is_some()
}

fn find(path: &str) -> Option<usize> {
    let path = if path == "/index.html" { "/" } else { path };
    ASSETS.iter().position(|a| a.path == path)
}

/// Answers a request for one of the page's files: 200 (or 304 for a tag the client holds)
/// for GET and HEAD, 405 for another method, 404 for another path. Every answer carries the
/// security headers; files are revalidated on each use (`no-cache`), which costs a 304.
pub fn respond(request: &Request) -> Response<Body> {
    let mut response = match find(request.uri().path()) {
        None => ApiError::NotFound("Not Found").into_response(),
        Some(_) if ![Method::GET, Method::HEAD].contains(request.method()) => {
            let mut response = ApiError::MethodNotAllowed(Method::GET).into_response();
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            response
        }
        Some(index) => {
            let asset = &ASSETS[index];
            let etag = &TAGS[index];
            let fresh = (!http::client_has(request, etag)).then(|| {
                let body = if request.method() == Method::HEAD {
                    Body::Empty
                } else {
                    Body::Text(asset.text.to_owned())
                };
                let mut response = Response::new(body);
                response.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(asset.content_type),
                );
                response
            });
            let mut response = http::cacheable(etag, fresh);
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            response
        }
    };
    let headers = response.headers_mut();
    for (name, value) in [
        ("content-security-policy", CONTENT_SECURITY_POLICY),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
        ("cross-origin-opener-policy", "same-origin"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    tracing::info!(
        path = request.uri().path(),
        status = response.status().as_u16(),
        "page"
    );
    response
}

/// The `web` function: serves the page's files. It reads no configuration and opens no
/// connection, so its cold start is the runtime's alone.
pub async fn run() -> Result<(), lambda_http::Error> {
    crate::logging::init(true);
    lambda_http::run(lambda_http::service_fn(|request: Request| async move {
        Ok::<_, std::convert::Infallible>(respond(&request))
    }))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::http::StatusCode;

    fn get(method: Method, path: &str, etag: Option<&str>) -> Response<Body> {
        let mut request = Request::default();
        *request.method_mut() = method;
        *request.uri_mut() = path.parse().unwrap();
        if let Some(etag) = etag {
            request
                .headers_mut()
                .insert(header::IF_NONE_MATCH, etag.parse().unwrap());
        }
        respond(&request)
    }

    #[test]
    fn the_page_and_its_files_are_served_with_a_strict_policy() {
        for (path, file) in [("/", "index.html"), ("/index.html", "index.html")] {
            let response = get(Method::GET, path, None);
            assert_eq!(response.status(), StatusCode::OK, "{path}");
            assert_eq!(
                response.body().as_ref(),
                ASSETS[0].text.as_bytes(),
                "{path} is {file}"
            );
            assert_eq!(
                response.headers()["content-security-policy"],
                CONTENT_SECURITY_POLICY
            );
            assert_eq!(response.headers()["x-content-type-options"], "nosniff");
        }
        let script = get(Method::GET, "/app.js", None);
        assert!(
            script.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/javascript")
        );
        assert!(!CONTENT_SECURITY_POLICY.contains("unsafe"));
    }

    #[test]
    fn a_held_tag_answers_304_and_head_has_no_body() {
        let first = get(Method::GET, "/app.css", None);
        let etag = first.headers()["etag"].to_str().unwrap().to_owned();
        let again = get(Method::GET, "/app.css", Some(&etag));
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
        assert!(again.body().is_empty());
        let head = get(Method::HEAD, "/", None);
        assert_eq!(head.status(), StatusCode::OK);
        assert!(head.body().is_empty());
    }

    #[test]
    fn other_paths_and_methods_answer_json_errors() {
        let missing = get(Method::GET, "/secret.txt", None);
        assert_eq!(missing.status(), StatusCode::NOT_FOUND);
        assert_eq!(missing.body().as_ref(), br#"{"detail":"Not Found"}"#);
        let post = get(Method::POST, "/", None);
        assert_eq!(post.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(post.headers()["allow"], "GET, HEAD");
    }
}
