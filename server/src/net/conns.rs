//! TCP connections before any HTTP: a global cap below the process's descriptor limit, a cap
//! per client address, and a deadline for the first byte. A connection refused by a cap gets
//! a one-line HTTP 503 with a JSON error code and is closed; one that stays silent past the
//! deadline is closed. Every refusal is counted, and logged at info at most once a second.
//! Each admitted connection has a [`Conn`]: whether it has spoken, a switch that closes it
//! (the Socket.IO layer uses it to close a WebSocket session it ended), and whether its client
//! wrote a packet before the CONNECT reply ([`super::handshake_watch`]).

use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use dashmap::DashMap;
use futures_util::task::AtomicWaker;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio_util::sync::CancellationToken;

use super::handshake_watch::{HandshakeWatch, Verdict};
use crate::metrics::Metrics;

/// Descriptors kept free for everything that is not a client connection (runtime, files,
/// the results database, new accepts being refused).
const RESERVED_FDS: u64 = 64;

/// The default global connection cap: the descriptor limit less what the process needs
/// besides connections.
pub(crate) fn default_max_connections() -> usize {
    let limit = rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(1024, |(soft, _)| soft);
    usize::try_from(limit.saturating_sub(RESERVED_FDS).max(16)).unwrap_or(usize::MAX)
}

/// Raises the soft descriptor limit to the hard one, as far as the OS allows; returns the
/// limit now in force.
pub fn raise_fd_limit() -> io::Result<u64> {
    rlimit::increase_nofile_limit(u64::MAX)
}

/// Why a connection was refused or closed before its first request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// The server holds as many connections as it may.
    Total,
    /// This address holds as many connections as one address may.
    PerAddress,
}

impl Refused {
    fn code(self) -> &'static str {
        match self {
            Self::Total => "server_busy",
            Self::PerAddress => "too_many_connections",
        }
    }
}

/// Counts open connections, in all and per address.
#[derive(Debug)]
pub(crate) struct ConnLimits {
    total: AtomicUsize,
    per_address: DashMap<IpAddr, usize>,
    max_total: usize,
    max_per_address: usize,
    metrics: Arc<Metrics>,
    log: LogLimiter,
}

impl ConnLimits {
    /// At most `max_total` connections, and `max_per_address` from one address (0: no cap).
    pub(crate) fn new(
        max_total: usize,
        max_per_address: usize,
        metrics: Arc<Metrics>,
    ) -> Arc<Self> {
        Arc::new(Self {
            total: AtomicUsize::new(0),
            per_address: DashMap::new(),
            max_total,
            max_per_address,
            metrics,
            log: LogLimiter::default(),
        })
    }

    /// Takes a place for a connection from `ip`, held until the guard is dropped.
    pub(crate) fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<ConnGuard, Refused> {
        if self.total.fetch_add(1, Ordering::AcqRel) >= self.max_total {
            self.total.fetch_sub(1, Ordering::AcqRel);
            return Err(self.refuse(Refused::Total, ip));
        }
        if self.max_per_address > 0 {
            let mut n = self.per_address.entry(ip).or_insert(0);
            if *n >= self.max_per_address {
                drop(n);
                self.total.fetch_sub(1, Ordering::AcqRel);
                return Err(self.refuse(Refused::PerAddress, ip));
            }
            *n += 1;
        }
        Ok(ConnGuard {
            limits: self.clone(),
            ip,
        })
    }

    fn refuse(&self, why: Refused, ip: IpAddr) -> Refused {
        match why {
            Refused::Total => self.metrics.connections_refused_total.inc(),
            Refused::PerAddress => self.metrics.connections_refused_per_address.inc(),
        };
        if let Some(suppressed) = self.log.ready() {
            tracing::info!(%ip, code = why.code(), suppressed, "connection refused");
        }
        why
    }

    /// Counts a connection closed for sending nothing before the deadline.
    pub(crate) fn idle_closed(&self, ip: IpAddr) {
        self.metrics.connections_idle_closed.inc();
        if let Some(suppressed) = self.log.ready() {
            tracing::info!(%ip, suppressed, "connection closed: nothing sent before the deadline");
        }
    }

    /// Connections open now.
    #[cfg(test)]
    pub(crate) fn open(&self) -> usize {
        self.total.load(Ordering::Acquire)
    }
}

