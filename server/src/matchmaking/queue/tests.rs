//! The queue on tokio's paused clock: who meets whom, and when.

use std::collections::BTreeMap;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::*;
use crate::directory::Directory;
use crate::matchmaking::tests::{match_of, matchmaker};

fn queue(config: MatchmakingConfig) -> (Queue, Arc<Directory>) {
    let (mm, d) = matchmaker();
    let q = Queue::new(Arc::new(mm), Arc::new(Metrics::default()), &config);
    (q, d)
}

fn entry(_: &Queue, player: &str, game: &str, size: u32, rating: f64) -> Entry {
    Entry {
        player: player.into(),
        wanted: Wanted {
            game: tickroom_games::builtin().get(game).unwrap(),
            labels: BTreeMap::new(),
            max_players: size,
        },
        rating,
        party: None,
    }
}

fn status(t: &Ticket) -> TicketStatus {
    t.status.borrow().clone()
}

fn matched(t: &Ticket) -> Option<Reservation> {
    match status(t) {
        TicketStatus::Matched(r) => Some(r),
        _ => None,
    }
}

/// Runs rounds every [`ROUND`] for `d`.
async fn wait_rounds(q: &Queue, d: Duration) {
    let end = Instant::now() + d;
    while Instant::now() < end {
        tokio::time::sleep(ROUND).await;
        q.round().await;
    }
}

#[tokio::test(start_paused = true)]
async fn close_ratings_meet_at_once_and_far_ones_once_both_windows_reach() {
    let (q, d) = queue(MatchmakingConfig::default());
    let a = q.enqueue(entry(&q, "a", "arena", 2, 1500.0)).unwrap();
    let b = q.enqueue(entry(&q, "b", "arena", 2, 1550.0)).unwrap();
    q.round().await;
    let (ra, rb) = (matched(&a).unwrap(), matched(&b).unwrap());
    assert_eq!(ra.match_id, rb.match_id);
    assert_eq!(match_of(&d, &ra).seats_view().reserved, ["a", "b"]);
    assert!(ra.private);

    // 500 apart: windows start at 100 and widen by 25 a second, so 16 s.
    let c = q.enqueue(entry(&q, "c", "arena", 2, 1000.0)).unwrap();
    let d = q.enqueue(entry(&q, "d", "arena", 2, 1500.0)).unwrap();
    wait_rounds(&q, Duration::from_secs(15)).await;
    assert!(matches!(status(&c), TicketStatus::Waiting { window, .. } if window < 500.0));
    assert!(matched(&d).is_none());
    wait_rounds(&q, Duration::from_millis(1500)).await;
    let (rc, rd) = (matched(&c).unwrap(), matched(&d).unwrap());
    assert_eq!(rc.match_id, rd.match_id);
}

#[tokio::test(start_paused = true)]
async fn a_newcomer_is_not_matched_beyond_its_own_window() {
    let (q, _) = queue(MatchmakingConfig::default());
    let old = q.enqueue(entry(&q, "old", "arena", 2, 1000.0)).unwrap();
    wait_rounds(&q, Duration::from_secs(30)).await;
    // The old ticket's window is 850 now; the newcomer's is 100.
    let new = q.enqueue(entry(&q, "new", "arena", 2, 1300.0)).unwrap();
    q.round().await;
    assert!(matched(&old).is_none() && matched(&new).is_none());
    let close = q.enqueue(entry(&q, "close", "arena", 2, 1080.0)).unwrap();
    q.round().await;
    assert!(matched(&old).is_some() && matched(&close).is_some());
    assert!(matched(&new).is_none());
}

#[tokio::test(start_paused = true)]
async fn a_hundred_random_players_form_fair_groups() {
    let (q, _) = queue(MatchmakingConfig::default());
    let mut rng = StdRng::seed_from_u64(7);
    let mut rating = BTreeMap::new();
    let tickets: Vec<Ticket> = (0..100)
        .map(|i| {
            let r: f64 = rng.random_range(1000.0..2000.0);
            let p = format!("p{i}");
            rating.insert(p.clone(), r);
            // A game that never starts short: every group is whole.
            q.enqueue(entry(&q, &p, "tictactoe", 2, r)).unwrap()
        })
        .collect();
    let mut formed_at: BTreeMap<String, Duration> = BTreeMap::new();
    let start = Instant::now();
    loop {
        q.round().await;
        for t in &tickets {
            if let Some(r) = matched(t) {
                formed_at
                    .entry(r.match_id.to_string())
                    .or_insert(start.elapsed());
            }
        }
        if q.is_empty() || start.elapsed() > Duration::from_secs(60) {
            break;
        }
        tokio::time::sleep(ROUND).await;
    }
    let mut groups: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for t in &tickets {
        let r = matched(t).expect("everyone is matched within a minute");
        groups
            .entry(r.match_id.to_string())
            .or_default()
            .push(rating[&*r.player]);
    }
    assert_eq!(groups.len(), 50, "100 players in groups of 2");
    let windows = q.windows;
    let mut spreads = Vec::new();
    for (id, g) in &groups {
        assert_eq!(g.len(), 2);
        let spread =
            g.iter().copied().fold(f64::MIN, f64::max) - g.iter().copied().fold(f64::MAX, f64::min);
        let waited = formed_at[id];
        // Everyone is within the window of the group's oldest member, on either side.
        assert!(
            spread <= 2.0 * windows.after(waited),
            "group {g:?} formed after {waited:?}"
        );
        spreads.push(spread);
    }
    let mean = spreads.iter().sum::<f64>() / spreads.len() as f64;
    // Two random players out of 1,000..2,000 are ~333 apart on average.
    assert!(mean < 60.0, "mean spread {mean}");
    assert!(
        formed_at.values().any(|w| w.is_zero()) && formed_at.values().any(|w| !w.is_zero()),
        "most groups form at once, the outliers' once their windows widen"
    );
}

