//! Safe retries of creating requests, with the `Idempotency-Key` header (the IETF httpapi
//! draft's semantics): the same key with the same request within 24 hours answers the first
//! answer again, without a second write; the same key with another request is a 422. The
//! answer is stored in the same transaction as the write it reports, so the two exist
//! together or not at all, and two concurrent requests with one key make one write.

use std::time::Duration;

use lambda_http::http::{HeaderValue, header};
use lambda_http::{Body, Request, Response};
use mongodb::bson::DateTime;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::store::{IdempotencyRecord, KeyId, Replay, Store};

pub const HEADER: &str = "idempotency-key";

/// How long a key's answer is kept.
pub const KEY_LIFETIME: Duration = Duration::from_secs(24 * 3600);

const MAX_KEY_CHARS: usize = 255;

/// A request's key, with what it must match.
#[derive(Clone)]
pub struct Idempotency {
    pending: IdempotencyRecord,
}

/// What to do with a creating request.
pub enum Begin {
    /// Go ahead, storing the answer with the key if there is one.
    Proceed(Option<Idempotency>),
    /// Answered before: this is that answer again.
    Replay(Response<Body>),
}

/// The request's `Idempotency-Key`, if any: 1–255 visible ASCII characters, optionally in
/// double quotes (the draft's structured-field string).
pub fn key(request: &Request) -> Result<Option<String>, ApiError> {
    let Some(value) = request.headers().get(HEADER) else {
        return Ok(None);
    };
    let refused = || ApiError::invalid("Idempotency-Key", "must be 1-255 visible ASCII characters");
    let text = value.to_str().map_err(|_| refused())?.trim();
    let text = text
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(text);
    if text.is_empty() || text.len() > MAX_KEY_CHARS || !text.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(refused());
    }
    Ok(Some(text.to_owned()))
}

/// Looks the request's key up, if it has one: a first use proceeds; a repeat of the same
/// request replays the first answer; another request with the same key is refused.
pub async fn begin(
    store: &Store,
    account_id: &str,
    request: &Request,
    endpoint: &str,
    parsed: &impl Serialize,
) -> Result<Begin, ApiError> {
    let Some(key) = key(request)? else {
        return Ok(Begin::Proceed(None));
    };
    let canonical = serde_json::to_vec(parsed).unwrap_or_default();
    let pending = Idempotency {
        pending: IdempotencyRecord {
            id: KeyId {
                account_id: account_id.to_owned(),
                key,
            },
            endpoint: endpoint.to_owned(),
            fingerprint: format!("{:x}", Sha256::digest(&canonical)),
            response: String::new(),
            expires_at: DateTime::now().saturating_add_duration(KEY_LIFETIME),
        },
    };
    Ok(match pending.recheck(store).await? {
        Some(replay) => Begin::Replay(replay),
        None => Begin::Proceed(Some(pending)),
    })
}

pub fn reused() -> ApiError {
    ApiError::invalid(
        "Idempotency-Key",
        "was already used with a different request",
    )
}

impl Idempotency {
    /// The stored answer to this key, if the same request was answered; a 422 if the key was
    /// used for another request; `None` if it is unused.
    pub async fn recheck(&self, store: &Store) -> Result<Option<Response<Body>>, ApiError> {
        match store.replay(&self.pending).await? {
            Replay::New => Ok(None),
            Replay::Answered(body) => {
                let mut response = Response::new(Body::from(body));
                let headers = response.headers_mut();
                headers.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
                Ok(Some(response))
            }
            Replay::Mismatch => Err(reused()),
        }
    }

    /// The record to store with the write: the key and the answer.
    pub fn record(&self, answer: &impl Serialize) -> IdempotencyRecord {
        IdempotencyRecord {
            response: serde_json::to_string(answer).unwrap_or_default(),
            ..self.pending.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::Body;

    fn with_key(value: &str) -> Request {
        let mut request = Request::new(Body::Empty);
        request.headers_mut().insert(HEADER, value.parse().unwrap());
        request
    }

    #[test]
    fn keys_are_visible_ascii_optionally_quoted() {
        assert_eq!(key(&Request::default()).unwrap(), None);
        assert_eq!(
            key(&with_key("abc-123")).unwrap().as_deref(),
            Some("abc-123")
        );
        assert_eq!(
            key(&with_key("\"8e03978e-40d5\"")).unwrap().as_deref(),
            Some("8e03978e-40d5")
        );
        for bad in ["\"\"", "two words", &"k".repeat(256)] {
            let error = key(&with_key(bad)).unwrap_err();
            assert!(error.to_string().starts_with("Idempotency-Key: "), "{bad}");
        }
    }
}
