//! Writing keyframes and deltas: the server side of [`super`].

use serde::Serialize;

use super::replicate::{Replicate, RowWriter};
use super::{Field, Kind, MAX_FIELDS, MAX_KINDS, all_bits};

#[derive(Debug, Clone, Copy)]
struct RowIdx {
    key: u32,
    /// The row's kind (an index into the encoder's kinds).
    kind: u16,
    /// Which entity holds the key (its generation): a key that comes back with another tag
    /// is a new row, sent whole, not a change of the old one.
    tag: u32,
    /// Index into `offsets` of this row's first field start; `fields + 1` offsets follow.
    at: u32,
    /// Index into `ints` of this row's first field's integer; `fields` follow.
    int_at: u32,
}

/// One snapshot's rows, encoded: field bytes in `buf`, field boundaries in `offsets`, and each
/// quantized field's integer in `ints` (0 for the others).
#[derive(Debug, Default, Clone)]
struct RowSet {
    buf: Vec<u8>,
    rows: Vec<RowIdx>,
    offsets: Vec<u32>,
    ints: Vec<i64>,
}

impl RowSet {
    fn clear(&mut self) {
        self.buf.clear();
        self.rows.clear();
        self.offsets.clear();
        self.ints.clear();
    }

    fn field<'a>(&'a self, r: &RowIdx, i: usize) -> &'a [u8] {
        let a = self.offsets[r.at as usize + i] as usize;
        let b = self.offsets[r.at as usize + i + 1] as usize;
        &self.buf[a..b]
    }

    fn int(&self, r: &RowIdx, i: usize) -> i64 {
        self.ints[r.int_at as usize + i]
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
    /// A field did not serialize, or was declared quantized and written otherwise.
    #[error("a row field does not serialize as declared")]
    Field,
    /// The row wrote another number of fields than its kind's.
    #[error("the row does not have its kind's {expected} fields")]
    Shape {
        /// The kind's field count.
        expected: usize,
    },
    /// The encoder has no kind of this index.
    #[error("the encoder has no kind {0}")]
    UnknownKind(usize),
}

/// One kind's fields, with each field's `1 / step` (0 for raw fields), so quantizing
/// multiplies.
#[derive(Debug)]
struct KindSpec {
    name: &'static str,
    fields: Vec<Field>,
    inverses: Vec<f64>,
}

/// Writes snapshots: collects a snapshot's rows (of one or more [`Kind`]s), then encodes a
/// keyframe, or a delta against the previous snapshot. Every buffer is reused, so after
/// warm-up encoding allocates nothing (but when the seat table changes).
#[derive(Debug)]
pub struct Encoder {
    kinds: Vec<KindSpec>,
    keyframe_interval: u32,
    cur: RowSet,
    prev: RowSet,
    /// The tick of the previous snapshot; 0 before the first.
    prev_tick: u64,
    since_key: u32,
    force_key: bool,
    /// `(seat, seq)` of the previous snapshot, by seat.
    acks: Vec<(u32, u32)>,
    /// Scratch for this snapshot's `(seat, seq)`.
    next_acks: Vec<(u32, u32)>,
    /// The seat table of the last keyframe: `(seat, player)`, by seat.
    seat_ids: Vec<(u32, String)>,
    globals: Vec<u8>,
    prev_globals: Vec<u8>,
    /// Scratch: each changed row's index in `cur`, in `prev` if it was there, and its mask.
    changes: Vec<(usize, Option<usize>, u64)>,
    removed: Vec<u32>,
    out: Vec<u8>,
    last_was_keyframe: bool,
}

impl Encoder {
    /// An encoder for rows of these `kinds` (at most [`MAX_KINDS`], each of at most
    /// [`MAX_FIELDS`] fields, names unique), sending a keyframe every `keyframe_interval`
    /// snapshots (1: every snapshot is a keyframe). A kind's index in `kinds` is the index
    /// [`push`](Self::push) takes.
    pub fn new(kinds: &[Kind], keyframe_interval: u32) -> Self {
        assert!(kinds.len() <= MAX_KINDS, "at most {MAX_KINDS} kinds");
        for (i, k) in kinds.iter().enumerate() {
            assert!(k.fields.len() <= MAX_FIELDS, "at most {MAX_FIELDS} fields");
            assert!(
                kinds[..i].iter().all(|o| o.name != k.name),
                "two kinds are named {:?}",
                k.name
            );
        }
        Self {
            kinds: kinds
                .iter()
                .map(|k| KindSpec {
                    name: k.name,
                    fields: k.fields.to_vec(),
                    inverses: k
                        .fields
                        .iter()
                        .map(|f| f.quant.map_or(0.0, |q| 1.0 / q.step))
                        .collect(),
                })
                .collect(),
            keyframe_interval: keyframe_interval.max(1),
            cur: RowSet::default(),
            prev: RowSet::default(),
            prev_tick: 0,
            since_key: 0,
            force_key: true,
            acks: Vec::new(),
            next_acks: Vec::new(),
            seat_ids: Vec::new(),
            globals: Vec::new(),
            prev_globals: Vec::new(),
            changes: Vec::new(),
            removed: Vec::new(),
            out: Vec::with_capacity(256),
            last_was_keyframe: false,
        }
    }

