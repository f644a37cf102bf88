"""Running a verify run's steps: in order, each timed, the first failure ending the run.

A step is a function that returns its one-line detail. It raises
:class:`StepFailed` with the reason (and the evidence as a log) when what it
checks is wrong, or :class:`StepSkipped` when it does not apply. Once a step
has failed, the steps after it are recorded as not run. The lifecycles in
:mod:`tap2pkg.verify.lifecycle` and :mod:`tap2pkg.verify.sysvinit` are
:class:`_Runner` subclasses that list their steps.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from .container import ExecResult, VerifyContainer
from .report import FAIL, PASS, RunResult, StepResult


class StepFailed(Exception):
    """Raised inside a step: ``detail`` is the one-line reason, ``log`` the evidence."""

    def __init__(self, detail: str, log: str = "") -> None:
        super().__init__(detail)
        self.detail = detail
        self.log = log


class StepSkipped(Exception):
    """Raised inside a step that does not apply; the message says why."""


class ProgressSink(Protocol):
    """Receives step events (see :class:`tap2pkg.verify.report.Progress`)."""

    def run_started(self, run: RunResult) -> None: ...
    def step_started(self, run: RunResult, step: StepResult) -> None: ...
    def step_finished(self, run: RunResult, step: StepResult) -> None: ...


class _Runner:
    """Shared machinery: run steps in order, time them, stop at the first failure."""

    def __init__(self, box: VerifyContainer, run: RunResult, progress: ProgressSink | None) -> None:
        self.box = box
        self.run = run
        self.progress = progress
        self.failed = False

    def step(self, name: str, title: str, action: Callable[[], str]) -> None:
        result = StepResult(name, title)
        self.run.steps.append(result)
        if self.progress:
            self.progress.step_started(self.run, result)
        started = time.monotonic()
        if self.failed:
            result.detail = "not run: an earlier step failed"
        else:
            try:
                result.detail = action()
                result.status = PASS
            except StepSkipped as skip:
                result.detail = str(skip)
            except StepFailed as failure:
                result.status, result.detail, result.log = FAIL, failure.detail, failure.log
                self.failed = True
        result.seconds = time.monotonic() - started
        if self.progress:
            self.progress.step_finished(self.run, result)

    def sh(self, command: str | list[str], *, env: dict[str, str] | None = None) -> ExecResult:
        return self.box.run(command, env=env)

    def must(self, command: str | list[str], what: str, *, env: dict[str, str] | None = None) -> ExecResult:
        result = self.sh(command, env=env)
        if not result.ok:
            raise StepFailed(f"{what} failed (exit {result.exit_code})", result.tail(25))
        return result
