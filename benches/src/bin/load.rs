//! The load benchmark: starts a server pinned to one core, drives the bot swarm from another,
//! and sweeps the player count (rooms of 8, 30 Hz ticks, 30 Hz inputs) to find the most
//! players the server holds within the SLO: p99 input-to-ack ≤ 2 ticks, tick overruns
//! < 0.1 %, no connection dropped.
//!
//! `benches/load.sh` builds what it needs and runs this; see docs/BENCHMARKS.md.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use tickroom_benches::lateness;

#[derive(Parser)]
#[command(about = "Sweep players per server until the SLO breaks")]
struct Args {
    /// `tickroom`, `node` (the socket.io baseline in benches/baseline-node) or `floor` (the
    /// same protocol on bare tokio-tungstenite, `tickroom-floor`); `tickroom@<path>` is
    /// another build of the server, at `<path>`, for a before/after; several, comma-separated,
    /// are measured interleaved: each run of a step goes through every target in turn, so
    /// a change in the machine's speed during the sweep hits them all alike.
    #[arg(long, value_delimiter = ',', default_value = "tickroom")]
    target: Vec<String>,
    /// Players per room.
    #[arg(long, default_value_t = 8)]
    room_size: usize,
    /// Player counts to try, ascending (multiples of the room size).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "200,400,800,1200,1600,2000"
    )]
    players: Vec<usize>,
    /// Seconds each step plays after its ramp-up.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Seconds of ramp-up.
    #[arg(long, default_value_t = 3)]
    ramp: u64,
    /// Core(s) for the server, as `taskset -c` takes them (`0`, `0,2`, `0-1`).
    #[arg(long, default_value = "0")]
    server_core: String,
    /// Core(s) for the bots, as `taskset -c` takes them: on a machine with more cores, give
    /// the bots several (`1-3`) so they can offer more players than one core of bots can.
    #[arg(long, default_value = "1")]
    bots_core: String,
    /// Keep going after the first step that misses the SLO.
    #[arg(long)]
    all: bool,
    /// Runs per step, each on a fresh server. A step meets the SLO when most of its runs do,
    /// and the table shows its median run (by p99): on a VM a single stall of the host can
    /// push one run's p99 over the line.
    #[arg(long, default_value_t = 1)]
    repeat: usize,
    /// Instead of the sweep: memory per idle connection. Each count in `--players` is that
    /// many spectators in rooms nobody plays in (no ticks, no snapshots), measured as the
    /// server's resident memory growth.
    #[arg(long)]
    idle: bool,
}

/// Resident memory of `pid`, KiB.
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// On an idle machine, starts the target server, waits for it, runs `measure` with its URL,
/// port and process id, and stops it again whatever happened.
fn with_server<T>(
    args: &Args,
    target: &str,
    measure: impl FnOnce(&str, u16, u32) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    wait_idle();
    let port = free_port()?;
    let url = format!("http://127.0.0.1:{port}");
    let mut server = start_server(args, target, port)?;
    let result = wait_healthy(&url).and_then(|()| measure(&url, port, server.id()));
    let _ = server.kill();
    let _ = server.wait();
    result
}

/// `tickroom-bots swarm` against `url` on the bots' cores for the run's ramp-up and duration,
/// output discarded; the caller adds what the swarm is made of.
fn swarm_command(args: &Args, url: &str) -> anyhow::Result<Command> {
    let mut cmd = Command::new("taskset");
    cmd.args(["-c", &args.bots_core])
        .arg(bin_dir()?.join("tickroom-bots"))
        .args(["swarm", "--server", url])
        .args(["--duration", &args.seconds.to_string()])
        .args(["--ramp-up", &args.ramp.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    Ok(cmd)
}

/// Server memory growth per idle connection, KiB, with `conns` spectators connected.
fn idle_step(args: &Args, target: &str, conns: usize) -> anyhow::Result<f64> {
    with_server(args, target, |url, _, pid| {
        std::thread::sleep(Duration::from_millis(500));
        let before = rss_kib(pid);
        let per_room = 16;
        let mut swarm = swarm_command(args, url)?
            .args(["--players", "0"])
            .args(["--spectators", &per_room.to_string()])
            .args(["--rooms", &conns.div_ceil(per_room).to_string()])
            .args(["--json", "/dev/null"])
            .spawn()?;
        // Everyone is connected after the ramp; measure mid-way through the idle time.
        std::thread::sleep(Duration::from_secs(args.ramp) + Duration::from_secs(args.seconds) / 2);
        let during = rss_kib(pid);
        let _ = swarm.wait();
        Ok((during.saturating_sub(before)) as f64 / conns.max(1) as f64)
    })
}

const TICK_MS: f64 = 1000.0 / 30.0;

fn bin_dir() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    Ok(exe.parent().context("exe dir")?.to_owned())
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// User + system CPU seconds of `pid` from /proc (USER_HZ is 100 on Linux).
fn cpu_seconds(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            let rest = s.rsplit_once(')')?.1.to_owned();
            let f: Vec<&str> = rest.split_whitespace().collect();
            Some((f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?) / 100.0)
        })
        .unwrap_or(0.0)
}

