#!/bin/sh
# Build piuparts' base tarball for SUITE with debootstrap, as the verification images are built
# (containers/offline/rootfs.sh): a minimal Debian with systemd, so a service package's scripts
# take their systemd path.
#
#   base.sh SUITE TARBALL [MIRROR]
set -eu
SUITE=$1
TARBALL=$2
MIRROR=${3:-http://deb.debian.org/debian}
PACKAGES=systemd,systemd-sysv,dbus,python3,adduser,passwd,procps,init-system-helpers,logrotate
ROOT=$(mktemp -d "${TMPDIR:-/tmp}/piuparts-base.XXXXXX")
trap 'rm -rf "$ROOT"' EXIT
debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$ROOT" "$MIRROR" >/dev/null
chroot "$ROOT" apt-get clean
# mktemp made the root 0700, and tar records it: inside the chroot no user but root could then
# reach any file (logrotate's "su" to the service user failed with "Permission denied").
chmod 0755 "$ROOT"
rm -rf "$ROOT"/var/lib/apt/lists/* "$ROOT"/var/cache/apt/*.bin
tar -C "$ROOT" -czf "$TARBALL.partial" .
mv "$TARBALL.partial" "$TARBALL"
