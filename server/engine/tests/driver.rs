//! The driver, end to end on tokio's paused clock: rooms of the demo games ticking, taking
//! inputs, ending, panicking and falling behind, seen through a recording sink.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tickroom_engine::driver::{self, MAX_CATCH_UP, SpawnParams};
use tickroom_engine::testing::{CountingMetrics, KeptLogs, Recorder};
use tickroom_engine::{Game, InputError, MatchState, Recording, RoomConfig, RoomControl, replay};
use tickroom_games::arena::Arena;
use tickroom_games::arena::{ArenaInput, ArenaState};
use tickroom_shared::EndReason;
use tickroom_shared::wire::DecodeError;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Rooms on the test's (paused) runtime, all publishing to one recorder.
struct Harness {
    sink: Arc<Recorder>,
    metrics: Arc<CountingMetrics>,
    tracker: TaskTracker,
}

impl Harness {
    fn new() -> Self {
        Self {
            sink: Arc::new(Recorder::default()),
            metrics: Arc::new(CountingMetrics::default()),
            tracker: TaskTracker::new(),
        }
    }

    fn spawn<G: Game>(&self, game: G, params: SpawnParams) -> Arc<dyn RoomControl> {
        let spawned = driver::spawn(
            Arc::new(game),
            params,
            self.sink.clone(),
            self.metrics.clone(),
            CancellationToken::new(),
        );
        self.tracker.spawn(spawned.room);
        self.tracker.spawn(spawned.publisher);
        spawned.control
    }

    fn ticks(&self) -> u64 {
        CountingMetrics::get(&self.metrics.ticks)
    }

    async fn wait_closed(&self) {
        self.tracker.close();
        self.tracker.wait().await;
    }
}

fn params(id: &str, rate: u32) -> SpawnParams {
    SpawnParams {
        match_id: id.into(),
        room: RoomConfig::with_rate(rate),
        inbox: 8,
        empty_grace: Duration::from_secs(5),
        recording: None,
    }
}

/// An arena room at `rate` Hz with an inbox of `inbox`.
fn start(rate: u32, inbox: usize) -> (Arc<Recorder>, Arc<dyn RoomControl>, TaskTracker) {
    let h = Harness::new();
    let room = h.spawn(
        Arena,
        SpawnParams {
            inbox,
            ..params("m", rate)
        },
    );
    (h.sink, room, h.tracker)
}

fn walk(dir: [f32; 2]) -> Vec<u8> {
    rmp_serde::to_vec_named(&ArenaInput { dir, buttons: 0 }).unwrap()
}

#[tokio::test(start_paused = true)]
async fn ticks_at_its_rate_and_applies_inputs() {
    let (sink, room, tracker) = start(30, 16);
    // The first join starts the clock: tick 1 at once, then one every 1/30 s.
    room.join("a".into());
    tokio::time::sleep(Duration::from_millis(990)).await;
    assert_eq!(sink.count(), 30, "30 Hz for one second");
    assert_eq!(room.tick(), 30);
    let x0 = sink.last::<ArenaState>().state.player("a").unwrap().x;

    let a: Arc<str> = "a".into();
    let dir = if x0 < 50.0 { 1.0 } else { -1.0 };
    room.submit_input(&a, 1, &walk([dir, 0.0])).unwrap();
    tokio::time::sleep(Duration::from_millis(34)).await;
    let s = sink.last::<ArenaState>();
    assert_eq!(s.tick, 31);
    assert_eq!(s.acks["a"], 1);
    assert!((s.state.player("a").unwrap().x - x0) * dir > 0.0);

    room.end(EndReason::Admin);
    tracker.close();
    tracker.wait().await;
    assert!(room.is_closed());
    let end = sink.end().unwrap();
    assert_eq!(end.reason, EndReason::Admin);
    assert_eq!(end.tick, 31);
    assert_eq!(
        room.submit_input(&a, 2, &walk([0.0, 0.0])),
        Err(InputError::Closed)
    );
}

