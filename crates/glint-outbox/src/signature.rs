//! Standard Webhooks signing (<https://www.standardwebhooks.com/>), symmetric scheme `v1`.
//!
//! A webhook carries three headers: `webhook-id` (the firing's fire id, the same on every
//! retry, so receivers dedup by it), `webhook-timestamp` (unix seconds of this attempt) and
//! `webhook-signature`: a space-separated list of `v1,<base64 HMAC-SHA256>` over the bytes
//! `{id}.{timestamp}.{body}`. The key is shown to people as `whsec_` + base64 of its bytes
//! ([`Secret`]). [`sign`] makes the header value; [`verify`] is what a receiver runs, and what
//! the tests run against every delivery.
//!
//! ```
//! use glint_outbox::signature::{Headers, Secret, sign, verify};
//! let secret = Secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
//! let body = br#"{"test": 2432232314}"#;
//! let signature = sign(&secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body);
//! assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
//! let headers = Headers { id: "msg_p5jXN8AQM9LWM0D4loKWxJek", timestamp: "1614265330", signature: &signature };
//! verify(&secret, &headers, body, 1614265330, 300).unwrap();
//! ```

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The prefix that marks a symmetric Standard Webhooks secret.
pub const SECRET_PREFIX: &str = "whsec_";

/// Fewest key bytes: the spec asks for at least 24 random bytes (192 bits).
pub const SECRET_BYTES_MIN: usize = 24;

/// Most key bytes: the spec's maximum of 512 bits.
pub const SECRET_BYTES_MAX: usize = 64;

/// The signature version of HMAC-SHA256 signatures.
const VERSION: &str = "v1";

/// A symmetric signing key for one endpoint. Its `Debug` never shows the key.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret {
    key: Vec<u8>,
}

/// Why a secret was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SecretError {
    /// The text does not start with `whsec_`.
    #[error("a webhook secret starts with \"whsec_\" followed by base64 (got {shown:?}…)")]
    MissingPrefix {
        /// The first few characters, enough to recognise a pasted value without leaking it.
        shown: String,
    },
    /// What follows `whsec_` is not standard base64.
    #[error("the part after \"whsec_\" is not valid base64: {0}")]
    Base64(String),
    /// The key is shorter than the spec allows.
    #[error("the key is {len} bytes; Standard Webhooks asks for at least {min}")]
    TooShort {
        /// Key bytes found.
        len: usize,
        /// [`SECRET_BYTES_MIN`].
        min: usize,
    },
    /// The key is longer than the spec allows.
    #[error("the key is {len} bytes; Standard Webhooks allows at most {max}")]
    TooLong {
        /// Key bytes found.
        len: usize,
        /// [`SECRET_BYTES_MAX`].
        max: usize,
    },
}

impl Secret {
    /// Parse the `whsec_<base64>` form.
    ///
    /// # Errors
    ///
    /// [`SecretError`] naming what is wrong: prefix, base64, or key length.
    pub fn parse(text: &str) -> Result<Secret, SecretError> {
        let text = text.trim();
        let Some(encoded) = text.strip_prefix(SECRET_PREFIX) else {
            return Err(SecretError::MissingPrefix { shown: text.chars().take(6).collect() });
        };
        let key = BASE64.decode(encoded).map_err(|e| SecretError::Base64(e.to_string()))?;
        Secret::from_bytes(key)
    }

    /// A secret from raw key bytes.
    ///
    /// # Errors
    ///
    /// [`SecretError::TooShort`] or [`SecretError::TooLong`].
    pub fn from_bytes(key: Vec<u8>) -> Result<Secret, SecretError> {
        if key.len() < SECRET_BYTES_MIN {
            return Err(SecretError::TooShort { len: key.len(), min: SECRET_BYTES_MIN });
        }
        if key.len() > SECRET_BYTES_MAX {
            return Err(SecretError::TooLong { len: key.len(), max: SECRET_BYTES_MAX });
        }
        Ok(Secret { key })
    }

    /// The `whsec_<base64>` form, to hand to the receiver.
    pub fn to_whsec(&self) -> String {
        format!("{SECRET_PREFIX}{}", BASE64.encode(&self.key))
    }

    fn mac(&self, id: &str, timestamp: i64, body: &[u8]) -> HmacSha256 {
        let mut mac = <HmacSha256 as Mac>::new_from_slice(&self.key).expect("HMAC accepts keys of any length");
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secret({} bytes, redacted)", self.key.len())
    }
}

