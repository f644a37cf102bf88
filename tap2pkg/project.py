"""The app's own Python project: its metadata, read through the standard build interface.

An app file rarely comes alone: its code is a Python project (a
``pyproject.toml`` or a ``setup.py``) with dependencies from PyPI. With
``--project DIR`` (or a ``pyproject.toml``/``setup.py`` beside the app file),
:func:`read_project` gives a :class:`Project`:

* from the static ``[project]`` table of ``pyproject.toml`` when it is complete
  (a name, a version, and neither the version nor the dependencies listed in
  ``dynamic``): nothing is run;
* otherwise from the build backend itself (``prepare_metadata_for_build_wheel``,
  through :func:`build.util.project_wheel_metadata` in an isolated environment),
  which is what pip would install: a ``setup.py``-only project, a dynamic
  version, a backend that computes its dependencies.

The backend never runs in the user's project directory: setuptools writes
``*.egg-info`` and ``build/`` where it runs. It runs in a copy
(:func:`project_copy`) made in a temporary directory, ``.git`` included (a
``setuptools-scm`` version still works), caches and virtual environments left
out. The companion's sdist (:mod:`tap2pkg.companions`) is made from such a copy
too, so building leaves the project byte-for-byte as it was.

Requirements, markers and specifiers are parsed with :mod:`packaging`. The
project supplies the defaults for the package's version, description, home page
and license (:mod:`tap2pkg.settings` notes each one it takes); the command line
and ``[tool.tap2pkg]`` still win.

>>> project = read_project(Path("."))  # doctest: +SKIP
>>> project.name, project.version, [str(r) for r in project.requires]  # doctest: +SKIP
('webapp', '1.2', ['Twisted>=22.4', 'attrs'])
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import stat
import tempfile
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config import _read_bounded as read_bounded
from .errors import ConfigError, ProjectError
from .runtime.lazy import lazy_import

if TYPE_CHECKING:
    import tomllib
    from email import parser as email_parser
    from email.message import Message  # a type only (from_metadata's annotation): never imported to run

    import build
    import pyproject_hooks
    from build import util as build_util
    from packaging import requirements as packaging_requirements
    from packaging import utils as packaging_utils
    from packaging.requirements import Requirement
else:  # imported on first use, where a project is read: a build without one never loads packaging or email
    tomllib = lazy_import("tomllib")
    email_parser = lazy_import("email.parser")
    build = lazy_import("build")
    pyproject_hooks = lazy_import("pyproject_hooks")
    build_util = lazy_import("build.util")
    packaging_requirements = lazy_import("packaging.requirements")
    packaging_utils = lazy_import("packaging.utils")

#: The files that make a directory a Python project.
PROJECT_FILES = ("pyproject.toml", "setup.py")
#: What a copy of the project leaves out: caches and tool environments no build reads
#: (a directory holding ``pyvenv.cfg``, a virtual environment, is left out whatever its name).
COPY_SKIPS = frozenset({".venv", ".tox", ".nox", "__pycache__", ".mypy_cache", ".pytest_cache",
                        ".ruff_cache", ".hypothesis", ".tap2pkg"})
#: What tap2pkg writes into an output directory: left out of a copy of a project that is its own
#: output directory (``tap2deb -o .`` in the project), so an earlier build never lands in the sdist.
OUTPUT_SUFFIXES = (".deb", ".rpm", ".dsc", ".changes", ".buildinfo", ".spec", ".orig.tar.gz",
                   ".debian.tar.xz")
#: The environment a backend or ``python -m build`` runs in: git (a setuptools-scm version) must not
#: refresh an index outside the copy (a worktree's ``.git`` file points into the user's repository).
BACKEND_ENV = {"GIT_OPTIONAL_LOCKS": "0"}


@dataclass(frozen=True)
class Project:
    """One Python project's metadata, as the build interface gives it."""

    #: the project directory
    path: Path
    #: the distribution name as the project spells it (``PyYAML``)
    name: str
    version: str
    summary: str = ""
    #: an SPDX expression or the license's words, '' when the project gives none
    license: str = ""
    homepage: str = ""
    #: label -> URL (``Source``, ``Documentation``...)
    urls: dict[str, str] = field(default_factory=dict)
    #: ``Name <email>`` or a name or an address, in the project's order
    authors: tuple[str, ...] = ()
    requires: tuple[Requirement, ...] = ()
    #: how it was read: ``the [project] table of pyproject.toml``, ``the build backend (hatchling.build)``
    source: str = ""
    #: the build backend (``setuptools.build_meta``, ``hatchling.build``...), '' for a setup.py-only project
    backend: str = ""

    @property
    def normalized_name(self) -> str:
        """The PEP 503 form of the name (``pyyaml``), as indexes and packages compare it."""
        return packaging_utils.canonicalize_name(self.name)


