#!/bin/sh
# Run inside the rpm-on-debian root file system (chroot): build and install an
# RPM that declares what the Debian userland already provides, so that
# `rpm -i` checks a package's dependencies for real instead of `--nodeps`.
# This makes the image a stand-in for Fedora, not Fedora.
set -eu
PYVER=$(python3 -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')
PYABI=$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')
SDVER=$(dpkg-query -W -f='${Version}' systemd | sed 's/[-+~].*//')
# Directories every Fedora system has (from its `filesystem` and `setup`
# packages) that RPMs put files in without owning them.
mkdir -p /etc/sysconfig /usr/lib/sysusers.d /usr/lib/tmpfiles.d /etc/logrotate.d
TOP=/tmp/system-provides
mkdir -p "$TOP/SPECS"
cat > "$TOP/SPECS/system-provides.spec" <<SPEC
Name: tap2pkg-system-provides
Version: 1
Release: 1
Summary: What the Debian userland of this image provides, declared for rpm
License: MIT
BuildArch: noarch
Provides: /bin/sh, /usr/bin/sh, /bin/bash, /usr/bin/bash, /usr/bin/env
Provides: python3 = $PYVER, python(abi) = $PYABI, /usr/bin/python3, python3-libs = $PYVER
Provides: systemd = $SDVER, systemd-units = $SDVER, systemd-rpm-macros, /usr/bin/systemctl, /bin/systemctl
Provides: /usr/bin/systemd-sysusers, /usr/bin/systemd-tmpfiles
Provides: shadow-utils, /usr/sbin/useradd, /usr/sbin/groupadd, /usr/sbin/userdel, /usr/sbin/groupdel
Provides: /usr/sbin/usermod, /usr/bin/getent, /usr/sbin/nologin, /sbin/nologin
Provides: glibc, glibc-common, coreutils, util-linux, procps-ng, logrotate, /usr/sbin/logrotate
Provides: setup, filesystem, bash, sed, grep, findutils

%description
Declares the Debian packages already in this image (python3 $PYVER, systemd
$SDVER, passwd, coreutils...) in the rpm database.

%files
SPEC
rpmbuild --quiet --define "_topdir $TOP" -bb "$TOP/SPECS/system-provides.spec"
rpm -i "$TOP"/RPMS/noarch/tap2pkg-system-provides-1-1.noarch.rpm
rm -rf "$TOP"
