//! Handshake refusals: each bad token or payload gets its documented CONNECT_ERROR code, and
//! a refused client never reaches a room.

use tickroom_client::{Client, ConnectError};
use tickroom_games::arena::ArenaState;
use tickroom_shared::token::unix_now;
use tickroom_shared::{AuthPayload, Role, TokenKey};
use tickroom_tests::{
    TestServer, WAIT, claims, next_snapshot, sign, snapshot_where, test_config, wait_closed,
};

fn code(r: Result<Client, ConnectError>) -> String {
    match r {
        Err(ConnectError::Refused { code }) => code,
        Err(e) => panic!("expected a refusal, got {e}"),
        Ok(_) => panic!("expected a refusal, got a connection"),
    }
}

async fn connect_auth(
    server: &TestServer,
    auth: &impl serde::Serialize,
) -> Result<Client, ConnectError> {
    // The auth payload is sent as given, to try shapes AuthPayload cannot express.
    let raw = rmp_serde::to_vec_named(auth).unwrap();
    tickroom_client::Client::connect_raw_auth(&server.url, &raw, WAIT).await
}

#[tokio::test]
async fn bad_tokens_are_refused_with_their_codes() {
    let server = TestServer::start().await;
    let m = server.arena(2).await;
    let other = server.arena(2).await;

    // forged: right claims, wrong secret
    let forged = TokenKey::new(
        b"not-the-server-secret-not-the-server",
        test_config().auth.token_issuer,
    )
    .sign(&claims(&m, "alice", Role::Player))
    .unwrap();
    assert_eq!(code(server.connect(&forged).await), "token_invalid");

    // tampered: a valid token with its payload swapped for another player's
    let good = sign(&claims(&m, "alice", Role::Player));
    let mallory = sign(&claims(&m, "mallory", Role::Player));
    let parts: Vec<&str> = good.split('.').collect();
    let other_parts: Vec<&str> = mallory.split('.').collect();
    let tampered = format!("{}.{}.{}", parts[0], other_parts[1], parts[2]);
    assert_eq!(code(server.connect(&tampered).await), "token_invalid");

    // garbage
    assert_eq!(code(server.connect("not-a-jwt").await), "token_invalid");

    // expired (beyond the leeway)
    let mut old = claims(&m, "alice", Role::Player);
    old.iat = unix_now() - 7200;
    old.exp = unix_now() - 3600;
    assert_eq!(code(server.connect(&sign(&old)).await), "token_expired");

    // wrong issuer
    let mut foreign = claims(&m, "alice", Role::Player);
    foreign.iss = "someone-else".into();
    assert_eq!(code(server.connect(&sign(&foreign)).await), "token_invalid");

    // a valid token for match `m`, used by a client that asks for match `other`
    let auth = AuthPayload {
        token: good.clone(),
        match_id: Some(other.clone()),
        protocol: Some(tickroom_shared::PROTOCOL_VERSION),
    };
    let r = Client::connect(&server.url, &auth, WAIT).await;
    assert_eq!(code(r), "token_wrong_match");

    // a token naming a match that does not exist
    let nowhere = sign(&claims("no-such-match", "alice", Role::Player));
    assert_eq!(code(server.connect(&nowhere).await), "match_not_found");

    // another protocol version, including versions 1 and 2, no longer served
    for version in [1, 2, 99] {
        let auth = AuthPayload {
            token: good.clone(),
            match_id: None,
            protocol: Some(version),
        };
        assert_eq!(
            code(Client::connect(&server.url, &auth, WAIT).await),
            "protocol_unsupported"
        );
    }

    // None of these took a seat.
    let view = server.admin.get_match(&m).await.unwrap();
    assert!(view.players.is_empty(), "{:?}", view.players);
    // And the good token still works.
    let mut c = server.connect(&good).await.unwrap();
    c.next_event(WAIT).await.unwrap().welcome().unwrap();
}