/// Waits (up to 30 s) until the machine is at least 90 % idle over a second.
fn wait_idle() {
    let read = || -> Option<(u64, u64)> {
        let s = std::fs::read_to_string("/proc/stat").ok()?;
        let v: Vec<u64> = s
            .lines()
            .next()?
            .split_whitespace()
            .skip(1)
            .filter_map(|x| x.parse().ok())
            .collect();
        Some((v.iter().sum(), v.get(3)? + v.get(4).unwrap_or(&0)))
    };
    for _ in 0..30 {
        let Some(a) = read() else { return };
        std::thread::sleep(Duration::from_secs(1));
        let Some(b) = read() else { return };
        let idle = (b.1 - a.1) as f64 / (b.0 - a.0).max(1) as f64;
        if idle >= 0.9 {
            return;
        }
    }
    eprintln!("warning: machine not idle after 30 s; measuring anyway");
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn start_server(args: &Args, target: &str, port: u16) -> anyhow::Result<Child> {
    let core = args.server_core.clone();
    let mut cmd = Command::new("taskset");
    // `tickroom`, or `tickroom@<path>`: a build of the server.
    let server = match target.split_once('@') {
        Some(("tickroom", path)) => Some(PathBuf::from(path)),
        _ if target == "tickroom" => Some(bin_dir()?.join("tickroom-server")),
        _ => None,
    };
    if let Some(server) = server {
        cmd.args(["-c", &core]).arg(server);
        cmd.env("TICKROOM_ADDR", format!("127.0.0.1:{port}"))
            .env("TICKROOM_RESULTS_DB", ":memory:")
            .env("TICKROOM_DRAIN_SECS", "0")
            .env("TICKROOM_MAX_ROOMS", "10000")
            .env("TICKROOM_HANDSHAKE_BURST", "100000")
            .env("TICKROOM_HANDSHAKE_RATE", "100000")
            // Every bot connects from 127.0.0.1: no per-address caps.
            .env("TICKROOM_SESSION_BURST", "100000")
            .env("TICKROOM_SESSION_RATE", "100000")
            .env("TICKROOM_MAX_CONNECTIONS_PER_IP", "0")
            .env("RUST_LOG", "error");
        return Ok(cmd.stdout(Stdio::null()).stderr(Stdio::null()).spawn()?);
    }
    match target {
        "floor" => {
            cmd.args(["-c", &core])
                .arg(bin_dir()?.join("tickroom-floor"))
                .arg(port.to_string());
        }
        "node" => {
            cmd.args(["-c", &core, "node"])
                .arg(repo_root().join("benches/baseline-node/server.mjs"))
                .arg(port.to_string());
        }
        other => bail!("unknown target {other}"),
    }
    Ok(cmd.stdout(Stdio::null()).stderr(Stdio::null()).spawn()?)
}

fn wait_healthy(url: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        let ok = Command::new("curl")
            .args(["-sf", "-m", "2", &format!("{url}/healthz")])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    bail!("server at {url} did not come up")
}

/// A server's `/metrics` text; `None` for the Node baseline, which has none.
fn scrape(url: &str) -> Option<String> {
    let out = Command::new("curl")
        .args(["-sf", &format!("{url}/metrics")])
        .output()
        .ok()?;
    String::from_utf8(out.stdout).ok()
}

/// Ticks and overruns from a Tickroom server's metrics; `None` for the others.
fn tick_counters(metrics: &str) -> Option<(u64, u64)> {
    let get = |name: &str| {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse::<u64>().ok())
    };
    Some((
        get("tickroom_ticks_total ")?,
        get("tickroom_tick_overruns_total ")? + get("tickroom_ticks_skipped_total ")?,
    ))
}

struct Step {
    players: usize,
    server_cpu: f64,
    bots_cpu: f64,
    p50_ms: f64,
    p99_ms: f64,
    overrun_pct: Option<f64>,
    /// p99 of how late the rooms' ticks started, where the server reports it.
    tick_late_p99_ms: Option<f64>,
    dropped: u64,
    bytes_per_client: f64,
    wire_bytes_per_client: f64,
}

impl Step {
    fn passes(&self) -> bool {
        self.p99_ms <= 2.0 * TICK_MS
            && self.overrun_pct.is_none_or(|p| p < 0.1)
            && self.dropped == 0
    }
}

