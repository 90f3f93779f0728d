#!/usr/bin/env bash
# The soak: a release server pinned to core 0 under ~80 % of this machine's measured capacity
# (800 players; docs/BENCHMARKS.md measured ~1,000 within the SLO) for MINUTES minutes, the
# load on core 1: players join, play, reconnect and leave in waves of a minute, a few
# misbehave (bursts over the input rate limit, TCP connections that never speak). A sampler
# records the server's RSS, descriptors, connections, rooms, tick lateness, overruns and drops
# every 10 s; every wave reports its p99 input->ack. Everything lands in target/soak/, and a
# summary is printed at the end.
#
# Usage: benches/soak.sh [MINUTES] [PLAYERS]    (default 30 and 800)
set -euo pipefail
cd "$(dirname "$0")/.."
minutes="${1:-30}"
players="${2:-800}"
cargo build --release -q -p tickroom-server -p tickroom-bots
out=target/soak
rm -rf "$out"
mkdir -p "$out"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
url="http://127.0.0.1:$port"

# Every bot connects from 127.0.0.1: the per-address caps are for real clients.
TICKROOM_ADDR="127.0.0.1:$port" TICKROOM_RESULTS_DB=":memory:" TICKROOM_DRAIN_SECS=0 \
  TICKROOM_MAX_ROOMS=10000 TICKROOM_HANDSHAKE_RATE=100000 TICKROOM_HANDSHAKE_BURST=100000 \
  TICKROOM_SESSION_RATE=100000 TICKROOM_SESSION_BURST=100000 TICKROOM_MAX_CONNECTIONS_PER_IP=0 \
  TICKROOM_HEADER_READ_TIMEOUT_MS=5000 RUST_LOG=warn \
  taskset -c 0 target/release/tickroom-server >"$out/server.log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true; wait 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -sf "$url/healthz" >/dev/null && break; sleep 0.1; done

# The value of metric $1 in the exposition $2: the sum of its series when it has labels.
metric() { awk -v n="$1" '$1 == n || index($1, n "{") == 1 { s += $NF } END { print s + 0 }' <<<"$2"; }
(
  echo "t_s,rss_kib,fds,connections,rooms_open,ticks,lateness_sum_s,lateness_count,tick_overruns,snapshots_dropped,idle_closed"
  start=$SECONDS
  while kill -0 "$server" 2>/dev/null; do
    m=$(curl -s "$url/metrics" || true)
    rss=$(awk '/VmRSS/ {print $2}' "/proc/$server/status" 2>/dev/null || echo 0)
    fds=$(ls "/proc/$server/fd" 2>/dev/null | wc -l)
    echo "$((SECONDS - start)),$rss,$fds,$(metric tickroom_connections "$m"),$(metric tickroom_rooms_open "$m"),$(metric tickroom_ticks_total "$m"),$(metric tickroom_tick_lateness_seconds_sum "$m"),$(metric tickroom_tick_lateness_seconds_count "$m"),$(metric tickroom_tick_overruns_total "$m"),$(metric tickroom_snapshots_dropped_total "$m"),$(metric tickroom_connections_idle_closed_total "$m")"
    sleep 10
  done
) >"$out/samples.csv" &

echo "wave,t_s,joined,reconnects,p50_ms,p99_ms,max_ms,errors" >"$out/waves.csv"
end=$((SECONDS + minutes * 60))
wave=0
while [ "$SECONDS" -lt "$end" ]; do
  wave=$((wave + 1))
  t=$SECONDS
  # Players: rooms of 10 joining over 10 s, playing 40 s with a reconnection every 15 s, then
  # leaving (their rooms end once empty for the grace period).
  taskset -c 1 target/release/tickroom-bots swarm --server "$url" --rooms $((players / 10)) \
    --players 10 --ramp-up 10 --duration 40 --reconnect-every 15 --seed "$wave" \
    --json "$out/wave-$wave.json" >"$out/wave-$wave.log" 2>&1 &
  wave_bots=$!
  # A few misbehaving: bursts over the rate limit, in rooms of their own.
  taskset -c 1 target/release/tickroom-bots swarm --server "$url" --rooms 2 --players 4 \
    --behaviour bursty --ramp-up 1 --duration 45 --seed "$wave" \
    --json "$out/bursty-$wave.json" >/dev/null 2>&1 &
  bursty=$!
  # And 50 TCP connections that never send a byte (closed by the server's deadline).
  taskset -c 1 python3 - "$port" <<'PY' &
import socket, sys, time
held = [socket.create_connection(("127.0.0.1", int(sys.argv[1]))) for _ in range(50)]
time.sleep(20)
PY
  silent=$!
  wait "$wave_bots" "$bursty" "$silent" || true
  python3 - "$out/wave-$wave.json" "$wave" "$t" >>"$out/waves.csv" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
l, e = r["input_to_ack_us"], r["errors"]
errors = sum(sum(v.values()) for v in e.values() if isinstance(v, dict))
print(f'{sys.argv[2]},{sys.argv[3]},{r["bots"]["joined"]},{r["totals"].get("reconnects", 0)},'
      f'{l["p50"] / 1000:.1f},{l["p99"] / 1000:.1f},{l["max"] / 1000:.1f},{errors}')
PY
done
sleep 10

python3 - "$out" <<'PY'
import csv, sys
out = sys.argv[1]
s = list(csv.DictReader(open(f"{out}/samples.csv")))
w = list(csv.DictReader(open(f"{out}/waves.csv")))
def col(name): return [float(r[name] or 0) for r in s]
rss, fds = col("rss_kib"), col("fds")
third = max(1, len(s) // 3)
print(f"samples: {len(s)} over {s[-1]['t_s']} s; waves: {len(w)}")
print(f"RSS MiB: first third max {max(rss[:third]) / 1024:.1f}, last third max {max(rss[-third:]) / 1024:.1f}, overall max {max(rss) / 1024:.1f}")
print(f"descriptors: first third max {max(fds[:third]):.0f}, last third max {max(fds[-third:]):.0f}, overall max {max(fds):.0f}")
ls, lc = col("lateness_sum_s"), col("lateness_count")
late = (ls[-1] - ls[0]) / max(1, lc[-1] - lc[0]) * 1000
print(f"tick lateness mean over the run: {late:.2f} ms; overruns {col('tick_overruns')[-1]:.0f}; snapshots dropped {col('snapshots_dropped')[-1]:.0f}; idle connections closed {col('idle_closed')[-1]:.0f}")
p99 = [float(r["p99_ms"]) for r in w]
print(f"p99 input->ack per wave: min {min(p99):.1f} ms, median {sorted(p99)[len(p99) // 2]:.1f} ms, max {max(p99):.1f} ms; errors in all waves {sum(int(r['errors']) for r in w)}")
PY
