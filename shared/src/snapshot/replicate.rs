//! Declared rows: a game states its replicated row once, as a struct, and both sides use it —
//! the server encodes rows straight from it, clients read rows back into it by field name.

use serde::Serialize;

use super::{Frame, RowError};
use crate::wire::DecodeError;

/// A replicated row, declared as a struct with `#[derive(Replicate)]`: its named fields are the
/// row's fields, in declaration order, and their names go on the wire in keyframes. The server
/// encodes it with [`Encoder::push_row`](super::Encoder::push_row); a client reads it back with
/// [`read_rows`](Self::read_rows), matching fields by name, so a field the server adds does not
/// break an older client.
///
/// ```
/// use std::collections::BTreeMap;
/// use bytes::Bytes;
/// use tickroom_shared::snapshot::{Encoder, Mirror, Replicate};
///
/// #[derive(Debug, PartialEq, Replicate)]
/// struct Disc {
///     id: String,
///     x: f32,
///     y: f32,
/// }
/// assert_eq!(Disc::FIELDS, ["id", "x", "y"]);
///
/// // The server: one row per entity, then the tick's snapshot.
/// let mut enc = Encoder::for_row::<Disc>(30);
/// enc.begin();
/// enc.push_row(7, &Disc { id: "ann".into(), x: 1.0, y: 2.0 }).unwrap();
/// let acks = BTreeMap::from([("ann", 0u32)]);
/// let bytes = Bytes::copy_from_slice(enc.finish(1, &acks, &()));
///
/// // A client: the rows back, by key.
/// let mut mirror = Mirror::new();
/// mirror.apply(&bytes).unwrap();
/// let rows = Disc::read_rows(mirror.frame()).unwrap();
/// assert_eq!(rows, [(7, Disc { id: "ann".into(), x: 1.0, y: 2.0 })]);
/// ```
pub trait Replicate: Sized {
    /// The field names, in wire order (at most 64).
    const FIELDS: &'static [&'static str];

    /// Writes every field, in order, through `w`.
    fn write_fields(&self, w: &mut RowWriter<'_>) -> Result<(), RowError>;

    /// Every row of `frame`, by key, read by field name.
    fn read_rows(frame: &Frame) -> Result<Vec<(u32, Self)>, DecodeError>;
}

/// Rows with no fields: for a game whose state is all globals.
impl Replicate for () {
    const FIELDS: &'static [&'static str] = &[];

    fn write_fields(&self, _w: &mut RowWriter<'_>) -> Result<(), RowError> {
        Ok(())
    }

    fn read_rows(frame: &Frame) -> Result<Vec<(u32, Self)>, DecodeError> {
        Ok(frame.rows.keys().map(|k| (*k, ())).collect())
    }
}

/// Where [`Replicate::write_fields`] writes: each field as one msgpack value, its boundaries
/// recorded for the delta comparison.
#[derive(Debug)]
pub struct RowWriter<'a> {
    pub(super) buf: &'a mut Vec<u8>,
    pub(super) offsets: &'a mut Vec<u32>,
}

impl RowWriter<'_> {
    /// Writes the next field (structs inside a field as arrays, as everywhere in rows).
    pub fn field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), RowError> {
        self.offsets.push(self.buf.len() as u32);
        value
            .serialize(&mut rmp_serde::Serializer::new(&mut *self.buf))
            .map_err(|_| RowError::Field)
    }
}

impl Frame {
    /// The positions of `names` among the frame's fields; [`DecodeError::Shape`] if one is
    /// missing.
    pub fn field_indices<const N: usize>(&self, names: &[&str]) -> Result<[usize; N], DecodeError> {
        let mut at = [0; N];
        if names.len() != N {
            return Err(DecodeError::Shape);
        }
        for (slot, name) in at.iter_mut().zip(names) {
            *slot = self.field_index(name).ok_or(DecodeError::Shape)?;
        }
        Ok(at)
    }
}
