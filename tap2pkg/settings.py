"""From settings to a :class:`~tap2pkg.spec.PackageSpec`: what the caller gave, the environment, the app file.

:meth:`PackageSpec.from_app_file <tap2pkg.spec.PackageSpec.from_app_file>`
merges ``[tool.tap2pkg]`` with the caller's settings
(:func:`tap2pkg.config.merge_settings`) and hands the result to
:func:`spec_from_settings`, which adds what is not in them:

* the app file's kind (``type``, else its suffix) and its ports, found by
  inspecting it without running it (:func:`tap2pkg.appfile.inspect`);
* the maintainer, when none is given: ``DEBFULLNAME`` and ``DEBEMAIL`` (as
  ``dch`` and ``dpkg`` read them), else the caller's default;
* the build time: ``SOURCE_DATE_EPOCH``, a whole number of seconds no later
  than RPM can store.

Each is read here and nowhere else; the spec then checks every value.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .deb import policy
from .errors import AppFileNotFoundError, InvalidOptionValueError, UsageError
from .runtime.lazy import lazy_import

if TYPE_CHECKING:
    from packaging import utils as packaging_utils

    from . import appfile, payload, pydeps
    from . import companions as companions_module
    from . import dependency as dependency_module
    from . import project as project_module
    from . import spec as spec_module
    from .appfile import AppInfo
    from .spec import PackageSpec
else:  # imported on first use: spec.py calls this module (a cycle); a project's readers only for a project
    packaging_utils = lazy_import("packaging.utils")
    appfile = lazy_import("tap2pkg.appfile")
    payload = lazy_import("tap2pkg.payload")
    pydeps = lazy_import("tap2pkg.pydeps")
    companions_module = lazy_import("tap2pkg.companions")
    dependency_module = lazy_import("tap2pkg.dependency")
    project_module = lazy_import("tap2pkg.project")
    spec_module = lazy_import("tap2pkg.spec")


#: Per package format, the settings keys that give the package name and the revision, the first one
#: set wins (``debfile``/``rpmfile`` and ``release`` are Twisted's option names, a settings file's too).
NAME_KEYS: dict[str | None, tuple[str, ...]] = {
    "deb": ("name", "debfile"), "rpm": ("name", "rpmfile"), None: ("name", "debfile", "rpmfile")}
REVISION_KEYS: dict[str | None, tuple[str, ...]] = {
    "deb": ("revision",), "rpm": ("release", "revision"), None: ("revision", "release")}
#: Per package format, the options of its front end that set the name and the revision, for error
#: messages (``tap2deb``, ``tap2rpm``, and ``tap2pkg build`` for both).
OPTION_NAMES: dict[str | None, dict[str, str]] = {
    "deb": {"name": "-d/--debfile", "revision": "--revision"},
    "rpm": {"name": "-r/--rpmfile", "revision": "--release"},
    None: {"name": "-n/--name", "revision": "--revision/--release"},
}
#: What a Twisted application depends on, in both formats (Debian and the Fedora family both call
#: the distribution's Twisted ``python3-twisted``).
TWISTED_DEPENDENCY = "python3-twisted"
#: What the package says of a license nobody gave (an SPDX LicenseRef, which rpmlint and the
#: Debian copyright format accept as a name): nothing is invented.
LICENSE_NOT_GIVEN = "LicenseRef-not-specified"
#: The option that sets each value a project can supply, for notes.
FIELD_FLAGS = {"version": "-V/--set-version", "description": "-e/--description", "homepage": "--homepage",
               "license": "--license"}
#: At most this many absolute paths of an app file are named in notes.
MAX_PATH_NOTES = 5


def maintainer_from_environment(env: Mapping[str, str]) -> str | None:
    """``DEBFULLNAME <DEBEMAIL>`` (or ``DEBEMAIL`` alone when it holds both), else None."""
    email = env.get("DEBEMAIL", "").strip()
    name = env.get("DEBFULLNAME", "").strip()
    if "<" in email:
        return email
    if email and name:
        return f"{name} <{email}>"
    return None


def source_date_epoch(env: Mapping[str, str]) -> int | None:
    """``SOURCE_DATE_EPOCH`` as an int, None when unset or empty.

    The value must be a whole number of seconds, 0 to :data:`tap2pkg.payload.MAX_SOURCE_DATE_EPOCH`, in ASCII
    digits; anything else is an :class:`~tap2pkg.errors.InvalidOptionValueError` (exit 86).
    """
    raw = env.get("SOURCE_DATE_EPOCH")
    if raw is None or raw == "":
        return None
    latest = payload.MAX_SOURCE_DATE_EPOCH
    if raw.isascii() and raw.isdigit() and len(raw) <= 10 and int(raw) <= latest:
        return int(raw)
    shown = raw if len(raw) <= 24 else raw[:21] + "..."
    raise InvalidOptionValueError(
        f"SOURCE_DATE_EPOCH={shown!r} is not a whole number of seconds from 0 to {latest} "
        "(the latest time RPM can store); fix it or unset it")


def derive_name(text: str) -> str:
    """A package name made from ``text`` (an app file's base name or the protocol): lower case, every run
    of characters Debian and RPM names cannot hold made one ``-`` (``echo_server`` -> ``echo-server``)."""
    name = re.sub(r"[^a-z0-9+.]+", "-", text.lower())
    return re.sub(r"^[^a-z0-9]+|[^a-z0-9+]+$", "", name)


def _first(settings: Mapping[str, Any], keys: tuple[str, ...]) -> Any:
    return next((settings[k] for k in keys if settings.get(k) not in (None, "")), None)


def _ports(values: Any) -> tuple[int, ...]:
    out = []
    for value in values if isinstance(values, (list, tuple)) else [values]:
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise InvalidOptionValueError(f"--port {value!r} is not a number; give a port 1-65535")
        try:
            out.append(int(value))
        except ValueError:
            raise InvalidOptionValueError(f"--port {value!r} is not a number; give a port 1-65535") from None
    return tuple(out)


def spec_from_settings(cls: type[PackageSpec], app_file: Path | str, settings: Mapping[str, Any], *,
                       env: Mapping[str, str] | None = None, default_maintainer: str | None = None,
                       package_format: str | None = None) -> PackageSpec:
    """A ``cls`` for ``app_file`` from merged ``settings`` (``_`` keys, as :mod:`tap2pkg.config` gives them).

    ``package_format`` (``deb``, ``rpm`` or None for both) picks which of
    ``debfile``/``rpmfile`` and ``release`` count as the name and the revision.
    Every included path is read as the build will read it, so a bad one fails
    before anything is written.
    """
    if package_format not in NAME_KEYS:
        raise UsageError(f"package format {package_format!r} is unknown; use deb, rpm or None (both)")
    app_file = Path(app_file)
    env = os.environ if env is None else env
    if not app_file.is_file():
        what = ("is a directory; give the app file in it" if app_file.is_dir()
                else "is not a regular file; give an app file" if app_file.exists()
                else "no such file; give an existing app file")
        raise AppFileNotFoundError(app_file, f"{what} (APPFILE or -t/--tapfile)")
    kind = spec_module.kind_for(app_file, settings.get("type"))
    info = appfile.inspect(app_file, kind)
    maintainer = settings.get("maintainer") or maintainer_from_environment(env) or default_maintainer
    if not maintainer:
        raise UsageError("maintainer must be specified; give -m 'Full Name <email>' or set DEBFULLNAME and "
                         "DEBEMAIL")
    options = OPTION_NAMES[package_format]
    notes: list[str] = []
    protocol = settings.get("protocol") or app_file.stem
    name = _first(settings, NAME_KEYS[package_format])
    if name is None:
        name = derive_name(protocol)
        if name != protocol and len(name) >= 2:
            source = (f"-p/--protocol {protocol!r}" if settings.get("protocol")
                      else f"the app file {app_file.name}")
            notes.append(f"package name {name!r} made from {source} (a name holds only a-z 0-9 + - .); "
                         f"set another with {options['name']}")
        elif len(name) < 2:
            name = protocol  # the spec refuses it, naming the option
    runtime = _runtime(info, settings.get("runtime"), notes)
    depends = list(settings.get("depends") or ())
    if runtime == "twisted" and not any(_names(d, TWISTED_DEPENDENCY) for d in depends):
        depends.append(TWISTED_DEPENDENCY)
        notes.append(f"depends on {TWISTED_DEPENDENCY}: a Twisted application runs under the distribution's "
                     "Twisted (twistd3 on Debian, twistd on the Fedora family)")
    project, requirements, companions = _project(app_file, settings, notes)
    if project is not None:
        for key, value, what in (("version", project.version, "version"),
                                 ("description", project.summary, "description"),
                                 ("homepage", project.homepage, "home page"),
                                 ("license", project.license, "license")):
            if not settings.get(key) and value:
                settings = {**settings, key: value}
                notes.append(f"{what} {value!r} from the project {project.name} ({project.source}); "
                             f"{FIELD_FLAGS[key]} to say otherwise")
        for item in requirements:
            notes.extend(item.notes)
            depends.extend(item.depends)
        named = {r.name for d in depends if not isinstance(d, str) for r in d.alternatives if r.op}
        # the runtime's bare python3-twisted gives way to the project's versioned one
        depends = [d for d in depends if not (isinstance(d, str) and d.strip() in named)]
        for companion in companions[:1] if companions and companions[0].role == "project" else ():
            depends.append(_exact(companion))
            notes.append(f"the project's code is packaged as {companion.package} {companion.version} "
                         f"({companion.role}); the service depends on that exact version")
    if not settings.get("license"):
        notes.append(f"license not given (--license, [tool.tap2pkg] license or the project's metadata): "
                     f"the package says {LICENSE_NOT_GIVEN} rather than invent one")
    ports = _ports(settings["port"]) if settings.get("port") else info.ports
    if ports and not settings.get("port"):
        notes.append(f"listens on port {', '.join(map(str, ports))} (found in the app file); "
                     "give --port to say otherwise")
    elif not ports:
        notes.append("no port it listens on found in the app file, so the service gets no capability to bind "
                     "one below 1024; give --port if it listens (verify probes it too)")
    user = settings.get("user") or ""
    _app_user_notes(info, user or name, bool(user), ports, notes)
    for path in info.paths[:MAX_PATH_NOTES]:
        notes.append(f"the app file names {path}, which the package does not install: it must exist on "
                     "the target (or give --include for code)")
    when = source_date_epoch(env)
    distribution = settings.get("distribution") or "unstable"
    if when is None and payload.app_file_time(app_file) < policy.earliest_date(distribution):
        day = time.strftime("%Y-%m-%d", time.gmtime(policy.earliest_date(distribution)))
        notes.append(f"the build is dated {day}, when Debian Policy {policy.standards_version(distribution)} "
                     "(the package's Standards-Version) came out, not at the app file's older time; set "
                     "SOURCE_DATE_EPOCH to choose")
    spec = cls(
        name=name,
        app_file=app_file,
        app_kind=kind,
        maintainer=maintainer,
        version=str(settings.get("version") or "1.0"),
        revision=str(_first(settings, REVISION_KEYS[package_format]) or "1"),
        protocol=protocol,
        description=settings.get("description") or "",
        long_description=settings.get("long_description") or "",
        user=user,
        ports=ports,
        depends=tuple(depends),
        includes=tuple(Path(p) for p in settings.get("include") or ()),
        license=settings.get("license") or LICENSE_NOT_GIVEN,
        homepage=settings.get("homepage") or "",
        distribution=distribution,
        source_date_epoch=when,
        runtime=runtime,
        notes=tuple(notes),
        project=project,
        companions=tuple(companions),
        requirements=tuple(requirements),
        option_names=options,
        # the services inspection found (a unit waits for network-online.target only for a client)
        app_info={"services": info.services},
    )
    payload.check_includes(spec)
    return spec


def _project(app_file: Path, settings: Mapping[str, Any],
             notes: list[str]) -> tuple[Any, list[Any], list[Any]]:
    """The app's project (``--project``, else one beside the app file), its resolved requirements and
    the companions the set needs; (None, [], []) without a project."""
    given = settings.get("project")
    directory = Path(given) if given else project_module.find_project(app_file)
    if directory is None:  # no project: companions, pydeps and packaging are never imported
        return None, [], []
    project = project_module.read_project(directory)
    notes.append(f"project {project.name} {project.version} in {project.path} (read from {project.source})"
                 + ("" if given else "; found beside the app file (--project to choose another)"))
    resolver = pydeps.Resolver(pydeps.Target(extras=frozenset(settings.get("extra") or ())),
                               index=companions_module.SdistIndex(),
                               skip=frozenset(packaging_utils.canonicalize_name(n)
                                              for n in settings.get("skip_requirement") or ()),
                               origin=f"the project {project.name} ({project.path})")
    requirements, companions = companions_module.plan(project, resolver)
    for companion in companions[1:]:
        notes.append(f"companion {companion.package} {companion.version} ({companion.role}) from "
                     f"{companion.source.name}")
    return project, requirements, companions


def _exact(companion: Any) -> Any:
    """``python3-x (= 1.0-1)``: the service's relation to a companion."""
    return dependency_module.Dependency((dependency_module.Relation(
        companion.package, "eq", f"{pydeps.debian_version(companion.version)}-1",
        rpm_version=f"{companion.version}-1"),))


def _names(dependency: Any, package: str) -> bool:
    """Whether a ``--depends`` value (text or parsed) names ``package``."""
    parsed = (dependency if isinstance(dependency, dependency_module.Dependency)
              else dependency_module.Dependency.parse(str(dependency).strip()))
    return any(relation.name == package for relation in parsed.alternatives)


def _runtime(info: AppInfo, chosen: str | None, notes: list[str]) -> str:
    """The runtime: ``--runtime`` when given (not ``auto``), else what the app file shows; noted."""
    found, evidence = info.runtime, info.evidence
    if chosen not in (None, "", "auto"):
        runtime = str(chosen)
        if runtime != found:
            notes.append(f"runtime {runtime} (--runtime), though the app file looks like a {found} "
                         "application" + (f" ({evidence})" if evidence else ""))
        return runtime
    if found == "twisted":
        notes.append("runtime twisted: a Twisted application" + (f" ({evidence})" if evidence else "")
                     + ", run by the distribution's Twisted through the package's launcher")
    else:
        notes.append("runtime tapd: no Twisted in the app file, so the bundled tapd runs it")
    return found


def _app_user_notes(info: AppInfo, user: str, user_given: bool, ports: tuple[int, ...],
                    notes: list[str]) -> None:
    """Notes on the account and privileges: the app file's uid/gid against the package's user, low ports."""
    asked = [f"{what}={value!r}" for what, value in (("uid", info.uid), ("gid", info.gid))
             if value is not None]
    if asked:
        how = "--user" if user_given else "the package's own system user; --user to choose another"
        notes.append(f"the app file asks for {', '.join(asked)}; the service runs as {user!r} instead "
                     f"({how})")
    low = sorted(p for p in ports if p < 1024)
    if low:
        notes.append(f"port {', '.join(map(str, low))} is below 1024: the systemd unit grants "
                     "CAP_NET_BIND_SERVICE, and the init script binds as root before dropping to "
                     f"{user!r}")
