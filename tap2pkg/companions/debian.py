"""Debian companion packages: stdeb's ``debian/``, its known failures worked around, else pybuild's.

:func:`build_deb` turns one :class:`~tap2pkg.companions.Companion` into an
editable Debian source package (``<source>-<version>/`` with ``debian/``, the
``.orig.tar.gz``, ``.dsc``) and a ``.deb``:

1. the sources: the dependency's sdist, or an sdist of the app's project made
   with ``python -m build --sdist`` from a copy of it
   (:func:`tap2pkg.project.project_copy`: the project directory is never
   written to), repacked so the same project and build time give the same bytes
   (:func:`tap2pkg.companions.reproducible_sdist`);
2. **stdeb** (``py2dsc``, its ``sdist_dsc`` path) writes ``debian/``. Its known
   failures are worked around, each said in a note: ``Maintainer: None <None>``
   (no author) gets the package's maintainer; rules that call ``setup.py
   install --install-layout=deb`` (an option setuptools dropped) are replaced by
   pybuild's; a build-dependency on the project's backend is added (a
   ``pyproject.toml``-only project); a crash (a project without
   ``long_description``, no ``setup.py`` at all) leaves no ``debian/``, and
3. then a **pybuild** ``debian/`` is generated instead (dh-python with
   ``pybuild-plugin-pyproject``);
4. ``dpkg-buildpackage -us -uc`` builds the source and binary packages, dated by
   the build's one time (``SOURCE_DATE_EPOCH``, else the app file's time).

The source package is ``python-<name>``, Debian's name for the source of
``python3-<name>``: never the service's own source name (a project named like
its app file), so neither replaces the other's files. Nothing already in the
output directory is replaced: a file or tree in the way is refused (exit 73).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import BuildToolError, MissingToolError, OutputError, ProjectError
from ..project import backend_environment, project_copy
from ..runtime.lazy import lazy_import
from . import (
    Companion,
    build_env,
    companion_entry,
    debian_build_depends,
    reproducible_sdist,
    requirement_entries,
    unpack,
)

if TYPE_CHECKING:
    from .. import render, settings, tools
    from ..deb import licenses, policy
else:  # imported on first use: settings.py imports this package (a cycle); tools and policy when building
    settings = lazy_import("tap2pkg.settings")
    tools = lazy_import("tap2pkg.tools")
    render = lazy_import("tap2pkg.render")
    policy = lazy_import("tap2pkg.deb.policy")
    licenses = lazy_import("tap2pkg.deb.licenses")

__all__ = ["build_deb", "build_set", "requirement_entries", "sdist_of", "source_name", "stdeb_failure"]

PYBUILD_RULES = """#!/usr/bin/make -f
export PYBUILD_NAME={module}
export PYBUILD_DISABLE=test

