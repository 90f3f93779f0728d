//! The cross-node event bus: socketioxide's Redis adapter (`socketioxide-redis`) over a Redis
//! connection that survives Redis going away.
//!
//! The adapter publishes every non-`local()` broadcast — to a room, a namespace, a player — on
//! a Redis channel per namespace, and every node's adapter delivers it to its own sockets. Its
//! stock driver holds one connection for good: after a Redis restart it can neither publish
//! nor hear anything until the node restarts. This driver keeps the same channels over a
//! [`ConnectionManager`], which connects again by itself and subscribes again to every channel
//! it was subscribed to; a channel that could not be subscribed to (Redis was down when the
//! namespace started) is retried until it is.
//!
//! What crosses nodes this way is rare: lobby changes, announcements, kicks, a player's
//! connection replaced by one on another node. Room traffic stays `local()`.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{FromRedisValue, ProtocolVersion, PushInfo, PushKind};
use socketioxide_redis::drivers::{ChanItem, Driver, MessageStream};
use socketioxide_redis::{CustomRedisAdapter, RedisAdapterConfig, RedisAdapterCtr};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::registry::REDIS_TIMEOUT;

/// The Socket.IO adapter of a node in a cluster.
pub type ClusterAdapter<E> = CustomRedisAdapter<E, Bus>;

/// The prefix of the adapter's Redis channels.
pub const CHANNEL_PREFIX: &str = "tickroom:io";

/// How often the bus checks that Redis is there.
const KEEP_ALIVE_EVERY: Duration = Duration::from_secs(1);

/// How often a channel that could not be subscribed to is tried again.
const RESUBSCRIBE_EVERY: Duration = Duration::from_secs(1);

/// Where each channel's messages go.
type Handlers = Arc<RwLock<HashMap<String, mpsc::Sender<ChanItem>>>>;

/// Why the bus could not publish or subscribe.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// Redis answered with an error, or the connection failed.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// Redis did not answer within [`REDIS_TIMEOUT`].
    #[error("redis did not answer within {REDIS_TIMEOUT:?}")]
    Timeout,
}

/// A [`Driver`] for the Redis adapter that outlives Redis restarts.
#[derive(Clone)]
pub struct Bus {
    conn: ConnectionManager,
    handlers: Handlers,
}

impl std::fmt::Debug for Bus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bus").finish_non_exhaustive()
    }
}

