#!/usr/bin/env bash
# Checks the container image of server/Dockerfile: builds it, runs it as it would run in
# production (all interfaces, production secrets, non-root, results on /data), probes
# /healthz, /readyz and /metrics, stops it with SIGTERM and expects a clean drain with the
# results database written.
#
# With a container engine that answers (docker or podman, and a registry it can pull the base
# images from), that is done on the image itself: in a container, or — where the engine can
# build but not run containers (podman in a sandbox without cgroup controllers) — on the
# image's own filesystem, chrooted, as the image's user with the image's environment.
# Without an engine — as on the development VMs, which have a Docker client but no daemon —
# the same steps run on the binary the Dockerfile builds: the same cargo command, the runtime
# image's libraries checked against the binary's, the image's environment and user (65532).
#
# With an engine but no route to the base images' registries, build stand-ins from Debian's
# packages first and pass them through IMAGE_BUILD_ARGS:
#
#   IMAGE_BUILD_ARGS="$(scripts/standin-images.sh podman)" scripts/check-image.sh
#
# IMAGE_ENGINE=docker or podman picks the engine; IMAGE_ENGINE=none takes the path without one.
#
# Usage: scripts/check-image.sh            (from anywhere; not part of .ci/run: it needs a
#                                          release build, ~3 min on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."

ADMIN_KEY="check-image-admin-key-$RANDOM$RANDOM"
SECRET="check-image-token-secret-0123456789abcdef-$RANDOM"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
URL="http://127.0.0.1:$PORT"

probe() {
  for _ in $(seq 1 100); do
    curl -fsS "$URL/healthz" >/dev/null 2>&1 && break
    sleep 0.1
  done
  [[ $(curl -fsS "$URL/healthz") == ok ]] || { echo "FAIL: /healthz" >&2; return 1; }
  [[ $(curl -fsS "$URL/readyz") == ready ]] || { echo "FAIL: /readyz" >&2; return 1; }
  local metrics
  metrics=$(curl -fsS "$URL/metrics")
  grep -q '^tickroom_build_info{' <<<"$metrics" || { echo "FAIL: no build info" >&2; return 1; }
  grep -q '^process_resident_memory_bytes ' <<<"$metrics" || { echo "FAIL: no process metrics" >&2; return 1; }
  # The admin API answers with the configured key, and a match can be created.
  curl -fsS -H "authorization: Bearer $ADMIN_KEY" -H 'content-type: application/json' \
    -d '{"game":"arena"}' "$URL/admin/matches" >/dev/null || { echo "FAIL: create a match" >&2; return 1; }
  echo "probes: /healthz ok, /readyz ready, /metrics with build info and process metrics, a match created"
}

# Runs "$@" (a server) with the image's environment and production secrets as uid 65532,
# probes it, stops it with SIGTERM and checks the drain: status 0, results written under $1.
run_and_probe() {
  local data=$1 cmd log
  # The command's full path: the environment below is emptied, PATH included.
  cmd=$(command -v "$2")
  shift 2
  log=$(mktemp)
  env -i TICKROOM_ADDR="127.0.0.1:$PORT" TICKROOM_RESULTS_DB=/data/results.sqlite3 \
    TICKROOM_LOG_FORMAT=json TICKROOM_ADMIN_KEY="$ADMIN_KEY" TICKROOM_TOKEN_SECRET="$SECRET" \
    TICKROOM_DRAIN_SECS=1 "$cmd" "$@" >"$log" 2>&1 &
  local pid=$!
  probe || { kill "$pid" 2>/dev/null || true; cat "$log" >&2; return 1; }
  kill -TERM "$pid"
  local status=0
  wait "$pid" || status=$?
  [[ $status == 0 ]] || { cat "$log" >&2; echo "FAIL: exit status $status" >&2; return 1; }
  [[ -s $data/results.sqlite3 ]] || { echo "FAIL: no results database in /data" >&2; return 1; }
  grep -q '"level":"INFO"' "$log" || { echo "FAIL: logs are not JSON lines" >&2; return 1; }
  rm -f "$log"
  echo "drain: SIGTERM, exit status 0, results written to /data"
}

# IMAGE_ENGINE=docker|podman picks the engine, IMAGE_ENGINE=none checks without one.
engine=""
for e in ${IMAGE_ENGINE:-docker podman}; do
  if [[ $e != none ]] && command -v "$e" >/dev/null && "$e" info >/dev/null 2>&1; then engine=$e; break; fi
done

