//! Real browsers (Debian's chromium, driven by playwright-core) against a real server: a page
//! on another origin joins with socket.io-client's default options, with polling only and with
//! WebSocket only; an origin not on the list is refused with a code the page can read; the
//! demo plays in two tabs. Screenshots are kept in `target/browser-artifacts`.

use serde_json::json;
use tickroom_shared::Role;
use tickroom_tests::{TestServer, browser, test_config};

async fn join_from_another_origin(transports: Option<&[&str]>) -> serde_json::Value {
    let server = TestServer::start().await;
    let m = server.arena(4).await;
    let token = server.token(&m, "web", Role::Player).await;
    let mut args = json!({ "server": server.url, "token": token });
    if let Some(t) = transports {
        args["transports"] = json!(t);
    }
    let seen = browser::run("cross-origin", args)
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!(seen["ok"], true);
    assert_eq!(seen["welcome"]["player_id"], "web");
    assert!(
        !seen["origin"]
            .as_str()
            .unwrap()
            .contains(&server.addr.port().to_string()),
        "the page is on an origin of its own"
    );
    assert!(seen["ack"].as_u64().unwrap() >= 10, "{seen}");
    assert!(seen["toX"].as_f64().unwrap() > seen["fromX"].as_f64().unwrap());
    assert_eq!(seen["errors"], json!([]));
    seen
}

#[tokio::test]
async fn a_page_on_another_origin_joins_with_the_default_options() {
    let seen = join_from_another_origin(None).await;
    // Long-polling first, then the upgrade.
    assert_eq!(seen["transport"], "websocket", "{seen}");
}

#[tokio::test]
async fn a_page_on_another_origin_joins_over_long_polling_only() {
    let seen = join_from_another_origin(Some(&["polling"])).await;
    assert_eq!(seen["transport"], "polling");
}

#[tokio::test]
async fn a_page_on_another_origin_joins_over_websocket_only() {
    let seen = join_from_another_origin(Some(&["websocket"])).await;
    assert_eq!(seen["transport"], "websocket");
}

#[tokio::test]
async fn an_origin_not_on_the_list_is_refused_with_a_readable_code() {
    let mut config = test_config();
    config.net.allowed_origins = vec!["https://game.example".into()];
    let server = TestServer::start_with(config).await;
    let m = server.arena(4).await;
    let token = server.token(&m, "web", Role::Player).await;
    let seen = browser::run("refused", json!({ "server": server.url, "token": token }))
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!(seen["errors"][0], "origin_not_allowed", "{seen}");
    assert_eq!(seen["welcome"], serde_json::Value::Null);
}

#[tokio::test]
async fn the_demo_plays_in_two_tabs() {
    let server = TestServer::start().await;
    let seen = browser::run("demo", json!({ "server": server.url }))
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    assert!(
        seen["statusA"]
            .as_str()
            .unwrap()
            .starts_with("connected as anon-"),
        "anonymous through matchmaking: {seen}"
    );
    let m = seen["matchA"].as_str().unwrap();
    assert_eq!(seen["matchB"], m, "join-or-create put B in A's match");
    let code = seen["invite"]
        .as_str()
        .unwrap()
        .strip_prefix("#code=")
        .unwrap();
    let view = server.admin.get_match(m).await.unwrap();
    assert_eq!(
        view.matchmaking.unwrap().code.as_deref(),
        Some(code),
        "A's invite is its match's code"
    );
    assert!(seen["statusB"].as_str().unwrap().contains(m));
    assert_eq!(seen["playersB"], "2");
    assert!(seen["x1"].as_f64().unwrap() > seen["x0"].as_f64().unwrap() + 5.0);
    assert_eq!(seen["canvasChanged"], true);
    assert!(seen["meA"].as_str().unwrap().starts_with("x="));
    assert!(
        seen["latencyA"].as_str().unwrap().ends_with(" ms"),
        "{seen}"
    );
    assert!(seen["rttA"].as_str().unwrap().ends_with(" ms"), "{seen}");
    let view = server.admin.get_match(m).await.unwrap();
    assert_eq!(view.players.len(), 2);
}

/// `/demo/` on the large map (`arena_large`, interest management): the watcher's page is sent
/// only the discs near its own — the walker, far off at first, is not in its state; walking
/// up, it arrives; walking away, it is removed. (The ids spawn over 60 apart, as in
/// `e2e::interest`, on the map of a 400-seat match.)
#[tokio::test]
async fn the_demo_on_the_large_map_shows_only_what_is_near() {
    let server = TestServer::start().await;
    let m = server.arena_large(400).await;
    let walker = server.token(&m, "p10", Role::Player).await;
    let watcher = server.token(&m, "p20", Role::Player).await;
    let seen = browser::run(
        "demo-large",
        json!({ "server": server.url, "walker": walker, "watcher": watcher }),
    )
    .await
    .unwrap_or_else(|e| panic!("{e:#}"));
    assert!(
        seen["statusB"].as_str().unwrap().contains("large map"),
        "{seen}"
    );
    assert!(seen["startApart"].as_f64().unwrap() > 60.0, "{seen}");
    assert_eq!(seen["rowsBefore"], 1, "the far walker is not sent: {seen}");
    assert_eq!(seen["playersBefore"], "1", "{seen}");
    // In view within 40 (the server's radius), and a little more for the snapshot in flight.
    assert!(seen["enteredAt"].as_f64().unwrap() <= 42.0, "{seen}");
    assert_eq!(seen["rowsNear"], 2, "{seen}");
    assert_eq!(seen["playersNear"], "2", "{seen}");
    // Removed only beyond the keep distance, 50.
    assert!(seen["leftAt"].as_f64().unwrap() > 48.0, "{seen}");
    assert_eq!(seen["rowsAfter"], 1, "{seen}");
    assert_eq!(seen["canvasChanged"], true, "{seen}");
}

