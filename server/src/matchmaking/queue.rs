//! Queue matchmaking: players (and parties, seated together) wait with a rating until a group
//! of the game's size can be formed from waiters whose ratings are close enough.
//!
//! Every ticket has a *rating window*: `rating_window` when it is enqueued, widened by
//! `rating_window_growth` for every second it waits, up to `rating_window_max`. Two waiters
//! may play together when the difference of their ratings is within *both* their windows, so a
//! newcomer is never matched further away than it accepts. Groups are formed oldest waiter
//! first: the oldest unit (a player, or a whole party) takes the closest-rated units that
//! accept it until the match is full. A game whose rules allow it starts a match short of
//! full once the oldest waiter has waited long enough ([`IncompleteStart`]).
//!
//! The queue is one lock and one task: a round runs every [`ROUND`] and as soon as a ticket is
//! enqueued. Each round drops tickets that waited past `queue_timeout`, forms what groups it
//! can, creates their matches and reserves their seats. A waiter reads its ticket's status
//! (long-polling) and may leave at any time.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::Rng;
use tickroom_engine::MatchRules;
use tokio::sync::{Notify, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{Matchmaker, MatchmakingError, Reservation, Wanted};
use crate::config::MatchmakingConfig;
use crate::metrics::Metrics;

/// How often the queue looks for groups when nothing is enqueued.
pub const ROUND: Duration = Duration::from_millis(250);
/// How long a matched or ended ticket can still be read.
pub const RESOLVED_RETENTION: Duration = Duration::from_secs(60);

/// Where a ticket stands.
#[derive(Debug, Clone)]
pub enum TicketStatus {
    /// Waiting for a group.
    Waiting {
        /// How long it has waited.
        waited: Duration,
        /// Its rating window now.
        window: f64,
    },
    /// Waiting for the rest of its party to enqueue.
    WaitingForParty {
        /// Members enqueued so far.
        present: u32,
        /// Members the party has.
        size: u32,
    },
    /// In a match: the reservation to redeem.
    Matched(Reservation),
    /// Waited past the queue timeout.
    TimedOut,
    /// Left the queue.
    Left,
}

impl TicketStatus {
    /// The status's name on the wire.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Waiting { .. } => "waiting",
            Self::WaitingForParty { .. } => "waiting_for_party",
            Self::Matched(_) => "matched",
            Self::TimedOut => "timed_out",
            Self::Left => "left",
        }
    }

    /// Whether the ticket is over.
    pub fn is_final(&self) -> bool {
        matches!(self, Self::Matched(_) | Self::TimedOut | Self::Left)
    }
}

/// What a player enqueues with.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Who.
    pub player: Arc<str>,
    /// What match: game, labels, size.
    pub wanted: Wanted,
    /// Their rating.
    pub rating: f64,
    /// Their party and its size, if they play with friends.
    pub party: Option<(String, u32)>,
}

/// Why a ticket was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueueError {
    /// The queue holds as many tickets as it may.
    #[error("the queue is full; try again later")]
    Full,
    /// The party is larger than the match, or empty.
    #[error("a party must have between 1 and max_players members")]
    BadParty,
    /// The player is already waiting in another pool, or their party disagrees on its size.
    #[error("already queued for something else (leave that ticket first)")]
    AlreadyQueued,
}

impl QueueError {
    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Full => "queue_full",
            Self::BadParty => "bad_party",
            Self::AlreadyQueued => "already_queued",
        }
    }
}

/// A ticket: a waiter's handle.
#[derive(Debug, Clone)]
pub struct Ticket {
    /// Its id (a secret: whoever holds it can read and cancel the ticket).
    pub id: Arc<str>,
    /// Whose it is.
    pub player: Arc<str>,
    /// Its status, as it changes.
    pub status: watch::Receiver<TicketStatus>,
}

#[derive(Debug)]
struct Waiter {
    entry: Entry,
    since: Instant,
    /// Enqueue order: first come, first served among tickets of the same instant.
    order: u64,
    status: watch::Sender<TicketStatus>,
}

#[derive(Debug, Default)]
struct State {
    waiting: HashMap<Arc<str>, Waiter>,
    /// The next ticket's [`Waiter::order`].
    next_order: u64,
    by_player: HashMap<Arc<str>, Arc<str>>,
    /// Matched and ended tickets, readable a while longer.
    resolved: HashMap<Arc<str>, Resolved>,
}

#[derive(Debug)]
struct Resolved {
    at: Instant,
    player: Arc<str>,
    status: watch::Sender<TicketStatus>,
}

