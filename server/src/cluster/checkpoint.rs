//! Checkpoints: each running match's command log, appended to Redis as it grows, with what
//! else a node needs to take the match over — its id and instance (its tokens stay good),
//! game, rates, seats and matchmaking listing. A node that drains writes its matches' logs
//! whole and hands them to other nodes; a node that dies leaves its last checkpoints, from
//! which the node running the matchmaking queue restores them elsewhere (docs/SCALING.md).
//!
//! Keys, per match: `tickroom:checkpoint:<id>` (JSON, [`Checkpoint`]) and `tickroom:log:<id>`
//! (the log's bytes), both alive for [`CHECKPOINT_TTL`] from the last write. A match that ends
//! has both deleted by its node.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;
use serde::{Deserialize, Serialize};
use tickroom_shared::token::unix_now_ms;
use tokio_util::sync::CancellationToken;

use super::{Registry, RegistryError};
use crate::directory::{Directory, Listing, Match, MatchInfo};

/// Keys of checkpoints' descriptions: this prefix and the match id.
pub const CHECKPOINT_KEY_PREFIX: &str = "tickroom:checkpoint:";
/// Keys of checkpointed command logs: this prefix and the match id.
pub const LOG_KEY_PREFIX: &str = "tickroom:log:";
/// Keys a node sets while it restores a dead node's match, so only one does.
const RESTORING_KEY_PREFIX: &str = "tickroom:restoring:";
/// How long a checkpoint lives after its last write: long enough for a dead node's matches
/// to be found and restored, short enough that nothing is left behind for long.
pub const CHECKPOINT_TTL: Duration = Duration::from_secs(120);
/// How long a node may take to restore a dead node's match before another may try.
const RESTORING_TTL: Duration = Duration::from_secs(30);

/// Appends to a match's log only if the log in Redis is as long as the node believes, and
/// rewrites the description; returns the new length, or -1 - the length found when it was
/// not the one expected (the node then writes the log whole).
const APPEND: &str = r"
local len = redis.call('STRLEN', KEYS[1])
if len ~= tonumber(ARGV[1]) then
  return -1 - len
end
redis.call('APPEND', KEYS[1], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[4])
return len + string.len(ARGV[2])
";

/// What a node needs, beside its log, to take a match over.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The node holding the match.
    pub node: String,
    /// When that node started (its registry entry's `started_at`): a node restarted under the
    /// same id is another process, which does not hold the match.
    #[serde(default)]
    pub node_started_at: u64,
    /// The match id.
    pub match_id: String,
    /// Its instance: tokens bound to it stay good on the node that takes it over.
    pub instance: String,
    /// Its game.
    pub game: String,
    /// Ticks per second.
    pub tick_rate: u32,
    /// Snapshots per second.
    pub snapshot_rate: u32,
    /// Player seats.
    pub max_players: u32,
    /// Spectator seats.
    pub max_spectators: u32,
    /// Creation time, seconds since the Unix epoch.
    pub created_at: u64,
    /// How matchmaking finds it, if it does.
    #[serde(default)]
    pub listing: Option<ListingWire>,
    /// The log's length in Redis.
    pub log_len: usize,
    /// The last tick the log holds.
    pub tick: u64,
    /// When it was written, milliseconds since the Unix epoch.
    pub saved_at_ms: u64,
}

/// A match's matchmaking listing, as a checkpoint carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListingWire {
    labels: std::collections::BTreeMap<String, String>,
    private: bool,
    code: Option<String>,
}

impl Checkpoint {
    /// `m`'s description, held by `node`, with its log `log_len` bytes long up to `tick`.
    pub fn of(m: &Match, node: &Registry, log_len: usize, tick: u64) -> Self {
        let info = m.info();
        Self {
            node: node.id().to_owned(),
            node_started_at: node.started_at(),
            match_id: info.id.to_string(),
            instance: info.instance.to_string(),
            game: info.game.to_owned(),
            tick_rate: info.tick_rate,
            snapshot_rate: info.snapshot_rate,
            max_players: info.max_players,
            max_spectators: info.max_spectators,
            created_at: info.created_at,
            listing: info.listing.as_ref().map(|l| ListingWire {
                labels: l.labels.clone(),
                private: l.private,
                code: l.code.as_deref().map(str::to_owned),
            }),
            log_len,
            tick,
            saved_at_ms: unix_now_ms(),
        }
    }

    /// The match's facts, for [`Directory::adopt`] (`game` is the catalog's own name).
    pub fn info(&self, game: &'static str) -> MatchInfo {
        MatchInfo {
            id: self.match_id.as_str().into(),
            instance: self.instance.as_str().into(),
            game,
            tick_rate: self.tick_rate,
            snapshot_rate: self.snapshot_rate,
            max_players: self.max_players,
            max_spectators: self.max_spectators,
            created_at: self.created_at,
            listing: self.listing.as_ref().map(|l| {
                Arc::new(Listing {
                    labels: l.labels.clone(),
                    private: l.private,
                    code: l.code.as_deref().map(Into::into),
                })
            }),
        }
    }
}