#[tokio::test]
async fn the_dashboard_shows_a_live_match() {
    let server = TestServer::start().await;
    let m = server.arena(4).await;
    let mut player = server.join(&m, "dash-player", Role::Player).await;
    // Keep the player reading while the page watches.
    let reader = tokio::spawn(async move { while player.recv().await.is_some() {} });
    let seen = browser::run(
        "dashboard",
        json!({ "server": server.url, "adminKey": "dev-admin-key", "matchId": m }),
    )
    .await
    .unwrap_or_else(|e| panic!("{e:#}"));
    assert!(
        seen["status"].as_str().unwrap().starts_with("live"),
        "{seen}"
    );
    let matches = seen["matches"].as_str().unwrap();
    assert!(
        matches.contains(&m) && matches.contains("arenarunning"),
        "{matches}"
    );
    assert!(
        seen["totals"]
            .as_str()
            .unwrap()
            .contains("1 (ws 1, polling 0)"),
        "{seen}"
    );
    reader.abort();
}

/// A match played over real sockets, ended, then played back from its recording in
/// chromium (`/dashboard/replay.html`, 4×): every snapshot is applied and the page ends on
/// exactly the state the players last saw live.
#[tokio::test]
async fn a_recorded_match_plays_back_in_the_browser() {
    use tickroom_games::arena::ArenaState;
    use tickroom_shared::event;
    let server = TestServer::start().await;
    let m = server.arena(4).await;
    let mut ann = server.join(&m, "ann", Role::Player).await;
    let mut bob = server.join(&m, "bob", Role::Player).await;
    let mut last = None;
    for seq in 1..=40 {
        ann.emit(event::INPUT, &tickroom_tests::walk(seq, [1.0, 0.3]))
            .await
            .unwrap();
        bob.emit(event::INPUT, &tickroom_tests::walk(seq, [-0.5, -1.0]))
            .await
            .unwrap();
        last = Some(
            tickroom_tests::next_snapshot::<ArenaState>(&mut ann)
                .await
                .unwrap(),
        );
    }
    let reader = tokio::spawn(async move { while bob.recv().await.is_some() {} });
    let http = reqwest::Client::new();
    let ended = http
        .delete(format!("{}/admin/matches/{m}", server.url))
        .bearer_auth("dev-admin-key")
        .send()
        .await
        .unwrap();
    assert!(ended.status().is_success());
    // The state ann saw last, live.
    loop {
        let e = ann.next_event(tickroom_tests::WAIT).await.unwrap();
        if e.name == event::SNAPSHOT {
            last = ann.snapshot::<ArenaState>(&e).unwrap().or(last);
        } else if e.name == event::MATCH_END {
            break;
        }
    }
    let last = last.expect("snapshots");
    // The recording is saved with the result, moments after the end.
    let deadline = tokio::time::Instant::now() + tickroom_tests::WAIT;
    while http
        .get(format!("{}/admin/results/{m}/recording", server.url))
        .bearer_auth("dev-admin-key")
        .send()
        .await
        .unwrap()
        .status()
        != 200
    {
        assert!(tokio::time::Instant::now() < deadline, "no recording");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let seen = browser::run(
        "replay",
        json!({ "server": server.url, "adminKey": "dev-admin-key", "matchId": m }),
    )
    .await
    .unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!(seen["errors"], json!([]), "{seen}");
    assert_eq!(seen["speed"], "4×");
    assert_eq!(seen["played"], seen["total"], "{seen}");
    assert!(seen["total"].as_u64().unwrap() >= 40, "{seen}");
    assert_eq!(seen["tick"].as_u64().unwrap(), last.tick, "{seen}");
    let rows = seen["final"].as_array().unwrap();
    assert_eq!(rows.len(), last.state.players.len(), "{seen}");
    for p in &last.state.players {
        let row = rows
            .iter()
            .find(|r| r["id"].as_str() == Some(&*p.id))
            .unwrap_or_else(|| panic!("{} is not in the playback: {seen}", p.id));
        let (x, y) = (row["x"].as_f64().unwrap(), row["y"].as_f64().unwrap());
        assert!(
            (x - f64::from(p.x)).abs() < 1e-4 && (y - f64::from(p.y)).abs() < 1e-4,
            "{}: played back at ({x}, {y}), live at ({}, {})",
            p.id,
            p.x,
            p.y
        );
    }
    reader.abort();
}
