"""Install packages through the package manager from a published repository, inside a verify container.

``tap2pkg verify --from-repo DIR`` proves the whole signature chain a user
relies on: the repository ``tap2pkg publish`` wrote is copied into the
(offline) container and the package is installed from it as a user would:

- apt: the keyring goes to ``/etc/apt/keyrings/``, a deb822 source with
  ``Signed-By:`` to ``/etc/apt/sources.list.d/``, then ``apt-get update`` (of
  that source only) and ``apt-get install NAME=VERSION``. A ``Release`` signed
  by another key fails at ``apt-get update``;
- rpm, where the image has ``dnf``: a ``.repo`` with ``gpgcheck=1`` and
  ``repo_gpgcheck=1``, then ``dnf install`` from that repository only;
- rpm without ``dnf`` (rpm-on-debian): ``repomd.xml.asc`` is checked with
  ``gpgv``, the key imported with ``rpm --import``; the named packages (the
  newest, or the pinned version) are completed with what they need from the
  same repository, as rpm itself says it: ``rpm -U --test`` of the chosen
  files, and for each ``X is needed by Y`` line the newest repository package
  whose ``rpm -qp --provides`` satisfies X (``=`` matched exactly, an omitted
  release matching any; other operators compared by the container's rpm) is
  added, until the test passes or adds nothing (then it fails with rpm's own
  lines). So a service installs with its companion packages (``web`` needing
  ``python3-klein = 24.8.0-1`` needing ``python3dist(tubes)``), each added one
  named in the output. Every chosen file must pass ``rpm -K`` with
  ``signatures OK`` (an unsigned package or another key fails), then ``rpm -U``
  of them together.

apt and dnf resolve a package's dependencies from the same repository (and the
image's own packages) themselves.

The API, for any code that needs packages installed from a local repository
(verify's lifecycle; companion packages that the package manager must resolve):

- :func:`repository_format` -- ``deb`` or ``rpm`` from a repository's layout;
- :func:`repository_key` -- the key a repository publishes (``<name>.gpg`` / ``<name>.asc``);
- :func:`add_repository` -- copy and configure the repository in a container (once);
- :func:`install_from_repo` -- install packages by name (``echo``) or pinned
  (:func:`pinned`: ``echo=1.1-1`` / ``echo-1.1-1``), configuring first if needed;
  returns the :class:`~tap2pkg.verify.container.ExecResult` (``ok`` False when
  the signature check, the resolution or a maintainer script failed).
"""

from __future__ import annotations

import io
import re
import subprocess
import tarfile
from collections.abc import Sequence
from pathlib import Path

from ..errors import UsageError
from .container import ExecResult, VerifyContainer

#: where the repository is copied in the container (the snapshot ignores it)
REPO_DIR = "/var/tap2pkg-verify/repo"
#: the name of the source, keyring and .repo files written in the container
SOURCE_NAME = "tap2pkg-verify"
APT_KEYRING = f"/etc/apt/keyrings/{SOURCE_NAME}.gpg"
APT_SOURCE = f"/etc/apt/sources.list.d/{SOURCE_NAME}.sources"
YUM_REPO = f"/etc/yum.repos.d/{SOURCE_NAME}.repo"
RPM_KEY = f"{REPO_DIR}/.{SOURCE_NAME}.asc"
RPM_KEYRING = f"{REPO_DIR}/.{SOURCE_NAME}.gpg"
_APT_ENV = {"DEBIAN_FRONTEND": "noninteractive"}
_APT_OPTIONS = ("-o", "Dpkg::Options::=--force-confold", "-o", "Dpkg::Options::=--force-confdef")


def repository_format(directory: Path) -> str:
    """``deb`` for an apt repository (``dists/``), ``rpm`` for a yum one (``repodata/repomd.xml``)."""
    if (directory / "dists").is_dir():
        return "deb"
    if (directory / "repodata" / "repomd.xml").is_file():
        return "rpm"
    raise UsageError(f"--from-repo {directory}: not a repository tap2pkg publish wrote (no dists/ or "
                     "repodata/repomd.xml); give the --apt or --rpm directory of `tap2pkg publish`")


