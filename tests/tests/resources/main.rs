//! Resource bounds measured with a counting allocator: a tick allocates (near) nothing after
//! warm-up, and 10,000 rooms created, filled and ended leave memory and the directory at their
//! baseline. These run in their own test binary because the allocator is process-wide.
// The global allocator below is the one use of `unsafe` in the workspace: it forwards every
// call unchanged to the system allocator and only counts.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

struct Counting;

static LIVE_BYTES: AtomicI64 = AtomicI64::new(0);

thread_local! {
    static THREAD_ALLOCS: Cell<u64> = const { Cell::new(0) };
}

fn count_alloc(size: usize) {
    LIVE_BYTES.fetch_add(size as i64, Ordering::Relaxed);
    let _ = THREAD_ALLOCS.try_with(|c| c.set(c.get() + 1));
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so the
// `GlobalAlloc` contract holds exactly as it does for `System`.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_alloc(layout.size());
        // SAFETY: forwarded unchanged.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count_alloc(layout.size());
        // SAFETY: forwarded unchanged.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size() as i64, Ordering::Relaxed);
        // SAFETY: forwarded unchanged.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE_BYTES.fetch_sub(layout.size() as i64, Ordering::Relaxed);
        count_alloc(new_size);
        // SAFETY: forwarded unchanged.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The two tests measure process-wide memory: never at the same time.
static SERIAL: Mutex<()> = Mutex::new(());

/// A two-thread runtime like the server's, for the tests that run one.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn thread_allocs() -> u64 {
    THREAD_ALLOCS.with(Cell::get)
}

#[test]
fn an_arena_tick_allocates_almost_nothing_after_warm_up() {
    use tickroom_games::arena::ArenaInput;
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut room = tickroom_benches::arena_room(8);
    let players: Vec<Arc<str>> = (0..8).map(|i| format!("p{i}").into()).collect();
    let mut seq = 1;
    let step = |room: &mut tickroom_engine::Room<_>, seq: &mut u32| {
        *seq += 1;
        for (i, p) in players.iter().enumerate() {
            let angle = (*seq as f32) * 0.1 + i as f32;
            room.push_input(
                p,
                *seq,
                ArenaInput {
                    dir: [angle.cos(), angle.sin()],
                    buttons: 0,
                },
            );
        }
        room.tick().len()
    };
    // Warm-up: two keyframe intervals, so every buffer has reached its working size.
    for _ in 0..60 {
        step(&mut room, &mut seq);
    }
    let before = thread_allocs();
    let ticks = 300;
    let mut keyframes = 0;
    for _ in 0..ticks {
        step(&mut room, &mut seq);
        keyframes += usize::from(room.last_was_keyframe());
    }
    let allocations = thread_allocs() - before;
    assert!(
        keyframes >= 9,
        "the run crossed keyframes too ({keyframes})"
    );
    // Not quite zero: reused buffers still grow when encoded numbers widen (input `seq`s
    // passing 127 and 255 take more msgpack bytes), a handful of times in a run.
    assert!(
        allocations <= ticks / 20,
        "{allocations} allocations in {ticks} ticks (inputs, systems, snapshot encode) after warm-up"
    );
}

#[test]
fn ten_thousand_rooms_leave_nothing_behind() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let rt = runtime();
    rt.block_on(async {
        use tickroom_server::directory::MatchSpec;
        use tickroom_server::{Config, Server};
        use tickroom_shared::{EndReason, Role};

        let mut config = Config {
            results_db: None,
            ..Config::default()
        };
        config.matches.max_rooms = 20_000;
        config.matches.ended_retention = Duration::ZERO;
        config.matches.sim_threads = Some(0);
        // A built server that is not serving: its rooms publish to Socket.IO rooms nobody is
        // in, as a node's rooms do before their players connect.
        let server = Server::builder(config).build().expect("build");
        let directory = server.directory().clone();
        let metrics = server.metrics().clone();
        let cycle = |n: usize| {
            let directory = &directory;
            let metrics = &metrics;
            async move {
                let mut ids = Vec::with_capacity(n);
                for i in 0..n {
                    let m = directory
                        .create(MatchSpec {
                            game: "arena".into(),
                            tick_rate: Some(1),
                            max_players: Some(2),
                            ..MatchSpec::default()
                        })
                        .expect("create");
                    for p in ["a", "b"] {
                        m.claim(&Arc::from(p), Role::Player, &format!("conn-{i}-{p}"), false)
                            .expect("seat");
                    }
                    ids.push(m.info().id.clone());
                }
                assert_eq!(directory.len(), n);
                // Every room saw its players and started.
                wait_until(|| metrics.ticks.get() >= n as u64).await;
                for id in &ids {
                    directory.end(id, EndReason::Admin).expect("end");
                }
                wait_until(|| {
                    directory.is_empty() && directory.live() == 0 && metrics.rooms_open.get() == 0
                })
                .await;
            }
        };
        // Warm up allocator pools, the runtime and the directory's shards.
        cycle(500).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        let baseline = LIVE_BYTES.load(Ordering::Relaxed);
        cycle(10_000).await;
        // Let the last tasks finish freeing what they hold.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let after = LIVE_BYTES.load(Ordering::Relaxed);
        let grown = after - baseline;
        // A leaked room (World, schedule, channels, tasks) is tens of KB: 10,000 of them
        // would be hundreds of MB. Allow 1 MiB of slack for pools that stay grown.
        assert!(
            grown < 1 << 20,
            "memory grew by {grown} bytes over 10,000 rooms"
        );
        assert_eq!(metrics.rooms_open.get(), 0);
        assert!(directory.is_empty());
    });
}

async fn wait_until(mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "condition not reached in 60 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[test]
fn a_client_that_stops_reading_holds_bounded_memory() {
    use tickroom_shared::Role;
    use tickroom_tests::{TestServer, connect_and_stop_reading, test_config};
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let rt = runtime();
    rt.block_on(async {
        let mut config = test_config();
        config.net.write_timeout = Duration::from_secs(3);
        config.matches.seat_grace = Duration::ZERO;
        let server = TestServer::start_with(config).await;
        let m = server.arena(8).await;
        // Six reading players make snapshots bigger and keep the room busy.
        let mut readers = Vec::new();
        for i in 0..6 {
            let mut c = server.join(&m, &format!("p{i}"), Role::Player).await;
            readers.push(tokio::spawn(
                async move { while c.recv().await.is_some() {} },
            ));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let baseline = LIVE_BYTES.load(Ordering::Relaxed);

        let token = server.token(&m, "staller", Role::Player).await;
        let stalled = connect_and_stop_reading(&server, &token).await;
        // Sample memory until the server drops the staller (seat given up, no grace).
        let mut peak = baseline;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            peak = peak.max(LIVE_BYTES.load(Ordering::Relaxed));
            let view = server.admin.get_match(&m).await.unwrap();
            if !view.players.iter().any(|p| p == "staller") {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the staller was never dropped"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // While it stalled, what the server queued for it stayed small: at most the
        // per-socket buffer (128 packets, each a shared snapshot) on top of normal churn.
        let grown = peak - baseline;
        assert!(
            grown < 4 << 20,
            "memory grew by {grown} bytes while a client stalled"
        );
        drop(stalled);
        tokio::time::sleep(Duration::from_millis(500)).await;
        let after = LIVE_BYTES.load(Ordering::Relaxed) - baseline;
        assert!(
            after < 1 << 20,
            "{after} bytes still held after the staller was dropped"
        );
        for r in readers {
            r.abort();
        }
    });
}
