//! What each endpoint accepts, as typed structs: the body (serde) and the query string. The
//! handlers parse with them, and the tests, benchmarks, load test and fuzz target build and
//! check requests with the very same types. Unknown fields are ignored, as the original
//! service (pydantic) did; every refusal is a 422 whose `detail` starts with the field name.

use lambda_http::{Request, RequestExt};
use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::error::ApiError;
use crate::routes::Endpoint;

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

/// `POST /messages/edit-message`: the pair that replaces message `message_index`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EditMessage {
    #[serde(deserialize_with = "text")]
    pub chat_id: String,
    #[serde(deserialize_with = "integer")]
    pub message_index: i64,
    #[serde(deserialize_with = "text")]
    pub question: String,
    #[serde(deserialize_with = "text")]
    pub response: String,
}

/// `POST /messages/regenerate-message`: a new response to message `message_index`'s question.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Regeneration {
    #[serde(deserialize_with = "text")]
    pub chat_id: String,
    #[serde(deserialize_with = "integer")]
    pub message_index: i64,
    #[serde(deserialize_with = "text")]
    pub response: String,
}

/// `POST /chats/fork-chat`: copy `chat_id`'s history up to `message_index` (all without it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ForkChat {
    #[serde(deserialize_with = "text")]
    pub chat_id: String,
    #[serde(
        default,
        deserialize_with = "optional_integer",
        skip_serializing_if = "Option::is_none"
    )]
    pub message_index: Option<i64>,
    #[serde(deserialize_with = "text")]
    pub name: String,
}

/// get-tree: `?chat_id=ANY_MEMBER[&limit=][&cursor=]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TreeQuery {
    #[serde(deserialize_with = "text")]
    pub chat_id: String,
    #[serde(default, deserialize_with = "bounded::<1, 1000, _>")]
    pub limit: Option<i64>,
    #[serde(default, deserialize_with = "optional_text")]
    pub cursor: Option<String>,
}

/// export-chats: `?limit=&cursor=`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ExportQuery {
    #[serde(default, deserialize_with = "bounded::<1, 100, _>")]
    pub limit: Option<i64>,
    #[serde(default, deserialize_with = "optional_text")]
    pub cursor: Option<String>,
}

/// `?branch_id=ID`: delete-branch, restore-branch, promote-branch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BranchQuery {
    #[serde(deserialize_with = "text")]
    pub branch_id: String,
}

/// compare-branches: `?a=ID&b=ID[&limit=][&from=]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CompareQuery {
    #[serde(deserialize_with = "text")]
    pub a: String,
    #[serde(deserialize_with = "text")]
    pub b: String,
    #[serde(default, deserialize_with = "bounded::<1, 1000, _>")]
    pub limit: Option<i64>,
    #[serde(default, deserialize_with = "bounded::<0, { i64::MAX }, _>")]
    pub from: Option<i64>,
}

/// `?chat_id=ID`: get-branches, set-active-branch, update-chat, delete-chat, restore-chat.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChatQuery {
    #[serde(deserialize_with = "text")]
    pub chat_id: String,
}

/// get-chat: `?chat_id=ID[&limit=N][&before=I]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChatPageQuery {
    #[serde(deserialize_with = "text")]
    pub chat_id: String,
    #[serde(default, deserialize_with = "bounded::<1, 1000, _>")]
    pub limit: Option<i64>,
    #[serde(default, deserialize_with = "bounded::<0, { i64::MAX }, _>")]
    pub before: Option<i64>,
}

/// list-chats: `?limit=&cursor=&archived=&pinned=`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ListQuery {
    #[serde(default, deserialize_with = "bounded::<1, 100, _>")]
    pub limit: Option<i64>,
    #[serde(default, deserialize_with = "optional_text")]
    pub cursor: Option<String>,
    #[serde(default, deserialize_with = "flag")]
    pub archived: Option<bool>,
    #[serde(default, deserialize_with = "flag")]
    pub pinned: Option<bool>,
}

/// list-deleted: `?limit=&cursor=`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TrashQuery {
    #[serde(default, deserialize_with = "bounded::<1, 100, _>")]
    pub limit: Option<i64>,
    #[serde(default, deserialize_with = "optional_text")]
    pub cursor: Option<String>,
}

/// search-messages: `?q=TEXT[&limit=&cursor=]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SearchQuery {
    #[serde(deserialize_with = "text")]
    pub q: String,
    #[serde(default, deserialize_with = "bounded::<1, 100, _>")]
    pub limit: Option<i64>,
    #[serde(default, deserialize_with = "optional_text")]
    pub cursor: Option<String>,
}

/// What an endpoint reads: its body's fields and its query parameters, from the very structs
/// it parses them with (so tests and the fuzz target cannot drift from the handlers).
pub struct Inputs {
    pub body: &'static [&'static str],
    pub query: &'static [&'static str],
}

