//! The handle a room's owner holds, and the one place a match's life is recorded.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tickroom_shared::EndReason;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::log::{Kept, Recorded};
use super::stats::{RoomStats, StatsCell};
use super::{BoxFuture, Frozen, InputError, Outcome, RoomControl};
use crate::game::Game;

/// Where a match is in its life. It only moves forward:
/// `Waiting → Running → Ending → Ended`, or straight from `Waiting` to `Ending`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchState {
    /// Created; no player has joined yet, so it does not tick.
    Waiting,
    /// Ticking.
    Running,
    /// Its end was decided (the first reason given wins); the room is running its last tick
    /// and hook. Seats are no longer given.
    Ending(EndReason),
    /// Over: the outcome is known and the match-end message is on its way to the sink.
    Ended(EndReason),
}

impl MatchState {
    /// The state as the admin API shows it: `waiting`, `running` or `ended` (an ending match
    /// already counts as ended).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Waiting => "waiting",
            Self::Running => "running",
            Self::Ending(_) | Self::Ended(_) => "ended",
        }
    }

    /// Why the match ended, once its end has been decided.
    pub fn end_reason(self) -> Option<EndReason> {
        match self {
            Self::Ending(r) | Self::Ended(r) => Some(r),
            Self::Waiting | Self::Running => None,
        }
    }

    /// Whether the match's end has been decided.
    pub fn is_over(self) -> bool {
        self.end_reason().is_some()
    }
}

/// The match's state and outcome, changed together under one lock.
#[derive(Debug)]
struct Lifecycle {
    state: MatchState,
    outcome: Option<Outcome>,
}

/// What the handle, the room's task and its publisher share.
#[derive(Debug)]
pub(super) struct Shared {
    life: Mutex<Lifecycle>,
    /// The last tick run; read often (welcome, admin views), so an atomic.
    pub(super) tick: AtomicU64,
    /// Cancelled when the end is decided: wakes the room's task.
    pub(super) cancel: CancellationToken,
    /// Cancelled when the task and the publisher have both stopped.
    pub(super) closed: CancellationToken,
    /// The room's own measurements.
    pub(super) stats: StatsCell,
}

impl Shared {
    pub(super) fn new(cancel: CancellationToken) -> Self {
        Self {
            life: Mutex::new(Lifecycle {
                state: MatchState::Waiting,
                outcome: None,
            }),
            tick: AtomicU64::new(0),
            cancel,
            closed: CancellationToken::new(),
            stats: StatsCell::default(),
        }
    }

    fn life(&self) -> MutexGuard<'_, Lifecycle> {
        // Every change below is a single assignment: a poisoned lock's data is consistent.
        self.life.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn state(&self) -> MatchState {
        self.life().state
    }

    /// `Waiting → Running`.
    pub(super) fn start(&self) {
        let mut life = self.life();
        if life.state == MatchState::Waiting {
            life.state = MatchState::Running;
        }
    }

    /// Decides the end for `reason` unless it was decided already; returns the reason in
    /// force, and wakes the room's task.
    pub(super) fn end(&self, reason: EndReason) -> EndReason {
        let reason = {
            let mut life = self.life();
            match life.state {
                MatchState::Waiting | MatchState::Running => {
                    life.state = MatchState::Ending(reason);
                    reason
                }
                MatchState::Ending(r) | MatchState::Ended(r) => r,
            }
        };
        self.cancel.cancel();
        reason
    }

    /// `Ending → Ended`, with the outcome (none after a panic).
    pub(super) fn finish(&self, outcome: Option<Outcome>) -> EndReason {
        let mut life = self.life();
        let reason = life.state.end_reason().unwrap_or(EndReason::Error);
        life.state = MatchState::Ended(reason);
        life.outcome = outcome;
        reason
    }

    pub(super) fn outcome(&self) -> Option<Outcome> {
        self.life().outcome.clone()
    }
}