def repository_key(directory: Path) -> Path:
    """The public key the repository publishes: ``<name>.gpg`` (apt) or ``<name>.asc`` (yum)."""
    suffix = ".gpg" if repository_format(directory) == "deb" else ".asc"
    keys = sorted(directory.glob(f"*{suffix}"))
    if len(keys) != 1:
        raise UsageError(f"--from-repo {directory}: expected one *{suffix} public key at its top, found "
                         f"{len(keys)}; give the key with --repo-key FILE")
    return keys[0]


def pinned(fmt: str, name: str, version: str) -> str:
    """``name`` at exactly ``version`` as the package manager spells it: ``echo=1.1-1``, ``echo-1.1-1``."""
    return f"{name}={version}" if fmt == "deb" else f"{name}-{version.split(':', 1)[-1]}"


def _tar_directory(directory: Path) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        def owned_by_root(info: tarfile.TarInfo) -> tarfile.TarInfo:
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            info.mode = 0o755 if info.isdir() else 0o644
            return info
        tar.add(str(directory), arcname="repo", filter=owned_by_root)
    return buffer.getvalue()


def _dearmor(key: Path) -> bytes:
    """A binary keyring from ``key`` (armored or not), for apt's ``Signed-By`` and ``gpgv``."""
    data = key.read_bytes()
    if not data.lstrip().startswith(b"-----BEGIN PGP"):
        return data
    proc = subprocess.run(["gpg", "--batch", "--dearmor"], input=data, capture_output=True, check=False)
    if proc.returncode != 0 or not proc.stdout:
        raise UsageError(f"{key}: not an OpenPGP public key gpg can read")
    return proc.stdout


def _put_bytes(box: VerifyContainer, path: str, data: bytes) -> None:
    buffer = io.BytesIO()
    directory, _, name = path.rpartition("/")
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size, info.mode = len(data), 0o644
        tar.addfile(info, io.BytesIO(data))
    box.run(["mkdir", "-p", directory])
    box.container.put_archive(directory, buffer.getvalue())


def add_repository(box: VerifyContainer, fmt: str, repo_dir: Path, keyring: Path | None = None) -> str:
    """Copy ``repo_dir`` into ``box`` and configure it with ``keyring`` (default: its own key); say how."""
    if repository_format(repo_dir) != fmt:
        raise UsageError(f"--from-repo {repo_dir}: a repository of .{repository_format(repo_dir)} packages, "
                         f"not .{fmt}")
    key = keyring or repository_key(repo_dir)
    box.run(["rm", "-rf", REPO_DIR])
    box.run(["mkdir", "-p", REPO_DIR.rsplit("/", 1)[0]])
    box.container.put_archive(REPO_DIR.rsplit("/", 1)[0], _tar_directory(repo_dir))
    if fmt == "deb":
        suite = sorted(p.name for p in (repo_dir / "dists").iterdir())[0]
        components = " ".join(sorted(p.name for p in (repo_dir / "dists" / suite).iterdir() if p.is_dir()))
        _put_bytes(box, APT_KEYRING, _dearmor(key))
        _put_bytes(box, APT_SOURCE, (f"Types: deb\nURIs: file:{REPO_DIR}\nSuites: {suite}\n"
                                     f"Components: {components}\nSigned-By: {APT_KEYRING}\n").encode())
        return f"apt source file:{REPO_DIR} ({suite}) signed-by {key.name}"
    armored = key.read_bytes()
    if not armored.lstrip().startswith(b"-----BEGIN PGP PUBLIC KEY"):
        raise UsageError(f"{key}: rpm --import needs an armored public key (the <name>.asc publish writes)")
    _put_bytes(box, RPM_KEY, armored)
    if box.run(["sh", "-c", "command -v dnf"]).ok:
        _put_bytes(box, YUM_REPO, (f"[{SOURCE_NAME}]\nname={SOURCE_NAME}\nbaseurl=file://{REPO_DIR}\n"
                                   f"enabled=1\ngpgcheck=1\nrepo_gpgcheck=1\ngpgkey=file://{RPM_KEY}\n").encode())
        return f"dnf repository file://{REPO_DIR}, gpgcheck with {key.name}"
    _put_bytes(box, RPM_KEYRING, _dearmor(key))
    box.run(["rpm", "--import", RPM_KEY])
    return f"rpm repository {REPO_DIR} (no dnf: gpgv of repomd.xml, rpm -K, rpm -U), key {key.name} imported"


