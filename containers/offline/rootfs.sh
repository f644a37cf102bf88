#!/bin/sh
# Build a Debian root file system for a verification image, offline-friendly:
# only the Debian mirror is needed, no container registry.
#
#   rootfs.sh SUITE ROOTDIR MIRROR FLAVOUR
#
# FLAVOUR is "debian" (systemd, python3, adduser) or "rpm-on-debian" (the same
# plus rpm and a "system provides" RPM, see system-provides.sh).
# tap2pkg hashes this file (and the others in this folder) into the image tag,
# so any edit here makes `tap2pkg images build` produce a new image.
set -eu
SUITE=$1
ROOT=$2
MIRROR=$3
FLAVOUR=$4
HERE=$(cd "$(dirname "$0")" && pwd)

PACKAGES=systemd,systemd-sysv,dbus,python3,adduser,passwd,procps,sysvinit-utils,init-system-helpers,logrotate,ca-certificates
if [ "$FLAVOUR" = rpm-on-debian ]; then
  PACKAGES=$PACKAGES,rpm
fi

debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$ROOT" "$MIRROR"

# A container has no consoles, no udev and no kernel modules to load: units
# that wait for them only slow the boot down or mark the system degraded.
for unit in getty.target console-getty.service systemd-udevd.service \
    systemd-udev-trigger.service systemd-modules-load.service \
    sys-kernel-config.mount sys-kernel-debug.mount sys-kernel-tracing.mount \
    systemd-remount-fs.service systemd-firstboot.service apt-daily.timer \
    apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer; do
  ln -sf /dev/null "$ROOT/etc/systemd/system/$unit"
done
# An empty machine-id: systemd makes one at boot, so every container differs.
: > "$ROOT/etc/machine-id"
rm -f "$ROOT/var/lib/dbus/machine-id"

if [ "$FLAVOUR" = rpm-on-debian ]; then
  # One RPM database for everybody (Debian's rpm defaults to ~/.rpmdb).
  mkdir -p "$ROOT/etc/rpm" "$ROOT/var/lib/rpm"
  echo '%_dbpath /var/lib/rpm' > "$ROOT/etc/rpm/macros.dbpath"
  cp "$HERE/system-provides.sh" "$ROOT/tmp/system-provides.sh"
  chroot "$ROOT" /bin/sh /tmp/system-provides.sh
  rm -f "$ROOT/tmp/system-provides.sh"
fi

chroot "$ROOT" apt-get clean
rm -rf "$ROOT"/var/lib/apt/lists/* "$ROOT"/var/cache/apt/*.bin "$ROOT"/var/log/*.log \
  "$ROOT"/var/log/apt/* "$ROOT"/tmp/* "$ROOT"/root/.rpmdb
