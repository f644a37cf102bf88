"""Signing with one OpenPGP key: packages, source packages and repository metadata.

Everything tap2pkg signs is signed by GnuPG with the key the user names once
(``--sign-key KEYID``: a fingerprint, long key id or user id) from the keyring
GnuPG reads anyway (``$GNUPGHOME``, else ``~/.gnupg``). The key is looked up
once (:func:`find_key`): a key that is not there, or several that match, is one
line naming ``--sign-key`` before anything is built or published.

- Debian: :func:`debsign` signs the ``.changes`` (and through it the ``.dsc``
  and ``.buildinfo``) with ``debsign -k``, the tool Debian's uploaders use;
- RPM: :func:`rpmsign` adds the signature to ``.rpm`` and ``.src.rpm`` files
  with ``rpmsign --addsign`` (``rpm -K`` then says ``digests signatures OK``
  once the public key is imported);
- repositories: :func:`clearsign` (apt's ``InRelease``), :func:`detach_sign`
  (``Release.gpg``, ``repomd.xml.asc``) and :func:`export_public_key` (the
  ``.asc`` users download and the binary keyring for apt's ``signed-by=``).

Keys with a passphrase work where a gpg-agent holds it (CI: import the key and
preset the passphrase, see docs/publishing.md); gpg runs with ``--batch`` and
never asks.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .errors import BuildToolError, InvalidOptionValueError, MissingToolError


@dataclass(frozen=True, slots=True)
class SigningKey:
    """A secret key found in GnuPG's keyring: what the user called it and what it is."""

    #: as the user gave it (``--sign-key``)
    name: str
    #: the primary key's full fingerprint (hex, upper case)
    fingerprint: str
    #: the first user id, e.g. ``Example Releases <release@example.org>``
    uid: str
    #: the fingerprints of its subkeys (gpg may sign with one of them)
    subkeys: tuple[str, ...] = ()

    @property
    def key_ids(self) -> frozenset[str]:
        """The long key ids (lower case hex) its signatures can carry: the primary key's and its subkeys'."""
        return frozenset(fpr[-16:].lower() for fpr in (self.fingerprint, *self.subkeys))

    @property
    def keyring_home(self) -> str:
        """Where GnuPG reads keys: ``$GNUPGHOME`` or ``~/.gnupg`` (for messages)."""
        return os.environ.get("GNUPGHOME") or "~/.gnupg"


def _gpg() -> str:
    gpg = shutil.which("gpg")
    if gpg is None:
        raise MissingToolError("gpg is not installed; it is needed to sign (apt-get install gnupg)")
    return gpg


def _run(argv: Sequence[str], what: str, *, stdin: bytes | None = None) -> bytes:
    """Run a signing tool; a failure is a :class:`BuildToolError` with the tool's last line."""
    try:
        proc = subprocess.run(list(argv), input=stdin, capture_output=True, check=False)
    except OSError as exc:
        raise MissingToolError(f"{what}: cannot run {argv[0]} ({exc.strerror})") from exc
    if proc.returncode != 0:
        last = (proc.stderr or proc.stdout).decode(errors="replace").strip().splitlines()
        raise BuildToolError(f"{what} failed (exit {proc.returncode}): {last[-1] if last else 'no output'}")
    return proc.stdout


def find_key(name: str, *, option: str = "--sign-key") -> SigningKey:
    """The one secret key ``name`` designates, or a one-line error naming ``option``."""
    proc = subprocess.run([_gpg(), "--batch", "--with-colons", "--list-secret-keys", "--", name],
                          capture_output=True, text=True, check=False)
    keys: list[dict[str, list[str]]] = []  # per secret key: fpr (primary first, then subkeys), uid
    for line in proc.stdout.splitlines():
        fields = line.split(":")
        if fields[0] == "sec":
            keys.append({"fpr": [], "uid": []})
        elif keys and fields[0] in ("fpr", "uid"):
            keys[-1][fields[0]].append(fields[9])
    home = os.environ.get("GNUPGHOME") or "~/.gnupg"
    if not keys:
        raise InvalidOptionValueError(
            f"{option} {name}: no secret key of that name in {home}; import it (gpg --import) or "
            "point GNUPGHOME at the keyring that has it")
    if len(keys) > 1:
        raise InvalidOptionValueError(
            f"{option} {name}: {len(keys)} secret keys match in {home}; give the fingerprint")
    fingerprints, uids = keys[0]["fpr"] or [""], keys[0]["uid"] or [""]
    return SigningKey(name, fingerprints[0], uids[0], tuple(fingerprints[1:]))


def debsign(files: Sequence[Path], key: SigningKey) -> None:
    """Sign Debian upload files (``.changes``, else ``.dsc``) in place with ``debsign -k``."""
    if shutil.which("debsign") is None:
        raise MissingToolError("debsign is not installed; it is needed for --sign-key (apt-get install "
                               "devscripts)")
    for path in files:
        _run(["debsign", "--re-sign", f"-k{key.fingerprint}", str(path)], f"debsign of {path.name}")


def rpmsign(files: Sequence[Path], key: SigningKey) -> None:
    """Add (or replace) the signature of ``.rpm``/``.src.rpm`` files in place with ``rpmsign --addsign``."""
    if shutil.which("rpmsign") is None:
        raise MissingToolError("rpmsign is not installed; it is needed to sign RPMs (apt-get install rpm)")
    if not files:
        return
    defines = {"_gpg_name": key.fingerprint, "__gpg": _gpg(), "_gpg_sign_cmd_extra_args": "--batch"}
    if os.environ.get("GNUPGHOME"):
        defines["_gpg_path"] = os.environ["GNUPGHOME"]
    argv = ["rpmsign", "--addsign"]
    for macro, value in defines.items():
        argv += ["--define", f"{macro} {value}"]
    _run([*argv, *map(str, files)], "rpmsign --addsign of " + ", ".join(p.name for p in files))


def clearsign(source: Path, target: Path, key: SigningKey) -> None:
    """Write ``target``: ``source`` with an inline signature (apt's ``InRelease``)."""
    target.write_bytes(_run([_gpg(), "--batch", "--yes", "--local-user", key.fingerprint,
                             "--digest-algo", "SHA512", "--clearsign", "--output", "-", str(source)],
                            f"signing {source.name}"))


def detach_sign(source: Path, target: Path, key: SigningKey) -> None:
    """Write ``target``: an armored detached signature of ``source`` (``Release.gpg``, ``repomd.xml.asc``)."""
    target.write_bytes(_run([_gpg(), "--batch", "--yes", "--local-user", key.fingerprint,
                             "--digest-algo", "SHA512", "--armor", "--detach-sign", "--output", "-",
                             str(source)], f"signing {source.name}"))


def export_public_key(key: SigningKey, *, armor: bool) -> bytes:
    """The public key, armored (``<name>.asc``) or as a binary keyring (apt's ``signed-by=`` file)."""
    argv = [_gpg(), "--batch", "--export", "--export-options", "export-minimal"]
    if armor:
        argv.append("--armor")
    data = _run([*argv, key.fingerprint], f"exporting the public key {key.fingerprint}")
    if not data:
        raise BuildToolError(f"gpg exported nothing for {key.fingerprint}")
    return data
