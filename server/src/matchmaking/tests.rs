//! Placement on tokio's paused clock, over a real directory with a recording sink.

use std::time::Duration;

use tickroom_engine::testing::Recorder;
use tickroom_shared::Role;
use tokio_util::sync::CancellationToken;

use super::*;
use crate::config::MatchConfig;
use crate::directory::{Directory, Match, MatchSpec};
use crate::metrics::Metrics;
use crate::runtime::{Runtimes, SimRuntime};

pub(crate) const TTL: Duration = Duration::from_secs(45);

/// A matchmaker over this node's directory of the built-in games, whose rooms publish to
/// nowhere; and the directory, to look at the matches.
pub(crate) fn matchmaker() -> (Matchmaker, Arc<Directory>) {
    let directory = Arc::new(Directory::new(
        tickroom_games::builtin(),
        Arc::new(Recorder::default()),
        Arc::new(Metrics::default()),
        MatchConfig::default(),
        None,
        Runtimes::new(&SimRuntime::new(0).unwrap()),
        CancellationToken::new(),
    ));
    let mm = Matchmaker::new(directory.clone(), Arc::new(Metrics::default()), TTL);
    (mm, directory)
}

/// The match a reservation is for.
pub(crate) fn match_of(d: &Directory, r: &Reservation) -> Arc<Match> {
    d.get(&r.match_id).expect("the reservation's match")
}

fn anon() -> Arc<str> {
    Identity::anonymous().id
}

