"""Build tiny hand-made packages for the verify tests: one good service, and deliberately broken ones.

``build_deb(outdir, variant)`` writes ``tinyweb_<version>_all.deb`` with ``dpkg-deb``;
``build_rpm(outdir, variant)`` writes ``tinyweb-<version>-1.noarch.rpm`` with ``rpmbuild``.
The service is ``python3 -m http.server`` on 127.0.0.1:8081 as the system user ``tinyweb``.

Variants, each meant to be caught by one lifecycle step:
``good``; ``postinst-fails`` (install); ``exits-at-once`` (unit active as its user);
``runs-as-root`` (same step); ``leftover`` (a file left behind after purge: the diff).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

NAME = "tinyweb"
PORT = 8081
VARIANTS = ("good", "postinst-fails", "exits-at-once", "runs-as-root", "leftover")


def unit(variant: str) -> str:
    """The systemd unit of ``variant``."""
    command = f"/usr/bin/python3 -m http.server --bind 127.0.0.1 --directory /usr/lib/{NAME} {PORT}"
    if variant == "exits-at-once":
        command = "/usr/bin/python3 -c pass"
    user = "" if variant == "runs-as-root" else f"User={NAME}\nGroup={NAME}\n"
    return (
        f"[Unit]\nDescription=tiny web server for tap2pkg verify tests\n\n"
        f"[Service]\n{user}ExecStart={command}\nRestart=on-failure\nRestartSec=0.2\n\n"
        f"[Install]\nWantedBy=multi-user.target\n"
    )


INIT = f"""#!/bin/sh
### BEGIN INIT INFO
# Provides:          {NAME}
# Required-Start:    $remote_fs
# Required-Stop:     $remote_fs
# Default-Start:     2 3 4 5
# Default-Stop:      0 1 6
# Short-Description: tiny web server
### END INIT INFO
PIDFILE=/run/{NAME}.pid
case "$1" in
  start)
    start-stop-daemon --start --quiet --background --make-pidfile --pidfile $PIDFILE --chuid {NAME} \\
      --exec /usr/bin/python3 -- -m http.server --bind 127.0.0.1 --directory /usr/lib/{NAME} {PORT} || exit 0
    ;;
  stop)
    start-stop-daemon --stop --quiet --retry 5 --pidfile $PIDFILE --remove-pidfile || true
    ;;
  restart|force-reload)
    "$0" stop; "$0" start
    ;;
  status)
    start-stop-daemon --status --pidfile $PIDFILE
    ;;
  *)
    echo "Usage: $0 {{start|stop|restart|force-reload|status}}" >&2; exit 3
    ;;
esac
"""

POSTINST = f"""#!/bin/sh
set -e
if [ "$1" = configure ]; then
  getent passwd {NAME} >/dev/null || \
    adduser --system --group --quiet --home /var/lib/{NAME} --no-create-home {NAME}
  mkdir -p /var/lib/{NAME} /var/log/{NAME}
  chown {NAME}:{NAME} /var/lib/{NAME} /var/log/{NAME}
  update-rc.d {NAME} defaults >/dev/null
  deb-systemd-helper unmask {NAME}.service >/dev/null || true
  deb-systemd-helper enable {NAME}.service >/dev/null || true
  if [ -d /run/systemd/system ]; then
    systemctl daemon-reload
    deb-systemd-invoke restart {NAME}.service
  else
    invoke-rc.d {NAME} restart
  fi
fi
"""

PRERM = f"""#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then
  deb-systemd-invoke stop {NAME}.service
else
  invoke-rc.d {NAME} stop
fi
"""

POSTRM = f"""#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload || true
fi
if [ "$1" = purge ]; then
  update-rc.d {NAME} remove >/dev/null
  deb-systemd-helper purge {NAME}.service >/dev/null || true
  deb-systemd-helper unmask {NAME}.service >/dev/null || true
  rm -rf /var/lib/{NAME} /var/log/{NAME}
  if getent passwd {NAME} >/dev/null; then deluser --system --quiet {NAME}; fi
  if getent group {NAME} >/dev/null; then delgroup --system --quiet {NAME}; fi