/// A command for the room, applied before its next tick.
pub(super) enum Command<I> {
    Join(Arc<str>),
    Leave(Arc<str>),
    Keyframe,
    Watch(Arc<str>),
    Unwatch(Arc<str>),
    /// A player is expected within this long.
    Expect(Duration),
    Connected(Arc<str>, bool),
    /// Stop between two ticks and hand the log over ([`RoomControl::freeze`]).
    Freeze(oneshot::Sender<Option<Frozen>>),
    Input {
        player: Arc<str>,
        seq: u32,
        input: I,
    },
}

pub(super) struct Handle<G: Game> {
    game: Arc<G>,
    /// A recorded room's log.
    log: Option<Arc<Kept>>,
    control: mpsc::UnboundedSender<Command<G::Input>>,
    inputs: mpsc::Sender<Command<G::Input>>,
    shared: Arc<Shared>,
}

impl<G: Game> Handle<G> {
    pub(super) fn new(
        game: Arc<G>,
        control: mpsc::UnboundedSender<Command<G::Input>>,
        inputs: mpsc::Sender<Command<G::Input>>,
        shared: Arc<Shared>,
        log: Option<Arc<Kept>>,
    ) -> Self {
        Self {
            game,
            log,
            control,
            inputs,
            shared,
        }
    }
}

impl<G: Game> RoomControl for Handle<G> {
    fn submit_input(&self, player: &Arc<str>, seq: u32, input: &[u8]) -> Result<(), InputError> {
        let input = super::decode_input(&*self.game, input)?;
        self.inputs
            .try_send(Command::Input {
                player: player.clone(),
                seq,
                input,
            })
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => InputError::InboxFull,
                mpsc::error::TrySendError::Closed(_) => InputError::Closed,
            })
    }

    fn join(&self, player: Arc<str>) {
        // The control channel is unbounded but cannot grow without bound: a join or leave is
        // sent only when a seat is taken or given back, and seats are bounded per match.
        let _ = self.control.send(Command::Join(player));
    }

    fn leave(&self, player: Arc<str>) {
        let _ = self.control.send(Command::Leave(player));
    }

    fn request_keyframe(&self) {
        // Bounded like joins: one per accepted connection.
        let _ = self.control.send(Command::Keyframe);
    }

    fn watch(&self, viewer: Arc<str>) {
        // Bounded like joins: one per accepted connection.
        let _ = self.control.send(Command::Watch(viewer));
    }

    fn unwatch(&self, viewer: Arc<str>) {
        let _ = self.control.send(Command::Unwatch(viewer));
    }

    fn expect_player(&self, within: Duration) {
        // Bounded like joins: one per reservation, and reservations by the seats.
        let _ = self.control.send(Command::Expect(within));
    }

    fn set_connected(&self, player: Arc<str>, connected: bool) {
        let _ = self.control.send(Command::Connected(player, connected));
    }

    fn freeze(&self) -> Pin<Box<dyn Future<Output = Option<Frozen>> + Send + '_>> {
        let (tx, rx) = oneshot::channel();
        // Bounded like joins: the embedder freezes a room once per move.
        let sent = self.control.send(Command::Freeze(tx)).is_ok();
        Box::pin(async move {
            if !sent {
                return None;
            }
            rx.await.ok().flatten()
        })
    }

    fn recorded_since(&self, offset: usize) -> Option<Recorded> {
        Some(self.log.as_ref()?.since(offset))
    }

    fn tick(&self) -> u64 {
        self.shared.tick.load(Ordering::Relaxed)
    }

    fn state(&self) -> MatchState {
        self.shared.state()
    }

    fn end(&self, reason: EndReason) {
        self.shared.end(reason);
    }

    fn is_closed(&self) -> bool {
        self.shared.closed.is_cancelled()
    }

    fn closed(&self) -> BoxFuture<'_> {
        Box::pin(self.shared.closed.cancelled())
    }

    fn outcome(&self) -> Option<Outcome> {
        self.shared.outcome()
    }

    fn stats(&self) -> RoomStats {
        self.shared.stats.get()
    }
}
