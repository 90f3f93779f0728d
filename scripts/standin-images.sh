#!/usr/bin/env bash
# Builds stand-ins for server/Dockerfile's two base images from Debian 12's own packages, for a
# machine with a container engine but no route to Docker Hub or gcr.io (as the project's VMs):
#
#   localhost/tickroom-standin/rust:bookworm     Debian 12 (debootstrap) with gcc, libc6-dev,
#                                               this machine's CA bundle and Rust toolchain,
#                                               laid out as the official rust image is
#                                               (CARGO_HOME=/usr/local/cargo)
#   localhost/tickroom-standin/cc:nonroot        what distroless's cc-debian12:nonroot holds:
#                                               glibc, libgcc_s, CA certificates, tzdata, an
#                                               /etc/passwd with nonroot = 65532, nothing else
#
# Prints the --build-arg flags that select them. They stand in for the real images to check
# the Dockerfile's steps with a real engine here; they are not for publishing.
#
# Usage: scripts/standin-images.sh [podman|docker]    (root; needs debootstrap)
set -euo pipefail
engine=${1:-podman}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root="$work/rootfs"

echo "== debootstrap bookworm" >&2
debootstrap --variant=minbase --include=gcc,libc6-dev,ca-certificates,tzdata \
  bookworm "$root" http://deb.debian.org/debian >&2

echo "== the build image" >&2
toolchain=$(rustc --print sysroot)
mkdir -p "$root/usr/local/rust" "$root/usr/local/cargo"
cp -a "$toolchain/." "$root/usr/local/rust/"
# This machine's trust store: where registries are reached through a TLS-inspecting proxy,
# its CA is there and not in Debian's bundle, and cargo inside the build needs it.
cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
tar -C "$root" -c . | "$engine" import \
  --change 'ENV PATH=/usr/local/rust/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV CARGO_HOME=/usr/local/cargo' \
  - localhost/tickroom-standin/rust:bookworm >&2

echo "== the runtime image" >&2
rt="$work/runtime"
mkdir -p "$rt/etc" "$rt/home/nonroot" "$rt/tmp" "$rt/lib/x86_64-linux-gnu" "$rt/lib64" "$rt/usr/share"
for lib in libc.so.6 libm.so.6 libgcc_s.so.1 libpthread.so.0 libdl.so.2 librt.so.1; do
  cp -L "$root/lib/x86_64-linux-gnu/$lib" "$rt/lib/x86_64-linux-gnu/"
done
cp -L "$root/lib64/ld-linux-x86-64.so.2" "$rt/lib64/"
cp -a "$root/etc/ssl" "$rt/etc/"
cp -a "$root/usr/share/zoneinfo" "$rt/usr/share/"
printf 'root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$rt/etc/passwd"
printf 'root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n' >"$rt/etc/group"
chown 65532:65532 "$rt/home/nonroot"
chmod 1777 "$rt/tmp"
tar -C "$rt" -c . | "$engine" import \
  --change 'USER 65532:65532' --change 'WORKDIR /home/nonroot' \
  - localhost/tickroom-standin/cc:nonroot >&2

echo "--build-arg RUST_IMAGE=localhost/tickroom-standin/rust:bookworm --build-arg RUNTIME_IMAGE=localhost/tickroom-standin/cc:nonroot"
