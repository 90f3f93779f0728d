//! A recorded room's command log as the match goes: kept in memory in chunks, readable by the
//! embedder while the room runs (a checkpoint copies what was added since the last one).

use std::sync::{Arc, Mutex, MutexGuard};

use super::Recording;
use crate::game::Game;
use crate::room::Room;

/// The size a chunk of a kept log is allocated with.
const CHUNK: usize = 64 << 10;

/// A copy of part of a running room's command log ([`RoomControl::recorded_since`]).
///
/// [`RoomControl::recorded_since`]: super::RoomControl::recorded_since
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// The log's bytes from the offset asked for to its end (whole records).
    pub bytes: Vec<u8>,
    /// The log's length: the offset to ask from next time.
    pub len: usize,
    /// Whether the log holds the whole match so far: false once it reached its bound, after
    /// which nothing more is kept.
    pub complete: bool,
}

/// The log's bytes, shared by the room's task (which appends after each tick) and its handle
/// (which copies).
#[derive(Debug, Default)]
pub(super) struct Kept {
    inner: Mutex<Chunks>,
}

#[derive(Debug, Default)]
struct Chunks {
    /// In chunks of [`CHUNK`] bytes or so: one growing buffer would copy the whole log
    /// (megabytes, in a big room) each time it doubles, inside a tick.
    chunks: Vec<Vec<u8>>,
    len: usize,
    /// The log reached its bound: the rest of the match is not kept.
    cut: bool,
}

impl Kept {
    fn lock(&self) -> MutexGuard<'_, Chunks> {
        // Every change is made whole before the lock is released.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The bytes from `offset` on, the length and whether the log is whole.
    pub(super) fn since(&self, offset: usize) -> Recorded {
        let kept = self.lock();
        let mut bytes = Vec::with_capacity(kept.len.saturating_sub(offset));
        let mut at = 0;
        for chunk in &kept.chunks {
            let end = at + chunk.len();
            if end > offset {
                bytes.extend_from_slice(&chunk[offset.saturating_sub(at)..]);
            }
            at = end;
        }
        Recorded {
            bytes,
            len: kept.len,
            complete: !kept.cut,
        }
    }
}

/// The task's side of a recorded room's log.
pub(super) struct Log {
    pub(super) recording: Recording,
    pub(super) kept: Arc<Kept>,
}

impl Log {
    /// A log that starts with `start` (a restored room's log so far; empty for a new room).
    pub(super) fn new(recording: Recording, start: Vec<u8>) -> Self {
        let len = start.len();
        let chunks = if start.is_empty() {
            Vec::new()
        } else {
            vec![start]
        };
        Self {
            recording,
            kept: Arc::new(Kept {
                inner: Mutex::new(Chunks {
                    chunks,
                    len,
                    cut: false,
                }),
            }),
        }
    }

    /// Whether the log reached its bound.
    pub(super) fn is_cut(&self) -> bool {
        self.kept.lock().cut
    }

    /// The whole log kept, in one buffer.
    pub(super) fn to_bytes(&self) -> Vec<u8> {
        self.kept.since(0).bytes
    }

    /// Keeps what the room logged since the last call, unless the bound is reached; `scratch`
    /// holds it meanwhile (the room writes whole records, so a cut falls between two).
    pub(super) fn keep<G: Game>(&mut self, room: &mut Room<G>, scratch: &mut Vec<u8>) {
        scratch.clear();
        room.take_log(scratch);
        let mut kept = self.kept.lock();
        if kept.cut || scratch.is_empty() {
            return;
        }
        if kept.len + scratch.len() > self.recording.max_bytes {
            // The rest would not be kept: no use logging it.
            kept.cut = true;
            room.stop_recording();
            return;
        }
        let len = scratch.len();
        match kept.chunks.last_mut() {
            Some(chunk) if chunk.len() + len <= chunk.capacity() => {
                chunk.extend_from_slice(scratch);
            }
            _ => {
                let mut chunk = Vec::with_capacity(CHUNK.max(len));
                chunk.extend_from_slice(scratch);
                kept.chunks.push(chunk);
            }
        }
        kept.len += len;
    }
}
