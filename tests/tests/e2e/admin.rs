//! The admin API: guarded by the key, validates requests, manages matches.

use serde_json::json;
use tickroom_tests::TestServer;

#[tokio::test]
async fn admin_api_requires_the_key() {
    let server = TestServer::start().await;
    let http = reqwest::Client::new();
    for key in [None, Some("wrong"), Some("dev-admin-key-but-longer")] {
        let mut req = http.get(format!("{}/admin/matches", server.url));
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), 401);
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(body["error"]["code"], "unauthorized");
    }
    let health = http
        .get(format!("{}/healthz", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
}

/// A match may have up to `MAX_PLAYERS_PER_MATCH` seats (rooms of hundreds on a game with
/// interest management), and not one more.
#[tokio::test]
async fn the_largest_match_has_max_players_per_match_seats() {
    use tickroom_shared::limits::MAX_PLAYERS_PER_MATCH;
    let server = TestServer::start().await;
    let http = reqwest::Client::new();
    for (seats, status) in [
        (MAX_PLAYERS_PER_MATCH, 201),
        (MAX_PLAYERS_PER_MATCH + 1, 422),
    ] {
        let resp = http
            .post(format!("{}/admin/matches", server.url))
            .bearer_auth("dev-admin-key")
            .json(&json!({"game": "arena_large", "max_players": seats}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), status, "{seats} seats");
        let body: serde_json::Value = resp.json().await.unwrap();
        if status == 201 {
            assert_eq!(body["max_players"], seats);
        } else {
            assert_eq!(body["error"]["code"], "bad_max_players");
        }
    }
}

#[tokio::test]
async fn create_list_get_end() {
    let server = TestServer::start().await;
    let http = reqwest::Client::new();
    let post = |body: serde_json::Value| {
        http.post(format!("{}/admin/matches", server.url))
            .bearer_auth("dev-admin-key")
            .json(&body)
            .send()
    };
    let resp =
        post(json!({"game": "arena", "match_id": "cup-final", "tick_rate": 20, "max_players": 3}))
            .await
            .unwrap();
    assert_eq!(resp.status(), 201);
    let m: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(m["id"], "cup-final");
    assert_eq!(m["tick_rate"], 20);
    assert_eq!(m["max_players"], 3);
    assert_eq!(m["state"], "waiting", "no player yet, so not ticking");
    assert_eq!(m["tick"], 0);

    for (body, status, code) in [
        (
            json!({"game": "arena", "match_id": "cup-final"}),
            409,
            "match_exists",
        ),
        (json!({"game": "chess"}), 422, "unknown_game"),
        (
            json!({"game": "arena", "tick_rate": 0}),
            422,
            "bad_tick_rate",
        ),
        (
            json!({"game": "arena", "tick_rate": 1000}),
            422,
            "bad_tick_rate",
        ),
        (
            json!({"game": "arena", "max_players": 0}),
            422,
            "bad_max_players",
        ),
        (
            json!({"game": "arena", "tick_rate": 30, "snapshot_rate": 20}),
            422,
            "bad_snapshot_rate",
        ),
        (
            json!({"game": "arena", "snapshot_rate": 0}),
            422,
            "bad_snapshot_rate",
        ),
        (
            json!({"game": "arena", "match_id": "has space"}),
            422,
            "bad_match_id",
        ),
        (json!({"game": "arena", "bogus": 1}), 400, "bad_request"),
        (json!("arena"), 400, "bad_request"),
    ] {
        let resp = post(body.clone()).await.unwrap();
        assert_eq!(resp.status(), status, "{body}");
        let err: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(err["error"]["code"], code, "{body}");
    }

    let list = server.admin_get("/admin/matches").await;
    assert_eq!(list["matches"].as_array().unwrap().len(), 1);

    let bad_token = http
        .post(format!("{}/admin/matches/cup-final/tokens", server.url))
        .bearer_auth("dev-admin-key")
        .json(&json!({"player_id": "", "role": "player"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad_token.status(), 422);
    let spectator = http
        .post(format!("{}/admin/matches/cup-final/tokens", server.url))
        .bearer_auth("dev-admin-key")
        .json(&json!({"player_id": "eve", "role": "spectator", "ttl_secs": 60}))
        .send()
        .await
        .unwrap();
    assert_eq!(spectator.status(), 200);
    let minted: serde_json::Value = spectator.json().await.unwrap();
    assert_eq!(minted["role"], "spectator");
    assert!(minted["token"].as_str().unwrap().split('.').count() == 3);

    let ended = server.admin.end_match("cup-final").await.unwrap();
    assert_eq!(ended.state, "ended");
    assert!(server.admin.get_match("cup-final").await.is_err());
    assert!(server.admin.end_match("cup-final").await.is_err());
}

#[tokio::test]
async fn room_limit_is_enforced() {
    let mut config = tickroom_tests::test_config();
    config.matches.max_rooms = 2;
    let server = TestServer::start_with(config).await;
    server.arena(2).await;
    let second = server.arena(2).await;
    let err = server
        .admin
        .create_match("arena", None, None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("room_limit"), "{err}");
    server.admin.end_match(&second).await.unwrap();
    server.arena(2).await;
}

/// A match created with a snapshot rate below its tick rate says so in its view and in the
/// welcome, and sends that many snapshots.
#[tokio::test]
async fn a_match_can_send_fewer_snapshots_than_it_ticks() {
    use tickroom_shared::{Role, event};
    use tickroom_tests::next_named;
    let server = TestServer::start().await;
    let view = reqwest::Client::new()
        .post(format!("{}/admin/matches", server.url))
        .bearer_auth("dev-admin-key")
        .json(&json!({"game": "arena", "match_id": "slow", "tick_rate": 60, "snapshot_rate": 20}))
        .send()
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap();
    assert_eq!(
        (view["tick_rate"].as_u64(), view["snapshot_rate"].as_u64()),
        (Some(60), Some(20))
    );
    let token = server.token("slow", "p", Role::Player).await;
    let mut c = server.connect(&token).await.unwrap();
    let welcome = next_named(&mut c, event::WELCOME)
        .await
        .unwrap()
        .welcome()
        .unwrap();
    assert_eq!((welcome.tick_rate, welcome.snapshot_rate), (60, 20));
    let mut ticks = Vec::new();
    while ticks.len() < 5 {
        let e = next_named(&mut c, event::SNAPSHOT).await.unwrap();
        ticks.push(
            c.snapshot::<tickroom_games::arena::ArenaState>(&e)
                .unwrap()
                .unwrap()
                .tick,
        );
    }
    // Ticks 1 and 2 may both be keyframes (the seat, then the connection's request); then
    // every third tick.
    assert!(
        ticks.windows(2).skip(2).all(|w| w[1] - w[0] == 3),
        "a snapshot every third tick: {ticks:?}"
    );
}