#[tokio::test(start_paused = true)]
async fn inbox_is_bounded_and_decoding_is_strict() {
    let (sink, room, _tracker) = start(10, 2);
    let a: Arc<str> = "a".into();
    room.join(a.clone());
    assert_eq!(room.submit_input(&a, 1, &walk([0.0, 0.0])), Ok(()));
    assert_eq!(room.submit_input(&a, 2, &walk([0.0, 0.0])), Ok(()));
    assert_eq!(
        room.submit_input(&a, 3, &walk([0.0, 0.0])),
        Err(InputError::InboxFull)
    );
    assert!(matches!(
        room.submit_input(&a, 4, &walk([f32::NAN, 0.0])),
        Err(InputError::Invalid(_))
    ));
    // An input is a map: nil, or the struct's fields as an array (which serde would
    // read), is refused.
    assert!(matches!(
        room.submit_input(&a, 5, b"\xc0"),
        Err(InputError::Decode(DecodeError::NotAMap))
    ));
    assert!(matches!(
        room.submit_input(&a, 5, b"\x92\x92\x00\x00\x00"),
        Err(InputError::Decode(DecodeError::NotAMap))
    ));
    assert!(matches!(
        room.submit_input(&a, 5, b"\x81\xa3dir\xc0"),
        Err(InputError::Decode(DecodeError::Shape))
    ));
    let mut trailing = walk([0.0, 0.0]);
    trailing.push(0xc0);
    assert!(matches!(
        room.submit_input(&a, 5, &trailing),
        Err(InputError::Decode(DecodeError::Trailing))
    ));
    // After a tick the inbox has room again; with the default lag of 0 that tick applied
    // both waiting inputs.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(sink.last::<ArenaState>().acks["a"], 2);
    assert_eq!(room.submit_input(&a, 3, &walk([0.0, 0.0])), Ok(()));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(sink.last::<ArenaState>().acks["a"], 3);
}

