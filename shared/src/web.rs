//! The conversation explorer: a page over this API, served from the same origin as the API
//! (the `web` function in AWS, the local server at `/`), so the page needs no CORS. Its files
//! under `web/` are compiled into the binary: nothing to upload beside the function, and a
//! deployed page always matches the API it was built with.
//!
//! The page talks only to its own origin, and the Content-Security-Policy says so: scripts and
//! styles from the page's own files only (no inline code), requests to the same origin only.

use std::sync::LazyLock;

use lambda_http::http::{HeaderValue, Method, header};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};

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
    // A file the build script writes (`shared/build.rs`).
    ($path:literal, built $file:literal, $type:literal) => {
        Asset {
            path: $path,
            content_type: $type,
            text: include_str!(concat!(env!("OUT_DIR"), "/", $file)),
        }
    };
}

/// Every file the page is made of.
const ASSETS: &[Asset] = &[
    asset!("/", "index.html", "text/html; charset=utf-8"),
    asset!("/app.js", "app.js", "text/javascript; charset=utf-8"),
    asset!("/app.css", "app.css", "text/css; charset=utf-8"),
    asset!("/api.js", "api.js", "text/javascript; charset=utf-8"),
    asset!(
        "/feedback.js",
        "feedback.js",
        "text/javascript; charset=utf-8"
    ),
    asset!("/tree.js", "tree.js", "text/javascript; charset=utf-8"),
    asset!("/ui.js", "ui.js", "text/javascript; charset=utf-8"),
    // The interactive API documentation (Swagger UI, like the original FastAPI service's
    // /docs) and the schema it shows: openapi.yaml itself, converted to JSON at build time.
    // Swagger UI's files are swagger-ui-dist's, vendored by scripts/vendor-docs-ui.sh.
    asset!("/docs", "docs/index.html", "text/html; charset=utf-8"),
    asset!("/docs.js", "docs/docs.js", "text/javascript; charset=utf-8"),
    asset!(
        "/swagger-ui.css",
        "vendor/swagger-ui/swagger-ui.css",
        "text/css; charset=utf-8"
    ),
    asset!(
        "/swagger-ui-bundle.js",
        "vendor/swagger-ui/swagger-ui-bundle.js",
        "text/javascript; charset=utf-8"
    ),
    asset!("/openapi.json", built "openapi.json", "application/json"),
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

/// The file asked for. In AWS, the event's own path (`/app.js`): lambda_http rebuilds the URI
/// with the REST API's stage in front (`/Prod/app.js`). Locally, the URI's path.
fn asked_path(request: &Request) -> &str {
    match request.raw_http_path() {
        "" => request.uri().path(),
        raw => raw,
    }
}

/// API Gateway hands both `/Prod` and `/Prod/` to the function as `/`, but a browser resolves
/// the page's relative links (`app.js`, `api/v1/...`) inside the stage only from the second:
/// the first is redirected there.
fn stage_root_with_slash(request: &Request) -> Option<String> {
    match request.request_context_ref()? {
        RequestContext::ApiGatewayV1(context) => context
            .path
            .as_deref()
            .filter(|path| !path.ends_with('/'))
            .map(|path| format!("{path}/")),
        _ => None,
    }
}

/// Answers a request for one of the page's files: 200 (or 304 for a tag the client holds)
/// for GET and HEAD, 405 for another method, 404 for another path. Every answer carries the
/// security headers; files are revalidated on each use (`no-cache`), which costs a 304.
pub fn respond(request: &Request) -> Response<Body> {
    let path = asked_path(request);
    let redirect = (path == "/")
        .then(|| stage_root_with_slash(request))
        .flatten();
    let mut response = match find(path) {
        None => ApiError::NotFound("Not Found").into_response(),
        Some(_) if redirect.is_some() => {
            let mut response = Response::new(Body::Empty);
            *response.status_mut() = lambda_http::http::StatusCode::PERMANENT_REDIRECT;
            if let Some(Ok(location)) = redirect.as_deref().map(HeaderValue::from_str) {
                response.headers_mut().insert(header::LOCATION, location);
            }
            response
        }
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
    tracing::info!(path, status = response.status().as_u16(), "page");
    response
}

/// The `web` function: serves the page's files. It reads no configuration and opens no
/// connection, so its cold start is the runtime's alone.
pub async fn run() -> Result<(), lambda_http::Error> {
    crate::logging::init(true);
    lambda_http::run(lambda_http::service_fn(|request: Request| async move {
        Ok::<_, std::convert::Infallible>(crate::lambda::Ready(respond(&request)))
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

    #[test]
    fn the_api_docs_and_the_schema_are_served_with_the_same_policy() {
        for (path, kind) in [
            ("/docs", "text/html"),
            ("/docs.js", "text/javascript"),
            ("/swagger-ui-bundle.js", "text/javascript"),
            ("/swagger-ui.css", "text/css"),
            ("/openapi.json", "application/json"),
        ] {
            let response = get(Method::GET, path, None);
            assert_eq!(response.status(), StatusCode::OK, "{path}");
            let content_type = response.headers()["content-type"].to_str().unwrap();
            assert!(content_type.starts_with(kind), "{path}: {content_type}");
            assert_eq!(
                response.headers()["content-security-policy"],
                CONTENT_SECURITY_POLICY
            );
        }
        // openapi.yaml as JSON: its servers keep "Try it out" on this origin.
        let schema: serde_json::Value =
            serde_json::from_slice(get(Method::GET, "/openapi.json", None).body()).unwrap();
        assert_eq!(schema["openapi"], "3.1.0");
        assert_eq!(schema["servers"][0]["url"], ".");
        assert_eq!(
            schema["paths"].as_object().unwrap().len(),
            crate::routes::ROUTES.len()
        );
    }

    /// A GET as API Gateway (REST) delivers it: `path` without the stage, the request
    /// context's with it.
    fn from_gateway(path: &str, stage_path: &str) -> Response<Body> {
        let event = serde_json::json!({
            "resource": if path == "/" { "/" } else { "/{file}" },
            "path": path,
            "httpMethod": "GET",
            "headers": {"Host": "abc.execute-api.eu-west-1.amazonaws.com"},
            "multiValueHeaders": {"Host": ["abc.execute-api.eu-west-1.amazonaws.com"]},
            "requestContext": {
                "accountId": "123456789012", "resourceId": "r", "stage": "Prod",
                "requestId": "id", "identity": {}, "resourcePath": "/", "httpMethod": "GET",
                "apiId": "abc", "path": stage_path,
            },
            "isBase64Encoded": false,
        });
        respond(&lambda_http::request::from_str(&event.to_string()).unwrap())
    }

    #[test]
    fn in_aws_files_are_found_under_the_stage_and_the_bare_stage_gets_its_slash() {
        let script = from_gateway("/app.js", "/Prod/app.js");
        assert_eq!(script.status(), StatusCode::OK);
        assert_eq!(
            script.body().as_ref(),
            get(Method::GET, "/app.js", None).body().as_ref()
        );
        assert_eq!(from_gateway("/", "/Prod/").status(), StatusCode::OK);
        let bare = from_gateway("/", "/Prod");
        assert_eq!(bare.status(), StatusCode::PERMANENT_REDIRECT);
        assert_eq!(bare.headers()["location"], "/Prod/");
    }
}
