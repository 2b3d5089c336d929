//! Cross-origin access for web pages. With the Lambda proxy integration API Gateway adds
//! nothing, so every response of every function — errors included — carries the CORS headers
//! itself, and each function answers its own path's preflight (`OPTIONS`). The local server
//! does exactly the same.

use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Response};

use crate::error::ApiError;
use crate::routes::ROUTES;

/// Request headers a page may send: the token, JSON bodies, retry keys.
pub const ALLOWED_HEADERS: &str = "Authorization, Content-Type, Idempotency-Key, If-None-Match";
/// Response headers a page may read besides the always-readable ones.
pub const EXPOSED_HEADERS: &str = "Retry-After, WWW-Authenticate, Allow, Idempotent-Replayed, ETag";
/// How long a browser may reuse a preflight answer, in seconds.
const MAX_AGE: &str = "600";

/// Which origins may call the API from a browser: every one (`*`), or a list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AllowedOrigins {
    Any,
    List(Vec<String>),
}

impl AllowedOrigins {
    /// `*`, or a comma-separated list of origins such as `https://app.example.com`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let origins: Vec<&str> = text
            .split(',')
            .map(str::trim)
            .filter(|o| !o.is_empty())
            .collect();
        if origins == ["*"] {
            return Ok(Self::Any);
        }
        if origins.is_empty() {
            return Err("list at least one origin, or *".into());
        }
        for origin in &origins {
            let rest = origin
                .strip_prefix("https://")
                .or_else(|| origin.strip_prefix("http://"));
            if rest.is_none_or(|host| host.is_empty() || host.contains(['/', '*', ' '])) {
                return Err(format!(
                    "{origin:?} is not an origin (scheme://host[:port], no path), and * stands alone"
                ));
            }
        }
        Ok(Self::List(
            origins.iter().map(|o| o.to_ascii_lowercase()).collect(),
        ))
    }

    fn allows(&self, origin: &str) -> bool {
        match self {
            Self::Any => true,
            Self::List(list) => list.iter().any(|o| o.eq_ignore_ascii_case(origin)),
        }
    }

    /// Adds the CORS headers to a response to a request from `origin` (the request's `Origin`
    /// header). A disallowed origin gets no `Access-Control-Allow-Origin`, so the browser
    /// withholds the response from the page.
    pub fn decorate(&self, origin: Option<&HeaderValue>, response: &mut Response<Body>) {
        let headers = response.headers_mut();
        if matches!(self, Self::List(_)) {
            // The answer depends on the origin: shared caches must keep one copy per origin.
            headers.append(header::VARY, HeaderValue::from_static("Origin"));
        }
        let Some(origin) = origin.filter(|o| o.to_str().is_ok_and(|o| self.allows(o))) else {
            return;
        };
        let allow = match self {
            Self::Any => HeaderValue::from_static("*"),
            Self::List(_) => origin.clone(),
        };
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allow);
        headers.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(EXPOSED_HEADERS),
        );
    }

    /// The answer to `OPTIONS` on a known path: 200 with what may be sent (every method of the
    /// route table, so the list cannot drift from the routes), or 403 for a disallowed origin.
    /// Without an `Origin` it is a plain `OPTIONS`: 200 with `Allow`. The caller decorates it.
    pub fn preflight(&self, origin: Option<&HeaderValue>, allow: &str) -> Response<Body> {
        if origin.is_some_and(|o| !o.to_str().is_ok_and(|o| self.allows(o))) {
            return ApiError::Forbidden("Origin not allowed").into_response();
        }
        let mut response = Response::new(Body::Empty);
        *response.status_mut() = StatusCode::OK;
        let headers = response.headers_mut();
        if let Ok(allow) = HeaderValue::from_str(allow) {
            headers.insert(header::ALLOW, allow);
        }
        if origin.is_some() {
            if let Ok(methods) = HeaderValue::from_str(&allowed_methods()) {
                headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, methods);
            }
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static(ALLOWED_HEADERS),
            );
            headers.insert(
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from_static(MAX_AGE),
            );
        }
        response
    }
}

/// Every method the route table uses, then OPTIONS: `GET, POST, PUT, OPTIONS`.
pub fn allowed_methods() -> String {
    let mut methods: Vec<&str> = Vec::new();
    for route in ROUTES {
        if !methods.contains(&route.method.as_str()) {
            methods.push(route.method.as_str());
        }
    }
    methods.push("OPTIONS");
    methods.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(origins: &str) -> AllowedOrigins {
        AllowedOrigins::parse(origins).unwrap()
    }

    fn origin(value: &'static str) -> HeaderValue {
        HeaderValue::from_static(value)
    }

    fn decorated(allowed: &AllowedOrigins, from: Option<&'static str>) -> Response<Body> {
        let mut response = Response::new(Body::Empty);
        allowed.decorate(from.map(origin).as_ref(), &mut response);
        response
    }

    #[test]
    fn origins_parse_as_a_list_or_star() {
        assert_eq!(list("*"), AllowedOrigins::Any);
        assert_eq!(
            list(" https://A.example.com ,http://127.0.0.1:8080,"),
            AllowedOrigins::List(vec![
                "https://a.example.com".into(),
                "http://127.0.0.1:8080".into()
            ])
        );
        for bad in [
            "",
            " , ",
            "example.com",
            "https://example.com/",
            "https://*.example.com",
            "*, https://a.example.com",
            "ftp://x",
        ] {
            assert!(AllowedOrigins::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn an_allowed_origin_is_echoed_and_may_read_the_error_headers() {
        let allowed = list("https://app.example.com");
        let response = decorated(&allowed, Some("https://app.example.com"));
        let headers = response.headers();
        assert_eq!(
            headers["access-control-allow-origin"],
            "https://app.example.com"
        );
        assert_eq!(headers["vary"], "Origin");
        assert!(
            headers["access-control-expose-headers"]
                .to_str()
                .unwrap()
                .contains("Retry-After")
        );
    }

    #[test]
    fn other_origins_and_plain_requests_get_no_allow_origin() {
        let allowed = list("https://app.example.com");
        for from in [Some("https://evil.example.com"), None] {
            let response = decorated(&allowed, from);
            assert!(
                !response
                    .headers()
                    .contains_key("access-control-allow-origin")
            );
            assert_eq!(response.headers()["vary"], "Origin");
        }
        let any = decorated(&AllowedOrigins::Any, Some("https://anyone.example"));
        assert_eq!(any.headers()["access-control-allow-origin"], "*");
        assert!(!any.headers().contains_key("vary"));
    }

    #[test]
    fn preflight_allows_every_method_of_the_route_table() {
        let allowed = list("https://app.example.com");
        let response = allowed.preflight(Some(&origin("https://app.example.com")), "POST");
        assert_eq!(response.headers()["allow"], "POST");
        assert_eq!(response.status(), 200);
        let methods = response.headers()["access-control-allow-methods"]
            .to_str()
            .unwrap();
        for route in ROUTES {
            assert!(methods.contains(route.method.as_str()), "{methods}");
        }
        let headers = response.headers()["access-control-allow-headers"]
            .to_str()
            .unwrap();
        for needed in [
            "Authorization",
            "Content-Type",
            "Idempotency-Key",
            "If-None-Match",
        ] {
            assert!(headers.contains(needed), "{headers}");
        }
        let refused = allowed.preflight(Some(&origin("https://evil.example.com")), "POST");
        assert_eq!(refused.status(), 403);
        assert!(
            !refused
                .headers()
                .contains_key("access-control-allow-origin")
        );
    }
}
