//! Declared rows: a game states its replicated row once, as a struct, and both sides use it —
//! the server encodes rows straight from it, clients read rows back into it by field name.

use serde::Serialize;

use super::{Field, Frame, RowError};
use crate::wire::DecodeError;

/// A kind of replicated row, declared as a struct with `#[derive(Replicate)]`: its named fields
/// are the row's fields, in declaration order, and their names go on the wire in keyframes,
/// under the kind's name ([`KIND`](Self::KIND)). A game declares one such struct per kind of
/// thing it replicates (players, bullets, pickups). A numeric
/// field may be quantized where it is declared — `#[replicate(step = 0.01)]` sends hundredths
/// as integers, `#[replicate(angle_bits = 8)]` an angle in radians as 8 bits — and keyframes
/// say how, so a generic client undoes it without game code. The server encodes rows with
/// [`Encoder::push_row`](super::Encoder::push_row); a client reads them back with
/// [`read_rows`](Self::read_rows), matching fields by name, so a field the server adds does
/// not break an older client.
///
/// ```
/// use bytes::Bytes;
/// use tickroom_shared::snapshot::{Encoder, Mirror, Replicate};
///
/// #[derive(Debug, PartialEq, Replicate)]
/// struct Disc {
///     id: String,
///     #[replicate(step = 0.01)]
///     x: f32,
///     #[replicate(step = 0.01)]
///     y: f32,
/// }
/// let names: Vec<&str> = Disc::FIELDS.iter().map(|f| f.name).collect();
/// assert_eq!(names, ["id", "x", "y"]);
///
/// // The server: one row per entity, then the tick's snapshot (seat 0 is ann, input 0 applied).
/// let mut enc = Encoder::for_row::<Disc>(30);
/// enc.begin();
/// enc.push_row(7, &Disc { id: "ann".into(), x: 1.25, y: 2.0 }).unwrap();
/// let bytes = Bytes::copy_from_slice(enc.finish(1, [(0u32, "ann", 0u32)].into_iter(), &()));
///
/// // A client: the rows back, by key.
/// let mut mirror = Mirror::new();
/// mirror.apply(&bytes).unwrap();
/// let rows = Disc::read_rows(mirror.frame()).unwrap();
/// assert_eq!(rows, [(7, Disc { id: "ann".into(), x: 1.25, y: 2.0 })]);
/// ```
pub trait Replicate: Sized {
    /// The kind's name on the wire: `#[replicate(kind = "bullet")]` on the struct, else its
    /// name in snake case (`ArenaPlayer`: `arena_player`). Unique among a game's kinds.
    const KIND: &'static str;

    /// The fields, in wire order (at most 64).
    const FIELDS: &'static [Field];

    /// Writes every field, in order, through `w`.
    fn write_fields(&self, w: &mut RowWriter<'_>) -> Result<(), RowError>;

    /// Every row of this kind in `frame`, by key, read by field name;
    /// [`DecodeError::Shape`] if the frame has no such kind or lacks a field.
    fn read_rows(frame: &Frame) -> Result<Vec<(u32, Self)>, DecodeError>;
}

/// A number a field may be quantized from (`#[replicate(step = ...)]`).
pub trait Quantity: Copy {
    /// The value as an `f64`, which quantization starts from.
    fn to_f64(self) -> f64;
}

macro_rules! quantity {
    ($($t:ty),*) => {$(
        impl Quantity for $t {
            fn to_f64(self) -> f64 {
                self as f64
            }
        }
    )*};
}
quantity!(f32, f64, i8, i16, i32, i64, u8, u16, u32, u64);

/// Where [`Replicate::write_fields`] writes: each field as one msgpack value (a quantized one
/// as its integer), its boundaries and integer recorded for the delta comparison.
#[derive(Debug)]
pub struct RowWriter<'a> {
    pub(super) fields: &'a [Field],
    /// Each field's `1 / step` (unused for raw fields).
    pub(super) inverses: &'a [f64],
    pub(super) buf: &'a mut Vec<u8>,
    pub(super) offsets: &'a mut Vec<u32>,
    pub(super) ints: &'a mut Vec<i64>,
    /// The index of the next field to write.
    pub(super) next: usize,
    /// Quantized fields are written whole, as float64, not as their integer ([`ExactRows`]).
    pub(super) exact: bool,
}

