//! The matchmaking API: players find a seat without a backend, reservations hold seats and
//! lapse, concurrency never overfills a match, and player tokens say who is asking.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;
use tickroom_client::admin::AdminError;
use tickroom_client::matchmaking::{Matchmaker, Options};
use tickroom_client::{Client, ConnectError};
use tickroom_server::config::PlayerKeySource;
use tickroom_shared::token::unix_now;
use tickroom_tests::{TestServer, production_config, test_config};

const WAIT: Duration = Duration::from_secs(5);

fn code_of<T: std::fmt::Debug>(r: Result<T, AdminError>) -> (u16, String) {
    match r {
        Err(AdminError::Api { status, code, .. }) => (status, code),
        other => panic!("expected an API error, got {other:?}"),
    }
}

async fn welcomed(url: &str, r: &tickroom_client::matchmaking::Reservation) -> Client {
    let mut c = Client::connect(url, &r.auth(), WAIT)
        .await
        .expect("connect");
    let first = c.next_event(WAIT).await.expect("first event");
    let welcome = first.welcome().expect("welcome");
    assert_eq!(welcome.player_id, r.player_id);
    assert_eq!(welcome.match_id, r.match_id);
    c
}

#[tokio::test]
async fn two_players_calling_join_or_create_meet_in_one_match() {
    let server = TestServer::start().await;
    let a = Matchmaker::new(&server.url, None);
    let b = Matchmaker::new(&server.url, None);
    let options = Options {
        labels: BTreeMap::from([("mode".into(), "ffa".into())]),
        max_players: None,
    };
    let ra = a.join_or_create("arena", &options).await.unwrap();
    let rb = b.join_or_create("arena", &options).await.unwrap();
    assert_eq!(ra.match_id, rb.match_id);
    assert_ne!(
        ra.player_id, rb.player_id,
        "anonymous players are told their ids"
    );
    assert_eq!(ra.url, server.url);
    assert!(ra.expires_in > 0 && ra.expires_in <= 45);
    assert!(!ra.private && ra.code.as_ref().is_some_and(|c| c.len() == 6));

    let view = server.admin.get_match(&ra.match_id).await.unwrap();
    assert_eq!(
        view.reserved.len(),
        2,
        "both seats are held before anyone connects"
    );
    assert_eq!(
        view.max_players, 8,
        "the server's default size for the arena"
    );
    // The lobby lists it, with its seats taken and its labels.
    let listed = a.list(Some("arena"), &options.labels, true).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!((listed[0].players, listed[0].max_players), (2, 8));
    let other_mode = BTreeMap::from([("mode".into(), "duel".into())]);
    assert!(
        a.list(Some("arena"), &other_mode, false)
            .await
            .unwrap()
            .is_empty()
    );

    let _ca = welcomed(&server.url, &ra).await;
    let _cb = welcomed(&server.url, &rb).await;
    let view = server.admin.get_match(&ra.match_id).await.unwrap();
    assert!(view.reserved.is_empty());
    let mut players = vec![ra.player_id.clone(), rb.player_id.clone()];
    players.sort();
    assert_eq!(view.players, players);

    // Another game's request does not land in the arena.
    let t = a
        .join_or_create("tictactoe", &Options::default())
        .await
        .unwrap();
    assert_ne!(t.match_id, ra.match_id);
    assert_eq!(
        server
            .admin
            .get_match(&t.match_id)
            .await
            .unwrap()
            .max_players,
        2,
        "the game's own size"
    );
}

#[tokio::test]
async fn a_thousand_concurrent_requests_fill_matches_exactly() {
    let server = TestServer::start().await;
    let mm = Matchmaker::new(&server.url, None);
    let options = Options {
        max_players: Some(8),
        ..Options::default()
    };
    let answers =
        futures_util::future::join_all((0..1000).map(|_| mm.join_or_create("arena", &options)))
            .await;
    let mut per_match: HashMap<String, u32> = HashMap::new();
    for r in answers {
        *per_match.entry(r.unwrap().match_id).or_default() += 1;
    }
    assert_eq!(per_match.len(), 125, "1,000 players in matches of 8");
    assert!(per_match.values().all(|&n| n == 8), "{per_match:?}");
    for id in per_match.keys() {
        let view = server.admin.get_match(id).await.unwrap();
        assert_eq!(view.reserved.len(), 8);
    }
    assert_eq!(server.metric("tickroom_seats_reserved_total").await, 1000);
}