/// The `webhook-signature` header value for one message: `v1,<base64 HMAC-SHA256>` of
/// `{id}.{timestamp}.{body}`.
pub fn sign(secret: &Secret, id: &str, timestamp: i64, body: &[u8]) -> String {
    let tag = secret.mac(id, timestamp, body).finalize().into_bytes();
    format!("{VERSION},{}", BASE64.encode(tag))
}

/// The three Standard Webhooks headers of a received request, as text.
#[derive(Clone, Copy, Debug)]
pub struct Headers<'a> {
    /// `webhook-id`.
    pub id: &'a str,
    /// `webhook-timestamp`: unix seconds, as sent.
    pub timestamp: &'a str,
    /// `webhook-signature`: one or more space-separated `version,signature` pairs.
    pub signature: &'a str,
}

/// Why a received webhook did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// `webhook-timestamp` is not an integer.
    #[error("webhook-timestamp {0:?} is not integer unix seconds")]
    BadTimestamp(String),
    /// The timestamp is older than the tolerance allows (a replay, or a very slow queue).
    #[error("webhook-timestamp {timestamp} is more than {tolerance_secs}s before now ({now_secs})")]
    TooOld {
        /// The header's timestamp.
        timestamp: i64,
        /// The verifier's clock.
        now_secs: i64,
        /// Allowed skew in seconds.
        tolerance_secs: i64,
    },
    /// The timestamp is further in the future than the tolerance allows.
    #[error("webhook-timestamp {timestamp} is more than {tolerance_secs}s after now ({now_secs})")]
    TooNew {
        /// The header's timestamp.
        timestamp: i64,
        /// The verifier's clock.
        now_secs: i64,
        /// Allowed skew in seconds.
        tolerance_secs: i64,
    },
    /// `webhook-signature` holds no `v1,` signature at all.
    #[error("webhook-signature holds no v1 signature")]
    NoSignature,
    /// No `v1` signature matches the body, id and timestamp under this secret.
    #[error("no webhook-signature matches")]
    Mismatch,
}

