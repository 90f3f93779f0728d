//! The bot swarm and the Rust client's reconnection, against a real server.

use std::sync::Arc;
use std::time::Duration;

use tickroom_bots::report::Stats;
use tickroom_bots::swarm::{self, ArenaGame, Behaviour, SwarmConfig, Tokens};
use tickroom_client::reconnect::{Backoff, ReconnectingClient, Update};
use tickroom_games::arena::ArenaState;
use tickroom_shared::{AuthPayload, Role, event};
use tickroom_tests::{CutProxy, TestServer, WAIT};

/// A swarm of `rooms` × `players` on `server` through its admin API: no spectators, idle
/// players, joining over 300 ms and staying 500 ms; tests override what they need.
fn swarm_on(server: &TestServer, rooms: usize, players: usize) -> SwarmConfig {
    SwarmConfig {
        server: server.url.clone(),
        rooms,
        players,
        spectators: 0,
        game: ArenaGame::Arena,
        tokens: Tokens::Create {
            admin_key: server.admin_key.clone(),
            tick_rate: None,
        },
        input_rate: None,
        behaviour: Behaviour::Idle,
        ramp_up: Duration::from_millis(300),
        duration: Duration::from_millis(500),
        seed: 1,
        reconnect_every: None,
    }
}

/// Mints the swarm's tokens and runs it to the end.
async fn run_swarm(cfg: &SwarmConfig) -> tickroom_bots::report::Report {
    let tokens = swarm::prepare_seats(cfg).await.unwrap();
    swarm::run(cfg, tokens, Arc::new(Stats::default())).await
}

#[tokio::test]
async fn a_small_swarm_runs_clean_and_reports_every_documented_field() {
    let server = TestServer::start().await;
    let cfg = SwarmConfig {
        server: server.url.clone(),
        rooms: 2,
        players: 3,
        spectators: 1,
        game: ArenaGame::Arena,
        tokens: Tokens::Create {
            admin_key: "dev-admin-key".into(),
            tick_rate: None,
        },
        input_rate: None,
        behaviour: Behaviour::Chase,
        ramp_up: Duration::from_millis(300),
        duration: Duration::from_secs(2),
        seed: 7,
        reconnect_every: None,
    };
    let tokens = swarm::prepare_seats(&cfg).await.unwrap();
    assert_eq!(tokens.len(), 8);
    let report = swarm::run(&cfg, tokens, Arc::new(Stats::default())).await;

    assert_eq!(report.bots.joined, 8, "{}", report.table());
    assert_eq!(report.errors.total(), 0, "{}", report.table());
    // 6 players at 30 Hz for ~2 s; 8 bots receiving 30 snapshots a second.
    assert!(report.totals.inputs_sent >= 6 * 30, "{}", report.table());
    assert!(
        report.totals.snapshots_received >= 8 * 30,
        "{}",
        report.table()
    );
    let lat = report.input_to_ack_us;
    assert!(lat.count > 0 && lat.count <= report.totals.inputs_sent);
    assert!(
        lat.p50 > 0
            && lat.p50 <= lat.p90
            && lat.p90 <= lat.p99
            && lat.p99 <= lat.p999
            && lat.p999 <= lat.max
    );
    assert!(report.snapshot_jitter_us.count > 0);
    // Each bot got at least its welcome and 30 snapshots a second, dozens of bytes each.
    assert!(
        report.totals.bytes_per_bot_per_sec > 30.0 * 20.0,
        "{}",
        report.table()
    );
    // Framing adds at least 2 bytes to each of those messages.
    let t = &report.totals;
    assert!(
        t.wire_bytes_received >= t.bytes_received + 2 * t.snapshots_received,
        "{} {} {}",
        t.wire_bytes_received,
        t.bytes_received,
        t.snapshots_received
    );
    assert!(report.process.cpu_seconds >= 0.0 && report.process.max_rss_kib > 0);

    // Every field docs/BOTS.md documents is in the JSON, and nothing undocumented.
    let json = serde_json::to_value(&report).unwrap();
    let doc =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/BOTS.md")).unwrap();
    let documented: Vec<&str> = doc
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split_once('`').map(|(path, _)| path))
        .filter(|p| p.contains('.') || json.get(p).is_some())
        .collect();
    let mut leaves = Vec::new();
    collect_paths(&json, String::new(), &mut leaves);
    for path in &leaves {
        let covered = documented
            .iter()
            .any(|d| d == path || path.starts_with(&format!("{d}.")));
        assert!(
            covered,
            "JSON field {path} is not documented in docs/BOTS.md"
        );
    }
    for d in &documented {
        let found = leaves
            .iter()
            .any(|p| p == d || p.starts_with(&format!("{d}.")));
        assert!(found, "docs/BOTS.md documents {d}, which the report lacks");
    }
}

