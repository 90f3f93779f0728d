#!/usr/bin/env bash
# Matches that move (docs/SCALING.md): three release nodes on one Redis, PLAYERS walking bots
# in arena rooms of 10 placed across them, and a rolling restart under that load, ROUNDS times
# over: each node in turn gets SIGTERM (it moves its running matches to the others), exits,
# starts again at its address and rejoins the registry. Nodes share core 0, the bots core 1.
# Prints every move's pause (freeze → the other node running the match, from the nodes'
# logs: p50, p99, max), what the bots saw (moves followed, lost connections, inputs never
# acknowledged, the longest wait between two snapshots, errors, input→ack p99) and how many of
# the matches are still running after the restarts. Then node 1 is killed (SIGKILL) and the
# time until every match runs again on the other two (restored from its checkpoint in Redis)
# is printed.
#
# Usage: benches/migration.sh [PLAYERS=300] [ROUNDS=2]
set -euo pipefail
players=${1:-300}
rounds=${2:-2}
cd "$(dirname "$0")/.."
cargo build --release -q -p tickroom-server -p tickroom-bots
dir=$(mktemp -d /tmp/tickroom-migration.XXXX)
redis_port=17480
redis-server --port $redis_port --save '' --appendonly no --daemonize no >"$dir/redis.log" 2>&1 &
redis_pid=$!
ports=(17481 17482 17483)
pids=()
start() { # node index
  local i=$1
  TICKROOM_ADDR=127.0.0.1:${ports[$i]} TICKROOM_RESULTS_DB=:memory: TICKROOM_LOG_LEVEL=info \
    TICKROOM_REDIS_URL=redis://127.0.0.1:$redis_port/ TICKROOM_NODE_ID=node-$i \
    TICKROOM_NODE_HEARTBEAT_MS=500 TICKROOM_NODE_TTL_MS=2000 TICKROOM_MAX_ROOMS=10000 \
    TICKROOM_HANDSHAKE_BURST=100000 TICKROOM_HANDSHAKE_RATE=100000 \
    TICKROOM_SESSION_BURST=100000 TICKROOM_SESSION_RATE=100000 TICKROOM_MAX_CONNECTIONS_PER_IP=0 \
    taskset -c 0 target/release/tickroom-server >>"$dir/node-$i.log" 2>&1 &
  pids[$i]=$!
}
registered() { # node index: waits for its registry entry
  for _ in $(seq 100); do
    redis-cli -p $redis_port exists "tickroom:node:node-$1" | grep -q 1 && return 0
    sleep 0.1
  done
  echo "node-$1 did not register" >&2; exit 1
}
cleanup() { kill -9 "${pids[@]}" $redis_pid 2>/dev/null || true; }
trap cleanup EXIT
sleep 0.5
for i in 0 1 2; do start $i; done
for i in 0 1 2; do registered $i; done
sleep 1
duration=$((25 + rounds * 3 * 10))
taskset -c 1 target/release/tickroom-bots swarm --server http://127.0.0.1:${ports[0]} --game arena \
  --rooms $((players / 10)) --players 10 --input-rate 10 --ramp-up 3 --duration $duration \
  --json "$dir/swarm.json" >"$dir/swarm.log" 2>&1 &
swarm=$!
# The restarts begin once every bot plays.
until grep -q "connected=$players/$players" "$dir/swarm.log"; do
  kill -0 $swarm 2>/dev/null || { cat "$dir/swarm.log" >&2; exit 1; }
  sleep 0.5
done
sleep 2
for round in $(seq "$rounds"); do
  for i in 0 1 2; do
    kill -TERM "${pids[$i]}"
    wait "${pids[$i]}" || { echo "node-$i exited with $?" >&2; exit 1; }
    start $i
    registered $i
    sleep 4
  done
done
running() { # matches running on nodes other than the one at port $1, as node 0 lists them
  curl -s -H 'Authorization: Bearer dev-admin-key' "http://127.0.0.1:${ports[0]}/admin/directory" |
    python3 -c "import json,sys; print(sum(m['state'] == 'running' and not m['url'].endswith(':$1') for m in json.load(sys.stdin)['matches']))"
}
live=$(running none)
kill -9 "${pids[1]}"
killed=$(date +%s.%N)
{ wait "${pids[1]}"; } 2>/dev/null || true
on_one=$(grep -c . <(curl -s -H 'Authorization: Bearer dev-admin-key' "http://127.0.0.1:${ports[0]}/admin/directory" |
  python3 -c "import json,sys; [print(m['id']) for m in json.load(sys.stdin)['matches'] if m['url'].endswith(':${ports[1]}')]") || true)
until [ "$(running "${ports[1]}")" -ge $((players / 10)) ]; do sleep 0.1; done
back=$(python3 -c "print(round($(date +%s.%N) - $killed, 2))")
echo "node 1 killed with $on_one matches: every match running again $back s later"
kill -0 $swarm 2>/dev/null || echo "the swarm ended before the kill's restore: lengthen its duration" >&2
wait $swarm || true
# What the checkpoints asked of Redis over the whole run (the registry's own traffic too).
redis-cli -p $redis_port info commandstats | grep -E "cmdstat_(eval|set|get|del|scan|mget):" | tr -d '\r' |
  sed 's/^cmdstat_/redis /; s/,usec_per_call.*//'
redis-cli -p $redis_port info cpu | grep -E "used_cpu_(sys|user):" | tr -d '\r' | sed 's/^/redis /'
redis-cli -p $redis_port info memory | grep -E "^used_memory:" | tr -d '\r' | sed 's/^/redis /'
redis-cli -p $redis_port --scan --pattern 'tickroom:log:*' | while read -r k; do redis-cli -p $redis_port strlen "$k"; done |
  awk '{n++; s+=$1} END {printf "redis logs held: %d, %.0f bytes each on average\n", n, n ? s/n : 0}'
python3 - "$dir" "$live" "$((players / 10))" <<'PY'
import glob, json, re, sys
dir, live, rooms = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
pauses = sorted(int(m) for f in glob.glob(f"{dir}/node-*.log")
                for m in re.findall(r"match moved to another node .*paused_ms=(\d+)", open(f).read()))
def pct(p): return pauses[min(len(pauses) - 1, int(p * len(pauses)))] if pauses else None
r = json.load(open(f"{dir}/swarm.json"))
t = r["totals"]
print(f"moves {len(pauses)}: pause p50 {pct(0.5)} ms, p99 {pct(0.99)} ms, max {pauses[-1] if pauses else None} ms")
print(f"bots joined {r['bots']['joined']}/{r['bots']['planned']}, moves followed {t['moves']}, "
      f"lost connections {t['rejoins']}, inputs sent {t['inputs_sent']}, never acknowledged {t['inputs_unacked']}, "
      f"longest snapshot gap {t['longest_snapshot_gap_ms']:.0f} ms, input->ack p99 {r['input_to_ack_us']['p99'] / 1000:.1f} ms")
print(f"errors {json.dumps(r['errors'])}")
print(f"matches running after the restarts: {live} of {rooms}")
PY
echo "logs: $dir"