#[tokio::test(start_paused = true)]
async fn a_party_is_seated_together_once_all_its_members_are_queued() {
    let (q, _) = queue(MatchmakingConfig::default());
    let with_party = |p: &str, r: f64| Entry {
        party: Some(("crew".into(), 2)),
        ..entry(&q, p, "arena", 4, r)
    };
    let m1 = q.enqueue(with_party("m1", 1500.0)).unwrap();
    let s1 = q.enqueue(entry(&q, "s1", "arena", 4, 1490.0)).unwrap();
    let s2 = q.enqueue(entry(&q, "s2", "arena", 4, 1510.0)).unwrap();
    q.round().await;
    assert!(matches!(
        status(&m1),
        TicketStatus::WaitingForParty {
            present: 1,
            size: 2
        }
    ));
    assert!(matched(&s1).is_none(), "two solos cannot fill four seats");
    let m2 = q.enqueue(with_party("m2", 1520.0)).unwrap();
    q.round().await;
    let seats: Vec<Reservation> = [&m1, &m2, &s1, &s2]
        .iter()
        .map(|t| matched(t).unwrap())
        .collect();
    assert!(seats.iter().all(|r| r.match_id == seats[0].match_id));
    assert_eq!(
        q.enqueue(Entry {
            party: Some(("big".into(), 5)),
            ..entry(&q, "x", "arena", 4, 1500.0)
        })
        .unwrap_err(),
        QueueError::BadParty
    );
}

#[tokio::test(start_paused = true)]
async fn a_game_that_allows_it_starts_short_after_its_timeout() {
    // The arena starts with two or more after 10 s; tictactoe never starts short.
    let (q, d) = queue(MatchmakingConfig::default());
    let arena: Vec<Ticket> = (0..3)
        .map(|i| {
            q.enqueue(entry(&q, &format!("a{i}"), "arena", 8, 1500.0))
                .unwrap()
        })
        .collect();
    let lone = q.enqueue(entry(&q, "t0", "tictactoe", 2, 1500.0)).unwrap();
    wait_rounds(&q, Duration::from_secs(9)).await;
    assert!(arena.iter().all(|t| matched(t).is_none()));
    wait_rounds(&q, Duration::from_millis(1500)).await;
    let r = matched(&arena[0]).expect("started short");
    assert_eq!(match_of(&d, &r).info().max_players, 8);
    assert_eq!(match_of(&d, &r).seats_taken(), 3);
    assert!(arena.iter().all(|t| matched(t).is_some()));
    assert!(matched(&lone).is_none());
}

#[tokio::test(start_paused = true)]
async fn waiters_leave_cleanly_time_out_and_are_bounded() {
    let (q, _) = queue(MatchmakingConfig {
        queue_capacity: 2,
        queue_timeout: Duration::from_secs(30),
        ..MatchmakingConfig::default()
    });
    let a = q.enqueue(entry(&q, "a", "tictactoe", 2, 1000.0)).unwrap();
    // Asking again for the same thing is the same ticket; for something else, refused.
    let again = q.enqueue(entry(&q, "a", "tictactoe", 2, 1000.0)).unwrap();
    assert_eq!(a.id, again.id);
    assert_eq!(
        q.enqueue(entry(&q, "a", "arena", 2, 1000.0)).unwrap_err(),
        QueueError::AlreadyQueued
    );
    let b = q.enqueue(entry(&q, "b", "tictactoe", 2, 3000.0)).unwrap();
    assert_eq!(
        q.enqueue(entry(&q, "c", "tictactoe", 2, 1000.0))
            .unwrap_err(),
        QueueError::Full
    );
    assert!(q.leave(&a.id));
    assert!(!q.leave(&a.id), "only once");
    assert!(matches!(status(&a), TicketStatus::Left));
    assert!(q.ticket(&a.id).is_some(), "still readable a while");
    wait_rounds(&q, Duration::from_secs(31)).await;
    assert!(matches!(status(&b), TicketStatus::TimedOut));
    assert!(q.is_empty());
    wait_rounds(&q, RESOLVED_RETENTION).await;
    assert!(
        q.ticket(&a.id).is_none() && q.ticket(&b.id).is_none(),
        "then forgotten"
    );
}
