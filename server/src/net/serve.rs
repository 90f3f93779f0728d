//! The HTTP accept loop: axum's router on hyper, with what `axum::serve` does not offer — the
//! connection caps (`conns`), a deadline for the first byte and one for reading request
//! headers, so silent, idle or half-sent requests (slowloris) cannot hold connections open —
//! and the peer address as `ConnectInfo<SocketAddr>`.

use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, HeaderValue, Request, Uri};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use super::conns::{self, Conn, ConnLimits, Tracked};

/// Serves `router` on every connection `listener` accepts and `limits` admits until `stop` is
/// cancelled; then stops accepting and lets open connections finish their current requests.
/// Upgraded connections (WebSocket) are closed by the Socket.IO layer; their place in
/// `limits` goes with their socket.
pub(crate) async fn serve<L>(
    mut listener: L,
    router: Router,
    header_timeout: Duration,
    limits: Arc<ConnLimits>,
    stop: CancellationToken,
) where
    L: axum::serve::Listener<Addr = SocketAddr>,
{
    loop {
        let (io, addr) = tokio::select! {
            conn = listener.accept() => conn,
            _ = stop.cancelled() => break,
        };
        let place = match limits.admit(addr.ip()) {
            Ok(place) => place,
            Err(why) => {
                tokio::spawn(conns::refuse(io, why));
                continue;
            }
        };
        let (io, state) = Tracked::new(io, place);
        let for_requests = state.clone();
        let service = router
            .clone()
            .map_request(move |req: hyper::Request<Incoming>| {
                let mut req = detach(req.map(Body::new));
                for_requests.request(conns::opens_websocket_session(req.uri().query()));
                req.extensions_mut().insert(ConnectInfo(addr));
                req.extensions_mut().insert(for_requests.clone());
                req
            });
        let stop = stop.clone();
        let limits = limits.clone();
        tokio::spawn(async move {
            let mut builder = Builder::new(TokioExecutor::new());
            builder
                .http1()
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout);
            let conn = builder.serve_connection_with_upgrades(
                TokioIo::new(io),
                TowerToHyperService::new(service),
            );
            let mut conn = pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = stop.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(Duration::from_secs(5), conn).await;
                }
                // hyper's header deadline starts with the first byte; a connection that
                // never sends one would hold its descriptor forever.
                () = silent_past(&state, header_timeout) => limits.idle_closed(addr.ip()),
            }
        });
    }
}

/// Resolves once `timeout` has passed without `conn` having spoken; never, once it has.
async fn silent_past(conn: &Conn, timeout: Duration) {
    tokio::time::sleep(timeout).await;
    if conn.spoke() {
        std::future::pending::<()>().await;
    }
}

/// hyper parses a request without copying: its URI and header values are slices of the
/// connection's read buffer (8–16 KiB), and that buffer stays allocated while any slice of it
/// lives. A Socket.IO session keeps its handshake request's parts for the connection's whole
/// life, so every idle connection would hold a read buffer it never uses again. Copying the
/// URI and header values (a few hundred bytes) out lets the buffer go.
fn detach<B>(req: Request<B>) -> Request<B> {
    let (mut parts, body) = req.into_parts();
    if let Ok(uri) = Uri::try_from(parts.uri.to_string()) {
        parts.uri = uri;
    }
    let mut headers = HeaderMap::with_capacity(parts.headers.len());
    for (name, value) in &parts.headers {
        // A value hyper accepted is a valid one; should the copy ever be refused, the
        // original is kept rather than the header lost.
        let copy = HeaderValue::from_bytes(value.as_bytes()).map_or_else(
            |_| value.clone(),
            |mut copy| {
                copy.set_sensitive(value.is_sensitive());
                copy
            },
        );
        headers.append(name.clone(), copy);
    }
    parts.headers = headers;
    Request::from_parts(parts, body)
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    #[test]
    fn detached_requests_do_not_hold_the_read_buffer() {
        let buffer = Bytes::from(
            b"/socket.io/?EIO=4&transport=websocketdGhlIHNhbXBsZSBub25jZQ==x-custom"
                .iter()
                .copied()
                .chain(std::iter::repeat_n(0, 16 * 1024))
                .collect::<Vec<u8>>(),
        );
        let mut req = Request::new(());
        *req.uri_mut() = Uri::from_maybe_shared(buffer.slice(0..37)).unwrap();
        req.headers_mut().insert(
            "sec-websocket-key",
            HeaderValue::from_maybe_shared(buffer.slice(37..61)).unwrap(),
        );
        req.headers_mut().append(
            "x-custom",
            HeaderValue::from_maybe_shared(buffer.slice(61..69)).unwrap(),
        );
        assert!(!buffer.is_unique(), "the request shares the buffer");

        let req = detach(req);
        assert!(
            buffer.is_unique(),
            "the detached request still shares the buffer"
        );
        assert_eq!(req.uri(), "/socket.io/?EIO=4&transport=websocket");
        assert_eq!(
            req.headers()["sec-websocket-key"],
            "dGhlIHNhbXBsZSBub25jZQ=="
        );
        assert_eq!(req.headers()["x-custom"], "x-custom");
    }
}
