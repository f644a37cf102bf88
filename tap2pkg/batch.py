"""Building several packages in one call: side by side on threads, published in order or all together.

A call with several app files (or formats) builds up to ``--jobs`` packages at
a time, each on a thread of its own (default: as many as the processors this
process may use). Python runs one thread at a time, but xz, zlib, hashing and
file I/O let go of it, so one package is compressed while the next one is
rendered and archived. Every package is the same, byte for byte, whatever the
number of jobs, and so is what the output directory gets:

* :func:`build_in_order` (``tap2deb``, ``tap2rpm``): a package is published as
  soon as it and every package before it are built. The first failure, in the
  order given, ends the call: the packages before it are published, it and
  those after it are not (what was built of them aside is removed).
* :func:`build_together` (``tap2pkg build``): every package is built aside,
  every name checked, then all are published; one failure publishes none.

One job at a time, each builder publishes its package as it ends, as a single
build does. With more, each job builds into a staging directory of its output
directory (:class:`~tap2pkg.output.Staging`) and the main thread publishes.
When the call stops early (an error, Ctrl-C, SIGTERM), the jobs not started are
dropped, the build tools running on other threads are killed with their
process groups (:func:`tap2pkg.tools.kill_running`) and every thread is waited
for before the staging directories are removed.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from . import output, tools
from .builders import Builder, BuildOptions, BuildResult
from .errors import Tap2pkgError, UsageError
from .runtime.lazy import lazy_import
from .spec import PackageSpec

if TYPE_CHECKING:
    from concurrent import futures

    from . import payload
else:  # imported on first use: one package needs no thread, and --help builds nothing
    futures = lazy_import("concurrent.futures")
    payload = lazy_import("tap2pkg.payload")

#: what the staging directories' messages call the output directory
OPTION = "-o/--output-dir"


@dataclass(frozen=True, slots=True)
class BuildJob:
    """One package to build in :func:`build_in_order` or :func:`build_together`."""

    spec: PackageSpec
    output_dir: Path
    builder: Builder
    options: BuildOptions


def usable_cpus() -> int:
    """The processors this process may run on (its CPU affinity), at least 1."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):  # no affinity call on this system
        return os.cpu_count() or 1


def job_count(given: object) -> int:
    """``--jobs`` checked: a whole number of at least 1; None (not given): :func:`usable_cpus`."""
    if given is None:
        return usable_cpus()
    if isinstance(given, bool) or not isinstance(given, int) or given < 1:
        raise UsageError(f"--jobs {given}: build at least 1 package at a time (default: one per processor)")
    return given


@contextlib.contextmanager
def _building(jobs: Sequence[BuildJob], into: Sequence[Path], workers: int,
              ) -> Iterator[list[Callable[[], BuildResult]]]:
    """One getter per job, in order, each giving the job's result built into ``into[i]`` (or raising its
    error). With one worker a getter builds when called; with more, every job is started on a pool
    of ``workers`` threads at once and a getter waits for its own. On leaving, early or not, nothing
    of the builds is still running."""
    if workers <= 1 or len(jobs) <= 1:
        yield [functools.partial(job.builder.build, job.spec, path, job.options)
               for job, path in zip(jobs, into, strict=True)]
        return
    # the build threads never take a signal: the main thread does, and holds them while it publishes
    pool = futures.ThreadPoolExecutor(max_workers=min(workers, len(jobs)), thread_name_prefix="tap2pkg-build",
                                      initializer=output.never_take_signals)
    started: list[futures.Future[BuildResult]] = []
    try:
        for job, path in zip(jobs, into, strict=True):
            started.append(pool.submit(job.builder.build, job.spec, path, job.options))
        yield [future.result for future in started]
    except BaseException:
        for future in started:
            future.cancel()  # the ones no thread has taken yet
        with tools.stopping():  # a dpkg-source or rpmbuild on another thread stops now, none starts
            pool.shutdown(wait=True)
        raise
    finally:
        pool.shutdown(wait=True)


