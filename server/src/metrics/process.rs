//! The standard `process_*` metrics, read from `/proc/self` at every scrape, as the official
//! Prometheus clients export them: CPU seconds, resident and virtual memory, open and maximum
//! file descriptors, threads and start time. On a system without `/proc` it reports nothing.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

/// Clock ticks per second in `/proc/<pid>/stat`: `USER_HZ`, 100 on every Linux architecture
/// this server builds for (the Go client's `procfs` makes the same assumption).
const USER_HZ: f64 = 100.0;

/// Reads the process's own figures on each scrape.
#[derive(Debug, Default)]
pub(crate) struct ProcessCollector;

/// One reading of `/proc/self`.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct ProcessStats {
    pub(crate) cpu_seconds: f64,
    pub(crate) resident_bytes: i64,
    pub(crate) virtual_bytes: i64,
    pub(crate) threads: i64,
    pub(crate) start_time_seconds: f64,
    pub(crate) open_fds: i64,
    pub(crate) max_fds: Option<i64>,
}

impl ProcessStats {
    /// Reads `/proc/self`; `None` where there is none.
    pub(crate) fn read() -> Option<Self> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let boot = std::fs::read_to_string("/proc/stat").ok()?;
        let mut s = parse(&stat, &status, &boot)?;
        s.open_fds = std::fs::read_dir("/proc/self/fd").ok()?.count() as i64;
        s.max_fds = std::fs::read_to_string("/proc/self/limits")
            .ok()
            .and_then(|l| max_open_files(&l));
        Some(s)
    }
}

/// CPU seconds the process has used (user and system), from `/proc/self/stat` alone; `None`
/// where there is no `/proc`.
pub fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields = stat_fields(&stat)?;
    Some(
        (fields.get(14 - 3)?.parse::<f64>().ok()? + fields.get(15 - 3)?.parse::<f64>().ok()?)
            / USER_HZ,
    )
}

/// The fields of `/proc/self/stat` from field 3 (state) on: field n is at `n - 3`. The
/// command name, field 2, is in parentheses and may hold spaces, so they are counted from
/// after it.
fn stat_fields(stat: &str) -> Option<Vec<&str>> {
    Some(stat[stat.rfind(')')? + 2..].split_whitespace().collect())
}

/// Parses `/proc/self/stat`, `/proc/self/status` and `/proc/stat` (for the boot time).
fn parse(stat: &str, status: &str, proc_stat: &str) -> Option<ProcessStats> {
    let fields = stat_fields(stat)?;
    let field = |n: usize| -> Option<f64> { fields.get(n - 3)?.parse().ok() };
    let kib = |key: &str| -> Option<i64> {
        let line = status.lines().find(|l| l.starts_with(key))?;
        line[key.len()..]
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse::<i64>()
            .ok()
    };
    let boot: f64 = proc_stat
        .lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()?;
    Some(ProcessStats {
        cpu_seconds: (field(14)? + field(15)?) / USER_HZ,
        threads: field(20)? as i64,
        start_time_seconds: boot + field(22)? / USER_HZ,
        virtual_bytes: field(23)? as i64,
        resident_bytes: kib("VmRSS:")? * 1024,
        open_fds: 0,
        max_fds: None,
    })
}

/// The soft limit on open files from `/proc/self/limits`.
fn max_open_files(limits: &str) -> Option<i64> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let Some(s) = ProcessStats::read() else {
            return Ok(());
        };
        let cpu = ConstCounter::new(s.cpu_seconds);
        cpu.encode(encoder.encode_descriptor(
            "process_cpu_seconds",
            "Total user and system CPU time spent in seconds.",
            None,
            cpu.metric_type(),
        )?)?;
        let mut gauges = vec![
            (
                "process_resident_memory_bytes",
                "Resident memory size in bytes.",
                s.resident_bytes,
            ),
            (
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes.",
                s.virtual_bytes,
            ),
            (
                "process_open_fds",
                "Number of open file descriptors.",
                s.open_fds,
            ),
            (
                "process_threads",
                "Number of OS threads in the process.",
                s.threads,
            ),
        ];
        if let Some(max) = s.max_fds {
            gauges.push((
                "process_max_fds",
                "Maximum number of open file descriptors.",
                max,
            ));
        }
        for (name, help, v) in gauges {
            let g = ConstGauge::new(v);
            g.encode(encoder.encode_descriptor(name, help, None, g.metric_type())?)?;
        }
        let start = ConstGauge::new(s.start_time_seconds);
        start.encode(encoder.encode_descriptor(
            "process_start_time_seconds",
            "Start time of the process since unix epoch in seconds.",
            None,
            start.metric_type(),
        )?)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_files() {
        // A command name with spaces and a parenthesis, as `/proc/<pid>/stat` may show it.
        let stat = "4242 (tick room) srv) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 150 0 0 \
                    20 0 7 0 12345 104857600 2048 18446744073709551615";
        let status = "Name:\ttickroom\nVmRSS:\t   8192 kB\nThreads:\t7\n";
        let proc_stat = "cpu  1 2 3\nbtime 1700000000\nprocesses 9\n";
        let s = parse(stat, status, proc_stat).expect("parsed");
        assert_eq!(s.cpu_seconds, 4.0);
        assert_eq!(s.threads, 7);
        assert_eq!(s.start_time_seconds, 1_700_000_000.0 + 123.45);
        assert_eq!(s.virtual_bytes, 104_857_600);
        assert_eq!(s.resident_bytes, 8192 * 1024);
        let limits = "Limit                     Soft Limit           Hard Limit           Units\n\
                      Max open files            65536                524288               files\n";
        assert_eq!(max_open_files(limits), Some(65536));
    }

    #[test]
    fn reads_this_process() {
        let s = ProcessStats::read().expect("/proc is mounted on Linux");
        assert!(
            s.resident_bytes > 0 && s.threads >= 1 && s.open_fds >= 3,
            "{s:?}"
        );
        assert!(s.start_time_seconds > 1.6e9, "{s:?}");
    }
}
