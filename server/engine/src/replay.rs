//! Re-running a match from its command log ([`Room::record`]) and proving it bit-exact: every
//! checksum the log holds must equal the replayed room's at the same tick.

use std::sync::Arc;

use crate::command_log::{CHECKSUM, CONNECTED, END, JOIN, LEAVE, LOG_FORMAT, LOG_MAGIC, TICK};
use crate::game::Game;
use crate::room::{Room, RoomConfig, Snapshots};

/// A log's header: which game, which match, the room's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogHeader {
    /// The game's name ([`Game::name`]).
    pub game: String,
    /// The match the log is of.
    pub match_id: String,
    /// The room's settings, seed and checksum interval included.
    pub config: RoomConfig,
}

/// What a replay went through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayReport {
    /// The log's header.
    pub header: LogHeader,
    /// Ticks run.
    pub ticks: u64,
    /// Inputs applied.
    pub inputs: u64,
    /// Inputs applied, by player: a player whose `seq`s went 1, 2, … n without a gap and
    /// who has n here lost none.
    pub inputs_by_player: std::collections::BTreeMap<String, u64>,
    /// Joins in the log.
    pub joins: u64,
    /// Checksums compared, all equal.
    pub checksums: u64,
    /// The end record's reason, if the log has one (a log cut short has none).
    pub end: Option<String>,
    /// The replayed room's checksum after its last tick.
    pub final_checksum: u64,
}

/// Why a replay failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplayError {
    /// Not a command log, or one this engine cannot read.
    #[error("not a Tickroom command log of format {LOG_FORMAT}: {0}")]
    Format(String),
    /// The log is of another game than the one asked to replay it.
    #[error("the log is of the game {found}, not {expected}")]
    WrongGame {
        /// The game replaying.
        expected: String,
        /// The log's game.
        found: String,
    },
    /// No game of the log's name here ([`crate::Catalog::replay`]).
    #[error("the log is of the game {0}, which this server does not have")]
    UnknownGame(String),
    /// A record that does not decode, at byte `at` of the log.
    #[error("bad record at byte {at}: {what}")]
    Record {
        /// Its offset in the log.
        at: usize,
        /// What is wrong with it.
        what: String,
    },
    /// The log's match ended: there is nothing to restore.
    #[error("the log's match ended: there is no live room to restore")]
    Ended,
    /// The replay diverged: the room's checksum differs from the log's.
    #[error("diverged at tick {tick}: the log says {recorded:#018x}, the replay {replayed:#018x}")]
    Diverged {
        /// The tick whose checksum differs.
        tick: u64,
        /// The checksum in the log.
        recorded: u64,
        /// The replay's.
        replayed: u64,
    },
}

/// Reads a log's header.
pub fn read_header(log: &[u8]) -> Result<LogHeader, ReplayError> {
    read_header_from(&mut &log[..])
}

fn format_err(what: impl Into<String>) -> ReplayError {
    ReplayError::Format(what.into())
}

fn read_header_from(rd: &mut &[u8]) -> Result<LogHeader, ReplayError> {
    let len = rmp::decode::read_array_len(rd).map_err(|_| format_err("no header"))?;
    if len != 5 {
        return Err(format_err("the header is not an array of 5"));
    }
    let magic = read_string(rd).map_err(|_| format_err("no magic"))?;
    if magic != LOG_MAGIC {
        return Err(format_err(format!("it starts with {magic:?}")));
    }
    let format: u32 = rmp::decode::read_int(rd).map_err(|_| format_err("no format"))?;
    if format != LOG_FORMAT {
        return Err(format_err(format!("its format is {format}")));
    }
    let game = read_string(rd).map_err(|_| format_err("no game"))?;
    let match_id = read_string(rd).map_err(|_| format_err("no match id"))?;
    if rmp::decode::read_array_len(rd).ok() != Some(8) {
        return Err(format_err("the settings are not an array of 8"));
    }
    fn n(rd: &mut &[u8]) -> Result<u64, ReplayError> {
        rmp::decode::read_int(rd).map_err(|_| format_err("a setting is not an integer"))
    }
    let (tick_rate, input_buffer, max_input_lag, keyframe_interval, snapshot_interval) =
        (n(rd)?, n(rd)?, n(rd)?, n(rd)?, n(rd)?);
    let max_players = if read_nil(rd) { None } else { Some(n(rd)?) };
    let (seed, checksum_interval) = (n(rd)?, n(rd)?);
    let small = |v: u64| u32::try_from(v).map_err(|_| format_err("a setting is out of range"));
    let config = RoomConfig {
        tick_rate: small(tick_rate)?,
        input_buffer: small(input_buffer)? as usize,
        max_input_lag: small(max_input_lag)? as usize,
        keyframe_interval: small(keyframe_interval)?,
        snapshot_interval: small(snapshot_interval)?,
        max_players: max_players.map(small).transpose()?,
        seed,
        checksum_interval: small(checksum_interval)?,
    };
    Ok(LogHeader {
        game,
        match_id,
        config,
    })
}

