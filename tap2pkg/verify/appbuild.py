"""Verify straight from an app file: build it twice (its version and version+1) to test the upgrade.

``tap2pkg verify app.tac`` builds the binary packages of app.tac through the
library, as ``tap2pkg build --binary-only`` would (:meth:`PackageSpec.from_app_file
<tap2pkg.spec.PackageSpec.from_app_file>` and the builder registry,
:mod:`tap2pkg.builders`): once at its version (the ``version`` setting, from
``--build-arg=-V...`` or ``[tool.tap2pkg]``; default 1.0) and once at that
version plus one; verify then installs the newer package as an upgrade of the
older. The companion packages of an app beside a Python project (its own code,
the dependencies the distribution lacks: :mod:`tap2pkg.companions`) are built
once per format, as tap2deb and tap2rpm build them; verify installs them from
a repository beside the service (:mod:`tap2pkg.verify.localrepo`). Any error of
the build is one :class:`~tap2pkg.errors.AppBuildError` line (exit 90) that
carries it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import builders
from ..config import merge_settings
from ..errors import AppBuildError, Tap2pkgError
from ..runtime.lazy import lazy_import
from ..spec import PackageSpec
from .artifact import Artifact, read_artifact

if TYPE_CHECKING:
    from .. import companions as companions_module
else:  # imported on first use: only an app beside a Python project has companions (it imports packaging)
    companions_module = lazy_import("tap2pkg.companions")

APP_SUFFIXES = (".tac", ".py", ".tap", ".tas", ".tax")
DEFAULT_MAINTAINER = "Tap2pkg Verify <verify@example.org>"


def is_app_file(path: Path) -> bool:
    """True for an application file (by suffix), which verify builds itself."""
    return path.suffix in APP_SUFFIXES


def next_version(version: str) -> str:
    """``version`` with its last number raised by one: 1.0 -> 1.1, 2 -> 3, 1.2.9 -> 1.2.10."""
    match = re.search(r"(\d+)(?!.*\d)", version)
    if match is None:
        return version + ".1"
    return version[: match.start()] + str(int(match.group(1)) + 1) + version[match.end() :]


@dataclass(frozen=True)
class BuiltVersions:
    """One format's builds of an app file: at its version, at the next, and the companions both need."""

    old: Artifact
    new: Artifact
    #: the companion packages (project and dependencies) the service depends on, built once
    companions: tuple[Artifact, ...] = ()


def companion_packages(spec: PackageSpec, fmt: str, directory: Path) -> tuple[Artifact, ...]:
    """Build the companions of ``spec`` as ``fmt`` packages into ``directory``; the binary packages."""
    entries, _notes = companions_module.build_companions(spec, fmt, directory)
    paths = [Path(a["path"]) for entry in entries for a in entry["artifacts"]]
    return tuple(read_artifact(p) for p in paths
                 if p.name.endswith(".deb") or (p.name.endswith(".rpm") and not p.name.endswith(".src.rpm")))


def build_versions(
    app: Path,
    settings: Mapping[str, Any],
    families: set[str],
    workdir: Path,
    *,
    config_file: Path | None = None,
) -> list[BuiltVersions]:
    """Build ``app`` at its version and the next into ``workdir`` (and its companions); one per format.

    ``settings`` are ``tap2pkg build``'s, as :func:`tap2pkg.config.merge_settings` takes them; they
    win over ``[tool.tap2pkg]`` (``config_file``, else a ``pyproject.toml`` beside ``app``).
    """
    version = str(settings.get("version") or "1.0")
    built: dict[str, dict[str, Artifact]] = {}
    companions: dict[str, tuple[Artifact, ...]] = {}
    try:
        merged = merge_settings(app, settings, config_file)
        version = str(merged.get("version") or "1.0")
        for label, number in (("old", version), ("new", next_version(version))):
            version = number
            spec = PackageSpec.from_settings(app, {**merged, "version": number},
                                             default_maintainer=DEFAULT_MAINTAINER)
            for fmt in sorted(families):
                options = builders.BuildOptions(source=False, binary=True,
                                                compression=merged.get("compression"))
                builder = builders.choose(merged.get("builder"), [fmt])[fmt]
                result = builder.build(spec, workdir / label, options)
                for path in result.paths("package"):
                    artifact = read_artifact(path)
                    built.setdefault(artifact.family, {})[label] = artifact
                if label == "old":
                    companions[fmt] = companion_packages(spec, fmt, workdir / "companions" / fmt)
    except Tap2pkgError as exc:
        raise AppBuildError(
            f"{app}: `tap2pkg build` at version {version} failed: {exc}; "
            "pass build options with --build-arg=OPTION"
        ) from exc
    return [BuiltVersions(pair["old"], pair["new"], companions.get(family, ()))
            for family, pair in sorted(built.items()) if len(pair) == 2]
