//! Requests as API Gateway hands them to a function: method, path, headers, body, and the
//! query string already parsed into the request's extensions. The tests, benchmarks, load
//! test and fuzz target build theirs here, so each exercises exactly what a deployed function
//! receives.

use std::collections::HashMap;

use lambda_http::http::{HeaderName, HeaderValue, Method, header};
use lambda_http::{Body, Request, RequestExt};
use serde::Serialize;

use crate::routes::Endpoint;

pub struct GatewayRequest {
    request: Request,
    query: HashMap<String, String>,
}

impl GatewayRequest {
    pub fn new(method: Method, path: &str) -> Self {
        let mut request = Request::default();
        *request.method_mut() = method;
        *request.uri_mut() = path.parse().unwrap_or_default();
        Self {
            request,
            query: HashMap::new(),
        }
    }

    /// A request to `endpoint`, with its method and path.
    pub fn to(endpoint: Endpoint) -> Self {
        let route = endpoint.route();
        Self::new(route.method.clone(), route.path)
    }

    pub fn method(mut self, method: Method) -> Self {
        *self.request.method_mut() = method;
        self
    }

    pub fn query(mut self, params: &[(&str, &str)]) -> Self {
        self.query
            .extend(params.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        self
    }

    /// Adds a header; a name or value that HTTP cannot carry is left out.
    pub fn header(mut self, name: &str, value: impl AsRef<[u8]>) -> Self {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_bytes(value.as_ref()),
        ) {
            self.request.headers_mut().insert(name, value);
        }
        self
    }

    pub fn bearer(self, token: &str) -> Self {
        self.header("authorization", format!("Bearer {token}"))
    }

    /// A body as sent, JSON or not.
    pub fn body(mut self, body: impl Into<Body>) -> Self {
        *self.request.body_mut() = body.into();
        self
    }

    /// A JSON body, with its content type.
    pub fn json(self, value: &impl Serialize) -> Self {
        let text = serde_json::to_string(value).unwrap_or_default();
        self.header(header::CONTENT_TYPE.as_str(), "application/json")
            .body(Body::Text(text))
    }

    pub fn build(self) -> Request {
        self.request.with_query_string_parameters(self.query)
    }
}
