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

    /// Appends a copy of `from`'s row `r`, of `n` fields.
    fn copy_row(&mut self, from: &RowSet, r: &RowIdx, n: usize) {
        let (at, int_at) = (self.offsets.len(), self.ints.len());
        let first = from.offsets[r.at as usize];
        let shift = self.buf.len() as u32;
        self.offsets.extend(
            from.offsets[r.at as usize..=r.at as usize + n]
                .iter()
                .map(|o| o - first + shift),
        );
        self.buf.extend_from_slice(from.all_fields(r, n));
        self.ints
            .extend_from_slice(&from.ints[r.int_at as usize..r.int_at as usize + n]);
        self.rows.push(RowIdx {
            at: at as u32,
            int_at: int_at as u32,
            ..*r
        });
    }
}

/// What one viewer was sent, for a room that sends each viewer its own snapshot
/// ([`Encoder::write_view`]): the rows it has (a subset of the room's), its own seat and ack,
/// and its own keyframe cadence, so its delta builds on what *it* received and a keyframe for it
/// costs no other viewer anything.
#[derive(Debug, Default, Clone)]
pub struct View {
    /// The rows it was last sent.
    prev: RowSet,
    /// Scratch: the rows of the snapshot being written for it.
    next: RowSet,
    /// The tick of the last snapshot it was sent; 0 before the first.
    prev_tick: u64,
    since_key: u32,
    force_key: bool,
    /// Its seat table, `(seat, player)`, as its last keyframe carried it: its own seat, or none
    /// for a spectator.
    seat: Option<(u32, String)>,
    /// `(seat, seq)` as its last snapshot carried it.
    ack: Option<(u32, u32)>,
    last_was_keyframe: bool,
}

impl View {
    /// A viewer that has been sent nothing: its first snapshot is a keyframe.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes this viewer's next snapshot a keyframe (it reconnected, or one of its snapshots
    /// was lost before it reached it).
    pub fn request_keyframe(&mut self) {
        self.force_key = true;
    }

    /// Whether its last snapshot was a keyframe.
    pub fn last_was_keyframe(&self) -> bool {
        self.last_was_keyframe
    }

    /// The tick of the last snapshot written for it (0: none yet).
    pub fn last_tick(&self) -> u64 {
        self.prev_tick
    }

    /// How many rows it was last sent.
    pub fn rows(&self) -> usize {
        self.prev.rows.len()
    }

    /// Whether its last snapshot held the row of `key`.
    pub fn had(&self, key: u32) -> bool {
        self.prev.rows.binary_search_by_key(&key, |r| r.key).is_ok()
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
            exact: false,
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
        self.sort_rows();
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
        self.serialize_globals(globals);
        let keyframe = self.force_key
            || seats_changed
            || self.prev_tick == 0
            || self.since_key + 1 >= self.keyframe_interval;
        self.out.clear();
        let parts = Parts {
            kinds: &self.kinds,
            tick,
            base: self.prev_tick,
            cur: &self.cur,
            prev: &self.prev,
            seats: &self.seat_ids,
            acks: &self.next_acks,
            acks_before: &self.acks,
            globals: &self.globals,
            globals_changed: self.globals != self.prev_globals,
        };
        if keyframe {
            parts.write_keyframe(&mut self.out);
            self.since_key = 0;
            self.force_key = false;
        } else {
            parts.write_delta(&mut self.out, &mut self.changes, &mut self.removed);
            self.since_key += 1;
        }
        std::mem::swap(&mut self.cur, &mut self.prev);
        std::mem::swap(&mut self.acks, &mut self.next_acks);
        std::mem::swap(&mut self.globals, &mut self.prev_globals);
        self.prev_tick = tick;
        self.last_was_keyframe = keyframe;
        &self.out
    }

    /// Of rows with one key, the one of the first kind stays (in place: no allocation); the
    /// rows are then in key order.
    fn sort_rows(&mut self) {
        self.cur.rows.sort_unstable_by_key(|r| (r.key, r.kind));
        self.cur.rows.dedup_by_key(|r| r.key);
    }

    fn serialize_globals<G: Serialize + ?Sized>(&mut self, globals: &G) {
        self.globals.clear();
        let _ =
            globals.serialize(&mut rmp_serde::Serializer::new(&mut self.globals).with_struct_map());
    }