#[tokio::test]
async fn a_reservation_not_redeemed_in_time_is_refused_with_its_own_code() {
    let mut config = test_config();
    config.matchmaking.reservation_ttl = Duration::from_secs(1);
    let server = TestServer::start_with(config).await;
    let mm = Matchmaker::new(&server.url, None);
    let late = mm
        .join_or_create("arena", &Options::default())
        .await
        .unwrap();
    let on_time = mm
        .join_or_create("arena", &Options::default())
        .await
        .unwrap();
    let _c = welcomed(&server.url, &on_time).await;
    // Real time: the reservation lapses after its second.
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let view = server.admin.get_match(&late.match_id).await.unwrap();
    assert!(view.reserved.is_empty(), "the seat was freed");
    assert_eq!(view.players, std::slice::from_ref(&on_time.player_id));
    match Client::connect(&server.url, &late.auth(), WAIT).await {
        Err(ConnectError::Refused { code }) => assert_eq!(code, "reservation_expired"),
        other => panic!("expected reservation_expired, got {:?}", other.map(|_| ())),
    }
    // Asking again gives a fresh seat.
    let again = mm
        .join_or_create("arena", &Options::default())
        .await
        .unwrap();
    let _c2 = welcomed(&server.url, &again).await;
}

#[tokio::test]
async fn private_matches_are_joined_by_code_and_never_offered() {
    let server = TestServer::start().await;
    let host = Matchmaker::new(&server.url, None);
    let r = host
        .create("arena", &Options::default(), true)
        .await
        .unwrap();
    assert!(r.private);
    let code = r.code.clone().unwrap();
    assert!(
        host.list(None, &BTreeMap::new(), false)
            .await
            .unwrap()
            .is_empty()
    );
    let stranger = host
        .join_or_create("arena", &Options::default())
        .await
        .unwrap();
    assert_ne!(stranger.match_id, r.match_id);
    let friend = Matchmaker::new(&server.url, None)
        .join_by_code(&code.to_lowercase())
        .await
        .unwrap();
    assert_eq!(friend.match_id, r.match_id);
    let by_id = host.join_by_id(&r.match_id).await.unwrap();
    assert_eq!(by_id.match_id, r.match_id);
    assert_eq!(
        code_of(host.join_by_code("AAAAAA").await),
        (404, "match_not_found".into())
    );
    // Admin-made matches are the game's business: not found by matchmaking.
    let admin_made = server.arena(4).await;
    assert_eq!(
        code_of(host.join_by_id(&admin_made).await),
        (404, "match_not_found".into())
    );
    // A full match says so.
    let duo = host
        .create("tictactoe", &Options::default(), false)
        .await
        .unwrap();
    host.join_by_id(&duo.match_id).await.unwrap();
    assert_eq!(
        code_of(host.join_by_id(&duo.match_id).await),
        (409, "match_full".into())
    );
    assert_eq!(
        code_of(host.join_or_create("chess", &Options::default()).await),
        (422, "unknown_game".into())
    );
}

const PLAYER_SECRET: &str = "the-game-auth-service-secret-32-bytes+";

fn player_token(sub: &str, extra: serde_json::Value) -> String {
    let mut claims = json!({ "sub": sub, "aud": "tickroom-player", "exp": unix_now() + 600 });
    if let (Some(c), Some(e)) = (claims.as_object_mut(), extra.as_object()) {
        c.extend(e.clone());
    }
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(PLAYER_SECRET.as_bytes()),
    )
    .unwrap()
}

