//! HTTP routes: Segment, GA4 and PostHog ingestion, erasure, decisions, live lift, health,
//! metrics, OpenAPI.
//!
//! Every ingestion route runs the same pipeline: read (size limit) → decompress → decode
//! (one result per message) → authenticate → hand the valid events to the log writer → answer
//! only after they are durable. A bad message is reported by index and never costs its
//! neighbours their place.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use glint_event::EventKind;
use glint_event::wire::{BodyError, DecodedBody};

use crate::body;
use crate::ingest::IngestError;
use crate::live::LiftFailure;
use crate::metrics::{RequestLabel, SourceLabel};
use crate::reply::{Accepted, Refusal, Rejected};
use crate::{Inner, now_ms};

type AppState = Arc<Inner>;

/// The OpenAPI document served at `/openapi.json`.
pub const OPENAPI: &str = include_str!("openapi.json");

#[derive(Clone, Copy, Debug)]
enum Protocol {
    Segment(Option<EventKind>),
    Ga4,
    PostHog,
}

pub(crate) fn router(state: AppState) -> Router {
    let mut r = Router::new();
    let segment: &[(&str, Option<EventKind>)] = &[
        ("track", Some(EventKind::Track)),
        ("t", Some(EventKind::Track)),
        ("identify", Some(EventKind::Identify)),
        ("i", Some(EventKind::Identify)),
        ("page", Some(EventKind::Page)),
        ("p", Some(EventKind::Page)),
        ("screen", Some(EventKind::Screen)),
        ("s", Some(EventKind::Screen)),
        ("group", Some(EventKind::Group)),
        ("g", Some(EventKind::Group)),
        ("alias", Some(EventKind::Alias)),
        ("a", Some(EventKind::Alias)),
        ("batch", None),
        ("b", None),
        ("import", None),
    ];
    for &(name, kind) in segment {
        let h = move |s: State<AppState>, q: Query<Vec<(String, String)>>, h: HeaderMap, b: Body| handle(s, q, h, b, Protocol::Segment(kind));
        r = r.route(&format!("/v1/{name}"), post(h)).route(&format!("/v1/{name}/"), post(h));
    }
    let ga4 = |s: State<AppState>, q: Query<Vec<(String, String)>>, h: HeaderMap, b: Body| handle(s, q, h, b, Protocol::Ga4);
    r = r.route("/mp/collect", post(ga4)).route("/mp/collect/", post(ga4));
    for path in ["/batch", "/capture", "/e", "/i/v0/e", "/track", "/engage"] {
        let ph = |s: State<AppState>, q: Query<Vec<(String, String)>>, h: HeaderMap, b: Body| handle(s, q, h, b, Protocol::PostHog);
        r = r.route(path, post(ph)).route(&format!("{path}/"), post(ph));
    }
    r.route("/v1/users/{id}", delete(erase))
        .route("/v1/projects/{key}/settings", get(segment_settings))
        .route("/v1/decide/{user}", get(decide))
        .route("/v1/lift", get(lift))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
        .layer(axum::middleware::from_fn(cors))
        .with_state(state)
}

/// Browsers' analytics.js always sends `Authorization`, so every request from a shop's pages
/// is CORS-preflighted: answer `OPTIONS` for any path and mark every answer as readable from
/// any origin (no cookies are involved, so `*` is safe).
async fn cors(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    use axum::http::{HeaderValue, Method};
    let mut resp = if req.method() == Method::OPTIONS {
        let mut r = StatusCode::NO_CONTENT.into_response();
        let h = r.headers_mut();
        h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("GET, POST, DELETE, OPTIONS"));
        h.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("Authorization, Content-Type, Content-Encoding, X-Retry-Count"),
        );
        h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("86400"));
        r
    } else {
        next.run(req).await
    };
    let h = resp.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    h.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static("Retry-After"));
    resp
}

