"""The options ``tap2deb``, ``tap2rpm`` and ``tap2pkg build`` share, and turning them into specs.

Twisted's ``tap2deb``/``tap2rpm`` options keep their names and meaning; the
new ones are long options only. Settings are merged in this order, later
winning: built-in defaults, ``[tool.tap2pkg]`` (``--config`` or a
``pyproject.toml`` beside the app file), the command line.
"""

from __future__ import annotations

import argparse
import hashlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..payload import check_includes
from ..config import load_settings
from ..errors import AppFileNotFoundError, InvalidOptionValueError, UsageError
from ..spec import PackageSpec, kind_for

#: argparse dest -> settings key, for the options every format shares.
_COMMON_DESTS = {
    "type": "type", "maintainer": "maintainer", "protocol": "protocol", "description": "description",
    "long_description": "long_description", "set_version": "version", "output_dir": "output_dir",
    "depends": "depends", "include": "include", "user": "user", "port": "port", "license": "license",
    "homepage": "homepage", "builder": "builder",
}


def add_common_options(parser: argparse.ArgumentParser) -> None:
    """Add the options every packaging front end takes (all default to None: "not given")."""
    parser.add_argument("appfiles", nargs="*", metavar="APPFILE",
                        help="application files (.tac/.py, .tap, .tas, .tax); one package each")
    parser.add_argument("-t", "--tapfile", metavar="FILE",
                        help="the app file when no APPFILE is given (default: twistd.tap)")
    parser.add_argument("-y", "--type", metavar="TYPE",
                        help="app file type: tap, python, source or xml (default: from the suffix)")
    parser.add_argument("-m", "--maintainer", metavar="'NAME <EMAIL>'", help="package maintainer")
    parser.add_argument("-p", "--protocol", help="the service's name (default: the app file's base name)")
    parser.add_argument("-e", "--description", help='one-line summary (default: "A server for <protocol>")')
    parser.add_argument("-l", "--long_description", "--long-description", dest="long_description",
                        metavar="TEXT", help="long description")
    parser.add_argument("-V", "--set-version", dest="set_version", metavar="VERSION",
                        help="upstream version (default: 1.0)")
    parser.add_argument("-u", "--unsigned", action="store_true", help="do not sign")
    parser.add_argument("-o", "--output-dir", dest="output_dir", metavar="DIR",
                        help="where to write everything (default: the current directory)")
    parser.add_argument("--depends", action="append", metavar="PKG", help="extra dependency (repeatable)")
    parser.add_argument("--include", action="append", metavar="PATH",
                        help="the app's own module or package, installed where tapd imports it (repeatable)")
    parser.add_argument("--user", help="system user the service runs as (default: the package name)")
    parser.add_argument("--port", action="append", metavar="PORT",
                        help="a port the service listens on (repeatable; default: found in the app file)")
    parser.add_argument("--license", metavar="SPDX", help="license of the app, an SPDX id (default: MIT)")
    parser.add_argument("--homepage", metavar="URL", help="project home page")
    parser.add_argument("--source-only", action="store_true", help="only the source package")
    parser.add_argument("--binary-only", action="store_true", help="only the binary package")
    parser.add_argument("--json", action="store_true", help="print one JSON summary on stdout")
    parser.add_argument("--config", metavar="FILE.toml", help="read [tool.tap2pkg] settings from this file")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")


def add_deb_options(parser: argparse.ArgumentParser, *, name_option: bool = True) -> None:
    """Add the Debian-only options (``-d/--debfile`` unless ``name_option`` is False)."""
    if name_option:
        parser.add_argument("-d", "--debfile", metavar="NAME", help="package name (default: the protocol)")
    parser.add_argument("--builder", help="native (default: the .deb written in Python) or dpkg "
                        "(dpkg-buildpackage)")
    parser.add_argument("--revision", help="Debian revision (default: 1)")
    parser.add_argument("--distribution", help="changelog distribution (default: unstable)")
    parser.add_argument("--compression", help="native .deb member compression: xz (default) or gzip")


def app_files(args: argparse.Namespace, *, single_options: tuple[str, ...] = ("protocol",)) -> list[Path]:
    """The app files to package; refuses options naming one package when there are several."""
    files = [Path(p) for p in args.appfiles] or [Path(args.tapfile or "twistd.tap")]
    if len(files) > 1:
        for dest in single_options:
            if getattr(args, dest, None):
                flag = {"protocol": "-p/--protocol", "debfile": "-d/--debfile",
                        "rpmfile": "-r/--rpmfile"}.get(dest, dest)
                raise UsageError(f"{flag} names one package but {len(files)} app files were given; "
                                 "drop it or build them one at a time")
    return files


