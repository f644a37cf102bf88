"""Derived verification images: a base image plus the package's dependencies, from the archive.

The offline images hold python3 and systemd only, so a package that depends on
``python3-twisted`` cannot install there. :func:`derive_image` finds what the
packages to verify need that the base image lacks, and gives the tag of an
image that has it:

1. **What is missing** is asked of the base image itself, in a container
   without network: for a .deb, each ``Depends``/``Pre-Depends`` entry is checked
   against ``dpkg-query`` (alternatives, virtual packages and versions, compared by
   ``dpkg --compare-versions``); for an .rpm, ``rpm -i --test`` lists the
   ``Requires`` nothing provides. The old build of an upgrade test is asked too.
   Packages that verify installs from a local repository rather than the
   archive (``provided``: the companions a service depends on) count as a set
   with them: their own ``Depends``/``Requires`` are wanted too (so
   ``python3-klein``'s ``python3-werkzeug`` comes from the archive), and an entry
   they satisfy is not wanted. For a .deb they are added to what ``dpkg-query``
   reports, versions compared by ``dpkg --compare-versions`` in the image (so
   ``python3-kleinapp (= 1.0-1)`` is satisfied by that build only); for an .rpm
   each package to verify is tested in one ``rpm -i --test`` transaction with
   all of them (the old and the new build of an upgrade test each on its own,
   since both cannot be in one transaction), so the ``is needed by`` lines are
   only what the whole set lacks.
2. **What satisfies it.** A Debian entry names its packages; the first the
   archive can install is taken. On rpm-on-debian, a ``Requires`` is mapped to
   Debian packages: ``python3dist(x)`` first through dh-python's own mapping
   (:func:`tap2pkg.pydeps.dh_python_map`: ``python3dist(attrs)`` is
   ``python3-attr``, ``python3dist(pyyaml)`` is ``python3-yaml``), then to the
   guesses ``python3-x``; another name to itself. One that maps to no name (a
   file, ``perl(Foo)``) is refused in one line before anything runs, and a name
   the archive lacks when the image is built.
3. **The image** is built once per dependency set and tagged
   ``<base tag>-deps-<hash12>``, the hash covering the base image's id, the
   sorted wanted names and ``containers/derived/install-deps.sh``; it is reused
   while it exists. It is made the simplest robust way: a container of the base
   image, with the host's network (engines here run with ``--bridge=none``; the
   network is used at image-build time only, as :func:`~tap2pkg.verify.images.build_image`
   does for Dockerfiles), runs ``install-deps.sh`` (``apt-get install
   --no-install-recommends``, then ``apt-get clean``), and ``docker commit`` keeps
   the result with the base's command and labels. A chroot would need root and a
   copy of the image's tree; a Dockerfile build would need the base image's
   recipe. On rpm-on-debian the script also builds and installs
   ``tap2pkg-archive-provides``, an RPM declaring ``name = version`` (and
   ``python3dist(name)``) for each installed package, so ``rpm -i`` still checks
   dependencies for real. The containers that verify stay without network.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import tarfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from packaging.utils import canonicalize_name

from ..dependency import Dependency
from ..errors import Tap2pkgError
from ..pydeps import dh_python_map
from ..runtime.lazy import lazy_import
from .artifact import Artifact
from .errors import ImageBuildError
from .images import LABEL_DISTRO, LABEL_METHOD, LABEL_RECIPE, Distro, containers_dir

if TYPE_CHECKING:
    from docker import errors as docker_errors
else:  # imported on first use: only verify/ imports docker, and only when an engine is used
    docker_errors = lazy_import("docker.errors")

METHOD = "derived"
LABEL_BASE = "tap2pkg.base"
LABEL_BASE_ID = "tap2pkg.base-id"
LABEL_WANTED = "tap2pkg.wanted"
LABEL_INSTALLED = "tap2pkg.dependencies"
RECIPE = ("derived", "install-deps.sh")
INBOX = "/tmp/tap2pkg-deps"
ARCHIVE = {"deb": "the Debian archive", "rpm-on-debian": "the Debian archive", "dnf": "the Fedora archive"}

# Run in the base image (python3 is in every one): which Depends entries the installed
# packages satisfy. argv[1] is a JSON list of entries, each a list of [name, op, version]
# alternatives (op: lt le eq ge gt, or ""); argv[2] (optional) a JSON list of [name, version]
# of packages counted as installed (those a local repository provides); prints the indexes of
# the unsatisfied ones.
DEB_CHECK = r"""
import json, subprocess, sys
rows = subprocess.run(["dpkg-query", "-W", "-f=${db:Status-Abbrev}\t${Package}\t${Version}\t${Provides}\n"],
                      capture_output=True, text=True).stdout