fi
"""


def _write(path: Path, text: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)


def build_deb(outdir: Path, variant: str = "good", version: str = "1.0-1") -> Path:
    """Build the .deb of ``variant`` into ``outdir`` and return its path."""
    root = outdir / f"{NAME}-{variant}-{version}"
    postinst = POSTINST
    if variant == "postinst-fails":
        postinst += 'echo "tinyweb: configuration failed on purpose" >&2\nexit 1\n'
    if variant == "leftover":
        postinst += f"mkdir -p /var/cache/{NAME} && echo state > /var/cache/{NAME}/state\n"
    _write(
        root / "DEBIAN/control",
        f"Package: {NAME}\nVersion: {version}\nArchitecture: all\n"
        f"Maintainer: tap2pkg tests <tests@example.org>\nDepends: python3, adduser\n"
        f"Description: tiny web server for tap2pkg verify tests\n variant {variant}\n",
    )
    _write(root / "DEBIAN/conffiles", f"/etc/{NAME}/{NAME}.conf\n/etc/init.d/{NAME}\n")
    _write(root / "DEBIAN/postinst", postinst, 0o755)
    _write(root / "DEBIAN/prerm", PRERM, 0o755)
    _write(root / "DEBIAN/postrm", POSTRM, 0o755)
    _write(root / f"etc/{NAME}/{NAME}.conf", f"# {NAME} settings\nport = {PORT}\n")
    _write(root / f"etc/init.d/{NAME}", INIT, 0o755)
    _write(root / f"lib/systemd/system/{NAME}.service", unit(variant))
    _write(root / f"usr/lib/{NAME}/index.html", f"<p>{NAME} {version}</p>\n")
    output = outdir / f"{NAME}_{version}_{variant}_all.deb"
    subprocess.run(
        ["dpkg-deb", "--root-owner-group", "-Zgzip", "--build", str(root), str(output)],
        check=True,
        capture_output=True,
    )
    return output


SPEC = """Name: {name}
Version: {version}
Release: 1
Summary: tiny web server for tap2pkg verify tests
License: MIT
BuildArch: noarch
Requires: python3
Requires(pre): shadow-utils
Requires(post): systemd
Requires(preun): systemd

%description
Variant {variant}.

%install
mkdir -p %{{buildroot}}/usr/lib/systemd/system %{{buildroot}}/etc/{name} %{{buildroot}}/usr/lib/{name}
mkdir -p %{{buildroot}}/var/lib/{name} %{{buildroot}}/var/log/{name}
cat > %{{buildroot}}/usr/lib/systemd/system/{name}.service <<'EOF'
{unit}EOF
echo 'port = {port}' > %{{buildroot}}/etc/{name}/{name}.conf
echo '<p>{name} {version}</p>' > %{{buildroot}}/usr/lib/{name}/index.html

%pre
getent group {name} >/dev/null || groupadd -r {name}
getent passwd {name} >/dev/null || useradd -r -g {name} -d /var/lib/{name} -s /usr/sbin/nologin {name}
exit 0

%post
systemctl daemon-reload >/dev/null 2>&1 || :
if [ $1 -eq 1 ]; then systemctl enable {name}.service >/dev/null 2>&1 || :; fi
systemctl restart {name}.service
{post_extra}

%preun
if [ $1 -eq 0 ]; then systemctl --no-reload disable --now {name}.service >/dev/null 2>&1 || :; fi

%postun
systemctl daemon-reload >/dev/null 2>&1 || :

%files
/usr/lib/systemd/system/{name}.service
%config(noreplace) /etc/{name}/{name}.conf
/usr/lib/{name}
%dir %attr(0750,{name},{name}) /var/lib/{name}
%dir %attr(0750,{name},{name}) /var/log/{name}
"""


def build_rpm(outdir: Path, variant: str = "good", version: str = "1.0") -> Path:
    """Build the .rpm of ``variant`` with rpmbuild into ``outdir`` and return its path."""
    top = outdir / f"rpmbuild-{variant}-{version}"
    post_extra = {
        "postinst-fails": "exit 1",
        "leftover": f"mkdir -p /var/cache/{NAME}; echo x > /var/cache/{NAME}/x",
    }
    spec = top / f"{NAME}.spec"
    _write(
        spec,
        SPEC.format(
            name=NAME,
            version=version,
            variant=variant,
            unit=unit(variant),
            port=PORT,
            post_extra=post_extra.get(variant, ""),
        ),
    )
    env = {**os.environ, "HOME": str(top)}
    subprocess.run(
        [
            "rpmbuild",
            "--quiet",
            "--define",
            f"_topdir {top}",
            "--define",
            "_dbpath /nonexistent",
            "-bb",
            str(spec),
        ],
        check=True,
        capture_output=True,
        env=env,
    )
    built = top / "RPMS" / "noarch" / f"{NAME}-{version}-1.noarch.rpm"
    output = outdir / f"{NAME}-{version}-1.{variant}.noarch.rpm"
    built.rename(output)
    return output
