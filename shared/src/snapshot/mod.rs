//! Snapshots on the wire: keyframes and deltas of replicated rows.
//!
//! A game's state is a set of **rows** (one per replicated entity, keyed by a `u32`, with the
//! same fields in the same order) plus **globals** (anything else, sent whole). Every
//! `keyframe_interval` ticks the room sends a *keyframe* with every row; in between it sends
//! *deltas* holding only the fields that differ **from the keyframe**, the rows added since and
//! the keys removed since. A delta never depends on another delta, so a client that missed
//! some recovers with the next one it gets, and one that missed a keyframe recovers at the next
//! keyframe. `docs/PROTOCOL.md` specifies the format; [`Encoder`] writes it (the server) and
//! [`Mirror`] reads it back (clients).
//!
//! Keyframe: `{tick, acks, base: tick, fields: [name...], rows: [[key, v0, v1, ...]...], globals}`.
//! Delta: `{tick, acks, base: keyframe tick, changed: [[key, mask, v...]...], removed: [key...], globals}`,
//! where bit *i* of `mask` says field *i* follows, in field order.
//!
//! # Layout
//! - `encoder`: [`Encoder`], what the server writes a room's snapshot with.
//! - `mirror`: [`Mirror`], what a client rebuilds the state with.
//! - `replicate`: [`Replicate`], a game's row declared once as a struct, for both sides.

mod encoder;
mod mirror;
mod replicate;

use std::collections::BTreeMap;

use bytes::Bytes;
use serde::de::DeserializeOwned;

use crate::wire::DecodeError;

pub use encoder::{Encoder, RowError};
pub use mirror::{Applied, Mirror};
pub use replicate::{Replicate, RowWriter};
/// `#[derive(Replicate)]`: see [`Replicate`].
pub use tickroom_derive::Replicate;

/// Most fields a row may have (the change mask is a `u64`).
pub const MAX_FIELDS: usize = 64;

/// A snapshot rebuilt by a [`Mirror`]: full state, typed.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot<S> {
    /// The tick that produced it.
    pub tick: u64,
    /// Whether it arrived as a keyframe.
    pub keyframe: bool,
    /// Last applied input `seq` per seated player.
    pub acks: BTreeMap<String, u32>,
    /// The game state.
    pub state: S,
}

/// The rebuilt rows and globals of a snapshot, before typing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Frame {
    /// Field names, in order.
    pub fields: Vec<String>,
    /// Every row's field values (raw msgpack), by key.
    pub rows: BTreeMap<u32, Vec<Bytes>>,
    /// The globals (raw msgpack).
    pub globals: Bytes,
}

impl Frame {
    /// Position of field `name`.
    pub fn field_index(&self, name: &str) -> Option<usize> {
        self.fields.iter().position(|f| f == name)
    }

    /// Field `i` of `row`, decoded.
    pub fn value<T: DeserializeOwned>(&self, row: &[Bytes], i: usize) -> Result<T, DecodeError> {
        let raw = row.get(i).ok_or(DecodeError::Shape)?;
        rmp_serde::from_slice(raw).map_err(|_| DecodeError::Shape)
    }

    /// The globals, decoded.
    pub fn globals<T: DeserializeOwned>(&self) -> Result<T, DecodeError> {
        rmp_serde::from_slice(&self.globals).map_err(|_| DecodeError::Shape)
    }
}

/// A game state a client can build from a [`Frame`].
pub trait FromFrame: Sized {
    /// Builds the state.
    fn from_frame(frame: &Frame) -> Result<Self, DecodeError>;
}

#[cfg(test)]
mod tests {
    use serde::Serialize;

    use super::*;