def build_in_order(jobs: Sequence[BuildJob], *, workers: int = 1,
                   finish: Callable[[int, BuildResult], BuildResult] = lambda _i, result: result,
                   ) -> list[BuildResult]:
    """Build every job (``workers`` at a time) and publish each, in order, as soon as it is built;
    ``finish(i, result)`` runs after job ``i`` is published. The first failure, in job order, is
    raised: the jobs before it stay published, the others are not."""
    results: list[BuildResult] = []
    if workers <= 1 or len(jobs) <= 1 or _signing(jobs):  # one at a time: each publishes its own
        for index, job in enumerate(jobs):
            results.append(finish(index, job.builder.build(job.spec, Path(job.output_dir), job.options)))
        return results
    refused: Tap2pkgError | None = None
    with contextlib.ExitStack() as stack:
        stages: list[output.Staging] = []
        with output.signals_held():  # each staging directory is in the stack before a signal can act
            for job in jobs:
                try:
                    payload.check_output_dir(job.spec, job.output_dir)
                    stages.append(stack.enter_context(output.Staging(Path(job.output_dir), option=OPTION)))
                except Tap2pkgError as exc:  # as one at a time: the jobs before it are built, then it fails
                    refused = exc
                    break
        started = jobs[:len(stages)]
        getters = stack.enter_context(_building(started, [stage.path for stage in stages], workers))
        for index, (stage, get) in enumerate(zip(stages, getters, strict=True)):
            result = get()
            paths = _published(result)
            results.append(finish(index, _moved(result, dict(zip(paths, stage.publish(paths), strict=True)))))
    if refused is not None:
        raise refused
    return results


def build_together(jobs: Sequence[BuildJob], *, workers: int = 1) -> list[BuildResult]:
    """Build every job aside (``workers`` at a time), then publish them all at once: if one fails, no
    output directory changes.

    Each output directory gets one staging directory; each job builds into it
    (through its builder's own staging) and every name in every directory is
    checked before the first one is moved into place.
    """
    final: dict[Path, Path] = {}
    workers = 1 if _signing(jobs) else workers
    with contextlib.ExitStack() as stack:
        stages: dict[str, output.Staging] = {}
        with output.signals_held():  # each staging directory is in the stack before a signal can act
            for job in jobs:
                payload.check_output_dir(job.spec, job.output_dir)
                key = os.path.realpath(job.output_dir)
                if key not in stages:
                    stages[key] = stack.enter_context(output.Staging(Path(job.output_dir), option=OPTION))
        owners = [stages[os.path.realpath(job.output_dir)] for job in jobs]
        with _building(jobs, [stage.path for stage in owners], workers) as getters:
            results = [get() for get in getters]
        staged = {key: [p for owner, result in zip(owners, results, strict=True) if owner is stage
                        for p in _published(result)]
                  for key, stage in stages.items()}
        for key, stage in stages.items():
            for path in staged[key]:
                stage.check_free(path.name, directory=path.is_dir())
        for key, stage in stages.items():
            final.update(zip(staged[key], stage.publish(staged[key]), strict=True))
    return [_moved(result, final) for result in results]


def _signing(jobs: Sequence[BuildJob]) -> bool:
    """Whether a job signs: gpg may ask for a passphrase, and a signing tool cannot be stopped from
    another thread, so such a call builds one package at a time."""
    return any(job.builder.signs(job.options) for job in jobs)


def _published(result: BuildResult) -> list[Path]:
    return ([result.source_tree] if result.source_tree is not None else []) + result.paths()


def _moved(result: BuildResult, final: dict[Path, Path]) -> BuildResult:
    """``result`` with its staged paths replaced by where publishing put them."""
    return replace(result, artifacts=[replace(a, path=final[a.path]) for a in result.artifacts],
                   source_tree=final[result.source_tree] if result.source_tree is not None else None)
