"""Results of verification runs and their renderings: live progress, summary table, JSON, JUnit XML."""

from __future__ import annotations

import json
import threading
import time
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass, field
from typing import Any, TextIO

PASS, FAIL, SKIP = "pass", "fail", "skip"


@dataclass
class StepResult:
    """One lifecycle step: its result, how long it took, what it found, and logs when it failed."""

    name: str
    title: str
    status: str = SKIP
    seconds: float = 0.0
    detail: str = ""
    log: str = ""


@dataclass
class RunResult:
    """One artifact verified on one distro with one init system."""

    distro: str
    image: str
    package: str
    version: str
    artifact: str
    init: str  # "systemd" or "sysvinit"
    stand_in: str | None = None
    container: str = ""
    steps: list[StepResult] = field(default_factory=list)
    seconds: float = 0.0
    #: what a derived image added to the distro's image: ``python3-twisted from the Debian archive``
    image_note: str = ""

    @property
    def passed(self) -> bool:
        """True when no step failed (skipped steps are listed, not failures)."""
        return all(step.status != FAIL for step in self.steps) and any(s.status == PASS for s in self.steps)

    @property
    def heading(self) -> str:
        """``package version on distro (image), init`` plus the stand-in note."""
        image = f"{self.image}, {self.image_note}" if self.image_note else self.image
        text = f"{self.package} {self.version} on {self.distro} ({image}), {self.init}"
        return f"{text} -- {self.stand_in}" if self.stand_in else text


class Progress:
    """Shows steps as they run: a spinner line on a terminal, plain lines otherwise."""

    FRAMES = "|/-\\"

    def __init__(self, stream: TextIO, *, live: bool) -> None:
        self.stream = stream
        self.live = live
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._label = ""

    def run_started(self, run: RunResult) -> None:
        """A run begins: name the package, distro and image."""
        self.stream.write(f"== {run.heading}\n")
        self.stream.flush()

    def step_started(self, run: RunResult, step: StepResult) -> None:
        """A step begins: start the spinner (terminal) or stay quiet until it ends."""
        self._label = f"   {step.title}"
        if self.live:
            self._stop.clear()
            self._thread = threading.Thread(target=self._spin, daemon=True)
            self._thread.start()

    def _spin(self) -> None:
        started = time.monotonic()
        frame = 0
        while not self._stop.wait(0.1):
            elapsed = time.monotonic() - started
            self.stream.write(f"\r{self.FRAMES[frame % 4]} {self._label} ... {elapsed:4.1f}s\x1b[K")
            self.stream.flush()
            frame += 1

    def step_finished(self, run: RunResult, step: StepResult) -> None:
        """A step ends: one line with its result and time, and its detail when it failed."""
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None
            self.stream.write("\r\x1b[K")
        mark = {PASS: "ok  ", FAIL: "FAIL", SKIP: "skip"}[step.status]
        self.stream.write(f"{mark} {self._label.strip()} ({step.seconds:.1f}s)")
        if step.detail and step.status != PASS:
            self.stream.write(f": {step.detail}")
        self.stream.write("\n")
        if step.status == FAIL and step.log:
            for line in step.log.rstrip().splitlines():
                self.stream.write(f"       | {line}\n")
        self.stream.flush()


