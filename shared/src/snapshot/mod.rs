//! Snapshots on the wire (protocol 5): keyframes and deltas of replicated rows, compact.
//!
//! A game's state is a set of **rows** (one per replicated entity, keyed by a `u32` unique in
//! the snapshot) of one or more **kinds** (each a [`Kind`]: a name and fields, the rows of a
//! kind having its fields in its order), plus **globals** (anything else), and each seated
//! player's last applied input (its *ack*, by seat). A *keyframe* carries everything, with
//! each kind's name, field names and how each field is quantized; a *delta* carries only what
//! changed **since the previous snapshot**: the rows' changed fields (a quantized number as
//! the difference of its integers), rows added (whole, with their kind) and removed, acks that
//! moved, and the globals if they changed. A client applies a delta only to the snapshot it
//! names as its base; one that missed a snapshot waits for the next keyframe.
//! `docs/PROTOCOL.md` specifies the format; [`Encoder`] writes it (the server) and [`Mirror`]
//! reads it back (clients).
//!
//! Keyframe: `[tick, 0, schema, seats, rows, globals]`, where `schema` is
//! `[[kind, [field...]]...]` — a raw field's name, or a quantized one's `[name, step]` or
//! `[name, step, modulo]`, a `step` of `1 / n` written as the int `-n` —, `seats` is `[seat, player, seq, ...]` and `rows`
//! has one list per kind, `[key, v0, v1, ..., key, ...]`.
//! Delta: `[tick, back, acks, changes, removed]` (and `globals` sixth when they changed), where
//! `back` ≥ 1 says its base is the snapshot of tick `tick - back`,
//! `acks` is `[seat, seq - previous, ...]`, `changes` is `[key, mask, v..., key, ...]` (bit *i*
//! of a positive `mask`: field *i* follows; a negative `mask`: a new row of kind
//! `-mask - 1`, every field following) and `removed` is `[key...]`.
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

pub use encoder::{Encoder, RowError, View};
pub use mirror::{Applied, Mirror};
pub use replicate::{ExactRows, Quantity, Replicate, RowWriter};
/// `#[derive(Replicate)]`: see [`Replicate`].
pub use tickroom_derive::Replicate;

/// Most fields a row may have (the change mask is a `u64`).
pub const MAX_FIELDS: usize = 64;

/// How a numeric field travels: as the integer nearest `value / step`, wrapped into
/// `0..modulo` when there is a modulo (an angle: `step` = 2π / `modulo`). Deltas carry the
/// difference of two such integers (with a modulo, the shorter way round), so a small move
/// costs a byte.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quant {
    /// The value of one unit of the integer (e.g. `0.01`: hundredths).
    pub step: f64,
    /// If set, integers wrap into `0..modulo`.
    pub modulo: Option<u64>,
}

impl Quant {
    /// `n` where the step is exactly `1 / n` (hundredths: 100). A keyframe writes such a
    /// step as the int `-n` — two bytes for hundredths, where a float64 takes nine.
    pub fn reciprocal(&self) -> Option<u32> {
        let d = (1.0 / self.step).round();
        (d >= 1.0 && d <= f64::from(u32::MAX) && 1.0 / d == self.step).then_some(d as u32)
    }

    /// The integer `value` travels as.
    pub fn quantize(&self, value: f64) -> i64 {
        self.quantize_scaled(value * (1.0 / self.step))
    }

    /// [`quantize`](Self::quantize) of a value already divided by the step (the encoder keeps
    /// each field's `1 / step`, so a row costs no division).
    pub(crate) fn quantize_scaled(&self, scaled: f64) -> i64 {
        // Rounds half away from zero without a libm call; `as` saturates and turns NaN into 0,
        // so any input gives some integer.
        let q = if scaled >= 0.0 {
            (scaled + 0.5) as i64
        } else {
            (scaled - 0.5) as i64
        };
        match self.modulus() {
            Some(m) => q.rem_euclid(m),
            None => q,
        }
    }

    /// The value an integer stands for. Where `1 / step` is a whole number (hundredths and
    /// the like) it divides by it, which gives the double nearest the decimal (0.35) as
    /// `@tickroom/client` does; multiplying by 0.01 may not (0.35000000000000003).
    pub fn dequantize(&self, q: i64) -> f64 {
        let inverse = (1.0 / self.step).round();
        if (1.0 / self.step - inverse).abs() < 1e-9 {
            q as f64 / inverse
        } else {
            q as f64 * self.step
        }
    }

    /// What a delta carries for a change from `from` to `to`.
    pub fn diff(&self, from: i64, to: i64) -> i64 {
        let d = to.wrapping_sub(from);
        match self.modulus() {
            Some(m) => {
                let d = d.rem_euclid(m);
                if d > m / 2 { d - m } else { d }
            }
            None => d,
        }
    }

    /// The integer after a delta's difference `d` is applied to `q`.
    pub fn apply(&self, q: i64, d: i64) -> i64 {
        let q = q.wrapping_add(d);
        match self.modulus() {
            Some(m) => q.rem_euclid(m),
            None => q,
        }
    }

    /// The modulo as an `i64` (a wire value beyond `i64::MAX` is taken as `i64::MAX`).
    fn modulus(&self) -> Option<i64> {
        self.modulo.map(|m| m.clamp(1, i64::MAX as u64) as i64)
    }
}

/// The mask with a bit for each of `n` fields.
pub(crate) fn all_bits(n: usize) -> u64 {
    if n >= 64 { u64::MAX } else { (1u64 << n) - 1 }
}