fn read_string(rd: &mut &[u8]) -> Result<String, ()> {
    let (s, rest) = rmp::decode::read_str_from_slice(*rd).map_err(|_| ())?;
    *rd = rest;
    Ok(s.to_owned())
}

/// Consumes a nil if one is next.
fn read_nil(rd: &mut &[u8]) -> bool {
    let nil = rd.first() == Some(&0xc0);
    if nil {
        *rd = &rd[1..];
    }
    nil
}

/// Re-runs the match `log` records with `game`, in a room of the log's settings, comparing
/// every checksum the log holds with the room's; stops at the first that differs
/// ([`ReplayError::Diverged`]). A log that ends early — a recording stops at a record's end
/// when it reaches its bound — replays up to where it ends.
pub fn replay<G: Game>(game: Arc<G>, log: &[u8]) -> Result<ReplayReport, ReplayError> {
    run_log(game, log, |_| true).map(|(_, report)| report)
}

/// A recorded match as a spectator would have watched it: the snapshots its room sends a
/// spectator (every row; a game with an interest encodes a spectator's own stream), in tick
/// order, the first a keyframe. Each is a protocol snapshot, for `Mirror` or `StateStore`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Playback {
    /// The replay's report (up to where the playback stopped).
    pub report: ReplayReport,
    /// The snapshots, msgpack each.
    pub snapshots: Vec<Vec<u8>>,
    /// The playback stopped at `max_bytes` of snapshots, before the log's end.
    pub truncated: bool,
}

/// The viewer a playback watches as: not a valid player id (it has a space), so no seated
/// player's view.
const PLAYBACK_VIEWER: &str = " playback";

/// Replays `log` (as [`replay`], checksums checked) and keeps the snapshots a spectator is
/// sent, at the match's snapshot rate, until they reach `max_bytes` together.
pub fn playback<G: Game>(
    game: Arc<G>,
    log: &[u8],
    max_bytes: usize,
) -> Result<Playback, ReplayError> {
    let viewer: Arc<str> = PLAYBACK_VIEWER.into();
    let (mut snapshots, mut bytes, mut truncated) = (Vec::new(), 0, false);
    let mut watching = false;
    let (_, report) = run_log(game, log, |room| {
        if !watching {
            room.watch(&viewer);
            watching = true;
        }
        if !room.snapshot_due() {
            return true;
        }
        let snapshot = match room.snapshots() {
            Snapshots::Room(b) => b.to_vec(),
            Snapshots::Views(views) => match views.iter().find(|(v, _)| **v == *viewer) {
                Some((_, b)) => b.to_vec(),
                None => return true,
            },
        };
        bytes += snapshot.len();
        if bytes > max_bytes {
            truncated = true;
            return false;
        }
        snapshots.push(snapshot);
        true
    })?;
    Ok(Playback {
        report,
        snapshots,
        truncated,
    })
}

/// A live room at the end of `log`, as the recorded room was when its log stopped — its
/// World, seats and acks, tick and randomness — which keeps its log going: the records it
/// writes from here ([`Room::take_log`]) append to `log`, and the two together replay as one
/// match. This is how a match moves to another process: its log so far goes there, and the
/// room goes on. A log whose match ended cannot be restored ([`ReplayError::Ended`]).
pub fn restore<G: Game>(game: Arc<G>, log: &[u8]) -> Result<(Room<G>, ReplayReport), ReplayError> {
    let (mut room, report) = run_log(game, log, |_| true)?;
    if report.end.is_some() {
        return Err(ReplayError::Ended);
    }
    room.continue_log();
    Ok((room, report))
}