/// How windows open.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Windows {
    /// At enqueue.
    pub start: f64,
    /// Per second waited.
    pub growth: f64,
    /// At most.
    pub max: f64,
}

impl Windows {
    fn after(&self, waited: Duration) -> f64 {
        (self.start + self.growth * waited.as_secs_f64()).min(self.max)
    }
}

/// The queue of one node.
#[derive(Debug)]
pub struct Queue {
    state: Mutex<State>,
    matchmaker: Arc<Matchmaker>,
    metrics: Arc<Metrics>,
    windows: Windows,
    timeout: Duration,
    capacity: usize,
    enqueued: Notify,
}

impl Queue {
    /// A queue that places its groups through `matchmaker`.
    pub fn new(
        matchmaker: Arc<Matchmaker>,
        metrics: Arc<Metrics>,
        config: &MatchmakingConfig,
    ) -> Self {
        Self {
            state: Mutex::new(State::default()),
            matchmaker,
            metrics,
            windows: Windows {
                start: f64::from(config.rating_window),
                growth: f64::from(config.rating_window_growth),
                max: f64::from(config.rating_window_max.max(config.rating_window)),
            },
            timeout: config.queue_timeout,
            capacity: config.queue_capacity,
            enqueued: Notify::new(),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Enqueues `entry`. A player already waiting for the same thing gets their ticket back.
    pub fn enqueue(&self, entry: Entry) -> Result<Ticket, QueueError> {
        if let Some((_, size)) = &entry.party
            && (*size == 0 || *size > entry.wanted.max_players)
        {
            return Err(QueueError::BadParty);
        }
        let mut state = self.state();
        if let Some(id) = state.by_player.get(&entry.player).cloned() {
            let w = &state.waiting[&id];
            if w.entry.wanted != entry.wanted || w.entry.party != entry.party {
                return Err(QueueError::AlreadyQueued);
            }
            return Ok(Ticket {
                status: w.status.subscribe(),
                player: w.entry.player.clone(),
                id,
            });
        }
        if state.waiting.len() >= self.capacity {
            return Err(QueueError::Full);
        }
        let id: Arc<str> = format!("{:032x}", rand::rng().random::<u128>()).into();
        let player = entry.player.clone();
        let (status, rx) = watch::channel(TicketStatus::Waiting {
            waited: Duration::ZERO,
            window: self.windows.start,
        });
        state.by_player.insert(entry.player.clone(), id.clone());
        let order = state.next_order;
        state.next_order += 1;
        state.waiting.insert(
            id.clone(),
            Waiter {
                entry,
                since: Instant::now(),
                order,
                status,
            },
        );
        self.metrics.queue_waiting.set(state.waiting.len() as i64);
        drop(state);
        self.enqueued.notify_one();
        Ok(Ticket {
            id,
            player,
            status: rx,
        })
    }

    /// The ticket with this id, waiting or resolved not long ago.
    pub fn ticket(&self, id: &str) -> Option<Ticket> {
        let state = self.state();
        Some(match state.waiting.get_key_value(id) {
            Some((id, w)) => Ticket {
                id: id.clone(),
                player: w.entry.player.clone(),
                status: w.status.subscribe(),
            },
            None => {
                let (id, r) = state.resolved.get_key_value(id)?;
                Ticket {
                    id: id.clone(),
                    player: r.player.clone(),
                    status: r.status.subscribe(),
                }
            }
        })
    }

    /// Leaves the queue; `false` if the ticket is not waiting (unknown, matched or ended).
    pub fn leave(&self, id: &str) -> bool {
        let mut state = self.state();
        let Some(w) = state.waiting.remove(id) else {
            return false;
        };
        let id: Arc<str> = id.into();
        Self::finish(&mut state, id, w, TicketStatus::Left, Instant::now());
        self.metrics.queue_waiting.set(state.waiting.len() as i64);
        true
    }

    /// Tickets waiting.
    pub fn len(&self) -> usize {
        self.state().waiting.len()
    }

    /// Whether no ticket waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Runs rounds until `stop` is cancelled.
    pub async fn run(self: Arc<Self>, stop: CancellationToken) {
        let mut every = tokio::time::interval(ROUND);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = every.tick() => {}
                _ = self.enqueued.notified() => {}
            }
            self.round().await;
        }
    }

