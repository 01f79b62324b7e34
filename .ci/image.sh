#!/usr/bin/env bash
# Builds the container image of assets/deploy/Dockerfile (FROM scratch: the static binary
# only) with buildah, and checks what the image says of itself: a non-root user, the data
# volume, the health check, the binary as entry point, no other file but the data directory's.
# Usage: bash .ci/image.sh [BINARY]   (default: the musl binary .ci/static.sh builds)
set -euo pipefail
cd "$(dirname "$0")/.."
binary="${1:-${CARGO_TARGET_DIR:-$PWD/target/static}/x86_64-unknown-linux-musl/release/messages}"
if ! command -v buildah >/dev/null 2>&1; then
  echo "== installing buildah"
  apt-get update -qq
  apt-get install -y -qq buildah >/dev/null
fi
context="$(mktemp -d)"
trap 'rm -rf "${context}"' EXIT
cp "${binary}" "${context}/messages"
cp -r assets/deploy/data "${context}/data"
tag="localhost/messages:ci-$$"
buildah --storage-driver vfs bud --quiet --format docker -f assets/deploy/Dockerfile -t "${tag}" "${context}" >/dev/null
config="$(buildah --storage-driver vfs inspect --type image "${tag}" | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["Docker"]["config"]))')"
echo "image config: ${config}"
python3 - "${config}" <<'PY'
import json, sys
c = json.loads(sys.argv[1])
assert c["User"] == "10001:10001", c["User"]
assert "/data" in (c.get("Volumes") or {}), c.get("Volumes")
assert c["Healthcheck"]["Test"] == ["CMD", "/messages", "health"], c.get("Healthcheck")
assert c["Entrypoint"] == ["/messages"] and c["Cmd"] == ["serve"], (c["Entrypoint"], c["Cmd"])
assert "MESSAGES_DATA_DIR=/data" in c["Env"], c["Env"]
PY
container="$(buildah --storage-driver vfs from "${tag}")"
root="$(buildah --storage-driver vfs mount "${container}")"
files="$(cd "${root}" && find . -mindepth 1 | sort | tr '\n' ' ')"
owner="$(stat -c %u:%g "${root}/data")"
# The image's own file system and user, without a container runtime: chroot into it as the
# image's user, serve from /data, and let the image's health check ask.
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
MESSAGES_DATA_DIR=/data chroot --userspec=10001:10001 "${root}" /messages serve \
  --listen "127.0.0.1:${port}" --pin 2468-1357 >"${context}/serve.log" 2>&1 &
served=$!
healthy=no
for _ in $(seq 1 50); do
  if chroot --userspec=10001:10001 "${root}" /messages health --listen "127.0.0.1:${port}" >/dev/null 2>&1; then
    healthy=yes
    break
  fi
  sleep 0.2
done
kill -TERM "${served}"
wait "${served}" || true
[ "${healthy}" = yes ] || { echo "the image's server never became healthy:"; cat "${context}/serve.log"; exit 1; }
echo "the image serves from /data as 10001 and its health check passes"
buildah --storage-driver vfs umount "${container}" >/dev/null
buildah --storage-driver vfs rm "${container}" >/dev/null
buildah --storage-driver vfs rmi "${tag}" >/dev/null
echo "image files: ${files}(data owned by ${owner})"
[ "${files}" = "./data ./data/README ./messages " ] || { echo "unexpected files in the image"; exit 1; }
[ "${owner}" = "10001:10001" ] || { echo "/data is not the service user's"; exit 1; }
echo "image ok"