/// A connection's place, given back when the connection (its socket) is dropped.
#[derive(Debug)]
pub(crate) struct ConnGuard {
    limits: Arc<ConnLimits>,
    ip: IpAddr,
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        if self.limits.max_per_address > 0 {
            self.limits.per_address.remove_if_mut(&self.ip, |_, n| {
                *n -= 1;
                *n == 0
            });
        }
        self.limits.total.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The Engine.IO `sid` and `transport` of a Socket.IO request's URI query (no `sid`: the
/// request opens a session).
pub(crate) fn engine_query(query: Option<&str>) -> (Option<&str>, Option<&str>) {
    let (mut sid, mut transport) = (None, None);
    for kv in query.unwrap_or_default().split('&') {
        if let Some(v) = kv.strip_prefix("sid=") {
            sid = Some(v);
        } else if let Some(v) = kv.strip_prefix("transport=") {
            transport = Some(v);
        }
    }
    (sid, transport)
}

/// Whether a request with this URI query opens an Engine.IO session as a WebSocket: the
/// first request of such a session is `transport=websocket` without a `sid` (an upgrade of a
/// long-polling session carries its `sid`).
pub(crate) fn opens_websocket_session(query: Option<&str>) -> bool {
    engine_query(query) == (None, Some("websocket"))
}

/// Answers a refused connection with HTTP 503 and `{"error": {"code": ...}}`, then closes it;
/// a peer that does not read within a second is just closed.
pub(crate) async fn refuse<S: AsyncWrite + Unpin>(mut socket: S, why: Refused) {
    let body = format!(
        r#"{{"error":{{"code":"{}","message":"too many connections"}}}}"#,
        why.code()
    );
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        let _ = socket.write_all(answer.as_bytes()).await;
        let _ = socket.shutdown().await;
    })
    .await;
}

/// A connection's socket with its place in the limits, which it gives back when dropped —
/// also after an upgrade to WebSocket, which moves the socket out of the HTTP server — and
/// its [`Conn`] state: whether it has spoken, and a switch that closes it from elsewhere.
#[derive(Debug)]
pub(crate) struct Tracked<S> {
    inner: S,
    conn: Arc<Conn>,
    /// Watches the start of a WebSocket session; dropped once it has concluded.
    watch: Option<Box<HandshakeWatch>>,
    _place: ConnGuard,
}

/// What the server knows of one TCP connection beside its socket; each HTTP request carries
/// it as an extension, so a Socket.IO session can close the connection it arrived on.
#[derive(Debug, Default)]
pub(crate) struct Conn {
    spoke: AtomicBool,
    closing: AtomicBool,
    /// Cancelled when the connection's socket is dropped.
    gone: CancellationToken,
    reader: AtomicWaker,
    /// Requests served so far.
    requests: AtomicU64,
    /// The first request was not a WebSocket session's opening: the watch means nothing.
    unwatched: AtomicBool,
    /// The watch saw the client write a second packet before the server's first binary frame.
    early_packet: AtomicBool,
}

impl Conn {
    /// Whether its first byte has been read.
    pub(crate) fn spoke(&self) -> bool {
        self.spoke.load(Ordering::Relaxed)
    }

    /// Closes the connection: its next read and write fail, which ends whatever serves it
    /// (the HTTP server, or a WebSocket after an upgrade). Returns whether it was still open.
    pub(crate) fn close(&self) -> bool {
        let was_open = !self.gone.is_cancelled() && !self.closing.swap(true, Ordering::AcqRel);
        self.reader.wake();
        was_open
    }

    /// Tells the connection about each request it carries, so the handshake watch, which
    /// reads the connection from its first byte, is trusted only when the first request
    /// opened a WebSocket session.
    pub(crate) fn request(&self, opens_websocket: bool) {
        if self.requests.fetch_add(1, Ordering::AcqRel) == 0 && !opens_websocket {
            self.unwatched.store(true, Ordering::Release);
        }
    }

    /// Whether the client of the WebSocket session this connection opened wrote another
    /// packet before the server answered its CONNECT (docs/PROTOCOL.md §1, step 5).
    pub(crate) fn packet_before_connect_reply(&self) -> bool {
        self.early_packet.load(Ordering::Acquire) && !self.unwatched.load(Ordering::Acquire)
    }

    /// Resolves once the connection's socket is gone (closed by either side).
    pub(crate) async fn gone(&self) {
        self.gone.cancelled().await;
    }

    fn closed_error() -> io::Error {
        io::Error::new(io::ErrorKind::ConnectionAborted, "closed by the server")
    }
}

impl<S> Tracked<S> {
    pub(crate) fn new(inner: S, place: ConnGuard) -> (Self, Arc<Conn>) {
        let conn = Arc::new(Conn::default());
        (
            Self {
                inner,
                conn: conn.clone(),
                watch: Some(Box::new(HandshakeWatch::new())),
                _place: place,
            },
            conn,
        )
    }

