//! `POST /dev/join`, how the demo and quick starts get a token without the admin key: it
//! creates or joins a match and mints a player token — and exists only with the
//! development keys.

use tickroom_shared::{Role, event};
use tickroom_tests::{TestServer, next_named};

async fn dev_join(server: &TestServer, body: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{}/dev/join", server.url))
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .expect("request")
}

#[tokio::test]
async fn the_dev_endpoint_exists_only_with_the_development_keys() {
    let server = TestServer::start().await;
    let first: serde_json::Value = dev_join(&server, "").await.json().await.unwrap();
    let second: serde_json::Value = dev_join(&server, "{}").await.json().await.unwrap();
    assert_eq!(first["match_id"], "demo");
    assert_eq!(second["match_id"], "demo", "the same match");
    assert_ne!(first["player_id"], second["player_id"], "new guests");
    assert_eq!(first["role"], "player");
    let mut c = server
        .connect(first["token"].as_str().unwrap())
        .await
        .unwrap();
    let welcome = next_named(&mut c, event::WELCOME)
        .await
        .unwrap()
        .welcome()
        .unwrap();
    assert_eq!(
        (welcome.match_id.as_str(), welcome.role),
        ("demo", Role::Player)
    );
    let view = server.admin.get_match("demo").await.unwrap();
    assert_eq!(view.max_players, 16);

    let named: serde_json::Value = dev_join(
        &server,
        r#"{"match_id": "ttt", "game": "tictactoe", "player_id": "ann"}"#,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(
        (named["match_id"].as_str(), named["player_id"].as_str()),
        (Some("ttt"), Some("ann"))
    );
    assert_eq!(
        server.admin.get_match("ttt").await.unwrap().game,
        "tictactoe"
    );
    for (body, status, code) in [
        (r#"{"player_id": "no spaces"}"#, 422, "bad_player_id"),
        (r#"{"game": "chess", "match_id": "x"}"#, 422, "unknown_game"),
        (r#"{"nonsense": 1}"#, 400, "bad_request"),
    ] {
        let r = dev_join(&server, body).await;
        assert_eq!(r.status(), status, "{body}");
        let e: serde_json::Value = r.json().await.unwrap();
        assert_eq!(e["error"]["code"], code, "{body}");
    }

    let config = tickroom_tests::production_config();
    let production = TestServer::start_with(config).await;
    assert_eq!(dev_join(&production, "").await.status(), 404);
}

/// `GET /` says where to go next instead of an empty 404.
#[tokio::test]
async fn the_root_page_links_the_demo_and_the_dashboard() {
    let server = TestServer::start().await;
    let home = reqwest::get(format!("{}/", server.url)).await.unwrap();
    assert_eq!(home.status(), 200);
    let text = home.text().await.unwrap();
    for link in ["/demo/", "/dashboard/", "/metrics", "/readyz"] {
        assert!(text.contains(&format!("href=\"{link}\"")), "{link}");
    }
}