/// A test game made of one system; its globals are the tick number.
struct OneSystem(fn(bevy_ecs::prelude::Res<'_, tickroom_engine::TickInfo>));

impl Game for OneSystem {
    type Input = ArenaInput;
    type Globals = u64;
    fn name(&self) -> &'static str {
        "one-system"
    }
    fn build(
        &self,
        _world: &mut bevy_ecs::world::World,
        schedule: &mut bevy_ecs::schedule::Schedule,
    ) {
        use bevy_ecs::prelude::*;
        schedule.add_systems(self.0.in_set(tickroom_engine::GameSystems::Simulate));
    }
    fn on_join(&self, _world: &mut bevy_ecs::world::World, _entity: bevy_ecs::entity::Entity) {}
    fn globals(&self, world: &mut bevy_ecs::world::World) -> u64 {
        world.resource::<tickroom_engine::TickInfo>().tick
    }
}

#[tokio::test(start_paused = true)]
async fn a_panicking_game_ends_its_match_only() {
    let h = Harness::new();
    let faulty = h.spawn(
        OneSystem(|tick| assert!(tick.tick < 3, "simulated game bug")),
        params("bad", 10),
    );
    let healthy = h.spawn(Arena, params("good", 10));
    faulty.join("p".into());
    healthy.join("p".into());
    tokio::time::sleep(Duration::from_millis(1050)).await;
    assert!(faulty.is_closed());
    let end = h
        .sink
        .end
        .lock()
        .unwrap()
        .clone()
        .expect("the faulty match ended");
    assert_eq!(
        (end.match_id.as_str(), end.reason, end.tick),
        ("bad", EndReason::Error, 2)
    );
    assert!(!healthy.is_closed());
    assert_eq!(
        healthy.tick(),
        11,
        "the other room kept its rate: ticks at 0, 0.1, .. 1.0 s"
    );
    assert_eq!(h.metrics.rooms_open.load(Ordering::Relaxed), 1);
}

#[tokio::test(start_paused = true)]
async fn waiting_rooms_do_not_tick_and_empty_rooms_are_abandoned() {
    let h = Harness::new();
    let never = h.spawn(Arena, params("never", 10));
    let left = h.spawn(Arena, params("left", 10));
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(never.state(), MatchState::Waiting);
    assert_eq!(never.tick(), 0);
    assert_eq!(h.sink.count(), 0, "waiting rooms send nothing");

    left.join("a".into());
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(left.state(), MatchState::Running);
    left.leave("a".into());
    // `never` waited 5 s since creation; `left` runs on, empty, until 5 s after the leave.
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    assert!(never.is_closed());
    assert_eq!(never.state().end_reason(), Some(EndReason::Abandoned));
    assert!(!left.is_closed());
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(left.is_closed());
    assert_eq!(left.state().end_reason(), Some(EndReason::Abandoned));
    assert_eq!(h.metrics.rooms_open.load(Ordering::Relaxed), 0);
}

#[tokio::test(start_paused = true)]
async fn a_game_can_end_its_match() {
    use tickroom_games::tictactoe::TicTacToe;
    use tickroom_games::tictactoe::{Board, X};
    let h = Harness::new();
    let room = h.spawn(TicTacToe, params("ttt", 20));
    x_wins_in_five_moves(&h, &*room).await;
    let end = h.sink.end().unwrap();
    assert_eq!(end.reason, EndReason::GameOver);
    let last = h.sink.rebuild::<Board>().pop().unwrap();
    assert_eq!(last.state.winner, Some(X));
    assert_eq!(
        last.tick, end.tick,
        "the final board was published before the end"
    );
}

#[tokio::test(start_paused = true)]
async fn overruns_are_measured_and_counted() {
    let h = Harness::new();
    // Every tick takes 30 ms of real time (the paused clock does not move meanwhile):
    // within a 50 ms period at 20 Hz, over a 20 ms period at 50 Hz.
    let slow = |_: bevy_ecs::prelude::Res<'_, tickroom_engine::TickInfo>| {
        std::thread::sleep(Duration::from_millis(30));
    };
    let fits = h.spawn(OneSystem(slow), params("fits", 20));
    fits.join("p".into());
    tokio::time::sleep(Duration::from_millis(120)).await;
    let ticks = h.ticks();
    assert!(ticks >= 3, "{ticks}");
    assert_eq!(CountingMetrics::get(&h.metrics.tick_overruns), 0);
    assert_eq!(h.metrics.tick_duration.count(), ticks);
    assert_eq!(
        h.metrics
            .tick_duration
            .count_above(Duration::from_millis(25)),
        ticks,
        "each tick took its 30 ms"
    );
    let stats = fits.stats();
    assert!(
        stats.tick_duration >= Duration::from_millis(25),
        "{stats:?}"
    );
    assert!(
        stats.tick_duration_max >= Duration::from_millis(30),
        "{stats:?}"
    );
    assert_eq!(stats.tick_overruns, 0);
    assert!(stats.snapshot_bytes > 0);
    fits.end(EndReason::Admin);

    let over = h.spawn(OneSystem(slow), params("over", 50));
    over.join("p".into());
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        CountingMetrics::get(&h.metrics.tick_overruns) >= 3,
        "{}",
        CountingMetrics::get(&h.metrics.tick_overruns)
    );
    over.end(EndReason::Admin);
}

#[tokio::test(start_paused = true)]
async fn a_late_room_catches_up_three_ticks_and_skips_the_rest() {
    let h = Harness::new();
    let room = h.spawn(Arena, params("late", 30));
    room.join("p".into());
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert_eq!(h.ticks(), 1);
    // The whole runtime stalls for a second (as if the machine froze): 30 ticks fall due
    // at once. The room runs 3 of them back to back and skips the rest.
    tokio::time::advance(Duration::from_secs(1)).await;
    tokio::time::sleep(Duration::from_millis(1)).await;
    assert_eq!(h.ticks(), 1 + MAX_CATCH_UP as u64);
    assert_eq!(
        CountingMetrics::get(&h.metrics.ticks_skipped),
        30 - u64::from(MAX_CATCH_UP)
    );
    // Then it is back on its clock: one tick per period.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(h.ticks(), 1 + u64::from(MAX_CATCH_UP) + 3);
    assert!(
        h.metrics
            .tick_lateness
            .count_above(Duration::from_millis(900))
            >= 1,
        "the late tick was measured"
    );
}