have = {}
for row in rows.splitlines():
    status, name, version, provides = (row.split("\t") + ["", "", "", ""])[:4]
    if status[:2] != "ii":
        continue
    have.setdefault(name, []).append(version)
    for item in filter(None, (p.strip() for p in provides.split(","))):
        virtual, _, version = item.partition(" ")
        have.setdefault(virtual.split(":")[0], []).append(version.strip("()= ") or None)
def satisfied(name, op, version):
    for got in have.get(name, []):
        compare = ["dpkg", "--compare-versions", got or "", op, version]
        if not op or (got and subprocess.run(compare).returncode == 0):
            return True
    return False
for name, version in json.loads(sys.argv[2]) if len(sys.argv) > 2 else []:
    have.setdefault(name, []).append(version)
entries = json.loads(sys.argv[1])
print(json.dumps([i for i, alts in enumerate(entries) if not any(satisfied(*a) for a in alts)]))
"""


@dataclass(frozen=True, order=True)
class Wanted:
    """A dependency the base image lacks: as the package says it, and what may satisfy it."""

    #: the entry as the package spells it (``python3-twisted``, ``python3dist(twisted) >= 20``)
    requirement: str
    #: the archive's package names that satisfy it, tried in order (none: nothing maps to it)
    candidates: tuple[str, ...]
    #: rpm-on-debian: the Requires name to declare as provided ('' elsewhere)
    provide: str = ""

    @property
    def recipe_word(self) -> str:
        """The argument of ``install-deps.sh``: ``LABEL=NAME1|NAME2``."""
        return f"{self.provide}={'|'.join(self.candidates)}"


@dataclass(frozen=True)
class VerifyImage:
    """The image a package is verified in: the base, or one derived from it with its dependencies."""

    tag: str
    base: str
    #: installed dependencies, ``name=version`` ('' when the base image had everything)
    dependencies: tuple[str, ...] = ()
    reused: bool = True
    seconds: float = 0.0
    #: where they came from, for reports: ``python3-twisted from the Debian archive``
    note: str = ""


def install_mode(distro: Distro) -> str:
    """How ``install-deps.sh`` installs on ``distro``: ``deb``, ``rpm-on-debian`` or ``dnf``."""
    if distro.family == "deb":
        return "deb"
    return "rpm-on-debian" if distro.offline_flavour == "rpm-on-debian" else "dnf"


def deb_dependencies(artifact: Artifact) -> list[Dependency]:
    """The ``Depends``/``Pre-Depends`` entries of a .deb, architecture qualifiers and profiles dropped."""
    out = []
    for entry in artifact.requires:
        plain = re.sub(r"\s*\[[^]]*\]|\s*<[^>]*>|:[a-z0-9-]+(?=\s|\(|\||$)", "", entry)
        try:
            out.append(Dependency.parse(plain))
        except Tap2pkgError:
            raise ImageBuildError(
                f"{artifact.path.name}: cannot read its dependency {entry!r}; "
                "verify takes Debian's syntax (name (>= version) | other)"
            ) from None
    return out


def debian_names(requirement: str) -> tuple[str, ...]:
    """The Debian packages that may satisfy the rpm ``requirement``, in order; none for a file or ``x(y)``.

    ``python3dist(NAME)``: dh-python's package for NAME first (``python3-attr`` for ``attrs``), then
    ``python3-NAME``.
    """
    text = requirement.strip()
    if text.startswith("(") and text.endswith(")") and " or " in text:
        names: dict[str, None] = {}
        for part in text[1:-1].split(" or "):
            names.update(dict.fromkeys(debian_names(part)))
        return tuple(names)
    name = text.split()[0] if text else ""
    python = re.fullmatch(r"python3(?:\.\d+)?dist\(([A-Za-z0-9._-]+)\)", name)
    if python:
        dist = canonicalize_name(python[1])
        # dh-python's mapping knows the archive's names (attrs is python3-attr, pyyaml python3-yaml);
        # then the guesses: Fedora spells dists with '-', Debian keeps a module's dots
        # (python3-zope.interface)
        mapped = dh_python_map().get(dist)
        return tuple(dict.fromkeys((*([mapped] if mapped else []), f"python3-{dist}",
                                    f"python3-{dist.replace('-', '.')}")))
    if re.fullmatch(r"[a-z0-9][a-z0-9+.-]+", name):
        return (name,)
    return ()


def _provided_name(requirement: str) -> str:
    name = requirement.strip().split()[0] if requirement.strip() else ""
    return "" if name.startswith(("(", "/")) else name


def missing_dependencies(
    client: Any, distro: Distro, base: str, artifacts: Iterable[Artifact],
    provided: Iterable[Artifact] = (),
) -> list[Wanted]:
    """What ``artifacts`` need that the image ``base`` lacks (asked inside it, without network).

    ``provided`` are packages installed with them from a local repository: what they need counts,
    what they satisfy does not.
    """
    artifacts, provided = list(artifacts), list(provided)
    mode = install_mode(distro)
    if distro.family == "deb":
        entries = sorted({dep for artifact in [*artifacts, *provided] for dep in deb_dependencies(artifact)})
        if not entries:
            return []
        argument = json.dumps([[[r.name, r.op, r.version] for r in e.alternatives] for e in entries])
        local = json.dumps([[artifact.name, artifact.version] for artifact in provided])
        code, output = run_once(client, base, ["python3", "-c", DEB_CHECK, argument, local], network="none")
        try:
            missing = json.loads(output.strip().splitlines()[-1])
        except (ValueError, IndexError):
            raise ImageBuildError(f"checking the dependencies in {base} failed (exit {code}): "
                                  f"{output.strip()[-300:]}") from None
        return [Wanted(entries[i].debian(), tuple(r.name for r in entries[i].alternatives))
                for i in missing]
    output = _rpm_test(client, base, artifacts, provided)
    needed = dict.fromkeys(
        match[1] for match in re.finditer(r"^\s+(.+?) is needed by \S+$", output, re.MULTILINE)
    )
    if mode == "dnf":  # dnf resolves a Requires (files, python3dist(...)) itself
        return [Wanted(need, (need.split()[0] if not need.startswith("(") else need,)) for need in needed]
    return [Wanted(need, debian_names(need), _provided_name(need)) for need in needed]


def _rpm_test(client: Any, base: str, artifacts: list[Artifact], provided: list[Artifact]) -> str:
    """``rpm -i --test`` in ``base`` of each artifact, in one transaction with the ``provided`` set."""
    files: dict[str, bytes] = {}
    names: dict[Path, str] = {}
    for artifact in [*artifacts, *provided]:
        if artifact.path not in names:
            names[artifact.path] = f"{len(names)}.rpm"
            files[names[artifact.path]] = artifact.path.read_bytes()
    transactions = [[artifact, *(p for p in provided if p.name != artifact.name)] for artifact in artifacts]
    if not artifacts:
        transactions = [provided]
    script = "; ".join(
        "LC_ALL=C rpm -i --test " + " ".join(dict.fromkeys(f"{INBOX}/{names[a.path]}" for a in group))
        + " 2>&1" for group in transactions if group
    )
    if not script:
        return ""
    _code, output = run_once(client, base, ["sh", "-c", f"{script}; true"], network="none", files=files)
    return output


def recipe_hash(mode: str, base_id: str, words: Iterable[str]) -> str:
    """Twelve hex digits covering the base image's id, the wanted names (``install-deps.sh``'s words)
    and the recipe."""
    digest = hashlib.sha256(f"{mode}\n{base_id}\n".encode())
    for word in sorted(set(words)):
        digest.update(word.encode() + b"\n")
    digest.update(containers_dir().joinpath(*RECIPE).read_bytes())
    return digest.hexdigest()[:12]


def derived_tag(base: str, base_id: str, mode: str, wanted: Iterable[Wanted]) -> str:
    """``<base>-deps-<hash12>``, the hash from :func:`recipe_hash`."""
    return f"{base}-deps-{recipe_hash(mode, base_id, (w.recipe_word for w in wanted))}"


def is_current(client: Any, distro: Distro, labels: dict[str, str]) -> bool:
    """Whether a derived image (given its labels) was built on ``distro``'s current base image and recipe."""
    base, base_id = labels.get(LABEL_BASE, ""), labels.get(LABEL_BASE_ID, "")
    current_bases = [distro.tag(m) for m, ok in (("offline", distro.offline_flavour),
                                                 ("dockerfile", distro.dockerfile)) if ok]
    image = _image(client, base) if base in current_bases else None
    words = labels.get(LABEL_WANTED, "").split()
    return (image is not None and str(image.id) == base_id
            and labels.get(LABEL_RECIPE) == recipe_hash(install_mode(distro), base_id, words))