/// Match `id`'s two keys: its log's and its checkpoint's.
fn keys(id: &str) -> (String, String) {
    (
        format!("{LOG_KEY_PREFIX}{id}"),
        format!("{CHECKPOINT_KEY_PREFIX}{id}"),
    )
}

/// Adds to `pipe` the write of `checkpoint` at `key`, alive `ttl` ms.
fn set_checkpoint<'a>(
    pipe: &'a mut redis::Pipeline,
    key: &str,
    checkpoint: &Checkpoint,
    ttl: u64,
) -> &'a mut redis::Pipeline {
    pipe.cmd("SET")
        .arg(key)
        .arg(serde_json::to_string(checkpoint).unwrap_or_default())
        .arg("PX")
        .arg(ttl)
        .ignore()
}

/// How old a checkpoint is: what of its match a restore loses, in time.
pub fn age_ms(c: &Checkpoint) -> u64 {
    unix_now_ms().saturating_sub(c.saved_at_ms)
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// This node's checkpoints: how much of each match's log Redis holds.
pub struct Checkpoints {
    registry: Arc<Registry>,
    /// Per match id: its instance and the length of its log in Redis.
    written: DashMap<Arc<str>, (Arc<str>, usize)>,
}

impl std::fmt::Debug for Checkpoints {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checkpoints")
            .field("matches", &self.written.len())
            .finish_non_exhaustive()
    }
}

impl Checkpoints {
    /// The checkpoints of this node, in the registry's Redis.
    pub fn new(registry: Arc<Registry>) -> Self {
        Self {
            registry,
            written: DashMap::new(),
        }
    }

    /// Appends what each running match of `directory` logged since its last checkpoint, and
    /// deletes the checkpoints of matches that ended here. One round trip for all.
    pub async fn save_all(&self, directory: &Directory) -> Result<(), RegistryError> {
        let mut pipe = redis::pipe();
        let mut pending = Vec::new();
        let mut live = HashSet::new();
        for m in directory.select(|m| !m.state().is_over() && m.moved_to().is_none()) {
            let info = m.info();
            live.insert(info.id.clone());
            let offset = match self.written.get(&info.id) {
                Some(w) if w.0 == info.instance => w.1,
                _ => 0,
            };
            let Some(tail) = m.recorded_since(offset) else {
                continue;
            };
            if !tail.complete || (tail.bytes.is_empty() && offset > 0) {
                // A cut log cannot restore the match; nothing new to append otherwise.
                continue;
            }
            let checkpoint = Checkpoint::of(&m, &self.registry, tail.len, m.tick());
            let (log_key, key) = keys(&info.id);
            pipe.cmd("EVAL")
                .arg(APPEND)
                .arg(2)
                .arg(log_key)
                .arg(key)
                .arg(offset)
                .arg(tail.bytes)
                .arg(serde_json::to_string(&checkpoint).unwrap_or_default())
                .arg(millis(CHECKPOINT_TTL));
            pending.push((m, tail.len));
        }
        // Matches checkpointed before that are not live here now: ended (their checkpoints
        // go) or moved (the node that took them writes theirs now).
        let gone: Vec<Arc<str>> = self
            .written
            .iter()
            .filter(|w| !live.contains(w.key()))
            .map(|w| w.key().clone())
            .collect();
        for id in &gone {
            let moved = directory.get(id).is_some_and(|m| m.moved_to().is_some());
            if !moved {
                let (log_key, key) = keys(id);
                pipe.cmd("DEL").arg(log_key).arg(key).ignore();
            }
        }
        if pending.is_empty() && gone.is_empty() {
            return Ok(());
        }
        let lens: Vec<i64> = self
            .registry
            .with_conn(async move |c| pipe.query_async(c).await)
            .await?;
        for id in gone {
            self.written.remove(&id);
        }
        for ((m, len), written) in pending.into_iter().zip(lens) {
            if written < 0 {
                // Redis lost or holds another log (a restart, a failed write): write it whole.
                tracing::debug!(match_id = %m.info().id, found = -1 - written, "checkpoint: rewriting the log whole");
                if let Some(all) = m.recorded_since(0) {
                    self.write_whole(&m, all.bytes, m.tick()).await?;
                }
                continue;
            }
            debug_assert_eq!(written as usize, len);
            self.written
                .insert(m.info().id.clone(), (m.info().instance.clone(), len));
        }
        Ok(())
    }

