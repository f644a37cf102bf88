"""The daemons ``bench/daemon.py`` compares, each installed as a user has it.

:func:`build_daemons` makes Twisted's venv (from PyPI, its plugin cache made
warm by :func:`warm_plugin_cache`) and tapd's (this checkout pip-installed,
:func:`install_console_script`), lays out a package's launcher
(:func:`install_package_layout`), and returns the command line of each daemon
on the echo app with the versions the machine line names (:class:`Setup`).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.common import BENCH_DIR, WORK_DIR, BenchmarkError
from bench.daemon_measure import Daemon
from bench.venvs import ensure_venv, install_checkout, python_package_version

TWISTED_VENV = WORK_DIR / "twisted-venv"
TWISTED_REQUIREMENTS = ("twisted",)
#: tap2pkg is pip-installed here from a copy of this checkout, as a user installs it...
TAPD_VENV = WORK_DIR / "tapd-venv"
#: ...with what pip needs to build it offline and what tap2pkg depends on
TAPD_REQUIREMENTS = ("setuptools>=77", "Jinja2>=3.1")
#: ...plus what an optional event loop needs
TAPD_EXTRAS: dict[str, tuple[str, ...]] = {"uvloop": ("uvloop",)}
#: the root a package's files are laid out under (``<root>/usr/lib/<PACKAGE>``)
PACKAGE_ROOT = WORK_DIR / "package"
PACKAGE = "bench-echo"

#: the labels of the daemons measured (also the keys of the JSON measurements)
TAPD = "tapd"
TAPD_LAUNCHER = "packaged tapd"
TAPD_TLS = "tapd --tls"
TWISTD = "twistd"


def install_console_script(python: Path) -> Path:
    """tap2pkg pip-installed (not editable) from a copy of this checkout; return its ``tapd`` script."""
    script = install_checkout(python) / "tapd"
    if not script.exists():
        raise BenchmarkError(f"pip installed no tapd script into {python.parent}")
    return script


def install_package_layout(root: Path) -> Path:
    """Lay the runtime out under ``root/usr/lib/<pkg>`` as a package installs it; return the launcher.

    The package's own launcher, stub ``tap2pkg/__init__.py`` and a copy of
    ``tap2pkg/runtime``, byte-compiled as the package's postinst (``py3compile``)
    or %post (``compileall``) does at install; the launcher writes no bytecode.
    """
    import compileall

    from tap2pkg import __version__
    from tap2pkg.payload import LAUNCHER, STUB_INIT, runtime_dir

    libdir = root / "usr" / "lib" / PACKAGE
    shutil.rmtree(root, ignore_errors=True)
    shutil.copytree(runtime_dir(), libdir / "tap2pkg" / "runtime",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (libdir / "tap2pkg" / "__init__.py").write_bytes(STUB_INIT % __version__.encode())
    launcher = libdir / "tapd"
    launcher.write_text(LAUNCHER.format(name=PACKAGE, libdir=libdir))
    launcher.chmod(0o755)
    compileall.compile_dir(str(libdir), quiet=1)
    return launcher


def warm_plugin_cache(twistd: Path) -> None:
    """Run twistd once so that it writes its plugin cache, as it is on a machine that ran it before."""
    subprocess.run([str(twistd), "--help"], check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    caches = list(twistd.parent.parent.glob("lib/python*/site-packages/twisted/plugins/dropin.cache"))
    if not caches:
        raise BenchmarkError(f"twistd wrote no plugin cache (dropin.cache) under {twistd.parent.parent}; "
                             "check that its site-packages is writable")


@dataclass(frozen=True)
class Setup:
    """The daemons to measure, and what the machine line says about them."""

    daemons: list[Daemon]
    tapd_python: Path
    versions: dict[str, str]


def build_daemons(reactor: str | None, say: Callable[[str], None]) -> Setup:
    """tapd (console script and package launcher) and twistd (from PyPI), each from its own venv."""
    twisted_python = ensure_venv(TWISTED_VENV, TWISTED_REQUIREMENTS, log=say)
    twistd = twisted_python.parent / "twistd"
    warm_plugin_cache(twistd)
    extras = TAPD_EXTRAS.get(reactor or "", ())
    venv = TAPD_VENV.with_name(f"{TAPD_VENV.name}-{reactor}") if extras else TAPD_VENV
    tapd_python = ensure_venv(venv, (*TAPD_REQUIREMENTS, *extras), log=say)
    say("installing this checkout's tap2pkg with pip, and laying out a package's launcher")
    script = install_console_script(tapd_python)
    launcher = install_package_layout(PACKAGE_ROOT)
    args = ["-n", "--pidfile=", "-y", str(BENCH_DIR / "tapd_echo.tac"), *(["-r", reactor] if reactor else [])]
    daemons = [Daemon(TAPD, (str(script), *args)),
               Daemon(TAPD_LAUNCHER, (str(tapd_python), str(launcher), *args))]
    if reactor != "uvloop":  # uvloop imports ssl itself (it implies --tls): no separate --tls run
        daemons.append(Daemon(TAPD_TLS, (str(script), *args, "--tls")))
    twistd_args = ("-n", "--pidfile=", "-y", str(BENCH_DIR / "twistd_echo.tac"))
    daemons.append(Daemon(TWISTD, (str(twistd), *twistd_args)))
    versions = {"Twisted": python_package_version(twisted_python, "twisted"),
                "tap2pkg": python_package_version(tapd_python, "tap2pkg")}
    return Setup(daemons, tapd_python, versions)