    #[derive(Serialize)]
    struct Row<'a>(&'a str, f32, f32);

    #[derive(Debug, PartialEq)]
    struct State(Vec<(u32, String, f32, f32)>, u32);

    impl FromFrame for State {
        fn from_frame(f: &Frame) -> Result<Self, DecodeError> {
            let mut rows = Vec::new();
            for (k, r) in &f.rows {
                rows.push((*k, f.value(r, 0)?, f.value(r, 1)?, f.value(r, 2)?));
            }
            Ok(State(rows, f.globals()?))
        }
    }

    fn frame(enc: &mut Encoder, tick: u64, rows: &[(u32, &str, f32, f32)], g: u32) -> Bytes {
        enc.begin();
        for (k, id, x, y) in rows {
            enc.push(*k, &Row(id, *x, *y)).unwrap();
        }
        Bytes::copy_from_slice(enc.finish(tick, &BTreeMap::<String, u32>::new(), &g))
    }

    #[test]
    fn keyframes_and_deltas_rebuild_the_same_state() {
        let mut enc = Encoder::new(&["id", "x", "y"], 4);
        let mut m = Mirror::new();
        let t1 = [(1, "a", 1.0, 1.0), (2, "b", 2.0, 2.0), (3, "c", 3.0, 3.0)];
        let k = frame(&mut enc, 1, &t1, 7);
        assert!(enc.last_was_keyframe());
        let s = m.apply_typed::<State>(&k).unwrap().unwrap();
        assert_eq!(s.state.0.len(), 3);
        // tick 2: b moves in x, c leaves, d arrives; globals change
        let t2 = [(1, "a", 1.0, 1.0), (2, "b", 5.0, 2.0), (4, "d", 4.0, 4.0)];
        let d = frame(&mut enc, 2, &t2, 8);
        assert!(!enc.last_was_keyframe());
        let s = m.apply_typed::<State>(&d).unwrap().unwrap();
        assert_eq!(
            s.state,
            State(
                vec![
                    (1, "a".into(), 1.0, 1.0),
                    (2, "b".into(), 5.0, 2.0),
                    (4, "d".into(), 4.0, 4.0)
                ],
                8
            )
        );
        // A delta carries only b's x (1 value), d whole (3 values), and c's removal.
        let Applied::State { .. } = m.apply(&d).unwrap() else {
            panic!()
        };
        assert!(d.len() < k.len());
        // tick 3 is missed; tick 4's delta alone still rebuilds the state (relative to the keyframe)
        let _missed = frame(&mut enc, 3, &t2, 8);
        let t4 = [(1, "a", 0.0, 1.0), (2, "b", 5.0, 2.0), (4, "d", 4.0, 4.0)];
        let d4 = frame(&mut enc, 4, &t4, 8);
        assert!(!enc.last_was_keyframe());
        let s = m.apply_typed::<State>(&d4).unwrap().unwrap();
        assert_eq!(s.state.0[0], (1, "a".into(), 0.0, 1.0));
        assert_eq!(s.state.0[1], (2, "b".into(), 5.0, 2.0));
        // tick 5: keyframe again (interval 4); a fresh mirror waits for it
        let mut late = Mirror::new();
        assert_eq!(late.apply(&d4).unwrap(), Applied::NeedKeyframe);
        let k5 = frame(&mut enc, 5, &t4, 8);
        assert!(enc.last_was_keyframe());
        let s = late.apply_typed::<State>(&k5).unwrap().unwrap();
        assert_eq!(s.state, m.apply_typed::<State>(&k5).unwrap().unwrap().state);
    }

    /// Random worlds (rows joining, leaving, moving and moving back) over many ticks, with
    /// snapshots missed at random: every snapshot a mirror can apply rebuilds exactly the
    /// state that was encoded, however the in-place patching of earlier deltas went.
    #[test]
    fn patched_state_matches_the_encoded_world_through_random_ticks() {
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let names: Vec<String> = (0..12).map(|i| format!("p{i}")).collect();
        let mut enc = Encoder::new(&["id", "x", "y"], 5);
        let mut m = Mirror::new();
        let mut world: BTreeMap<u32, (f32, f32)> = BTreeMap::new();
        let mut checked = 0;
        for tick in 1..=2_000u64 {
            for _ in 0..next(4) {
                let key = next(12) as u32;
                match next(5) {
                    0 => {
                        world.remove(&key);
                    }
                    // back to a value a keyframe may hold
                    1 => {
                        world.insert(key, (0.0, 0.0));
                    }
                    _ => {
                        world.insert(key, (next(8) as f32, next(8) as f32));
                    }
                }
            }
            let rows: Vec<(u32, &str, f32, f32)> = world
                .iter()
                .map(|(k, (x, y))| (*k, names[*k as usize].as_str(), *x, *y))
                .collect();
            let bytes = frame(&mut enc, tick, &rows, tick as u32);
            if next(4) == 0 {
                continue; // missed
            }
            let Some(s) = m.apply_typed::<State>(&bytes).unwrap() else {
                continue;
            };
            let want: Vec<(u32, String, f32, f32)> = rows
                .iter()
                .map(|(k, id, x, y)| (*k, id.to_string(), *x, *y))
                .collect();
            assert_eq!(s.state, State(want, tick as u32), "tick {tick}");
            checked += 1;
        }
        assert!(checked > 1_000, "{checked}");
    }

    #[test]
    fn an_idle_world_costs_almost_nothing() {
        let mut enc = Encoder::new(&["id", "x", "y"], 30);
        let rows: Vec<(u32, String, f32, f32)> = (0..100)
            .map(|i| (i, format!("p{i}"), i as f32, 0.5))
            .collect();
        let refs: Vec<(u32, &str, f32, f32)> = rows
            .iter()
            .map(|(k, s, x, y)| (*k, s.as_str(), *x, *y))
            .collect();
        let key = frame(&mut enc, 1, &refs, 0).len();
        let idle = frame(&mut enc, 2, &refs, 0).len();
        assert!(key > 1500, "{key}");
        assert!(
            idle < 64,
            "an unchanged world's delta is just the envelope: {idle}"
        );
    }

    #[test]
    fn bad_rows_and_frames_are_refused() {
        let mut enc = Encoder::new(&["id", "x", "y"], 4);
        enc.begin();
        assert!(enc.push(1, &("only", 1)).is_err());
        assert!(enc.push(1, &5u8).is_err());
        assert!(enc.push(1, &Row("ok", 1.0, 2.0)).is_ok());
        let bytes = Bytes::copy_from_slice(enc.finish(1, &BTreeMap::<String, u32>::new(), &()));
        let mut m = Mirror::new();
        let s = m.apply_typed::<State>(&bytes);
        assert!(s.is_err(), "globals nil is not a u32");
        for cut in 0..bytes.len() {
            let _ = Mirror::new().apply(&bytes.slice(..cut));
        }
        assert!(
            Mirror::new()
                .apply(&bytes.slice(..bytes.len() - 1))
                .is_err()
        );
    }

    /// A declared row, written field by field, puts on the wire exactly what the same values
    /// serialized as an array do; a client reads rows back by field name, so a client whose
    /// row lacks a field the server added (or orders them otherwise) still reads its own.
    #[test]
    fn declared_rows_encode_like_arrays_and_read_back_by_name() {
        #[derive(Debug, PartialEq, super::Replicate)]
        struct ServerDisc {
            id: String,
            hp: u8,
            x: f32,
            y: f32,
        }
        #[derive(Debug, PartialEq, super::Replicate)]
        struct ClientDisc {
            y: f32,
            id: String,
            x: f32,
        }
        assert_eq!(ServerDisc::FIELDS, ["id", "hp", "x", "y"]);
        let mut declared = Encoder::for_row::<ServerDisc>(4);
        let mut plain = Encoder::new(&["id", "hp", "x", "y"], 4);
        let mut m = Mirror::new();
        for tick in 1..=6u64 {
            declared.begin();
            plain.begin();
            for k in 0..3u32 {
                let x = tick as f32 * (k as f32 + 1.0);
                let disc = ServerDisc {
                    id: format!("p{k}"),
                    hp: 100 - k as u8,
                    x,
                    y: 50.0,
                };
                declared.push_row(k, &disc).unwrap();
                plain.push(k, &(&disc.id, disc.hp, disc.x, disc.y)).unwrap();
            }
            let acks = BTreeMap::<String, u32>::new();
            let a = Bytes::copy_from_slice(declared.finish(tick, &acks, &()));
            let b = plain.finish(tick, &acks, &());
            assert_eq!(&a[..], b, "tick {tick}");
            m.apply(&a).unwrap();
            let rows = ClientDisc::read_rows(m.frame()).unwrap();
            assert_eq!(rows.len(), 3);
            assert_eq!(
                rows[2],
                (
                    2,
                    ClientDisc {
                        y: 50.0,
                        id: "p2".into(),
                        x: tick as f32 * 3.0
                    }
                )
            );
        }
        #[derive(Debug, PartialEq, super::Replicate)]
        struct Missing {
            id: String,
            mana: u32,
        }
        assert!(Missing::read_rows(m.frame()).is_err(), "no such field");
    }
}