fn wanted(mm: &Matchmaker, labels: &[(&str, &str)]) -> Wanted {
    let labels = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    mm.wanted(&Identity::anonymous(), "arena", labels, Some(3))
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn join_or_create_fills_one_match_before_the_next_and_keeps_labels_apart() {
    let (mm, d) = matchmaker();
    let ffa = wanted(&mm, &[("mode", "ffa")]);
    let duel = wanted(&mm, &[("mode", "duel")]);
    let mut seats: Vec<Reservation> = Vec::new();
    for _ in 0..7 {
        seats.push(mm.join_or_create(&anon(), &ffa).await.unwrap());
    }
    let ids: Vec<&str> = seats.iter().map(|r| &*r.match_id).collect();
    assert_eq!(ids[0], ids[1]);
    assert_eq!(ids[0], ids[2]);
    assert_ne!(ids[2], ids[3], "the fourth opens a second match");
    assert_eq!(ids[3], ids[5]);
    assert_ne!(ids[5], ids[6]);
    for r in &seats {
        assert!(match_of(&d, r).seats_taken() <= 3);
    }
    let dl = mm.join_or_create(&anon(), &duel).await.unwrap();
    assert!(!ids.contains(&&*dl.match_id), "other labels, other match");
    // The same player asking again gets the seat they hold.
    let again = mm.join_or_create(&seats[6].player, &ffa).await.unwrap();
    assert_eq!(again.match_id, seats[6].match_id);
    assert_eq!(match_of(&d, &seats[6]).seats_taken(), 1);
}

#[tokio::test(start_paused = true)]
async fn an_unredeemed_reservation_frees_its_seat_and_a_redeemed_one_stays() {
    let (mm, d) = matchmaker();
    let w = wanted(&mm, &[]);
    let a = mm.join_or_create(&anon(), &w).await.unwrap();
    let b = mm.join_or_create(&anon(), &w).await.unwrap();
    let m = match_of(&d, &a);
    assert_eq!(m.seats_taken(), 2);
    m.claim(&a.player, Role::Player, "conn-a", true).unwrap();
    tokio::time::sleep(TTL + Duration::from_secs(1)).await;
    assert_eq!(m.seats_taken(), 1, "b's reservation lapsed");
    assert_eq!(m.seats_view().players, [a.player.to_string()]);
    assert_eq!(
        m.claim(&b.player, Role::Player, "conn-b", true),
        Err(SeatError::NotReserved)
    );
}

#[tokio::test(start_paused = true)]
async fn asking_again_renews_a_reservation_and_its_room_waits_for_it() {
    // The room of an empty match is abandoned after 60 s; reservations last 45 s.
    let (mm, d) = matchmaker();
    let w = wanted(&mm, &[]);
    let who = anon();
    let first = mm.join_or_create(&who, &w).await.unwrap();
    tokio::time::sleep(Duration::from_secs(40)).await;
    // (`until` is by the system clock, which the paused clock does not move.)
    let renewed = mm.join_or_create(&who, &w).await.unwrap();
    assert_eq!(renewed.match_id, first.match_id);
    let m = match_of(&d, &first);
    // t = 70 s: past the first reservation and past the empty-room grace, the renewed
    // reservation holds the seat, and the room waits for its player.
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert_eq!(m.seats_view().reserved, [who.to_string()], "still held");
    assert!(
        !m.state().is_over(),
        "not abandoned while a player is expected"
    );
    m.claim(&who, Role::Player, "conn", true).unwrap();
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert!(!m.state().is_over(), "the player came: the match goes on");
    assert_eq!(m.seats_view().players, [who.to_string()]);
}

#[tokio::test(start_paused = true)]
async fn a_room_nobody_comes_to_is_abandoned_once_its_reservations_lapse() {
    let (mm, d) = matchmaker();
    let w = wanted(&mm, &[]);
    let r = mm.join_or_create(&anon(), &w).await.unwrap();
    let m = match_of(&d, &r);
    tokio::time::sleep(Duration::from_secs(40)).await;
    mm.join_by_id(&anon(), &r.match_id).await.unwrap();
    tokio::time::sleep(Duration::from_secs(40)).await;
    assert!(
        !m.state().is_over(),
        "t = 80 s: the second reservation runs to 85 s"
    );
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert!(m.state().is_over(), "t = 90 s: nobody came");
}

#[tokio::test(start_paused = true)]
async fn private_matches_are_joined_by_code_or_id_only() {
    let (mm, d) = matchmaker();
    let w = wanted(&mm, &[]);
    let host = mm.create(&anon(), &w, true).await.unwrap();
    let code = host.code.clone().unwrap();
    assert!(host.private);
    assert_eq!(code.len(), CODE_LEN);
    assert!(mm.list(&ListFilter::default()).await.unwrap().is_empty());
    let stranger = mm.join_or_create(&anon(), &w).await.unwrap();
    assert_ne!(stranger.match_id, host.match_id);
    let friend = mm
        .join_by_code(&anon(), &code.to_ascii_lowercase())
        .await
        .unwrap();
    assert_eq!(friend.match_id, host.match_id);
    let by_id = mm.join_by_id(&anon(), &host.match_id).await.unwrap();
    assert_eq!(by_id.match_id, host.match_id);
    assert_eq!(
        mm.join_by_id(&anon(), &host.match_id).await.unwrap_err(),
        MatchmakingError::Full
    );
    assert_eq!(
        mm.join_by_code(&anon(), "ZZZZZZ").await.unwrap_err(),
        MatchmakingError::NotFound
    );
    // A match the admin API made is not matchmaking's to offer.
    let admin = d
        .create(MatchSpec {
            game: "arena".into(),
            ..MatchSpec::default()
        })
        .unwrap();
    assert_eq!(
        mm.join_by_id(&anon(), &admin.info().id).await.unwrap_err(),
        MatchmakingError::NotFound
    );
}

#[tokio::test(start_paused = true)]
async fn requests_are_checked() {
    let (mm, _) = matchmaker();
    let who = Identity::anonymous();
    assert_eq!(
        mm.wanted(&who, "chess", BTreeMap::new(), None).unwrap_err(),
        MatchmakingError::UnknownGame("chess".into())
    );
    let bad: BTreeMap<String, String> = [("mo de".to_string(), "x".to_string())].into();
    assert!(matches!(
        mm.wanted(&who, "arena", bad, None),
        Err(MatchmakingError::BadLabels(_))
    ));
    let many: BTreeMap<String, String> = (0..9).map(|i| (format!("k{i}"), "v".into())).collect();
    assert!(matches!(
        mm.wanted(&who, "arena", many, None),
        Err(MatchmakingError::BadLabels(_))
    ));
    assert_eq!(
        mm.wanted(&who, "arena", BTreeMap::new(), Some(0))
            .unwrap_err(),
        MatchmakingError::BadMaxPlayers
    );
    // The game's own size is the default; the identity's region is a label.
    let eu = Identity {
        region: Some("eu".into()),
        ..Identity::anonymous()
    };
    let w = mm.wanted(&eu, "tictactoe", BTreeMap::new(), None).unwrap();
    assert_eq!(w.max_players, 2);
    assert_eq!(w.labels.get("region").map(String::as_str), Some("eu"));
}