    /// One round: time out, form groups (under the lock), then seat them (without it: the
    /// directory may be remote). A member who left meanwhile is not told; their seat lapses.
    pub async fn round(&self) {
        let now = Instant::now();
        let mut groups: Vec<(Wanted, Vec<Member>)> = Vec::new();
        {
            let mut state = self.state();
            state
                .resolved
                .retain(|_, r| now.duration_since(r.at) < RESOLVED_RETENTION);
            let timed_out: Vec<Arc<str>> = state
                .waiting
                .iter()
                .filter(|(_, w)| now.duration_since(w.since) >= self.timeout)
                .map(|(id, _)| id.clone())
                .collect();
            for id in timed_out {
                self.resolve(&mut state, &id, TicketStatus::TimedOut, now);
            }
            let mut pools: BTreeMap<PoolKey, Vec<Arc<str>>> = BTreeMap::new();
            for (id, w) in &state.waiting {
                pools
                    .entry(PoolKey::of(&w.entry.wanted))
                    .or_default()
                    .push(id.clone());
            }
            for (key, ids) in pools {
                let rules = self.matchmaker.rules(key.game);
                let units = units(&state, &ids, now, self.windows);
                for group in form_groups(&units, key.size, rules, now) {
                    let members: Vec<Member> = group
                        .iter()
                        .flat_map(|&u| units[u].tickets.iter())
                        .filter_map(|id| {
                            let w = state.waiting.get(id)?;
                            Some((id.clone(), w.entry.player.clone()))
                        })
                        .collect();
                    if let Some((first, _)) = members.first() {
                        let wanted = state.waiting[first].entry.wanted.clone();
                        groups.push((wanted, members));
                    }
                }
                // Tell the waiters how long they have waited and how wide they look now.
                for unit in &units {
                    for id in &unit.tickets {
                        let Some(w) = state.waiting.get(id) else {
                            continue;
                        };
                        let status = if unit.complete {
                            TicketStatus::Waiting {
                                waited: now.duration_since(w.since),
                                window: unit.window,
                            }
                        } else {
                            TicketStatus::WaitingForParty {
                                present: unit.tickets.len() as u32,
                                size: unit.size,
                            }
                        };
                        w.status.send_replace(status);
                    }
                }
            }
        }
        for (wanted, members) in groups {
            self.seat(&wanted, &members, now).await;
        }
        self.metrics
            .queue_waiting
            .set(self.state().waiting.len() as i64);
    }

    /// Creates the match of a group and tells each member their reservation. If the match
    /// cannot be created (the room limit), the group waits for the next round.
    async fn seat(&self, wanted: &Wanted, members: &[Member], now: Instant) {
        let players: Vec<Arc<str>> = members.iter().map(|(_, p)| p.clone()).collect();
        match self.matchmaker.create_group(&players, wanted).await {
            Ok(seats) => {
                self.metrics.queue_groups.inc();
                let mut state = self.state();
                for ((id, _), seat) in members.iter().zip(seats) {
                    self.resolve(&mut state, id, TicketStatus::Matched(seat), now);
                }
            }
            Err(e @ (MatchmakingError::Create(_) | MatchmakingError::Unavailable(_))) => {
                tracing::debug!(error = %e, "queue: no match for a group yet");
            }
            Err(e) => tracing::warn!(error = %e, "queue: could not seat a group"),
        }
    }

    fn resolve(&self, state: &mut State, id: &Arc<str>, status: TicketStatus, now: Instant) {
        if let Some(w) = state.waiting.remove(id) {
            Self::finish(state, id.clone(), w, status, now);
        }
    }

    /// Ends a ticket taken out of the waiting list: tells its waiter, keeps it readable.
    fn finish(state: &mut State, id: Arc<str>, w: Waiter, status: TicketStatus, now: Instant) {
        state.by_player.remove(&w.entry.player);
        w.status.send_replace(status);
        state.resolved.insert(
            id,
            Resolved {
                at: now,
                player: w.entry.player,
                status: w.status,
            },
        );
    }
}

/// A member of a group being seated: its ticket and its player.
type Member = (Arc<str>, Arc<str>);

/// The tickets that may be grouped together: same game, labels and size.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct PoolKey {
    game: &'static str,
    labels: BTreeMap<String, String>,
    size: u32,
}

impl PoolKey {
    fn of(w: &Wanted) -> Self {
        Self {
            game: w.game,
            labels: w.labels.clone(),
            size: w.max_players,
        }
    }
}

