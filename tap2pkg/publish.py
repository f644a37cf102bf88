"""Signed apt and yum repositories that any web server can serve: ``tap2pkg publish``.

:func:`publish` adds ``.deb`` files to an apt repository and ``.rpm`` files to
a yum/dnf repository, each a plain directory of static files, signed with the
one key of ``--sign-key`` (:mod:`tap2pkg.signing`):

=====  ==========================================================================
apt    ``pool/<component>/<l>/<name>/*.deb``; ``dists/<suite>/`` with
       ``Release`` signed twice (``InRelease`` inline, ``Release.gpg``
       detached); ``<name>.asc`` (the public key), ``<name>.gpg`` (the same
       as a binary keyring for ``signed-by=``) and ``<name>.sources`` (the
       deb822 snippet a user copies to ``/etc/apt/sources.list.d/``)
yum    ``Packages/*.rpm`` signed with ``rpmsign --addsign``; ``repodata/``
       by ``createrepo_c`` with ``repomd.xml.asc``; ``<name>.asc`` and
       ``<name>.repo`` (for ``/etc/yum.repos.d/``)
=====  ==========================================================================

The apt indexes are made by ``apt-ftparchive`` (APT's own tool, in
``apt-utils``). It was chosen over reprepro and aptly because it keeps no state
of its own: the files of the repository are the whole truth, so a publish is
"copy the pool aside, add, prune, regenerate the indexes, sign, swap", the
retention rule is ours to choose (reprepro keeps one version per package and
suite unless told otherwise, and keeps a database beside the files; aptly
keeps a database and publishes snapshots from it), and a repository made by
another run, machine or CI job is updated the same way.

Publishing again adds new versions and replaces a file of the same version;
older versions stay, up to ``keep`` per package and architecture (the oldest
go first, compared as dpkg and rpm compare versions). Every publish is atomic:
the new repository is written aside (a hidden sibling directory, the existing
files hard-linked, never written to), then exchanged with the old one in one
``renameat2(RENAME_EXCHANGE)``; a publish killed at any point leaves the
previous repository intact and valid, and the next one cleans up. A lock
beside the directory refuses a second publish running at the same time
(:mod:`tap2pkg.atomic_dir`).
"""

from __future__ import annotations

import functools
import gzip
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .atomic_dir import staged_directory
from .debversion import compare_versions
from .errors import BuildToolError, MissingToolError, UsageError
from .signing import SigningKey, clearsign, detach_sign, export_public_key, rpmsign
from .verify.artifact import Artifact, read_artifact

#: how many versions of each package and architecture a repository keeps by default
DEFAULT_KEEP = 3


@dataclass(frozen=True, slots=True)
class PublishOptions:
    """How the repositories are named and pruned."""

    #: the repository's name: key and snippet file names, apt Origin/Label, the yum repo id
    name: str
    #: apt suite (and codename)
    suite: str = "stable"
    #: apt component
    component: str = "main"
    #: versions kept per package and architecture (>= 1)
    keep: int = DEFAULT_KEEP
    #: where users reach the apt directory (default: its ``file:`` URL)
    apt_url: str | None = None
    #: where users reach the yum directory (default: its ``file:`` URL)
    rpm_url: str | None = None
    #: apt architectures indexed besides those of the packages (``all`` packages are in each)
    architectures: tuple[str, ...] = ("amd64", "arm64")


@dataclass(frozen=True, slots=True)
class PublishedRepository:
    """One repository after a publish: what it holds and the files a user needs."""

    #: ``apt`` or ``yum``
    kind: str
    path: Path
    #: every package file in the repository, relative to ``path``
    packages: list[str]
    added: list[str]
    #: older versions pruned by the retention rule
    removed: list[str]
    #: ``<name>.asc``
    public_key: Path
    #: ``<name>.sources`` or ``<name>.repo``
    snippet: Path
    #: the binary keyring for apt's ``signed-by=`` (None for yum)
    keyring: Path | None = None
    notes: list[str] = field(default_factory=list)


