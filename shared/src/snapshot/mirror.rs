//! Reading keyframes and deltas back into full state: the client side of [`super`].

use std::collections::BTreeMap;

use bytes::Bytes;

use super::{
    Frame, FrameField, FrameKind, FrameRow, FromFrame, MAX_FIELDS, MAX_KINDS, Quant, Snapshot,
    Value, all_bits,
};
use crate::wire::{DecodeError, skip_value};

/// Rebuilds full state from keyframes and deltas, as a client does: the state after the last
/// snapshot applied, patched in place by each delta.
#[derive(Debug, Default, Clone)]
pub struct Mirror {
    /// The tick of the state held; `None` before the first keyframe.
    tick: Option<u64>,
    cur: Frame,
    /// Every seat: `(seat, player, last applied seq)`, by seat.
    seats: Vec<(u32, String, u32)>,
    /// Scratch for a delta being read: acks as `(index in seats, new seq)`.
    acks: Vec<(usize, u32)>,
    /// Scratch: each changed row as `(key, mask, its kind if it is new)`; its values follow
    /// in `values`, in order.
    changes: Vec<(u32, u64, Option<usize>)>,
    values: Vec<Value>,
    removed: Vec<u32>,
    /// Scratch: where the delta's globals start, if it has them.
    globals_at: Option<usize>,
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
        /// Last applied input per seated player id.
        acks: BTreeMap<String, u32>,
    },
    /// A delta against a snapshot this mirror does not hold (missed, or before it joined);
    /// wait for the next keyframe.
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
        let mut rd: &[u8] = bytes;
        let len = array_len(&mut rd)?;
        if !(5..=6).contains(&len) {
            return Err(DecodeError::Shape);
        }
        let tick: u64 = read_uint(&mut rd)?;
        let back: u64 = read_uint(&mut rd)?;
        if back == 0 {
            if len != 6 {
                return Err(DecodeError::Shape);
            }
            self.keyframe(bytes, rd, tick)?;
            return Ok(self.state(tick, true));
        }
        // A delta's base is a tick before its own, the first tick of a match being 1.
        if back >= tick {
            return Err(DecodeError::Shape);
        }
        if self.tick != Some(tick - back) {
            return Ok(Applied::NeedKeyframe);
        }
        self.read_delta(bytes, rd, len == 6)
            .inspect_err(|_| self.clear_scratch())?;
        self.apply_delta(bytes, tick);
        Ok(self.state(tick, false))
    }

    fn state(&self, tick: u64, keyframe: bool) -> Applied {
        Applied::State {
            tick,
            keyframe,
            acks: self
                .seats
                .iter()
                .map(|(_, player, seq)| (player.clone(), *seq))
                .collect(),
        }
    }

    fn keyframe(&mut self, bytes: &Bytes, mut rd: &[u8], tick: u64) -> Result<(), DecodeError> {
        let count = array_len(&mut rd)?;
        if count > MAX_KINDS {
            return Err(DecodeError::Shape);
        }
        let mut kinds: Vec<FrameKind> = Vec::with_capacity(count);
        for _ in 0..count {
            if array_len(&mut rd)? != 2 {
                return Err(DecodeError::Shape);
            }
            let name = read_str(&mut rd)?.to_owned();
            if kinds.iter().any(|k| k.name == name) {
                return Err(DecodeError::Shape);
            }
            let fields = read_fields(&mut rd)?;
            kinds.push(FrameKind { name, fields });
        }
        let len = array_len(&mut rd)?;
        if len % 3 != 0 {
            return Err(DecodeError::Shape);
        }
        // A seat takes at least 3 bytes: a length the bytes cannot hold allocates nothing.
        let mut seats = Vec::with_capacity((len / 3).min(rd.len() / 3));
        for _ in 0..len / 3 {
            let seat = read_uint(&mut rd)?;
            let player = read_str(&mut rd)?.to_owned();
            seats.push((seat, player, read_uint(&mut rd)?));
        }
        seats.sort_unstable_by_key(|(seat, _, _)| *seat);
        if array_len(&mut rd)? != kinds.len() {
            return Err(DecodeError::Shape);
        }
        let mut rows = BTreeMap::new();
        for (kind, spec) in kinds.iter().enumerate() {
            let n = spec.fields.len();
            let len = array_len(&mut rd)?;
            if len % (1 + n) != 0 {
                return Err(DecodeError::Shape);
            }
            for _ in 0..len / (1 + n) {
                let key = read_uint(&mut rd)?;
                let mut values = Vec::with_capacity(n);
                for f in &spec.fields {
                    values.push(read_field(bytes, &mut rd, f.quant.is_some())?);
                }
                // Keys are unique across kinds.
                if rows.insert(key, FrameRow { kind, values }).is_some() {
                    return Err(DecodeError::Shape);
                }
            }
        }
        let globals = slice_value(bytes, &mut rd)?;
        if !rd.is_empty() {
            return Err(DecodeError::Shape);
        }
        self.cur = Frame {
            kinds,
            rows,
            globals,
        };
        self.seats = seats;
        self.tick = Some(tick);
        Ok(())
    }

    /// Reads a delta into the scratch lists, checking it against the state held; changes
    /// nothing else.
    fn read_delta(
        &mut self,
        bytes: &Bytes,
        mut rd: &[u8],
        globals: bool,
    ) -> Result<(), DecodeError> {
        self.clear_scratch();
        // One increase per seat, in seat order, when the list is as long as the seat table;
        // else `[seat, increase]` pairs.
        let len = array_len(&mut rd)?;
        let positional = len == self.seats.len() && len > 0;
        if !positional && len % 2 != 0 {
            return Err(DecodeError::Shape);
        }
        for n in 0..if positional { len } else { len / 2 } {
            let i = if positional {
                n
            } else {
                let seat: u32 = read_uint(&mut rd)?;
                self.seats
                    .binary_search_by_key(&seat, |(s, _, _)| *s)
                    .map_err(|_| DecodeError::Shape)?
            };
            let d: i64 = read_sint(&mut rd)?;
            let seq =
                u32::try_from(i64::from(self.seats[i].2) + d).map_err(|_| DecodeError::Shape)?;
            self.acks.push((i, seq));
        }
        let mut left = array_len(&mut rd)?;
        // The server sends changes by ascending key, so a key above the last one read is new
        // to this delta; only keys out of order are looked for among the others.
        let mut ascending = true;
        while left > 0 {
            if left < 2 {
                return Err(DecodeError::Shape);
            }
            let key: u32 = read_uint(&mut rd)?;
            if self.changes.last().is_some_and(|(last, _, _)| *last >= key) {
                ascending = false;
                if self.changes.iter().any(|(k, _, _)| *k == key) {
                    return Err(DecodeError::Shape);
                }
            }
            // A mask with bit 63 set travels as a uint64 beyond i64.
            let mask = if rd.first() == Some(&0xcf) {
                let m: u64 = read_uint(&mut rd)?;
                i128::from(m)
            } else {
                i128::from(read_sint(&mut rd)?)
            };
            // A negative mask is a new row of kind -(mask + 1), whole; a positive one patches
            // the row held under the key, with its kind's fields.
            let (kind, mask, new) = if mask < 0 {
                let kind = usize::try_from(-(mask + 1)).map_err(|_| DecodeError::Shape)?;
                let fields = self.cur.kinds.get(kind).ok_or(DecodeError::Shape)?;
                (kind, all_bits(fields.fields.len()), true)
            } else {
                let row = self.cur.rows.get(&key).ok_or(DecodeError::Shape)?;
                let whole = all_bits(self.cur.kinds[row.kind].fields.len());
                let mask = mask as u64;
                if mask == 0 || mask & !whole != 0 {
                    return Err(DecodeError::Shape);
                }
                (row.kind, mask, false)
            };
            let count = mask.count_ones() as usize;
            if left - 2 < count {
                return Err(DecodeError::Shape);
            }
            self.changes.push((key, mask, new.then_some(kind)));
            let fields = &self.cur.kinds[kind].fields;
            for_bits(mask, |f| {
                let quantized = fields[f].quant.is_some();
                self.values.push(read_field(bytes, &mut rd, quantized)?);
                Ok(())
            })?;
            left -= 2 + count;
        }
        for _ in 0..array_len(&mut rd)? {
            let key = read_uint(&mut rd)?;
            // A key is changed or removed, never both.
            let changed = if ascending {
                self.changes
                    .binary_search_by_key(&key, |(k, _, _)| *k)
                    .is_ok()
            } else {
                self.changes.iter().any(|(k, _, _)| *k == key)
            };
            if changed {
                return Err(DecodeError::Shape);
            }
            self.removed.push(key);
        }
        if globals {
            self.globals_at = Some(bytes.len() - rd.len());
            skip_value(&mut rd)?;
        }
        if !rd.is_empty() {
            return Err(DecodeError::Shape);
        }
        Ok(())
    }

    /// Applies the delta [`read_delta`](Self::read_delta) checked.
    fn apply_delta(&mut self, bytes: &Bytes, tick: u64) {
        for &(i, seq) in &self.acks {
            self.seats[i].2 = seq;
        }
        for key in &self.removed {
            self.cur.rows.remove(key);
        }
        let mut values = self.values.drain(..);
        for &(key, mask, new) in &self.changes {
            if let Some(kind) = new {
                // A new row (or a new holder of the key): its values come whole, in order.
                let n = self.cur.kinds[kind].fields.len();
                let values = values.by_ref().take(n).collect();
                self.cur.rows.insert(key, FrameRow { kind, values });
                continue;
            }
            // `read_delta` checked that the row is held.
            let Some(row) = self.cur.rows.get_mut(&key) else {
                continue;
            };
            let fields = &self.cur.kinds[row.kind].fields;
            let _ = for_bits(mask, |f| {
                let Some(v) = values.next() else {
                    return Ok(());
                };
                row.values[f] = match (v, &row.values[f], fields[f].quant) {
                    (Value::Int(d), Value::Int(q), Some(quant)) => Value::Int(quant.apply(*q, d)),
                    (v, _, _) => v,
                };
                Ok(())
            });
        }
        drop(values);
        if let Some(at) = self.globals_at {
            // `read_delta` checked that the globals are the last value.
            self.cur.globals = bytes.slice(at..);
        }
        self.tick = Some(tick);
        self.clear_scratch();
    }

    fn clear_scratch(&mut self) {
        self.acks.clear();
        self.changes.clear();
        self.values.clear();
        self.removed.clear();
        self.globals_at = None;
    }

    /// The rows and globals after the last snapshot [`apply`](Self::apply) returned
    /// [`Applied::State`] for.
    pub fn frame(&self) -> &Frame {
        &self.cur
    }

    /// The seat of `player`, as the last keyframe gave it.
    pub fn seat_of(&self, player: &str) -> Option<u32> {
        self.seats
            .iter()
            .find(|(_, p, _)| p == player)
            .map(|(seat, _, _)| *seat)
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

    /// The tick of the state held (the base the next delta must name).
    pub fn tick(&self) -> Option<u64> {
        self.tick
    }
}

