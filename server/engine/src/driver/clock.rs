//! The fixed-timestep clock: tick *n* is due at `start + n × period`; a late room runs a
//! bounded number of due ticks back to back and skips the rest. Pure arithmetic on instants,
//! so it is tested without a runtime.

use std::time::Duration;

use tokio::time::Instant;

use super::MAX_CATCH_UP;

/// What to do when woken for a tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Due {
    /// How late the tick starts after its scheduled time.
    pub late: Duration,
    /// Ticks to run now, back to back (1 when on time, at most [`MAX_CATCH_UP`]).
    pub run: u32,
    /// Ticks that fell due but are skipped: the room fell further behind than it catches up.
    pub skipped: u32,
}

/// When a room's ticks are due.
#[derive(Debug, Clone)]
pub struct TickClock {
    period: Duration,
    next: Instant,
}

impl TickClock {
    /// A clock ticking `rate` times a second (at least once), the first tick due at `start`.
    pub fn new(rate: u32, start: Instant) -> Self {
        Self {
            period: Duration::from_secs_f64(1.0 / f64::from(rate.max(1))),
            next: start,
        }
    }

    /// Time between ticks.
    pub fn period(&self) -> Duration {
        self.period
    }

    /// When the next tick is due.
    pub fn next(&self) -> Instant {
        self.next
    }

    /// Woken at `now` (at or after [`next`](Self::next)): the ticks due now are this one plus
    /// any whole periods behind. Moves the schedule past all of them, run or skipped, so the
    /// room comes back at its rate instead of bursting.
    pub fn due(&mut self, now: Instant) -> Due {
        let late = now.saturating_duration_since(self.next);
        let behind =
            u32::try_from(late.as_nanos() / self.period.as_nanos().max(1)).unwrap_or(u32::MAX);
        let due = behind.saturating_add(1);
        let run = due.min(MAX_CATCH_UP);
        self.next += self.period * due;
        Due {
            late,
            run,
            skipped: due - run,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn on_time_ticks_run_one_at_a_time() {
        let t0 = Instant::now();
        let mut clock = TickClock::new(10, t0);
        assert_eq!(clock.period(), ms(100));
        assert_eq!(clock.next(), t0);
        let due = clock.due(t0);
        assert_eq!(
            due,
            Due {
                late: Duration::ZERO,
                run: 1,
                skipped: 0
            }
        );
        assert_eq!(clock.next(), t0 + ms(100));
        // A little late, less than a period: one tick, and the schedule does not drift.
        let due = clock.due(t0 + ms(130));
        assert_eq!((due.late, due.run, due.skipped), (ms(30), 1, 0));
        assert_eq!(clock.next(), t0 + ms(200));
    }

    #[test]
    fn a_late_room_catches_up_a_bounded_number_of_ticks() {
        let t0 = Instant::now();
        let mut clock = TickClock::new(10, t0);
        clock.due(t0);
        // Woken 150 ms after tick 1 was due: ticks 1 and 2 are due.
        let due = clock.due(t0 + ms(250));
        assert_eq!((due.run, due.skipped), (2, 0));
        assert_eq!(clock.next(), t0 + ms(300));
        // A one-second stall: 10 ticks due, MAX_CATCH_UP run, the rest skipped.
        let due = clock.due(t0 + ms(1_250));
        assert_eq!(
            (due.run, due.skipped),
            (MAX_CATCH_UP, 10 - MAX_CATCH_UP),
            "{due:?}"
        );
        assert_eq!(due.late, ms(950));
        assert_eq!(clock.next(), t0 + ms(1_300), "back on the original grid");
    }

    #[test]
    fn a_zero_rate_is_one_hertz() {
        let t0 = Instant::now();
        let clock = TickClock::new(0, t0);
        assert_eq!(clock.period(), Duration::from_secs(1));
    }
}
