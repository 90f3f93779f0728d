//! Reading keyframes and deltas back into full state: the client side of [`super`].

use std::collections::BTreeMap;

use bytes::Bytes;
use serde::de::DeserializeOwned;

use super::{Frame, FromFrame, Snapshot};
use crate::wire::{DecodeError, skip_value};

/// Rebuilds full state from keyframes and deltas, as a client does.
///
/// The current state is kept and patched in place: a delta costs the rows it names (and the
/// rows the previous delta named, put back to the keyframe's values first), not a copy of
/// the whole state.
#[derive(Debug, Default, Clone)]
pub struct Mirror {
    key_tick: Option<u64>,
    key: Frame,
    /// The state after the last snapshot applied.
    cur: Frame,
    /// The rows in which `cur` may differ from `key`, with the fields that may
    /// ([`WHOLE_ROW`]: the row was added or removed).
    dirty: Vec<(u32, u64)>,
    /// Scratch: the rows the delta being applied changes, with its masks, sorted by key.
    named: Vec<(u32, u64)>,
}

/// What [`Mirror::apply`] made of a snapshot. The state itself is the mirror's
/// [`frame`](Mirror::frame), until the next snapshot is applied.
#[derive(Debug, Clone, PartialEq)]
pub enum Applied {
    /// The mirror holds the full state after this snapshot.
    State {
        /// Tick.
        tick: u64,
        /// Whether it was a keyframe.
        keyframe: bool,
        /// Acks.
        acks: BTreeMap<String, u32>,
    },
    /// A delta whose keyframe this mirror does not have (missed, or joined after it); wait
    /// for the next keyframe.
    NeedKeyframe,
}