/// One field of a declared row: its name and, for a quantized number, how.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Field {
    /// The name, as keyframes carry it.
    pub name: &'static str,
    /// How the value is quantized; `None`: sent as its own msgpack value.
    pub quant: Option<Quant>,
}

impl Field {
    /// A field sent as its own msgpack value.
    pub const fn raw(name: &'static str) -> Self {
        Self { name, quant: None }
    }

    /// A number sent as the integer nearest `value / step` (wrapped into `0..modulo`).
    pub const fn quantized(name: &'static str, step: f64, modulo: Option<u64>) -> Self {
        Self {
            name,
            quant: Some(Quant { step, modulo }),
        }
    }
}

/// A kind of replicated row, as the server declares it: its name on the wire and its fields.
/// A game declares each kind once, as a `#[derive(Replicate)]` struct: [`Kind::of`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Kind {
    /// The name keyframes carry ([`Replicate::KIND`]).
    pub name: &'static str,
    /// The fields, in order (at most [`MAX_FIELDS`]).
    pub fields: &'static [Field],
}

impl Kind {
    /// The kind of the declared row `R`.
    pub const fn of<R: Replicate>() -> Self {
        Self {
            name: R::KIND,
            fields: R::FIELDS,
        }
    }
}

/// Most kinds of rows a game may declare.
pub const MAX_KINDS: usize = 64;

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

/// A field of the rows a [`Mirror`] rebuilds, as the keyframe described it.
#[derive(Debug, Clone, PartialEq)]
pub struct FrameField {
    /// The field's name.
    pub name: String,
    /// How its values are quantized, if they are.
    pub quant: Option<Quant>,
}

/// A kind of row, as the keyframe described it: its name and fields.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FrameKind {
    /// The kind's name ([`Replicate::KIND`] on the server).
    pub name: String,
    /// Its fields, in order.
    pub fields: Vec<FrameField>,
}

/// One field's value in a rebuilt row.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A msgpack value, as sent.
    Raw(Bytes),
    /// A quantized field's integer (see [`Quant`]).
    Int(i64),
}

/// One rebuilt row: its kind and its field values, in its kind's field order.
#[derive(Debug, Clone, PartialEq)]
pub struct FrameRow {
    /// Its kind's index in [`Frame::kinds`].
    pub kind: usize,
    /// The values, one per field of the kind.
    pub values: Vec<Value>,
}

/// The rebuilt rows and globals of a snapshot, before typing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Frame {
    /// The kinds of rows, in the keyframe's order.
    pub kinds: Vec<FrameKind>,
    /// Every row, by key (keys are unique across kinds).
    pub rows: BTreeMap<u32, FrameRow>,
    /// The globals (raw msgpack).
    pub globals: Bytes,
}

impl Frame {
    /// The index of the kind named `name`.
    pub fn kind_index(&self, name: &str) -> Option<usize> {
        self.kinds.iter().position(|k| k.name == name)
    }

    /// Position of field `name` among kind `kind`'s fields.
    pub fn field_index(&self, kind: usize, name: &str) -> Option<usize> {
        self.kinds
            .get(kind)?
            .fields
            .iter()
            .position(|f| f.name == name)
    }

