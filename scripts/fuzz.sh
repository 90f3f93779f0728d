#!/usr/bin/env bash
# Fuzzes every decoder client bytes reach (fuzz/fuzz_targets/decoders.rs) for a bounded time.
# Usage: scripts/fuzz.sh [SECONDS]   (default 60). Installs cargo-fuzz if it is missing.
# Works on the stable toolchain: no sanitizer (libFuzzer's coverage-guided search still runs;
# a panic is a crash). Crashes and the corpus go to fuzz/artifacts and fuzz/corpus.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi
# cargo-fuzz passes a few unstable flags even without a sanitizer; stable rustc accepts them
# with RUSTC_BOOTSTRAP.
export RUSTC_BOOTSTRAP=1
cargo fuzz run --sanitizer none decoders -- -max_total_time="$seconds" -max_len=4096
