//! Placement on tokio's paused clock, over a real directory with a recording sink.

use std::time::Duration;

use tickroom_engine::testing::Recorder;
use tickroom_shared::Role;
use tokio_util::sync::CancellationToken;

use super::*;
use crate::config::MatchConfig;
use crate::metrics::Metrics;
use crate::runtime::{Runtimes, SimRuntime};

pub(crate) const TTL: Duration = Duration::from_secs(45);

/// A matchmaker over a directory of the built-in games whose rooms publish to nowhere.
pub(crate) fn matchmaker() -> Matchmaker {
    let directory = Directory::new(
        tickroom_games::builtin(),
        Arc::new(Recorder::default()),
        Arc::new(Metrics::default()),
        MatchConfig::default(),
        None,
        Runtimes::new(&SimRuntime::new(0).unwrap()),
        CancellationToken::new(),
    );
    Matchmaker::new(Arc::new(directory), Arc::new(Metrics::default()), TTL)
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
    let mm = matchmaker();
    let ffa = wanted(&mm, &[("mode", "ffa")]);
    let duel = wanted(&mm, &[("mode", "duel")]);
    let seats: Vec<Reservation> = (0..7)
        .map(|_| mm.join_or_create(&anon(), &ffa).unwrap())
        .collect();
    let ids: Vec<&str> = seats.iter().map(|r| &*r.game_match.info().id).collect();
    assert_eq!(ids[0], ids[1]);
    assert_eq!(ids[0], ids[2]);
    assert_ne!(ids[2], ids[3], "the fourth opens a second match");
    assert_eq!(ids[3], ids[5]);
    assert_ne!(ids[5], ids[6]);
    for r in &seats {
        assert!(r.game_match.seats_taken() <= 3);
    }
    let d = mm.join_or_create(&anon(), &duel).unwrap();
    assert!(
        !ids.contains(&&*d.game_match.info().id),
        "other labels, other match"
    );
    // The same player asking again gets the seat they hold.
    let again = mm.join_or_create(&seats[6].player, &ffa).unwrap();
    assert!(Arc::ptr_eq(&again.game_match, &seats[6].game_match));
    assert_eq!(seats[6].game_match.seats_taken(), 1);
}

#[tokio::test(start_paused = true)]
async fn an_unredeemed_reservation_frees_its_seat_and_a_redeemed_one_stays() {
    let mm = matchmaker();
    let w = wanted(&mm, &[]);
    let a = mm.join_or_create(&anon(), &w).unwrap();
    let b = mm.join_or_create(&anon(), &w).unwrap();
    let m = a.game_match.clone();
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
async fn private_matches_are_joined_by_code_or_id_only() {
    let mm = matchmaker();
    let w = wanted(&mm, &[]);
    let host = mm.create(&anon(), &w, true).unwrap();
    let listing = host.game_match.info().listing.clone().unwrap();
    let code = listing.code.clone().unwrap();
    assert!(listing.private);
    assert_eq!(code.len(), CODE_LEN);
    assert!(mm.list(Some("arena"), &BTreeMap::new(), false).is_empty());
    let stranger = mm.join_or_create(&anon(), &w).unwrap();
    assert!(!Arc::ptr_eq(&stranger.game_match, &host.game_match));
    let friend = mm
        .join_by_code(&anon(), &code.to_ascii_lowercase())
        .unwrap();
    assert!(Arc::ptr_eq(&friend.game_match, &host.game_match));
    let by_id = mm.join_by_id(&anon(), &host.game_match.info().id).unwrap();
    assert!(Arc::ptr_eq(&by_id.game_match, &host.game_match));
    assert_eq!(
        mm.join_by_id(&anon(), &host.game_match.info().id)
            .unwrap_err(),
        MatchmakingError::Full
    );
    assert_eq!(
        mm.join_by_code(&anon(), "ZZZZZZ").unwrap_err(),
        MatchmakingError::NotFound
    );
    // A match the admin API made is not matchmaking's to offer.
    let admin = mm
        .directory()
        .create(MatchSpec {
            game: "arena".into(),
            ..MatchSpec::default()
        })
        .unwrap();
    assert_eq!(
        mm.join_by_id(&anon(), &admin.info().id).unwrap_err(),
        MatchmakingError::NotFound
    );
}

#[tokio::test(start_paused = true)]
async fn requests_are_checked() {
    let mm = matchmaker();
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
