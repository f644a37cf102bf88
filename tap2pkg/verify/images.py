"""Verification images: recipes, recipe-hash tags, offline and Dockerfile builds, reuse.

Every image tap2pkg makes is tagged ``tap2pkg/<distro>:<suite>-<hash12>`` where
the hash covers everything that shapes the image (the recipe scripts or the
Dockerfile, the suite, the mirror). A build is skipped when an image with the
current hash exists, so changing a recipe is the only thing that triggers a
rebuild. Labels (``tap2pkg.distro``, ``tap2pkg.recipe``, ``tap2pkg.method``)
let ``tap2pkg images list`` find them again. The images ``verify`` derives from
these with a package's dependencies (method ``derived``, tagged
``<base tag>-deps-<hash12>``, see :mod:`tap2pkg.verify.derived`) are listed and
removed with them; one is stale once its base is.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..runtime.lazy import lazy_import
from .errors import ImageBuildError, ImageMissingError, UnknownDistroError

if TYPE_CHECKING:
    from docker import errors as docker_errors

    from . import derived
else:  # imported on first use: docker only when an engine is used; derived imports this module
    docker_errors = lazy_import("docker.errors")
    derived = lazy_import("tap2pkg.verify.derived")

DEFAULT_MIRROR = "http://deb.debian.org/debian"
LABEL_DISTRO = "tap2pkg.distro"
LABEL_RECIPE = "tap2pkg.recipe"
LABEL_METHOD = "tap2pkg.method"

# Settings every imported image carries: systemd wants to know it runs in a
# container. (docker import refuses STOPSIGNAL; the container sets it.)
IMAGE_CHANGES = ("ENV container=docker", 'CMD ["/sbin/init"]')


def containers_dir() -> Path:
    """The ``containers/`` folder holding the Dockerfiles and offline recipes."""
    env = os.environ.get("TAP2PKG_CONTAINERS")
    candidates = [Path(env)] if env else []
    # tap2pkg/containers: a link to the checkout's containers/ folder, a real copy in the wheel
    candidates.append(Path(__file__).resolve().parents[1] / "containers")
    for candidate in candidates:
        if (candidate / "offline" / "rootfs.sh").is_file():
            return candidate
    raise ImageBuildError(
        f"image recipes not found (looked in {', '.join(str(c) for c in candidates)}); "
        "reinstall tap2pkg or set TAP2PKG_CONTAINERS to a checkout's containers/ folder"
    )


#: the files under containers/offline/ that make each offline flavour (and so its hash)
OFFLINE_RECIPES = {"debian": ("rootfs.sh",), "rpm-on-debian": ("rootfs.sh", "system-provides.sh")}


@dataclass(frozen=True)
class Distro:
    """A distro tap2pkg can verify on: its package family and how to make its image."""

    name: str
    family: str  # "deb" or "rpm"
    suite: str
    offline_flavour: str | None = None  # rootfs.sh flavour; None: Dockerfile only
    dockerfile: str | None = None  # folder under containers/
    build_args: dict[str, str] = field(default_factory=dict)
    stand_in: str | None = None  # what it stands in for, said in every report

    @property
    def repository(self) -> str:
        """The image repository, e.g. ``tap2pkg/debian``."""
        return "tap2pkg/" + self.name.split(":", 1)[0]

    def recipe_hash(self, method: str, mirror: str = DEFAULT_MIRROR) -> str:
        """Twelve hex digits covering everything that shapes the image built by ``method``."""
        digest = hashlib.sha256(f"{method}\n{self.name}\n{self.suite}\n".encode())
        if method == "offline":
            digest.update(f"{self.offline_flavour}\n{mirror}\n".encode())
            folder = containers_dir() / "offline"
            paths = [folder / name for name in OFFLINE_RECIPES[str(self.offline_flavour)]]
        else:
            digest.update(repr(sorted(self.build_args.items())).encode())
            folder = containers_dir() / str(self.dockerfile)
            paths = sorted(path for path in folder.iterdir() if path.is_file())
        for path in paths:
            digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
        return digest.hexdigest()[:12]

    def tag(self, method: str, mirror: str = DEFAULT_MIRROR) -> str:
        """The full image reference for the current recipe."""
        return f"{self.repository}:{self.suite}-{self.recipe_hash(method, mirror)}"


DISTROS: dict[str, Distro] = {
    "debian:bookworm": Distro(
        "debian:bookworm", "deb", "bookworm", "debian", "debian", {"SUITE": "bookworm"}
    ),
    "debian:trixie": Distro("debian:trixie", "deb", "trixie", "debian", "debian", {"SUITE": "trixie"}),
    "rpm-on-debian": Distro(
        "rpm-on-debian",
        "rpm",
        "bookworm",
        "rpm-on-debian",
        stand_in="Debian bookworm with rpm: a stand-in for Fedora, not Fedora",
    ),
    "fedora:40": Distro("fedora:40", "rpm", "40", None, "fedora", {"RELEASE": "40"}),
    "fedora:41": Distro("fedora:41", "rpm", "41", None, "fedora", {"RELEASE": "41"}),
}

#: distros tried, in order, when an artifact does not say where to verify it
DEFAULT_DISTROS = {"deb": ("debian:bookworm",), "rpm": ("fedora:41", "fedora:40", "rpm-on-debian")}


def get_distro(name: str) -> Distro:
    """The :class:`Distro` called ``name`` or :class:`UnknownDistroError`."""
    try:
        return DISTROS[name]
    except KeyError:
        raise UnknownDistroError(f"unknown distro {name}; choose one of {', '.join(DISTROS)}") from None


def build_command(distro: Distro) -> str:
    """The exact command that builds the image for ``distro``."""
    offline = "--offline " if distro.offline_flavour else ""
    return f"tap2pkg images build {offline}{distro.name}"


def _image_exists(client: Any, ref: str) -> bool:
    try:
        client.images.get(ref)
    except docker_errors.ImageNotFound:
        return False
    return True


def find_image(client: Any, distro: Distro) -> str:
    """The tag of a current image for ``distro`` or :class:`ImageMissingError` naming the build command."""
    methods = [m for m, ok in (("offline", distro.offline_flavour), ("dockerfile", distro.dockerfile)) if ok]
    for method in methods:
        ref = distro.tag(method)
        if _image_exists(client, ref):
            return ref
    raise ImageMissingError(
        f"no image for {distro.name} built from the current recipe; build it with `{build_command(distro)}`"
    )


def available_distros(client: Any, family: str) -> list[str]:
    """Default distros of ``family`` whose image exists (the first default when none does)."""
    names = DEFAULT_DISTROS[family]
    for name in names:
        try:
            find_image(client, DISTROS[name])
        except ImageMissingError:
            continue
        return [name]
    return [names[-1] if family == "rpm" else names[0]]


@dataclass(frozen=True)
class BuiltImage:
    """The result of :func:`build_image`."""

    distro: str
    tag: str
    method: str
    reused: bool
    seconds: float


def build_image(
    client: Any,
    distro: Distro,
    *,
    offline: bool,
    mirror: str = DEFAULT_MIRROR,
    force: bool = False,
    log: Callable[[str], None] | None = None,
) -> BuiltImage:
    """Build the image for ``distro`` unless one with the current recipe hash exists (or ``force``)."""
    method = "offline" if offline else "dockerfile"
    if offline and not distro.offline_flavour:
        raise ImageBuildError(
            f"{distro.name} has no offline recipe; build it from its Dockerfile "
            f"(`tap2pkg images build {distro.name}`, needs a registry)"
        )
    if not offline and not distro.dockerfile:
        raise ImageBuildError(f"{distro.name} is only built offline; use `{build_command(distro)}`")
    ref = distro.tag(method, mirror)
    started = time.monotonic()
    previous = _image_id(client, ref)
    if not force and previous:
        return BuiltImage(distro.name, ref, method, True, 0.0)
    labels = {
        LABEL_DISTRO: distro.name,
        LABEL_RECIPE: distro.recipe_hash(method, mirror),
        LABEL_METHOD: method,
    }
    if offline:
        _build_offline(client, distro, ref, labels, mirror, log)
    else:
        _build_dockerfile(client, distro, ref, labels, log)
    if previous and previous != _image_id(client, ref):
        _remove_quietly(client, previous)  # the image a forced rebuild replaced, now untagged
    return BuiltImage(distro.name, ref, method, False, time.monotonic() - started)


def _image_id(client: Any, ref: str) -> str:
    try:
        return str(client.images.get(ref).id)
    except docker_errors.ImageNotFound:
        return ""


def _remove_quietly(client: Any, image_id: str) -> None:
    try:
        client.images.remove(image_id)
    except docker_errors.APIError:
        pass  # still used by a container or another tag: leave it


def _build_offline(
    client: Any,
    distro: Distro,
    ref: str,
    labels: dict[str, str],
    mirror: str,
    log: Callable[[str], None] | None,
) -> None:
    if os.geteuid() != 0:
        raise ImageBuildError(
            "offline image builds run debootstrap and need root; run `tap2pkg images build` "
            "as root (e.g. with sudo)"
        )
    if shutil.which("debootstrap") is None:
        raise ImageBuildError("debootstrap is not installed; install it with `apt-get install debootstrap`")
    recipe = containers_dir() / "offline" / "rootfs.sh"
    workdir = Path(tempfile.mkdtemp(prefix="tap2pkg-image-", dir=os.environ.get("TMPDIR", "/var/tmp")))
    try:
        root = workdir / "root"
        if log:
            log(f"debootstrap {distro.suite} from {mirror} ({distro.offline_flavour})")
        proc = subprocess.run(
            ["sh", str(recipe), distro.suite, str(root), mirror, str(distro.offline_flavour)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            tail = "\n".join(proc.stdout.splitlines()[-15:])
            raise ImageBuildError(f"{recipe} failed for {distro.name} (exit {proc.returncode}):\n{tail}")
        tarball = workdir / "root.tar"
        subprocess.run(
            ["tar", "--numeric-owner", "--xattrs", "-C", str(root), "-cf", str(tarball), "."], check=True
        )
        if log:
            log(f"docker import as {ref}")
        repository, tag = ref.rsplit(":", 1)
        changes = [*IMAGE_CHANGES, *(f'LABEL {k}="{v}"' for k, v in labels.items())]
        client.api.import_image_from_file(str(tarball), repository=repository, tag=tag, changes=changes)
    finally:
        _unmount_below(workdir)
        shutil.rmtree(workdir, ignore_errors=True)


def _unmount_below(folder: Path) -> None:
    """Unmount what an interrupted debootstrap left mounted (proc, sys) before deleting its tree."""
    try:
        mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
    except OSError:
        return
    for mount in sorted((m for m in mounts if m.startswith(f"{folder}/")), reverse=True):
        subprocess.run(["umount", "-l", mount], check=False, capture_output=True)


def _build_dockerfile(
    client: Any, distro: Distro, ref: str, labels: dict[str, str], log: Callable[[str], None] | None
) -> None:
    folder = containers_dir() / str(distro.dockerfile)
    try:
        _image, lines = client.images.build(
            path=str(folder),
            tag=ref,
            buildargs=distro.build_args,
            labels=labels,
            rm=True,
            # the host's network: engines started with --bridge=none have no other for RUN apt-get/dnf
            network_mode="host",
        )
    except (docker_errors.BuildError, docker_errors.APIError) as exc:
        raise ImageBuildError(
            f"docker build of {folder} for {distro.name} failed: {exc}; without a registry "
            f"use `tap2pkg images build --offline` where a recipe exists"
        ) from exc
    if log:
        for line in lines:
            text = str(line.get("stream", "")).rstrip()
            if text:
                log(text)


@dataclass(frozen=True)
class ImageInfo:
    """One tap2pkg image as ``tap2pkg images list`` shows it."""

    distro: str
    tag: str
    method: str
    current: bool
    size_mb: float
    created: str
    #: a derived image's installed dependencies (``name=version ...``)
    dependencies: str = ""


def list_images(client: Any) -> list[ImageInfo]:
    """Every image tap2pkg built, with whether it matches the current recipe."""
    rows = []
    for image in client.images.list(filters={"label": LABEL_DISTRO}):
        labels = image.labels or {}
        name = labels.get(LABEL_DISTRO, "?")
        method = labels.get(LABEL_METHOD, "?")
        distro = DISTROS.get(name)
        current_tag = distro.tag(method) if distro and method in ("offline", "dockerfile") else None
        current = bool(distro and method == derived.METHOD and derived.is_current(client, distro, labels))
        for tag in image.tags or ["<untagged>"]:
            rows.append(
                ImageInfo(
                    name,
                    tag,
                    method,
                    current or tag == current_tag,
                    image.attrs.get("Size", 0) / 1e6,
                    str(image.attrs.get("Created", ""))[:19],
                    labels.get(derived.LABEL_INSTALLED, "") if method == derived.METHOD else "",
                )
            )
    return sorted(rows, key=lambda r: (r.distro, r.tag))


def remove_images(client: Any, *, distros: list[str], stale_only: bool) -> list[str]:
    """Remove tap2pkg images (of ``distros``, or all; with ``stale_only`` only stale ones); return tags."""
    removed = []
    # derived images first: docker keeps a base image that has children
    for info in sorted(list_images(client), key=lambda info: info.method != "derived"):
        if distros and info.distro not in distros:
            continue
        if stale_only and info.current:
            continue
        client.images.remove(info.tag, force=True)
        removed.append(info.tag)
    return removed
