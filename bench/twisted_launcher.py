"""Benchmark: time until a Twisted app answers, via the package's launcher vs plain ``twistd -ny``.

A Twisted application packaged by tap2pkg is started by the launcher the
package ships (``tap2pkg/launchers/twisted_launcher.py``), which runs Twisted's
own application runner in-process and adds systemd readiness. This measures
what that costs: the same ``.tac`` (an echo server from Twisted's own
``twisted.protocols.wire``) started by each, interleaved, from process start
until a connection on 127.0.0.1 gets its echo back. The launcher runs as the
unit runs it (``--nodaemon --pidfile= --no_save``, ``NOTIFY_SOCKET`` set to a
socket this benchmark reads, so the ``READY=1`` path is timed too); twistd gets
the same options. Both use the same Python and the same Twisted (the project's
virtual environment), with Twisted's plugin cache warm.

Target: the launcher adds at most 10% (ratio of medians <= 1.10).

    .venv/bin/python bench/twisted_launcher.py [--rounds N] [--quick]

Rewrites the ``twisted-launcher`` section of ``BENCHMARKS.md`` (not with ``--quick``).
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make ``bench.common`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    BENCHMARKS_MD,
    ROOT,
    Comparison,
    comparison_table,
    format_ratio,
    free_port,
    machine_info,
    median,
    ratio,
    rewrite_section,
    stop_process,
)

SECTION = "twisted-launcher"
LAUNCHER = ROOT / "tap2pkg" / "launchers" / "twisted_launcher.py"
TARGET = 1.10
APP = """\
import os

from twisted.application import internet, service
from twisted.internet import protocol
from twisted.protocols import wire

factory = protocol.ServerFactory()
factory.protocol = wire.Echo
application = service.Application("echo")
port = int(os.environ["BENCH_PORT"])
internet.TCPServer(port, factory, interface="127.0.0.1").setServiceParent(application)
"""
PYTHON = Path(sys.executable)


def answers(port: int) -> bool:
    """True when 127.0.0.1:port echoes a message back."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"ping\n")
            return sock.recv(16) == b"ping\n"
    except OSError:
        return False


def time_to_answer(command: list[str], port: int, env: dict[str, str], timeout: float = 30.0) -> float:
    """Seconds from starting ``command`` until its port echoes; the process is stopped afterwards."""
    started = time.perf_counter()
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while not answers(port):
            if proc.poll() is not None:
                raise RuntimeError(f"{command[1]} exited with {proc.returncode} before answering")
            if time.perf_counter() - started > timeout:
                raise RuntimeError(f"{command[1]} did not answer within {timeout:g}s")
            time.sleep(0.002)
        return time.perf_counter() - started
    finally:
        stop_process(proc)


def commands(app: Path) -> dict[str, list[str]]:
    options = ["--nodaemon", "--pidfile=", "--no_save", "--logfile=-", "-y", str(app)]
    twistd = [str(PYTHON), "-c", "from twisted.scripts.twistd import run; run()", *options]
    return {"launcher": [str(PYTHON), str(LAUNCHER), *options], "twistd": twistd}


def run(rounds: int) -> tuple[dict[str, list[float]], str]:
    with tempfile.TemporaryDirectory(prefix="bench-twisted-") as scratch:
        app = Path(scratch) / "echo.tac"
        app.write_text(APP)
        notify = Path(scratch) / "notify.sock"
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        listener.bind(str(notify))
        listener.setblocking(False)
        base = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
        times: dict[str, list[float]] = {"launcher": [], "twistd": []}
        cmds = commands(app)
        # one untimed start of each: Twisted's plugin cache and the page cache are warm for every round
        for name in cmds:
            port = free_port()
            time_to_answer(cmds[name], port, {**base, "BENCH_PORT": str(port)})
        ready = 0

        def drain() -> int:
            count = 0
            while True:
                try:
                    count += listener.recv(64) == b"READY=1"
                except BlockingIOError:
                    return count

        for number in range(rounds):
            order = list(cmds) if number % 2 == 0 else list(reversed(cmds))
            for name in order:
                port = free_port()
                env = {**base, "BENCH_PORT": str(port)}
                if name == "launcher":
                    env["NOTIFY_SOCKET"] = str(notify)
                times[name].append(time_to_answer(cmds[name], port, env))
                ready += drain()  # as systemd does: a full socket queue would block the sender
        listener.close()
        import twisted

        return times, (f"Twisted {twisted.__version__}; READY=1 received {ready} times in {rounds} "
                       "launcher starts")


def render(times: dict[str, list[float]], rounds: int, about: str) -> tuple[str, bool]:
    ours, theirs = median(times["launcher"]), median(times["twistd"])
    value = ratio(ours, theirs)
    passed = value <= TARGET
    table = comparison_table([Comparison("time until the app answers", f"{ours * 1000:.0f} ms",
                                         f"{theirs * 1000:.0f} ms", format_ratio(value),
                                         f"<= {TARGET:.2f}x", passed)], "launcher", "twistd -ny")
    machine = machine_info()
    body = "\n".join([
        "## Twisted apps: the package's launcher vs plain `twistd -ny`",
        "",
        "The same Twisted echo `.tac`, started by each with the same options, interleaved; time from "
        "process start until 127.0.0.1 echoes a message (median of "
        f"{rounds} starts each). The launcher also sends systemd's READY=1 ({about}).",
        "",
        table.rstrip(),
        "",
        f"Machine: {machine['cpu']}, {machine['cores']} cores, {machine['kernel']}, {machine['python']}. "
        "Command: `.venv/bin/python bench/twisted_launcher.py`.",
        "",
    ])
    return body, passed


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15, help="starts of each (default 15)")
    parser.add_argument("--quick", action="store_true", help="3 rounds, print only")
    args = parser.parse_args(argv)
    rounds = 3 if args.quick else args.rounds
    times, about = run(rounds)
    body, passed = render(times, rounds, about)
    print(body)
    if not args.quick:
        rewrite_section(BENCHMARKS_MD, SECTION, body)
        print(f"wrote the {SECTION!r} section of {BENCHMARKS_MD}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
