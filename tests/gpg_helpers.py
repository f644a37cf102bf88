"""A throwaway OpenPGP key in a private GNUPGHOME, for the signing and publishing tests."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ThrowawayKey:
    """A key made for one test module: its GNUPGHOME, user id and fingerprint."""

    home: Path
    uid: str
    fingerprint: str

    def env(self) -> dict[str, str]:
        """The environment in which gpg, debsign and rpmsign find this key."""
        return {**os.environ, "GNUPGHOME": str(self.home)}


@contextmanager
def throwaway_key(uid: str = "Tap2pkg Test <test@example.org>") -> Iterator[ThrowawayKey]:
    """Make an RSA signing key without passphrase in a temporary GNUPGHOME (short path: agent socket)."""
    home = Path(tempfile.mkdtemp(prefix="t2pgpg", dir="/tmp"))
    env = {**os.environ, "GNUPGHOME": str(home)}
    try:
        subprocess.run(["gpg", "--batch", "--passphrase", "", "--quick-gen-key", uid, "rsa2048", "sign",
                        "never"], env=env, check=True, capture_output=True)
        listing = subprocess.run(["gpg", "--batch", "--with-colons", "--list-secret-keys"], env=env,
                                 check=True, capture_output=True, text=True).stdout
        fingerprint = next(line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr:"))
        yield ThrowawayKey(home, uid, fingerprint)
    finally:
        subprocess.run(["gpgconf", "--kill", "gpg-agent"], env=env, check=False, capture_output=True)
        shutil.rmtree(home, ignore_errors=True)


@contextmanager
def using_key(key: ThrowawayKey) -> Iterator[None]:
    """Point GNUPGHOME at ``key``'s home while the block runs (for the library called in-process)."""
    old = os.environ.get("GNUPGHOME")
    os.environ["GNUPGHOME"] = str(key.home)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("GNUPGHOME", None)
        else:
            os.environ["GNUPGHOME"] = old
