//! A room's task: waiting for its first player, ticking on its clock, ending.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use tickroom_shared::{EndReason, MatchEnd, Presence, PresenceStatus};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::clock::TickClock;
use super::handle::{Command, Shared};
use super::log::Log;
use super::outbox::{CloseOnDrop, Outbox, Publish, Pushed};
use super::{Frozen, Outcome, Verdict};
use crate::game::Game;
use crate::metrics::RoomMetrics;
use crate::room::{Room, Snapshots};

/// A room and the channels it talks through; [`RoomTask::run_guarded`] runs it.
pub(super) struct RoomTask<G: Game> {
    pub(super) room: Room<G>,
    /// With a recording: the match's command log.
    pub(super) log: Option<Log>,
    pub(super) match_id: Arc<str>,
    pub(super) empty_grace: Duration,
    pub(super) control: mpsc::UnboundedReceiver<Command<G::Input>>,
    pub(super) inputs: mpsc::Receiver<Command<G::Input>>,
    pub(super) outbox: Arc<Outbox>,
    pub(super) metrics: Arc<dyn RoomMetrics>,
    pub(super) shared: Arc<Shared>,
    /// Presence changes applied since the last publish.
    pub(super) presence: Vec<Presence>,
    /// When the first tick ran.
    pub(super) started: Option<Instant>,
    /// A player is expected until then ([`RoomControl::expect_player`]): the room is not
    /// abandoned before.
    pub(super) expected_until: Option<Instant>,
    /// Each tick's new log records, kept for its allocation.
    pub(super) log_scratch: Vec<u8>,
    /// A freeze asked for ([`super::RoomControl::freeze`]), answered before the next tick.
    pub(super) freezing: Option<oneshot::Sender<Option<Frozen>>>,
}

impl<G: Game> RoomTask<G> {
    /// Runs the room; if the game panics, the match ends with [`EndReason::Error`] instead of
    /// leaving its clients waiting for snapshots that will never come. Other rooms and the
    /// server are unaffected either way.
    pub(super) async fn run_guarded(self) {
        use futures_util::FutureExt;
        let match_id = self.match_id.clone();
        // Tells the publisher if this future is dropped before the match-end message.
        let _closing = CloseOnDrop(self.outbox.clone());
        let outbox = self.outbox.clone();
        let shared = self.shared.clone();
        self.metrics.room_opened();
        let outcome = match std::panic::AssertUnwindSafe(self.run())
            .catch_unwind()
            .await
        {
            Ok(outcome) => Some(outcome),
            Err(panic) => {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                tracing::error!(%match_id, panic = %what, "room panicked; ending the match");
                shared.end(EndReason::Error);
                None
            }
        };
        let scores = outcome
            .as_ref()
            .map(|o| o.scores.clone())
            .unwrap_or_default();
        let reason = shared.finish(outcome);
        let end = MatchEnd {
            match_id: match_id.to_string(),
            reason,
            tick: shared.tick.load(Ordering::Relaxed),
            scores,
        };
        tracing::info!(%match_id, reason = reason.as_str(), tick = end.tick, "match ended");
        outbox.push_end(end);
    }

    async fn run(mut self) -> Outcome {
        let reason = self.run_until_end().await;
        // The first reason decided wins (an admin end racing a game over keeps the admin's).
        let reason = self.shared.end(reason);
        if reason == EndReason::Moved {
            // The match goes on elsewhere: no end hook, no end record, no recording here.
            return Outcome {
                players: self.room.player_ids(),
                scores: Default::default(),
                played: self.started.map_or(Duration::ZERO, |t| t.elapsed()),
            };
        }
        let scores = self.room.end(reason);
        if let Some(mut log) = self.log.take() {
            log.keep(&mut self.room, &mut Vec::new());
            let complete = !log.is_cut();
            let recorder = log.recording.recorder.clone();
            recorder.recorded(&self.match_id, log.to_bytes(), complete);
        }
        Outcome {
            players: self.room.player_ids(),
            scores,
            played: self.started.map_or(Duration::ZERO, |t| t.elapsed()),
        }
    }

