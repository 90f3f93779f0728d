//! Who holds the seats of one match: the only record of it. A seat is decided here,
//! synchronously during the handshake, so a full match refuses the connection instead of
//! admitting it and then kicking it. The room hears the outcome as join / leave /
//! connected, through its command queue, in the order the table changed.
//!
//! A seat is in one of three states: *reserved* by matchmaking for a player who has not
//! connected yet (the room has not heard of them), *connected*, or *held* for a player whose
//! connection dropped (the room keeps their entity). Reserved and held seats count against the
//! match's size, so concurrent reservations can never seat more players than there are seats.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use tickroom_shared::Role;

/// Why a seat was not given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SeatError {
    /// Every seat of that role is taken.
    #[error("match full")]
    Full,
    /// The match has ended.
    #[error("match ended")]
    Ended,
    /// The connection needs a reserved (or held) seat and the player has none: the
    /// reservation was not redeemed in time.
    #[error("seat reservation expired")]
    NotReserved,
}

/// How a connection ended, which decides what happens to its seat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Departure {
    /// The client left on purpose (or misbehaved): the seat is given up at once.
    Left,
    /// The connection dropped: the seat and entity are held for the grace period.
    Dropped,
}

/// What taking a seat did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Taken {
    /// A new player seat.
    Joined,
    /// A seat held after a dropped connection, taken back.
    Reconnected,
    /// A seat moved from the still-open connection `0` to the new one.
    Replaced(String),
    /// A spectator seat.
    Spectating,
}

/// What expiring a reservation or a hold did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expired {
    /// The reservation or hold was no longer current (taken up, or renewed): nothing changed.
    Stale,
    /// A reservation nobody redeemed is freed; the room never heard of the player.
    Reservation,
    /// A held seat is freed; the room must hear that the player left.
    Hold,
}

/// What giving a seat back did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GivenBack {
    /// The connection held no seat (or the seat has moved to another connection).
    NotHeld,
    /// The player's seat is free.
    Left,
    /// The player's seat is held for a reconnection; a hold is current while its
    /// `generation` is.
    Held { generation: u64 },
    /// A spectator seat is free.
    Spectator,
}

#[derive(Debug)]
struct PlayerSeat {
    /// The transport's id of the connection holding the seat; `None` while reserved, or held
    /// for a dropped connection.
    conn: Option<String>,
    /// Whether the room has heard the player join (false while only reserved).
    joined: bool,
    /// Bumped on every change, so an expiry knows whether it is still current.
    generation: u64,
}

/// The seats of one match.
#[derive(Debug)]
pub(crate) struct SeatTable {
    players: HashMap<Arc<str>, PlayerSeat>,
    /// Connection ids of spectators.
    spectators: HashSet<String>,
    max_players: usize,
    max_spectators: usize,
}

impl SeatTable {
    pub(crate) fn new(max_players: u32, max_spectators: u32) -> Self {
        Self {
            players: HashMap::new(),
            spectators: HashSet::new(),
            max_players: max_players as usize,
            max_spectators: max_spectators as usize,
        }
    }

    /// Whether a seat of `role` is free for `player` (a player who holds a seat can always
    /// take it over).
    pub(crate) fn check(&self, player: &str, role: Role) -> Result<(), SeatError> {
        let full = match role {
            Role::Player => {
                !self.players.contains_key(player) && self.players.len() >= self.max_players
            }
            Role::Spectator => self.spectators.len() >= self.max_spectators,
        };
        if full { Err(SeatError::Full) } else { Ok(()) }
    }

    /// Whether `player` holds a player seat: reserved, connected or held.
    pub(crate) fn holds(&self, player: &str) -> bool {
        self.players.contains_key(player)
    }

    /// Reserves a player seat for `player`, who has not connected yet. Returns the
    /// reservation's generation (for [`expire`](Self::expire)): a new one for a reservation
    /// renewed (the earlier expiry no longer applies), or `None` when the player has joined,
    /// whose seat then stays as it is.
    pub(crate) fn reserve(&mut self, player: &Arc<str>) -> Result<Option<u64>, SeatError> {
        self.check(player, Role::Player)?;
        if let Some(seat) = self.players.get_mut(player) {
            if seat.joined {
                return Ok(None);
            }
            seat.generation += 1;
            return Ok(Some(seat.generation));
        }
        self.players.insert(
            player.clone(),
            PlayerSeat {
                conn: None,
                joined: false,
                generation: 0,
            },
        );
        Ok(Some(0))
    }

