//! How late rooms' ticks start, as a Prometheus histogram: the floor keeps one as Tickroom
//! does (the same name and buckets, on `/metrics`), and `tickroom-load` reads either server's,
//! so the two can be set side by side.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The histogram's name, Tickroom's.
pub const NAME: &str = "tickroom_tick_lateness_seconds";

/// Tickroom's duration buckets (`server/src/metrics`), upper bounds in seconds; past the last
/// is +Inf.
pub const BUCKETS: [f64; 14] = [
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0,
];

/// Tick lateness, recorded from any thread.
#[derive(Debug, Default)]
pub struct Lateness {
    counts: [AtomicU64; BUCKETS.len() + 1],
    sum_ns: AtomicU64,
}

impl Lateness {
    /// Counts one tick that started `late`.
    pub fn record(&self, late: Duration) {
        let secs = late.as_secs_f64();
        let i = BUCKETS
            .iter()
            .position(|&le| secs <= le)
            .unwrap_or(BUCKETS.len());
        self.counts[i].fetch_add(1, Ordering::Relaxed);
        let ns = u64::try_from(late.as_nanos()).unwrap_or(u64::MAX);
        self.sum_ns.fetch_add(ns, Ordering::Relaxed);
    }

    /// The histogram in Prometheus's text format, buckets cumulative.
    pub fn render(&self) -> String {
        let mut out = format!("# TYPE {NAME} histogram\n");
        let mut total = 0;
        for (i, count) in self.counts.iter().enumerate() {
            total += count.load(Ordering::Relaxed);
            let le = BUCKETS
                .get(i)
                .map_or_else(|| "+Inf".to_owned(), ToString::to_string);
            out += &format!("{NAME}_bucket{{le=\"{le}\"}} {total}\n");
        }
        let sum = self.sum_ns.load(Ordering::Relaxed) as f64 / 1e9;
        out += &format!("{NAME}_sum {sum}\n{NAME}_count {total}\n");
        out
    }
}

/// The `q` quantile (0–1) of the histogram in `metrics` (a `/metrics` page), in milliseconds:
/// linear within the bucket it falls in, as Prometheus's `histogram_quantile` estimates it.
/// `None` when the page has no such histogram or it is empty.
pub fn quantile_ms(metrics: &str, q: f64) -> Option<f64> {
    let prefix = format!("{NAME}_bucket{{le=\"");
    let buckets: Vec<(f64, f64)> = metrics
        .lines()
        .filter_map(|l| {
            let (le, count) = l.strip_prefix(&prefix)?.split_once("\"} ")?;
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().ok()?
            };
            Some((le, count.trim().parse().ok()?))
        })
        .collect();
    let total = buckets.last()?.1;
    if total == 0.0 {
        return None;
    }
    let rank = q * total;
    let (mut lower, mut below) = (0.0, 0.0);
    for (le, count) in buckets {
        if count >= rank {
            if le.is_infinite() {
                return Some(lower * 1000.0);
            }
            let within = (rank - below) / (count - below).max(f64::MIN_POSITIVE);
            return Some((lower + (le - lower) * within) * 1000.0);
        }
        (lower, below) = (le, count);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: f64) -> Duration {
        Duration::from_secs_f64(n / 1000.0)
    }

    #[test]
    fn what_the_floor_serves_reads_back_as_the_quantiles_it_recorded() {
        let late = Lateness::default();
        // 90 ticks within 0.5 ms, 9 between 1 and 2.5 ms, one at 40 ms.
        for _ in 0..90 {
            late.record(ms(0.3));
        }
        for _ in 0..9 {
            late.record(ms(2.0));
        }
        late.record(ms(40.0));
        let page = late.render();
        assert!(page.contains(&format!("{NAME}_count 100")), "{page}");
        // The 50th tick is within (0.25, 0.5] ms: 50 of its 90.
        let p50 = quantile_ms(&page, 0.5).unwrap();
        assert!((p50 - (0.25 + 0.25 * 50.0 / 90.0)).abs() < 1e-9, "{p50}");
        // The 99th is the last of the nine in (1, 2.5] ms.
        assert!((quantile_ms(&page, 0.99).unwrap() - 2.5).abs() < 1e-9);
        // The slowest is in (25, 50] ms.
        let max = quantile_ms(&page, 1.0).unwrap();
        assert!((25.0..=50.0).contains(&max), "{max}");
    }

    #[test]
    fn reads_the_histogram_as_tickroom_renders_it() {
        // prometheus-client's rendering, as `tickroom-server`'s `/metrics` gives it.
        let page = "\
# TYPE tickroom_tick_lateness_seconds histogram
tickroom_tick_lateness_seconds_sum 0.5
tickroom_tick_lateness_seconds_count 200
tickroom_tick_lateness_seconds_bucket{le=\"5e-05\"} 0
tickroom_tick_lateness_seconds_bucket{le=\"0.0001\"} 0
tickroom_tick_lateness_seconds_bucket{le=\"0.00025\"} 0
tickroom_tick_lateness_seconds_bucket{le=\"0.0005\"} 0
tickroom_tick_lateness_seconds_bucket{le=\"0.001\"} 100
tickroom_tick_lateness_seconds_bucket{le=\"0.0025\"} 200
tickroom_tick_lateness_seconds_bucket{le=\"+Inf\"} 200
";
        assert!((quantile_ms(page, 0.5).unwrap() - 1.0).abs() < 1e-9);
        assert!((quantile_ms(page, 0.75).unwrap() - 1.75).abs() < 1e-9);
    }

    #[test]
    fn no_histogram_or_no_ticks_is_no_figure() {
        assert_eq!(quantile_ms("tickroom_ticks_total 5\n", 0.99), None);
        assert_eq!(quantile_ms(&Lateness::default().render(), 0.99), None);
    }

    #[test]
    fn past_the_last_bucket_is_its_bound() {
        let late = Lateness::default();
        late.record(Duration::from_secs(3));
        assert_eq!(quantile_ms(&late.render(), 0.99), Some(1000.0));
    }
}