/// analytics.js fetches its settings from `{cdnURL}/v1/projects/{writeKey}/settings`; a shop
/// that points `cdnURL` at Glint gets settings that send everything back to Glint.
async fn segment_settings(State(st): State<AppState>, Path(key): Path<String>, headers: HeaderMap) -> Response {
    if !st.write_keys.contains(&key) {
        return Refusal::unauthorized("writeKey", "unknown write key").into_response();
    }
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost");
    axum::Json(serde_json::json!({
        "integrations": {"Segment.io": {"apiKey": key, "apiHost": format!("{host}/v1"), "protocol": "http"}},
        "plan": {"track": {"__default": {"enabled": true}}, "identify": {"__default": {"enabled": true}}},
        "edgeFunction": {},
        "analyticsNextEnabled": true,
    }))
    .into_response()
}

fn route_label(p: Protocol) -> &'static str {
    match p {
        Protocol::Segment(None) => "segment_batch",
        Protocol::Segment(Some(_)) => "segment",
        Protocol::Ga4 => "ga4",
        Protocol::PostHog => "posthog",
    }
}

async fn handle(
    State(st): State<AppState>,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
    body: Body,
    protocol: Protocol,
) -> Response {
    let (status, response) = match pipeline(&st, &query, &headers, body, protocol).await {
        Ok(accepted) => (StatusCode::OK, axum::Json(accepted).into_response()),
        Err(refusal) => {
            st.metrics.refuse(refusal.reason, refusal.rejected.len().max(1) as u64);
            (refusal.status, refusal.into_response())
        }
    };
    st.metrics.requests.get_or_create(&RequestLabel { route: route_label(protocol), status: status.as_u16() }).inc();
    response
}