class ParallelProgress:
    """Progress of runs going on at once (``verify --jobs N``): one line per run.

    On a terminal the lines are redrawn in place (each says the run's current
    step and elapsed time, then its verdict); otherwise every step that ends
    is one plain line prefixed with its run, so logs stay readable. Failed
    steps print their evidence as :class:`Progress` does. Thread-safe.
    """

    def __init__(self, stream: TextIO, *, live: bool) -> None:
        self.stream = stream
        self.live = live
        self._lock = threading.Lock()
        self._lines: list[str] = []
        self._slots: dict[int, int] = {}
        self._drawn = 0

    def _label(self, run: RunResult) -> str:
        return f"{run.package} {run.version} on {run.distro}, {run.init}"

    def _set(self, run: RunResult, text: str) -> None:
        slot = self._slots.setdefault(id(run), len(self._slots))
        while len(self._lines) <= slot:
            self._lines.append("")
        self._lines[slot] = text
        if self.live:
            up = f"\x1b[{self._drawn}F" if self._drawn else ""
            self.stream.write(up + "".join(f"\x1b[2K{line}\n" for line in self._lines))
            self._drawn = len(self._lines)
        self.stream.flush()

    def run_started(self, run: RunResult) -> None:
        """A run begins: its line appears."""
        with self._lock:
            if not self.live:
                self.stream.write(f"== {run.heading}\n")
            self._set(run, f"..   {self._label(run)}: starting")

    def step_started(self, run: RunResult, step: StepResult) -> None:
        """A step begins: the run's line names it."""
        with self._lock:
            if self.live:
                self._set(run, f"..   {self._label(run)}: {step.title}")

    def step_finished(self, run: RunResult, step: StepResult) -> None:
        """A step ends: update the run's line (terminal) or write one line (log)."""
        mark = {PASS: "ok  ", FAIL: "FAIL", SKIP: "skip"}[step.status]
        with self._lock:
            if not self.live:
                detail = f": {step.detail}" if step.detail and step.status != PASS else ""
                self.stream.write(f"{mark} [{self._label(run)}] {step.title} ({step.seconds:.1f}s){detail}\n")
                if step.status == FAIL and step.log:
                    for line in step.log.rstrip().splitlines():
                        self.stream.write(f"       | {line}\n")
                self.stream.flush()
                return
            done = step.name in ("diff",) or step.status == FAIL
            state = ("FAIL" if step.status == FAIL else "ok  ") if done else ".."
            self._set(run, f"{state:4} {self._label(run)}: {step.title} ({step.seconds:.1f}s)"
                      + (f": {step.detail}" if step.status == FAIL else ""))


def summary_table(runs: list[RunResult]) -> str:
    """The summary: one row per step of every run (distro, image, step, result, seconds)."""
    rows = [("distro", "image", "init", "step", "result", "seconds")]
    for run in runs:
        for step in run.steps:
            rows.append(
                (run.distro, run.image, run.init, step.name, step.status.upper(), f"{step.seconds:.1f}")
            )
        rows.append(
            (run.distro, run.image, run.init, "total", "PASS" if run.passed else "FAIL", f"{run.seconds:.1f}")
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    notes = sorted({f"note: {run.distro} is {run.stand_in}" for run in runs if run.stand_in})
    notes += sorted({f"note: {run.image} has {run.image_note}" for run in runs if run.image_note})
    return "\n".join(lines + notes) + "\n"


def to_json(runs: list[RunResult]) -> str:
    """Every run and step as JSON, for machines."""
    document: dict[str, Any] = {
        "passed": all(run.passed for run in runs),
        "runs": [{**asdict(run), "passed": run.passed} for run in runs],
    }
    return json.dumps(document, indent=2) + "\n"


def to_junit_xml(runs: list[RunResult]) -> str:
    """One ``testsuite`` per run and one ``testcase`` per step, as CI systems read them."""
    suites = ET.Element("testsuites", name="tap2pkg verify")
    for run in runs:
        suite = ET.SubElement(
            suites,
            "testsuite",
            name=f"{run.package} {run.version} on {run.distro} ({run.init})",
            tests=str(len(run.steps)),
            failures=str(sum(s.status == FAIL for s in run.steps)),
            skipped=str(sum(s.status == SKIP for s in run.steps)),
            time=f"{run.seconds:.3f}",
        )
        properties = ET.SubElement(suite, "properties")
        for key, value in (
            ("image", run.image),
            ("artifact", run.artifact),
            ("stand_in", run.stand_in or ""),
            ("image_note", run.image_note),
        ):
            ET.SubElement(properties, "property", name=key, value=value)
        for step in run.steps:
            case = ET.SubElement(
                suite,
                "testcase",
                classname=f"{run.distro}.{run.init}",
                name=step.name,
                time=f"{step.seconds:.3f}",
            )
            if step.status == FAIL:
                failure = ET.SubElement(case, "failure", message=step.detail or "failed")
                failure.text = step.log
            elif step.status == SKIP:
                ET.SubElement(case, "skipped", message=step.detail or "skipped")
    ET.indent(suites)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"