#[tokio::test]
async fn player_tokens_say_who_asks_and_production_requires_them() {
    let mut config = production_config();
    config.matchmaking.player_key = Some(PlayerKeySource::Secret(PLAYER_SECRET.into()));
    config.matchmaking.player_burst = 3;
    config.matchmaking.player_rate = 1;
    let server = TestServer::start_with(config).await;

    let nobody = Matchmaker::new(&server.url, None);
    assert_eq!(
        code_of(nobody.join_or_create("arena", &Options::default()).await),
        (401, "identity_required".into())
    );
    let forger = Matchmaker::new(&server.url, Some("a.b.c".into()));
    assert_eq!(
        code_of(forger.join_or_create("arena", &Options::default()).await),
        (401, "identity_invalid".into())
    );
    let expired = Matchmaker::new(
        &server.url,
        Some(player_token("zoe", json!({ "exp": unix_now() - 600 }))),
    );
    assert_eq!(
        code_of(expired.join_or_create("arena", &Options::default()).await),
        (401, "identity_expired".into())
    );

    let alice = Matchmaker::new(
        &server.url,
        Some(player_token("alice", json!({ "region": "eu" }))),
    );
    let r = alice
        .join_or_create("arena", &Options::default())
        .await
        .unwrap();
    assert_eq!(r.player_id, "alice", "the token's sub");
    let listed = alice
        .list(Some("arena"), &BTreeMap::new(), false)
        .await
        .unwrap();
    assert_eq!(
        listed[0].labels.get("region").map(String::as_str),
        Some("eu"),
        "the token's region labels the match"
    );
    let _c = welcomed(&server.url, &r).await;
    // Asking again keeps alice's seat; then her budget (a burst of 3) runs out.
    let again = alice
        .join_or_create("arena", &Options::default())
        .await
        .unwrap();
    assert_eq!(again.match_id, r.match_id);
    assert_eq!(
        code_of(alice.join_or_create("arena", &Options::default()).await),
        (429, "rate_limited".into())
    );
    assert!(
        server
            .metric("tickroom_matchmaking_rate_limited_total")
            .await
            >= 1
    );
    // Another player has a budget of their own.
    let bob = Matchmaker::new(&server.url, Some(player_token("bob", json!({}))));
    bob.join_or_create("arena", &Options::default())
        .await
        .unwrap();
}

#[tokio::test]
async fn queued_players_are_paired_by_rating_and_play() {
    use tickroom_client::matchmaking::QueueOptions;
    let server = TestServer::start().await;
    let rated = |r: f64| QueueOptions {
        rating: Some(r),
        ..QueueOptions::default()
    };
    // Two strong and two weak players: each pair meets its own.
    let waits = [1000.0, 2000.0, 1010.0, 2020.0].map(|r| {
        let mm = Matchmaker::new(&server.url, None);
        let options = rated(r);
        tokio::spawn(async move { mm.queue("tictactoe", &options).await })
    });
    let mut seats = Vec::new();
    for w in waits {
        seats.push(w.await.unwrap().unwrap());
    }
    assert_eq!(seats[0].match_id, seats[2].match_id);
    assert_eq!(seats[1].match_id, seats[3].match_id);
    assert_ne!(seats[0].match_id, seats[1].match_id);
    assert!(seats[0].private, "a queue match is never offered to others");
    let _a = welcomed(&server.url, &seats[0]).await;
    let _b = welcomed(&server.url, &seats[2]).await;
    assert_eq!(server.metric("tickroom_queue_groups_total").await, 2);

    // A waiter sees its status and leaves cleanly.
    let mm = Matchmaker::new(&server.url, None);
    let t = mm.enqueue("tictactoe", &rated(1500.0)).await.unwrap();
    assert_eq!(t.status, "waiting");
    let seen = mm.ticket(&t.ticket, 0).await.unwrap();
    assert_eq!(seen.player_id, t.player_id);
    assert_eq!(mm.leave(&t.ticket).await.unwrap().status, "left");
    assert_eq!(mm.ticket(&t.ticket, 0).await.unwrap().status, "left");
    assert_eq!(
        code_of(mm.leave(&t.ticket).await),
        (409, "ticket_resolved".into())
    );
    assert_eq!(
        code_of(mm.ticket("0123", 0).await),
        (404, "ticket_not_found".into())
    );
    assert_eq!(server.metric("tickroom_queue_waiting").await, 0);
    let party_without_size = QueueOptions {
        party: Some("crew".into()),
        ..QueueOptions::default()
    };
    assert_eq!(
        code_of(mm.enqueue("arena", &party_without_size).await),
        (422, "bad_party".into())
    );
}

/// Two processes of the official JS client, each with nothing but the server's URL, meet in
/// one match through `join-or-create`.
#[tokio::test]
async fn two_official_js_clients_meet_through_join_or_create() {
    let server = TestServer::start().await;
    let args = [server.url.as_str(), "arena", "2"];
    let (a, b) = tokio::join!(
        tickroom_tests::run_js_script("matchmake.mjs", &args),
        tickroom_tests::run_js_script("matchmake.mjs", &args),
    );
    let a: serde_json::Value = serde_json::from_str(a.unwrap().trim()).unwrap();
    let b: serde_json::Value = serde_json::from_str(b.unwrap().trim()).unwrap();
    assert_eq!(a["match_id"], b["match_id"]);
    assert_ne!(a["player_id"], b["player_id"]);
    assert_eq!(a["seats"].as_array().unwrap().len(), 2);
}