async fn pipeline(
    st: &Inner,
    query: &[(String, String)],
    headers: &HeaderMap,
    body: Body,
    protocol: Protocol,
) -> Result<Accepted, Refusal> {
    let q = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    // Refuse a wrong header key before reading a byte of the body.
    let header_key = body::auth_key(headers);
    if let Some(k) = &header_key
        && !st.write_keys.contains(k) {
            return Err(Refusal::unauthorized("writeKey", "unknown write key"));
        }
    if let Protocol::Ga4 = protocol {
        match q("api_secret") {
            None => return Err(Refusal::unauthorized("api_secret", "missing: pass the write key as ?api_secret=")),
            Some(k) if !st.write_keys.contains(&k) => return Err(Refusal::unauthorized("api_secret", "unknown api_secret")),
            Some(_) => {}
        }
    }
    let raw = body::read(body, headers, st.request_bytes_max).await?;
    let mut bytes = body::decompress(raw, Some(headers), st.request_bytes_max)?;
    if let Protocol::PostHog = protocol {
        bytes = body::posthog_form(bytes, headers)?;
        bytes = body::decompress(bytes, None, st.request_bytes_max)?;
    }
    let received = now_ms();
    let decoded: Result<DecodedBody, BodyError> = match protocol {
        Protocol::Segment(Some(kind)) => {
            if bytes.len() > st.decoder.options().event_bytes_max {
                let mut r = Refusal::too_large(bytes.len(), st.decoder.options().event_bytes_max);
                r.field = "message".into();
                return Err(r);
            }
            st.decoder.segment_single(kind, &bytes, received)
        }
        Protocol::Segment(None) => st.decoder.segment_batch(&bytes, received),
        Protocol::Ga4 => st.decoder.ga4_collect(&bytes, received),
        Protocol::PostHog => st.decoder.posthog_capture(&bytes, received),
    };
    let decoded = decoded.map_err(|e| match e {
        BodyError::Json(msg) => Refusal::bad_body("body", format!("body is not valid JSON: {msg}")),
        BodyError::Shape { field, error } => Refusal::bad_body(&field, error),
        BodyError::TooManyMessages { len, limit } => {
            let mut r = Refusal::too_large(len, limit);
            r.field = "batch".into();
            r.error = format!("batch has {len} messages, more than the limit of {limit}");
            r
        }
        other => Refusal::bad_body("body", other.to_string()),
    })?;
    if !matches!(protocol, Protocol::Ga4) && header_key.is_none() {
        let key = decoded.key.clone().or_else(|| q("api_key")).or_else(|| q("token")).or_else(|| q("writeKey"));
        let field = if matches!(protocol, Protocol::PostHog) { "api_key" } else { "writeKey" };
        match key {
            None => return Err(Refusal::unauthorized(field, "missing write key: send it as HTTP Basic user or in the body")),
            Some(k) if !st.write_keys.contains(&k) => return Err(Refusal::unauthorized(field, "unknown write key")),
            Some(_) => {}
        }
    }
    let mut events = Vec::with_capacity(decoded.messages.len());
    let mut rejected = Vec::new();
    for (index, m) in decoded.messages.into_iter().enumerate() {
        match m {
            Ok(e) => events.push(e),
            Err(f) => rejected.push(Rejected { index, field: f.field, error: f.error }),
        }
    }
    if events.is_empty() {
        let (field, error) = match rejected.first() {
            Some(r) if rejected.len() == 1 => (r.field.clone(), r.error.clone()),
            Some(_) => ("batch".to_string(), "no valid message in the batch".to_string()),
            None => ("batch".to_string(), "no messages in the request".to_string()),
        };
        return Err(Refusal { status: StatusCode::BAD_REQUEST, reason: "rejected", field, error, rejected });
    }
    st.metrics.refuse("rejected", rejected.len() as u64);
    let source = match protocol {
        Protocol::Segment(_) => "segment",
        Protocol::Ga4 => "ga4",
        Protocol::PostHog => "posthog",
    };
    let n = events.len();
    let out = st.ingest.append(events).await.map_err(|e| match e {
        IngestError::Busy(batch) => {
            st.metrics.refuse("backpressure", batch.len() as u64);
            // posthog-js drops every 4xx, 429 included, but retries 5xx: PostHog routes say 503.
            let status = if matches!(protocol, Protocol::PostHog) { StatusCode::SERVICE_UNAVAILABLE } else { StatusCode::TOO_MANY_REQUESTS };
            Refusal { status, reason: "backpressure", field: "body".into(), error: "the event log is busy; retry after a second".into(), rejected: Vec::new() }
        }
        IngestError::Unavailable(why) => {
            Refusal { status: StatusCode::SERVICE_UNAVAILABLE, reason: "unavailable", field: "body".into(), error: format!("the event log is unavailable: {why}"), rejected: Vec::new() }
        }
    })?;
    st.metrics.accepted.get_or_create(&SourceLabel { source }).inc_by(out.stored as u64);
    st.metrics.refuse("duplicate", out.duplicates as u64);
    st.metrics.refuse("suppressed", out.suppressed as u64);
    Ok(Accepted { success: true, status: 1, accepted: n, duplicates: out.duplicates, suppressed: out.suppressed, rejected })
}

async fn erase(State(st): State<AppState>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    let Some(admin) = &st.admin_key else {
        return Refusal { status: StatusCode::FORBIDDEN, reason: "unauthorized", field: "admin_key".into(), error: "erasure over HTTP is off: start glint serve with --admin-key".into(), rejected: Vec::new() }.into_response();
    };
    if body::auth_key(&headers).as_ref() != Some(admin) {
        return Refusal::unauthorized("admin_key", "erasure needs the admin key (HTTP Basic user or Bearer)").into_response();
    }
    match st.ingest.erase(id.clone()).await {
        Ok(e) => {
            // Then the live engine's memory of the shopper and the outbox's records.
            let forgotten = match &st.live {
                Some(live) => match live.erase(e.ids.clone()).await {
                    Ok(n) => n,
                    Err(err) => {
                        return Refusal { status: StatusCode::SERVICE_UNAVAILABLE, reason: "unavailable", field: "id".into(), error: err, rejected: Vec::new() }.into_response();
                    }
                },
                None => 0,
            };
            axum::Json(serde_json::json!({
                "erased": true,
                "events_removed": e.events_removed,
                "segments_rewritten": e.segments_rewritten,
                "linked_ids": e.linked_ids,
                "profiles_forgotten": forgotten,
                "receipt": e.receipt.file_name().map(|n| n.to_string_lossy().into_owned()),
            }))
            .into_response()
        }
        Err(e) => Refusal { status: StatusCode::SERVICE_UNAVAILABLE, reason: "unavailable", field: "id".into(), error: e.to_string(), rejected: Vec::new() }.into_response(),
    }
}

