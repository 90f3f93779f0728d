#!/usr/bin/env bash
# What a cluster asks of Redis: NODES release nodes (default 3) and a redis-server on loopback
# ports; Redis's command counts and CPU idle for 10 s, then during 500 players joining through
# node a with `tickroom-bots swarm --matchmaking`, then for one announcement and one kick
# (docs/SCALING.md, "Measured"). Needs redis-server and redis-cli, and release builds of
# tickroom-server and tickroom-bots. The nodes share core 0, the bots core 1.
set -euo pipefail
cd "$(dirname "$0")/.."
NODES=${NODES:-3}
RP=16399; BASE=17350
KEY=dev-admin-key
redis-server --port $RP --save "" --appendonly no --daemonize yes >/dev/null
sleep 0.5
trap 'kill $(jobs -p) 2>/dev/null || true; redis-cli -p $RP shutdown nosave >/dev/null 2>&1 || true' EXIT
for i in $(seq 1 "$NODES"); do
  id=$(printf "\\x$(printf %x $((96 + i)))")
  TICKROOM_ADDR=127.0.0.1:$((BASE + i)) TICKROOM_RESULTS_DB=:memory: \
    TICKROOM_REDIS_URL=redis://127.0.0.1:$RP/ TICKROOM_NODE_ID=node-$id TICKROOM_LOG_LEVEL=warn \
    taskset -c 0 target/release/tickroom-server >/dev/null 2>&1 &
done
A=http://127.0.0.1:$((BASE + 1))
sleep 3
stats() { # Redis's commands since the last reset, and its CPU seconds so far
  redis-cli -p $RP INFO commandstats | sed -nE 's/^cmdstat_([a-z|]+):calls=([0-9]+).*/  \1 \2/p'
  redis-cli -p $RP INFO cpu | grep -E "used_cpu_(sys|user):" | tr -d '\r' | sed 's/^/  /'
}
redis-cli -p $RP CONFIG RESETSTAT >/dev/null
sleep 10
echo "--- idle, $NODES nodes, 10 s:"; stats
redis-cli -p $RP CONFIG RESETSTAT >/dev/null
T0=$(date +%s.%N)
taskset -c 1 target/release/tickroom-bots swarm --server $A --matchmaking --rooms 50 --players 10 \
  --ramp-up 2 --duration 1 --behaviour idle --json /tmp/cap.json 2>/dev/null | grep -E "bots |request→seated" || true
T1=$(date +%s.%N)
echo "--- 500 joins through node a over $(python3 -c "print(round($T1-$T0,1))") s:"; stats
curl -s -H "Authorization: Bearer $KEY" $A/admin/nodes |
  python3 -c "import json,sys; d=json.load(sys.stdin); print('  placed:', [(n['id'], n['rooms'], n['players']) for n in d['nodes']])"
redis-cli -p $RP CONFIG RESETSTAT >/dev/null
curl -s -o /dev/null -H "Authorization: Bearer $KEY" -H 'content-type: application/json' \
  -d '{"message":"hello"}' $A/admin/announce
curl -s -o /dev/null -X POST -H "Authorization: Bearer $KEY" $A/admin/players/nobody/kick
echo "--- one announcement and one kick:"; stats