%:
\tdh $@ --with python3 --buildsystem=pybuild
"""


#: How long one tool of a companion build may run (seconds).
TOOL_TIMEOUT = 1800
#: The Debian package of each tool a companion build runs.
TOOL_PACKAGES = {"py2dsc": "python3-stdeb", "dpkg-buildpackage": "dpkg-dev", "rpmbuild": "rpm"}


def _run(command: list[str], cwd: Path, what: str, *, system: bool = False, env: dict[str, str] | None = None,
         epoch: int | None = None) -> subprocess.CompletedProcess[str]:
    """Run a build tool in its own process group, so it (and what it started) stops with us
    (:func:`tap2pkg.tools.run_tool_process`); its output, stderr merged in, is ``stdout``. With ``what``,
    a failure is a :class:`BuildToolError` saying ``what`` failed, with the tool's last lines. With
    ``epoch``, the tool is dated by it (``SOURCE_DATE_EPOCH``, UTC, the C locale)."""
    env = dict(env or os.environ)
    if epoch is not None:
        env.update(build_env(epoch))
    if system:  # a Debian build runs the distribution's python3 (dh-python's), not the first on PATH
        env["PATH"] = "/usr/sbin:/usr/bin:/sbin:/bin"
    tool = Path(command[0]).name
    try:
        done = tools.run_tool_process(command, cwd=cwd, env=env, timeout=TOOL_TIMEOUT)
    except FileNotFoundError:
        package = TOOL_PACKAGES.get(tool, tool)
        raise MissingToolError(f"{tool} is not installed; building companion packages needs it "
                               f"(apt-get install {package})") from None
    except subprocess.TimeoutExpired:
        raise BuildToolError(f"{what or tool}: no end after {TOOL_TIMEOUT // 60} minutes; stopped") from None
    if done.returncode != 0 and what:
        tail = "\n".join(done.stdout.strip().splitlines()[-12:])
        raise BuildToolError(f"{what} failed (exit {done.returncode}):\n{tail}")
    return done


def sdist_of(companion: Companion, workdir: Path, *, skip: Iterable[Path] = (),
             epoch: int | None = None) -> Path:
    """The companion's sdist: the fetched one, or one made from a copy of the app's project (its directory
    is never written to; ``skip``: paths inside it to leave out of the copy, such as the output directory),
    with ``epoch`` repacked to the same bytes for the same project (:func:`reproducible_sdist`)."""
    if companion.role != "project":
        return companion.source
    out = workdir / "sdist"
    with project_copy(companion.source, skip=skip) as copy:
        _run([sys.executable, "-m", "build", "--sdist", "--outdir", str(out), str(copy)], workdir,
             f"making an sdist of the project {companion.name} (python -m build --sdist)",
             env=backend_environment(), epoch=epoch)
    sdist = next(out.glob("*.tar.gz"))
    if epoch is not None:
        reproducible_sdist(sdist, epoch)
    return sdist


def source_name(companion: Companion) -> str:
    """The Debian source package of ``companion``: ``python-<name>``, Debian's name for the source of
    ``python3-<name>`` (never a service's: its source is named after the service)."""
    return "python-" + companion.package.removeprefix("python3-")


def publish_into(items: Iterable[Path], output_dir: Path) -> list[Path]:
    """Move ``items`` into ``output_dir``; a file or directory already there is refused (exit 73), never
    replaced: it is another package's (of the same call, in a staging directory)."""
    output_dir.mkdir(parents=True, exist_ok=True)
    plan = [(item, output_dir / item.name) for item in items]
    for _item, target in plan:
        if os.path.lexists(target):
            raise OutputError(f"{target}: already written by another package of this build; the companion "
                              "would replace it, so nothing is published: give the packages different names")
    for item, target in plan:
        shutil.move(str(item), target)
    return [target for _item, target in plan]


def build_deb(companion: Companion, output_dir: Path, maintainer: str, distribution: str = "unstable", *,
              skip: Iterable[Path] = (), epoch: int | None = None) -> tuple[list[Path], list[str], str]:
    """Build ``companion`` into ``output_dir``; the files written, the notes and which way it took
    (``stdeb`` or ``pybuild``).
    ``skip``: more paths to leave out of the copy of the project (the final output directory); ``epoch``:
    the build time that dates it (default: now; the front ends give the service's)."""
    notes: list[str] = []
    source = source_name(companion)
    version = companion.version
    epoch = int(time.time()) if epoch is None else epoch
    with tempfile.TemporaryDirectory(prefix="tap2pkg-companion-") as tmp:
        work = Path(tmp)
        sdist = sdist_of(companion, work, skip=(output_dir, *skip), epoch=epoch)
        debian = _stdeb(sdist, work, maintainer, distribution, notes, companion, epoch)
        tree_parent = work / "tree"
        tree_parent.mkdir()
        tree = unpack(sdist, tree_parent)
        tree = tree.rename(tree_parent / f"{source}-{version}")
        shutil.copy(sdist, tree_parent / f"{source}_{version}.orig.tar.gz")
        if debian is not None:
            shutil.copytree(debian, tree / "debian")
            _fix_stdeb(tree / "debian", companion, maintainer, notes, distribution, epoch)
            path = "stdeb"
        else:
            _pybuild_debian(tree / "debian", companion, source, maintainer, distribution, epoch)
            path = "pybuild"
        _add_depends(tree / "debian" / "control", companion)
        # dpkg-genbuildinfo dates the .buildinfo now: the build time instead, before the .changes sums it
        dated = render.rfc2822(epoch).replace("-0000", "+0000")
        hook = f"sed -i 's/^Build-Date: .*$/Build-Date: {dated}/' ../{source}_*.buildinfo"
        _run(["dpkg-buildpackage", "-us", "-uc", "-d", f"--hook-changes={hook}"], tree,
             f"building the companion {companion.package} {version} (dpkg-buildpackage, {path} debian/)",
             system=True, epoch=epoch)
        shutil.rmtree(tree / ".pybuild", ignore_errors=True)
        results = [item for item in sorted(tree_parent.iterdir()) if item == tree
                   or item.suffix in (".deb", ".dsc", ".changes", ".buildinfo")
                   or item.name.endswith((".orig.tar.gz", ".debian.tar.xz"))]
        written = publish_into(results, output_dir)
    how = "stdeb's debian/" if path == "stdeb" else "a generated pybuild debian/ (stdeb could not)"
    notes.insert(0, f"companion {companion.package} {version} ({companion.role}) built with {how}")
    notes.insert(1, f"{companion.package}: its source package is {source} (Debian's name for the source of "
                    "a Python module's python3- package), in the tree {source}-{version}/")
    return written, notes, path


def _stdeb(sdist: Path, work: Path, maintainer: str, distribution: str, notes: list[str],
           companion: Companion, epoch: int) -> Path | None:
    """stdeb's ``debian/`` for ``sdist`` (py2dsc), or None when stdeb fails before writing one."""
    dist = work / "deb_dist"
    py2dsc = Path(sys.executable).with_name("py2dsc")
    done = _run([str(py2dsc) if py2dsc.exists() else "py2dsc", "--maintainer", maintainer, "--suite",
                 distribution, "--with-python3=True", "--ignore-source-changes", "--dist-dir", str(dist),
                 str(sdist)], work, "", epoch=epoch)
    found = sorted(dist.glob("*/debian/control"))
    if not found:
        notes.append(f"stdeb failed on {companion.name} ({stdeb_failure(done.stdout)}); "
                     "a pybuild debian/ was generated")
        return None
    return found[0].parent


def stdeb_failure(output: str) -> str:
    """What stdeb's output says went wrong, in a few words (its known failures by name)."""
    if "setup.py': [Errno 2]" in output:
        return "the project has no setup.py: stdeb reads only setup.py projects, not pyproject.toml-only ones"
    if "'NoneType' object is not subscriptable" in output or "long_description" in output:
        return "stdeb crashes on a project without a long_description"
    errors = [line.strip() for line in output.splitlines() if re.match(r"\s*\w+(Error|Exception):", line)]
    return (errors or [line for line in output.strip().splitlines()[-1:]] or ["no output"])[-1][:160]


def package_names(companion: Companion) -> tuple[str, ...]:
    """The names ``companion``'s files are named after: its binary and its source package."""
    return companion.package, source_name(companion)


def build_set(spec: Any, output_dir: Path, epoch: int, *,
              skip: Iterable[Path] = ()) -> tuple[list[dict[str, Any]], list[str]]:
    """Build every companion of ``spec`` into ``output_dir``, dated ``epoch``: their ``--json`` entries and
    notes. One another service of the call built there already (a shared dependency) is not built again."""
    entries: list[dict[str, Any]] = []
    notes: list[str] = []
    for companion in spec.companions:
        source = source_name(companion)
        built = sorted(Path(output_dir).glob(f"{companion.package}_{companion.version}-1_*.deb"))
        if built:
            written = [*built, *sorted(Path(output_dir).glob(f"{source}_{companion.version}[.-]*"))]
            tree = Path(output_dir) / f"{source}-{companion.version}"
            written += [tree] if tree.is_dir() else []
            changelog = tree / "debian" / "changelog"
            stdeb = changelog.is_file() and "stdeb" in changelog.read_text("utf-8")
            builder = "stdeb" if stdeb else "pybuild"
            notes.append(f"companion {companion.package} {companion.version}: built once for this call")
        else:
            written, more, builder = build_deb(companion, Path(output_dir), spec.maintainer,
                                               spec.distribution, skip=skip, epoch=epoch)
            notes.extend(more)
        entries.append(companion_entry(companion, "deb", builder, written))
    return entries, notes


def _fix_stdeb(debian: Path, companion: Companion, maintainer: str, notes: list[str],
               distribution: str, epoch: int) -> None:
    control = debian / "control"
    text = control.read_text(encoding="utf-8")
    source = source_name(companion)  # stdeb names the source after the project: a service's name, maybe
    text = re.sub(r"^Source: .*$", f"Source: {source}", text, count=1, flags=re.MULTILINE)
    changelog = debian / "changelog"
    entry = changelog.read_text(encoding="utf-8")
    # the one entry stdeb writes, renamed and dated by the build time (stdeb dates it now)
    entry = re.sub(r"\A\S+ ", f"{source} ", entry)
    entry = re.sub(r"^( -- .*?  ).*$", lambda m: m[1] + render.rfc2822(epoch), entry, flags=re.MULTILINE)
    changelog.write_text(entry, encoding="utf-8")
    # stdeb copies the project's metadata (its long description, an author) into the control file;
    # dpkg-gencontrol would substitute a ${...} in it (${Newline} makes new fields), and has no escape
    foreign = re.search(r"\$\{(?!misc:|python3:|shlibs:)", text)
    if foreign is not None:
        raise ProjectError(f"the metadata of the project {companion.name!r}: its description or author holds "
                           "'${', which dpkg would substitute as a variable; fix the project, or skip the "
                           "requirement (--skip-requirement)")
    # a long description in reStructuredText has lines such as ".. image::": in a control file a
    # continuation line " ." followed by more is reserved (lintian: an error); indented, it shows verbatim
    dotted = re.compile(r"^ \.(?=\S)", re.MULTILINE)
    if dotted.search(text):
        text = dotted.sub("  .", text)
        notes.append(f"{companion.package}: description lines starting with '.' (reStructuredText markup "
                     "from the project's long description) indented, as Debian's control syntax requires")
    if "None <None>" in text:
        text = text.replace("None <None>", maintainer)
        notes.append(f"{companion.package}: stdeb wrote Maintainer: None <None> (the project names no "
                     f"author); set to {maintainer}")
    # a project without a URL: stdeb writes the word None, which no tool reads as a URL
    homepage = companion.url
    if re.search(r"^Homepage: None$", text, re.MULTILINE):
        text = re.sub(r"^Homepage: None\n", f"Homepage: {homepage}\n" if homepage else "", text,
                      flags=re.MULTILINE)
        notes.append(f"{companion.package}: stdeb wrote Homepage: None (the project gives no URL); "
                     + (f"set to {homepage}" if homepage else "left out"))
    if not (debian / "copyright").exists():  # stdeb writes none: a binary package without one is an error
        _write_copyright(debian, companion, epoch)
        notes.append(f"{companion.package}: stdeb wrote no debian/copyright; one naming the project's "
                     "license (or that it is not given) was added")
    # stdeb claims its own Policy version; the target release's lintian knows another
    wanted_policy = policy.standards_version(distribution)
    text = re.sub(r"^Standards-Version: .*$", f"Standards-Version: {wanted_policy}", text, flags=re.MULTILINE)
    backend = (companion.backend or "setuptools").split(".")[0].split(":")[0]
    wanted = ["dh-python", "pybuild-plugin-pyproject", *debian_build_depends(companion)]
    lines = text.splitlines()
    for index, line in enumerate(lines):
        if line.startswith("Build-Depends:"):
            have = line.split(":", 1)[1]
            extra = [w for w in wanted if w not in re.findall(r"[a-z0-9][a-z0-9+.-]*", have)]
            if extra:
                lines[index] = line.rstrip() + ", " + ", ".join(extra)
                notes.append(f"{companion.package}: Build-Depends gains {', '.join(extra)} (pybuild builds "
                             f"the {backend} project)")
    control.write_text("\n".join(lines) + "\n", encoding="utf-8")
    rules = debian / "rules"
    if "--install-layout=deb" in rules.read_text(encoding="utf-8") or "setup.py" in rules.read_text():
        rules.write_text(PYBUILD_RULES.format(module=companion.package.removeprefix("python3-")))
        notes.append(f"{companion.package}: stdeb's debian/rules called setup.py install "
                     "--install-layout=deb (an option setuptools dropped); replaced by pybuild's")


def _write_copyright(debian: Path, companion: Companion, epoch: int) -> None:
    """``debian/copyright`` in the machine-readable format: the project's license with its standalone
    paragraph (its text, or where to find it), or that it is not given."""
    license_name = companion.license_name
    year = time.gmtime(epoch).tm_year
    text = "".join(f"\nLicense: {name}\n{body}\n" for name, body in licenses.license_paragraphs(license_name))
    if license_name == settings.LICENSE_NOT_GIVEN:
        text = f"\nLicense: {license_name}\n The project's metadata does not give its license.\n"
    (debian / "copyright").write_text(
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n"
        f"Upstream-Name: {companion.name}\n" + (f"Source: {companion.url}\n" if companion.url else "")
        + f"\nFiles: *\nCopyright: {year} the {companion.name} authors\nLicense: {license_name}\n{text}",
        encoding="utf-8")


def _pybuild_debian(debian: Path, companion: Companion, source: str, maintainer: str, distribution: str,
                    epoch: int) -> None:
    (debian / "source").mkdir(parents=True)
    (debian / "source" / "format").write_text("3.0 (quilt)\n")
    (debian / "control").write_text(
        f"Source: {source}\nMaintainer: {maintainer}\nSection: python\nPriority: optional\n"
        f"Build-Depends: debhelper-compat (= 13), dh-python, pybuild-plugin-pyproject, python3-all, "
        f"{', '.join(debian_build_depends(companion))}\n"
        f"Standards-Version: {policy.standards_version(distribution)}\n"
        + (f"Homepage: {companion.url}\n" if companion.url else "")
        + f"\nPackage: {companion.package}\nArchitecture: all\n"
        f"Depends: ${{misc:Depends}}, ${{python3:Depends}}\nDescription: {companion.synopsis}\n"
        f" The Python project {companion.name} {companion.version}, packaged by tap2pkg.\n")
    (debian / "changelog").write_text(
        f"{source} ({companion.version}-1) {distribution}; urgency=medium\n\n"
        f"  * Packaged by tap2pkg from {companion.name} {companion.version}.\n\n"
        f" -- {maintainer}  {render.rfc2822(epoch)}\n")
    _write_copyright(debian, companion, epoch)
    rules = debian / "rules"
    rules.write_text(PYBUILD_RULES.format(module=companion.package.removeprefix("python3-")))
    rules.chmod(0o755)


def _add_depends(control: Path, companion: Companion) -> None:
    """The companion's own resolved relations (companions with exact versions) in its Depends."""
    extra = [d.debian() for d in companion.depends]
    if not extra:
        return
    text = control.read_text(encoding="utf-8")
    out = []
    for line in text.splitlines():
        if line.startswith("Depends:") and "${python3:Depends}" in line:
            line = line.rstrip() + ", " + ", ".join(extra)
        out.append(line)
    control.write_text("\n".join(out) + "\n", encoding="utf-8")