/// Seats x and o in a tictactoe room, plays a game x wins in five moves, and waits for the
/// room (which the game ends) to close.
async fn x_wins_in_five_moves(h: &Harness, room: &dyn RoomControl) {
    use tickroom_games::tictactoe::Move;
    let (x, o): (Arc<str>, Arc<str>) = ("x".into(), "o".into());
    room.join(x.clone());
    room.join(o.clone());
    let mv = |cell: u8| rmp_serde::to_vec_named(&Move { cell }).unwrap();
    for (who, seq, cell) in [(&x, 1, 0), (&o, 1, 3), (&x, 2, 1), (&o, 2, 4), (&x, 3, 2)] {
        room.submit_input(who, seq, &mv(cell)).unwrap();
        tokio::time::sleep(Duration::from_millis(60)).await;
    }
    h.wait_closed().await;
}

/// A sink whose deliveries wait until the test opens its gate: a transport that has fallen
/// behind (its runtime busy with a burst of handshakes, say).
struct Stalled {
    open: tokio::sync::watch::Receiver<bool>,
    inner: Recorder,
}

impl Stalled {
    fn gate() -> (tokio::sync::watch::Sender<bool>, Arc<Self>) {
        let (tx, rx) = tokio::sync::watch::channel(false);
        let sink = Arc::new(Self {
            open: rx,
            inner: Recorder::default(),
        });
        (tx, sink)
    }

    async fn wait_open(&self) {
        let mut open = self.open.clone();
        let _ = open.wait_for(|o| *o).await;
    }
}

impl tickroom_engine::SnapshotSink for Stalled {
    fn publish<'a>(&'a self, id: &'a str, s: bytes::Bytes) -> driver::BoxFuture<'a> {
        Box::pin(async move {
            self.wait_open().await;
            self.inner.publish(id, s).await;
        })
    }
    fn publish_view<'a>(
        &'a self,
        id: &'a str,
        viewer: &'a str,
        s: bytes::Bytes,
    ) -> driver::BoxFuture<'a> {
        Box::pin(async move {
            self.wait_open().await;
            self.inner.publish_view(id, viewer, s).await;
        })
    }
    fn presence<'a>(
        &'a self,
        id: &'a str,
        p: &'a tickroom_shared::Presence,
    ) -> driver::BoxFuture<'a> {
        Box::pin(async move {
            self.wait_open().await;
            self.inner.presence(id, p).await;
        })
    }
    fn ended<'a>(&'a self, end: &'a tickroom_shared::MatchEnd) -> driver::BoxFuture<'a> {
        Box::pin(async move {
            self.wait_open().await;
            self.inner.ended(end).await;
        })
    }
}