def _configured(box: VerifyContainer, fmt: str) -> bool:
    if fmt == "deb":
        return box.run(["test", "-e", APT_SOURCE]).ok
    return box.run(["test", "-e", RPM_KEY]).ok


def install_from_repo(box: VerifyContainer, fmt: str, repo_dir: Path, packages: Sequence[str],
                      keyring: Path | None = None) -> ExecResult:
    """Install (or upgrade to) ``packages`` from the repository through the package manager."""
    if not _configured(box, fmt):
        add_repository(box, fmt, repo_dir, keyring)
    if fmt == "deb":
        update = box.run(["apt-get", "update", "-o", f"Dir::Etc::sourcelist={APT_SOURCE}",
                          "-o", "Dir::Etc::sourceparts=-", "-o", "APT::Get::List-Cleanup=0"], env=_APT_ENV)
        # apt-get update only warns about a bad signature on some versions: its E:/W: lines decide
        if not update.ok or "NO_PUBKEY" in update.output or "is not signed" in update.output \
                or "EXPKEYSIG" in update.output or "BADSIG" in update.output:
            return ExecResult(update.exit_code or 100, "apt-get update of the repository failed: the "
                              "signature of its Release file does not verify with the key given\n"
                              + update.output)
        install = box.run(["apt-get", "install", "-y", *_APT_OPTIONS, *packages], env=_APT_ENV)
        return ExecResult(install.exit_code, update.output + install.output)
    if box.run(["sh", "-c", "command -v dnf"]).ok:
        return box.run(["dnf", "install", "-y", "--disablerepo=*", f"--enablerepo={SOURCE_NAME}", *packages])
    return _rpm_install(box, packages)


def _rpm_install(box: VerifyContainer, packages: Sequence[str]) -> ExecResult:
    """Without dnf: check the metadata's signature, pick the files and what they need from the repository
    (:func:`_rpm_closure`), ``rpm -K`` them, ``rpm -U`` them together."""
    meta = box.run(["gpgv", "--keyring", RPM_KEYRING, f"{REPO_DIR}/repodata/repomd.xml.asc",
                    f"{REPO_DIR}/repodata/repomd.xml"])
    if not meta.ok:
        return ExecResult(meta.exit_code, "repomd.xml.asc does not verify with the key given\n" + meta.output)
    listing = box.run(["sh", "-c", f"for f in {REPO_DIR}/Packages/*.rpm; do rpm -qp --nosignature "
                       "--qf \"%{NAME}\\t%{VERSION}-%{RELEASE}\\t$f\\n\" \"$f\"; done"])
    available = [tuple(line.split("\t")) for line in listing.output.splitlines() if line.count("\t") == 2]
    chosen: dict[str, str] = {}  # name -> file
    for wanted in packages:
        matches = [(name, vr, path) for name, vr, path in available
                   if wanted == name or wanted == f"{name}-{vr}"]
        if not matches:
            return ExecResult(1, f"{wanted}: no such package in the repository {REPO_DIR}\n" + listing.output)
        # the newest: rpm -qp lists in file-name order, ask rpm to compare when several are left
        name, _vr, path = _newest(box, matches)
        chosen[name] = path
    closure = _rpm_closure(box, chosen, available)
    if not closure.ok:
        return closure
    files = list(chosen.values())
    check = box.run(["rpm", "-K", *files])
    unsigned = [line for line in check.output.splitlines() if "signatures OK" not in line]
    if not check.ok or unsigned:
        return ExecResult(check.exit_code or 1, "rpm -K: a package is not signed by the key given\n"
                          + check.output)
    install = box.run(["rpm", "-U", "-v", *files])
    return ExecResult(install.exit_code, closure.output + check.output + install.output)


_NEEDED = re.compile(r"^\s+(.+?) is needed by (?:\(installed\) )?\S+$", re.MULTILINE)
_RPM_OPS = {"<": (-1,), "<=": (-1, 0), "=": (0,), ">=": (0, 1), ">": (1,)}


