//! Access tokens: HS256 JWTs carrying `sub` (the account id, which is the username), `iat`,
//! `exp` and `iss`. The algorithm is pinned, so `alg: none` and RS/HS confusion are refused.

use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::error::ApiError;

/// Shortest secret accepted: HS256 keys shorter than the hash output weaken the MAC.
pub const MIN_SECRET_BYTES: usize = 32;

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    iat: i64,
    exp: i64,
    iss: String,
}

pub struct Tokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
    ttl: Duration,
}

/// Who a valid token speaks for, and since when.
#[derive(Debug, PartialEq)]
pub struct Bearer {
    pub account_id: String,
    /// `iat`, in seconds since the epoch.
    pub issued_at: i64,
}

/// A freshly issued token, as the login endpoint returns it.
#[derive(Debug, Serialize)]
pub struct IssuedToken {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: u64,
}

impl Tokens {
    pub fn new(secret: &[u8], issuer: &str, ttl: Duration) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[issuer]);
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        validation.validate_nbf = true;
        // Tokens are minted and checked by the same service, so no clock-skew allowance:
        // `expires_in` means exactly what it says.
        validation.leeway = 0;
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            issuer: issuer.to_owned(),
            ttl,
        }
    }

    pub fn issue(&self, account_id: &str) -> Result<IssuedToken, ApiError> {
        let now = chrono::Utc::now().timestamp();
        let ttl = self.ttl.as_secs();
        let claims = Claims {
            sub: account_id.to_owned(),
            iat: now,
            exp: now + i64::try_from(ttl).unwrap_or(i64::MAX / 2),
            iss: self.issuer.clone(),
        };
        let access_token =
            jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding).map_err(
                |e| {
                    tracing::error!(error = %e, "token signing failed");
                    ApiError::Internal
                },
            )?;
        Ok(IssuedToken {
            access_token,
            token_type: "bearer",
            expires_in: ttl,
        })
    }

    /// The account a valid token speaks for.
    pub fn verify(&self, token: &str) -> Result<Bearer, ApiError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|_| ApiError::Unauthorized("Could not validate credentials"))?;
        // We sign with one key and never name it: a key id means the token is not ours.
        if data.header.kid.is_some() || data.claims.sub.is_empty() {
            return Err(ApiError::Unauthorized("Could not validate credentials"));
        }
        Ok(Bearer {
            account_id: data.claims.sub,
            issued_at: data.claims.iat,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn tokens() -> Tokens {
        Tokens::new(SECRET, "chat-backend", Duration::from_secs(1800))
    }

    fn sign(claims: serde_json::Value, secret: &[u8]) -> String {
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(secret),
        )
        .unwrap()
    }

    fn now() -> i64 {
        chrono::Utc::now().timestamp()
    }

    fn b64(bytes: &[u8]) -> String {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    }

    #[test]
    fn an_issued_token_verifies_to_its_account() {
        let issued = tokens().issue("alice").unwrap();
        assert_eq!(issued.token_type, "bearer");
        assert_eq!(issued.expires_in, 1800);
        let bearer = tokens().verify(&issued.access_token).unwrap();
        assert_eq!(bearer.account_id, "alice");
        assert!((bearer.issued_at - chrono::Utc::now().timestamp()).abs() <= 1);
    }

    #[test]
    fn bad_tokens_are_refused() {
        let t = now();
        let valid = json!({"sub": "alice", "iat": t, "exp": t + 60, "iss": "chat-backend"});
        let mut tampered = sign(valid.clone(), SECRET);
        tampered.pop();
        tampered.push('x');
        let header_none = b64(br#"{"alg":"none","typ":"JWT"}"#);
        let alg_none = format!("{header_none}.{}.", b64(valid.to_string().as_bytes()));
        let cases = [
            ("garbage", "not-a-token".to_string()),
            ("tampered", tampered),
            (
                "wrong secret",
                sign(valid.clone(), b"another-secret-another-secret-xx"),
            ),
            ("alg none", alg_none),
            (
                "expired",
                sign(
                    json!({"sub": "alice", "iat": t - 7200, "exp": t - 3600, "iss": "chat-backend"}),
                    SECRET,
                ),
            ),
            (
                "wrong issuer",
                sign(
                    json!({"sub": "alice", "iat": t, "exp": t + 60, "iss": "someone-else"}),
                    SECRET,
                ),
            ),
            (
                "missing sub",
                sign(
                    json!({"iat": t, "exp": t + 60, "iss": "chat-backend"}),
                    SECRET,
                ),
            ),
            (
                "missing exp",
                sign(
                    json!({"sub": "alice", "iat": t, "iss": "chat-backend"}),
                    SECRET,
                ),
            ),
            (
                "not yet valid",
                sign(
                    json!({"sub": "alice", "iat": t, "nbf": t + 600, "exp": t + 900, "iss": "chat-backend"}),
                    SECRET,
                ),
            ),
            (
                "empty sub",
                sign(
                    json!({"sub": "", "iat": t, "exp": t + 60, "iss": "chat-backend"}),
                    SECRET,
                ),
            ),
        ];
        for (case, token) in cases {
            let error = tokens().verify(&token).expect_err(case);
            assert_eq!(error.status(), 401, "{case}");
        }
    }

    #[test]
    fn a_token_naming_a_key_id_is_refused() {
        let t = now();
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some("other-key".into());
        let token = jsonwebtoken::encode(
            &header,
            &json!({"sub": "alice", "iat": t, "exp": t + 60, "iss": "chat-backend"}),
            &EncodingKey::from_secret(SECRET),
        )
        .unwrap();
        assert!(tokens().verify(&token).is_err());
    }

    #[test]
    fn hs512_with_the_right_secret_is_still_refused() {
        let t = now();
        let token = jsonwebtoken::encode(
            &Header::new(Algorithm::HS512),
            &json!({"sub": "alice", "iat": t, "exp": t + 60, "iss": "chat-backend"}),
            &EncodingKey::from_secret(SECRET),
        )
        .unwrap();
        assert!(tokens().verify(&token).is_err());
    }
}
