use chrono::{SecondsFormat, Utc};
use mongodb::bson::DateTime;

/// RFC 3339 in UTC with millisecond precision (what BSON stores), e.g. `2026-01-02T03:04:05.678Z`.
pub fn rfc3339(at: DateTime) -> String {
    chrono::DateTime::<Utc>::from_timestamp_millis(at.timestamp_millis())
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_as_utc_with_milliseconds() {
        assert_eq!(
            rfc3339(DateTime::from_millis(1_700_000_000_123)),
            "2023-11-14T22:13:20.123Z"
        );
    }
}