/// What to do for a shopper now: intent score, stage and reasons, cart, pending moments and the
/// suggested nudge, from the live engine's state (write key).
async fn decide(State(st): State<AppState>, Path(user): Path<String>, headers: HeaderMap) -> Response {
    match body::auth_key(&headers) {
        Some(k) if st.write_keys.contains(&k) => {}
        Some(_) => return Refusal::unauthorized("writeKey", "unknown write key").into_response(),
        None => return Refusal::unauthorized("writeKey", "missing write key: send it as HTTP Basic user or Bearer").into_response(),
    }
    let Some(live) = &st.live else {
        return Refusal { status: StatusCode::NOT_FOUND, reason: "unavailable", field: "user".into(), error: "the live engine is off in this server".into(), rejected: Vec::new() }.into_response();
    };
    match live.decide(user).await {
        Some(v) => axum::Json(v).into_response(),
        None => Refusal { status: StatusCode::SERVICE_UNAVAILABLE, reason: "unavailable", field: "user".into(), error: "the engine is busy; retry".into(), rejected: Vec::new() }.into_response(),
    }
}

/// Holdout lift per moment, live: the JSON of `glint lift --json` over the server's own log and
/// firing log (write key, as for decisions: aggregates only, no shopper is named).
async fn lift(State(st): State<AppState>, Query(query): Query<Vec<(String, String)>>, headers: HeaderMap) -> Response {
    match body::auth_key(&headers) {
        Some(k) if st.write_keys.contains(&k) => {}
        Some(_) => return Refusal::unauthorized("writeKey", "unknown write key").into_response(),
        None => return Refusal::unauthorized("writeKey", "missing write key: send it as HTTP Basic user or Bearer").into_response(),
    }
    let cuped = match query.iter().find(|(k, _)| k == "cuped").map(|(_, v)| v.as_str()) {
        None | Some("false" | "0") => false,
        Some("true" | "1" | "") => true,
        Some(other) => return Refusal::bad_body("cuped", format!("cuped must be true or false, not {other:?}")).into_response(),
    };
    let Some(live) = &st.live else {
        return Refusal { status: StatusCode::NOT_FOUND, reason: "unavailable", field: "lift".into(), error: "the live engine is off in this server".into(), rejected: Vec::new() }.into_response();
    };
    match live.lift(cuped).await {
        Ok(v) => axum::Json(v).into_response(),
        Err(LiftFailure::Busy(error)) => Refusal { status: StatusCode::SERVICE_UNAVAILABLE, reason: "unavailable", field: "lift".into(), error, rejected: Vec::new() }.into_response(),
        Err(LiftFailure::Failed(error)) => Refusal { status: StatusCode::INTERNAL_SERVER_ERROR, reason: "unavailable", field: "lift".into(), error, rejected: Vec::new() }.into_response(),
    }
}

async fn health(State(st): State<AppState>) -> Response {
    match st.ingest.summary().await {
        Ok(s) => axum::Json(serde_json::json!({"status": "ok", "events": s.events})).into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, axum::Json(serde_json::json!({"status": "unavailable", "error": e.to_string()}))).into_response(),
    }
}

async fn metrics(State(st): State<AppState>) -> Response {
    if let Some(live) = &st.live {
        st.metrics.observe_outbox(live.outbox());
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], st.metrics.render()).into_response()
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}
