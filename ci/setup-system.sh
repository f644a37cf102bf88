#!/bin/sh
# Install the Debian packages the test suite and the builders need.
# Idempotent: apt-get runs only when something is missing. Needs root.
set -e
PACKAGES="python3 python3-venv python3-pip make git ca-certificates \
  dpkg-dev debhelper fakeroot lintian devscripts xz-utils \
  rpm rpmlint cpio \
  docker.io debootstrap passwd adduser procps shellcheck piuparts apt-utils createrepo-c gnupg \
  dh-python pybuild-plugin-pyproject python3-all python3-setuptools python3-hatchling python3-incremental"
missing=""
for p in $PACKAGES; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -z "$missing" ]; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "setup-system: missing Debian packages:$missing (run as root or install them)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends $missing