impl RowWriter<'_> {
    /// Writes the next field, sent as its own msgpack value (structs inside as arrays).
    pub fn field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), RowError> {
        self.offsets.push(self.buf.len() as u32);
        self.ints.push(0);
        self.next += 1;
        value
            .serialize(&mut rmp_serde::Serializer::new(&mut *self.buf))
            .map_err(|_| RowError::Field)
    }

    /// Writes the next field, declared quantized, as its integer.
    pub fn quantity<T: Quantity>(&mut self, value: T) -> Result<(), RowError> {
        if self.exact {
            self.offsets.push(self.buf.len() as u32);
            self.ints.push(0);
            self.next += 1;
            return rmp::encode::write_f64(&mut *self.buf, value.to_f64())
                .map_err(|_| RowError::Field);
        }
        let (Some(quant), Some(inverse)) = (
            self.fields.get(self.next).and_then(|f| f.quant),
            self.inverses.get(self.next),
        ) else {
            return Err(RowError::Field);
        };
        let q = quant.quantize_scaled(value.to_f64() * inverse);
        self.offsets.push(self.buf.len() as u32);
        self.ints.push(q);
        self.next += 1;
        rmp::encode::write_sint(&mut *self.buf, q).map_err(|_| RowError::Field)?;
        Ok(())
    }
}

impl Frame {
    /// Where each of `fields` is among kind `kind`'s fields, by name; [`DecodeError::Shape`]
    /// if one is missing.
    pub fn field_indices<const N: usize>(
        &self,
        kind: usize,
        fields: &[Field],
    ) -> Result<[usize; N], DecodeError> {
        let mut at = [0; N];
        if fields.len() != N {
            return Err(DecodeError::Shape);
        }
        for (slot, field) in at.iter_mut().zip(fields) {
            *slot = self
                .field_index(kind, field.name)
                .ok_or(DecodeError::Shape)?;
        }
        Ok(at)
    }
}

/// Writes rows with every field at full precision — a quantized field as its float64, not as
/// its integer — for what must see every bit of a row (a room's checksum), not for the wire.
/// Holds its scratch space, so writing rows allocates nothing once warm.
#[derive(Debug, Default)]
pub struct ExactRows {
    offsets: Vec<u32>,
    ints: Vec<i64>,
}

impl ExactRows {
    /// Appends every field of `row` to `out`, each one msgpack value.
    pub fn write<R: Replicate>(&mut self, row: &R, out: &mut Vec<u8>) -> Result<(), RowError> {
        self.offsets.clear();
        self.ints.clear();
        row.write_fields(&mut RowWriter {
            fields: R::FIELDS,
            inverses: &[],
            buf: out,
            offsets: &mut self.offsets,
            ints: &mut self.ints,
            next: 0,
            exact: true,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::ExactRows;
    use crate::snapshot::Replicate;

    #[derive(Replicate)]
    struct Disc {
        #[replicate(step = 0.01)]
        x: f32,
        tag: u8,
    }

    /// A difference far below the step changes the exact bytes, not the wire's integer.
    #[test]
    fn exact_rows_keep_every_bit() {
        let (mut w, mut a, mut b) = (ExactRows::default(), Vec::new(), Vec::new());
        w.write(&Disc { x: 1.0, tag: 3 }, &mut a).unwrap();
        w.write(
            &Disc {
                x: 1.0 + f32::EPSILON,
                tag: 3,
            },
            &mut b,
        )
        .unwrap();
        assert_ne!(a, b);
        assert_eq!(a[0], 0xcb, "a float64");
        assert_eq!(a[9], 3);
    }
}