def find_project(app_file: Path) -> Path | None:
    """The directory of a ``pyproject.toml`` or ``setup.py`` beside ``app_file``, or None."""
    directory = app_file.resolve().parent
    return directory if is_project(directory) else None


def is_project(directory: Path) -> bool:
    """Whether ``directory`` holds a Python project (a ``pyproject.toml`` with a build system or a
    ``[project]`` table, or a ``setup.py``)."""
    if (directory / "setup.py").is_file():
        return True
    path = directory / "pyproject.toml"
    if not path.is_file():
        return False
    data = _toml(path)
    return "project" in data or "build-system" in data


def read_project(directory: Path | str) -> Project:
    """The metadata of the project in ``directory``: the static table when complete, else the backend's.

    A directory that is no project, a table with a bad value, or a backend that
    fails is one :class:`~tap2pkg.errors.ProjectError` line (exit 92) naming it.
    """
    directory = Path(directory).resolve()
    if not directory.is_dir() or not is_project(directory):
        raise ProjectError(f"--project {directory}: no pyproject.toml or setup.py there; give the "
                           "directory of the app's Python project")
    stat = max((directory / f).stat().st_mtime_ns for f in PROJECT_FILES if (directory / f).is_file())
    return _read_cached(directory, stat)


@functools.lru_cache(maxsize=32)
def _read_cached(directory: Path, _stamp: int) -> Project:
    pyproject = directory / "pyproject.toml"
    data = _toml(pyproject) if pyproject.is_file() else {}
    backend = _backend(data, pyproject)
    table = data.get("project")
    if table is not None:
        _check_table(table, PROJECT_KEYS, f"{pyproject} [project]")
    if table is not None and _complete(table):
        return _from_table(directory, table, backend)
    return _from_backend(directory, backend or ("setuptools.build_meta:__legacy__"
                                                if not pyproject.is_file() else "setuptools.build_meta"))


def _toml(path: Path) -> dict[str, Any]:
    try:  # a regular file of at most 1 MiB, as for the settings in it: never a FIFO or a device
        raw = read_bounded(path)
    except ConfigError as exc:
        raise ProjectError(str(exc)) from None
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError, RecursionError) as exc:
        why = "arrays or tables nested too deeply" if isinstance(exc, RecursionError) else exc
        raise ProjectError(f"{path}: cannot read it ({why}); fix the file") from None


def _is_str(value: Any) -> bool:
    return isinstance(value, str)


