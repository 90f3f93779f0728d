//! Reconnecting with backoff: what a game client does when its network drops.
//!
//! [`Backoff`] is the retry schedule (exponential, capped, with jitter so a server restart is
//! not met by every client at the same instant). [`connect_with_retry`] retries a first
//! connection; [`ReconnectingClient`] keeps a connection alive across drops, rejoining with the
//! same token, which takes the player's seat back (see `docs/PROTOCOL.md` §2).

use std::time::Duration;

use serde::Serialize;
use tickroom_shared::snapshot::FromFrame;
use tickroom_shared::wire::DecodeError;
use tickroom_shared::{AuthPayload, ErrorCode, Snapshot};

use crate::connection::{Client, CloseReason, ConnectError, EventMsg, Incoming};
use crate::rng::Rng;

/// Retry schedule: `initial`, doubling up to `max`, each delay scaled by a random factor in
/// `1 - jitter ..= 1`; at most `max_attempts` attempts in a row (0 = no limit).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// First delay.
    pub initial: Duration,
    /// Largest delay.
    pub max: Duration,
    /// Fraction of each delay that is random, `0.0..=1.0`.
    pub jitter: f64,
    /// Attempts before giving up; 0 retries forever.
    pub max_attempts: u32,
}

impl Default for Backoff {
    /// 250 ms doubling to 10 s, 50 % jitter, 10 attempts.
    fn default() -> Self {
        Self {
            initial: Duration::from_millis(250),
            max: Duration::from_secs(10),
            jitter: 0.5,
            max_attempts: 10,
        }
    }
}

impl Backoff {
    /// The delay before retry number `attempt` (1-based), with jitter drawn from `rng`.
    pub fn delay(&self, attempt: u32, rng: &mut Rng) -> Duration {
        let exp = self
            .initial
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(20));
        let base = exp.min(self.max);
        let jitter = self.jitter.clamp(0.0, 1.0);
        // rng.unit() is in -1..=1; map it to 0..=1.
        let r = f64::from(rng.unit() * 0.5 + 0.5);
        base.mul_f64(1.0 - jitter * r)
    }

    fn gives_up_after(&self, attempts: u32) -> bool {
        self.max_attempts != 0 && attempts >= self.max_attempts
    }
}

/// Whether a failed connect is worth retrying: network failures and `server_busy` are;
/// a refusal of the token or the match is not (it would be refused again).
pub fn is_retryable(e: &ConnectError) -> bool {
    match e {
        ConnectError::Refused { code } => code == ErrorCode::ServerBusy.as_str(),
        // Not here: the caller connects to the node it names instead.
        ConnectError::BadUrl(_) | ConnectError::Elsewhere { .. } => false,
        ConnectError::WebSocket(_) | ConnectError::Protocol(_) | ConnectError::Timeout => true,
    }
}

