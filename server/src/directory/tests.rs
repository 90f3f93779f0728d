//! The directory on tokio's paused clock, with a recording sink in place of Socket.IO.

use std::time::Duration;

use tickroom_engine::MatchState;
use tickroom_engine::testing::Recorder;
use tickroom_shared::PresenceStatus::{Disconnected, Joined, Left, Reconnected};
use tickroom_shared::Role;

use super::*;
use crate::runtime::SimRuntime;

fn directory(sink: Arc<Recorder>, grace: u64) -> Directory {
    let config = MatchConfig {
        seat_grace: Duration::from_secs(grace),
        ..MatchConfig::default()
    };
    Directory::new(
        tickroom_games::builtin(),
        sink,
        Arc::new(Metrics::default()),
        config,
        None,
        Runtimes::new(&SimRuntime::new(0).unwrap()),
        CancellationToken::new(),
    )
}

fn arena(r: &Directory, seats: u32) -> Arc<Match> {
    r.create(MatchSpec {
        game: "arena".into(),
        max_players: Some(seats),
        ..MatchSpec::default()
    })
    .unwrap()
}

/// Lets the room apply what was sent to it (its next tick is at most 1/30 s away).
async fn settle() {
    tokio::time::sleep(Duration::from_millis(50)).await;
}

#[tokio::test(start_paused = true)]
async fn a_dropped_seat_is_held_for_the_grace_period() {
    let sink = Arc::new(Recorder::default());
    let r = directory(sink.clone(), 10);
    let m = arena(&r, 2);
    let (a, b): (Arc<str>, Arc<str>) = ("a".into(), "b".into());
    m.claim(&a, Role::Player, "c1", false).unwrap();
    settle().await;

    assert!(m.release(&a, Role::Player, "c1", Departure::Dropped));
    settle().await;
    let v = m.seats_view();
    assert_eq!(
        (v.players.clone(), v.disconnected.clone()),
        (vec!["a".to_owned()], vec!["a".to_owned()])
    );
    // The held seat counts: with b seated the match is full for anyone else.
    m.claim(&b, Role::Player, "c2", false).unwrap();
    assert_eq!(
        m.claim(&"c".into(), Role::Player, "c3", false).unwrap_err(),
        SeatError::Full
    );

    // Back within the grace period: same seat, reported as a reconnection.
    tokio::time::sleep(Duration::from_secs(9)).await;
    let claim = m.claim(&a, Role::Player, "c4", false).unwrap();
    assert_eq!(
        claim,
        Claim {
            replaced: None,
            reconnected: true
        }
    );
    settle().await;
    assert!(m.seats_view().disconnected.is_empty());

    // Dropped again and not back in time: the seat is given up.
    assert!(m.release(&a, Role::Player, "c4", Departure::Dropped));
    tokio::time::sleep(Duration::from_secs(11)).await;
    assert_eq!(m.seats_view().players, ["b"]);
    // A deliberate leave gives the seat up at once.
    assert!(m.release(&b, Role::Player, "c2", Departure::Left));
    settle().await;
    assert!(m.seats_view().players.is_empty());

    let a_events: Vec<_> = sink
        .statuses()
        .into_iter()
        .filter(|(p, _)| p == "a")
        .map(|(_, s)| s)
        .collect();
    assert_eq!(
        a_events,
        [Joined, Disconnected, Reconnected, Disconnected, Left]
    );
    let b_events: Vec<_> = sink
        .statuses()
        .into_iter()
        .filter(|(p, _)| p == "b")
        .map(|(_, s)| s)
        .collect();
    assert_eq!(b_events, [Joined, Left]);
}

#[tokio::test(start_paused = true)]
async fn without_a_grace_period_drops_leave_at_once() {
    let sink = Arc::new(Recorder::default());
    let r = directory(sink.clone(), 0);
    let m = arena(&r, 2);
    let a: Arc<str> = "a".into();
    m.claim(&a, Role::Player, "c1", false).unwrap();
    assert!(m.release(&a, Role::Player, "c1", Departure::Dropped));
    settle().await;
    assert!(m.seats_view().players.is_empty());
    // A stale connection id does not touch a seat it no longer holds.
    m.claim(&a, Role::Player, "c2", false).unwrap();
    assert!(!m.release(&a, Role::Player, "c1", Departure::Left));
    assert_eq!(m.seats_view().players, ["a"]);
}

#[tokio::test(start_paused = true)]
async fn a_drain_ends_empty_matches_and_waits_for_the_last_to_close() {
    let sink = Arc::new(Recorder::default());
    let shutdown = CancellationToken::new();
    let r = Directory::new(
        tickroom_games::builtin(),
        sink.clone(),
        Arc::new(Metrics::default()),
        MatchConfig::default(),
        None,
        Runtimes::new(&SimRuntime::new(0).unwrap()),
        shutdown.clone(),
    );
    let empty = arena(&r, 2);
    let busy = arena(&r, 2);
    let a: Arc<str> = "a".into();
    busy.claim(&a, Role::Player, "c1", false).unwrap();
    settle().await;
    assert_eq!(r.open_rooms(), 2);

    shutdown.cancel();
    r.begin_drain();
    settle().await;
    assert_eq!(empty.state(), MatchState::Ended(EndReason::Shutdown));
    assert_eq!(
        busy.state(),
        MatchState::Running,
        "a match with a player drains on"
    );
    assert_eq!(
        r.create(MatchSpec {
            game: "arena".into(),
            ..MatchSpec::default()
        })
        .unwrap_err(),
        CreateError::ShuttingDown
    );
    // A dropped player's seat is not held during a drain: the match empties and ends.
    assert!(busy.release(&a, Role::Player, "c1", Departure::Dropped));
    assert_eq!(
        busy.claim(&"b".into(), Role::Player, "c2", false)
            .unwrap_err(),
        SeatError::Ended,
        "no seat is given once the end is decided"
    );
    tokio::time::timeout(Duration::from_secs(1), r.all_closed())
        .await
        .expect("every room closed");
    assert_eq!(busy.state(), MatchState::Ended(EndReason::Shutdown));
    assert_eq!(r.open_rooms(), 0);
    assert_eq!(r.live(), 0);
}