    /// Seats `player`, who joined the match elsewhere (it moved here), as held: its connection
    /// takes the seat back as a reconnection. Returns the hold's generation (for
    /// [`expire`](Self::expire)). Not bounded by the size: the match had these players.
    pub(crate) fn hold(&mut self, player: &Arc<str>) -> u64 {
        self.players.insert(
            player.clone(),
            PlayerSeat {
                conn: None,
                joined: true,
                generation: 0,
            },
        );
        0
    }

    /// Gives connection `conn` a seat of `role`. A player id that holds a seat (reserved,
    /// connected or held) moves to `conn` and keeps it. With `reserved_only`, a player who
    /// holds no seat is refused with [`SeatError::NotReserved`].
    pub(crate) fn take(
        &mut self,
        player: &Arc<str>,
        role: Role,
        conn: &str,
        reserved_only: bool,
    ) -> Result<Taken, SeatError> {
        if reserved_only && role == Role::Player && !self.holds(player) {
            return Err(SeatError::NotReserved);
        }
        self.check(player, role)?;
        match role {
            Role::Player => {
                if let Some(seat) = self.players.get_mut(player) {
                    seat.generation += 1;
                    if !seat.joined {
                        seat.joined = true;
                        seat.conn = Some(conn.to_owned());
                        return Ok(Taken::Joined);
                    }
                    return Ok(match seat.conn.replace(conn.to_owned()) {
                        Some(old) => Taken::Replaced(old),
                        None => Taken::Reconnected,
                    });
                }
                self.players.insert(
                    player.clone(),
                    PlayerSeat {
                        conn: Some(conn.to_owned()),
                        joined: true,
                        generation: 0,
                    },
                );
                Ok(Taken::Joined)
            }
            Role::Spectator => {
                self.spectators.insert(conn.to_owned());
                Ok(Taken::Spectating)
            }
        }
    }

    /// Gives back the seat `conn` holds: held for a reconnection when `hold`, else freed. A
    /// seat that has moved to another connection is left alone.
    pub(crate) fn give_back(
        &mut self,
        player: &str,
        role: Role,
        conn: &str,
        hold: bool,
    ) -> GivenBack {
        match role {
            Role::Player => {
                let Some(seat) = self.players.get_mut(player) else {
                    return GivenBack::NotHeld;
                };
                if seat.conn.as_deref() != Some(conn) {
                    return GivenBack::NotHeld;
                }
                if !hold {
                    self.players.remove(player);
                    return GivenBack::Left;
                }
                seat.conn = None;
                seat.generation += 1;
                GivenBack::Held {
                    generation: seat.generation,
                }
            }
            Role::Spectator if self.spectators.remove(conn) => GivenBack::Spectator,
            Role::Spectator => GivenBack::NotHeld,
        }
    }

    /// Frees a reserved or held seat whose `generation` is still current.
    pub(crate) fn expire(&mut self, player: &str, generation: u64) -> Expired {
        let Some(seat) = self.players.get(player) else {
            return Expired::Stale;
        };
        if seat.conn.is_some() || seat.generation != generation {
            return Expired::Stale;
        }
        let joined = seat.joined;
        self.players.remove(player);
        if joined {
            Expired::Hold
        } else {
            Expired::Reservation
        }
    }

    /// Whether no player has joined (held seats count, reservations do not).
    pub(crate) fn no_players(&self) -> bool {
        !self.players.values().any(|s| s.joined)
    }

    /// Player seats taken, reservations included: what the match's size is checked against.
    pub(crate) fn taken(&self) -> usize {
        self.players.len()
    }

    /// Ids of players who joined and hold a seat, connected or held, sorted.
    pub(crate) fn players(&self) -> Vec<String> {
        self.ids(|s| s.joined)
    }

    /// Ids of players whose seat is held after a dropped connection, sorted.
    pub(crate) fn held(&self) -> Vec<String> {
        self.ids(|s| s.joined && s.conn.is_none())
    }

    /// Ids of players with a reservation they have not redeemed yet, sorted.
    pub(crate) fn reserved(&self) -> Vec<String> {
        self.ids(|s| !s.joined)
    }