/// A kind's fields in a keyframe: each a raw field's name, or a quantized field's
/// `[name, step]` or `[name, step, modulo]`.
fn read_fields(rd: &mut &[u8]) -> Result<Vec<FrameField>, DecodeError> {
    let n = array_len(rd)?;
    if n > MAX_FIELDS {
        return Err(DecodeError::Shape);
    }
    let mut fields = Vec::with_capacity(n);
    for _ in 0..n {
        if let Ok(name) = read_str(rd) {
            fields.push(FrameField {
                name: name.to_owned(),
                quant: None,
            });
            continue;
        }
        let len = array_len(rd)?;
        if !(2..=3).contains(&len) {
            return Err(DecodeError::Shape);
        }
        let name = read_str(rd)?.to_owned();
        let step = read_step(rd)?;
        let modulo = if len == 3 {
            Some(read_uint::<u64>(rd)?)
        } else {
            None
        };
        if !(step.is_finite() && step > 0.0) || modulo == Some(0) {
            return Err(DecodeError::Shape);
        }
        fields.push(FrameField {
            name,
            quant: Some(Quant { step, modulo }),
        });
    }
    Ok(fields)
}

/// Calls `f` with the index of every bit set in `mask`, lowest first.
fn for_bits(
    mut mask: u64,
    mut f: impl FnMut(usize) -> Result<(), DecodeError>,
) -> Result<(), DecodeError> {
    while mask != 0 {
        f(mask.trailing_zeros() as usize)?;
        mask &= mask - 1;
    }
    Ok(())
}