/// The join-burst tail: the transport is behind (its runtime busy with a burst of
/// handshakes), snapshots and presence changes wait for it, and a player joins. The joiner
/// must get a keyframe with itself in it from the first snapshot after it joined — not wait
/// for the next periodic keyframe, a second later, with its acks unreadable. Fails when a
/// full queue drops the joiner's keyframe (and the deltas that follow name it), and when a
/// dropped delta is not followed by a keyframe (the next deltas build on the one dropped).
#[tokio::test(start_paused = true)]
async fn a_join_behind_a_stalled_publisher_loses_no_keyframe() {
    let (gate, sink) = Stalled::gate();
    let metrics = Arc::new(CountingMetrics::default());
    let tracker = TaskTracker::new();
    let spawned = driver::spawn(
        Arc::new(Arena),
        params("burst", 30),
        sink.clone(),
        metrics.clone(),
        CancellationToken::new(),
    );
    tracker.spawn(spawned.room);
    tracker.spawn(spawned.publisher);
    let room = spawned.control;
    room.join("first".into());
    // Ticks 1-3 (at 0, 33, 67 ms) wait behind the first player's presence change.
    tokio::time::sleep(Duration::from_millis(80)).await;
    let before = room.tick();
    assert_eq!(before, 3);
    // A second player joins (as the transport does: a seat, then a keyframe for its
    // connection); tick 4 is its keyframe, and more ticks pass while the transport is stuck.
    room.join("joiner".into());
    room.request_keyframe();
    tokio::time::sleep(Duration::from_millis(100)).await;
    gate.send_replace(true);
    tokio::time::sleep(Duration::from_millis(100)).await;

    // What the joiner receives: the snapshots published after it joined, in order.
    let after: Vec<bytes::Bytes> = sink
        .inner
        .snapshots
        .lock()
        .unwrap()
        .iter()
        .filter(|b| tick_of(b) > before)
        .cloned()
        .collect();
    assert!(after.len() >= 3, "{}", after.len());
    let mut joiner = tickroom_shared::Mirror::new();
    let first = joiner
        .apply_typed::<ArenaState>(&after[0])
        .unwrap()
        .expect("the first snapshot after the join is usable: a keyframe");
    assert!(first.keyframe);
    // The keyframe the join asked for (tick 4), or — once the stuck transport cost a delta,
    // which breaks the chain of deltas — the keyframe that replaced it and the deltas queued
    // behind it: the newest state, whole.
    assert!(first.tick > before, "{}", first.tick);
    assert!(first.state.player("joiner").is_some());
    for b in &after[1..] {
        assert!(
            joiner.apply_typed::<ArenaState>(b).unwrap().is_some(),
            "every later snapshot is usable too"
        );
    }
    assert!(
        CountingMetrics::get(&metrics.snapshots_dropped) > 0,
        "the stuck transport did cost snapshots"
    );
}

/// The tick a snapshot says it is of (its first element).
fn tick_of(mut snapshot: &[u8]) -> u64 {
    rmp::decode::read_array_len(&mut snapshot).expect("a snapshot");
    rmp::decode::read_int(&mut snapshot).expect("its tick")
}

/// A snapshot rate below the tick rate: a 60 Hz room sending every third tick sends 20
/// snapshots a second, each acknowledging the inputs applied since the last; a join is sent at
/// once (its keyframe does not wait for the interval), and so is the last tick of a match.
#[tokio::test(start_paused = true)]
async fn a_room_can_send_fewer_snapshots_than_it_ticks() {
    let h = Harness::new();
    let room = h.spawn(
        Arena,
        SpawnParams {
            room: RoomConfig {
                snapshot_interval: 3,
                keyframe_interval: 20,
                ..RoomConfig::with_rate(60)
            },
            ..params("sixty", 60)
        },
    );
    let a: Arc<str> = "a".into();
    room.join(a.clone());
    tokio::time::sleep(Duration::from_millis(990)).await;
    assert_eq!(h.ticks(), 60, "60 Hz");
    assert_eq!(h.sink.count(), 20, "a snapshot every third tick");
    let ticks: Vec<u64> = h
        .sink
        .rebuild::<ArenaState>()
        .iter()
        .map(|s| s.tick)
        .collect();
    assert_eq!(&ticks[..4], [1, 4, 7, 10]);

    room.submit_input(&a, 1, &walk([1.0, 0.0])).unwrap();
    room.join("b".into());
    room.request_keyframe();
    tokio::time::sleep(Duration::from_millis(17)).await;
    let s = h.sink.last::<ArenaState>();
    assert_eq!(s.tick, 61, "the joiner's keyframe went out at once");
    assert!(s.keyframe);
    assert_eq!(s.acks["a"], 1);
    assert!(s.state.player("b").is_some());

    room.end(EndReason::Admin);
    h.wait_closed().await;
    let end = h.sink.end().unwrap();
    assert!(end.tick >= 61);
}

