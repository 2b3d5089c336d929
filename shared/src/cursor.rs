//! Opaque paging cursors: where the last page ended, as URL-safe base64 of a small JSON
//! document. A client only hands them back; anything else is a 422 naming `cursor`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// Longest cursor accepted; real ones are around 100 characters.
const MAX_CURSOR_CHARS: usize = 1024;

pub fn encode<T: Serialize>(position: &T) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(position).unwrap_or_default())
}

pub fn decode<T: DeserializeOwned>(cursor: &str) -> Result<T, ApiError> {
    let refused = || ApiError::invalid("cursor", "is not a cursor this list gave out");
    if cursor.len() > MAX_CURSOR_CHARS {
        return Err(refused());
    }
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| refused())?;
    serde_json::from_slice(&bytes).map_err(|_| refused())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Serialize, serde::Deserialize)]
    struct Position {
        at: i64,
        id: String,
    }

    #[test]
    fn a_cursor_round_trips_and_anything_else_is_refused() {
        let position = Position {
            at: 1_700_000_000_000,
            id: "abc".into(),
        };
        let cursor = encode(&position);
        assert!(
            cursor
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
        assert_eq!(decode::<Position>(&cursor).unwrap(), position);
        for bad in [
            "",
            "!!",
            "e30",
            &"A".repeat(2000),
            &encode(&"just a string"),
        ] {
            let error = decode::<Position>(bad).unwrap_err();
            assert_eq!(error.status(), 422, "{bad}");
            assert!(error.to_string().starts_with("cursor: "));
        }
    }
}