/// Runs `log` in a new room, calling `after_tick` after each tick it runs (it stops early,
/// with what was replayed, when `after_tick` returns false); returns the room as the log
/// leaves it.
fn run_log<G: Game>(
    game: Arc<G>,
    log: &[u8],
    mut after_tick: impl FnMut(&mut Room<G>) -> bool,
) -> Result<(Room<G>, ReplayReport), ReplayError> {
    let mut rd = log;
    let header = read_header_from(&mut rd)?;
    if header.game != game.name() {
        return Err(ReplayError::WrongGame {
            expected: game.name().to_owned(),
            found: header.game,
        });
    }
    let mut room = Room::new(game, header.config);
    let mut report = ReplayReport {
        header,
        ticks: 0,
        inputs: 0,
        inputs_by_player: Default::default(),
        joins: 0,
        checksums: 0,
        end: None,
        final_checksum: 0,
    };
    // Per seat: the last applied seq and input, as the log's deltas and repeats need.
    let mut last: Vec<Option<(u32, G::Input)>> = Vec::new();
    // Per seat: who holds it, for the inputs by player.
    let mut holders: Vec<Option<Arc<str>>> = Vec::new();
    while !rd.is_empty() {
        let at = log.len() - rd.len();
        let bad = |what: &str| ReplayError::Record {
            at,
            what: what.to_owned(),
        };
        let mut r = rd;
        let Ok(len) = rmp::decode::read_array_len(&mut r) else {
            return Err(bad("not an array"));
        };
        let kind: u8 = rmp::decode::read_int(&mut r).map_err(|_| bad("no record type"))?;
        match (kind, len) {
            (JOIN | LEAVE, 2) => {
                let player = read_string(&mut r).map_err(|()| bad("no player"))?;
                if kind == JOIN {
                    let player: Arc<str> = player.into();
                    room.join(player.clone());
                    report.joins += 1;
                    if let Some(seat) = room.seat_index(&player).map(|i| i as usize) {
                        if seat >= holders.len() {
                            holders.resize(seat + 1, None);
                        }
                        holders[seat] = Some(player);
                    }
                } else {
                    // The seat's next holder starts from no seq and no input.
                    if let Some(slot) = room
                        .seat_index(&player)
                        .and_then(|i| last.get_mut(i as usize))
                    {
                        *slot = None;
                    }
                    room.leave(&player);
                }
            }
            (CONNECTED, 3) => {
                let player = read_string(&mut r).map_err(|()| bad("no player"))?;
                let connected = rmp::decode::read_bool(&mut r).map_err(|_| bad("no flag"))?;
                room.set_connected(&player, connected);
            }
            (TICK, n) if n % 3 == 1 => {
                // The count is the log's word: reserve no more than its bytes could hold.
                let mut inputs = Vec::with_capacity((n as usize / 3).min(r.len() / 3));
                for _ in 0..n / 3 {
                    let seat: u32 = rmp::decode::read_int(&mut r).map_err(|_| bad("no seat"))?;
                    let dseq: i64 = rmp::decode::read_int(&mut r).map_err(|_| bad("no seq"))?;
                    let slot = seat as usize;
                    if slot >= last.len() {
                        if slot > 4096 {
                            return Err(bad("a seat out of range"));
                        }
                        last.resize_with(slot + 1, || None);
                    }
                    let before = last[slot].as_ref();
                    let seq = u32::try_from(i64::from(before.map_or(0, |(s, _)| *s)) + dseq)
                        .map_err(|_| bad("a seq out of range"))?;
                    let input = if read_nil(&mut r) {
                        before
                            .map(|(_, i)| i.clone())
                            .ok_or_else(|| bad("a repeated input for a seat that had none"))?
                    } else {
                        let mut de = rmp_serde::Deserializer::new(&mut r);
                        serde::Deserialize::deserialize(&mut de)
                            .map_err(|e| bad(&format!("an input: {e}")))?
                    };
                    last[slot] = Some((seq, input.clone()));
                    inputs.push((seat, seq, input));
                }
                report.inputs += inputs.len() as u64;
                for (seat, _, _) in &inputs {
                    if let Some(Some(p)) = holders.get(*seat as usize) {
                        *report.inputs_by_player.entry(p.to_string()).or_default() += 1;
                    }
                }
                room.step_applying(inputs);
                report.ticks += 1;
                if !after_tick(&mut room) {
                    break;
                }
            }
            (CHECKSUM, 3) => {
                let tick: u64 = rmp::decode::read_int(&mut r).map_err(|_| bad("no tick"))?;
                let recorded: u64 =
                    rmp::decode::read_int(&mut r).map_err(|_| bad("no checksum"))?;
                if tick != room.tick_number() {
                    return Err(bad("a checksum for another tick than the last run"));
                }
                let replayed = room.checksum();
                if replayed != recorded {
                    return Err(ReplayError::Diverged {
                        tick,
                        recorded,
                        replayed,
                    });
                }
                report.checksums += 1;
            }
            (END, 3) => {
                let _tick: u64 = rmp::decode::read_int(&mut r).map_err(|_| bad("no tick"))?;
                report.end = Some(read_string(&mut r).map_err(|()| bad("no reason"))?);
            }
            _ => return Err(bad("an unknown record")),
        }
        rd = r;
    }
    report.final_checksum = room.checksum();
    Ok((room, report))
}