fn run_step(args: &Args, target: &str, players: usize) -> anyhow::Result<Step> {
    with_server(args, target, |url, port, pid| {
        let json = std::env::temp_dir().join(format!("tickroom-load-{port}.json"));
        let cpu0 = cpu_seconds(pid);
        let t0 = Instant::now();
        let status = swarm_command(args, url)?
            .args(["--players", &args.room_size.to_string()])
            .args(["--rooms", &(players / args.room_size.max(1)).to_string()])
            .arg("--json")
            .arg(&json)
            // Bots that cannot join at overload are a result (the SLO counts them), not a
            // failure of the run.
            .arg("--allow-failures")
            .status()?;
        let wall = t0.elapsed().as_secs_f64();
        let server_cpu = 100.0 * (cpu_seconds(pid) - cpu0) / wall;
        if !status.success() {
            bail!("the swarm failed at {players} players");
        }
        let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&json)?)?;
        let _ = std::fs::remove_file(&json);
        let ms = |p: &str| {
            report["input_to_ack_us"][p]
                .as_f64()
                .unwrap_or(f64::INFINITY)
                / 1000.0
        };
        let errors = &report["errors"];
        let count = |k: &str| {
            errors[k]
                .as_object()
                .map_or(0, |m| m.values().filter_map(|v| v.as_u64()).sum::<u64>())
        };
        let dropped = report["bots"]["failed"].as_u64().unwrap_or(0)
            + count("disconnects")
            + count("connect_failures");
        let metrics = scrape(url).unwrap_or_default();
        let overrun_pct =
            tick_counters(&metrics).map(|(ticks, over)| 100.0 * over as f64 / ticks.max(1) as f64);
        Ok(Step {
            players,
            server_cpu,
            bots_cpu: report["process"]["cpu_percent_of_one_core"]
                .as_f64()
                .unwrap_or(0.0),
            p50_ms: ms("p50"),
            p99_ms: ms("p99"),
            overrun_pct,
            tick_late_p99_ms: lateness::quantile_ms(&metrics, 0.99),
            dropped,
            bytes_per_client: report["totals"]["bytes_per_bot_per_sec"]
                .as_f64()
                .unwrap_or(0.0),
            wire_bytes_per_client: report["totals"]["wire_bytes_per_bot_per_sec"]
                .as_f64()
                .unwrap_or(0.0),
        })
    })
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let targets = &args.target;
    if args.idle {
        println!("memory per idle connection (server RSS growth)");
        println!("| target | connections | KiB per connection |");
        println!("|---|---|---|");
        for &conns in &args.players {
            for target in targets {
                let kib = idle_step(&args, target, conns)?;
                println!("| {target} | {conns} | {kib:.1} |");
            }
        }
        return Ok(());
    }
    let repeat = args.repeat.max(1);
    println!(
        "targets {} — rooms of {}, server on core(s) {}, bots on core(s) {}, {} s + {} s ramp per \
         run, {} run(s) per step{}",
        targets.join(", "),
        args.room_size,
        args.server_core,
        args.bots_core,
        args.seconds,
        args.ramp,
        repeat,
        if targets.len() > 1 {
            ", targets interleaved"
        } else {
            ""
        },
    );
    println!(
        "| target | players | server CPU | bots CPU | ack p50 | ack p99 | overruns | tick late p99 | dropped | per client | with WS framing | SLO |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    let mut best: Vec<Option<usize>> = vec![None; targets.len()];
    let mut going = vec![true; targets.len()];
    for &players in &args.players {
        let mut runs: Vec<Vec<Step>> = targets.iter().map(|_| Vec::new()).collect();
        for _ in 0..repeat {
            for (i, target) in targets.iter().enumerate() {
                if going[i] {
                    runs[i].push(run_step(&args, target, players)?);
                }
            }
        }
        for (i, mut runs) in runs.into_iter().enumerate() {
            if !going[i] {
                continue;
            }
            let passed = runs.iter().filter(|r| r.passes()).count();
            let pass = 2 * passed > repeat;
            runs.sort_by(|a, b| a.p99_ms.total_cmp(&b.p99_ms));
            let step = &runs[repeat / 2];
            let verdict = if pass { "pass" } else { "miss" };
            let verdict = if repeat > 1 {
                format!("{verdict} ({passed}/{repeat} runs)")
            } else {
                verdict.to_owned()
            };
            println!(
                "| {} | {} | {:.0} % | {:.0} % | {:.1} ms | {:.1} ms | {} | {} | {} | {:.2} KB/s | {:.2} KB/s | {} |",
                targets[i],
                step.players,
                step.server_cpu,
                step.bots_cpu,
                step.p50_ms,
                step.p99_ms,
                step.overrun_pct
                    .map_or_else(|| "n/a".to_owned(), |p| format!("{p:.3} %")),
                step.tick_late_p99_ms
                    .map_or_else(|| "n/a".to_owned(), |ms| format!("{ms:.1} ms")),
                step.dropped,
                step.bytes_per_client / 1000.0,
                step.wire_bytes_per_client / 1000.0,
                verdict,
            );
            if pass {
                best[i] = Some(players);
            } else if !args.all {
                going[i] = false;
            }
        }
        if !going.contains(&true) {
            break;
        }
    }
    println!();
    for (target, best) in targets.iter().zip(&best) {
        match best {
            Some(n) => println!("{target}: max players within the SLO: {n}"),
            None => println!("{target}: no step met the SLO"),
        }
    }
    if let (Some(Some(first)), true) = (best.first(), targets.len() > 1) {
        for (target, best) in targets.iter().zip(&best).skip(1) {
            if let Some(n) = best {
                println!(
                    "{} / {target}: {:.2}×",
                    targets[0],
                    *first as f64 / *n as f64
                );
            }
        }
    }
    Ok(())
}