#[tokio::test(start_paused = true)]
async fn the_last_tick_of_a_match_is_sent_whatever_the_snapshot_interval() {
    use tickroom_games::tictactoe::TicTacToe;
    use tickroom_games::tictactoe::{Board, X};
    let h = Harness::new();
    let room = h.spawn(
        TicTacToe,
        SpawnParams {
            room: RoomConfig {
                snapshot_interval: 7,
                ..RoomConfig::with_rate(20)
            },
            ..params("ttt-slow", 20)
        },
    );
    x_wins_in_five_moves(&h, &*room).await;
    let end = h.sink.end().unwrap();
    let last = h.sink.rebuild::<Board>().pop().unwrap();
    assert_eq!(last.state.winner, Some(X));
    assert_eq!(last.tick, end.tick, "the final board was sent");
}

/// A recorded room hands its whole command log over when the match ends, and it replays to
/// the match's last state; a log that reaches its bound stops at a whole record and still
/// replays, up to there.
#[tokio::test(start_paused = true)]
async fn a_recorded_match_hands_over_a_log_that_replays() {
    let logs = Arc::new(KeptLogs::default());
    let h = Harness::new();
    let recorded = |id: &str, max_bytes: usize| SpawnParams {
        recording: Some(Recording {
            recorder: logs.clone(),
            max_bytes,
        }),
        ..params(id, 30)
    };
    for (id, max_bytes) in [("whole", 1 << 20), ("cut", 600)] {
        let room = h.spawn(Arena, recorded(id, max_bytes));
        let (a, b): (Arc<str>, Arc<str>) = ("a".into(), "b".into());
        room.join(a.clone());
        room.join(b.clone());
        for seq in 1..=60u32 {
            let dir = [(seq as f32 * 0.1).cos(), (seq as f32 * 0.1).sin()];
            room.submit_input(&a, seq, &walk(dir)).unwrap();
            room.submit_input(&b, seq, &walk([-dir[0], dir[1]]))
                .unwrap();
            tokio::time::sleep(Duration::from_millis(33)).await;
        }
        room.leave(b);
        tokio::time::sleep(Duration::from_millis(100)).await;
        room.end(EndReason::Admin);
        room.closed().await;
    }
    h.wait_closed().await;
    let (whole, complete) = logs.get("whole").expect("the log");
    assert!(complete);
    let report = replay::replay(Arc::new(Arena), &whole).expect("replays");
    assert_eq!(report.end.as_deref(), Some("admin"));
    assert_eq!(report.joins, 2);
    assert!(report.inputs >= 110, "{}", report.inputs);
    assert_eq!(report.checksums, report.ticks / 30);
    let (cut, complete) = logs.get("cut").expect("the log");
    assert!(!complete);
    assert!(cut.len() <= 600 && cut.len() > 300, "{}", cut.len());
    let report = replay::replay(Arc::new(Arena), &cut).expect("a cut log replays");
    assert_eq!(report.end, None);
    assert!(report.ticks > 0);
}