impl Mirror {
    /// An empty mirror.
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies one snapshot (the `snapshot` event's argument). A snapshot that does not
    /// decode leaves the mirror as it was.
    pub fn apply(&mut self, bytes: &Bytes) -> Result<Applied, DecodeError> {
        let raw = parse(bytes)?;
        if let Some(fields) = raw.fields {
            let rows = raw.rows.unwrap_or_default();
            self.key = Frame {
                fields,
                rows,
                globals: raw.globals,
            };
            self.key_tick = Some(raw.tick);
            self.cur.clone_from(&self.key);
            self.dirty.clear();
            return Ok(Applied::State {
                tick: raw.tick,
                keyframe: true,
                acks: raw.acks,
            });
        }
        if self.key_tick != Some(raw.base) {
            return Ok(Applied::NeedKeyframe);
        }
        // What the previous delta changed and this one does not goes back to the keyframe's
        // values; the rest is overwritten below. Only those fields are touched: a row whose
        // fields all change every tick never reads the keyframe's copy.
        self.named.clear();
        self.named
            .extend(raw.changed.iter().map(|(key, mask, _)| (*key, *mask)));
        self.named.sort_unstable_by_key(|(key, _)| *key);
        for (key, was_changed) in self.dirty.drain(..) {
            let changes = self
                .named
                .binary_search_by_key(&key, |(k, _)| *k)
                .map_or(0, |i| self.named[i].1);
            let restore = was_changed & !changes;
            match (self.cur.rows.get_mut(&key), self.key.rows.get(&key)) {
                (Some(row), Some(was)) => {
                    for_bits(restore, row.len(), |i| {
                        if let Some(v) = was.get(i) {
                            row[i].clone_from(v);
                        }
                    });
                }
                // added since the keyframe: if this delta still has it, it is rebuilt below
                (Some(_), None) => {
                    self.cur.rows.remove(&key);
                }
                // (removed since the keyframe; unless it still is)
                (None, Some(was)) if !raw.removed.contains(&key) => {
                    self.cur.rows.insert(key, was.clone());
                }
                (None, _) => {}
            }
        }
        self.cur.globals = raw.globals;
        for key in raw.removed {
            if self.cur.rows.remove(&key).is_some() || self.key.rows.contains_key(&key) {
                self.dirty.push((key, WHOLE_ROW));
            }
        }
        let n = self.cur.fields.len();
        for (key, mask, values) in raw.changed {
            let row = self.cur.rows.entry(key).or_insert_with(|| vec![nil(); n]);
            // `parse` checked there is one value per mask bit.
            let mut values = values.into_iter();
            for_bits(mask, row.len(), |i| {
                if let Some(v) = values.next() {
                    row[i] = v;
                }
            });
            let changed = if self.key.rows.contains_key(&key) {
                mask
            } else {
                WHOLE_ROW
            };
            self.dirty.push((key, changed));
        }
        Ok(Applied::State {
            tick: raw.tick,
            keyframe: false,
            acks: raw.acks,
        })
    }

    /// The rows and globals after the last snapshot [`apply`](Self::apply) returned
    /// [`Applied::State`] for.
    pub fn frame(&self) -> &Frame {
        &self.cur
    }

    /// Types the state `applied` describes, which must be what the last [`apply`](Self::apply)
    /// returned; `None` while waiting for a keyframe.
    pub fn typed<S: FromFrame>(
        &self,
        applied: Applied,
    ) -> Result<Option<Snapshot<S>>, DecodeError> {
        match applied {
            Applied::NeedKeyframe => Ok(None),
            Applied::State {
                tick,
                keyframe,
                acks,
            } => Ok(Some(Snapshot {
                tick,
                keyframe,
                acks,
                state: S::from_frame(&self.cur)?,
            })),
        }
    }

    /// Applies one snapshot and types the state; `None` while waiting for a keyframe.
    pub fn apply_typed<S: FromFrame>(
        &mut self,
        bytes: &Bytes,
    ) -> Result<Option<Snapshot<S>>, DecodeError> {
        let applied = self.apply(bytes)?;
        self.typed(applied)
    }

    /// The tick of the keyframe deltas are applied to.
    pub fn keyframe_tick(&self) -> Option<u64> {
        self.key_tick
    }
}

/// msgpack nil, the value of a field a row never had.
fn nil() -> Bytes {
    Bytes::from_static(&[0xc0])
}

/// A [`Mirror`]'s mark for a row that was added or removed since the keyframe.
const WHOLE_ROW: u64 = u64::MAX;

/// Calls `f` with the index of every bit set in `mask` below `len` (and [`MAX_FIELDS`](super::MAX_FIELDS)).
fn for_bits(mut mask: u64, len: usize, mut f: impl FnMut(usize)) {
    while mask != 0 {
        let i = mask.trailing_zeros() as usize;
        if i >= len {
            break;
        }
        f(i);
        mask &= mask - 1;
    }
}

struct Raw {
    tick: u64,
    base: u64,
    acks: BTreeMap<String, u32>,
    fields: Option<Vec<String>>,
    rows: Option<BTreeMap<u32, Vec<Bytes>>>,
    changed: Vec<(u32, u64, Vec<Bytes>)>,
    removed: Vec<u32>,
    globals: Bytes,
}

fn slice_value(bytes: &Bytes, rd: &mut &[u8]) -> Result<Bytes, DecodeError> {
    let start = bytes.len() - rd.len();
    skip_value(rd)?;
    Ok(bytes.slice(start..bytes.len() - rd.len()))
}

fn decode_value<T: DeserializeOwned>(bytes: &Bytes, rd: &mut &[u8]) -> Result<T, DecodeError> {
    let v = slice_value(bytes, rd)?;
    rmp_serde::from_slice(&v).map_err(|_| DecodeError::Shape)
}

/// An integer of any msgpack width that fits `T`.
fn read_int<T: TryFrom<u64>>(rd: &mut &[u8]) -> Result<T, DecodeError> {
    let n: u64 = rmp::decode::read_int(rd).map_err(|_| DecodeError::Shape)?;
    T::try_from(n).map_err(|_| DecodeError::Shape)
}

fn map_len(rd: &mut &[u8]) -> Result<usize, DecodeError> {
    rmp::decode::read_map_len(rd)
        .map(|n| n as usize)
        .map_err(|_| DecodeError::Shape)
}

fn array_len(rd: &mut &[u8]) -> Result<usize, DecodeError> {
    rmp::decode::read_array_len(rd)
        .map(|n| n as usize)
        .map_err(|_| DecodeError::Shape)
}

fn parse(bytes: &Bytes) -> Result<Raw, DecodeError> {
    let mut rd: &[u8] = bytes;
    let n = rmp::decode::read_map_len(&mut rd).map_err(|_| DecodeError::NotAMap)?;
    let mut raw = Raw {
        tick: 0,
        base: 0,
        acks: BTreeMap::new(),
        fields: None,
        rows: None,
        changed: Vec::new(),
        removed: Vec::new(),
        globals: Bytes::from_static(&[0xc0]),
    };
    for _ in 0..n {
        let (key, rest) = rmp::decode::read_str_from_slice(rd).map_err(|_| DecodeError::Shape)?;
        rd = rest;
        match key {
            "tick" => raw.tick = read_int(&mut rd)?,
            "base" => raw.base = read_int(&mut rd)?,
            "acks" => {
                for _ in 0..map_len(&mut rd)? {
                    let (player, rest) =
                        rmp::decode::read_str_from_slice(rd).map_err(|_| DecodeError::Shape)?;
                    rd = rest;
                    raw.acks.insert(player.to_owned(), read_int(&mut rd)?);
                }
            }
            "fields" => raw.fields = Some(decode_value(bytes, &mut rd)?),
            "removed" => raw.removed = decode_value(bytes, &mut rd)?,
            "globals" => raw.globals = slice_value(bytes, &mut rd)?,
            "rows" => {
                let mut rows = BTreeMap::new();
                for _ in 0..array_len(&mut rd)? {
                    let len = array_len(&mut rd)?;
                    if len == 0 {
                        return Err(DecodeError::Shape);
                    }
                    let key: u32 = read_int(&mut rd)?;
                    let mut values = Vec::with_capacity(len - 1);
                    for _ in 1..len {
                        values.push(slice_value(bytes, &mut rd)?);
                    }
                    rows.insert(key, values);
                }
                raw.rows = Some(rows);
            }
            "changed" => {
                for _ in 0..array_len(&mut rd)? {
                    let len = array_len(&mut rd)?;
                    if len < 2 {
                        return Err(DecodeError::Shape);
                    }
                    let key: u32 = read_int(&mut rd)?;
                    let mask: u64 = read_int(&mut rd)?;
                    let mut values = Vec::with_capacity(len - 2);
                    for _ in 2..len {
                        values.push(slice_value(bytes, &mut rd)?);
                    }
                    if values.len() != mask.count_ones() as usize {
                        return Err(DecodeError::Shape);
                    }
                    raw.changed.push((key, mask, values));
                }
            }
            _ => skip_value(&mut rd)?,
        }
    }
    Ok(raw)
}