/// Verify a received webhook: the timestamp is within `tolerance_secs` of `now_secs`, and at
/// least one `v1` signature in the header matches (constant-time comparison).
///
/// # Errors
///
/// [`VerifyError`] saying which check failed.
pub fn verify(secret: &Secret, headers: &Headers<'_>, body: &[u8], now_secs: i64, tolerance_secs: i64) -> Result<(), VerifyError> {
    let timestamp: i64 = headers.timestamp.trim().parse().map_err(|_| VerifyError::BadTimestamp(headers.timestamp.to_string()))?;
    if now_secs.saturating_sub(timestamp) > tolerance_secs {
        return Err(VerifyError::TooOld { timestamp, now_secs, tolerance_secs });
    }
    if timestamp.saturating_sub(now_secs) > tolerance_secs {
        return Err(VerifyError::TooNew { timestamp, now_secs, tolerance_secs });
    }
    let mac = secret.mac(headers.id, timestamp, body);
    let mut n_v1 = 0;
    for candidate in headers.signature.split(' ').filter(|s| !s.is_empty()) {
        let Some((VERSION, encoded)) = candidate.split_once(',') else { continue };
        n_v1 += 1;
        // A signature that is not base64 cannot match; it is skipped like a foreign version.
        if let Ok(tag) = BASE64.decode(encoded)
            && mac.clone().verify_slice(&tag).is_ok()
        {
            return Ok(());
        }
    }
    Err(if n_v1 == 0 { VerifyError::NoSignature } else { VerifyError::Mismatch })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The test vector of the Standard Webhooks / Svix reference libraries (their PHP `testSignFunctionWorks`).
    const VECTOR_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const VECTOR_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const VECTOR_TIMESTAMP: i64 = 1614265330;
    const VECTOR_BODY: &[u8] = br#"{"test": 2432232314}"#;
    const VECTOR_SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    fn vector_secret() -> Secret {
        Secret::parse(VECTOR_SECRET).expect("vector secret parses")
    }

    #[test]
    fn signing_reproduces_the_reference_test_vector() {
        assert_eq!(sign(&vector_secret(), VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_BODY), VECTOR_SIGNATURE);
    }

    #[test]
    fn signing_reproduces_the_reference_rust_library_vector() {
        // From the reference Rust library's `test_sign`.
        let secret = Secret::parse("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD").expect("secret");
        let body = br#"{"email":"test@example.com","username":"test_user"}"#;
        assert_eq!(sign(&secret, "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk", 1649367553, body), "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=");
    }

    #[test]
    fn verify_accepts_the_vector_among_several_signatures() {
        let signature = format!("v1a,bm9wZQ== v1,bm9wZQ== {VECTOR_SIGNATURE} v1,tFtCZ5RDCPxzWQRWXWPgrCgE2frDBe9gjpbWQxnVfsQ=");
        let headers = Headers { id: VECTOR_ID, timestamp: "1614265330", signature: &signature };
        verify(&vector_secret(), &headers, VECTOR_BODY, VECTOR_TIMESTAMP + 10, 300).expect("verifies");
    }

    #[test]
    fn verify_names_each_failure() {
        let s = vector_secret();
        let h = |timestamp, signature| Headers { id: VECTOR_ID, timestamp, signature };
        let now = VECTOR_TIMESTAMP;
        assert_eq!(verify(&s, &h("soon", VECTOR_SIGNATURE), VECTOR_BODY, now, 300), Err(VerifyError::BadTimestamp("soon".into())));
        assert!(matches!(verify(&s, &h("1614265330", VECTOR_SIGNATURE), VECTOR_BODY, now + 301, 300), Err(VerifyError::TooOld { .. })));
        assert!(matches!(verify(&s, &h("1614265330", VECTOR_SIGNATURE), VECTOR_BODY, now - 301, 300), Err(VerifyError::TooNew { .. })));
        assert_eq!(verify(&s, &h("1614265330", "v1a,abc"), VECTOR_BODY, now, 300), Err(VerifyError::NoSignature));
        assert_eq!(verify(&s, &h("1614265330", "v1,!!notbase64"), VECTOR_BODY, now, 300), Err(VerifyError::Mismatch));
        assert_eq!(verify(&s, &h("1614265331", VECTOR_SIGNATURE), VECTOR_BODY, now, 300), Err(VerifyError::Mismatch));
        assert_eq!(verify(&s, &h("1614265330", VECTOR_SIGNATURE), b"{\"test\": 2432232315}", now, 300), Err(VerifyError::Mismatch));
    }

    #[test]
    fn secret_errors_say_what_is_wrong() {
        assert!(matches!(Secret::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"), Err(SecretError::MissingPrefix { .. })));
        assert!(matches!(Secret::parse("whsec_not base64!"), Err(SecretError::Base64(_))));
        assert_eq!(Secret::parse("whsec_c2hvcnQ="), Err(SecretError::TooShort { len: 5, min: 24 }));
        let long = format!("whsec_{}", BASE64.encode([7u8; 65]));
        assert_eq!(Secret::parse(&long), Err(SecretError::TooLong { len: 65, max: 64 }));
        let secret = vector_secret();
        assert_eq!(secret.to_whsec(), VECTOR_SECRET);
        assert!(!format!("{secret:?}").contains("MfKQ"), "Debug must not leak the key");
    }

    proptest! {
        #[test]
        fn sign_then_verify_round_trips_and_any_flipped_body_byte_fails(
            key in proptest::collection::vec(any::<u8>(), SECRET_BYTES_MIN..=SECRET_BYTES_MAX),
            id in "[A-Za-z0-9_-]{1,40}",
            timestamp in 0i64..4_000_000_000,
            body in proptest::collection::vec(any::<u8>(), 1..512),
            flip_idx in any::<proptest::sample::Index>(),
            flip_bit in 0u8..8,
        ) {
            let secret = Secret::from_bytes(key).expect("length in range");
            let signature = sign(&secret, &id, timestamp, &body);
            let ts = timestamp.to_string();
            let headers = Headers { id: &id, timestamp: &ts, signature: &signature };
            prop_assert_eq!(verify(&secret, &headers, &body, timestamp, 300), Ok(()));
            let mut flipped = body.clone();
            let idx = flip_idx.index(flipped.len());
            flipped[idx] ^= 1 << flip_bit;
            prop_assert_eq!(verify(&secret, &headers, &flipped, timestamp, 300), Err(VerifyError::Mismatch));
        }
    }
}
