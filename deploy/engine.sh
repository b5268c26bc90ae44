#!/usr/bin/env bash
# A container engine on a machine without Docker: Debian's podman behind a Docker-compatible
# API socket, a Debian base image made with debootstrap (no image registry is needed), and
# the images compose and the testcontainers fixtures use, built from it. Idempotent: what is
# there already is kept, image builds use podman's layer cache.
#
#   deploy/engine.sh              set up (root, apt-get), start the socket, build the images
#   deploy/engine.sh --if-possible   the same, but only a note where it cannot be done here
#   deploy/engine.sh --env        print the settings that point compose and tests at it
#   deploy/engine.sh --stop       stop the API socket and the healthcheck ticker
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
HOME_DIR=${SHEBAO_HOME:-$ROOT/.shebao}
ENGINE_DIR=${SHEBAO_ENGINE_DIR:-/var/tmp/shebao-engine}
SOCKET=${SHEBAO_ENGINE_SOCKET:-/run/podman/podman.sock}
KAFKA_VERSION=$(sed -n 's/^KAFKA_VERSION = "\(.*\)"/\1/p' "$ROOT/deploy/kafka.py")
APP_VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' "$ROOT/pyproject.toml")
BASE_IMAGE=localhost/shebao/debian:bookworm
PYTHON_IMAGE=localhost/shebao/python:3.11
KAFKA_IMAGE=localhost/shebao/kafka:$KAFKA_VERSION
POSTGRES_IMAGE=localhost/shebao/postgres:15
APP_IMAGE=localhost/shebao:$APP_VERSION

say() { printf 'engine: %s\n' "$*" >&2; }

# The engine runs on this host and publishes container ports here: testcontainers is told so
# (this machine carries a /.dockerenv, which would make it look for a container network), and
# its reaper (an image from Docker Hub) is off: the fixtures remove what they start.
print_env() {
  cat <<EOF
DOCKER_HOST=unix://$SOCKET
TESTCONTAINERS_RYUK_DISABLED=true
TESTCONTAINERS_CONNECTION_MODE=docker_host
KAFKA_IMAGE=$KAFKA_IMAGE
POSTGRES_IMAGE=$POSTGRES_IMAGE
PYTHON_IMAGE=$PYTHON_IMAGE
SHEBAO_IMAGE=$APP_IMAGE
EOF
}

answers() { curl -fsS --max-time 3 --unix-socket "$SOCKET" http://d/_ping >/dev/null 2>&1; }

# runc explicitly: apt may satisfy podman's runtime with crun, which this VM's cgroups refuse.
PACKAGES=(podman runc debootstrap curl procps)

install_podman() {
  if [ "$(id -u)" != 0 ]; then
    say "the engine is rootful podman (/run/podman, /etc/containers): run this as root"
    return 1
  fi
  local missing=()
  for tool in podman runc debootstrap curl pgrep; do
    command -v "$tool" >/dev/null || missing+=("$tool")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if ! command -v apt-get >/dev/null; then
    say "missing ${missing[*]}: on Debian, apt-get install ${PACKAGES[*]}"
    return 1
  fi
  say "installing ${PACKAGES[*]} from Debian's packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q "${PACKAGES[@]}" >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null && apt-get install -y -q "${PACKAGES[@]}" >/dev/null; }
}

configure_podman() {
  # This VM's limits: the default ulimits make container init fail on setrlimit, and crun
  # refuses its hybrid cgroups; runc runs.
  local conf=/etc/containers/containers.conf
  if ! grep -qs 'nofile=20000' "$conf"; then
    if [ -s "$conf" ]; then
      say "$conf exists without this machine's settings; see deploy/engine.sh"
      return 1
    fi
    mkdir -p /etc/containers
    cat >"$conf" <<'EOF'
# Written by shebao's deploy/engine.sh: the limits this VM allows, and the runtime it runs.
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=4096:4096"]

[engine]
runtime = "runc"
EOF
  fi
}

start_socket() {
  answers && return 0
  if pgrep -f "podman system service --time=0 unix://$SOCKET" >/dev/null; then
    # Running but slow to answer (a busy machine): wait for it rather than start another.
    for _ in $(seq 1 60); do answers && return 0; sleep 0.5; done
    say "the API on $SOCKET runs but does not answer; see $ENGINE_DIR/service.log"
    return 1
  fi
  mkdir -p "$(dirname "$SOCKET")" "$ENGINE_DIR"
  rm -f "$SOCKET"
  say "starting the Docker-compatible API on $SOCKET"
  setsid nohup podman system service --time=0 "unix://$SOCKET" \
    >"$ENGINE_DIR/service.log" 2>&1 </dev/null &
  for _ in $(seq 1 60); do answers && return 0; sleep 0.5; done
  say "the API did not answer; see $ENGINE_DIR/service.log"
  return 1
}

# Podman runs healthchecks from systemd timers; where systemd is not PID 1 nothing would run
# them and every container would stay "starting" (compose waits on them). This ticker runs
# each running container's healthcheck at its interval, one run at a time per container.
ticker_running() { pgrep -f "engine.sh --health-ticker" >/dev/null; }

seconds_of() {  # a Go duration (5s, 1m30s, 500ms) in whole seconds, at least 1
  local d=$1 m=0 s=0
  case "$d" in *ms) echo 1; return ;; esac
  [[ $d =~ ([0-9]+)m ]] && m=${BASH_REMATCH[1]}
  [[ $d =~ ([0-9.]+)s$ ]] && s=${BASH_REMATCH[1]%.*}
  local total=$((m * 60 + ${s:-0}))
  echo $((total > 0 ? total : 30))
}