def merged_settings(args: argparse.Namespace, app_file: Path,
                    extra_dests: Mapping[str, str]) -> dict[str, Any]:
    """Config-file settings for ``app_file`` overlaid with every option given on the command line."""
    config = Path(args.config) if getattr(args, "config", None) else None
    settings = load_settings(app_file, config)
    for dest, key in {**_COMMON_DESTS, **extra_dests}.items():
        value = getattr(args, dest, None)
        if value is not None:
            settings[key] = value
    return settings


def maintainer_from_environment(env: Mapping[str, str]) -> str | None:
    """``DEBFULLNAME <DEBEMAIL>`` (or ``DEBEMAIL`` alone when it holds both), else None."""
    email = env.get("DEBEMAIL", "").strip()
    name = env.get("DEBFULLNAME", "").strip()
    if "<" in email:
        return email
    if email and name:
        return f"{name} <{email}>"
    return None


def _ports(values: list[Any]) -> tuple[int, ...]:
    out = []
    for value in values:
        try:
            out.append(int(value))
        except (TypeError, ValueError):
            raise InvalidOptionValueError(f"--port {value!r} is not a number; give a port 1-65535") from None
    return tuple(out)


#: The latest build time every format can hold: RPM stores 32-bit unsigned times, and its changelog
#: entry is dated noon of the build's day (so the last day must end before 2**32 - 1 + 12 h).
MAX_SOURCE_DATE_EPOCH = (2**32 - 1 - 43200) // 86400 * 86400 + 86399  # 2106-02-06 23:59:59 UTC


def source_date_epoch(env: Mapping[str, str]) -> int | None:
    """``SOURCE_DATE_EPOCH`` as an int, None when unset: the one place it is read.

    The value must be a whole number of seconds, 0 to :data:`MAX_SOURCE_DATE_EPOCH`, in ASCII digits.
    """
    raw = env.get("SOURCE_DATE_EPOCH")
    if raw is None or raw == "":
        return None
    if raw.isascii() and raw.isdigit() and len(raw) <= 10 and int(raw) <= MAX_SOURCE_DATE_EPOCH:
        return int(raw)
    shown = raw if len(raw) <= 24 else raw[:21] + "..."
    raise InvalidOptionValueError(
        f"SOURCE_DATE_EPOCH={shown!r} is not a whole number of seconds from 0 to {MAX_SOURCE_DATE_EPOCH} "
        "(the latest time RPM can store); fix it or unset it")


def inspect_app(app_file: Path, kind: str) -> Any:
    """Inspect the app file safely (never running code from it); return the app module's ``AppInfo``."""
    from .. import appfile

    return appfile.inspect(app_file, kind)


def spec_from_settings(app_file: Path, settings: Mapping[str, Any], *, default_maintainer: str | None = None,
                       revision_key: str = "revision", env: Mapping[str, str] | None = None) -> PackageSpec:
    """Check ``app_file`` and build its :class:`PackageSpec` from merged ``settings``."""
    env = os.environ if env is None else env
    if not app_file.is_file():
        raise AppFileNotFoundError(app_file,
                                   "no such file; give an existing app file (APPFILE or -t/--tapfile)")
    kind = kind_for(app_file, settings.get("type"))
    info = inspect_app(app_file, kind)
    protocol = settings.get("protocol") or app_file.stem
    maintainer = settings.get("maintainer") or maintainer_from_environment(env) or default_maintainer
    if not maintainer:
        raise UsageError("maintainer must be specified; give -m 'Full Name <email>' or set DEBFULLNAME and "
                         "DEBEMAIL")
    found = tuple(getattr(info, "ports", ()) or ())
    ports = _ports(list(settings["port"])) if settings.get("port") else found
    spec = PackageSpec(
        name=settings.get("name") or protocol,
        app_file=app_file,
        app_kind=kind,
        maintainer=maintainer,
        version=str(settings.get("version") or "1.0"),
        revision=str(settings.get(revision_key) or "1"),
        protocol=protocol,
        description=settings.get("description") or "",
        long_description=settings.get("long_description") or "",
        user=settings.get("user") or "",
        ports=ports,
        depends=tuple(settings.get("depends") or ()),
        includes=tuple(Path(p) for p in settings.get("include") or ()),
        license=settings.get("license") or "MIT",
        homepage=settings.get("homepage") or "",
        distribution=settings.get("distribution") or "unstable",
        source_date_epoch=source_date_epoch(env),
    )
    check_includes(spec)
    return spec


def sha256(path: Path) -> str:
    """The hex SHA-256 of a file."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def artifact_summary(name: str, version: str, artifacts: list[Path], **extra: Any) -> dict[str, Any]:
    """One package's entry in the ``--json`` summary."""
    return {"name": name, "version": version, **extra,
            "artifacts": [{"path": str(p), "sha256": sha256(p)} for p in artifacts if p.is_file()]}