    fn closing(&self) -> bool {
        self.conn.closing.load(Ordering::Acquire)
    }

    /// Shows the handshake watch bytes read (`read`) or written; drops it once it has
    /// concluded, or once the connection turned out not to open a WebSocket session.
    fn watch(&mut self, bytes: &[u8], read: bool) {
        let Some(watch) = &mut self.watch else {
            return;
        };
        if self.conn.unwatched.load(Ordering::Acquire) {
            self.watch = None;
            return;
        }
        let verdict = if read {
            watch.read(bytes)
        } else {
            watch.wrote(bytes)
        };
        match verdict {
            Verdict::Watching => {}
            Verdict::InOrder => self.watch = None,
            Verdict::PacketBeforeReply => {
                self.conn.early_packet.store(true, Ordering::Release);
                self.watch = None;
            }
        }
    }
}

impl<S> Drop for Tracked<S> {
    fn drop(&mut self) {
        self.conn.gone.cancel();
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Tracked<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.closing() {
            return Poll::Ready(Err(Conn::closed_error()));
        }
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.conn.spoke.store(true, Ordering::Relaxed);
            if self.watch.is_some() {
                self.watch(&buf.filled()[before..], true);
            }
        }
        if polled.is_pending() {
            // Only a read about to wait needs `close` to wake it; checked again after
            // registering, so a `close` in between is not missed.
            self.conn.reader.register(cx.waker());
            if self.closing() {
                return Poll::Ready(Err(Conn::closed_error()));
            }
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Tracked<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.closing() {
            return Poll::Ready(Err(Conn::closed_error()));
        }
        let written = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = written
            && self.watch.is_some()
        {
            self.watch(&buf[..n], false);
        }
        written
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.closing() {
            return Poll::Ready(Err(Conn::closed_error()));
        }
        let written = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(mut n)) = written
            && self.watch.is_some()
        {
            for b in bufs {
                let part = n.min(b.len());
                self.watch(&b[..part], false);
                n -= part;
                if n == 0 {
                    break;
                }
            }
        }
        written
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// Lets a log line through at most once a second, saying how many were held back.
#[derive(Debug, Default)]
pub(crate) struct LogLimiter {
    last_ms: AtomicU64,
    suppressed: AtomicU64,
}

impl LogLimiter {
    /// `Some(held back since the last line)` when a line may be logged now.
    pub(crate) fn ready(&self) -> Option<u64> {
        static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
        let now = START.get_or_init(Instant::now).elapsed().as_millis() as u64 + 1_000;
        let last = self.last_ms.load(Ordering::Relaxed);
        if now.saturating_sub(last) >= 1_000
            && self
                .last_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            Some(self.suppressed.swap(0, Ordering::Relaxed))
        } else {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_engine_io_query() {
        let q = Some("EIO=4&transport=polling&sid=abc&t=x");
        assert_eq!(engine_query(q), (Some("abc"), Some("polling")));
        assert_eq!(
            engine_query(Some("EIO=4&transport=websocket")),
            (None, Some("websocket"))
        );
        assert_eq!(engine_query(None), (None, None));
        assert!(opens_websocket_session(Some("EIO=4&transport=websocket")));
        assert!(!opens_websocket_session(Some(
            "EIO=4&transport=websocket&sid=abc"
        )));
        assert!(!opens_websocket_session(Some("EIO=4&transport=polling")));
    }

    #[test]
    fn caps_in_all_and_per_address() {
        let limits = ConnLimits::new(3, 2, Arc::new(Metrics::default()));
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let a1 = limits.admit(a).unwrap();
        let _a2 = limits.admit(a).unwrap();
        assert_eq!(limits.admit(a).unwrap_err(), Refused::PerAddress);
        let b1 = limits.admit(b).unwrap();
        assert_eq!(limits.admit(b).unwrap_err(), Refused::Total);
        drop(a1);
        let _a3 = limits.admit(a).unwrap();
        drop(b1);
        assert_eq!(limits.open(), 2);
        assert!(
            !limits.per_address.contains_key(&b),
            "an address with none open is forgotten"
        );
    }

    #[test]
    fn the_log_limiter_lets_one_line_a_second_through() {
        let l = LogLimiter::default();
        assert_eq!(l.ready(), Some(0));
        assert_eq!(l.ready(), None);
        assert_eq!(l.ready(), None);
    }
}