    /// An encoder for rows of one kind, the declared type `R`.
    pub fn for_row<R: Replicate>(keyframe_interval: u32) -> Self {
        Self::new(&[Kind::of::<R>()], keyframe_interval)
    }

    /// The fields of kind `kind`, in order (empty for a kind the encoder does not have).
    pub fn fields(&self, kind: usize) -> &[Field] {
        self.kinds.get(kind).map_or(&[], |k| &k.fields)
    }

    /// The number of kinds.
    pub fn kind_count(&self) -> usize {
        self.kinds.len()
    }

    /// Starts a snapshot's rows.
    pub fn begin(&mut self) {
        self.cur.clear();
    }

    /// Adds one row of kind 0 with tag 0: for an encoder made for `R`
    /// ([`for_row`](Self::for_row)).
    pub fn push_row<R: Replicate>(&mut self, key: u32, row: &R) -> Result<(), RowError> {
        self.push(0, key, 0, row)
    }

    /// Adds one row of kind `kind` (whose fields `R` must write). Keys are unique in a
    /// snapshot, across kinds: of rows pushed with the same key, the one of the lowest kind is
    /// sent (of one kind, any one). `tag` tells
    /// apart the holders of one key over time (an entity's generation): a key whose tag or
    /// kind changed since the previous snapshot is sent as a new row.
    pub fn push<R: Replicate>(
        &mut self,
        kind: usize,
        key: u32,
        tag: u32,
        row: &R,
    ) -> Result<(), RowError> {
        let spec = self.kinds.get(kind).ok_or(RowError::UnknownKind(kind))?;
        let n = spec.fields.len();
        let (start, at, int_at) = (
            self.cur.buf.len(),
            self.cur.offsets.len(),
            self.cur.ints.len(),
        );
        let written = row.write_fields(&mut RowWriter {
            fields: &spec.fields,
            inverses: &spec.inverses,
            buf: &mut self.cur.buf,
            offsets: &mut self.cur.offsets,
            ints: &mut self.cur.ints,
            next: 0,
        });
        let written = written.and_then(|()| {
            if self.cur.offsets.len() - at == n {
                Ok(())
            } else {
                Err(RowError::Shape { expected: n })
            }
        });
        if let Err(e) = written {
            self.cur.buf.truncate(start);
            self.cur.offsets.truncate(at);
            self.cur.ints.truncate(int_at);
            return Err(e);
        }
        self.cur.offsets.push(self.cur.buf.len() as u32);
        self.cur.rows.push(RowIdx {
            key,
            kind: kind as u16,
            tag,
            at: at as u32,
            int_at: int_at as u32,
        });
        Ok(())
    }

    /// Makes the next snapshot a keyframe (after a client joined, or a snapshot was lost
    /// before it reached the clients).
    pub fn request_keyframe(&mut self) {
        self.force_key = true;
    }

    /// Whether the next snapshot will be a keyframe because one was requested.
    pub fn keyframe_requested(&self) -> bool {
        self.force_key
    }

    /// Whether the last snapshot [`finish`](Self::finish) wrote was a keyframe.
    pub fn last_was_keyframe(&self) -> bool {
        self.last_was_keyframe
    }