    async fn run_until_end(&mut self) -> EndReason {
        // Waiting: no ticks until the first player, or the grace period (and any player
        // expected) is over, or an end.
        let created = Instant::now();
        let grace = tokio::time::sleep(self.empty_grace);
        tokio::pin!(grace);
        loop {
            if self.room.player_count() > 0 {
                break;
            }
            tokio::select! {
                biased;
                _ = self.shared.cancel.cancelled() => return self.requested_end(),
                _ = &mut grace => {
                    if self.expected_until.is_none_or(|t| t <= Instant::now()) {
                        return EndReason::Abandoned;
                    }
                }
                cmd = self.control.recv() => match cmd {
                    Some(cmd) => self.apply(cmd),
                    None => return self.requested_end(),
                },
            }
            if let Some(asked) = self.freezing.take() {
                // Not running: nothing to move.
                let _ = asked.send(None);
            }
            let deadline = (created + self.empty_grace).max(self.expected_until.unwrap_or(created));
            if grace.deadline() != deadline {
                grace.as_mut().reset(deadline);
            }
            self.flush_presence();
        }
        self.shared.start();
        self.started = Some(Instant::now());

        let mut clock = TickClock::new(self.room.config().tick_rate, Instant::now());
        let period = clock.period();
        let mut empty_since: Option<Instant> = None;
        let mut overrun_warned = false;
        loop {
            tokio::select! {
                biased;
                _ = self.shared.cancel.cancelled() => return self.requested_end(),
                _ = tokio::time::sleep_until(clock.next()) => {}
            }
            let now = Instant::now();
            let due = clock.due(now);
            self.metrics.tick_lateness(due.late);
            if due.skipped > 0 {
                self.metrics.ticks_skipped(u64::from(due.skipped));
            }
            for i in 0..due.run {
                if i > 0 {
                    // Catching up: give the thread back between ticks, so a late room delays
                    // the others on its thread by one tick at a time, not by the whole backlog.
                    tokio::task::yield_now().await;
                }
                self.drain();
                if let Some(asked) = self.freezing.take() {
                    match self.freeze(asked).await {
                        Some(Verdict::Moved) => return EndReason::Moved,
                        Some(Verdict::Thaw) => {
                            // Ticks again from now, at its rate: no burst for the time frozen.
                            clock = TickClock::new(self.room.config().tick_rate, Instant::now());
                            break;
                        }
                        // Ended while frozen, or not frozen at all.
                        None if self.shared.cancel.is_cancelled() => return self.requested_end(),
                        None => {}
                    }
                }
                self.flush_presence();
                // Real time, not the runtime's clock: what a tick costs is CPU, whatever the
                // scheduler's notion of now.
                let started = std::time::Instant::now();
                self.room.step();
                if let Some(log) = &mut self.log {
                    log.keep(&mut self.room, &mut self.log_scratch);
                }
                let snapshot = self
                    .room
                    .snapshot_due()
                    .then(|| match self.room.snapshots() {
                        Snapshots::Room(bytes) => (
                            Publish::Snapshot(Bytes::copy_from_slice(bytes)),
                            bytes.len(),
                        ),
                        Snapshots::Views(views) => (
                            Publish::Views(views.to_vec()),
                            views.iter().map(|(_, b)| b.len()).sum(),
                        ),
                    });
                let took = started.elapsed();
                self.metrics.tick(took);
                let overran = took > period;
                if overran {
                    self.metrics.tick_overrun();
                    if !overrun_warned {
                        overrun_warned = true;
                        tracing::warn!(match_id = %self.match_id, ?took, ?period, "tick overran its period");
                    }
                }
                self.shared
                    .tick
                    .store(self.room.tick_number(), Ordering::Relaxed);
                let bytes = snapshot.as_ref().map_or(0, |(_, bytes)| *bytes);
                let dropped = match snapshot {
                    None => 0,
                    Some((snapshot, _)) => {
                        self.metrics.snapshot(bytes);
                        match self
                            .outbox
                            .push_snapshot(snapshot, self.room.last_was_keyframe())
                        {
                            Pushed::Queued => 0,
                            // Deltas build on each other: the clients will not have the
                            // one dropped, so the next snapshot restarts from a keyframe.
                            Pushed::Dropped => {
                                self.room.request_keyframe();
                                1
                            }
                            Pushed::Replaced(n) => n,
                        }
                    }
                };
                for _ in 0..dropped {
                    self.metrics.snapshot_dropped();
                }
                let dropped = dropped > 0;
                let late = if i == 0 { due.late } else { Duration::ZERO };
                self.shared.stats.tick(took, late, bytes, overran, dropped);
                if self.room.is_over() {
                    return EndReason::GameOver;
                }
            }
            if self.room.player_count() == 0 {
                let since = *empty_since.get_or_insert(now);
                if now.duration_since(since) >= self.empty_grace
                    && self.expected_until.is_none_or(|t| t <= now)
                {
                    return EndReason::Abandoned;
                }
            } else {
                empty_since = None;
            }
        }
    }

