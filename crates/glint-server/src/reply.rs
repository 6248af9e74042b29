//! Answers: every refusal is JSON naming the field, with the HTTP status the error table
//! promises (400 bad body, 401 bad key, 413 too large, 429 busy, 503 log unavailable).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// One refused message of a batch.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Rejected {
    pub(crate) index: usize,
    pub(crate) field: String,
    pub(crate) error: String,
}

/// A whole request refused.
#[derive(Debug)]
pub(crate) struct Refusal {
    pub(crate) status: StatusCode,
    pub(crate) reason: &'static str,
    pub(crate) field: String,
    pub(crate) error: String,
    pub(crate) rejected: Vec<Rejected>,
}

impl Refusal {
    pub(crate) fn too_large(len: usize, limit: usize) -> Refusal {
        Refusal {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            reason: "too_large",
            field: "body".into(),
            error: format!("body of {len} bytes is over the limit of {limit} bytes"),
            rejected: Vec::new(),
        }
    }

    pub(crate) fn bad_body(field: &str, error: String) -> Refusal {
        Refusal { status: StatusCode::BAD_REQUEST, reason: "bad_body", field: field.into(), error, rejected: Vec::new() }
    }

    pub(crate) fn unauthorized(field: &str, error: &str) -> Refusal {
        Refusal { status: StatusCode::UNAUTHORIZED, reason: "unauthorized", field: field.into(), error: error.into(), rejected: Vec::new() }
    }
}

#[derive(Serialize)]
struct RefusalBody<'a> {
    success: bool,
    accepted: usize,
    field: &'a str,
    error: &'a str,
    rejected: &'a [Rejected],
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let body = RefusalBody { success: false, accepted: 0, field: &self.field, error: &self.error, rejected: &self.rejected };
        let mut r = (self.status, axum::Json(body)).into_response();
        if self.status == StatusCode::TOO_MANY_REQUESTS || self.status == StatusCode::SERVICE_UNAVAILABLE {
            r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        r
    }
}

/// The answer to an ingestion request that stored something.
#[derive(Debug, Serialize)]
pub(crate) struct Accepted {
    pub(crate) success: bool,
    /// PostHog's clients look for `status: 1`.
    pub(crate) status: u8,
    pub(crate) accepted: usize,
    pub(crate) duplicates: usize,
    pub(crate) suppressed: usize,
    pub(crate) rejected: Vec<Rejected>,
}
