//! Browser origins: who may connect, and the CORS headers that let an allowed page on another
//! origin use HTTP long-polling (socket.io-client's first transport) as well as WebSocket.
//!
//! Requests without an `Origin` header (native clients, bots, curl) are not affected. A
//! browser request from an origin that may not connect gets 403 with the JSON error
//! `origin_not_allowed` — and, so that the page can read why on the polling transport, the
//! CORS headers for its origin on that refusal (the body says nothing but the code). A
//! WebSocket handshake refused the same way reaches the page only as a failed connection:
//! browsers do not expose a handshake's status.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::NetState;

/// How long a browser may cache a preflight answer, in seconds.
const PREFLIGHT_MAX_AGE: &str = "600";

/// Which browser origins may connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum OriginPolicy {
    /// Any origin (`--allowed-origins '*'`, or the development keys on loopback with no list).
    Any,
    /// These origins, and the server's own.
    List(Vec<String>),
    /// Only pages the server itself serves (production keys and no list).
    SameOrigin,
}

impl OriginPolicy {
    /// The policy for `allowed` (`--allowed-origins`) when `dev_keys` are in use.
    pub(crate) fn new(allowed: &[String], dev_keys: bool) -> Self {
        if allowed.iter().any(|o| o == "*") {
            Self::Any
        } else if !allowed.is_empty() {
            Self::List(allowed.to_vec())
        } else if dev_keys {
            // The development keys work only on loopback: a page on another local port (a
            // game's dev server) just works.
            Self::Any
        } else {
            Self::SameOrigin
        }
    }

    /// Whether a request from `origin` to `host` (its `Host` header) may proceed.
    fn allows(&self, origin: &[u8], host: Option<&[u8]>) -> bool {
        match self {
            Self::Any => true,
            Self::List(list) => {
                list.iter().any(|o| o.as_bytes() == origin) || same_origin(origin, host)
            }
            Self::SameOrigin => same_origin(origin, host),
        }
    }
}

/// Whether `origin` (`scheme://host[:port]`) names the host the request was sent to.
fn same_origin(origin: &[u8], host: Option<&[u8]>) -> bool {
    let Some(host) = host else { return false };
    let authority = origin
        .strip_prefix(b"http://")
        .or_else(|| origin.strip_prefix(b"https://"));
    authority.is_some_and(|a| a.eq_ignore_ascii_case(host))
}

/// Checks the `Origin` of browser requests, answers CORS preflights, and adds the CORS
/// headers to what allowed origins get.
pub(crate) async fn cors(State(state): State<Arc<NetState>>, req: Request, next: Next) -> Response {
    let Some(origin) = req.headers().get(header::ORIGIN).cloned() else {
        return next.run(req).await;
    };
    let host = req.headers().get(header::HOST).map(HeaderValue::as_bytes);
    let allowed = state.origins.allows(origin.as_bytes(), host);
    let preflight = req.method() == Method::OPTIONS
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    if !allowed {
        state.metrics.origins_refused.inc();
        tracing::debug!(origin = ?origin, path = req.uri().path(), "origin refused");
        let body = serde_json::json!({
            "error": { "code": "origin_not_allowed", "message": "this origin may not connect" }
        });
        let mut refused = (StatusCode::FORBIDDEN, axum::Json(body)).into_response();
        if !preflight {
            // Lets the page read the refusal's status and code (polling transport).
            allow(refused.headers_mut(), origin);
        }
        return refused;
    }
    if preflight {
        let mut answer = StatusCode::NO_CONTENT.into_response();
        let headers = answer.headers_mut();
        if let Some(asked) = req
            .headers()
            .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
            .cloned()
        {
            headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, asked);
        }
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, POST, DELETE, OPTIONS"),
        );
        headers.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static(PREFLIGHT_MAX_AGE),
        );
        allow(headers, origin);
        return answer;
    }
    let mut response = next.run(req).await;
    allow(response.headers_mut(), origin);
    response
}

/// The headers that let a page of `origin` read a response, with or without credentials
/// (socket.io-client's `withCredentials`).
fn allow(headers: &mut HeaderMap, origin: HeaderValue) {
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
        HeaderValue::from_static("true"),
    );
    headers.append(header::VARY, HeaderValue::from_static("Origin"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies() {
        let none: Vec<String> = Vec::new();
        let host = Some(&b"127.0.0.1:7350"[..]);
        assert_eq!(OriginPolicy::new(&none, true), OriginPolicy::Any);
        assert_eq!(OriginPolicy::new(&none, false), OriginPolicy::SameOrigin);
        assert_eq!(OriginPolicy::new(&["*".into()], false), OriginPolicy::Any);
        let list = OriginPolicy::new(&["https://game.example".into()], true);
        assert!(list.allows(b"https://game.example", host));
        assert!(!list.allows(b"https://evil.example", host));
        assert!(list.allows(b"http://127.0.0.1:7350", host), "its own pages");
        let same = OriginPolicy::SameOrigin;
        assert!(same.allows(b"http://127.0.0.1:7350", host));
        assert!(!same.allows(b"http://127.0.0.1:8080", host));
        assert!(!same.allows(b"null", host));
        assert!(!same.allows(b"http://127.0.0.1:7350", None));
    }
}