def _tool(name: str, package: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise MissingToolError(f"{name} is not installed; tap2pkg publish needs it "
                               f"(apt-get install {package})")
    return found


def _run(argv: Sequence[str], what: str, *, cwd: Path | None = None) -> str:
    proc = subprocess.run(list(argv), cwd=cwd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        last = (proc.stderr or proc.stdout).strip().splitlines()
        raise BuildToolError(f"{what} failed (exit {proc.returncode}): {last[-1] if last else 'no output'}")
    return proc.stdout


# -- versions and retention --------------------------------------------------------------------


def _rpm_compare(a: str, b: str) -> int:
    if a == b:
        return 0
    # rpm.ver objects compare epoch, version and release as rpm does
    script = (f"local x, y = rpm.ver('{a}'), rpm.ver('{b}') "
              "if x < y then print(-1) elseif x == y then print(0) else print(1) end")
    out = _run(["rpm", "--eval", f"%{{lua: {script}}}"], "comparing RPM versions")
    return int(out.strip() or 0)


def _prune(files: dict[Path, tuple[tuple[str, str], str]], keep: int,
           compare: Callable[[str, str], int]) -> list[Path]:
    """The files beyond the ``keep`` newest versions of each (name, arch)."""
    groups: dict[tuple[str, str], list[tuple[str, Path]]] = {}
    for path, (key, version) in files.items():
        groups.setdefault(key, []).append((version, path))
    doomed = []
    by_version = functools.cmp_to_key(compare)
    for entries in groups.values():
        entries.sort(key=lambda entry: by_version(entry[0]), reverse=True)
        doomed += [path for _version, path in entries[keep:]]
    return doomed


def _place(source: Path, target: Path) -> None:
    """Put a copy of ``source`` at ``target``; a file there (a hard link into the live repo) is replaced."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        target.unlink()
    shutil.copyfile(source, target)
    target.chmod(0o644)


def _write(target: Path, data: bytes | str) -> None:
    """Write ``target`` as a new file: one already there may be a hard link into the live repository."""
    target.unlink(missing_ok=True)
    if isinstance(data, str):
        target.write_text(data)
    else:
        target.write_bytes(data)


def _write_keys(stage: Path, key: SigningKey, name: str, *, keyring: bool) -> tuple[Path, Path | None]:
    armored = stage / f"{name}.asc"
    _write(armored, export_public_key(key, armor=True))
    binary = None
    if keyring:
        binary = stage / f"{name}.gpg"
        _write(binary, export_public_key(key, armor=False))
    return armored, binary


# -- apt ---------------------------------------------------------------------------------------


def _deb_fields(path: Path) -> tuple[str, str, str]:
    out = _run(["dpkg-deb", "--showformat=${Package}\\t${Version}\\t${Architecture}", "--show", str(path)],
               f"reading {path.name}")
    name, version, arch = out.split("\t")
    return name, version, arch


def apt_sources(options: PublishOptions, url: str) -> str:
    """The deb822 ``.sources`` snippet for the repository at ``url``."""
    return (f"Types: deb\nURIs: {url}\nSuites: {options.suite}\nComponents: {options.component}\n"
            f"Signed-By: /usr/share/keyrings/{options.name}.gpg\n")


def publish_apt(directory: Path, debs: Sequence[Artifact], key: SigningKey,
                options: PublishOptions) -> PublishedRepository:
    """Add ``debs`` to the apt repository in ``directory`` (made when missing), prune, index, sign."""
    ftparchive = _tool("apt-ftparchive", "apt-utils")
    _tool("dpkg-deb", "dpkg")
    added = []
    with staged_directory(directory, "--apt") as stage:
        pool = stage / "pool" / options.component
        for deb in debs:
            name, version, arch = _deb_fields(deb.path)
            upstream = version.split(":", 1)[-1]
            letter = name[:4] if name.startswith("lib") else name[0]
            relative = Path(letter, name, f"{name}_{upstream}_{arch}.deb")
            _place(deb.path, pool / relative)
            added.append(str(Path("pool", options.component, relative)))
        present = {p: _deb_fields(p) for p in sorted(pool.rglob("*.deb"))}
        removed = _prune({p: ((n, a), v) for p, (n, v, a) in present.items()}, options.keep, compare_versions)
        for path in removed:
            path.unlink()
        architectures = sorted({*options.architectures, *(a for _n, _v, a in present.values())} - {"all"})
        dists = stage / "dists" / options.suite
        shutil.rmtree(stage / "dists", ignore_errors=True)
        for arch in architectures:
            index = dists / options.component / f"binary-{arch}"
            index.mkdir(parents=True)
            packages = _run([ftparchive, "--arch", arch, "packages", f"pool/{options.component}"],
                            f"apt-ftparchive packages ({arch})", cwd=stage)
            (index / "Packages").write_text(packages)
            (index / "Packages.gz").write_bytes(gzip.compress(packages.encode(), mtime=0))
        settings = {"Origin": options.name, "Label": options.name, "Suite": options.suite,
                    "Codename": options.suite, "Architectures": " ".join(architectures),
                    "Components": options.component,
                    "Description": f"{options.name} packages published by tap2pkg"}
        argv = [ftparchive]
        for setting, value in settings.items():
            argv += ["-o", f"APT::FTPArchive::Release::{setting}={value}"]
        release = _run([*argv, "release", "."], "apt-ftparchive release", cwd=dists)
        (dists / "Release").write_text(release)
        clearsign(dists / "Release", dists / "InRelease", key)
        detach_sign(dists / "Release", dists / "Release.gpg", key)
        public, keyring = _write_keys(stage, key, options.name, keyring=True)
        url = options.apt_url or directory.absolute().as_uri()
        snippet = stage / f"{options.name}.sources"
        _write(snippet, apt_sources(options, url))
        packages_now = sorted(str(p.relative_to(stage)) for p in pool.rglob("*.deb"))
        removed_names = [str(p.relative_to(stage)) for p in removed]
    final = directory.absolute()
    return PublishedRepository("apt", final, packages_now, added, removed_names, final / public.name,
                               final / snippet.name, final / keyring.name if keyring else None)


# -- yum ---------------------------------------------------------------------------------------


def _rpm_fields(path: Path) -> tuple[str, str, str, str]:
    """Name, [epoch:]version-release, arch and the signing key's long id (lower case; "" when unsigned)."""
    query = "%{NAME}\\t%{EPOCH}:%{VERSION}-%{RELEASE}\\t%{ARCH}\\t%{RSAHEADER:pgpsig} %{DSAHEADER:pgpsig}"
    out = _run(["rpm", "-qp", "--nosignature", "--qf", query, str(path)], f"reading {path.name}")
    name, evr, arch, signatures = out.split("\t")
    signer = re.search(r"Key ID ([0-9a-fA-F]+)", signatures)
    return name, evr.replace("(none):", ""), arch, signer.group(1).lower() if signer else ""


def yum_repo(options: PublishOptions, url: str) -> str:
    """The ``.repo`` snippet for the repository at ``url``."""
    return (f"[{options.name}]\nname={options.name} (published by tap2pkg)\nbaseurl={url}\nenabled=1\n"
            f"gpgcheck=1\nrepo_gpgcheck=1\ngpgkey={url.rstrip('/')}/{options.name}.asc\n")


def publish_yum(directory: Path, rpms: Sequence[Artifact], key: SigningKey,
                options: PublishOptions) -> PublishedRepository:
    """Add ``rpms`` (signed on the way in) to the yum repository in ``directory``; prune, index, sign."""
    createrepo = _tool("createrepo_c", "createrepo-c")
    _tool("rpm", "rpm")
    added: list[str] = []
    notes: list[str] = []
    with staged_directory(directory, "--rpm") as stage:
        packages_dir = stage / "Packages"
        placed = []
        for rpm in rpms:
            name, evr, arch, _signer = _rpm_fields(rpm.path)
            version = evr.split(":", 1)[-1]
            target = packages_dir / f"{name}-{version}.{arch}.rpm"
            _place(rpm.path, target)
            placed.append(target)
            added.append(str(target.relative_to(stage)))
        present = {p: _rpm_fields(p) for p in sorted(packages_dir.glob("*.rpm"))}
        removed = _prune({p: ((n, a), v) for p, (n, v, a, _s) in present.items()}, options.keep,
                         _rpm_compare)
        for path in removed:
            path.unlink()
        # older packages signed by another key (a rotated one) or not at all would fail gpgcheck
        # against the key published now: sign them again, each a new file (the old is a hard link)
        resign = [p for p, (_n, _v, _a, signer) in present.items()
                  if p not in placed and p not in removed and signer not in key.key_ids]
        for path in resign:
            _place(path, path.with_name(f".{path.name}.resign"))
            os.replace(path.with_name(f".{path.name}.resign"), path)
        rpmsign([p for p in placed if p not in removed] + resign, key)
        if resign:
            notes.append(f"{len(resign)} older package(s) signed again with {key.fingerprint} "
                         "(they were signed by another key or not at all)")
        shutil.rmtree(stage / "repodata", ignore_errors=True)
        _run([createrepo, "--quiet", "--no-database", str(stage)], "createrepo_c")
        repomd = stage / "repodata" / "repomd.xml"
        detach_sign(repomd, repomd.with_name("repomd.xml.asc"), key)
        public, _ = _write_keys(stage, key, options.name, keyring=False)
        url = options.rpm_url or directory.absolute().as_uri()
        snippet = stage / f"{options.name}.repo"
        _write(snippet, yum_repo(options, url))
        packages_now = sorted(str(p.relative_to(stage)) for p in packages_dir.glob("*.rpm"))
        removed_names = [str(p.relative_to(stage)) for p in removed]
    final = directory.absolute()
    return PublishedRepository("yum", final, packages_now, added, removed_names, final / public.name,
                               final / snippet.name, notes=notes)


# -- both --------------------------------------------------------------------------------------


def publish(artifacts: Sequence[Path], key: SigningKey, options: PublishOptions, *,
            apt_dir: Path | None = None, rpm_dir: Path | None = None) -> list[PublishedRepository]:
    """Publish each ``.deb`` to ``apt_dir`` and each ``.rpm`` to ``rpm_dir`` (each package needs its home)."""
    if options.keep < 1:
        raise UsageError(f"--keep {options.keep}: keep at least 1 version")
    if apt_dir is None and rpm_dir is None:
        raise UsageError("name a repository to publish to: --apt DIR and/or --rpm DIR")
    sources = [Path(p) for p in artifacts if is_source_rpm(Path(p))]
    read = [read_artifact(Path(path)) for path in artifacts if Path(path) not in sources]
    debs = [a for a in read if a.family == "deb"]
    rpms = [a for a in read if a.family == "rpm"]
    notes = [f"{path.name}: a source RPM; not published (dnf installs binary packages)" for path in sources]
    for wanted, where, option in ((debs, apt_dir, "--apt"), (rpms, rpm_dir, "--rpm")):
        if wanted and where is None:
            raise UsageError(f"{wanted[0].path}: a .{wanted[0].family} needs a repository; add {option} DIR")
    # every tool is looked for before anything is written: a missing createrepo_c must not leave
    # the apt repository updated and the yum one not
    for needed, tools in ((apt_dir, (("apt-ftparchive", "apt-utils"), ("dpkg-deb", "dpkg"))),
                          (rpm_dir, (("createrepo_c", "createrepo-c"), ("rpm", "rpm"), ("rpmsign", "rpm")))):
        for tool, package in tools if needed is not None else ():
            _tool(tool, package)
    results = []
    if apt_dir is not None:
        results.append(publish_apt(apt_dir, debs, key, options))
    if rpm_dir is not None:
        results.append(publish_yum(rpm_dir, rpms, key, options))
    if results:
        results[-1].notes.extend(notes)
    return results


def is_source_rpm(path: Path) -> bool:
    """Whether ``path`` is a source RPM (by its lead's type field, as rpm itself tells them apart)."""
    try:
        with path.open("rb") as handle:
            lead = handle.read(8)
    except OSError:
        return False  # read_artifact says what is wrong with it
    return lead[:4] == b"\xed\xab\xee\xdb" and lead[6:8] == b"\x00\x01"