def derive_image(
    client: Any,
    distro: Distro,
    base: str,
    artifacts: Iterable[Artifact],
    *,
    provided: Iterable[Artifact] = (),
    network: str = "host",
    log: Callable[[str], None] | None = None,
) -> VerifyImage:
    """The image to verify ``artifacts`` in on ``distro``: ``base``, or one derived with what they need.

    ``provided`` are the packages installed with them from a local repository (companions): their
    own dependencies are installed into the image too, and what they satisfy is not taken from the
    archive. A derived image is built (with ``network``; the archive must be reachable) unless its
    tag exists. Raises :class:`ImageBuildError` naming a dependency nothing maps to, or the packages
    when the archive cannot be reached.
    """
    artifacts, provided = list(artifacts), list(provided)
    mode = install_mode(distro)
    wanted = missing_dependencies(client, distro, base, artifacts, provided)
    if not wanted:
        return VerifyImage(base, base)
    names = ", ".join(artifact.path.name for artifact in artifacts)
    if provided:
        names += f" (with {', '.join(artifact.path.name for artifact in provided)})"
    unmapped = [w.requirement for w in wanted if not w.candidates]
    if unmapped:
        raise ImageBuildError(
            f"{names} requires {', '.join(unmapped)}, which {distro.name} does not provide and no "
            f"package of {ARCHIVE[mode]} is named after; verify it on a distro that has it"
        )
    base_id = _image_id(client, base)
    tag = derived_tag(base, base_id, mode, wanted)
    started = time.monotonic()
    image = _image(client, tag)
    if image is None:
        if log:
            log(f"building {tag}: {', '.join(w.requirement for w in wanted)} from {ARCHIVE[mode]}")
        image = _build(client, distro, base, base_id, tag, mode, wanted, network)
        reused = False
    else:
        reused = True
    installed = tuple((image.labels or {}).get(LABEL_INSTALLED, "").split())
    return VerifyImage(tag, base, installed, reused, 0.0 if reused else time.monotonic() - started,
                       note_for(mode, installed))