impl Bus {
    /// A bus on the Redis at `redis_url` (Redis ≥ 7: the adapter needs RESP3, which the bus
    /// asks for whatever the URL says). Connects lazily: a node starts whether or not Redis
    /// is up. Call inside a tokio runtime.
    pub fn new(redis_url: &str) -> Result<Self, BusError> {
        let info = redis::IntoConnectionInfo::into_connection_info(redis_url)?;
        let settings = info
            .redis_settings()
            .clone()
            .set_protocol(ProtocolVersion::RESP3);
        let client = redis::Client::open(info.set_redis_settings(settings))?;
        let handlers = Handlers::default();
        let deliver_to = handlers.clone();
        let config = ConnectionManagerConfig::new()
            .set_push_sender(move |msg: PushInfo| {
                deliver(msg, &deliver_to);
                Ok::<(), std::convert::Infallible>(())
            })
            .set_automatic_resubscription()
            .set_connection_timeout(Some(REDIS_TIMEOUT))
            .set_response_timeout(Some(REDIS_TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(REDIS_TIMEOUT);
        let conn = ConnectionManager::new_lazy_with_config(client, config)?;
        Ok(Self { conn, handlers })
    }

    /// The adapter's constructor state, for `SocketIo::builder().with_adapter`.
    pub fn adapter(self) -> RedisAdapterCtr<Self> {
        RedisAdapterCtr::new_with_driver(
            self,
            RedisAdapterConfig::new()
                .with_prefix(CHANNEL_PREFIX)
                .with_request_timeout(REDIS_TIMEOUT),
        )
    }

    /// Pings Redis every [`KEEP_ALIVE_EVERY`] until `stop`. A node that only listens sends
    /// nothing on its own, so without this it would not notice Redis going away, and would not
    /// connect and subscribe again when Redis returns.
    pub async fn keep_alive(self, stop: CancellationToken) {
        let mut every = tokio::time::interval(KEEP_ALIVE_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = every.tick() => {}
            }
            let mut conn = self.conn.clone();
            let ping = redis::cmd("PING");
            let pong = tokio::time::timeout(REDIS_TIMEOUT, ping.query_async::<String>(&mut conn));
            if let Ok(Err(e)) = pong.await {
                tracing::debug!(error = %e, "bus: redis does not answer");
            }
        }
    }

    async fn subscribe_once(&self, chan: &str) -> Result<(), BusError> {
        let mut conn = self.conn.clone();
        tokio::time::timeout(REDIS_TIMEOUT, conn.subscribe(chan))
            .await
            .map_err(|_| BusError::Timeout)??;
        Ok(())
    }
}

/// Hands a pub/sub message to its channel's handler. A full handler drops it: pub/sub is
/// at-most-once anyway, and a slow adapter must not hold up the connection.
fn deliver(msg: PushInfo, handlers: &Handlers) {
    if !matches!(msg.kind, PushKind::Message) || msg.data.len() < 2 {
        return;
    }
    let mut data = msg.data.into_iter();
    let (Some(chan), Some(payload)) = (data.next(), data.next()) else {
        return;
    };
    let (Ok(chan), Ok(payload)) = (
        String::from_redis_value(chan),
        Vec::<u8>::from_redis_value(payload),
    ) else {
        tracing::debug!("bus: a pub/sub message that is not a channel and bytes");
        return;
    };
    let handlers = handlers.read().unwrap_or_else(|e| e.into_inner());
    if let Some(tx) = handlers.get(&chan)
        && tx.try_send((chan, payload)).is_err()
    {
        tracing::warn!("bus: a channel's queue is full; a cross-node event was dropped");
    }
}

impl Driver for Bus {
    type Error = BusError;

    async fn publish(&self, chan: String, val: Vec<u8>) -> Result<(), BusError> {
        let mut conn = self.conn.clone();
        tokio::time::timeout(
            REDIS_TIMEOUT,
            redis::AsyncCommands::publish::<_, _, redis::Value>(&mut conn, chan, val),
        )
        .await
        .map_err(|_| BusError::Timeout)??;
        Ok(())
    }

    async fn subscribe(
        &self,
        chan: String,
        size: usize,
    ) -> Result<MessageStream<ChanItem>, BusError> {
        let (tx, rx) = mpsc::channel(size);
        self.handlers
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(chan.clone(), tx);
        if let Err(e) = self.subscribe_once(&chan).await {
            // Redis is away: the namespace starts anyway and hears other nodes once Redis is
            // back. (After one success the connection manager resubscribes by itself.)
            tracing::warn!(channel = %chan, error = %e, "bus: cannot subscribe yet; retrying");
            let bus = self.clone();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(RESUBSCRIBE_EVERY).await;
                    let wanted = bus
                        .handlers
                        .read()
                        .unwrap_or_else(|e| e.into_inner())
                        .contains_key(&chan);
                    if !wanted || bus.subscribe_once(&chan).await.is_ok() {
                        break;
                    }
                }
            });
        }
        Ok(MessageStream::new(rx))
    }

    async fn unsubscribe(&self, chan: String) -> Result<(), BusError> {
        self.handlers
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&chan);
        let mut conn = self.conn.clone();
        tokio::time::timeout(REDIS_TIMEOUT, conn.unsubscribe(chan))
            .await
            .map_err(|_| BusError::Timeout)??;
        Ok(())
    }

    async fn num_serv(&self, chan: &str) -> Result<u16, BusError> {
        let mut conn = self.conn.clone();
        let (_, count): (String, u16) = tokio::time::timeout(
            REDIS_TIMEOUT,
            redis::cmd("PUBSUB")
                .arg("NUMSUB")
                .arg(chan)
                .query_async(&mut conn),
        )
        .await
        .map_err(|_| BusError::Timeout)??;
        Ok(count)
    }
}