#[tokio::test]
async fn malformed_auth_payloads_are_refused() {
    let server = TestServer::start().await;
    let m = server.arena(2).await;
    let good = sign(&claims(&m, "alice", Role::Player));

    // no auth at all
    let r = Client::connect_raw_auth(&server.url, &[], WAIT).await;
    assert_eq!(code(r), "auth_missing");
    // a map without a token
    assert_eq!(
        code(connect_auth(&server, &serde_json::json!({"match_id": m})).await),
        "auth_missing"
    );
    // the positional array form is not accepted
    assert_eq!(
        code(connect_auth(&server, &(good.as_str(),)).await),
        "auth_malformed"
    );
    // a token of the wrong type
    assert_eq!(
        code(connect_auth(&server, &serde_json::json!({"token": 42})).await),
        "auth_malformed"
    );
    // a plain string
    assert_eq!(code(connect_auth(&server, &good).await), "auth_malformed");
    // unknown extra keys are ignored (forward compatibility)
    let ok = connect_auth(
        &server,
        &serde_json::json!({"token": good, "client": "test/1.0"}),
    )
    .await;
    assert!(ok.is_ok(), "{:?}", ok.err());
}

#[tokio::test]
async fn full_matches_refuse_and_spectator_seats_are_separate() {
    let mut config = test_config();
    config.matches.max_spectators = 1;
    let server = TestServer::start_with(config).await;
    let m = server.arena(1).await;
    let _alice = server.join(&m, "alice", Role::Player).await;
    let bob = server.token(&m, "bob", Role::Player).await;
    assert_eq!(code(server.connect(&bob).await), "match_full");
    let _eve = server.join(&m, "eve", Role::Spectator).await;
    let zed = server.token(&m, "zed", Role::Spectator).await;
    assert_eq!(code(server.connect(&zed).await), "match_full");
}

#[tokio::test]
async fn a_second_connection_for_a_player_replaces_the_first_and_keeps_the_entity() {
    let server = TestServer::start().await;
    let m = server.arena(2).await;
    let token = server.token(&m, "alice", Role::Player).await;
    let mut first = server.connect(&token).await.unwrap();
    first.next_event(WAIT).await.unwrap().welcome().unwrap();
    let before = snapshot_where::<ArenaState>(&mut first, |s| s.state.player("alice").is_some())
        .await
        .unwrap();
    let pos = before.state.player("alice").unwrap().clone();

    let mut second = server.connect(&token).await.unwrap();
    second.next_event(WAIT).await.unwrap().welcome().unwrap();
    let err = tickroom_tests::next_named(&mut first, tickroom_shared::event::ERROR)
        .await
        .unwrap()
        .error()
        .unwrap();
    assert_eq!(err.code, "session_replaced");

    // Same entity: same place (no input was sent, so it has not moved), one disc only.
    let s = next_snapshot::<ArenaState>(&mut second).await.unwrap();
    assert_eq!(s.state.players.len(), 1);
    let now = s.state.player("alice").unwrap();
    assert_eq!((now.x, now.y), (pos.x, pos.y));
    // The replaced connection is closed; the seat survives its disconnect.
    wait_closed(&mut first).await;
    let view = server.admin.get_match(&m).await.unwrap();
    assert_eq!(view.players, ["alice"]);
    let s = next_snapshot::<ArenaState>(&mut second).await.unwrap();
    assert!(s.state.player("alice").is_some());
}

/// A token names one instance of a match: once the match is ended and created again under the
/// same id, the old tokens are refused (`token_stale`); tokens minted for the new one work, and
/// tokens a backend signed without an instance work for whichever match has the id.
#[tokio::test]
async fn a_token_does_not_outlive_its_match() {
    let server = TestServer::start().await;
    let create = async || -> serde_json::Value {
        reqwest::Client::new()
            .post(format!("{}/admin/matches", server.url))
            .bearer_auth("dev-admin-key")
            .json(&serde_json::json!({"game": "arena", "match_id": "cup"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    };
    let first = create().await;
    let old = server.token("cup", "alice", Role::Player).await;
    server.admin.end_match("cup").await.unwrap();
    let second = create().await;
    assert_eq!(second["id"], "cup");
    assert_ne!(first["instance"], second["instance"]);
    assert!(second["instance"].as_str().is_some_and(|i| i.len() == 32));
    match server.connect(&old).await {
        Err(ConnectError::Refused { code }) => assert_eq!(code, "token_stale"),
        other => panic!("the old match's token joined the new one: {other:?}"),
    }
    let new = server.token("cup", "alice", Role::Player).await;
    server.connect(&new).await.expect("the new match's token");
    let unbound = tickroom_tests::sign(&tickroom_tests::claims("cup", "bob", Role::Player));
    server
        .connect(&unbound)
        .await
        .expect("a token without an instance joins the match of that id");
}
