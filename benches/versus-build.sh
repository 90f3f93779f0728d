#!/usr/bin/env bash
# This build's server beside another build's (e.g. one from before a change), alternating
# old/new twice with the same swarm: 400 players in rooms of 10 on the arena, 15 s after a 2 s
# ramp, server pinned to core 0, swarm to core 1. Prints each run's server CPU, the bytes a
# client receives per second (WebSocket framing included) and the p99 input→ack.
#
# Usage: benches/versus-build.sh OLD_SERVER_BINARY
#   e.g. git worktree add /tmp/old REV && (cd /tmp/old && CARGO_TARGET_DIR=/tmp/old-target \
#        cargo build --release -p tickroom-server) && benches/versus-build.sh /tmp/old-target/release/tickroom-server
set -euo pipefail
old=${1:?usage: benches/versus-build.sh OLD_SERVER_BINARY}
cd "$(dirname "$0")/.."
cargo build --release -q -p tickroom-server -p tickroom-bots
cpu() { awk '{print ($14 + $15) / 100}' "/proc/$1/stat"; }
for round in 1 2; do
  for which in old new; do
    bin=target/release/tickroom-server; [ $which = old ] && bin=$old
    TICKROOM_ADDR=127.0.0.1:17390 TICKROOM_RESULTS_DB=:memory: TICKROOM_LOG_LEVEL=warn taskset -c 0 "$bin" >/dev/null 2>&1 &
    pid=$!; sleep 1
    c0=$(cpu $pid) t0=$(date +%s.%N)
    taskset -c 1 target/release/tickroom-bots swarm --server http://127.0.0.1:17390 --game arena --rooms 40 --players 10 --duration 15 --ramp-up 2 --json /tmp/versus-build.json >/dev/null 2>&1
    c1=$(cpu $pid) t1=$(date +%s.%N)
    kill -INT $pid; wait $pid 2>/dev/null || true
    python3 -c "
import json; r=json.load(open('/tmp/versus-build.json'))
print('$which round $round', 'cpu %.1f %%' % (100*($c1-$c0)/($t1-$t0)), 'bytes/s', round(r['totals']['wire_bytes_per_bot_per_sec']), 'p99 ms', r['input_to_ack_us']['p99']/1000, 'joined', r['bots']['joined'], 'errors', r['errors'])"
    sleep 2
  done
done