/// What is grouped: a solo player, or a whole party.
#[derive(Debug, Clone)]
pub(crate) struct Unit {
    pub(crate) tickets: Vec<Arc<str>>,
    /// Players it seats (a party's declared size).
    pub(crate) size: u32,
    /// Mean rating of its members.
    pub(crate) rating: f64,
    /// When its earliest member enqueued, and that member's enqueue order.
    pub(crate) since: (Instant, u64),
    /// Its window now (its earliest member's).
    pub(crate) window: f64,
    /// A party still missing members is not grouped.
    pub(crate) complete: bool,
}

fn units(state: &State, ids: &[Arc<str>], now: Instant, windows: Windows) -> Vec<Unit> {
    let mut parties: BTreeMap<&str, Unit> = BTreeMap::new();
    let mut out = Vec::new();
    for id in ids {
        let w = &state.waiting[id];
        let one = Unit {
            tickets: vec![id.clone()],
            size: 1,
            rating: w.entry.rating,
            since: (w.since, w.order),
            window: windows.after(now.duration_since(w.since)),
            complete: true,
        };
        match &w.entry.party {
            None => out.push(one),
            Some((party, size)) => {
                let unit = parties.entry(party).or_insert(Unit {
                    tickets: Vec::new(),
                    size: *size,
                    rating: 0.0,
                    since: (w.since, w.order),
                    window: 0.0,
                    complete: false,
                });
                unit.rating += w.entry.rating;
                unit.tickets.push(id.clone());
                unit.since = unit.since.min((w.since, w.order));
            }
        }
    }
    for mut unit in parties.into_values() {
        let n = unit.tickets.len() as u32;
        unit.rating /= f64::from(n);
        unit.window = windows.after(now.duration_since(unit.since.0));
        unit.complete = n == unit.size;
        out.push(unit);
    }
    out
}

/// Forms groups of `size` players from `units`, oldest first: each group is the oldest unit
/// not yet grouped and the closest-rated units within both its window and theirs. Returns the
/// groups as indexes into `units`. A group short of `size` is formed only when `rules` allow
/// an incomplete start and its oldest member has waited long enough.
pub(crate) fn form_groups(
    units: &[Unit],
    size: u32,
    rules: MatchRules,
    now: Instant,
) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..units.len()).filter(|&i| units[i].complete).collect();
    // By rating, so an anchor's nearest are its neighbours: a round costs the units within
    // each anchor's window, not every pair.
    let mut by_rating = order.clone();
    by_rating.sort_by(|&x, &y| {
        units[x]
            .rating
            .total_cmp(&units[y].rating)
            .then(units[x].since.cmp(&units[y].since))
    });
    let mut position = vec![0; units.len()];
    for (p, &i) in by_rating.iter().enumerate() {
        position[i] = p;
    }
    order.sort_by_key(|&i| units[i].since);
    let mut taken = vec![false; units.len()];
    let mut groups = Vec::new();
    for &anchor in &order {
        if taken[anchor] {
            continue;
        }
        let a = &units[anchor];
        let distance = |i: usize| (units[i].rating - a.rating).abs();
        // The next unit not taken below / above the anchor, by rating.
        let (mut below, mut above) = (position[anchor], position[anchor] + 1);
        let mut group = vec![anchor];
        let mut seats = a.size;
        while seats < size {
            while below > 0 && taken[by_rating[below - 1]] {
                below -= 1;
            }
            while above < by_rating.len() && taken[by_rating[above]] {
                above += 1;
            }
            let down = (below > 0).then(|| by_rating[below - 1]);
            let up = by_rating.get(above).copied();
            // The closer of the two (the older on a tie), if within the anchor's window.
            let next = match (down, up) {
                (Some(d), Some(u)) => {
                    let closer = distance(d)
                        .total_cmp(&distance(u))
                        .then(units[d].since.cmp(&units[u].since));
                    if closer.is_le() { d } else { u }
                }
                (Some(d), None) => d,
                (None, Some(u)) => u,
                (None, None) => break,
            };
            if distance(next) > a.window {
                break;
            }
            if down == Some(next) {
                below -= 1;
            } else {
                above += 1;
            }
            let unit = &units[next];
            if distance(next) <= unit.window && seats + unit.size <= size {
                seats += unit.size;
                group.push(next);
            }
        }
        let start_short = rules
            .start_incomplete
            .is_some_and(|s| seats >= s.min_players && now.duration_since(a.since.0) >= s.after);
        if seats == size || start_short {
            for &i in &group {
                taken[i] = true;
            }
            groups.push(group);
        }
    }
    groups
}

#[cfg(test)]
mod tests;
