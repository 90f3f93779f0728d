//! A room's command log: everything that changed its simulation, in order — joins, leaves,
//! connection changes, the inputs each tick applied — with a checksum of the World every
//! [`RoomConfig::checksum_interval`] ticks, so that [`crate::replay`] re-runs the match bit for
//! bit and proves it. docs/REPLAY.md specifies the format.
//!
//! The log is a stream of msgpack arrays. The first is the header,
//! `["tickroom-log", 1, game, match_id, [tick_rate, input_buffer, max_input_lag,
//! keyframe_interval, snapshot_interval, max_players, seed, checksum_interval]]`; each record
//! after it starts with its type:
//!
//! | record | meaning |
//! |---|---|
//! | `[0, player]` | the player took a seat (before the next tick) |
//! | `[1, player]` | the player left its seat |
//! | `[2, player, connected]` | the player's connection dropped (`false`) or came back |
//! | `[3, seat, dseq, input, …]` | a tick ran, applying these inputs in this order: the seat's number, its `seq` as the increase over the seat's last applied one, the input (its msgpack, fields in order) or nil for the same input as the seat's last |
//! | `[4, tick, checksum]` | the room's checksum after that tick ([`Room::checksum`](crate::Room::checksum)) |
//! | `[5, tick, reason]` | the match ended after that tick (the reason's wire name) |

use tickroom_shared::EndReason;

use crate::room::RoomConfig;

/// The first value of every log.
pub const LOG_MAGIC: &str = "tickroom-log";
/// The log format this engine writes and replays.
pub const LOG_FORMAT: u32 = 1;

pub(crate) const JOIN: u8 = 0;
pub(crate) const LEAVE: u8 = 1;
pub(crate) const CONNECTED: u8 = 2;
pub(crate) const TICK: u8 = 3;
pub(crate) const CHECKSUM: u8 = 4;
pub(crate) const END: u8 = 5;

/// Where a room writes its log: appended to as the match runs, taken by the embedder
/// ([`Room::take_log`](crate::Room::take_log)) as often as it likes.
#[derive(Debug, Default)]
pub(crate) struct CommandLog {
    out: Vec<u8>,
    /// The tick record being built: its inputs, and how many.
    inputs: Vec<u8>,
    count: u32,
}

impl CommandLog {
    /// A log that starts with its header.
    pub(crate) fn new(game: &str, match_id: &str, config: &RoomConfig) -> Self {
        let mut out = Vec::with_capacity(256);
        let _ = rmp::encode::write_array_len(&mut out, 5);
        let _ = rmp::encode::write_str(&mut out, LOG_MAGIC);
        let _ = rmp::encode::write_uint(&mut out, u64::from(LOG_FORMAT));
        let _ = rmp::encode::write_str(&mut out, game);
        let _ = rmp::encode::write_str(&mut out, match_id);
        let _ = rmp::encode::write_array_len(&mut out, 8);
        for v in [
            u64::from(config.tick_rate),
            config.input_buffer as u64,
            config.max_input_lag as u64,
            u64::from(config.keyframe_interval),
            u64::from(config.snapshot_interval),
        ] {
            let _ = rmp::encode::write_uint(&mut out, v);
        }
        match config.max_players {
            Some(n) => {
                let _ = rmp::encode::write_uint(&mut out, u64::from(n));
            }
            None => {
                let _ = rmp::encode::write_nil(&mut out);
            }
        }
        let _ = rmp::encode::write_uint(&mut out, config.seed);
        let _ = rmp::encode::write_uint(&mut out, u64::from(config.checksum_interval));
        Self {
            out,
            inputs: Vec::new(),
            count: 0,
        }
    }

    /// A log that goes on from where another stopped: no header, only what comes next.
    pub(crate) fn continuing() -> Self {
        Self::default()
    }

    pub(crate) fn player(&mut self, record: u8, player: &str) {
        let _ = rmp::encode::write_array_len(&mut self.out, 2);
        let _ = rmp::encode::write_pfix(&mut self.out, record);
        let _ = rmp::encode::write_str(&mut self.out, player);
    }

    pub(crate) fn connected(&mut self, player: &str, connected: bool) {
        let _ = rmp::encode::write_array_len(&mut self.out, 3);
        let _ = rmp::encode::write_pfix(&mut self.out, CONNECTED);
        let _ = rmp::encode::write_str(&mut self.out, player);
        let _ = rmp::encode::write_bool(&mut self.out, connected);
    }

    /// One input the tick being run applies: `seat` applied `seq`, after `last_seq`;
    /// `input` is its msgpack, `last_input` the seat's last logged one (updated here).
    pub(crate) fn input(
        &mut self,
        seat: u32,
        seq: u32,
        last_seq: u32,
        input: &[u8],
        last_input: &mut Vec<u8>,
    ) {
        let _ = rmp::encode::write_uint(&mut self.inputs, u64::from(seat));
        let _ = rmp::encode::write_sint(&mut self.inputs, i64::from(seq) - i64::from(last_seq));
        if input == last_input.as_slice() {
            let _ = rmp::encode::write_nil(&mut self.inputs);
        } else {
            self.inputs.extend_from_slice(input);
            last_input.clear();
            last_input.extend_from_slice(input);
        }
        self.count += 1;
    }

    /// The tick ran, with the inputs given since the last call.
    pub(crate) fn tick(&mut self) {
        let _ = rmp::encode::write_array_len(&mut self.out, 1 + 3 * self.count);
        let _ = rmp::encode::write_pfix(&mut self.out, TICK);
        self.out.extend_from_slice(&self.inputs);
        self.inputs.clear();
        self.count = 0;
    }

    pub(crate) fn checksum(&mut self, tick: u64, checksum: u64) {
        let _ = rmp::encode::write_array_len(&mut self.out, 3);
        let _ = rmp::encode::write_pfix(&mut self.out, CHECKSUM);
        let _ = rmp::encode::write_uint(&mut self.out, tick);
        let _ = rmp::encode::write_uint(&mut self.out, checksum);
    }

    pub(crate) fn end(&mut self, tick: u64, reason: EndReason) {
        let _ = rmp::encode::write_array_len(&mut self.out, 3);
        let _ = rmp::encode::write_pfix(&mut self.out, END);
        let _ = rmp::encode::write_uint(&mut self.out, tick);
        let _ = rmp::encode::write_str(&mut self.out, reason.as_str());
    }

    /// Moves what was written since the last call to the end of `into`.
    pub(crate) fn take(&mut self, into: &mut Vec<u8>) {
        into.append(&mut self.out);
    }
}

/// FNV-1a, 64 bits: the room's checksum. Stable across platforms and Rust versions, unlike
/// std's hashers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fnv(pub(crate) u64);

impl Default for Fnv {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    pub(crate) fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    pub(crate) fn write_u64(&mut self, v: u64) {
        self.write(&v.to_le_bytes());
    }
}
