//! What each endpoint accepts, as typed structs: the body (serde) and the query string. The
//! handlers parse with them, and the tests, benchmarks, load test and fuzz target build and
//! check requests with the very same types. Unknown fields are ignored, as the original
//! service (pydantic) did; every refusal is a 422 whose `detail` starts with the field name.

use lambda_http::{Request, RequestExt};
use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::error::ApiError;

/// Largest request body accepted. API Gateway allows 10 MB; nothing in this API needs more
/// than a message pair (2 × 64 KiB), so 1 MiB leaves room without inviting abuse.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// `POST /auth/register` and `POST /auth/login`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Credentials {
    #[serde(deserialize_with = "text")]
    pub username: String,
    #[serde(deserialize_with = "text")]
    pub password: String,
}

/// `DELETE /auth/delete-account`: the password again, so a stolen token cannot do it alone.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PasswordCheck {
    #[serde(deserialize_with = "text")]
    pub password: String,
}

/// `POST /chats/create-chat`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewChat {
    #[serde(deserialize_with = "text")]
    pub name: String,
}

/// `POST /messages/add-message`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewMessage {
    #[serde(deserialize_with = "text")]
    pub chat_id: String,
    #[serde(deserialize_with = "text")]
    pub question: String,
    #[serde(deserialize_with = "text")]
    pub response: String,
}

/// `POST /branches/create-branch`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewBranch {
    #[serde(deserialize_with = "text")]
    pub parent_chat_id: String,
    #[serde(deserialize_with = "integer")]
    pub message_index: i64,
    #[serde(deserialize_with = "text")]
    pub name: String,
}

/// `PUT /branches/set-active-branch`: optional; without `branch_id` the chat itself.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ActiveBranch {
    #[serde(default, deserialize_with = "optional_text")]
    pub branch_id: Option<String>,
}

/// `PATCH /chats/update-chat`: any of the three, at least one.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatUpdate {
    #[serde(
        default,
        deserialize_with = "optional_text",
        skip_serializing_if = "Option::is_none"
    )]
    pub name: Option<String>,
    #[serde(
        default,
        deserialize_with = "optional_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub archived: Option<bool>,
    #[serde(
        default,
        deserialize_with = "optional_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub pinned: Option<bool>,
}

/// The body as `T`: 413 past the size limit, 400 when it is not JSON, 422 naming the body
/// when it is not an object, and 422 naming the field that does not fit.
pub fn body<T: DeserializeOwned>(request: &Request) -> Result<T, ApiError> {
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
        Ok(Value::Object(fields)) => from_value(Value::Object(fields)),
        Ok(_) => Err(ApiError::invalid("body", "must be a JSON object")),
        Err(e) => Err(ApiError::BadRequest(format!("Malformed JSON body: {e}"))),
    }
}

/// A body that may be absent: the default when empty or JSON `null`.
pub fn optional_body<T: DeserializeOwned + Default>(request: &Request) -> Result<T, ApiError> {
    let bytes: &[u8] = request.body().as_ref();
    if bytes.iter().all(u8::is_ascii_whitespace) || bytes.trim_ascii() == b"null" {
        return Ok(T::default());
    }
    body(request)
}

/// A JSON object as `T`, each refusal naming its field.
pub fn from_value<T: DeserializeOwned>(value: Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(value).map_err(|error| {
        let message = error.inner().to_string();
        // serde reports a missing field at the parent, naming it in the message.
        if let Some(field) = message
            .strip_prefix("missing field `")
            .and_then(|rest| rest.strip_suffix('`'))
        {
            return ApiError::invalid(field.to_owned(), "field required");
        }
        ApiError::invalid(error.path().to_string(), message)
    })
}

/// A required query-string parameter, as API Gateway (or the local server) pre-parsed it.
pub fn query(request: &Request, name: &'static str) -> Result<String, ApiError> {
    optional_query(request, name)?.ok_or_else(|| ApiError::invalid(name, "field required"))
}

/// A query-string parameter that may be absent.
pub fn optional_query(request: &Request, name: &'static str) -> Result<Option<String>, ApiError> {
    Ok(request
        .query_string_parameters_ref()
        .and_then(|params| params.first(name))
        .map(str::to_owned))
}

/// An optional whole-number query parameter within `range`.
pub fn query_number(
    request: &Request,
    name: &'static str,
    range: std::ops::RangeInclusive<i64>,
) -> Result<Option<i64>, ApiError> {
    let Some(text) = optional_query(request, name)? else {
        return Ok(None);
    };
    match text.trim().parse::<i64>() {
        Ok(n) if range.contains(&n) => Ok(Some(n)),
        _ => Err(ApiError::invalid(
            name,
            format!(
                "must be a whole number from {} to {}",
                range.start(),
                range.end()
            ),
        )),
    }
}

/// An optional `true`/`false` query parameter.
pub fn query_bool(request: &Request, name: &'static str) -> Result<Option<bool>, ApiError> {
    match optional_query(request, name)?.as_deref() {
        None => Ok(None),
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        Some(_) => Err(ApiError::invalid(name, "must be true or false")),
    }
}

fn text<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    optional_text(d)?.ok_or_else(|| D::Error::custom("field required"))
}

/// A string that may be null (null counts as absent, as in the original service).
fn optional_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match Value::deserialize(d)? {
        Value::String(s) => Ok(Some(s)),
        Value::Null => Ok(None),
        _ => Err(D::Error::custom("must be a string")),
    }
}