def _rpm_closure(box: VerifyContainer, chosen: dict[str, str],
                 available: Sequence[tuple[str, ...]]) -> ExecResult:
    """Add to ``chosen`` (name -> file) what it needs from the repository, as rpm itself says.

    ``rpm -U --test`` of the chosen files; for each ``X is needed by Y`` line, the newest repository
    package whose ``rpm -qp --provides`` satisfies X is added; again until the test passes (ok, the
    output names each package added and why) or adds nothing (not ok, with rpm's own lines).
    """
    provides: dict[str, list[tuple[str, str, str]]] | None = None
    added: list[str] = []
    while True:
        test = box.run(["rpm", "-U", "--test", *chosen.values()], env={"LC_ALL": "C"})
        if test.ok:
            return ExecResult(0, "".join(f"{line}\n" for line in added))
        needed = list(dict.fromkeys(match[1].strip() for match in _NEEDED.finditer(test.output)))
        if provides is None:
            provides = _repository_provides(box)
        progress = False
        for requirement in needed:
            candidates = [row for row in available if row[0] not in chosen
                          and _satisfies(box, provides.get(row[2], []), requirement)]
            if candidates:
                name, vr, path = _newest(box, candidates)
                chosen[name] = path
                added.append(f"{name}-{vr} from the repository: {requirement}")
                progress = True
        if not progress:
            why = ("the repository does not hold what the packages need" if needed
                   else "the packages cannot be installed together")
            return ExecResult(test.exit_code or 1, f"rpm -U --test: {why}\n"
                              + "".join(f"{line}\n" for line in added) + test.output)


def _repository_provides(box: VerifyContainer) -> dict[str, list[tuple[str, str, str]]]:
    """Each repository file's provides, as ``(name, operator, version)`` (``rpm -qp --provides``)."""
    listing = box.run(["sh", "-c", f"for f in {REPO_DIR}/Packages/*.rpm; do rpm -qp --nosignature "
                       "--provides \"$f\" | sed \"s|^|$f\t|\"; done"])
    out: dict[str, list[tuple[str, str, str]]] = {}
    for line in listing.output.splitlines():
        path, _, provide = line.partition("\t")
        if provide.strip():
            out.setdefault(path, []).append(_relation(provide))
    return out


def _relation(text: str) -> tuple[str, str, str]:
    """``name >= 1.0`` as ``("name", ">=", "1.0")``; ``("name", "", "")`` without a version."""
    words = text.split()
    return (words[0], words[1], words[2]) if len(words) >= 3 else (words[0] if words else "", "", "")


def _satisfies(box: VerifyContainer, provides: Sequence[tuple[str, str, str]], requirement: str) -> bool:
    """Whether one of ``provides`` satisfies the rpm ``requirement`` (``name``, ``name OP version``)."""
    name, op, version = _relation(requirement)
    if not name or name.startswith(("(", "/")):
        return False  # rich dependencies and files: rpm's own lines say what is missing
    for got_name, got_op, got_version in provides:
        if got_name != name:
            continue
        if not op or not got_version:
            return True  # an unversioned requirement or provide matches any version, as rpm reads them
        if got_op != "=" or op not in _RPM_OPS:
            continue
        if op == "=" and _same_version(version, got_version):
            return True
        if op != "=" and _compare(box, got_version, version) in _RPM_OPS[op]:
            return True
    return False


def _same_version(wanted: str, got: str) -> bool:
    """``=`` as rpm reads it: an omitted epoch is 0; an omitted release matches any."""
    def split(evr: str) -> tuple[str, str, str]:
        epoch, _, rest = evr.rpartition(":")
        version, _, release = rest.partition("-")
        return epoch or "0", version, release
    want, have = split(wanted), split(got)
    return want[:2] == have[:2] and (not want[2] or want[2] == have[2])


def _compare(box: VerifyContainer, a: str, b: str) -> int:
    """-1, 0 or 1 as the container's rpm orders the versions ``a`` and ``b``."""
    script = f"local x, y = rpm.ver('{a}'), rpm.ver('{b}') if x < y then print(-1) elseif x > y then " \
             "print(1) else print(0) end"
    return int(box.run(["rpm", "--eval", f"%{{lua: {script}}}"]).output.strip() or "0")


def _newest(box: VerifyContainer, matches: Sequence[Sequence[str]]) -> Sequence[str]:
    """The match (``name, version-release, file``) of the highest version, as the container's rpm orders."""
    best = matches[0]
    for candidate in matches[1:]:
        if _compare(box, candidate[1], best[1]) > 0:
            best = candidate
    return best