/// One field's value: a quantized field's integer, or any msgpack value as it came.
fn read_field(bytes: &Bytes, rd: &mut &[u8], quantized: bool) -> Result<Value, DecodeError> {
    if quantized {
        read_sint(rd).map(Value::Int)
    } else {
        slice_value(bytes, rd).map(Value::Raw)
    }
}

fn slice_value(bytes: &Bytes, rd: &mut &[u8]) -> Result<Bytes, DecodeError> {
    let start = bytes.len() - rd.len();
    skip_value(rd)?;
    Ok(bytes.slice(start..bytes.len() - rd.len()))
}

/// A non-negative integer of any msgpack width that fits `T`.
fn read_uint<T: TryFrom<u64>>(rd: &mut &[u8]) -> Result<T, DecodeError> {
    let n: u64 = rmp::decode::read_int(rd).map_err(|_| DecodeError::Shape)?;
    T::try_from(n).map_err(|_| DecodeError::Shape)
}

/// A signed integer of any msgpack width.
fn read_sint(rd: &mut &[u8]) -> Result<i64, DecodeError> {
    rmp::decode::read_int(rd).map_err(|_| DecodeError::Shape)
}

fn read_str<'a>(rd: &mut &'a [u8]) -> Result<&'a str, DecodeError> {
    let (s, rest) = rmp::decode::read_str_from_slice(*rd).map_err(|_| DecodeError::Shape)?;
    *rd = rest;
    Ok(s)
}

/// A quantized field's step: a number, or the int `-n` for a step of `1 / n`.
fn read_step(rd: &mut &[u8]) -> Result<f64, DecodeError> {
    match rd.first() {
        Some(0xca) => rmp::decode::read_f32(rd).map(f64::from),
        Some(0xcb) => rmp::decode::read_f64(rd),
        _ => return read_sint(rd).map(|v| if v < 0 { 1.0 / -(v as f64) } else { v as f64 }),
    }
    .map_err(|_| DecodeError::Shape)
}

fn array_len(rd: &mut &[u8]) -> Result<usize, DecodeError> {
    rmp::decode::read_array_len(rd)
        .map(|n| n as usize)
        .map_err(|_| DecodeError::Shape)
}