fn optional_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    match Value::deserialize(d)? {
        Value::Bool(b) => Ok(Some(b)),
        Value::Null => Ok(None),
        _ => Err(D::Error::custom("must be true or false")),
    }
}

/// An integer. `3.0` counts (JSON Schema and pydantic agree); `3.5`, `"3"`, `true` and
/// integers beyond ±2^53 written as floats do not.
fn integer<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53: larger floats are not exact
    let value = Value::deserialize(d)?;
    if value.is_null() {
        return Err(D::Error::custom("field required"));
    }
    value
        .as_i64()
        .or_else(|| {
            value
                .as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() <= EXACT)
                .map(|f| f as i64)
        })
        .ok_or_else(|| D::Error::custom("must be an integer"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::Body;
    use std::collections::HashMap;

    fn request(body: &str) -> Request {
        Request::new(Body::from(body))
    }

    fn refusal<T: DeserializeOwned + std::fmt::Debug>(body: &str) -> (u16, String) {
        let error = super::body::<T>(&request(body)).unwrap_err();
        (error.status().as_u16(), error.to_string())
    }

    #[test]
    fn malformed_json_is_400() {
        assert_eq!(refusal::<NewChat>("{\"name\": ").0, 400);
    }

    #[test]
    fn empty_body_and_non_objects_are_422_naming_the_body() {
        for body in ["", "  ", "[1]", "\"x\"", "null"] {
            let (status, detail) = refusal::<NewChat>(body);
            assert_eq!(status, 422, "{body:?}");
            assert!(detail.starts_with("body: "), "{body:?} → {detail}");
        }
    }

    #[test]
    fn oversized_body_is_413() {
        let huge = format!("{{\"name\": \"{}\"}}", "x".repeat(MAX_BODY_BYTES));
        assert_eq!(refusal::<NewChat>(&huge).0, 413);
    }

    #[test]
    fn deeply_nested_json_is_refused_not_a_stack_overflow() {
        let deep = format!("{{\"a\":{}1{}}}", "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(refusal::<NewChat>(&deep).0, 400);
    }

    #[test]
    fn every_refusal_names_its_field() {
        let cases = [
            (
                r#"{"chat_id": 5, "question": "q", "response": "r"}"#,
                "chat_id: must be a string",
            ),
            (
                r#"{"question": "q", "response": "r"}"#,
                "chat_id: field required",
            ),
            (
                r#"{"chat_id": null, "question": "q", "response": "r"}"#,
                "chat_id: field required",
            ),
            (
                r#"{"chat_id": "c", "question": ["q"], "response": "r"}"#,
                "question: must be a string",
            ),
        ];
        for (body, detail) in cases {
            assert_eq!(
                refusal::<NewMessage>(body),
                (422, detail.to_owned()),
                "{body}"
            );
        }
        let cases = [
            (
                r#"{"parent_chat_id": "p", "message_index": 1.5, "name": "n"}"#,
                "message_index: must be an integer",
            ),
            (
                r#"{"parent_chat_id": "p", "message_index": "1", "name": "n"}"#,
                "message_index: must be an integer",
            ),
            (
                r#"{"parent_chat_id": "p", "message_index": 1e30, "name": "n"}"#,
                "message_index: must be an integer",
            ),
            (
                r#"{"parent_chat_id": "p", "message_index": null, "name": "n"}"#,
                "message_index: field required",
            ),
            (
                r#"{"parent_chat_id": "p", "name": "n"}"#,
                "message_index: field required",
            ),
        ];
        for (body, detail) in cases {
            assert_eq!(
                refusal::<NewBranch>(body),
                (422, detail.to_owned()),
                "{body}"
            );
        }
        assert_eq!(
            refusal::<ChatUpdate>(r#"{"pinned": "yes"}"#),
            (422, "pinned: must be true or false".to_owned())
        );
    }

    #[test]
    fn integral_floats_count_and_unknown_fields_are_ignored() {
        let branch: NewBranch = body(&request(
            r#"{"parent_chat_id": "p", "message_index": 3.0, "name": "n", "$where": 1, "extra": {}}"#,
        ))
        .unwrap();
        assert_eq!(branch.message_index, 3);
        let active: ActiveBranch = optional_body(&request("null")).unwrap();
        assert_eq!(active.branch_id, None);
        let active: ActiveBranch = optional_body(&request(r#"{"branch_id": null}"#)).unwrap();
        assert_eq!(active.branch_id, None);
    }

    #[test]
    fn query_parameters_are_checked() {
        let req = Request::default().with_query_string_parameters(HashMap::from([
            ("chat_id".to_string(), "abc".to_string()),
            ("limit".to_string(), "500".to_string()),
            ("pinned".to_string(), "maybe".to_string()),
        ]));
        assert_eq!(query(&req, "chat_id").unwrap(), "abc");
        let missing = query(&Request::default(), "chat_id").unwrap_err();
        assert_eq!(missing.to_string(), "chat_id: field required");
        let error = query_number(&req, "limit", 1..=100).unwrap_err();
        assert_eq!(
            error.to_string(),
            "limit: must be a whole number from 1 to 100"
        );
        assert_eq!(query_number(&req, "before", 0..=9).unwrap(), None);
        assert_eq!(
            query_bool(&req, "pinned").unwrap_err().to_string(),
            "pinned: must be true or false"
        );
    }
}