    fn note(&mut self, player: Arc<str>, status: PresenceStatus) {
        self.presence.push(Presence {
            player_id: player.to_string(),
            status,
            tick: self.room.tick_number(),
        });
    }

    /// Hands the presence changes gathered so far to the publisher. Unlike snapshots they are
    /// never dropped for a slow transport.
    fn flush_presence(&mut self) {
        for p in self.presence.drain(..) {
            if self.outbox.push_presence(p) {
                tracing::warn!(match_id = %self.match_id, "presence queue full: the oldest change was dropped");
            }
        }
    }

    /// The reason the end was decided with; a `stop` from the embedder is a shutdown.
    fn requested_end(&self) -> EndReason {
        self.shared
            .state()
            .end_reason()
            .unwrap_or(EndReason::Shutdown)
    }

    /// Stops between two ticks for a move: hands over the whole log so far and waits for the
    /// verdict — the match moved (the room stops) or it did not (it ticks on). `None`: the
    /// room cannot be moved (it keeps no whole log) and goes on at once. Inputs and commands
    /// that arrive meanwhile wait in their queues: the next tick applies them after a thaw;
    /// after a move they are dropped (clients resend what was not acknowledged).
    async fn freeze(&mut self, asked: oneshot::Sender<Option<Frozen>>) -> Option<Verdict> {
        let Some(log) = &mut self.log else {
            let _ = asked.send(None);
            return None;
        };
        log.keep(&mut self.room, &mut self.log_scratch);
        if log.is_cut() {
            let _ = asked.send(None);
            return None;
        }
        let (verdict, decided) = oneshot::channel();
        let frozen = Frozen {
            log: log.to_bytes(),
            tick: self.room.tick_number(),
            verdict: Some(verdict),
        };
        if asked.send(Some(frozen)).is_err() {
            return None;
        }
        tokio::select! {
            biased;
            _ = self.shared.cancel.cancelled() => None,
            // A `Frozen` dropped without a verdict thaws the room.
            v = decided => Some(v.unwrap_or(Verdict::Thaw)),
        }
    }

    fn drain(&mut self) {
        // Joins and leaves first, so an input sent right after joining finds its seat.
        while let Ok(cmd) = self.control.try_recv() {
            self.apply(cmd);
        }
        if self.freezing.is_some() {
            // The inputs wait: a move hands over the log of the ticks run so far.
            return;
        }
        // At most what was queued when the drain began: a flood cannot keep the tick waiting.
        for _ in 0..self.inputs.len() {
            match self.inputs.try_recv() {
                Ok(cmd) => self.apply(cmd),
                Err(_) => break,
            }
        }
    }

    fn apply(&mut self, cmd: Command<G::Input>) {
        match cmd {
            Command::Join(player) => {
                if self.room.join(player.clone()) {
                    self.note(player, PresenceStatus::Joined);
                }
            }
            Command::Leave(player) => {
                if self.room.leave(&player) {
                    self.note(player, PresenceStatus::Left);
                }
            }
            Command::Keyframe => self.room.request_keyframe(),
            Command::Watch(viewer) => self.room.watch(&viewer),
            Command::Unwatch(viewer) => self.room.unwatch(&viewer),
            Command::Expect(within) => {
                let until = Instant::now() + within;
                self.expected_until = Some(self.expected_until.map_or(until, |t| t.max(until)));
            }
            Command::Connected(player, connected) => {
                if self.room.set_connected(&player, connected) {
                    let status = if connected {
                        PresenceStatus::Reconnected
                    } else {
                        PresenceStatus::Disconnected
                    };
                    self.note(player, status);
                }
            }
            Command::Freeze(asked) => self.freezing = Some(asked),
            Command::Input { player, seq, input } => {
                let outcome = self.room.push_input(&player, seq, input);
                self.metrics.input(outcome);
            }
        }
    }
}
