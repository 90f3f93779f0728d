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

use std::collections::BTreeMap;

use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::wire::{DecodeError, skip_value};

/// Most fields a row may have (the delta mask is a `u64`).
pub const MAX_FIELDS: usize = 64;

#[derive(Debug, Clone, Copy)]
struct RowIdx {
    key: u32,
    /// Index into `offsets` of this row's first field start; `fields + 1` offsets follow.
    at: u32,
}

/// One tick's rows, encoded: field bytes in `buf`, field boundaries in `offsets`.
#[derive(Debug, Default, Clone)]
struct RowSet {
    buf: Vec<u8>,
    rows: Vec<RowIdx>,
    offsets: Vec<u32>,
}

impl RowSet {
    fn clear(&mut self) {
        self.buf.clear();
        self.rows.clear();
        self.offsets.clear();
    }

    fn field<'a>(&'a self, r: &RowIdx, i: usize) -> &'a [u8] {
        let a = self.offsets[r.at as usize + i] as usize;
        let b = self.offsets[r.at as usize + i + 1] as usize;
        &self.buf[a..b]
    }

    fn all_fields<'a>(&'a self, r: &RowIdx, n: usize) -> &'a [u8] {
        let a = self.offsets[r.at as usize] as usize;
        let b = self.offsets[r.at as usize + n] as usize;
        &self.buf[a..b]
    }
}

/// Why a row was not added.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RowError {
    /// The row did not serialize as a msgpack array of exactly the declared fields.
    #[error("row does not serialize as an array of {expected} fields")]
    Shape {
        /// The declared field count.
        expected: usize,
    },
}

/// Writes snapshots: collects a tick's rows, then encodes a keyframe or a delta against the
/// last keyframe. Every buffer is reused, so after warm-up encoding allocates nothing.
#[derive(Debug)]
pub struct Encoder {
    fields: Vec<String>,
    keyframe_interval: u32,
    cur: RowSet,
    key: RowSet,
    key_tick: u64,
    since_key: u32,
    force_key: bool,
    changes: Vec<(usize, u64)>,
    removed: Vec<u32>,
    out: Vec<u8>,
    last_was_keyframe: bool,
}

impl Encoder {
    /// An encoder for rows with these `fields`, sending a keyframe every `keyframe_interval`
    /// ticks (1: every snapshot is a keyframe).
    pub fn new(fields: &[&str], keyframe_interval: u32) -> Self {
        Self {
            fields: fields.iter().map(|f| (*f).to_owned()).collect(),
            keyframe_interval: keyframe_interval.max(1),
            cur: RowSet::default(),
            key: RowSet::default(),
            key_tick: 0,
            since_key: 0,
            force_key: true,
            changes: Vec::new(),
            removed: Vec::new(),
            out: Vec::with_capacity(256),
            last_was_keyframe: false,
        }
    }

    /// Field names, in order.
    pub fn fields(&self) -> &[String] {
        &self.fields
    }

    /// Starts a tick's rows.
    pub fn begin(&mut self) {
        self.cur.clear();
    }

    /// Adds one row. `row` must serialize as a msgpack array with one element per field (a
    /// struct does, with rmp-serde's default array encoding). Keys must be unique in a tick.
    pub fn push<R: Serialize + ?Sized>(&mut self, key: u32, row: &R) -> Result<(), RowError> {
        let n = self.fields.len();
        let start = self.cur.buf.len();
        let bad = RowError::Shape { expected: n };
        if row
            .serialize(&mut rmp_serde::Serializer::new(&mut self.cur.buf))
            .is_err()
        {
            self.cur.buf.truncate(start);
            return Err(bad);
        }
        let at = self.cur.offsets.len();
        let ok = {
            let mut rd = &self.cur.buf[start..];
            match rmp::decode::read_array_len(&mut rd) {
                Ok(len) if len as usize == n => {
                    let mut pos = self.cur.buf.len() - rd.len();
                    let mut fine = true;
                    for _ in 0..n {
                        self.cur.offsets.push(pos as u32);
                        if skip_value(&mut rd).is_err() {
                            fine = false;
                            break;
                        }
                        pos = self.cur.buf.len() - rd.len();
                    }
                    self.cur.offsets.push(pos as u32);
                    fine
                }
                _ => false,
            }
        };
        if !ok {
            self.cur.buf.truncate(start);
            self.cur.offsets.truncate(at);
            return Err(bad);
        }
        self.cur.rows.push(RowIdx { key, at: at as u32 });
        Ok(())
    }

    /// Makes the next snapshot a keyframe (e.g. after a client joined).
    pub fn request_keyframe(&mut self) {
        self.force_key = true;
    }

    /// Whether the last snapshot [`finish`](Self::finish) wrote was a keyframe.
    pub fn last_was_keyframe(&self) -> bool {
        self.last_was_keyframe
    }