/// A running room frozen for a move hands over its log; restored from it in another room, the
/// match goes on from the next tick with its players' seats and acks, and the old room stops
/// without an end (no `match_end`, no recording); the two logs replay as one match with every
/// input of both halves. A frozen room that is not moved ticks on.
#[tokio::test(start_paused = true)]
async fn a_frozen_room_moves_to_a_restored_one_or_ticks_on() {
    let logs = Arc::new(KeptLogs::default());
    let recorded = |id: &str| SpawnParams {
        recording: Some(Recording {
            recorder: logs.clone(),
            max_bytes: 1 << 20,
        }),
        ..params(id, 30)
    };
    let (source, target) = (Harness::new(), Harness::new());
    let room = source.spawn(Arena, recorded("moving"));
    let a: Arc<str> = "a".into();
    room.join(a.clone());
    for seq in 1..=30u32 {
        room.submit_input(&a, seq, &walk([1.0, 0.0])).unwrap();
        tokio::time::sleep(Duration::from_millis(33)).await;
    }
    // A checkpoint copies the log as it grows: from any offset to its end, whole records.
    let sofar = room.recorded_since(0).expect("recorded");
    assert!(sofar.complete && sofar.len == sofar.bytes.len());
    let frozen = room
        .freeze()
        .await
        .expect("a recorded running room freezes");
    let at = frozen.tick;
    assert!(frozen.log.starts_with(&sofar.bytes));
    let tail = room.recorded_since(sofar.len).unwrap();
    assert_eq!([&sofar.bytes[..], &tail.bytes[..]].concat(), frozen.log);
    assert_eq!(room.tick(), at);
    // Frozen: no tick while the move is decided; an input waits.
    room.submit_input(&a, 31, &walk([0.0, 1.0])).unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(room.tick(), at, "frozen rooms do not tick");
    let log = frozen.log.clone();
    frozen.moved();
    room.closed().await;
    assert_eq!(room.state(), MatchState::Ended(EndReason::Moved));
    assert!(
        source.sink.end().is_none(),
        "a moved match sends no match_end"
    );
    assert!(logs.get("moving").is_none(), "nor hands over a recording");

    let spawned = driver::spawn_restored(
        Arc::new(Arena),
        &log,
        recorded("moving"),
        target.sink.clone(),
        target.metrics.clone(),
        CancellationToken::new(),
    )
    .expect("restores");
    assert_eq!(
        (spawned.players.clone(), spawned.tick),
        (vec!["a".to_owned()], at)
    );
    let spawned = spawned.spawned;
    let moved = spawned.control;
    target.tracker.spawn(spawned.room);
    target.tracker.spawn(spawned.publisher);
    assert_eq!(moved.tick(), at);
    // The client resends what was not acknowledged: 31 again, then goes on.
    for seq in 31..=60u32 {
        moved.submit_input(&a, seq, &walk([0.0, 1.0])).unwrap();
        tokio::time::sleep(Duration::from_millis(33)).await;
    }
    let s = target.sink.last::<ArenaState>();
    assert!(s.tick > at + 25, "ticks on from {at}: {}", s.tick);
    assert_eq!(s.acks["a"], 60);
    assert!(s.state.player("a").is_some());
    moved.end(EndReason::Admin);
    target.wait_closed().await;
    let (whole, complete) = logs.get("moving").expect("the whole match's log");
    assert!(complete);
    let report = replay::replay(Arc::new(Arena), &whole).expect("both halves replay as one");
    assert_eq!(report.inputs_by_player["a"], 60, "every input, once");
    assert_eq!(report.joins, 1);
    assert_eq!(report.end.as_deref(), Some("admin"));

    // Dropped without a move, a frozen room ticks on and applies what waited.
    let h = Harness::new();
    let room = h.spawn(Arena, recorded("stays"));
    room.join(a.clone());
    tokio::time::sleep(Duration::from_millis(100)).await;
    let frozen = room.freeze().await.expect("freezes");
    room.submit_input(&a, 1, &walk([1.0, 0.0])).unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let at = room.tick();
    drop(frozen);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(room.tick() >= at + 2, "thawed: {} after {at}", room.tick());
    assert_eq!(h.sink.last::<ArenaState>().acks["a"], 1);
    // A room that records nothing, or has not started, cannot be frozen.
    let unrecorded = h.spawn(Arena, params("plain", 30));
    assert!(unrecorded.freeze().await.is_none(), "waiting");
    unrecorded.join(a.clone());
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(unrecorded.freeze().await.is_none(), "not recorded");
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(unrecorded.tick() > 2, "and goes on");
    room.end(EndReason::Admin);
    unrecorded.end(EndReason::Admin);
    h.wait_closed().await;
}
