//! Who holds the seats of one match: the only record of it. A seat is decided here,
//! synchronously during the handshake, so a full match refuses the connection instead of
//! admitting it and then kicking it. The room hears the outcome as join / leave /
//! connected, through its command queue, in the order the table changed.

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
    /// The transport's id of the connection holding the seat; `None` while held for a
    /// dropped connection.
    conn: Option<String>,
    /// Bumped on every change, so a hold's expiry knows whether it is still current.
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

    /// Gives connection `conn` a seat of `role`. A player id that holds a seat moves to
    /// `conn` and keeps it.
    pub(crate) fn take(
        &mut self,
        player: &Arc<str>,
        role: Role,
        conn: &str,
    ) -> Result<Taken, SeatError> {
        self.check(player, role)?;
        match role {
            Role::Player => {
                if let Some(seat) = self.players.get_mut(player) {
                    seat.generation += 1;
                    return Ok(match seat.conn.replace(conn.to_owned()) {
                        Some(old) => Taken::Replaced(old),
                        None => Taken::Reconnected,
                    });
                }
                self.players.insert(
                    player.clone(),
                    PlayerSeat {
                        conn: Some(conn.to_owned()),
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

    /// Frees a held seat whose hold `generation` is still current; whether it did.
    pub(crate) fn expire(&mut self, player: &str, generation: u64) -> bool {
        let current = self
            .players
            .get(player)
            .is_some_and(|s| s.conn.is_none() && s.generation == generation);
        if current {
            self.players.remove(player);
        }
        current
    }

    /// Whether no player holds a seat (held seats count).
    pub(crate) fn no_players(&self) -> bool {
        self.players.is_empty()
    }

    /// Ids of players holding a seat, connected or held, sorted.
    pub(crate) fn players(&self) -> Vec<String> {
        let mut p: Vec<String> = self.players.keys().map(|p| p.to_string()).collect();
        p.sort_unstable();
        p
    }

    /// Ids of players whose seat is held after a dropped connection, sorted.
    pub(crate) fn held(&self) -> Vec<String> {
        let mut p: Vec<String> = self
            .players
            .iter()
            .filter(|(_, s)| s.conn.is_none())
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
        assert_eq!(t.take(&a, Role::Player, "c1"), Ok(Taken::Joined));
        assert_eq!(t.take(&b, Role::Player, "c2"), Ok(Taken::Joined));
        assert_eq!(t.take(&c, Role::Player, "c3"), Err(SeatError::Full));
        // The same player on a new connection takes its own seat over.
        assert_eq!(
            t.take(&a, Role::Player, "c4"),
            Ok(Taken::Replaced("c1".into()))
        );
        // The old connection no longer holds it.
        assert_eq!(
            t.give_back(&a, Role::Player, "c1", false),
            GivenBack::NotHeld
        );
        assert_eq!(t.take(&c, Role::Spectator, "s1"), Ok(Taken::Spectating));
        assert_eq!(t.take(&c, Role::Spectator, "s2"), Err(SeatError::Full));
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
        t.take(&a, Role::Player, "c1").unwrap();
        let GivenBack::Held { generation } = t.give_back(&a, Role::Player, "c1", true) else {
            panic!("not held");
        };
        assert_eq!(t.held(), ["a"]);
        assert_eq!(t.take(&b, Role::Player, "c2"), Err(SeatError::Full));
        assert_eq!(t.take(&a, Role::Player, "c3"), Ok(Taken::Reconnected));
        // The hold taken back is no longer current: its expiry does nothing.
        assert!(!t.expire(&a, generation));
        assert_eq!(t.players(), ["a"]);
        let GivenBack::Held { generation } = t.give_back(&a, Role::Player, "c3", true) else {
            panic!("not held");
        };
        assert!(t.expire(&a, generation));
        assert!(t.no_players());
    }
}