def note_for(mode: str, installed: Iterable[str]) -> str:
    """``python3-twisted from the Debian archive`` (and how rpm learns of them on rpm-on-debian)."""
    names = ", ".join(word.split("=", 1)[0] for word in installed)
    if not names:
        return ""
    declared = ", declared to rpm by tap2pkg-archive-provides" if mode == "rpm-on-debian" else ""
    return f"{names} from {ARCHIVE[mode]}{declared}"


def _build(client: Any, distro: Distro, base: str, base_id: str, tag: str, mode: str,
           wanted: list[Wanted], network: str) -> Any:
    recipe = containers_dir().joinpath(*RECIPE)
    words = sorted({w.recipe_word for w in wanted})  # python3dist(x) and python3dist(x) >= 1: one word
    requirements = ", ".join(w.requirement for w in wanted)
    container = _start(client, base, ["sh", f"{INBOX}/install-deps.sh", mode, *words], network,
                       {"install-deps.sh": recipe.read_bytes()})
    try:
        code = int(container.wait()["StatusCode"])
        output = container.logs().decode(errors="replace")
        if code == 3:
            raise ImageBuildError(
                f"cannot install {requirements} into an image for {distro.name}: {ARCHIVE[mode]} is not "
                f"reachable (the network is used at image-build time only, and must be there then)"
            )
        if code == 4:
            lacking = [line.split(":", 1)[1].strip() for line in output.splitlines()
                       if line.startswith("NOT-IN-ARCHIVE:")]
            raise ImageBuildError(
                f"{' and '.join(lacking) or requirements}: not in {ARCHIVE[mode]}, so no image for "
                f"{distro.name} can hold what the package requires; verify it on a distro that has it"
            )
        last = output.strip().splitlines()[-1:] or [""]
        if code != 0 or not last[0].startswith("INSTALLED:"):
            tail = "\n".join(output.strip().splitlines()[-15:])
            raise ImageBuildError(f"installing {requirements} into {base} failed (exit {code}):\n{tail}")
        installed = last[0].split(":", 1)[1].strip()
        labels = {
            LABEL_DISTRO: distro.name,
            LABEL_METHOD: METHOD,
            LABEL_RECIPE: tag.rsplit("-", 1)[1],
            LABEL_BASE: base,
            LABEL_BASE_ID: base_id,
            LABEL_WANTED: " ".join(words),
            LABEL_INSTALLED: installed,
        }
        config = client.images.get(base).attrs.get("Config") or {}
        changes = [f"CMD {json.dumps(config.get('Cmd') or ['/sbin/init'])}",
                   *(f"LABEL {key}={json.dumps(value)}" for key, value in labels.items())]
        repository, name = tag.rsplit(":", 1)
        try:
            container.commit(repository=repository, tag=name, changes=changes)
        except docker_errors.APIError as exc:
            raise ImageBuildError(f"docker commit of {tag} failed: {exc}") from exc
        return client.images.get(tag)
    finally:
        container.remove(force=True)