/// `--game arena_large`: a big room where each bot is sent only the discs near its own. The
/// same 40 walking bots in one `arena` room (everyone sees everyone) receive over twice the
/// bytes per snapshot; both runs are clean.
#[tokio::test]
async fn a_big_room_swarm_is_sent_what_each_bot_sees() {
    let server = TestServer::start().await;
    big_rooms_send_what_each_bot_sees(&server.url, &server.admin_key).await;
}

/// The Node.js baseline the benchmarks compare with (benches/baseline-node) speaks the same
/// protocol, its per-connection streams of arena_large included: the same swarm decodes
/// every snapshot it sends and sees what the Tickroom server shows it.
#[tokio::test]
async fn the_node_baseline_speaks_the_protocol_and_sends_what_each_bot_sees() {
    let dir = tickroom_tests::workspace_dir().join("benches/baseline-node");
    tickroom_tests::npm::ci(&dir).unwrap_or_else(|e| panic!("{e:#}"));
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let _node = tokio::process::Command::new("node")
        .arg(dir.join("server.mjs"))
        .arg(port.to_string())
        .env("TICKROOM_ADMIN_KEY", "node-admin-key")
        .kill_on_drop(true)
        .spawn()
        .expect("run node");
    let url = format!("http://127.0.0.1:{port}");
    let healthy = async {
        while reqwest::get(format!("{url}/healthz")).await.is_err() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(WAIT, healthy)
        .await
        .expect("the baseline comes up");
    big_rooms_send_what_each_bot_sees(&url, "node-admin-key").await;
}

/// 40 walking bots in one arena_large room, then in one arena room, on the server at `url`:
/// both runs clean, arena_large bots see a few discs each and receive under half the bytes.
async fn big_rooms_send_what_each_bot_sees(url: &str, admin_key: &str) {
    let (mut bytes_per_snapshot, mut seen) = (Vec::new(), Vec::new());
    for game in [ArenaGame::ArenaLarge, ArenaGame::Arena] {
        let cfg = SwarmConfig {
            server: url.to_owned(),
            rooms: 1,
            players: 40,
            spectators: 0,
            game,
            tokens: Tokens::Create {
                admin_key: admin_key.to_owned(),
                tick_rate: None,
            },
            input_rate: None,
            behaviour: Behaviour::RandomWalk,
            ramp_up: Duration::from_millis(300),
            duration: Duration::from_millis(1500),
            seed: 1,
            reconnect_every: None,
        };
        let report = run_swarm(&cfg).await;
        assert_eq!(report.config.game, game.name());
        assert_eq!(report.bots.joined, 40, "{}", report.table());
        assert_eq!(report.errors.total(), 0, "{}", report.table());
        let t = &report.totals;
        assert!(t.snapshots_received >= 40 * 30, "{}", report.table());
        bytes_per_snapshot.push(t.bytes_received as f64 / t.snapshots_received as f64);
        seen.push(t.players_seen_per_snapshot);
    }
    let ([large, everyone], [large_seen, everyone_seen]) = (&bytes_per_snapshot[..], &seen[..])
    else {
        unreachable!()
    };
    // Each arena bot sees nearly the whole room (all 40 once the 300 ms ramp is over); each
    // arena_large bot, on a map sized so that a full room has about ten others in view,
    // itself and the discs near it.
    assert!(
        *everyone_seen > 30.0,
        "arena: {everyone_seen:.1} players seen"
    );
    assert!(
        (4.0..20.0).contains(large_seen),
        "arena_large: {large_seen:.1} players seen"
    );
    // About a quarter of the discs in view: well under half the bytes. (Both figures include
    // the welcome and the 40 `presence` joins every bot receives, which weigh more on
    // arena_large's smaller snapshots in this short run.)
    assert!(
        large * 2.0 < *everyone,
        "arena_large {large:.0} B per snapshot, arena {everyone:.0} B"
    );
}

fn collect_paths(v: &serde_json::Value, prefix: String, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(map) if !prefix.starts_with("errors.") => {
            for (k, v) in map {
                let p = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                collect_paths(v, p, out);
            }
        }
        _ => out.push(prefix),
    }
}

