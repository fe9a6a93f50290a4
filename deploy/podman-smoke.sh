#!/usr/bin/env bash
# Builds the image with podman and checks the server from the container: /health and /ready answer,
# the image's health check passes, the process runs as uid 10001, API keys are enforced, and
# SIGTERM ends it with exit status 0. Needs root, podman, curl, and the model in models/.
#
#   deploy/podman-smoke.sh [--binary PATH] [--port N]
#
# 1. It first builds deploy/Dockerfile as it is (Swift toolchain image, then bookworm-slim).
# 2. Where the registry cannot be reached (no network for base images), it builds the same runtime
#    stage on a bookworm root file system made by debootstrap from the Debian mirror, with the build
#    stage replaced by an already built binary (--binary, default .build/release/memory3, gathered
#    with its Swift runtime libraries exactly as the build stage does). That checks everything after
#    the compile: packages, user, libraries, config, health check, volumes, signals.
# Where crun cannot run containers (cgroups v1/v2 hybrid hosts) it uses runc when installed.
set -euo pipefail
cd "$(dirname "$0")/.."

binary=.build/release/memory3
port=18080
while (($#)); do
  case $1 in
    --binary) binary=$2; shift 2 ;;
    --port) port=$2; shift 2 ;;
    *) echo "usage: $0 [--binary PATH] [--port N]" >&2; exit 2 ;;
  esac
done
model=models/SmolLM2-135M-Instruct.Q4_1.gguf
[[ -f $model ]] || { echo "no $model: run make model" >&2; exit 1; }

work=$(mktemp -d)
name=memory3-smoke-$$
cleanup() {
  podman "${runtime[@]}" rm -f "$name" >/dev/null 2>&1 || true
  podman volume rm -f "$name-data" >/dev/null 2>&1 || true
  rm -rf "$work"
}
runtime=()
trap cleanup EXIT
# Lower limits than the host's: podman's defaults (nofile/nproc 1048576) may exceed what the host
# lets us set.
limits=(--ulimit nofile=4096:4096 --ulimit nproc=4096:4096)