def run_once(client: Any, image: str, command: list[str], *, network: str,
             files: dict[str, bytes] | None = None) -> tuple[int, str]:
    """Run ``command`` in a throw-away container of ``image`` (``files`` put in :data:`INBOX`)."""
    container = _start(client, image, command, network, files or {})
    try:
        code = int(container.wait()["StatusCode"])
        return code, container.logs().decode(errors="replace")
    finally:
        container.remove(force=True)


def _start(client: Any, image: str, command: list[str], network: str, files: dict[str, bytes]) -> Any:
    # no labels: a committed image would pass them on to every container made from it
    container = client.containers.create(image, command, network_mode=network)
    try:
        if files:
            buffer = io.BytesIO()
            with tarfile.open(fileobj=buffer, mode="w") as tar:
                for name, data in files.items():
                    info = tarfile.TarInfo(f"{INBOX.lstrip('/')}/{name}")
                    info.size, info.mode = len(data), 0o644
                    tar.addfile(info, io.BytesIO(data))
            container.put_archive("/", buffer.getvalue())
        container.start()
    except BaseException:
        container.remove(force=True)
        raise
    return container


def _image(client: Any, ref: str) -> Any:
    try:
        return client.images.get(ref)
    except docker_errors.ImageNotFound:
        return None


def _image_id(client: Any, ref: str) -> str:
    image = _image(client, ref)
    if image is None:
        raise ImageBuildError(f"the image {ref} is gone; build it again with `tap2pkg images build`")
    return str(image.id)