    /// Encodes the snapshot of `tick` with the rows pushed since [`begin`](Self::begin).
    /// `acks` and `globals` are serialized with structs as maps.
    pub fn finish<A: Serialize + ?Sized, G: Serialize + ?Sized>(
        &mut self,
        tick: u64,
        acks: &A,
        globals: &G,
    ) -> &[u8] {
        self.cur.rows.sort_unstable_by_key(|r| r.key);
        self.cur.rows.dedup_by_key(|r| r.key);
        let keyframe = self.force_key || self.since_key + 1 >= self.keyframe_interval;
        self.out.clear();
        let out = &mut self.out;
        let _ = rmp::encode::write_map_len(out, 6);
        let _ = rmp::encode::write_str(out, "tick");
        let _ = rmp::encode::write_uint(out, tick);
        let _ = rmp::encode::write_str(out, "acks");
        let _ = acks.serialize(&mut rmp_serde::Serializer::new(&mut *out).with_struct_map());
        let _ = rmp::encode::write_str(out, "base");
        let n = self.fields.len();
        if keyframe {
            let _ = rmp::encode::write_uint(out, tick);
            let _ = rmp::encode::write_str(out, "fields");
            let _ = rmp::encode::write_array_len(out, n as u32);
            for f in &self.fields {
                let _ = rmp::encode::write_str(out, f);
            }
            let _ = rmp::encode::write_str(out, "rows");
            let _ = rmp::encode::write_array_len(out, self.cur.rows.len() as u32);
            for r in &self.cur.rows {
                let _ = rmp::encode::write_array_len(out, 1 + n as u32);
                let _ = rmp::encode::write_uint(out, u64::from(r.key));
                out.extend_from_slice(self.cur.all_fields(r, n));
            }
        } else {
            let _ = rmp::encode::write_uint(out, self.key_tick);
            self.changes.clear();
            self.removed.clear();
            let (cur, key) = (&self.cur, &self.key);
            let (mut i, mut j) = (0, 0);
            while i < cur.rows.len() || j < key.rows.len() {
                let ck = cur.rows.get(i).map(|r| r.key);
                let kk = key.rows.get(j).map(|r| r.key);
                match (ck, kk) {
                    (Some(c), Some(k)) if c == k => {
                        let mut mask = 0u64;
                        for f in 0..n {
                            if cur.field(&cur.rows[i], f) != key.field(&key.rows[j], f) {
                                mask |= 1 << f;
                            }
                        }
                        if mask != 0 {
                            self.changes.push((i, mask));
                        }
                        i += 1;
                        j += 1;
                    }
                    (Some(c), k) if k.is_none_or(|k| c < k) => {
                        self.changes.push((i, all_bits(n)));
                        i += 1;
                    }
                    (_, Some(k)) => {
                        self.removed.push(k);
                        j += 1;
                    }
                    (_, None) => break,
                }
            }
            let _ = rmp::encode::write_str(out, "changed");
            let _ = rmp::encode::write_array_len(out, self.changes.len() as u32);
            for &(i, mask) in &self.changes {
                let r = &cur.rows[i];
                let _ = rmp::encode::write_array_len(out, 2 + mask.count_ones());
                let _ = rmp::encode::write_uint(out, u64::from(r.key));
                let _ = rmp::encode::write_uint(out, mask);
                for f in 0..n {
                    if mask & (1 << f) != 0 {
                        out.extend_from_slice(cur.field(r, f));
                    }
                }
            }
            let _ = rmp::encode::write_str(out, "removed");
            let _ = rmp::encode::write_array_len(out, self.removed.len() as u32);
            for k in &self.removed {
                let _ = rmp::encode::write_uint(out, u64::from(*k));
            }
        }
        let _ = rmp::encode::write_str(out, "globals");
        let _ = globals.serialize(&mut rmp_serde::Serializer::new(&mut *out).with_struct_map());
        if keyframe {
            self.key.buf.clone_from(&self.cur.buf);
            self.key.rows.clone_from(&self.cur.rows);
            self.key.offsets.clone_from(&self.cur.offsets);
            self.key_tick = tick;
            self.since_key = 0;
            self.force_key = false;
        } else {
            self.since_key += 1;
        }
        self.last_was_keyframe = keyframe;
        &self.out
    }

    /// The last snapshot encoded.
    pub fn last(&self) -> &[u8] {
        &self.out
    }
}

fn all_bits(n: usize) -> u64 {
    if n >= 64 { u64::MAX } else { (1u64 << n) - 1 }
}

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

/// Calls `f` with the index of every bit set in `mask` below `len` (and [`MAX_FIELDS`]).
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

#[cfg(test)]
mod tests {
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
}
