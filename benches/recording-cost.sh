#!/usr/bin/env bash
# What recording matches costs (docs/REPLAY.md): the same server with recordings off
# (TICKROOM_RECORDINGS_KEPT=0) and on (the default), alternating twice, under the same swarm —
# PLAYERS players in rooms of 10 on the arena, walking, 15 s after a 2 s ramp; server pinned to
# core 0, swarm to core 1. Rooms end 5 s after their bots leave, so the CPU window (the swarm,
# then 7 s) includes saving every recording. Prints each run's server CPU and p99 input→ack,
# and for the recorded runs the log bytes per room per second of play, read from the
# results database.
#
# Usage: benches/recording-cost.sh [PLAYERS=800]
set -euo pipefail
players=${1:-800}
cd "$(dirname "$0")/.."
cargo build --release -q -p tickroom-server -p tickroom-bots
cpu() { awk '{print ($14 + $15) / 100}' "/proc/$1/stat"; }
db=/tmp/tickroom-recording-cost.sqlite3
for round in 1 2; do
  for kept in 0 200; do
    rm -f "$db" "$db-wal" "$db-shm"
    TICKROOM_ADDR=127.0.0.1:17391 TICKROOM_RESULTS_DB=$db TICKROOM_LOG_LEVEL=warn \
      TICKROOM_RECORDINGS_KEPT=$kept TICKROOM_EMPTY_ROOM_GRACE_SECS=5 TICKROOM_MAX_ROOMS=10000 TICKROOM_DRAIN_SECS=0 \
      TICKROOM_HANDSHAKE_BURST=100000 TICKROOM_HANDSHAKE_RATE=100000 \
      TICKROOM_SESSION_BURST=100000 TICKROOM_SESSION_RATE=100000 TICKROOM_MAX_CONNECTIONS_PER_IP=0 \
      taskset -c 0 target/release/tickroom-server >/dev/null 2>&1 &
    pid=$!; sleep 1
    c0=$(cpu $pid) t0=$(date +%s.%N)
    taskset -c 1 target/release/tickroom-bots swarm --server http://127.0.0.1:17391 --game arena \
      --rooms $((players / 10)) --players 10 --duration 15 --ramp-up 2 --json /tmp/recording-cost.json >/dev/null 2>&1
    sleep 7
    c1=$(cpu $pid) t1=$(date +%s.%N)
    kill -INT $pid; wait $pid 2>/dev/null || true
    python3 -c "
import json, sqlite3
r = json.load(open('/tmp/recording-cost.json'))
c = sqlite3.connect('$db')
n, logged = c.execute('SELECT count(*), coalesce(sum(length(log)), 0) FROM match_recordings').fetchone()
played = sum(json.loads(j)['duration_ms'] for (j,) in c.execute('SELECT result FROM match_results')) / 1000
print('recordings', 'off' if $kept == 0 else 'on ', 'round $round', 'cpu %.1f %%' % (100 * ($c1 - $c0) / ($t1 - $t0)),
      'p99 ms', r['input_to_ack_us']['p99'] / 1000, 'joined', r['bots']['joined'],
      'recordings', n, 'log B/s per room', round(logged / played) if played else '-')"
    sleep 2
  done
done