    /// The rows of kind `kind`, by key.
    pub fn rows_of(&self, kind: usize) -> impl Iterator<Item = (u32, &FrameRow)> + '_ {
        self.rows
            .iter()
            .filter(move |(_, r)| r.kind == kind)
            .map(|(k, r)| (*k, r))
    }

    /// Field `i` of `row`, decoded (a quantized one as the number it stands for).
    pub fn value<T: DeserializeOwned>(&self, row: &FrameRow, i: usize) -> Result<T, DecodeError> {
        match row.values.get(i).ok_or(DecodeError::Shape)? {
            Value::Raw(raw) => rmp_serde::from_slice(raw).map_err(|_| DecodeError::Shape),
            Value::Int(q) => {
                let quant = self
                    .kinds
                    .get(row.kind)
                    .and_then(|k| k.fields.get(i))
                    .and_then(|f| f.quant)
                    .ok_or(DecodeError::Shape)?;
                let de = serde::de::value::F64Deserializer::<serde::de::value::Error>::new(
                    quant.dequantize(*q),
                );
                T::deserialize(de).map_err(|_| DecodeError::Shape)
            }
        }
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
    use std::collections::BTreeMap;

    use super::*;

    #[derive(Debug, Clone, PartialEq, Replicate)]
    struct Disc {
        id: String,
        #[replicate(step = 0.01)]
        x: f32,
        #[replicate(step = 0.01)]
        y: f32,
    }

    #[derive(Debug, PartialEq)]
    struct State(Vec<(u32, Disc)>, u32);

    impl FromFrame for State {
        fn from_frame(f: &Frame) -> Result<Self, DecodeError> {
            Ok(State(Disc::read_rows(f)?, f.globals()?))
        }
    }

    fn disc(id: &str, x: f32, y: f32) -> Disc {
        Disc {
            id: id.into(),
            x,
            y,
        }
    }

    /// Encodes one snapshot of `rows` with `seats` as `(seat, player, seq)`.
    fn frame(
        enc: &mut Encoder,
        tick: u64,
        rows: &[(u32, Disc)],
        seats: &[(u32, &str, u32)],
        g: u32,
    ) -> Bytes {
        enc.begin();
        for (k, d) in rows {
            enc.push_row(*k, d).unwrap();
        }
        Bytes::copy_from_slice(enc.finish(tick, seats.iter().copied(), &g))
    }

    #[test]
    fn keyframes_and_deltas_rebuild_the_same_state() {
        let mut enc = Encoder::for_row::<Disc>(4);
        let mut m = Mirror::new();
        let seats = [(0, "a", 0), (1, "b", 0)];
        let t1 = [
            (1, disc("a", 1.0, 1.0)),
            (2, disc("b", 2.0, 2.0)),
            (3, disc("c", 3.0, 3.0)),
        ];
        let k = frame(&mut enc, 1, &t1, &seats, 7);
        assert!(enc.last_was_keyframe());
        let s = m.apply_typed::<State>(&k).unwrap().unwrap();
        assert_eq!(s.state, State(t1.to_vec(), 7));
        assert_eq!(s.acks, BTreeMap::from([("a".into(), 0), ("b".into(), 0)]));
        // tick 2: b moves in x, c leaves, d arrives; a's input 1 is applied; globals change
        let seats2 = [(0, "a", 1), (1, "b", 0)];
        let t2 = [
            (1, disc("a", 1.0, 1.0)),
            (2, disc("b", 2.5, 2.0)),
            (4, disc("d", 4.0, 4.0)),
        ];
        let d = frame(&mut enc, 2, &t2, &seats2, 8);
        assert!(!enc.last_was_keyframe());
        let s = m.apply_typed::<State>(&d).unwrap().unwrap();
        assert_eq!(s.state, State(t2.to_vec(), 8));
        assert_eq!(s.acks["a"], 1);
        assert!(d.len() < k.len());
        // tick 3: only b moves (0.25 units: one byte), and nothing else is sent
        let t3 = [
            (1, disc("a", 1.0, 1.0)),
            (2, disc("b", 2.75, 2.0)),
            (4, disc("d", 4.0, 4.0)),
        ];
        let d3 = frame(&mut enc, 3, &t3, &seats2, 8);
        // [3, 1, [], [2, 0b010, 25], []]: array, tick, back (its base is tick 2), acks, changes (4), removed
        assert_eq!(d3.len(), 1 + 1 + 1 + 1 + 4 + 1, "{d3:?}");
        let s = m.apply_typed::<State>(&d3).unwrap().unwrap();
        assert_eq!(s.state, State(t3.to_vec(), 8));
        // tick 4 is missed: tick 5's delta is against it, so the mirror waits for a keyframe
        let _missed = frame(&mut enc, 4, &t3, &seats2, 8);
        let t5 = [(1, disc("a", 0.0, 1.0)), (2, disc("b", 2.75, 2.0))];
        let d5 = frame(&mut enc, 5, &t5, &seats2, 8);
        assert!(enc.last_was_keyframe(), "every 4 snapshots");
        let s = m.apply_typed::<State>(&d5).unwrap().unwrap();
        assert_eq!(s.state, State(t5.to_vec(), 8));
        let d6 = frame(&mut enc, 6, &t5, &seats2, 8);
        let mut late = Mirror::new();
        assert_eq!(late.apply(&d6).unwrap(), Applied::NeedKeyframe);
        // a player leaving changes the seat table: a keyframe at once
        let k7 = frame(&mut enc, 7, &t5, &[(1, "b", 0)], 8);
        assert!(enc.last_was_keyframe());
        let s = late.apply_typed::<State>(&k7).unwrap().unwrap();
        assert_eq!(s.acks, BTreeMap::from([("b".into(), 0)]));
        assert_eq!(late.seat_of("b"), Some(1));
    }

    /// A xorshift64 generator of numbers below `n`: random worlds, the same on every run.
    fn xorshift(mut seed: u64) -> impl FnMut(u64) -> u64 {
        move |n| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        }
    }

    /// Random worlds (rows joining, leaving and moving, seats taken and given up, inputs
    /// applied, globals changing) over many ticks, with snapshots missed at random: every
    /// snapshot a mirror applies rebuilds exactly the state that was encoded.
    #[test]
    fn rebuilt_state_matches_the_encoded_world_through_random_ticks() {
        let mut next = xorshift(0x9e37_79b9_7f4a_7c15_u64);
        let names: Vec<String> = (0..12).map(|i| format!("p{i}")).collect();
        let mut enc = Encoder::for_row::<Disc>(7);
        let mut m = Mirror::new();
        let mut world: BTreeMap<u32, (f32, f32)> = BTreeMap::new();
        let mut seats: BTreeMap<u32, u32> = BTreeMap::new();
        let (mut checked, mut waited) = (0, 0);
        for tick in 1..=3_000u64 {
            for _ in 0..next(4) {
                let key = next(12) as u32;
                match next(6) {
                    0 => {
                        world.remove(&key);
                    }
                    1 => {
                        // a big jump, past what one byte of difference holds
                        world.insert(key, (next(100_000) as f32 / 100.0, -3.5));
                    }
                    _ => {
                        let (x, y) = world.get(&key).copied().unwrap_or((50.0, 50.0));
                        let step = |v: f32, d: u64| v + (d as f32 - 100.0) / 100.0;
                        world.insert(key, (step(x, next(200)), step(y, next(200))));
                    }
                }
            }
            match next(40) {
                0 => {
                    seats.remove(&(next(6) as u32));
                }
                1 => {
                    seats.entry(next(6) as u32).or_insert(0);
                }
                _ => {}
            }
            for seq in seats.values_mut() {
                *seq += next(3) as u32;
            }
            let rows: Vec<(u32, Disc)> = world
                .iter()
                .map(|(k, (x, y))| (*k, disc(&names[*k as usize], *x, *y)))
                .collect();
            let seat_list: Vec<(u32, &str, u32)> = seats
                .iter()
                .map(|(s, seq)| (*s, names[*s as usize].as_str(), *seq))
                .collect();
            let g = (tick / 10) as u32;
            let bytes = frame(&mut enc, tick, &rows, &seat_list, g);
            if next(8) == 0 {
                continue; // missed
            }
            let Some(s) = m.apply_typed::<State>(&bytes).unwrap() else {
                waited += 1;
                continue;
            };
            // What the server sent: positions to the hundredth.
            let q = |v: f32| ((f64::from(v) / 0.01).round() * 0.01) as f32;
            let want: Vec<(u32, Disc)> = rows
                .iter()
                .map(|(k, d)| (*k, disc(&d.id, q(d.x), q(d.y))))
                .collect();
            assert_eq!(s.state, State(want, g), "tick {tick}");
            let acks: BTreeMap<String, u32> = seat_list
                .iter()
                .map(|(_, p, seq)| ((*p).to_owned(), *seq))
                .collect();
            assert_eq!(s.acks, acks, "tick {tick}");
            checked += 1;
        }
        // A missed snapshot costs the wait for the next keyframe (every 7 here).
        assert!(checked > 1_500 && waited > 100, "{checked} {waited}");
    }

    /// Each viewer gets its own stream of the same random world, seeing only rows near it
    /// (a band of x that moves): every snapshot its mirror applies holds exactly the rows it
    /// was shown, with its own ack alone; a lost snapshot costs that viewer (and no other)
    /// one keyframe.
    #[test]
    fn each_view_rebuilds_exactly_what_it_was_shown() {
        let mut next = xorshift(0x2545_f491_4f6c_dd1d_u64);
        let names: Vec<String> = (0..40).map(|i| format!("p{i}")).collect();
        let mut enc = Encoder::for_row::<Disc>(50);
        let mut world: BTreeMap<u32, (f32, f32)> = BTreeMap::new();
        // Viewers 0 and 1 are seated players (seats 0 and 1); viewer 2 is a spectator.
        let mut views: Vec<(View, Mirror)> = (0..3).map(|_| (View::new(), Mirror::new())).collect();
        let mut seqs = [0u32; 2];
        let (mut checked, mut keyframes, mut lost) = ([0; 3], [0; 3], [0; 3]);
        for tick in 1..=2_000u64 {
            for _ in 0..next(6) {
                let key = next(40) as u32;
                if next(10) == 0 {
                    world.remove(&key);
                } else {
                    let (x, y) = world.get(&key).copied().unwrap_or((next(100) as f32, 1.0));
                    let x = (x + (next(300) as f32 - 150.0) / 100.0).rem_euclid(100.0);
                    world.insert(key, (x, y));
                }
            }
            for seq in &mut seqs {
                *seq += next(2) as u32;
            }
            enc.begin();
            for (k, (x, y)) in &world {
                enc.push_row(*k, &disc(&names[*k as usize], *x, *y))
                    .unwrap();
            }
            let g = (tick / 100) as u32;
            enc.begin_views(&g);
            let keys: Vec<u32> = enc.keys().collect();
            // Viewer v sees the band of x within 20 of its centre, which walks with time.
            let centre = |v: usize| ((tick / 5) as f32 + 33.0 * v as f32).rem_euclid(100.0);
            for (v, (view, mirror)) in views.iter_mut().enumerate() {
                let visible: Vec<u32> = keys
                    .iter()
                    .enumerate()
                    .filter(|(_, k)| (world[k].0 - centre(v)).abs() <= 20.0)
                    .map(|(i, _)| i as u32)
                    .collect();
                let seat = (v < 2).then(|| (v as u32, names[v].as_str(), seqs[v]));
                let bytes = Bytes::copy_from_slice(enc.write_view(tick, view, seat, &visible));
                keyframes[v] += usize::from(view.last_was_keyframe());
                if next(50) == 0 {
                    // Lost on its way: the server hears of it and sends this viewer a keyframe.
                    view.request_keyframe();
                    lost[v] += 1;
                    continue;
                }
                let s = mirror
                    .apply_typed::<State>(&bytes)
                    .unwrap()
                    .unwrap_or_else(|| panic!("viewer {v} could not use tick {tick}"));
                let q = |v: f32| ((f64::from(v) / 0.01).round() * 0.01) as f32;
                let want: Vec<(u32, Disc)> = visible
                    .iter()
                    .map(|&i| {
                        let k = keys[i as usize];
                        let (x, y) = world[&k];
                        (k, disc(&names[k as usize], q(x), q(y)))
                    })
                    .collect();
                assert_eq!(s.state, State(want, g), "viewer {v}, tick {tick}");
                let acks: BTreeMap<String, u32> = seat
                    .iter()
                    .map(|(_, p, seq)| ((*p).to_owned(), *seq))
                    .collect();
                assert_eq!(s.acks, acks, "viewer {v}, tick {tick}");
                checked[v] += 1;
            }
            enc.finish_views(tick);
        }
        for v in 0..3 {
            assert!(checked[v] > 1_900, "{checked:?}");
            // One keyframe every 50 of its snapshots, one after each loss, and the first.
            let periodic = 2_000 / 50;
            assert!(
                keyframes[v] >= periodic && keyframes[v] <= periodic + lost[v] + 1,
                "viewer {v}: {keyframes:?} keyframes, {lost:?} lost"
            );
        }
    }

    #[test]
    fn an_idle_world_costs_almost_nothing() {
        let mut enc = Encoder::for_row::<Disc>(30);
        let rows: Vec<(u32, Disc)> = (0..100)
            .map(|i| (i, disc(&format!("p{i}"), i as f32, 0.5)))
            .collect();
        let seats: Vec<(u32, String, u32)> = (0..100).map(|i| (i, format!("p{i}"), 9)).collect();
        let seats: Vec<(u32, &str, u32)> =
            seats.iter().map(|(s, p, q)| (*s, p.as_str(), *q)).collect();
        let key = frame(&mut enc, 1, &rows, &seats, 0).len();
        let idle = frame(&mut enc, 2, &rows, &seats, 0).len();
        assert!(key > 1500, "{key}");
        assert!(
            idle <= 8,
            "an unchanged world's delta is just the envelope: {idle}"
        );
    }

    #[test]
    fn quantized_numbers_wrap_and_take_the_short_way_round() {
        let angle = Quant {
            step: std::f64::consts::TAU / 256.0,
            modulo: Some(256),
        };
        assert_eq!(angle.quantize(-std::f64::consts::TAU / 256.0), 255);
        assert_eq!(angle.diff(255, 1), 2);
        assert_eq!(angle.diff(1, 255), -2);
        assert_eq!(angle.apply(255, 2), 1);
        let hundredths = Quant {
            step: 0.01,
            modulo: None,
        };
        assert_eq!(hundredths.quantize(-1.234), -123);
        // 35 × 0.01 is 0.35000000000000003; the client gets the decimal, as the JS client does
        assert_eq!(hundredths.dequantize(35), 0.35);
        assert_eq!(angle.dequantize(64), std::f64::consts::FRAC_PI_2);
        assert_eq!(hundredths.quantize(f64::NAN), 0);
        assert_eq!(hundredths.quantize(f64::INFINITY), i64::MAX);
        assert_eq!(
            hundredths.diff(i64::MIN, i64::MAX),
            -1,
            "wraps, never panics"
        );
    }

    #[test]
    fn bad_frames_are_refused_and_change_nothing() {
        let mut enc = Encoder::for_row::<Disc>(30);
        let rows = [(1, disc("a", 1.0, 2.0)), (2, disc("b", 3.0, 4.0))];
        let seats = [(0, "a", 1)];
        let k = frame(&mut enc, 1, &rows, &seats, 5);
        let moved = [(1, disc("a", 1.5, 2.0)), (2, disc("b", 3.0, 4.0))];
        let d = frame(&mut enc, 2, &moved, &[(0, "a", 2)], 6);
        for cut in 0..k.len() {
            let _ = Mirror::new().apply(&k.slice(..cut));
        }
        // A keyframe whose seat list claims 3.7 billion entries in a few bytes (found by the
        // fuzzer: it used to reserve room for all of them and abort).
        let huge = Bytes::from_static(&[
            0x96, 0x0c, 0x00, 0xdd, 0x00, 0x00, 0x00, 0x00, 0xdd, 0xdd, 0x01, 0x97, 0xdd, 0xe4,
            0xdd, 0xdd,
        ]);
        assert!(Mirror::new().apply(&huge).is_err());
        let mut m = Mirror::new();
        m.apply(&k).unwrap();
        let before = m.clone().apply_typed::<State>(&k).unwrap();
        for cut in 0..d.len() {
            assert!(m.apply(&d.slice(..cut)).is_err(), "cut at {cut}");
            assert_eq!(m.tick(), Some(1));
        }
        assert_eq!(
            m.typed::<State>(Applied::State {
                tick: 1,
                keyframe: true,
                acks: before.as_ref().unwrap().acks.clone()
            })
            .unwrap(),
            before
        );
        // A patch for a row the mirror does not have, without every field: refused.
        let mut bad = Vec::new();
        rmp::encode::write_array_len(&mut bad, 5).unwrap();
        for v in [2u64, 1] {
            rmp::encode::write_uint(&mut bad, v).unwrap();
        }
        rmp::encode::write_array_len(&mut bad, 0).unwrap();
        rmp::encode::write_array_len(&mut bad, 3).unwrap();
        for v in [9u64, 0b010, 1] {
            rmp::encode::write_uint(&mut bad, v).unwrap();
        }
        rmp::encode::write_array_len(&mut bad, 0).unwrap();
        assert!(m.apply(&Bytes::from(bad)).is_err());
        assert_eq!(m.tick(), Some(1));
        // A delta whose base would be tick 0 or before it: refused, not skipped.
        for (tick, back) in [(2u64, 2u64), (2, 3), (1, u64::MAX)] {
            let mut bad = Vec::new();
            rmp::encode::write_array_len(&mut bad, 5).unwrap();
            rmp::encode::write_uint(&mut bad, tick).unwrap();
            rmp::encode::write_uint(&mut bad, back).unwrap();
            for _ in 0..3 {
                rmp::encode::write_array_len(&mut bad, 0).unwrap();
            }
            assert_eq!(
                m.apply(&Bytes::from(bad)),
                Err(DecodeError::Shape),
                "{tick} back {back}"
            );
        }
        assert_eq!(m.tick(), Some(1));
        let s = m.apply_typed::<State>(&d).unwrap().unwrap();
        assert_eq!(s.state, State(moved.to_vec(), 6));
    }

    /// A client reads rows back by field name, so a client whose row lacks a field the
    /// server added, or orders them otherwise, still reads its own.
    #[test]
    fn declared_rows_read_back_by_name() {
        #[derive(Debug, PartialEq, Replicate)]
        #[replicate(kind = "disc")]
        struct ServerDisc {
            id: String,
            hp: u8,
            #[replicate(step = 0.5)]
            x: f32,
            #[replicate(angle_bits = 8)]
            heading: f32,
        }
        #[derive(Debug, PartialEq, Replicate)]
        #[replicate(kind = "disc")]
        struct ClientDisc {
            heading: f64,
            id: String,
            x: f32,
        }
        let names: Vec<&str> = ServerDisc::FIELDS.iter().map(|f| f.name).collect();
        assert_eq!(names, ["id", "hp", "x", "heading"]);
        assert_eq!(ServerDisc::FIELDS[3].quant.unwrap().modulo, Some(256));
        let mut enc = Encoder::for_row::<ServerDisc>(4);
        let mut m = Mirror::new();
        for tick in 1..=6u64 {
            enc.begin();
            for k in 0..3u32 {
                let disc = ServerDisc {
                    id: format!("p{k}"),
                    hp: 100 - k as u8,
                    x: tick as f32 * (k as f32 + 1.0),
                    heading: -std::f32::consts::FRAC_PI_2,
                };
                enc.push_row(k, &disc).unwrap();
            }
            let bytes = Bytes::copy_from_slice(enc.finish(tick, std::iter::empty(), &()));
            m.apply(&bytes).unwrap();
            let rows = ClientDisc::read_rows(m.frame()).unwrap();
            assert_eq!(rows.len(), 3);
            let (key, row) = &rows[2];
            assert_eq!((*key, row.id.as_str(), row.x), (2, "p2", tick as f32 * 3.0));
            assert!(
                (row.heading - 1.5 * std::f64::consts::PI).abs() < 1e-9,
                "{}",
                row.heading
            );
        }
        #[derive(Debug, PartialEq, Replicate)]
        #[replicate(kind = "disc")]
        struct Missing {
            id: String,
            mana: u32,
        }
        assert!(Missing::read_rows(m.frame()).is_err(), "no such field");
    }

    /// A step of `1 / n` travels as the int `-n` (hundredths in two bytes, not a float64's
    /// nine), any other step as a float64; the client reads back the very steps declared.
    #[test]
    fn steps_of_one_over_n_travel_as_negative_ints() {
        let reciprocal = |step: f64| Quant { step, modulo: None }.reciprocal();
        assert_eq!(reciprocal(0.01), Some(100));
        assert_eq!(reciprocal(0.1), Some(10));
        assert_eq!(reciprocal(0.5), Some(2));
        assert_eq!(reciprocal(1.0), Some(1));
        for other in [0.3, 2.0, 0.015, std::f64::consts::TAU / 256.0, 1e-12] {
            assert_eq!(reciprocal(other), None, "{other}");
        }
        #[derive(Replicate)]
        struct Spot {
            #[replicate(step = 0.01)]
            x: f32,
            #[replicate(step = 0.3)]
            y: f32,
            #[replicate(angle_bits = 8)]
            heading: f32,
        }
        let mut enc = Encoder::for_row::<Spot>(4);
        enc.begin();
        let spot = Spot {
            x: 1.25,
            y: 0.9,
            heading: 0.0,
        };
        enc.push_row(1, &spot).unwrap();
        let bytes = Bytes::copy_from_slice(enc.finish(1, std::iter::empty(), &()));
        let hundredths = [0x92, 0xa1, b'x', 0xd0, 0x9c]; // ["x", -100]
        assert!(bytes.windows(5).any(|w| w == hundredths), "{bytes:x?}");
        let mut m = Mirror::new();
        m.apply(&bytes).unwrap();
        let read: Vec<_> = m.frame().kinds[0].fields.iter().map(|f| f.quant).collect();
        let declared: Vec<_> = Spot::FIELDS.iter().map(|f| f.quant).collect();
        assert_eq!(read, declared);
        let row = &m.frame().rows[&1].values;
        assert_eq!(row[0], Value::Int(125));
        assert_eq!(row[1], Value::Int(3));
        // A field is a name, [name, step] or [name, step, modulo]; nothing else.
        use rmpv::Value as V;
        let keyframe = |field: V| {
            let kind = V::Array(vec!["p".into(), V::Array(vec![field])]);
            let frame = V::Array(vec![
                2.into(),
                0.into(),
                V::Array(vec![kind]),
                V::Array(vec![]),
                V::Array(vec![V::Array(vec![])]),
                V::Nil,
            ]);
            let mut bytes = Vec::new();
            rmpv::encode::write_value(&mut bytes, &frame).unwrap();
            Bytes::from(bytes)
        };
        let arr = |items: &[V]| V::Array(items.to_vec());
        for bad in [
            arr(&["x".into()]),
            arr(&["x".into(), V::Nil]),
            arr(&["x".into(), "5".into()]),
            arr(&["x".into(), 0.into()]),
            arr(&["x".into(), V::F64(-1.5)]),
            arr(&["x".into(), V::F64(0.5), 0.into()]),
            arr(&["x".into(), V::F64(0.5), 1.into(), 2.into()]),
            arr(&[5.into(), V::F64(0.5)]),
            7.into(),
            V::Nil,
        ] {
            assert_eq!(
                m.clone().apply(&keyframe(bad.clone())),
                Err(DecodeError::Shape),
                "{bad}"
            );
        }
        assert!(m.apply(&keyframe("x".into())).is_ok());
    }

    /// A mask with bit 63 (a 64-field kind's last field) travels as a uint64 above i64::MAX
    /// and is read as a mask, not refused.
    #[test]
    fn the_sixty_fourth_field_changes() {
        let mut k = Vec::new();
        rmp::encode::write_array_len(&mut k, 6).unwrap();
        rmp::encode::write_uint(&mut k, 1).unwrap();
        rmp::encode::write_uint(&mut k, 0).unwrap();
        rmp::encode::write_array_len(&mut k, 1).unwrap();
        rmp::encode::write_array_len(&mut k, 2).unwrap();
        rmp::encode::write_str(&mut k, "wide").unwrap();
        rmp::encode::write_array_len(&mut k, 64).unwrap();
        for i in 0..64 {
            rmp::encode::write_str(&mut k, &format!("f{i}")).unwrap();
        }
        rmp::encode::write_array_len(&mut k, 0).unwrap();
        rmp::encode::write_array_len(&mut k, 1).unwrap();
        rmp::encode::write_array_len(&mut k, 65).unwrap();
        for v in 0..=64u64 {
            rmp::encode::write_uint(&mut k, if v == 0 { 7 } else { 0 }).unwrap();
        }
        rmp::encode::write_nil(&mut k).unwrap();
        let mut m = Mirror::new();
        m.apply(&Bytes::from(k)).unwrap();
        // [2, 1, [], [7, 1 << 63, 5], []]
        let mut d = vec![0x95, 2, 1, 0x90, 0x93, 7, 0xcf];
        d.extend_from_slice(&(1u64 << 63).to_be_bytes());
        d.extend_from_slice(&[5, 0x90]);
        assert!(matches!(
            m.apply(&Bytes::from(d)).unwrap(),
            Applied::State { tick: 2, .. }
        ));
        let row = &m.frame().rows[&7];
        assert_eq!(m.frame().value::<u8>(row, 63).unwrap(), 5);
        assert_eq!(m.frame().value::<u8>(row, 62).unwrap(), 0);
    }

    #[derive(Debug, Clone, PartialEq, Replicate)]
    struct Bullet {
        #[replicate(step = 0.1)]
        x: f32,
        owner: u32,
    }

    #[derive(Debug, Clone, PartialEq, Replicate)]
    #[replicate(kind = "pickup")]
    struct Pickup {
        ready: bool,
    }

    #[test]
    fn kinds_are_named_by_the_struct_or_the_attribute() {
        assert_eq!(Disc::KIND, "disc");
        assert_eq!(Bullet::KIND, "bullet");
        assert_eq!(Pickup::KIND, "pickup");
        #[derive(Replicate)]
        struct ArenaPlayerRow {
            id: u8,
        }
        assert_eq!(ArenaPlayerRow::KIND, "arena_player_row");
    }

    /// Three kinds in one room: discs that move, bullets that live a few ticks (their keys
    /// reused by later bullets, as a World reuses entity indices with a new generation), and
    /// pickups that flip. Every applied snapshot rebuilds every kind exactly; a key that comes
    /// back with a new tag or kind is a new row.
    #[test]
    fn several_kinds_replicate_each_with_its_own_rows() {
        let kinds = [
            Kind::of::<Disc>(),
            Kind::of::<Bullet>(),
            Kind::of::<Pickup>(),
        ];
        let mut enc = Encoder::new(&kinds, 10);
        let mut m = Mirror::new();
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        // key → (tag, what it holds)
        #[derive(Clone)]
        enum Thing {
            Disc(Disc),
            Bullet(Bullet),
            Pickup(Pickup),
        }
        let mut world: BTreeMap<u32, (u32, Thing)> = BTreeMap::new();
        let mut generation = 0u32;
        let (mut checked, mut re_adds) = (0, 0);
        for tick in 1..=2_000u64 {
            for _ in 0..next(5) {
                let key = next(24) as u32;
                generation += 1;
                match next(5) {
                    0 => {
                        world.remove(&key);
                    }
                    1 => {
                        let b = Bullet {
                            x: next(1000) as f32 / 10.0,
                            owner: next(4) as u32,
                        };
                        if world
                            .get(&key)
                            .is_some_and(|(_, t)| !matches!(t, Thing::Bullet(_)))
                        {
                            re_adds += 1;
                        }
                        world.insert(key, (generation, Thing::Bullet(b)));
                    }
                    2 => {
                        let p = Pickup {
                            ready: next(2) == 0,
                        };
                        world.insert(key, (generation, Thing::Pickup(p)));
                    }
                    _ => {
                        let entry = world.entry(key).or_insert_with(|| {
                            (generation, Thing::Disc(disc(&format!("d{key}"), 0.0, 0.0)))
                        });
                        if let Thing::Disc(d) = &mut entry.1 {
                            d.x += next(300) as f32 / 100.0;
                        }
                    }
                }
            }
            enc.begin();
            for (key, (tag, thing)) in &world {
                let pushed = match thing {
                    Thing::Disc(d) => enc.push(0, *key, *tag, d),
                    Thing::Bullet(b) => enc.push(1, *key, *tag, b),
                    Thing::Pickup(p) => enc.push(2, *key, *tag, p),
                };
                pushed.unwrap();
            }
            let bytes = Bytes::copy_from_slice(enc.finish(tick, std::iter::empty(), &()));
            if next(10) == 0 {
                continue; // missed
            }
            let Applied::State { .. } = m.apply(&bytes).unwrap() else {
                continue;
            };
            let q = |v: f32, step: f64| ((f64::from(v) / step).round() * step) as f32;
            let mut want_discs = Vec::new();
            let mut want_bullets = Vec::new();
            let mut want_pickups = Vec::new();
            for (key, (_, thing)) in &world {
                match thing {
                    Thing::Disc(d) => {
                        want_discs.push((*key, disc(&d.id, q(d.x, 0.01), q(d.y, 0.01))))
                    }
                    Thing::Bullet(b) => want_bullets.push((
                        *key,
                        Bullet {
                            x: q(b.x, 0.1),
                            owner: b.owner,
                        },
                    )),
                    Thing::Pickup(p) => want_pickups.push((*key, p.clone())),
                }
            }
            assert_eq!(
                Disc::read_rows(m.frame()).unwrap(),
                want_discs,
                "tick {tick}"
            );
            assert_eq!(
                Bullet::read_rows(m.frame()).unwrap(),
                want_bullets,
                "tick {tick}"
            );
            assert_eq!(
                Pickup::read_rows(m.frame()).unwrap(),
                want_pickups,
                "tick {tick}"
            );
            checked += 1;
        }
        assert!(checked > 1_000 && re_adds > 100, "{checked} {re_adds}");
    }

    /// A row of an unknown kind is refused; a new row in a delta names its kind with a
    /// negative mask, one byte; a key pushed under two kinds is sent as the first kind's.
    #[test]
    fn kinds_on_the_wire() {
        let kinds = [Kind::of::<Bullet>(), Kind::of::<Pickup>()];
        let mut enc = Encoder::new(&kinds, 100);
        enc.begin();
        enc.push(1, 3, 0, &Pickup { ready: true }).unwrap();
        assert_eq!(
            enc.push(2, 4, 0, &Pickup { ready: true }),
            Err(RowError::UnknownKind(2))
        );
        let k = Bytes::copy_from_slice(enc.finish(1, std::iter::empty(), &()));
        let mut m = Mirror::new();
        m.apply(&k).unwrap();
        assert_eq!(
            Pickup::read_rows(m.frame()).unwrap(),
            [(3, Pickup { ready: true })]
        );
        assert!(Bullet::read_rows(m.frame()).unwrap().is_empty());
        // [tick, 0, [["bullet", [["x", -10], "owner"]], ["pickup", ["ready"]]], ...
        let v: rmpv::Value = rmp_serde::from_slice(&k).unwrap();
        assert_eq!(v[2][0][0].as_str(), Some("bullet"));
        assert_eq!(v[2][0][1][0][1].as_i64(), Some(-10));
        assert_eq!(v[2][1][1][0].as_str(), Some("ready"));
        assert_eq!(
            v[4][1].as_array().map(Vec::len),
            Some(2),
            "pickup rows: key, ready"
        );
        enc.begin();
        enc.push(1, 3, 0, &Pickup { ready: true }).unwrap();
        enc.push(0, 5, 0, &Bullet { x: 2.0, owner: 1 }).unwrap();
        let d = Bytes::copy_from_slice(enc.finish(2, std::iter::empty(), &()));
        // [2, 1, [], [5, -1, 20, 1], []]: tick 2, its base one tick back
        assert_eq!(&d[..], &[0x95, 2, 1, 0x90, 0x94, 5, 0xff, 20, 1, 0x90]);
        m.apply(&d).unwrap();
        assert_eq!(
            Bullet::read_rows(m.frame()).unwrap(),
            [(5, Bullet { x: 2.0, owner: 1 })]
        );
        // A mask of 0, a kind the keyframe did not list, a key both changed and removed, a
        // key changed twice, a mask naming a field the pickup does not have.
        for bad in [
            vec![0x95, 3, 1, 0x90, 0x93, 5, 0, 1, 0x90],
            vec![0x95, 3, 1, 0x90, 0x96, 3, 1, 0xc2, 3, 1, 0xc3, 0x90],
            vec![0x95, 3, 1, 0x90, 0x93, 3, 0b10, 0xc2, 0x90],
            vec![0x95, 3, 1, 0x90, 0x93, 9, 0xfd, 1, 0x90],
            vec![0x95, 3, 1, 0x90, 0x93, 3, 1, 0xc2, 0x91, 3],
        ] {
            assert!(m.apply(&Bytes::from(bad)).is_err());
            assert_eq!(m.tick(), Some(2));
        }
        let mut enc = Encoder::new(&kinds, 100);
        enc.begin();
        enc.push(1, 3, 0, &Pickup { ready: true }).unwrap();
        enc.push(0, 3, 0, &Bullet { x: 1.0, owner: 1 }).unwrap();
        let k = Bytes::copy_from_slice(enc.finish(1, std::iter::empty(), &()));
        let mut m = Mirror::new();
        m.apply(&k).unwrap();
        assert_eq!(
            Bullet::read_rows(m.frame()).unwrap(),
            [(3, Bullet { x: 1.0, owner: 1 })]
        );
        assert!(Pickup::read_rows(m.frame()).unwrap().is_empty());
    }
}
