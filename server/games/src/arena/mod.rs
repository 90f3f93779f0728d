//! "arena": players are discs that move in a walled square and push each other apart.
//!
//! The wire types (input, rows, state) are always here, for clients; the simulation
//! ([`Arena`]) needs the `engine` feature (on by default).

#[cfg(feature = "engine")]
mod game;
#[cfg(feature = "engine")]
pub use game::*;

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use tickroom_shared::input::Input;
use tickroom_shared::snapshot::{Frame, FromFrame, Replicate};
use tickroom_shared::wire::DecodeError;

/// The game's name, as given when creating a match.
pub const NAME: &str = "arena";

/// Arena width and height, in world units; the walls are at 0 and `SIZE`.
pub const SIZE: f32 = 100.0;

/// The large-map arena's name: the same game on a map that grows with the room
/// ([`large_size`]), where each player is sent only the discs within [`LARGE_VIEW`] of its
/// own (interest management).
pub const LARGE_NAME: &str = "arena_large";
/// The large map's width and height for a room of no stated size.
pub const LARGE_SIZE: f32 = 400.0;
/// How near another disc must come to be sent to a player of the large map; one in view
/// stays until beyond 1.25 × this.
pub const LARGE_VIEW: f32 = 40.0;
/// The large map's area per seat: a twelfth of a view's disc, so that in a full room of
/// players spread evenly each has about twelve others in view away from the walls — about
/// ten on average in a room of 50, where the walls cut more of the views.
pub const LARGE_AREA_PER_PLAYER: f32 = std::f32::consts::PI * LARGE_VIEW * LARGE_VIEW / 12.0;

/// The large map's width and height for a match of `max_players` seats: the side of
/// `max_players` × [`LARGE_AREA_PER_PLAYER`], at least the arena's [`SIZE`]; [`LARGE_SIZE`]
/// when the size is not stated. 144.7 for 50 seats, 457.6 for 500.
pub fn large_size(max_players: Option<u32>) -> f32 {
    max_players.map_or(LARGE_SIZE, |n| {
        (n as f32 * LARGE_AREA_PER_PLAYER).sqrt().max(SIZE)
    })
}

/// The globals of `arena_large`: the map's side, so a client can draw its walls.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LargeMap {
    /// The map's width and height ([`large_size`]).
    pub size: f32,
}

/// Radius of a player's disc.
pub const PLAYER_RADIUS: f32 = 2.0;
/// Speed in units per second with no button held.
pub const SPEED: f32 = 20.0;
/// Speed multiplier while [`BUTTON_BOOST`] is held.
pub const BOOST_FACTOR: f32 = 2.0;
/// Button bit: move faster.
pub const BUTTON_BOOST: u8 = 1;
/// Button bit: stand still regardless of `dir` (e.g. to aim).
pub const BUTTON_BRAKE: u8 = 2;
/// Every button bit the game knows; others are refused.
pub const BUTTONS_ALL: u8 = BUTTON_BOOST | BUTTON_BRAKE;

/// A player's held controls. The server keeps applying the last input until the next arrives.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, Input)]
#[serde(deny_unknown_fields)]
pub struct ArenaInput {
    /// Desired direction `[x, y]`; the server shortens a vector longer than 1 to 1, and a
    /// shorter one moves proportionally slower.
    #[input(range = -1.0..=1.0)]
    pub dir: [f32; 2],
    /// Button bits ([`BUTTON_BOOST`], [`BUTTON_BRAKE`]); others are refused.
    #[serde(default)]
    #[input(bits = BUTTONS_ALL)]
    pub buttons: u8,
}

/// One player's disc: the arena's replicated row. The server writes it, clients read it
/// back; its fields (`id`, `x`, `y`) are the row's, in this order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Replicate)]
#[replicate(kind = "player")]
pub struct ArenaPlayer {
    /// Player id from the token.
    pub id: Arc<str>,
    /// Centre x, sent in hundredths.
    #[replicate(step = 0.01)]
    pub x: f32,
    /// Centre y, sent in hundredths.
    #[replicate(step = 0.01)]
    pub y: f32,
}

/// The arena's state, rebuilt from its rows (the arena has no globals).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ArenaState {
    /// Every player with an entity, sorted by id.
    pub players: Vec<ArenaPlayer>,
}

impl ArenaState {
    /// The disc of player `id`, if present.
    pub fn player(&self, id: &str) -> Option<&ArenaPlayer> {
        self.players.iter().find(|p| &*p.id == id)
    }
}

impl FromFrame for ArenaState {
    fn from_frame(f: &Frame) -> Result<Self, DecodeError> {
        let mut players: Vec<ArenaPlayer> = ArenaPlayer::read_rows(f)?
            .into_iter()
            .map(|(_, p)| p)
            .collect();
        players.sort_unstable_by(|a, b| a.id.cmp(&b.id));
        Ok(Self { players })
    }
}