#[tokio::test]
async fn the_rust_client_reconnects_after_a_network_drop() {
    let server = TestServer::start().await;
    let proxy = CutProxy::start(server.addr).await;
    let m = server.arena(2).await;
    let token = server.token(&m, "alice", Role::Player).await;
    let auth = AuthPayload {
        token,
        match_id: None,
        protocol: Some(tickroom_shared::PROTOCOL_VERSION),
    };
    let backoff = Backoff {
        initial: Duration::from_millis(20),
        ..Backoff::default()
    };
    let mut c = ReconnectingClient::connect(&proxy.url, auth, backoff, 3)
        .await
        .unwrap();

    assert!(matches!(next(&mut c).await, Update::Event(e) if e.name == event::WELCOME));
    // Then our own presence ("joined") and the first snapshot.
    loop {
        if let Update::Event(e) = next(&mut c).await
            && e.name == event::SNAPSHOT
        {
            break;
        }
    }

    proxy.cut_all();
    let attempts = loop {
        match next(&mut c).await {
            Update::Reconnected { attempts } => break attempts,
            Update::Event(_) => continue,
            Update::Closed(r) => panic!("gave up: {r:?}"),
        }
    };
    assert!(attempts >= 1);
    assert_eq!(c.reconnects, 1);
    match next(&mut c).await {
        Update::Event(e) => assert_eq!(e.welcome().expect("welcome again").player_id, "alice"),
        other => panic!("{other:?}"),
    }
    // Back in the match, playing.
    loop {
        match next(&mut c).await {
            Update::Event(e) if e.name == event::SNAPSHOT => {
                let Some(s) = c.snapshot::<ArenaState>(&e).unwrap() else {
                    continue;
                };
                if s.state.player("alice").is_some() {
                    break;
                }
            }
            Update::Event(_) => continue,
            other => panic!("{other:?}"),
        }
    }
    // Ending the match is a deliberate disconnect: no reconnection.
    server.admin.end_match(&m).await.unwrap();
    loop {
        match next(&mut c).await {
            Update::Closed(_) => break,
            Update::Reconnected { .. } => panic!("reconnected to an ended match"),
            Update::Event(_) => continue,
        }
    }
}

async fn next(c: &mut ReconnectingClient) -> Update {
    tokio::time::timeout(WAIT, c.recv())
        .await
        .expect("an update in time")
}

