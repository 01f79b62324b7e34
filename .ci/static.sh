#!/usr/bin/env bash
# Builds the statically linked release binary (x86_64 Linux, musl) and proves it: `ldd` must
# call it static, and it must start, answer /healthz and stop cleanly on SIGTERM.
#
# Usage: bash .ci/static.sh            (from anywhere; installs musl-tools and the rustup
#                                      target when missing, so run it as root or install them)
# Output: $CARGO_TARGET_DIR/x86_64-unknown-linux-musl/release/messages
#         (CARGO_TARGET_DIR defaults to target/static so it does not fight the debug build).
#
# musl rather than `-C target-feature=+crt-static` on the gnu target: static glibc still
# loads NSS modules at run time for host-name lookups; musl has no such escape hatch.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TERM_COLOR=never
export DEBIAN_FRONTEND=noninteractive
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target/static}"
TARGET=x86_64-unknown-linux-musl

# ring (via rustls) compiles C and needs a musl C compiler.
need_apt=()
command -v musl-gcc >/dev/null 2>&1 || need_apt+=(musl-tools)
command -v curl >/dev/null 2>&1 || need_apt+=(curl)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "== installing ${need_apt[*]}"
  apt-get update -qq
  apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
if ! rustup target list --installed | grep -qx "$TARGET"; then
  echo "== rustup target add $TARGET"
  rustup target add "$TARGET"
fi

echo "== cargo build --release --target $TARGET (CARGO_TARGET_DIR=$CARGO_TARGET_DIR)"
started=$(date +%s)
cargo build --release --locked --target "$TARGET" --bin messages
echo "built in $(( $(date +%s) - started )) s"

binary="$CARGO_TARGET_DIR/$TARGET/release/messages"
echo "== $binary: $(stat -c %s "$binary") bytes"
file "$binary" 2>/dev/null || true

# glibc's ldd prints "not a dynamic executable" (exit 1) for a static binary; musl's ldd
# prints "statically linked". Anything else lists shared libraries: fail.
ldd_output=$(ldd "$binary" 2>&1 || true)
echo "ldd: $ldd_output"
case "$ldd_output" in
  *"not a dynamic executable"*|*"statically linked"*) ;;
  *) echo "FAIL: the binary is dynamically linked" >&2; exit 1 ;;
esac

# Serve from a scratch directory, read the announced address, ask /healthz, stop with SIGTERM.
scratch=$(mktemp -d)
server_pid=
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then kill -KILL "$server_pid"; fi
  rm -rf "$scratch"
}
trap cleanup EXIT
mkfifo "$scratch/out"
"$binary" --data-dir "$scratch/data" serve --listen 127.0.0.1:0 --pin 246810 >"$scratch/out" 2>"$scratch/err" &
server_pid=$!
exec 3<"$scratch/out"
# The first stdout line is `listening on http://127.0.0.1:PORT`; give it 20 s.
if ! IFS= read -r -t 20 first <&3; then
  echo "FAIL: no address announced; stderr:" >&2
  cat "$scratch/err" >&2
  exit 1
fi
url=${first#listening on }
echo "== serving at $url"
health=$(curl -fsS --max-time 5 "$url/healthz")
echo "healthz: $health"
[ "$health" = '{"status":"ok"}' ] || { echo "FAIL: unexpected /healthz answer" >&2; exit 1; }
kill -TERM "$server_pid"
status=0
wait "$server_pid" || status=$?
exec 3<&-
server_pid=
[ "$status" -eq 0 ] || { echo "FAIL: exit code $status after SIGTERM" >&2; exit 1; }
echo "static binary OK: $binary"
