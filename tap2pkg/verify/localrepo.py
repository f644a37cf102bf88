"""A signed repository of a service and its companions, made for one verify run.

A service built beside a Python project depends on its companion packages
(``python3-<project>``, and each dependency the distribution lacks) with exact
versions. ``dpkg -i`` of a list would prove nothing about how a user installs
the set, so verify does what a user does: the packages are published into a
repository with :func:`tap2pkg.publish.publish` (apt: ``apt-ftparchive`` and a
signed ``InRelease``; yum: ``createrepo_c``, ``repomd.xml.asc`` and signed RPMs),
and the lifecycle installs the service from it by name and version
(:func:`tap2pkg.verify.repo.install_from_repo`), so apt (or dnf, or the closure
``rpm -U`` of the stand-in) resolves the companions from the repository and the
rest from the image.

The signing key is made for the run (RSA 2048, no passphrase) in a temporary
``GNUPGHOME`` and deleted with the repository; the user's keyring is never read
or written. :func:`repository_packages` lists what a repository (this one, or
one given with ``--from-repo``) holds, so the derived image installs from the
archive only what the repository does not provide.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import BuildToolError, MissingToolError
from ..runtime.lazy import lazy_import
from .artifact import Artifact, read_artifact

if TYPE_CHECKING:
    from .. import publish, signing
else:  # imported on first use: only a service with companions gets a repository made for the run
    publish = lazy_import("tap2pkg.publish")
    signing = lazy_import("tap2pkg.signing")

#: the user id of the key made for a run
KEY_UID = "tap2pkg verify (made for one run) <verify@localhost>"
#: the repository's name (key and snippet file names)
NAME = "tap2pkg-verify-set"


@contextmanager
def _throwaway_home() -> Iterator[str]:
    """``GNUPGHOME`` set to a new directory holding one signing key, for the block; its fingerprint."""
    # a short path: gpg-agent's socket lives in it
    home = tempfile.mkdtemp(prefix="t2pv", dir="/tmp")
    env = {**os.environ, "GNUPGHOME": home}
    old = os.environ.get("GNUPGHOME")
    try:
        if shutil.which("gpg") is None:
            raise MissingToolError("gpg is not installed; verify signs the repository it installs a service "
                                   "and its companions from (apt-get install gnupg)")
        made = subprocess.run(["gpg", "--batch", "--passphrase", "", "--quick-gen-key", KEY_UID, "rsa2048",
                               "sign", "never"], env=env, capture_output=True, text=True, check=False)
        if made.returncode != 0:
            raise BuildToolError(f"making a signing key for the verify repository failed: "
                                 f"{(made.stderr.strip().splitlines() or ['no output'])[-1]}")
        os.environ["GNUPGHOME"] = home
        yield KEY_UID
    finally:
        if old is None:
            os.environ.pop("GNUPGHOME", None)
        else:
            os.environ["GNUPGHOME"] = old
        if shutil.which("gpgconf"):  # every daemon gpg started for the home (gpg-agent, keyboxd)
            subprocess.run(["gpgconf", "--kill", "all"], env=env, capture_output=True, check=False)
        shutil.rmtree(home, ignore_errors=True)


def publish_set(artifacts: Sequence[Artifact], directory: Path) -> dict[str, Path]:
    """Publish ``artifacts`` (services and companions, both formats) into signed repositories under
    ``directory``: ``{family: repository}``, ``apt`` for .deb and ``yum`` for .rpm."""
    families = {a.family for a in artifacts}
    where = {"deb": directory / "apt", "rpm": directory / "yum"}
    with _throwaway_home() as uid:
        key = signing.find_key(uid)
        # every version stays: the upgrade test installs the older build first
        publish.publish([a.path for a in artifacts], key, publish.PublishOptions(NAME, keep=len(artifacts)),
                apt_dir=where["deb"] if "deb" in families else None,
                rpm_dir=where["rpm"] if "rpm" in families else None)
    return {family: where[family] for family in sorted(families)}


def repository_packages(directory: Path) -> tuple[Artifact, ...]:
    """The binary packages a repository holds (apt: ``pool/``, yum: ``Packages/``)."""
    found = sorted(directory.glob("pool/**/*.deb")) + sorted(directory.glob("Packages/*.rpm"))
    return tuple(read_artifact(path) for path in found if not path.name.endswith(".src.rpm"))