/// `--reconnect-every`: bots drop their connection (no goodbye) and come back with the same
/// token to their held seat, again and again, without errors.
#[tokio::test]
async fn a_swarm_that_keeps_reconnecting_keeps_its_seats() {
    let server = TestServer::start().await;
    let cfg = SwarmConfig {
        behaviour: Behaviour::RandomWalk,
        ramp_up: Duration::from_millis(100),
        duration: Duration::from_millis(2_500),
        reconnect_every: Some(Duration::from_millis(700)),
        ..swarm_on(&server, 1, 3)
    };
    let report = run_swarm(&cfg).await;
    assert_eq!(report.bots.joined, 3);
    assert!(
        report.totals.reconnects >= 6,
        "{}",
        report.totals.reconnects
    );
    let errors = serde_json::to_value(&report.errors).unwrap();
    for cause in ["connect_failures", "refusals", "error_events", "desyncs"] {
        assert_eq!(errors[cause], serde_json::json!({}), "{cause}: {errors}");
    }
    let stats = server.admin_get("/admin/stats").await;
    assert_eq!(stats["matches"]["total"], 1);
    assert!(
        stats["matches"]["rows"][0]["players"].as_u64().unwrap() <= 3,
        "{stats}"
    );
}

/// With the development keys (loopback only) the per-address limits are off: a local swarm
/// far over the default handshake and session budgets joins without a refusal.
#[tokio::test]
async fn a_local_swarm_is_not_refused_by_a_development_server() {
    let server = TestServer::start().await;
    let report = run_swarm(&swarm_on(&server, 10, 10)).await;
    assert_eq!(report.bots.joined, 100, "{:?}", report.errors);
    assert_eq!(server.metric("tickroom_handshakes_refused_total").await, 0);
    assert_eq!(server.metric("tickroom_sessions_refused_total").await, 0);
}

/// Against a server whose per-address limits refuse part of a swarm, the run's verdict fails
/// and names the settings to raise (the CLI exits 1 with it unless `--allow-failures`).
#[tokio::test]
async fn a_swarm_refused_by_the_limits_says_which_settings_to_raise() {
    let mut config = tickroom_tests::production_config();
    config.limits.handshake_rate = 1;
    config.limits.handshake_burst = 2;
    let server = TestServer::start_with(config).await;
    let cfg = SwarmConfig {
        ramp_up: Duration::from_millis(100),
        duration: Duration::from_millis(300),
        ..swarm_on(&server, 1, 6)
    };
    let report = run_swarm(&cfg).await;
    assert!(report.bots.failed >= 3, "{:?}", report.bots);
    let why = swarm::verdict(&report, false).unwrap_err();
    assert!(why.contains("handshake_rate_limited"), "{why}");
    assert!(why.contains("--handshake-rate"), "{why}");
    assert!(swarm::verdict(&report, true).is_ok());
}

/// `swarm --matchmaking`: every bot asks for its seat as it starts; they fill matches of the
/// room size exactly, and the report says how fast they were seated. With a player secret
/// the bots sign their own player tokens, as a game's auth service would.
#[tokio::test]
async fn a_swarm_fills_matches_through_matchmaking() {
    for secret in [None, Some("the-game-auth-service-secret-32-bytes+")] {
        let mut config = tickroom_tests::test_config();
        if let Some(s) = secret {
            config = tickroom_tests::production_config();
            config.matchmaking.player_key =
                Some(tickroom_server::config::PlayerKeySource::Secret(s.into()));
        }
        let server = TestServer::start_with(config).await;
        let cfg = SwarmConfig {
            tokens: Tokens::Matchmaking {
                player_secret: secret.map(str::to_owned),
            },
            ..swarm_on(&server, 3, 4)
        };
        let report = run_swarm(&cfg).await;
        assert_eq!(report.bots.joined, 12, "{}", report.table());
        assert_eq!(report.errors.total(), 0, "{}", report.table());
        let mm = report.matchmaking.as_ref().expect("a matchmaking report");
        assert_eq!(mm.seated, 12);
        assert!(mm.seated_per_sec > 0.0 && mm.request_to_welcome_us.p50 > 0);
        assert!(report.table().contains("request→seated"));
        let matches: serde_json::Value = server.admin_get("/admin/matches").await;
        let sizes: Vec<u64> = matches["matches"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["max_players"].as_u64().unwrap())
            .collect();
        assert_eq!(sizes, [4, 4, 4], "three matches of the room size");
    }
}