impl Endpoint {
    pub fn inputs(self) -> Inputs {
        let (body, query) = match self {
            Self::Register | Self::Login => (fields::<Credentials>(), NONE),
            Self::DeleteAccount => (fields::<PasswordCheck>(), NONE),
            Self::CreateChat => (fields::<NewChat>(), NONE),
            Self::GetChat => (NONE, fields::<ChatPageQuery>()),
            Self::ListChats => (NONE, fields::<ListQuery>()),
            Self::UpdateChat => (fields::<ChatUpdate>(), fields::<ChatQuery>()),
            Self::DeleteChat | Self::RestoreChat | Self::GetBranches => {
                (NONE, fields::<ChatQuery>())
            }
            Self::ListDeleted => (NONE, fields::<TrashQuery>()),
            Self::AddMessage => (fields::<NewMessage>(), NONE),
            Self::SearchMessages => (NONE, fields::<SearchQuery>()),
            Self::CreateBranch => (fields::<NewBranch>(), NONE),
            Self::SetActiveBranch => (fields::<ActiveBranch>(), fields::<ChatQuery>()),
            Self::GetTree => (NONE, fields::<TreeQuery>()),
            Self::ForkChat => (fields::<ForkChat>(), NONE),
            Self::EditMessage => (fields::<EditMessage>(), NONE),
            Self::RegenerateMessage => (fields::<Regeneration>(), NONE),
            Self::DeleteBranch | Self::RestoreBranch | Self::PromoteBranch => {
                (NONE, fields::<BranchQuery>())
            }
            Self::PruneBranches => (NONE, fields::<ChatQuery>()),
            Self::CompareBranches => (NONE, fields::<CompareQuery>()),
            Self::ExportChat => (NONE, fields::<ChatQuery>()),
            Self::ExportChats => (NONE, fields::<ExportQuery>()),
            // A conversations.json array: its errors name JSON paths (`[0].mapping…`).
            Self::ImportChats => (NONE, NONE),
        };
        Inputs { body, query }
    }
}

const NONE: &[&str] = &[];

/// The field names of a struct, as serde's derive declares them.
pub fn fields<T: DeserializeOwned>() -> &'static [&'static str] {
    struct Names(Option<&'static [&'static str]>);
    impl<'de> Deserializer<'de> for &mut Names {
        type Error = serde::de::value::Error;
        fn deserialize_struct<V: serde::de::Visitor<'de>>(
            self,
            _name: &'static str,
            fields: &'static [&'static str],
            _visitor: V,
        ) -> Result<V::Value, Self::Error> {
            self.0 = Some(fields);
            Err(Self::Error::custom("names only"))
        }
        fn deserialize_any<V: serde::de::Visitor<'de>>(
            self,
            _: V,
        ) -> Result<V::Value, Self::Error> {
            Err(Self::Error::custom("a struct"))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
            byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map enum
            identifier ignored_any
        }
    }
    let mut names = Names(None);
    let _ = T::deserialize(&mut names);
    names.0.unwrap_or_default()
}

/// The query string as `T`, each refusal naming its parameter (each is a string as sent).
pub fn query<T: DeserializeOwned>(request: &Request) -> Result<T, ApiError> {
    let params: serde_json::Map<String, Value> = request
        .query_string_parameters_ref()
        .map(|params| {
            params
                .iter()
                .map(|(name, value)| (name.to_owned(), Value::String(value.to_owned())))
                .collect()
        })
        .unwrap_or_default();
    from_value(Value::Object(params))
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

/// `true` or `false`, as a query parameter.
fn flag<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    match optional_text(d)?.as_deref() {
        None => Ok(None),
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        Some(_) => Err(D::Error::custom("must be true or false")),
    }
}

/// A whole number from `MIN` to `MAX`, as a query parameter.
fn bounded<'de, const MIN: i64, const MAX: i64, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<i64>, D::Error> {
    let Some(text) = optional_text(d)? else {
        return Ok(None);
    };
    match text.trim().parse::<i64>() {
        Ok(n) if (MIN..=MAX).contains(&n) => Ok(Some(n)),
        _ => Err(D::Error::custom(format!(
            "must be a whole number from {MIN} to {MAX}"
        ))),
    }
}

fn optional_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    match Value::deserialize(d)? {
        Value::Bool(b) => Ok(Some(b)),
        Value::Null => Ok(None),
        _ => Err(D::Error::custom("must be true or false")),
    }
}

fn optional_integer<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(None),
        value => integer(value).map(Some).map_err(D::Error::custom),
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

    fn with_query(pairs: &[(&str, &str)]) -> Request {
        Request::default().with_query_string_parameters(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<HashMap<_, _>>(),
        )
    }

    #[test]
    fn query_parameters_are_checked_naming_them() {
        let page: ChatPageQuery =
            query(&with_query(&[("chat_id", "abc"), ("limit", " 5")])).unwrap();
        assert_eq!(
            (page.chat_id.as_str(), page.limit, page.before),
            ("abc", Some(5), None)
        );
        for (pairs, detail) in [
            (vec![], "chat_id: field required"),
            (
                vec![("chat_id", "c"), ("limit", "1001")],
                "limit: must be a whole number from 1 to 1000",
            ),
            (
                vec![("chat_id", "c"), ("before", "-1")],
                "before: must be a whole number from 0 to 9223372036854775807",
            ),
        ] {
            let error = query::<ChatPageQuery>(&with_query(&pairs)).unwrap_err();
            assert_eq!(error.to_string(), detail);
        }
        let error = query::<ListQuery>(&with_query(&[("pinned", "maybe")])).unwrap_err();
        assert_eq!(error.to_string(), "pinned: must be true or false");
        let list: ListQuery = query(&Request::default()).unwrap();
        assert_eq!(list, ListQuery::default());
    }

    #[test]
    fn every_endpoint_names_what_it_reads() {
        assert_eq!(
            Endpoint::AddMessage.inputs().body,
            ["chat_id", "question", "response"]
        );
        assert_eq!(
            Endpoint::GetChat.inputs().query,
            ["chat_id", "limit", "before"]
        );
        assert_eq!(
            Endpoint::UpdateChat.inputs().body,
            ["name", "archived", "pinned"]
        );
        for route in crate::routes::ROUTES {
            let inputs = route.endpoint.inputs();
            assert!(
                inputs
                    .body
                    .iter()
                    .chain(inputs.query)
                    .all(|f| !f.is_empty())
            );
        }
    }
}