# pick_runtime IMAGE: crun (podman's default) when it can run IMAGE here, else runc.
pick_runtime() {
  ((${#runtime[@]})) && return 0
  podman run --rm "${limits[@]}" --entrypoint true "$1" >/dev/null 2>&1 && return 0
  command -v runc >/dev/null || { echo "podman cannot run containers here, and runc is not installed" >&2; exit 1; }
  podman --runtime runc run --rm "${limits[@]}" --entrypoint true "$1" >/dev/null 2>&1 ||
    { echo "podman cannot run containers here, with crun or runc" >&2; exit 1; }
  runtime=(--runtime runc)
  echo "(crun cannot run containers here: using runc)"
}

image=localhost/memory3:smoke
echo "== 1. podman build -f deploy/Dockerfile (full, from the registry's base images)"
if podman build --format docker --ignorefile deploy/Dockerfile.dockerignore -f deploy/Dockerfile -t "$image" . 2>&1 | tee "$work/full-build.log"; then
  echo "full build: ok"
else
  echo "full build failed (above). == 2. runtime stage on a debootstrap'd bookworm, with $binary"
  [[ -x $binary ]] || { echo "no executable $binary (make build)" >&2; exit 1; }
  "$binary" serve --help >/dev/null 2>&1 || { echo "$binary has no serve command" >&2; exit 1; }
  base=localhost/debian:bookworm-debootstrap
  if ! podman image exists "$base"; then
    if podman pull docker.io/library/debian:bookworm-slim >/dev/null 2>&1; then
      podman tag docker.io/library/debian:bookworm-slim "$base"
    else
      command -v debootstrap >/dev/null || { echo "needs debootstrap (apt-get install debootstrap)" >&2; exit 1; }
      debootstrap --variant=minbase bookworm "$work/rootfs" http://deb.debian.org/debian >"$work/debootstrap.log"
      tar -C "$work/rootfs" -c . | podman import - "$base" >/dev/null
      rm -rf "$work/rootfs"
    fi
  fi
  # The build stage's output, gathered the same way (binary, Swift runtime libraries, backtracer).
  out=$work/prebuilt/out
  install -D -m 0755 "$binary" "$out/usr/local/bin/memory3"
  mkdir -p "$out/usr/lib/swift/linux"
  ldd "$out/usr/local/bin/memory3" | awk '$3 ~ /\/swift\/linux\// { print $3 }' | xargs -r cp -L -t "$out/usr/lib/swift/linux/"
  toolchain_libexec=$(dirname "$(ldd "$binary" | awk '/libswiftCore.so/ { print $3 }')")/../../../libexec/swift/linux
  install -D -m 0755 "$toolchain_libexec/swift-backtrace-static" "$out/usr/libexec/swift/linux/swift-backtrace"
  printf 'FROM scratch\nCOPY out /out\n' >"$work/prebuilt/Containerfile"
  podman build -q -t localhost/memory3-prebuilt:smoke "$work/prebuilt" >/dev/null
  awk '/^FROM \$\{SWIFT_IMAGE\} AS build/ { print "FROM localhost/memory3-prebuilt:smoke AS build"; skip = 1; next }
       /^FROM \$\{RUNTIME_IMAGE\} AS runtime/ { skip = 0 } !skip' deploy/Dockerfile >"$work/Dockerfile.smoke"
  pick_runtime "$base"
  podman build --format docker --ignorefile deploy/Dockerfile.dockerignore --build-arg "RUNTIME_IMAGE=$base" \
    "${runtime[@]}" "${limits[@]}" -f "$work/Dockerfile.smoke" -t "$image" . 2>&1 | grep -E '^\[|STEP|COMMIT|Error|error' || true
  podman image exists "$image" || { echo "runtime stage build failed" >&2; exit 1; }
fi

echo "== run"
pick_runtime "$image"
podman volume create "$name-data" >/dev/null
podman "${runtime[@]}" run -d --name "$name" "${limits[@]}" -p "127.0.0.1:$port:8080" \
  -v "$PWD/models:/models:ro" -v "$name-data:/data" -e MEMORY3_API_KEYS=smoke-key "$image" >/dev/null 2>&1
base_url=http://127.0.0.1:$port
for _ in $(seq 60); do
  curl -fsS -m 2 "$base_url/ready" >/dev/null 2>&1 && break
  sleep 1
done
failures=0
expect() { # expect DESCRIPTION EXPECTED ACTUAL
  if [[ $2 == "$3" ]]; then echo "ok: $1 ($3)"; else echo "FAIL: $1: expected $2, got $3"; failures=$((failures + 1)); fi
}
expect "GET /health" 200 "$(curl -s -o /dev/null -w '%{http_code}' -m 5 "$base_url/health")"
expect "GET /ready" 200 "$(curl -s -o /dev/null -w '%{http_code}' -m 5 "$base_url/ready")"
expect "image HEALTHCHECK" healthy "$(podman "${runtime[@]}" healthcheck run "$name" >/dev/null 2>&1 && echo healthy || echo unhealthy)"
expect "uid in the container" 10001 "$(podman "${runtime[@]}" exec "$name" id -u 2>/dev/null)"
body='{"messages":[{"role":"user","content":"What is the capital of France?"}],"max_tokens":8,"temperature":0}'
expect "completion without a key" 401 "$(curl -s -o /dev/null -w '%{http_code}' -m 60 -H 'Content-Type: application/json' -d "$body" "$base_url/v1/chat/completions")"
expect "completion with the key" 200 "$(curl -s -o /dev/null -w '%{http_code}' -m 60 -H 'Authorization: Bearer smoke-key' -H 'Content-Type: application/json' -d "$body" "$base_url/v1/chat/completions")"
podman "${runtime[@]}" stop -t 40 "$name" >/dev/null 2>&1
expect "exit status after SIGTERM" 0 "$(podman "${runtime[@]}" inspect "$name" --format '{{.State.ExitCode}}')"
podman "${runtime[@]}" logs "$name" 2>&1 | grep -v ' GET /health ' | tail -n 8
((failures == 0)) || { echo "$failures checks failed"; exit 1; }
echo "podman smoke: all checks passed"
