#!/usr/bin/env bash
# The load benchmark in one command: builds the server, the bots and the harness (release),
# installs the Node baseline's packages from its lock file, then sweeps the player count for
# Tickroom, the bare tokio-tungstenite floor and the Node.js socket.io baseline (interleaved),
# server and bots pinned to separate cores.
# Extra arguments go to every sweep (e.g. --players 400,800 --seconds 10 --repeat 3).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p tickroom-server -p tickroom-bots
cargo build --release -q -p tickroom-benches --bin tickroom-load --bin tickroom-floor
(cd benches/baseline-node && npm ci --no-audit --no-fund --loglevel=error)
# One sweep, the three targets interleaved run by run, so their ratios are side by side.
target/release/tickroom-load --target tickroom,floor,node "$@"
