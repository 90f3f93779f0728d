#!/usr/bin/env bash
# Colyseus 0.18 beside Tickroom, back to back, ROUNDS times: PLAYERS players in rooms of ROOM,
# walking with 30 Hz inputs for SECONDS after a RAMP, server pinned to core 0, load to core 1.
# Colyseus is driven by its official SDK (benches/colyseus/bots.mjs), Tickroom by
# tickroom-bots swarm. Prints each run's server CPU and the downstream bytes a client
# (WebSocket payloads and frame headers, over the run's wall time), and the players a client's
# state held. GAME=arena_large plays the large map (its side grows with ROOM) with interest
# management on both sides:
# Tickroom's Interest::within, Colyseus's StateView (benches/colyseus/server.mjs).
#
# Usage: benches/colyseus.sh [PLAYERS=800] [ROOM=10] [RAMP=1] [SECONDS=20] [ROUNDS=2] [GAME=arena]
set -euo pipefail
cd "$(dirname "$0")/.."
players=${1:-800} room=${2:-10} ramp=${3:-1} seconds=${4:-20} rounds=${5:-2} game=${6:-arena}
cargo build --release -q -p tickroom-server -p tickroom-bots
(cd benches/colyseus && npm ci --no-audit --no-fund --loglevel=error)
cpu() { awk '{print ($14 + $15) / 100}' "/proc/$1/stat"; }
share() { python3 -c "print(f'{100 * ($2 - $1) / ($4 - $3):.0f} %')"; }
for round in $(seq 1 "$rounds"); do
  GAME=$game ROOM_SIZE=$room taskset -c 0 node benches/colyseus/server.mjs 17381 >/dev/null 2>&1 &
  pid=$!
  sleep 2
  c0=$(cpu $pid) t0=$(date +%s.%N)
  out=$(taskset -c 1 node benches/colyseus/bots.mjs ws://127.0.0.1:17381 "$players" "$ramp" "$seconds")
  c1=$(cpu $pid) t1=$(date +%s.%N)
  kill $pid
  wait $pid 2>/dev/null || true
  echo "colyseus  round $round: server CPU $(share "$c0" "$c1" "$t0" "$t1")  $out"
  sleep 3
  TICKROOM_ADDR=127.0.0.1:17382 TICKROOM_RESULTS_DB=:memory: TICKROOM_LOG_LEVEL=warn \
    taskset -c 0 target/release/tickroom-server >/dev/null 2>&1 &
  pid=$!
  sleep 1
  c0=$(cpu $pid) t0=$(date +%s.%N)
  taskset -c 1 target/release/tickroom-bots swarm --server http://127.0.0.1:17382 \
    --game "$game" --rooms $((players / room)) --players "$room" --duration "$seconds" --ramp-up "$ramp" \
    --json /tmp/tickroom-colyseus-side.json >/dev/null 2>&1
  c1=$(cpu $pid) t1=$(date +%s.%N)
  curl -s http://127.0.0.1:17382/metrics >/tmp/tickroom-colyseus-side.prom
  kill -INT $pid
  wait $pid 2>/dev/null || true
  echo "tickroom  round $round: server CPU $(share "$c0" "$c1" "$t0" "$t1")  $(python3 -c "
import json, re
def p99(name):
    # the upper bound of the histogram bucket holding the 99th percentile, in ms
    b = [(float(le), float(n)) for le, n in re.findall(
        name + r'_bucket\{le=\"([^\"]+)\"\} (\S+)', open('/tmp/tickroom-colyseus-side.prom').read())]
    total = max((n for _, n in b), default=0)
    return next((le * 1000 for le, n in sorted(b) if n >= 0.99 * total), None)
r = json.load(open('/tmp/tickroom-colyseus-side.json'))
print(json.dumps({'joined': r['bots']['joined'], 'inputs': r['totals']['inputs_sent'],
                  'p99_ms': r['input_to_ack_us']['p99'] / 1000,
                  'players_seen': round(r['totals']['players_seen_per_snapshot'], 1),
                  'tick_ms_p99_at_most': p99('tickroom_tick_duration_seconds'),
                  'tick_lateness_ms_p99_at_most': p99('tickroom_tick_lateness_seconds'),
                  'wire_bytes_per_client_per_sec': round(r['totals']['wire_bytes_per_bot_per_sec'])}))")"
  sleep 3
done
