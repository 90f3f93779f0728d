//! The HTTP accept loop: axum's router on hyper, with what `axum::serve` does not offer — a
//! deadline for reading request headers, so idle or half-sent requests (slowloris) cannot hold
//! connections open — and the peer address as `ConnectInfo<SocketAddr>`.

use std::net::SocketAddr;
use std::pin::pin;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

/// Serves `router` on every connection `listener` accepts until `stop` is cancelled; then
/// stops accepting and lets open connections finish their current requests. Upgraded
/// connections (WebSocket) are not tracked here: the Socket.IO layer closes those.
pub async fn serve<L>(
    mut listener: L,
    router: Router,
    header_timeout: Duration,
    stop: CancellationToken,
) where
    L: axum::serve::Listener<Addr = SocketAddr>,
{
    loop {
        let (io, addr) = tokio::select! {
            conn = listener.accept() => conn,
            _ = stop.cancelled() => break,
        };
        let service = router
            .clone()
            .map_request(move |req: hyper::Request<Incoming>| {
                let mut req = req.map(Body::new);
                req.extensions_mut().insert(ConnectInfo(addr));
                req
            });
        let stop = stop.clone();
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
            }
        });
    }
}
