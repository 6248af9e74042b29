//! Reading request bodies: size limits, gzip (by header or by magic bytes, as posthog-js
//! sends it), and PostHog's `data=` form encoding (plain or base64 JSON).

use std::io::Read;

use axum::body::Body;
use axum::http::HeaderMap;
use base64::Engine;

use crate::reply::Refusal;

/// Read the body, refusing more than `wire_max` bytes on the wire.
pub(crate) async fn read(body: Body, headers: &HeaderMap, wire_max: usize) -> Result<Vec<u8>, Refusal> {
    use http_body_util::BodyExt;
    let declared = headers.get(axum::http::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok());
    if let Some(len) = declared.filter(|len| *len > wire_max) {
        drain(body, glint_event::limits::DRAIN_BYTES_MAX).await;
        return Err(Refusal::too_large(len, wire_max));
    }
    let mut body = body;
    let mut out = Vec::with_capacity(declared.unwrap_or(8 * 1024));
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| Refusal::bad_body("body", format!("could not read the request body: {e}")))?;
        if let Some(data) = frame.data_ref() {
            if out.len() + data.len() > wire_max {
                let seen = out.len() + data.len();
                drain(body, glint_event::limits::DRAIN_BYTES_MAX).await;
                return Err(Refusal::too_large(seen, wire_max));
            }
            out.extend_from_slice(data);
        }
    }
    Ok(out)
}

/// Read and discard up to `max` bytes of a body.
async fn drain(body: Body, max: usize) {
    use http_body_util::BodyExt;
    let mut body = body;
    let mut seen = 0usize;
    while seen <= max {
        match body.frame().await {
            Some(Ok(frame)) => seen += frame.data_ref().map_or(0, |d| d.len()),
            _ => return,
        }
    }
}

/// Undo gzip if the header says so or the bytes start with gzip's magic number; refuse a
/// body that inflates past `max`. `headers` is `None` for a second look at an inner payload
/// (PostHog's form `data=`), where only the magic number counts.
pub(crate) fn decompress(bytes: Vec<u8>, headers: Option<&HeaderMap>, max: usize) -> Result<Vec<u8>, Refusal> {
    let encoding = headers
        .and_then(|h| h.get(axum::http::header::CONTENT_ENCODING))
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let gzip = encoding == "gzip" || encoding == "x-gzip" || bytes.starts_with(&[0x1f, 0x8b]);
    if !gzip {
        if !encoding.is_empty() && encoding != "identity" {
            return Err(Refusal::bad_body("Content-Encoding", format!("unsupported encoding {encoding:?}: use gzip or none")));
        }
        if bytes.len() > max {
            return Err(Refusal::too_large(bytes.len(), max));
        }
        return Ok(bytes);
    }
    let mut out = Vec::with_capacity(bytes.len() * 4);
    let mut dec = flate2::read::GzDecoder::new(&bytes[..]).take(max as u64 + 1);
    dec.read_to_end(&mut out).map_err(|e| Refusal::bad_body("body", format!("body is not valid gzip: {e}")))?;
    if out.len() > max {
        return Err(Refusal::too_large(out.len(), max));
    }
    Ok(out)
}

/// PostHog's form encoding: `data=<json>` or `data=<base64 json>` (posthog-js, older SDKs).
pub(crate) fn posthog_form(bytes: Vec<u8>, headers: &HeaderMap) -> Result<Vec<u8>, Refusal> {
    let is_form = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return Ok(bytes);
    }
    let data = form_urlencoded::parse(&bytes).find(|(k, _)| k == "data").map(|(_, v)| v.into_owned());
    let Some(data) = data else { return Err(Refusal::bad_body("data", "form body without a data field".into())) };
    let t = data.trim();
    if t.starts_with('{') || t.starts_with('[') {
        return Ok(t.as_bytes().to_vec());
    }
    base64::engine::general_purpose::STANDARD
        .decode(t)
        .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(t))
        .map_err(|_| Refusal::bad_body("data", "neither JSON nor base64-encoded JSON".into()))
}

/// The write key from `Authorization: Basic base64(key:)` (Segment libraries) or `Bearer key`.
pub(crate) fn auth_key(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?.trim();
    if let Some(b64) = v.strip_prefix("Basic ").or_else(|| v.strip_prefix("basic ")) {
        let raw = base64::engine::general_purpose::STANDARD.decode(b64.trim()).ok()?;
        let text = String::from_utf8(raw).ok()?;
        let key = text.split(':').next()?.to_string();
        return (!key.is_empty()).then_some(key);
    }
    v.strip_prefix("Bearer ").map(|k| k.trim().to_string()).filter(|k| !k.is_empty())
}