    /// Writes `m`'s whole log `log` (up to `tick`) and its description, held by this node.
    pub async fn write_whole(
        &self,
        m: &Match,
        log: Vec<u8>,
        tick: u64,
    ) -> Result<(), RegistryError> {
        let info = m.info();
        let len = log.len();
        let checkpoint = Checkpoint::of(m, &self.registry, len, tick);
        let (log_key, key) = keys(&info.id);
        let ttl = millis(CHECKPOINT_TTL);
        self.registry
            .with_conn(async move |c| {
                let mut pipe = redis::pipe();
                pipe.atomic()
                    .cmd("SET")
                    .arg(&log_key)
                    .arg(log)
                    .arg("PX")
                    .arg(ttl)
                    .ignore();
                set_checkpoint(&mut pipe, &key, &checkpoint, ttl)
                    .query_async::<()>(c)
                    .await
            })
            .await?;
        self.written
            .insert(info.id.clone(), (info.instance.clone(), len));
        Ok(())
    }

    /// The checkpoint of match `id` and its log, if Redis has both and they agree.
    pub async fn load(&self, id: &str) -> Result<Option<(Checkpoint, Vec<u8>)>, RegistryError> {
        let (log_key, key) = keys(id);
        let (checkpoint, log): (Option<String>, Option<Vec<u8>>) = self
            .registry
            .with_conn(async move |c| {
                redis::pipe()
                    .cmd("GET")
                    .arg(&key)
                    .cmd("GET")
                    .arg(&log_key)
                    .query_async(c)
                    .await
            })
            .await?;
        let (Some(checkpoint), Some(log)) = (checkpoint, log) else {
            return Ok(None);
        };
        let Ok(checkpoint) = serde_json::from_str::<Checkpoint>(&checkpoint) else {
            return Ok(None);
        };
        Ok((checkpoint.log_len == log.len()).then_some((checkpoint, log)))
    }

    /// This node took match `m` over with its log `log_len` bytes long (as Redis holds it):
    /// its checkpoints are this node's from now on, appended from there.
    pub async fn adopted(&self, m: &Match, log_len: usize) -> Result<(), RegistryError> {
        let info = m.info();
        self.written
            .insert(info.id.clone(), (info.instance.clone(), log_len));
        let checkpoint = Checkpoint::of(m, &self.registry, log_len, m.tick());
        let (log_key, key) = keys(&info.id);
        let ttl = millis(CHECKPOINT_TTL);
        self.registry
            .with_conn(async move |c| {
                let mut pipe = redis::pipe();
                set_checkpoint(&mut pipe, &key, &checkpoint, ttl)
                    .cmd("PEXPIRE")
                    .arg(&log_key)
                    .arg(ttl)
                    .ignore()
                    .query_async::<()>(c)
                    .await
            })
            .await
    }

    /// Checkpoints of matches whose node is not in the registry any more (it died, or it
    /// was restarted under the same id: another process).
    pub async fn orphans(&self) -> Result<Vec<Checkpoint>, RegistryError> {
        let live: HashSet<(String, u64)> = self
            .registry
            .nodes()
            .await?
            .into_iter()
            .map(|n| (n.id, n.started_at))
            .collect();
        let values: Vec<Option<String>> = self
            .registry
            .with_conn(async move |c| {
                let keys = super::registry::scan(c, &format!("{CHECKPOINT_KEY_PREFIX}*")).await?;
                if keys.is_empty() {
                    return Ok(Vec::new());
                }
                redis::cmd("MGET").arg(&keys).query_async(c).await
            })
            .await?;
        Ok(values
            .into_iter()
            .flatten()
            .filter_map(|v| serde_json::from_str::<Checkpoint>(&v).ok())
            .filter(|c| !live.contains(&(c.node.clone(), c.node_started_at)))
            .collect())
    }

    /// Claims the restoring of match `id` for this node; false if another node has.
    pub async fn claim(&self, id: &str) -> Result<bool, RegistryError> {
        let key = format!("{RESTORING_KEY_PREFIX}{id}");
        let me = self.registry.id().to_owned();
        let ttl = millis(RESTORING_TTL);
        let set: Option<String> = self
            .registry
            .with_conn(async move |c| {
                redis::cmd("SET")
                    .arg(&key)
                    .arg(&me)
                    .arg("NX")
                    .arg("PX")
                    .arg(ttl)
                    .query_async(c)
                    .await
            })
            .await?;
        Ok(set.is_some())
    }

    /// Checkpoints `directory`'s matches every `every` until `stop`.
    pub async fn run(
        self: Arc<Self>,
        directory: Arc<Directory>,
        every: Duration,
        stop: CancellationToken,
    ) {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tick.tick() => {}
            }
            if let Err(e) = self.save_all(&directory).await {
                tracing::debug!(error = %e, "checkpoint: redis unreachable; retrying at the next");
            }
        }
    }
}
