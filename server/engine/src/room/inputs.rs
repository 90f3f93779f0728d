//! A player's queue of inputs waiting for their tick.

use std::collections::VecDeque;

use tickroom_shared::limits::MAX_SEQ_JUMP;

/// What happened to a pushed input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushOutcome {
    /// Queued for a coming tick.
    Queued,
    /// Its `seq` was already applied or is already queued; ignored (a resend is harmless).
    Duplicate,
    /// The queue is at its bound; refused.
    Full,
    /// The player has no seat in the room.
    NotSeated,
    /// Its `seq` is more than [`MAX_SEQ_JUMP`] ahead of the last applied input; refused.
    OutOfRange,
}

/// Inputs ordered by `seq`, bounded, remembering the last one applied.
#[derive(Debug)]
pub(crate) struct InputQueue<I> {
    pending: VecDeque<(u32, I)>,
    cap: usize,
    last_applied: u32,
}

impl<I> InputQueue<I> {
    pub(crate) fn new(cap: usize) -> Self {
        Self {
            pending: VecDeque::with_capacity(cap.min(64)),
            cap: cap.max(1),
            last_applied: 0,
        }
    }

    /// The `seq` of the last input handed out by [`pop`](Self::pop), 0 before any.
    pub(crate) fn last_applied(&self) -> u32 {
        self.last_applied
    }

    /// Records `seq` as applied, as if [`pop`](Self::pop) had handed it out: a replayed tick,
    /// which applies recorded inputs instead of queued ones.
    pub(crate) fn set_applied(&mut self, seq: u32) {
        self.last_applied = seq;
    }

    pub(crate) fn len(&self) -> usize {
        self.pending.len()
    }

    pub(crate) fn push(&mut self, seq: u32, input: I) -> PushOutcome {
        if seq <= self.last_applied {
            return PushOutcome::Duplicate;
        }
        if seq - self.last_applied > MAX_SEQ_JUMP {
            return PushOutcome::OutOfRange;
        }
        // Inputs usually arrive in order, so search from the back.
        let at = self.pending.iter().rposition(|(s, _)| *s <= seq);
        if let Some(i) = at
            && self.pending[i].0 == seq
        {
            return PushOutcome::Duplicate;
        }
        if self.pending.len() >= self.cap {
            return PushOutcome::Full;
        }
        self.pending.insert(at.map_or(0, |i| i + 1), (seq, input));
        PushOutcome::Queued
    }

    pub(crate) fn pop(&mut self) -> Option<(u32, I)> {
        let next = self.pending.pop_front()?;
        self.last_applied = next.0;
        Some(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_dedups_and_bounds() {
        let mut q = InputQueue::new(3);
        assert_eq!(q.push(2, 'b'), PushOutcome::Queued);
        assert_eq!(q.push(1, 'a'), PushOutcome::Queued);
        assert_eq!(q.push(2, 'x'), PushOutcome::Duplicate);
        assert_eq!(q.push(3, 'c'), PushOutcome::Queued);
        assert_eq!(q.push(4, 'd'), PushOutcome::Full);
        assert_eq!(q.pop(), Some((1, 'a')));
        assert_eq!(q.last_applied(), 1);
        assert_eq!(q.push(1, 'a'), PushOutcome::Duplicate);
        assert_eq!(q.pop(), Some((2, 'b')));
        assert_eq!(q.pop(), Some((3, 'c')));
        assert_eq!(q.pop(), None);
        assert_eq!(q.last_applied(), 3);
        assert_eq!(q.push(3, 'c'), PushOutcome::Duplicate);
        assert_eq!(q.push(10, 'j'), PushOutcome::Queued);
    }

    #[test]
    fn a_seq_far_ahead_cannot_wedge_the_queue() {
        let mut q = InputQueue::new(4);
        assert_eq!(q.push(u32::MAX, 'x'), PushOutcome::OutOfRange);
        assert_eq!(q.push(MAX_SEQ_JUMP + 1, 'x'), PushOutcome::OutOfRange);
        assert_eq!(q.push(MAX_SEQ_JUMP, 'a'), PushOutcome::Queued);
        assert_eq!(q.pop(), Some((MAX_SEQ_JUMP, 'a')));
        // The window moves with the last applied input.
        assert_eq!(q.push(2 * MAX_SEQ_JUMP, 'b'), PushOutcome::Queued);
        assert_eq!(q.push(2, 'c'), PushOutcome::Duplicate);
    }
}