/// Connects, retrying retryable failures on the `backoff` schedule. Returns the client and
/// the number of attempts it took.
pub async fn connect_with_retry(
    server: &str,
    auth: &AuthPayload,
    backoff: &Backoff,
    rng: &mut Rng,
) -> Result<(Client, u32), ConnectError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        match Client::connect(server, auth, Duration::from_secs(10)).await {
            Ok(c) => return Ok((c, attempt)),
            Err(e) if is_retryable(&e) && !backoff.gives_up_after(attempt) => {
                tracing::debug!(attempt, error = %e, "connect failed, retrying");
                tokio::time::sleep(backoff.delay(attempt, rng)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// What a [`ReconnectingClient`] reports.
#[derive(Debug, Clone, PartialEq)]
pub enum Update {
    /// A server event.
    Event(EventMsg),
    /// The connection dropped and was made again (a new `welcome` event follows).
    Reconnected {
        /// Attempts the reconnection took.
        attempts: u32,
    },
    /// The connection is over for good: the server disconnected us on purpose (match ended,
    /// seat taken over), the client closed, reconnection was refused or gave up.
    Closed(CloseReason),
}

/// A client that reconnects by itself when the transport drops.
#[derive(Debug)]
pub struct ReconnectingClient {
    server: String,
    auth: AuthPayload,
    backoff: Backoff,
    rng: Rng,
    client: Option<Client>,
    /// Reconnections made so far.
    pub reconnects: u32,
}

impl ReconnectingClient {
    /// Connects (with retries) and returns the client.
    pub async fn connect(
        server: &str,
        auth: AuthPayload,
        backoff: Backoff,
        seed: u64,
    ) -> Result<Self, ConnectError> {
        let mut rng = Rng::new(seed);
        let (client, _) = connect_with_retry(server, &auth, &backoff, &mut rng).await?;
        Ok(Self {
            server: server.to_owned(),
            auth,
            backoff,
            rng,
            client: Some(client),
            reconnects: 0,
        })
    }

    /// The next update. A dropped transport is reconnected here, transparently but reported.
    pub async fn recv(&mut self) -> Update {
        let Some(client) = self.client.as_mut() else {
            return Update::Closed(CloseReason::ClientClose);
        };
        match client.recv().await {
            Some(Incoming::Event(e)) => Update::Event(e),
            Some(Incoming::Closed(r @ (CloseReason::Transport(_) | CloseReason::PingTimeout))) => {
                tracing::debug!(reason = ?r, "connection lost, reconnecting");
                self.client = None;
                match connect_with_retry(&self.server, &self.auth, &self.backoff, &mut self.rng)
                    .await
                {
                    Ok((c, attempts)) => {
                        self.client = Some(c);
                        self.reconnects += 1;
                        Update::Reconnected { attempts }
                    }
                    Err(e) => {
                        Update::Closed(CloseReason::Transport(format!("reconnection failed: {e}")))
                    }
                }
            }
            Some(Incoming::Closed(r)) => {
                self.client = None;
                Update::Closed(r)
            }
            None => {
                self.client = None;
                Update::Closed(CloseReason::ClientClose)
            }
        }
    }

    /// Rebuilds the state from a `snapshot` event (see [`Client::snapshot`]); a reconnection
    /// starts a fresh mirror, which the server's keyframe after the new welcome fills.
    pub fn snapshot<S: FromFrame>(
        &mut self,
        e: &EventMsg,
    ) -> Result<Option<Snapshot<S>>, DecodeError> {
        match self.client.as_mut() {
            Some(c) => c.snapshot(e),
            None => Ok(None),
        }
    }

    /// Emits on the current connection; fails while disconnected.
    pub async fn emit<T: Serialize>(&mut self, name: &str, arg: &T) -> Result<(), CloseReason> {
        match &mut self.client {
            Some(c) => c.emit(name, arg).await,
            None => Err(CloseReason::Transport("not connected".into())),
        }
    }

    /// Closes the connection for good.
    pub async fn close(mut self) {
        if let Some(c) = self.client.take() {
            c.close().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_caps_and_jitters() {
        let b = Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(1),
            jitter: 0.5,
            max_attempts: 5,
        };
        let mut rng = Rng::new(7);
        for attempt in 1..=8 {
            let full =
                Duration::from_millis(100 * (1 << (attempt - 1))).min(Duration::from_secs(1));
            for _ in 0..50 {
                let d = b.delay(attempt, &mut rng);
                assert!(
                    d <= full && d >= full / 2,
                    "attempt {attempt}: {d:?} vs {full:?}"
                );
            }
        }
        let no_jitter = Backoff { jitter: 0.0, ..b };
        assert_eq!(no_jitter.delay(3, &mut rng), Duration::from_millis(400));
        assert!(!b.gives_up_after(4));
        assert!(b.gives_up_after(5));
        assert!(
            !Backoff {
                max_attempts: 0,
                ..b
            }
            .gives_up_after(1000)
        );
    }

    #[test]
    fn only_transient_failures_are_retried() {
        assert!(is_retryable(&ConnectError::Timeout));
        assert!(is_retryable(&ConnectError::Refused {
            code: "server_busy".into()
        }));
        assert!(!is_retryable(&ConnectError::Refused {
            code: "token_expired".into()
        }));
        assert!(!is_retryable(&ConnectError::BadUrl("x".into())));
    }
}