    /// Starts a snapshot written per viewer rather than once for the room: after the rows are
    /// pushed, sorts them and encodes the `globals`. Then [`keys`](Self::keys) lists the rows
    /// (by index), [`write_view`](Self::write_view) writes each viewer's snapshot and
    /// [`finish_views`](Self::finish_views) ends the tick. An encoder is used one way or the
    /// other ([`finish`](Self::finish)), not both.
    pub fn begin_views<G: Serialize + ?Sized>(&mut self, globals: &G) {
        self.sort_rows();
        self.serialize_globals(globals);
    }

    /// The key of each row of the snapshot begun with [`begin_views`](Self::begin_views), in
    /// row index order (ascending keys).
    pub fn keys(&self) -> impl ExactSizeIterator<Item = u32> + '_ {
        self.cur.rows.iter().map(|r| r.key)
    }

    /// Writes `view`'s snapshot of `tick`: the rows whose indices (into [`keys`](Self::keys))
    /// are `visible`, ascending; as the seat table, `seat` (`(seat, player, last applied seq)`)
    /// alone, or none for a spectator. A keyframe when the view has had none, asked for one,
    /// missed the previous snapshot, changed seat, or is due one (every keyframe interval of
    /// its own snapshots); else a delta against the snapshot it was sent last. A row that
    /// enters the view arrives whole; one that leaves it is removed.
    ///
    /// # Panics
    /// If an index in `visible` is not a row's.
    pub fn write_view(
        &mut self,
        tick: u64,
        view: &mut View,
        seat: Option<(u32, &str, u32)>,
        visible: &[u32],
    ) -> &[u8] {
        view.next.clear();
        for &i in visible {
            let r = &self.cur.rows[i as usize];
            let n = self.kinds[usize::from(r.kind)].fields.len();
            view.next.copy_row(&self.cur, r, n);
        }
        let seat_changed = match (&view.seat, seat) {
            (None, None) => false,
            (Some((s, p)), Some((seat, player, _))) => *s != seat || p != player,
            _ => true,
        };
        if seat_changed {
            view.seat = seat.map(|(s, p, _)| (s, p.to_owned()));
        }
        let ack = seat.map(|(s, _, seq)| (s, seq));
        let keyframe = view.force_key
            || seat_changed
            || view.prev_tick == 0
            || view.prev_tick != self.prev_tick
            || view.since_key + 1 >= self.keyframe_interval;
        self.out.clear();
        let parts = Parts {
            kinds: &self.kinds,
            tick,
            base: view.prev_tick,
            cur: &view.next,
            prev: &view.prev,
            seats: view.seat.as_slice(),
            acks: ack.as_slice(),
            acks_before: view.ack.as_slice(),
            globals: &self.globals,
            globals_changed: self.globals != self.prev_globals,
        };
        if keyframe {
            parts.write_keyframe(&mut self.out);
            view.since_key = 0;
            view.force_key = false;
        } else {
            parts.write_delta(&mut self.out, &mut self.changes, &mut self.removed);
            view.since_key += 1;
        }
        std::mem::swap(&mut view.next, &mut view.prev);
        view.ack = ack;
        view.prev_tick = tick;
        view.last_was_keyframe = keyframe;
        &self.out
    }

    /// Ends the snapshot of `tick` written per viewer: the next one's deltas are against it.
    /// A view not written this tick gets a keyframe when it is next.
    pub fn finish_views(&mut self, tick: u64) {
        std::mem::swap(&mut self.globals, &mut self.prev_globals);
        self.prev_tick = tick;
    }

    /// The last snapshot encoded.
    pub fn last(&self) -> &[u8] {
        &self.out
    }
}

/// What one snapshot is written from: the room's (for [`Encoder::finish`]) or one viewer's
/// (for [`Encoder::write_view`]).
struct Parts<'a> {
    kinds: &'a [KindSpec],
    tick: u64,
    /// The tick a delta builds on.
    base: u64,
    cur: &'a RowSet,
    /// The rows at `base`.
    prev: &'a RowSet,
    /// The seat table, `(seat, player)` by seat.
    seats: &'a [(u32, String)],
    /// `(seat, seq)` now, by seat, one per seat of `seats`.
    acks: &'a [(u32, u32)],
    /// `(seat, seq)` at `base`; for a delta, the same seats as `acks`.
    acks_before: &'a [(u32, u32)],
    globals: &'a [u8],
    globals_changed: bool,
}

