//! Interest management, stepping a room of the large-map arena by hand: each viewer's
//! snapshots, rebuilt by a client's mirror, hold what is near it and nothing else.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use tickroom_engine::{Room, RoomConfig, Snapshots};
use tickroom_games::arena::{ArenaLarge, ArenaState, LARGE_VIEW, Position};
use tickroom_shared::{Mirror, Snapshot};

/// A large-map room and one client mirror per viewer.
struct Viewers {
    room: Room<ArenaLarge>,
    mirrors: BTreeMap<String, Mirror>,
    /// Each viewer's last rebuilt state.
    last: BTreeMap<String, Snapshot<ArenaState>>,
    /// The viewers the last tick wrote for.
    written: Vec<String>,
}

impl Viewers {
    fn new() -> Self {
        Self {
            room: Room::new(Arc::new(ArenaLarge), RoomConfig::with_rate(30)),
            mirrors: BTreeMap::new(),
            last: BTreeMap::new(),
            written: Vec::new(),
        }
    }

    fn place(&mut self, player: &str, x: f32, y: f32) {
        let e = self.room.entity_of(player).expect("seated");
        *self.room.world_mut().get_mut::<Position>(e).unwrap() = Position { x, y };
    }

    /// Runs a tick and applies each viewer's snapshot to its mirror; returns who got a
    /// keyframe.
    fn tick(&mut self) -> Vec<String> {
        self.room.step();
        let Snapshots::Views(views) = self.room.snapshots() else {
            panic!("a room with an interest sends each viewer its own snapshot");
        };
        let mut keyframes = Vec::new();
        self.written.clear();
        for (viewer, bytes) in views {
            self.written.push(viewer.to_string());
            let mirror = self.mirrors.entry(viewer.to_string()).or_default();
            let s: Snapshot<ArenaState> = mirror
                .apply_typed(&Bytes::clone(bytes))
                .unwrap()
                .unwrap_or_else(|| panic!("{viewer} could not use its snapshot"));
            if s.keyframe {
                keyframes.push(viewer.to_string());
            }
            self.last.insert(viewer.to_string(), s);
        }
        keyframes
    }

    /// The ids `viewer` sees.
    fn sees(&self, viewer: &str) -> Vec<String> {
        self.last[viewer]
            .state
            .players
            .iter()
            .map(|p| p.id.to_string())
            .collect()
    }
}

/// A disc far away never reaches a viewer; walking towards it, it arrives whole (every field,
/// exact) in the tick it comes within the view radius, stays while within 1.25 × the radius,
/// and is removed beyond it.
#[test]
fn a_far_disc_never_arrives_and_an_approaching_one_arrives_whole() {
    let mut v = Viewers::new();
    v.room.join("ann".into());
    v.room.join("bob".into());
    v.place("ann", 50.0, 50.0);
    v.place("bob", 350.0, 50.0);
    for _ in 0..30 {
        v.tick();
        v.place("ann", 50.0, 50.0);
        v.place("bob", 350.0, 50.0);
        assert_eq!(v.sees("ann"), ["ann"]);
        assert_eq!(v.sees("bob"), ["bob"]);
    }
    // Bob walks towards ann, 3 units a tick.
    let mut x = 350.0;
    let mut arrived = None;
    while x > 60.0 {
        x -= 3.0;
        v.place("bob", x, 50.0);
        v.place("ann", 50.0, 50.0);
        v.tick();
        let within = (x - 50.0) <= LARGE_VIEW;
        assert_eq!(
            v.sees("ann").contains(&"bob".to_string()),
            within,
            "bob at x = {x}"
        );
        if within && arrived.is_none() {
            arrived = Some(x);
            let bob = v.last["ann"].state.player("bob").unwrap().clone();
            assert_eq!((bob.x, bob.y), (x, 50.0), "bob arrives whole, where he is");
        }
    }
    assert!(arrived.is_some());
    // Walking away: still seen up to 1.25 × the radius, then removed.
    while x < 50.0 + 1.25 * LARGE_VIEW + 6.0 {
        x += 3.0;
        v.place("bob", x, 50.0);
        v.place("ann", 50.0, 50.0);
        v.tick();
        let kept = (x - 50.0) <= 1.25 * LARGE_VIEW;
        assert_eq!(
            v.sees("ann").contains(&"bob".to_string()),
            kept,
            "bob at x = {x}"
        );
    }
}

/// A player joining or a spectator coming costs only themselves a keyframe: every other
/// viewer's next snapshot is a delta (it has its own seat table, with its own ack alone). A
/// spectator has no place and sees every disc, and is sent nothing once it stops watching.
#[test]
fn a_join_costs_no_other_viewer_a_keyframe() {
    let mut v = Viewers::new();
    v.room.join("ann".into());
    v.room.join("bob".into());
    assert_eq!(v.tick(), ["ann", "bob"]);
    for _ in 0..3 {
        assert!(v.tick().is_empty());
    }
    v.room.join("cat".into());
    assert!(v.room.snapshot_due());
    assert_eq!(
        v.tick(),
        ["cat"],
        "only the newcomer's snapshot is a keyframe"
    );
    assert_eq!(v.last["ann"].acks.keys().collect::<Vec<_>>(), ["ann"]);
    v.room.watch(&"spy".into());
    assert_eq!(v.tick(), ["spy"]);
    assert_eq!(v.sees("spy"), ["ann", "bob", "cat"]);
    assert!(v.last["spy"].acks.is_empty(), "a spectator holds no seat");
    // A reconnecting player's connection asks for its own keyframe.
    v.room.watch(&"bob".into());
    assert_eq!(v.tick(), ["bob"]);
    v.room.unwatch("spy");
    v.room.unwatch("bob");
    assert!(v.tick().is_empty());
    assert_eq!(
        v.written,
        ["ann", "bob", "cat"],
        "a seated player stays a viewer"
    );
    // A player who leaves is sent nothing more; the others see it removed, in a delta.
    v.room.leave("cat");
    assert!(v.tick().is_empty());
    assert_eq!(v.written, ["ann", "bob"]);
    assert_eq!(v.room.viewer_count(), 2);
    assert_eq!(
        v.sees("spy"),
        ["ann", "bob", "cat"],
        "spy's last, before it went"
    );
}

/// A dropped player is not written for (nothing would reach it); back, it gets a keyframe.
#[test]
fn a_dropped_player_is_skipped_until_it_is_back() {
    let mut v = Viewers::new();
    v.room.join("ann".into());
    v.room.join("bob".into());
    v.tick();
    v.room.set_connected("bob", false);
    v.tick();
    assert_eq!(v.written, ["ann"]);
    v.room.set_connected("bob", true);
    v.room.watch(&"bob".into());
    assert_eq!(v.tick(), ["bob"]);
}