/// The realtime lobby, watched by the official JS client: a match appears, fills, and goes,
/// each as its own event, and only the game subscribed to.
#[tokio::test]
async fn the_lobby_pushes_matches_as_they_come_fill_and_go() {
    let server = TestServer::start().await;
    let out = tickroom_tests::run_js_script("lobby.mjs", &[&server.url, &server.admin_key])
        .await
        .unwrap();
    let seen: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    let names: Vec<&str> = seen["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e[0].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "refused",
            "matches",
            "match_added",
            "match_changed",
            "match_removed"
        ]
    );
}

/// `@tickroom/client`'s matchmaking against a real server: the queue, a private match by
/// code, and the realtime lobby.
#[tokio::test]
async fn the_typescript_client_queues_joins_by_code_and_watches_the_lobby() {
    tickroom_tests::ensure_client_package_built().unwrap();
    let server = TestServer::start().await;
    let out = tickroom_tests::run_js_script("tickroom-matchmaking.mjs", &[&server.url])
        .await
        .unwrap();
    let seen: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(seen["ok"], true, "{seen}");
    assert_eq!(seen["private"]["refused"], "match_full");
    assert!(
        seen["lobby"]["players"]
            .as_array()
            .unwrap()
            .contains(&json!(2))
    );
}

/// A hundred players with random ratings queue at once against a real server: every one is
/// seated, in pairs (tictactoe) of close ratings.
#[tokio::test]
async fn a_queue_of_a_hundred_random_players_forms_fair_pairs() {
    use tickroom_client::Rng;
    use tickroom_client::matchmaking::QueueOptions;
    let server = TestServer::start().await;
    let mut rng = Rng::new(11);
    let ratings: Vec<f64> = (0..100)
        .map(|_| 1000.0 + (rng.next_u64() % 1000) as f64)
        .collect();
    let waits = ratings.iter().map(|&r| {
        let mm = Matchmaker::new(&server.url, None);
        async move {
            let options = QueueOptions {
                rating: Some(r),
                ..QueueOptions::default()
            };
            (r, mm.queue("tictactoe", &options).await.unwrap())
        }
    });
    let seated = futures_util::future::join_all(waits).await;
    let mut pairs: HashMap<String, Vec<f64>> = HashMap::new();
    for (r, seat) in seated {
        pairs.entry(seat.match_id).or_default().push(r);
    }
    assert_eq!(pairs.len(), 50);
    let spreads: Vec<f64> = pairs
        .values()
        .map(|p| {
            assert_eq!(p.len(), 2);
            (p[0] - p[1]).abs()
        })
        .collect();
    let mean = spreads.iter().sum::<f64>() / 50.0;
    // Random pairs from 1,000..2,000 are ~333 apart on average.
    assert!(
        mean < 60.0,
        "mean difference within a pair {mean}: {spreads:?}"
    );
    assert_eq!(server.metric("tickroom_queue_groups_total").await, 50);
}

/// A production server that lets anonymous players in (`--anonymous-players true`) still
/// budgets them per address, and tells clients to connect to its `--public-url`.
#[tokio::test]
async fn anonymous_players_in_production_are_budgeted_per_address() {
    let mut config = production_config();
    config.matchmaking.anonymous = Some(true);
    config.matchmaking.address_burst = 3;
    config.matchmaking.address_rate = 1;
    config.matchmaking.public_url = Some("https://eu1.game.example/".into());
    let server = TestServer::start_with(config).await;
    let mm = Matchmaker::new(&server.url, None);
    for _ in 0..3 {
        let r = mm
            .join_or_create("arena", &Options::default())
            .await
            .unwrap();
        assert_eq!(
            r.url, "https://eu1.game.example",
            "the configured public URL"
        );
        assert!(r.player_id.starts_with("anon-"));
    }
    assert_eq!(
        code_of(mm.join_or_create("arena", &Options::default()).await),
        (429, "rate_limited".into()),
        "a burst of 3 from one address"
    );
    assert_eq!(
        code_of(mm.list(None, &BTreeMap::new(), false).await),
        (429, "rate_limited".into()),
        "reads take from the same budget"
    );
}