    /// Encodes the snapshot of `tick` with the rows pushed since [`begin`](Self::begin), the
    /// seated players as `(seat, player, last applied seq)` (each seat once), and the
    /// globals (structs as maps). A keyframe when one is due or was requested, or the seat
    /// table changed; else a delta against the previous snapshot.
    pub fn finish<'a, S, G>(&mut self, tick: u64, seats: S, globals: &G) -> &[u8]
    where
        S: Iterator<Item = (u32, &'a str, u32)> + Clone,
        G: Serialize + ?Sized,
    {
        // Of rows with one key, the one of the first kind stays (in place: no allocation).
        self.cur.rows.sort_unstable_by_key(|r| (r.key, r.kind));
        self.cur.rows.dedup_by_key(|r| r.key);
        self.next_acks.clear();
        let mut seats_changed = false;
        for (seat, player, seq) in seats.clone() {
            self.next_acks.push((seat, seq));
            let known = self
                .seat_ids
                .binary_search_by_key(&seat, |(s, _)| *s)
                .is_ok_and(|i| self.seat_ids[i].1 == player);
            seats_changed |= !known;
        }
        seats_changed |= self.next_acks.len() != self.seat_ids.len();
        self.next_acks.sort_unstable_by_key(|(seat, _)| *seat);
        if seats_changed {
            self.seat_ids.clear();
            self.seat_ids
                .extend(seats.map(|(seat, player, _)| (seat, player.to_owned())));
            self.seat_ids.sort_unstable_by_key(|(seat, _)| *seat);
        }
        self.globals.clear();
        let _ =
            globals.serialize(&mut rmp_serde::Serializer::new(&mut self.globals).with_struct_map());
        let keyframe = self.force_key
            || seats_changed
            || self.prev_tick == 0
            || self.since_key + 1 >= self.keyframe_interval;
        self.out.clear();
        if keyframe {
            self.write_keyframe(tick);
            self.since_key = 0;
            self.force_key = false;
        } else {
            self.write_delta(tick);
            self.since_key += 1;
        }
        std::mem::swap(&mut self.cur, &mut self.prev);
        std::mem::swap(&mut self.acks, &mut self.next_acks);
        std::mem::swap(&mut self.globals, &mut self.prev_globals);
        self.prev_tick = tick;
        self.last_was_keyframe = keyframe;
        &self.out
    }

    fn write_keyframe(&mut self, tick: u64) {
        let out = &mut self.out;
        let _ = rmp::encode::write_array_len(out, 6);
        let _ = rmp::encode::write_uint(out, tick);
        let _ = rmp::encode::write_uint(out, 0);
        let _ = rmp::encode::write_array_len(out, self.kinds.len() as u32);
        for kind in &self.kinds {
            let _ = rmp::encode::write_array_len(out, 2);
            let _ = rmp::encode::write_str(out, kind.name);
            let _ = rmp::encode::write_array_len(out, kind.fields.len() as u32);
            for f in &kind.fields {
                let _ = rmp::encode::write_array_len(out, 3);
                let _ = rmp::encode::write_str(out, f.name);
                match f.quant {
                    Some(q) => {
                        let _ = rmp::encode::write_f64(out, q.step);
                        match q.modulo {
                            Some(m) => {
                                let _ = rmp::encode::write_uint(out, m);
                            }
                            None => {
                                let _ = rmp::encode::write_nil(out);
                            }
                        }
                    }
                    None => {
                        let _ = rmp::encode::write_nil(out);
                        let _ = rmp::encode::write_nil(out);
                    }
                }
            }
        }
        let _ = rmp::encode::write_array_len(out, 3 * self.seat_ids.len() as u32);
        for ((seat, player), (_, seq)) in self.seat_ids.iter().zip(&self.next_acks) {
            let _ = rmp::encode::write_uint(out, u64::from(*seat));
            let _ = rmp::encode::write_str(out, player);
            let _ = rmp::encode::write_uint(out, u64::from(*seq));
        }
        // One list a kind, in the schema's order; with one kind, one pass over the rows.
        let _ = rmp::encode::write_array_len(out, self.kinds.len() as u32);
        for (k, kind) in self.kinds.iter().enumerate() {
            let n = kind.fields.len();
            let of_kind = |r: &&RowIdx| usize::from(r.kind) == k;
            let count = if self.kinds.len() == 1 {
                self.cur.rows.len()
            } else {
                self.cur.rows.iter().filter(of_kind).count()
            };
            let _ = rmp::encode::write_array_len(out, ((1 + n) * count) as u32);
            for r in self.cur.rows.iter().filter(of_kind) {
                let _ = rmp::encode::write_uint(out, u64::from(r.key));
                out.extend_from_slice(self.cur.all_fields(r, n));
            }
        }
        out.extend_from_slice(&self.globals);
    }

    fn write_delta(&mut self, tick: u64) {
        self.changes.clear();
        self.removed.clear();
        let (cur, prev) = (&self.cur, &self.prev);
        let (mut i, mut j) = (0, 0);
        while i < cur.rows.len() || j < prev.rows.len() {
            let ck = cur.rows.get(i).map(|r| r.key);
            let pk = prev.rows.get(j).map(|r| r.key);
            match (ck, pk) {
                (Some(c), Some(p)) if c == p => {
                    let (now, was) = (&cur.rows[i], &prev.rows[j]);
                    let fields = &self.kinds[usize::from(now.kind)].fields;
                    if now.kind != was.kind || now.tag != was.tag {
                        // Another entity (or kind) under the same key: a new row.
                        self.changes.push((i, None, all_bits(fields.len())));
                        i += 1;
                        j += 1;
                        continue;
                    }
                    let mut mask = 0u64;
                    for (f, field) in fields.iter().enumerate() {
                        let changed = match field.quant {
                            Some(_) => cur.int(now, f) != prev.int(was, f),
                            None => cur.field(now, f) != prev.field(was, f),
                        };
                        if changed {
                            mask |= 1 << f;
                        }
                    }
                    if mask != 0 {
                        self.changes.push((i, Some(j), mask));
                    }
                    i += 1;
                    j += 1;
                }
                (Some(c), p) if p.is_none_or(|p| c < p) => {
                    let n = self.kinds[usize::from(cur.rows[i].kind)].fields.len();
                    self.changes.push((i, None, all_bits(n)));
                    i += 1;
                }
                (_, Some(p)) => {
                    self.removed.push(p);
                    j += 1;
                }
                (_, None) => break,
            }
        }
        let out = &mut self.out;
        let globals_changed = self.globals != self.prev_globals;
        let _ = rmp::encode::write_array_len(out, if globals_changed { 6 } else { 5 });
        let _ = rmp::encode::write_uint(out, tick);
        let _ = rmp::encode::write_uint(out, self.prev_tick);
        // The seat table is the previous snapshot's (else this would be a keyframe), so the
        // two ack lists pair up seat by seat.
        let moved = self
            .next_acks
            .iter()
            .zip(&self.acks)
            .filter(|((_, now), (_, was))| now != was)
            .count();
        // Pairs `[seat, increase, ...]` while fewer than half the seats moved (shorter than one
        // entry per seat); else one increase per seat, in seat order (0: unchanged) — a list
        // exactly as long as the seat table, which pairs never are.
        let seats = self.next_acks.len();
        let positional = 2 * moved >= seats && moved > 0;
        let len = if positional { seats } else { 2 * moved };
        let _ = rmp::encode::write_array_len(out, len as u32);
        for ((seat, now), (_, was)) in self.next_acks.iter().zip(&self.acks) {
            let increase = i64::from(*now) - i64::from(*was);
            if positional {
                let _ = rmp::encode::write_sint(out, increase);
            } else if increase != 0 {
                let _ = rmp::encode::write_uint(out, u64::from(*seat));
                let _ = rmp::encode::write_sint(out, increase);
            }
        }
        let values: u32 = self
            .changes
            .iter()
            .map(|(_, _, m)| 2 + m.count_ones())
            .sum();
        let _ = rmp::encode::write_array_len(out, values);
        for &(i, j, mask) in &self.changes {
            let r = &cur.rows[i];
            let was = j.map(|j| &prev.rows[j]);
            let _ = rmp::encode::write_uint(out, u64::from(r.key));
            match was {
                Some(_) => {
                    let _ = rmp::encode::write_uint(out, mask);
                }
                // A new row: its kind as -(kind + 1), then every field.
                None => {
                    let _ = rmp::encode::write_sint(out, -(i64::from(r.kind) + 1));
                }
            }
            for (f, field) in self.kinds[usize::from(r.kind)].fields.iter().enumerate() {
                if mask & (1 << f) == 0 {
                    continue;
                }
                match (field.quant, was) {
                    (Some(q), Some(was)) => {
                        let _ =
                            rmp::encode::write_sint(out, q.diff(prev.int(was, f), cur.int(r, f)));
                    }
                    _ => out.extend_from_slice(cur.field(r, f)),
                }
            }
        }
        let _ = rmp::encode::write_array_len(out, self.removed.len() as u32);
        for k in &self.removed {
            let _ = rmp::encode::write_uint(out, u64::from(*k));
        }
        if globals_changed {
            out.extend_from_slice(&self.globals);
        }
    }

    /// The last snapshot encoded.
    pub fn last(&self) -> &[u8] {
        &self.out
    }
}
