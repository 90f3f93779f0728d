#!/usr/bin/env bash
# What a cluster asks of Redis: two release nodes and a redis-server on loopback ports, Redis's
# command counts idle for 10 s, then during 500 players joining through node a with
# `tickroom-bots swarm --matchmaking` (docs/SCALING.md, "Measured"). Needs redis-server and
# redis-cli, and release builds of tickroom-server and tickroom-bots.
set -euo pipefail
cd "$(dirname "$0")/.."
RP=16399; A=17351; B=17352
redis-server --port $RP --save "" --appendonly no --daemonize yes >/dev/null
sleep 0.5
for n in a:$A b:$B; do id=${n%%:*}; port=${n##*:}
  TICKROOM_ADDR=127.0.0.1:$port TICKROOM_RESULTS_DB=:memory: TICKROOM_REDIS_URL=redis://127.0.0.1:$RP/ TICKROOM_NODE_ID=node-$id TICKROOM_LOG_LEVEL=warn taskset -c 0 target/release/tickroom-server >/dev/null 2>&1 &
done
sleep 3
redis-cli -p $RP CONFIG RESETSTAT >/dev/null
sleep 10
echo "--- idle, 2 nodes, 10 s:"; redis-cli -p $RP INFO commandstats | grep -E "cmdstat_(set|get|mget|scan|del):" 
redis-cli -p $RP CONFIG RESETSTAT >/dev/null
T0=$(date +%s.%N)
taskset -c 1 target/release/tickroom-bots swarm --server http://127.0.0.1:$A --matchmaking --rooms 50 --players 10 --ramp-up 2 --duration 1 --behaviour idle --json /tmp/cap.json 2>/dev/null | grep -E "bots |request→seated"
T1=$(date +%s.%N)
echo "--- 500 joins through node a over $(python3 -c "print(round($T1-$T0,1))") s:"; redis-cli -p $RP INFO commandstats | grep -E "cmdstat_(set|get|mget|scan|del):"
redis-cli -p $RP INFO cpu | grep used_cpu
curl -s -H 'Authorization: Bearer dev-admin-key' http://127.0.0.1:$A/admin/nodes | python3 -c "import json,sys; d=json.load(sys.stdin); print([(n['id'], n['rooms'], n['players']) for n in d['nodes']])"
kill $(jobs -p) 2>/dev/null || true
redis-cli -p $RP shutdown nosave >/dev/null 2>&1 || true