impl Parts<'_> {
    fn write_keyframe(&self, out: &mut Vec<u8>) {
        let _ = rmp::encode::write_array_len(out, 6);
        let _ = rmp::encode::write_uint(out, self.tick);
        let _ = rmp::encode::write_uint(out, 0);
        let _ = rmp::encode::write_array_len(out, self.kinds.len() as u32);
        for kind in self.kinds {
            let _ = rmp::encode::write_array_len(out, 2);
            let _ = rmp::encode::write_str(out, kind.name);
            let _ = rmp::encode::write_array_len(out, kind.fields.len() as u32);
            for f in &kind.fields {
                // A raw field is its name; a quantized one [name, step] or [name, step, modulo].
                let Some(q) = f.quant else {
                    let _ = rmp::encode::write_str(out, f.name);
                    continue;
                };
                let _ = rmp::encode::write_array_len(out, 2 + u32::from(q.modulo.is_some()));
                let _ = rmp::encode::write_str(out, f.name);
                match q.reciprocal() {
                    Some(n) => {
                        let _ = rmp::encode::write_sint(out, -i64::from(n));
                    }
                    None => {
                        let _ = rmp::encode::write_f64(out, q.step);
                    }
                }
                if let Some(m) = q.modulo {
                    let _ = rmp::encode::write_uint(out, m);
                }
            }
        }
        let _ = rmp::encode::write_array_len(out, 3 * self.seats.len() as u32);
        for ((seat, player), (_, seq)) in self.seats.iter().zip(self.acks) {
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
        out.extend_from_slice(self.globals);
    }

    /// `changes` and `removed` are scratch, kept by the encoder for their allocations.
    fn write_delta(
        &self,
        out: &mut Vec<u8>,
        changes: &mut Vec<(usize, Option<usize>, u64)>,
        removed: &mut Vec<u32>,
    ) {
        changes.clear();
        removed.clear();
        let (cur, prev) = (self.cur, self.prev);
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
                        changes.push((i, None, all_bits(fields.len())));
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
                        changes.push((i, Some(j), mask));
                    }
                    i += 1;
                    j += 1;
                }
                (Some(c), p) if p.is_none_or(|p| c < p) => {
                    let n = self.kinds[usize::from(cur.rows[i].kind)].fields.len();
                    changes.push((i, None, all_bits(n)));
                    i += 1;
                }
                (_, Some(p)) => {
                    removed.push(p);
                    j += 1;
                }
                (_, None) => break,
            }
        }
        let _ = rmp::encode::write_array_len(out, if self.globals_changed { 6 } else { 5 });
        let _ = rmp::encode::write_uint(out, self.tick);
        // The base as how far back it is (one tick, usually: one byte).
        let _ = rmp::encode::write_uint(out, self.tick - self.base);
        // The seat table is the base's (else this would be a keyframe), so the two ack lists
        // pair up seat by seat.
        let moved = self
            .acks
            .iter()
            .zip(self.acks_before)
            .filter(|((_, now), (_, was))| now != was)
            .count();
        // Pairs `[seat, increase, ...]` while fewer than half the seats moved (shorter than one
        // entry per seat); else one increase per seat, in seat order (0: unchanged) — a list
        // exactly as long as the seat table, which pairs never are.
        let seats = self.acks.len();
        let positional = 2 * moved >= seats && moved > 0;
        let len = if positional { seats } else { 2 * moved };
        let _ = rmp::encode::write_array_len(out, len as u32);
        for ((seat, now), (_, was)) in self.acks.iter().zip(self.acks_before) {
            let increase = i64::from(*now) - i64::from(*was);
            if positional {
                let _ = rmp::encode::write_sint(out, increase);
            } else if increase != 0 {
                let _ = rmp::encode::write_uint(out, u64::from(*seat));
                let _ = rmp::encode::write_sint(out, increase);
            }
        }
        let values: u32 = changes.iter().map(|(_, _, m)| 2 + m.count_ones()).sum();
        let _ = rmp::encode::write_array_len(out, values);
        for &(i, j, mask) in changes.iter() {
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
        let _ = rmp::encode::write_array_len(out, removed.len() as u32);
        for k in removed.iter() {
            let _ = rmp::encode::write_uint(out, u64::from(*k));
        }
        if self.globals_changed {
            out.extend_from_slice(self.globals);
        }
    }
}