if [[ -n $engine ]]; then
  echo "== building the image with $engine"
  isolation=()
  # Podman's default OCI isolation needs cgroup controllers some sandboxes lack; chroot
  # isolation builds the same image without them.
  [[ $engine == podman ]] && isolation=(--isolation chroot)
  # shellcheck disable=SC2086 # IMAGE_BUILD_ARGS is a list of flags
  "$engine" build "${isolation[@]}" ${IMAGE_BUILD_ARGS:-} -f server/Dockerfile -t tickroom:check .
  user=$("$engine" image inspect -f '{{.Config.User}}' tickroom:check)
  [[ $user == 65532:65532 ]] || { echo "FAIL: image user is '$user'" >&2; exit 1; }
  "$engine" image inspect -f 'image size: {{.Size}} bytes' tickroom:check
  if "$engine" run --rm --entrypoint /usr/local/bin/tickroom-server tickroom:check --version; then
    id=$("$engine" run -d -p "127.0.0.1:$PORT:7350" -e TICKROOM_ADMIN_KEY="$ADMIN_KEY" \
      -e TICKROOM_TOKEN_SECRET="$SECRET" -e TICKROOM_DRAIN_SECS=1 tickroom:check)
    trap '"$engine" rm -f "$id" >/dev/null 2>&1 || true' EXIT
    probe
    "$engine" stop -t 20 "$id" >/dev/null
    status=$("$engine" inspect -f '{{.State.ExitCode}}' "$id")
    [[ $status == 0 ]] || { "$engine" logs "$id" >&2; echo "FAIL: exit status $status" >&2; exit 1; }
    echo "OK: the image builds, runs as 65532 in a container, serves, and drains on SIGTERM with status 0"
    exit 0
  fi
  echo "== $engine cannot run containers here: running the image's filesystem, chrooted, as $user"
  root=$(mktemp -d)
  trap 'umount "$root/proc" 2>/dev/null || true; rm -rf "$root"' EXIT
  cp -a "$("$engine" image mount tickroom:check)/." "$root/"
  "$engine" image unmount tickroom:check >/dev/null
  mkdir -p "$root/proc" && mount -t proc proc "$root/proc"
  run_and_probe "$root/data" chroot --userspec="$user" "$root" /usr/local/bin/tickroom-server
  echo "OK: the image builds, and its own filesystem serves as $user with its libraries and drains on SIGTERM (listening on 127.0.0.1 here, 0.0.0.0 in the image)"
  exit 0
fi

echo "== no container engine answers here: running the image's steps on this machine"
# The Dockerfile's build step, as written there (in a target directory of its own: the
# image's profile differs from the default release profile).
CARGO_PROFILE_RELEASE_DEBUG=0 cargo build --release --locked -p tickroom-server --target-dir target/image
bin=target/image/release/tickroom-server
echo "binary: $(stat -c %s "$bin") bytes"

# The runtime image (distroless cc-debian12) has glibc 2.36 and libgcc_s, nothing else.
allowed='^(linux-vdso\.so\.1|libc\.so\.6|libm\.so\.6|libgcc_s\.so\.1|libpthread\.so\.0|libdl\.so\.2|librt\.so\.1|/lib64/ld-linux-x86-64\.so\.2|ld-linux-x86-64\.so\.2)$'
while read -r lib; do
  [[ $lib =~ $allowed ]] || { echo "FAIL: the binary needs $lib, which the runtime image lacks" >&2; exit 1; }
done < <(ldd "$bin" | awk '{print $1}')
newest=$(objdump -T "$bin" | grep -o 'GLIBC_[0-9.]*' | sort -t. -k2,2n -k3,3n -u | tail -1)
python3 - "$newest" <<'PY'
import sys
v = tuple(int(x) for x in sys.argv[1].removeprefix("GLIBC_").split("."))
if v > (2, 36):
    sys.exit(f"FAIL: the binary needs {sys.argv[1]}; the runtime image has glibc 2.36")
PY
echo "libraries: $(ldd "$bin" | awk '{print $1}' | tr '\n' ' ')(newest symbol $newest)"

# The image's user and a fresh /data (bind-mounted where the image has it would need a
# chroot; the results path points into it instead).
data=$(mktemp -d)
chown 65532:65532 "$data"
trap 'rm -rf "$data"' EXIT
server_bin=$(realpath "$bin")
(cd "$data" && run_and_probe "$data" setpriv --reuid=65532 --regid=65532 --clear-groups \
  /usr/bin/env TICKROOM_RESULTS_DB="$data/results.sqlite3" "$server_bin")
echo "OK: built with the Dockerfile's command; runs as uid 65532 with the image's environment (on 127.0.0.1 here, 0.0.0.0 in the image); drains on SIGTERM with status 0; results written"
