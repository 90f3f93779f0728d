//! Writing keyframes and deltas: the server side of [`super`].

use serde::Serialize;

use super::replicate::{Replicate, RowWriter};
use crate::wire::skip_value;

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
    /// A field of a declared row did not serialize.
    #[error("a row field does not serialize")]
    Field,
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

    /// An encoder for rows of the declared type `R`, its field names taken from `R`.
    pub fn for_row<R: Replicate>(keyframe_interval: u32) -> Self {
        Self::new(R::FIELDS, keyframe_interval)
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

    /// Adds one row of a declared type, written field by field (no shape check needed: the
    /// type fixes it). The encoder must have been made for `R` ([`for_row`](Self::for_row)).
    /// Keys must be unique in a tick.
    pub fn push_row<R: Replicate>(&mut self, key: u32, row: &R) -> Result<(), RowError> {
        debug_assert_eq!(
            R::FIELDS.len(),
            self.fields.len(),
            "encoder made for another row"
        );
        let start = self.cur.buf.len();
        let at = self.cur.offsets.len();
        let written = row.write_fields(&mut RowWriter {
            buf: &mut self.cur.buf,
            offsets: &mut self.cur.offsets,
        });
        if written.is_err() || self.cur.offsets.len() - at != self.fields.len() {
            self.cur.buf.truncate(start);
            self.cur.offsets.truncate(at);
            return Err(written.err().unwrap_or(RowError::Shape {
                expected: self.fields.len(),
            }));
        }
        self.cur.offsets.push(self.cur.buf.len() as u32);
        self.cur.rows.push(RowIdx { key, at: at as u32 });
        Ok(())
    }

    /// Makes the next snapshot a keyframe (e.g. after a client joined).
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