    fn ids(&self, keep: impl Fn(&PlayerSeat) -> bool) -> Vec<String> {
        let mut p: Vec<String> = self
            .players
            .iter()
            .filter(|(_, s)| keep(s))
            .map(|(p, _)| p.to_string())
            .collect();
        p.sort_unstable();
        p
    }

    /// Connected spectators.
    pub(crate) fn spectators(&self) -> usize {
        self.spectators.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seats_are_bounded_per_role_and_follow_their_player() {
        let mut t = SeatTable::new(2, 1);
        let (a, b, c): (Arc<str>, Arc<str>, Arc<str>) = ("a".into(), "b".into(), "c".into());
        assert_eq!(t.take(&a, Role::Player, "c1", false), Ok(Taken::Joined));
        assert_eq!(t.take(&b, Role::Player, "c2", false), Ok(Taken::Joined));
        assert_eq!(t.take(&c, Role::Player, "c3", false), Err(SeatError::Full));
        // The same player on a new connection takes its own seat over.
        assert_eq!(
            t.take(&a, Role::Player, "c4", false),
            Ok(Taken::Replaced("c1".into()))
        );
        // The old connection no longer holds it.
        assert_eq!(
            t.give_back(&a, Role::Player, "c1", false),
            GivenBack::NotHeld
        );
        assert_eq!(
            t.take(&c, Role::Spectator, "s1", false),
            Ok(Taken::Spectating)
        );
        assert_eq!(
            t.take(&c, Role::Spectator, "s2", false),
            Err(SeatError::Full)
        );
        assert_eq!(
            t.give_back(&c, Role::Spectator, "s1", true),
            GivenBack::Spectator
        );
        assert_eq!(t.spectators(), 0);
    }

    #[test]
    fn a_held_seat_counts_until_it_is_taken_back_or_expires() {
        let mut t = SeatTable::new(1, 0);
        let (a, b): (Arc<str>, Arc<str>) = ("a".into(), "b".into());
        t.take(&a, Role::Player, "c1", false).unwrap();
        let GivenBack::Held { generation } = t.give_back(&a, Role::Player, "c1", true) else {
            panic!("not held");
        };
        assert_eq!(t.held(), ["a"]);
        assert_eq!(t.take(&b, Role::Player, "c2", false), Err(SeatError::Full));
        assert_eq!(
            t.take(&a, Role::Player, "c3", false),
            Ok(Taken::Reconnected)
        );
        // The hold taken back is no longer current: its expiry does nothing.
        assert_eq!(t.expire(&a, generation), Expired::Stale);
        assert_eq!(t.players(), ["a"]);
        let GivenBack::Held { generation } = t.give_back(&a, Role::Player, "c3", true) else {
            panic!("not held");
        };
        assert_eq!(t.expire(&a, generation), Expired::Hold);
        assert!(t.no_players());
    }

    #[test]
    fn a_reservation_takes_a_seat_until_it_is_redeemed_or_expires() {
        let mut t = SeatTable::new(2, 0);
        let (a, b, c): (Arc<str>, Arc<str>, Arc<str>) = ("a".into(), "b".into(), "c".into());
        assert_eq!(t.reserve(&a), Ok(Some(0)));
        assert_eq!(t.reserve(&a), Ok(Some(1)), "asking again renews it");
        assert_eq!(t.expire(&a, 0), Expired::Stale, "the first expiry is over");
        assert_eq!(t.reserve(&b), Ok(Some(0)));
        assert_eq!(t.reserve(&c), Err(SeatError::Full));
        assert_eq!(
            t.take(&c, Role::Player, "c0", false),
            Err(SeatError::Full),
            "reservations count against the size"
        );
        assert!(t.no_players(), "nobody has joined yet");
        assert_eq!(t.reserved(), ["a", "b"]);
        // Redeeming a reservation is a join.
        assert_eq!(t.take(&a, Role::Player, "c1", true), Ok(Taken::Joined));
        assert_eq!(t.players(), ["a"]);
        assert_eq!(t.expire(&a, 1), Expired::Stale, "redeemed: its expiry too");
        assert_eq!(t.reserve(&a), Ok(None), "a joined seat stays as it is");
        // An unredeemed one expires without the room ever hearing of it.
        assert_eq!(t.expire(&b, 0), Expired::Reservation);
        assert_eq!(
            t.take(&b, Role::Player, "c2", true),
            Err(SeatError::NotReserved)
        );
        assert_eq!(t.taken(), 1);
    }
}
