"""Building several packages in one call: side by side on threads, published in order or all together.

A call with several app files (or formats) builds up to ``--jobs`` packages at
a time, each on a thread of its own (default: as many as the processors this
process may use). Python runs one thread at a time, but xz, zlib, hashing,
file I/O and the build tools let go of it, so one package is compressed while
the next one is rendered and archived. Every package is the same, byte for
byte, whatever the number of jobs, and so is what the output directory gets:

* :func:`build_in_order` (``tap2deb``, ``tap2rpm``): each builder publishes its
  package as a single build does, but waits for its turn: the one before it
  published. The first failure, in the order given, ends the call: the
  packages before it are published, it and those after it are not (their
  staging directories are removed).
* :func:`build_together` (``tap2pkg build``): every package is built into a
  staging directory of its output directory, every name checked, then the main
  thread publishes them all; one failure publishes none.

Build threads never take a signal; the main thread does. When the call stops
early (an error, Ctrl-C, SIGTERM), the jobs not started are dropped, no job
publishes any more, the build tools running on other threads are killed with
their process groups and none starts (:func:`tap2pkg.tools.stopping`), and
every thread is waited for before anything is removed. A call that signs
builds one package at a time: gpg may ask for a passphrase.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from . import output, tools
from .builders import Builder, BuildOptions, BuildResult, StagedBuilder
from .runtime.lazy import lazy_import
from .spec import PackageSpec

if TYPE_CHECKING:
    import threading
    from concurrent import futures

    from . import payload
else:  # imported on first use: one package needs no thread, and --help builds nothing
    futures = lazy_import("concurrent.futures")
    payload = lazy_import("tap2pkg.payload")
    threading = lazy_import("threading")

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


def job_count(given: int | None) -> int:
    """``--jobs`` (checked by its option's type): None, not given, is :func:`usable_cpus`."""
    return usable_cpus() if given is None else given


class Skipped(Exception):
    """A job of :func:`build_in_order` that was not published: one before it failed, or the call stops."""


class _Turns:
    """Publishing in job order: job ``i`` publishes once job ``i - 1`` has; none after ``last`` does."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._next = 0
        self._last = sys.maxsize

    def wait(self, index: int) -> None:
        """Return when job ``index`` may publish; :class:`Skipped` when it never will."""
        with self._changed:
            self._changed.wait_for(lambda: self._next == index or index > self._last)
            if index > self._last:
                raise Skipped(f"job {index + 1} not published: the call stops")

    def published(self, index: int) -> None:
        with self._changed:
            self._next = index + 1
            self._changed.notify_all()

    def stop_after(self, index: int) -> None:
        """No job after ``index`` publishes (-1: none does any more)."""
        with self._changed:
            self._last = min(self._last, index)
            self._changed.notify_all()


def _in_turn(job: BuildJob, index: int, turns: _Turns) -> BuildResult:
    """Build ``job`` (number ``index``), publishing in its turn; the main thread ends the turn."""
    try:
        options = replace(job.options, publish_turn=functools.partial(turns.wait, index))
        return job.builder.build(job.spec, Path(job.output_dir), options)
    except BaseException:
        turns.stop_after(index)
        raise


@contextlib.contextmanager
def _building(calls: Sequence[Callable[[], BuildResult]], workers: int,
              stop: Callable[[], None] = lambda: None) -> Iterator[list[Callable[[], BuildResult]]]:
    """One getter per call, in order, each giving the call's result (or raising its error). With one
    worker a getter makes its call; with more, every call is started on a pool of ``workers`` threads
    at once and a getter waits for its own. Leaving early runs ``stop`` first. On leaving, nothing
    started here is still running."""
    if workers <= 1 or len(calls) <= 1:
        yield list(calls)
        return
    # the build threads never take a signal: the main thread does, and holds them while it publishes
    pool = futures.ThreadPoolExecutor(min(workers, len(calls)), "tap2pkg-build", output.never_take_signals)
    started: list[futures.Future[BuildResult]] = []
    try:
        for call in calls:
            started.append(pool.submit(call))
        yield [future.result for future in started]
    except BaseException:
        for future in started:
            future.cancel()  # the ones no thread has taken yet
        stop()
        with tools.stopping():  # a dpkg-source or rpmbuild on another thread stops now, none starts
            _wait_for(pool)
        raise
    pool.shutdown(wait=True)


def _wait_for(pool: futures.ThreadPoolExecutor) -> None:
    """Wait until every thread of ``pool`` has ended, through any further signal (the first one is
    being handled: the call ends as soon as its threads have)."""
    while True:
        try:
            pool.shutdown(wait=True)
            return
        except BaseException:  # noqa: BLE001 - a second Ctrl-C must not leave threads writing
            continue


def build_in_order(jobs: Sequence[BuildJob], *, workers: int = 1,
                   finish: Callable[[int, BuildResult], BuildResult] = lambda _i, result: result,
                   ) -> list[BuildResult]:
    """Build every job (``workers`` at a time) and publish each, in order, as soon as it is built;
    ``finish(i, result)`` runs after job ``i`` is published. The first failure, in job order, is
    raised: the jobs before it stay published, the others are not."""
    if workers <= 1 or len(jobs) <= 1 or not _side_by_side(jobs):  # one at a time: each publishes its own
        return [finish(index, job.builder.build(job.spec, Path(job.output_dir), job.options))
                for index, job in enumerate(jobs)]
    turns = _Turns()
    calls = [functools.partial(_in_turn, job, index, turns) for index, job in enumerate(jobs)]
    results = []
    with _building(calls, workers, stop=lambda: turns.stop_after(-1)) as getters:
        for index, get in enumerate(getters):
            results.append(finish(index, get()))
            turns.published(index)  # the next one publishes once this one is recorded, as one at a time
    return results


def build_together(jobs: Sequence[BuildJob], *, workers: int = 1) -> list[BuildResult]:
    """Build every job aside (``workers`` at a time), then publish them all at once: if one fails, no
    output directory changes.

    Each output directory gets one staging directory; each job builds into it
    (through its builder's own staging) and every name in every directory is
    checked before the first one is moved into place.
    """
    final: dict[Path, Path] = {}
    workers = workers if _side_by_side(jobs) else 1
    with contextlib.ExitStack() as stack:
        stages: dict[str, output.Staging] = {}
        with output.signals_held():  # each staging directory is in the stack before a signal can act
            for job in jobs:
                payload.check_output_dir(job.spec, job.output_dir)
                key = os.path.realpath(job.output_dir)
                if key not in stages:
                    stages[key] = stack.enter_context(output.Staging(Path(job.output_dir), option=OPTION))
        owners = [stages[os.path.realpath(job.output_dir)] for job in jobs]
        calls = [functools.partial(job.builder.build, job.spec, stage.path, job.options)
                 for job, stage in zip(jobs, owners, strict=True)]
        with _building(calls, workers) as getters:
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


def _side_by_side(jobs: Sequence[BuildJob]) -> bool:
    """Whether the jobs may build side by side: every builder is a :class:`~tap2pkg.builders.StagedBuilder`
    (it publishes in its turn) and none signs (gpg may ask for a passphrase, and a signing tool cannot
    be stopped from another thread)."""
    return all(isinstance(job.builder, StagedBuilder) and not job.builder.signs(job.options) for job in jobs)


def _published(result: BuildResult) -> list[Path]:
    return ([result.source_tree] if result.source_tree is not None else []) + result.paths()


def _moved(result: BuildResult, final: dict[Path, Path]) -> BuildResult:
    """``result`` with its staged paths replaced by where publishing put them."""
    return replace(result, artifacts=[replace(a, path=final[a.path]) for a in result.artifacts],
                   source_tree=final[result.source_tree] if result.source_tree is not None else None)
