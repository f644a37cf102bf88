#!/bin/sh
# Start a docker engine for the container tests when none answers yet.
# No bridge, no iptables: containers run with no network at all.
set -e
if docker info >/dev/null 2>&1; then
  exit 0
fi
if ! command -v dockerd >/dev/null 2>&1; then
  echo "start-dockerd: dockerd not installed (apt-get install docker.io)" >&2
  exit 1
fi
mkdir -p /var/log
nohup dockerd --bridge=none --iptables=false --ip-masq=false >/var/log/tap2pkg-dockerd.log 2>&1 &
i=0
while ! docker info >/dev/null 2>&1; do
  i=$((i + 1))
  if [ $i -gt 60 ]; then
    echo "start-dockerd: dockerd did not answer within 60s; see /var/log/tap2pkg-dockerd.log" >&2
    tail -20 /var/log/tap2pkg-dockerd.log >&2 || true
    exit 1
  fi
  sleep 1
done
