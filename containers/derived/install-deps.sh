#!/bin/sh
# Run inside a container of a verification image, with the network, to make a
# derived image holding a package's distribution dependencies:
#
#   install-deps.sh MODE WANT...
#
# MODE is "deb" (a Debian image), "rpm-on-debian" (Debian packages installed
# with apt, then declared to rpm in a second system-provides RPM) or "dnf" (a
# Fedora image). Each WANT is LABEL=NAME1|NAME2: the first NAME the archive can
# install is installed; LABEL (rpm-on-debian only, may be empty) is the rpm
# Requires name it stands for, declared as provided.
# Exit 3: the archive is unreachable; exit 4: a WANT has no installable NAME
# (a line "NOT-IN-ARCHIVE: ..." names it). Last line: "INSTALLED: name=version...".
# tap2pkg hashes this file into the derived image's tag.
set -eu
MODE=$1
shift
export DEBIAN_FRONTEND=noninteractive LC_ALL=C

if [ "$MODE" = dnf ]; then
  names=""
  for want in "$@"; do names="$names ${want#*=}"; done
  # shellcheck disable=SC2086 # one word per requirement
  dnf install -y --setopt=install_weak_deps=False $names || exit 4
  dnf clean all >/dev/null
  echo "INSTALLED:$names"
  exit 0
fi

apt-get update >/tmp/apt-update.log 2>&1 || true
# apt-get update exits 0 when every index failed to download: look for one
if ! ls /var/lib/apt/lists/ | grep -q '_Packages'; then
  tail -n 5 /tmp/apt-update.log
  echo "ARCHIVE-UNREACHABLE"
  exit 3
fi

picked=""
labels=""
missing=""
for want in "$@"; do
  label=${want%%=*}
  pick=""
  for name in $(echo "${want#*=}" | tr '|' ' '); do
    # a simulated install also accepts a virtual package with one provider
    if apt-get install -s --no-install-recommends "$name" >/dev/null 2>&1; then
      pick=$name
      break
    fi
  done
  if [ -z "$pick" ]; then
    echo "NOT-IN-ARCHIVE: ${want#*=}"
    missing=1
    continue
  fi
  picked="$picked $pick"
  labels="$labels $pick=$label"
done
[ -z "$missing" ] || exit 4

# no service a dependency ships starts while the image is made
printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
chmod 755 /usr/sbin/policy-rc.d
# shellcheck disable=SC2086 # one word per package
apt-get install -y --no-install-recommends $picked
rm -f /usr/sbin/policy-rc.d

upstream() { # a Debian version as rpm reads one: no epoch, no Debian revision
  dpkg-query -W -f='${Version}' "$1" | sed 's/^[0-9]*://; s/-[^-]*$//; s/-/_/g'
}

if [ "$MODE" = rpm-on-debian ]; then
  # Declare the installed Debian packages to rpm, as system-provides.sh does for the base.
  TOP=/tmp/archive-provides
  mkdir -p "$TOP/SPECS"
  provides=""
  for pair in $labels; do
    name=${pair%%=*}
    label=${pair#*=}
    version=$(upstream "$name")
    provides="${provides}Provides: $name = $version
"
    if [ -n "$label" ] && [ "$label" != "$name" ]; then
      provides="${provides}Provides: $label = $version
"
    fi
    case $name in
      python3-*) provides="${provides}Provides: python3dist(${name#python3-}) = $version
" ;;
    esac
  done
  cat > "$TOP/SPECS/archive-provides.spec" <<SPEC
Name: tap2pkg-archive-provides
Version: 1
Release: 1
Summary: Debian packages installed from the archive, declared for rpm
License: MIT
BuildArch: noarch
$provides
%description
Declares the Debian packages this image installed from the Debian archive
for the packages it verifies:$picked.

%files
SPEC
  rpmbuild --quiet --define "_topdir $TOP" -bb "$TOP/SPECS/archive-provides.spec"
  rpm -i "$TOP"/RPMS/noarch/tap2pkg-archive-provides-1-1.noarch.rpm
  rm -rf "$TOP" /root/.rpmdb
fi

installed=""
for name in $picked; do installed="$installed $name=$(dpkg-query -W -f='${Version}' "$name")"; done
apt-get clean
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/*.log /var/log/apt/* /tmp/* /tmp/.[!.]*
echo "INSTALLED:$installed"
