#!/bin/sh
# deploy/need.sh COMMAND PACKAGE... -- WHY
# Make sure COMMAND is on the PATH: install Debian's PACKAGEs (as root, with apt-get) when it
# is not; otherwise say what to install for WHY and fail.
command="$1"; shift
packages=""
while [ $# -gt 0 ] && [ "$1" != "--" ]; do packages="$packages $1"; shift; done
[ "$1" = "--" ] && shift
why="$*"
command -v "$command" >/dev/null 2>&1 && exit 0
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  # shellcheck disable=SC2086 # a list of packages
  apt-get install -y -q --no-install-recommends $packages >/dev/null \
    || { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends $packages >/dev/null; } \
    && exit 0
fi
echo "note: install$packages (Debian's packages) for $why" >&2
exit 1
