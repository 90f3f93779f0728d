//! Reading keyframes and deltas back into full state: the client side of [`super`].

use std::collections::BTreeMap;

use bytes::Bytes;

use super::{Frame, FrameField, FromFrame, MAX_FIELDS, Quant, Snapshot, Value, all_bits};
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
    /// Scratch: each changed row as `(key, mask, index of its first value in values)`.
    changes: Vec<(u32, u64, usize)>,
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
        let base: u64 = read_uint(&mut rd)?;
        if base == 0 {
            if len != 6 {
                return Err(DecodeError::Shape);
            }
            self.keyframe(bytes, rd, tick)?;
            return Ok(self.state(tick, true));
        }
        if self.tick != Some(base) {
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
        let n = array_len(&mut rd)?;
        if n > MAX_FIELDS {
            return Err(DecodeError::Shape);
        }
        let mut fields = Vec::with_capacity(n);
        for _ in 0..n {
            if array_len(&mut rd)? != 3 {
                return Err(DecodeError::Shape);
            }
            let name = read_str(&mut rd)?.to_owned();
            let step = read_opt_f64(&mut rd)?;
            let modulo = if read_nil(&mut rd) {
                None
            } else {
                Some(read_uint::<u64>(&mut rd)?)
            };
            let quant = match (step, modulo) {
                (None, None) => None,
                (Some(step), _) if step.is_finite() && step > 0.0 && modulo != Some(0) => {
                    Some(Quant { step, modulo })
                }
                _ => return Err(DecodeError::Shape),
            };
            fields.push(FrameField { name, quant });
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
        let len = array_len(&mut rd)?;
        if len % (1 + n) != 0 {
            return Err(DecodeError::Shape);
        }
        let mut rows = BTreeMap::new();
        for _ in 0..len / (1 + n) {
            let key = read_uint(&mut rd)?;
            let mut row = Vec::with_capacity(n);
            for f in &fields {
                row.push(read_field(bytes, &mut rd, f.quant.is_some())?);
            }
            rows.insert(key, row);
        }
        let globals = slice_value(bytes, &mut rd)?;
        if !rd.is_empty() {
            return Err(DecodeError::Shape);
        }
        self.cur = Frame {
            fields,
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
        let n = self.cur.fields.len();
        let whole = all_bits(n);
        let mut left = array_len(&mut rd)?;
        while left > 0 {
            if left < 2 {
                return Err(DecodeError::Shape);
            }
            let key: u32 = read_uint(&mut rd)?;
            let mask: u64 = read_uint(&mut rd)?;
            let count = mask.count_ones() as usize;
            // A row must exist to be patched; a new one comes whole.
            if mask & !whole != 0
                || left - 2 < count
                || (!self.cur.rows.contains_key(&key) && mask != whole)
            {
                return Err(DecodeError::Shape);
            }
            self.changes.push((key, mask, self.values.len()));
            for_bits(mask, |f| {
                let quantized = self.cur.fields[f].quant.is_some();
                self.values.push(read_field(bytes, &mut rd, quantized)?);
                Ok(())
            })?;
            left -= 2 + count;
        }
        for _ in 0..array_len(&mut rd)? {
            self.removed.push(read_uint(&mut rd)?);
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
        let n = self.cur.fields.len();
        let mut values = self.values.drain(..);
        for &(key, mask, _) in &self.changes {
            let row = self
                .cur
                .rows
                .entry(key)
                .or_insert_with(|| Vec::with_capacity(n));
            if row.len() < n {
                // A new row: its values come whole, in field order.
                row.clear();
                row.extend(values.by_ref().take(n));
                continue;
            }
            let _ = for_bits(mask, |f| {
                let Some(v) = values.next() else {
                    return Ok(());
                };
                row[f] = match (v, &row[f], self.cur.fields[f].quant) {
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

/// Consumes a nil if one is next.
fn read_nil(rd: &mut &[u8]) -> bool {
    if rd.first() == Some(&0xc0) {
        *rd = &rd[1..];
        true
    } else {
        false
    }
}

/// nil, or a number (any msgpack float or integer) as an `f64`.
fn read_opt_f64(rd: &mut &[u8]) -> Result<Option<f64>, DecodeError> {
    if read_nil(rd) {
        return Ok(None);
    }
    match rd.first() {
        Some(0xca) => rmp::decode::read_f32(rd).map(|v| Some(f64::from(v))),
        Some(0xcb) => rmp::decode::read_f64(rd).map(Some),
        _ => return read_sint(rd).map(|v| Some(v as f64)),
    }
    .map_err(|_| DecodeError::Shape)
}

fn array_len(rd: &mut &[u8]) -> Result<usize, DecodeError> {
    rmp::decode::read_array_len(rd)
        .map(|n| n as usize)
        .map_err(|_| DecodeError::Shape)
}