def _is_strs(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _table_of(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda value: isinstance(value, dict) and all(check(v) for v in value.values())


def _file_or_text(value: Any) -> bool:
    return _is_str(value) or (_table_of(_is_str)(value) and len({"file", "text"} & value.keys()) == 1)


#: What a value must be (the words of the error) -> its check.
_SHAPES: dict[str, Callable[[Any], bool]] = {
    "a string": _is_str, "an array of strings": _is_strs, "a table of strings": _table_of(_is_str),
    "a table of tables of strings": _table_of(_table_of(_is_str)),
    "a table of arrays of strings": _table_of(_is_strs),
    "an array of tables of a string name and email": lambda value: isinstance(value, list) and all(
        _table_of(_is_str)(v) for v in value),
    "a string or a table of a string file or text": _file_or_text,
}
#: The keys of ``[project]`` and ``[build-system]`` and what each must be, after the pyproject.toml
#: specification; a key it does not name is left to the build backend.
PROJECT_KEYS: dict[str, str] = {
    **dict.fromkeys(("name", "version", "description", "requires-python"), "a string"),
    **dict.fromkeys(("license-files", "keywords", "classifiers", "dependencies", "dynamic", "import-names",
                     "import-namespaces"), "an array of strings"),
    **dict.fromkeys(("urls", "scripts", "gui-scripts"), "a table of strings"),
    **dict.fromkeys(("authors", "maintainers"), "an array of tables of a string name and email"),
    **dict.fromkeys(("readme", "license"), "a string or a table of a string file or text"),
    "entry-points": "a table of tables of strings", "optional-dependencies": "a table of arrays of strings",
}
BUILD_SYSTEM_KEYS = {"requires": "an array of strings", "build-backend": "a string",
                     "backend-path": "an array of strings"}


def _toml_type(value: Any, depth: int = 0) -> str:
    """What ``value`` is, in TOML's words; an array or table with the first value in it that is no string."""
    kinds = {bool: "a boolean", int: "an integer", float: "a float", str: "a string", list: "an array",
             dict: "a table"}
    kind = kinds.get(type(value), "a date or time")
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    odd = [_toml_type(v, depth + 1) for v in items if not isinstance(v, str)] if depth < 2 else []
    return f"{kind} holding {next((t for t in odd if ' holding ' in t), odd[0])}" if odd else kind


def _check_table(table: Any, keys: Mapping[str, str], where: str) -> None:
    """Refuse a table, or a value in it, of another type than the specification gives (one line, exit 92)."""
    if not isinstance(table, dict):
        raise ProjectError(f"{where} must be a table, not {_toml_type(table)}; fix the project's "
                           "pyproject.toml")
    for key, shape in keys.items():
        if key in table and not _SHAPES[shape](table[key]):
            found = _toml_type(table[key])
            if shape.startswith(f"{found} of "):  # strings where arrays or tables belong
                found += " holding a string"
            elif found == "a table":
                found = "a table without just one of file and text"
            raise ProjectError(f"{where}: {key} must be {shape}, not {found}; fix the project's "
                               "pyproject.toml")


def _backend(data: dict[str, Any], pyproject: Path) -> str:
    """The ``build-backend`` of a pyproject.toml's data, its ``[build-system]`` checked; '' when none."""
    if "build-system" not in data:
        return ""
    table = data["build-system"]
    _check_table(table, BUILD_SYSTEM_KEYS, f"{pyproject} [build-system]")
    return str(table.get("build-backend") or "")


def _complete(table: dict[str, Any]) -> bool:
    dynamic = set(table.get("dynamic") or ())
    return bool(table.get("name")) and "version" in table and not dynamic & {
        "version", "dependencies", "description", "license", "urls"}


def _requirements(values: Any, where: str) -> tuple[Requirement, ...]:
    out = []
    for value in values or ():
        try:
            out.append(packaging_requirements.Requirement(value))
        except packaging_requirements.InvalidRequirement as exc:
            raise ProjectError(f"{where}: the requirement {value!r} is not valid ({exc}); fix it") from None
    return tuple(out)


def _person(entry: dict[str, str]) -> str:
    name, email = str(entry.get("name", "")).strip(), str(entry.get("email", "")).strip()
    return f"{name} <{email}>" if name and email else name or email


def _from_table(directory: Path, table: dict[str, Any], backend: str) -> Project:
    where = f"{directory / 'pyproject.toml'} [project]"
    license_value = table.get("license", "")
    if isinstance(license_value, dict):  # the older form: {text = "..."} or {file = "..."}
        license_value = license_value.get("text", "")
    urls = {str(k): str(v) for k, v in (table.get("urls") or {}).items()}
    return Project(
        path=directory, name=str(table["name"]), version=str(table["version"]),
        summary=str(table.get("description", "") or ""), license=str(license_value or "").strip(),
        homepage=_homepage(urls), urls=urls,
        authors=tuple(_person(a) for a in table.get("authors") or ()),
        requires=_requirements(table.get("dependencies"), where),
        source="the [project] table of pyproject.toml", backend=backend)


def _homepage(urls: dict[str, str]) -> str:
    for label, url in urls.items():
        if label.replace(" ", "").replace("-", "").lower() in ("homepage", "home"):
            return url
    return next(iter(urls.values()), "")


def _from_backend(directory: Path, backend: str, *, in_place: bool = False) -> Project:
    """The backend's metadata, from a copy of ``directory`` (``in_place``: a scratch directory of ours)."""
    with contextlib.ExitStack() as stack:
        where = directory if in_place else stack.enter_context(project_copy(directory))
        try:
            with warnings.catch_warnings():  # the backend's own warnings are the project's business
                warnings.simplefilter("ignore")
                metadata = build_util.project_wheel_metadata(where, isolated=True, runner=_quiet_runner)
        except (build.BuildBackendException, build.BuildException, OSError) as exc:
            last = (str(exc).strip().splitlines() or [type(exc).__name__])[-1]
            hint = ""
            if not in_place and _git_above(directory):
                hint = ("; the project is read from a copy without the git repository above it: a version "
                        "taken from git (setuptools-scm) needs SETUPTOOLS_SCM_PRETEND_VERSION set")
            raise ProjectError(f"{directory}: its build backend ({backend.split(':')[0]}) could not give "
                               f"the project's metadata ({last}); fix the project or give --project another "
                               f"directory{hint}") from None
    return from_metadata(directory, metadata, f"the build backend ({backend.split(':')[0]})", backend)


def _git_above(directory: Path) -> bool:
    """Whether ``directory`` is inside a git repository whose top is above it (a copy of it has no git)."""
    directory = Path(directory).resolve()
    return not (directory / ".git").exists() and any((p / ".git").exists() for p in directory.parents)


def _quiet_runner(cmd: Any, cwd: str | None = None, extra_environ: Mapping[str, str] | None = None) -> None:
    pyproject_hooks.quiet_subprocess_runner(cmd, cwd, {**BACKEND_ENV, **(extra_environ or {})})


@contextlib.contextmanager
def project_copy(directory: Path, *, skip: Iterable[Path] = ()) -> Iterator[Path]:
    """A copy of the project ``directory`` in a temporary directory, for a backend to write in; removed after.

    The copy keeps the directory's name, its ``.git`` and its symbolic links (as links), and leaves out
    :data:`COPY_SKIPS`, virtual environments, special files and each ``skip`` path inside the project
    (the output directory). When the output directory is the project itself, tap2pkg's own outputs at
    its top (:data:`OUTPUT_SUFFIXES`, source trees holding ``debian/``) are left out instead.
    """
    directory = Path(directory).resolve()
    skipped = {Path(p).resolve() for p in skip}
    outputs_here = directory in skipped
    skipped.discard(directory)

    def ignore(folder: str, names: list[str]) -> set[str]:
        here = Path(folder)
        out = set()
        for name in names:
            path = here / name
            try:
                mode = path.lstat().st_mode
            except OSError:
                out.add(name)
                continue
            if name in COPY_SKIPS or path in skipped or not (
                    stat.S_ISREG(mode) or stat.S_ISDIR(mode) or stat.S_ISLNK(mode)):
                out.add(name)
            elif stat.S_ISDIR(mode) and (path / "pyvenv.cfg").is_file():
                out.add(name)
            elif outputs_here and here == directory and (
                    name.endswith(OUTPUT_SUFFIXES) or (path / "debian" / "control").is_file()):
                out.add(name)
        return out

    with tempfile.TemporaryDirectory(prefix="tap2pkg-project-") as tmp:
        copy = Path(tmp) / directory.name
        try:
            shutil.copytree(directory, copy, symlinks=True, ignore=ignore)
        except (OSError, shutil.Error) as exc:
            raise ProjectError(f"{directory}: cannot copy the project to build it aside ({exc}); make its "
                               "files readable") from None
        yield copy


def backend_environment() -> dict[str, str]:
    """The environment to run ``python -m build`` (or another backend front end) in, on a project copy."""
    return {**os.environ, **BACKEND_ENV}


def from_metadata(directory: Path, metadata: Any, source: str, backend: str = "") -> Project:
    """A :class:`Project` from core metadata (``PKG-INFO``/``METADATA`` as a message)."""
    message: Message | Any = metadata
    urls: dict[str, str] = {}
    for entry in message.get_all("Project-URL") or ():
        label, _, url = str(entry).partition(",")
        urls[label.strip()] = url.strip()
    homepage = str(message.get("Home-page") or "").strip() or _homepage(urls)
    license_value = str(message.get("License-Expression") or "").strip()
    if not license_value:
        text = str(message.get("License") or "").strip()
        license_value = text if text and text.upper() != "UNKNOWN" and "\n" not in text else ""
    authors = [str(message.get(key) or "").strip() for key in ("Author-email", "Author")]
    return Project(
        path=directory, name=str(message["Name"]), version=str(message["Version"]),
        summary=str(message.get("Summary") or "").strip(), license=license_value,
        homepage=homepage, urls=urls, authors=tuple(a for a in authors if a and a != "UNKNOWN"),
        requires=_requirements(message.get_all("Requires-Dist"), f"{directory}: Requires-Dist"),
        source=source, backend=backend)


def read_sdist_metadata(unpacked: Path) -> Project:
    """The metadata of an sdist unpacked in a scratch directory: its ``PKG-INFO`` when it lists the
    requirements for sure (metadata 2.2+ not marking them dynamic), else the build backend's, run there."""
    pkg_info = unpacked / "PKG-INFO"
    if pkg_info.is_file():
        message = email_parser.Parser().parsestr(pkg_info.read_text(encoding="utf-8", errors="replace"))
        version = tuple(int(p) for p in str(message.get("Metadata-Version", "1.0")).split(".")[:2]
                        if p.isdigit())
        dynamic = {str(d).lower() for d in message.get_all("Dynamic") or ()}
        if version >= (2, 2) and "requires-dist" not in dynamic:
            return from_metadata(unpacked, message, "its PKG-INFO")
    pyproject = unpacked / "pyproject.toml"
    backend = _backend(_toml(pyproject), pyproject) if pyproject.is_file() else ""
    return _from_backend(unpacked, backend or "setuptools.build_meta:__legacy__", in_place=True)