health_ticker() {
  declare -A last running
  while true; do
    local now id interval ids
    now=$(date +%s)
    ids=$(podman ps -q 2>/dev/null || true)
    if [ -n "$ids" ]; then
      # shellcheck disable=SC2086
      while read -r id interval; do
        [ -n "$interval" ] || continue
        if [ -n "${running[$id]:-}" ] && kill -0 "${running[$id]}" 2>/dev/null; then continue; fi
        if [ $((now - ${last[$id]:-0})) -ge "$(seconds_of "$interval")" ]; then
          last[$id]=$now
          podman healthcheck run "$id" >/dev/null 2>&1 &
          running[$id]=$!
        fi
      done < <(podman inspect --format \
        '{{.Id}} {{if .Config.Healthcheck}}{{.Config.Healthcheck.Interval}}{{end}}' $ids 2>/dev/null)
    fi
    sleep 1
  done
}

start_ticker() {
  [ -d /run/systemd/system ] && return 0
  ticker_running && return 0
  say "starting the healthcheck ticker (no systemd here to run podman's healthchecks)"
  setsid nohup "$0" --health-ticker >"$ENGINE_DIR/ticker.log" 2>&1 </dev/null &
}

apt_mirror() {
  local uri
  uri=$(grep -hs -m1 -E '^URIs: *http' /etc/apt/sources.list.d/*.sources | awk '{print $2}' | head -1)
  [ -n "$uri" ] || uri=$(grep -hs -m1 -E '^deb +http' /etc/apt/sources.list | awk '{print $2}' | head -1)
  echo "${DEBIAN_MIRROR:-${uri:-http://deb.debian.org/debian}}"
}

base_image() {
  podman image exists "$BASE_IMAGE" && return 0
  local rootfs="$ENGINE_DIR/rootfs"
  rm -rf "$rootfs"
  mkdir -p "$rootfs"
  say "making $BASE_IMAGE with debootstrap from $(apt_mirror) (about a minute)"
  debootstrap --variant=minbase bookworm "$rootfs" "$(apt_mirror)" >"$ENGINE_DIR/debootstrap.log" 2>&1 \
    || { say "debootstrap failed; see $ENGINE_DIR/debootstrap.log"; return 1; }
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  tar -C "$rootfs" -c . | podman import --message "debootstrap --variant=minbase bookworm" \
    - "$BASE_IMAGE" >/dev/null
  rm -rf "$rootfs"
}

# Builds reach PyPI through this machine's certificate authority and pip settings, mounted
# into the build only (not baked into any image).
build() {
  local tag=$1 context=$2
  shift 2
  local pipconf="$ENGINE_DIR/pip.conf" ca=/etc/ssl/certs/ca-certificates.crt
  mkdir -p "$ENGINE_DIR"
  printf '[global]\ncert = /etc/shebao-host-ca.crt\ntimeout = 180\n' >"$pipconf"
  local mounts=(-v "$pipconf:/etc/pip.conf:ro")
  [ -s "$ca" ] && mounts+=(-v "$ca:/etc/shebao-host-ca.crt:ro")
  say "building $tag"
  podman build -q --layers "${mounts[@]}" --build-arg "BASE=$BASE_IMAGE" "$@" -t "$tag" "$context" \
    >"$ENGINE_DIR/build-$(basename "${tag%%:*}").log" 2>&1 \
    || { say "building $tag failed; see $ENGINE_DIR/build-$(basename "${tag%%:*}").log"; return 1; }
}

images() {
  base_image
  build "$PYTHON_IMAGE" "$ROOT/deploy/images/python"
  build "$POSTGRES_IMAGE" "$ROOT/deploy/images/postgres"
  # Kafka from the jars the local stack uses (fetched once from Maven Central).
  local libs="$HOME_DIR/kafka/$KAFKA_VERSION/libs" context="$ENGINE_DIR/kafka-context"
  [ -f "$libs/.complete" ] || "$ROOT/.venv/bin/shebao" fetch-kafka >/dev/null
  rm -rf "$context"
  mkdir -p "$context"
  cp -a "$ROOT/deploy/images/kafka/." "$context/"
  cp -a "$libs" "$context/libs"
  rm -f "$context/libs/.complete"
  build "$KAFKA_IMAGE" "$context"
  build "$APP_IMAGE" "$ROOT" --build-arg "PYTHON_IMAGE=$PYTHON_IMAGE"
}

case "${1:-}" in
  --env) print_env ;;
  --stop)
    pkill -f "engine.sh --health-ticker" || true
    pkill -f "podman system service --time=0 unix://$SOCKET" || true ;;
  --health-ticker) health_ticker ;;
  --if-possible)
    # A process of its own, so that any failing step stops it (errexit holds there).
    "$0" || say "no container engine here: the compose and testcontainers tests cannot run" ;;
  "")
    install_podman
    configure_podman
    start_socket
    start_ticker
    images
    say "ready in ${SECONDS}s: $(print_env | tr '\n' ' ')" ;;
  *) say "unknown option $1"; exit 2 ;;
esac
