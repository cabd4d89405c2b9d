#!/usr/bin/env bash
# Install the system tools the tests need when missing: Debian's redis-server and chromium.
# (Kafka needs java + mvn, which infra/kafka.py checks with a clear message.)
set -euo pipefail
missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
command -v chromium >/dev/null || missing+=(chromium)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "salescast: please install: ${missing[*]} (Debian: apt-get install ${missing[*]})" >&2
  exit 1
fi
echo "salescast: installing ${missing[*]} with apt-get ..." >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq "${missing[@]}" >/dev/null
