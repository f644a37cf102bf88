"""Derived verification images: a base image plus the package's dependencies, from the archive.

The offline images hold python3 and systemd only, so a package that depends on
``python3-twisted`` cannot install there. :func:`derive_image` finds what the
packages to verify need that the base image lacks, and gives the tag of an
image that has it:

1. **What is missing** and 2. **what satisfies it** come from
   :func:`~tap2pkg.verify.missing.missing_dependencies`, which asks the base
   image itself, in a container without network, and gives each need as a
   :class:`~tap2pkg.verify.missing.Wanted`: the entry as the package spells it
   and the archive's packages that may satisfy it. One that maps to no name
   (a file, ``perl(Foo)``) is refused in one line before anything runs, and a
   name the archive lacks when the image is built.
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
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..runtime.lazy import lazy_import
from .artifact import Artifact
from .errors import ImageBuildError
from .images import LABEL_DISTRO, LABEL_METHOD, LABEL_RECIPE, Distro, containers_dir
from .missing import Wanted, install_mode, missing_dependencies
from .throwaway import INBOX, start

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
ARCHIVE = {"deb": "the Debian archive", "rpm-on-debian": "the Debian archive", "dnf": "the Fedora archive"}


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
    container = start(client, base, ["sh", f"{INBOX}/install-deps.sh", mode, *words], network,
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
