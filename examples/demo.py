"""What ``make demo`` runs: tap2pkg's main job on the bundled examples, step by step.

1. write the web example's application files with ``tap2pkg mktap web``
   (``examples/web.tap``, ``.tas``, ``.tax``);
2. run the echo example (``examples/echo/echo.tac``) under ``tapd`` for a few
   seconds, talk to it over TCP on 127.0.0.1, stop it with SIGTERM and show
   its log;
3. (to come) build the Debian and RPM packages.

Standard library and tap2pkg only.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tap2pkg.cli.tap2pkg import main as tap2pkg_main

EXAMPLES = Path(__file__).resolve().parent
ECHO_TAC = EXAMPLES / "echo" / "echo.tac"
WEB_OPTIONS = ["--port", "8080", "--path", "/usr/share/doc", "--listing"]  # as make-examples.sh


def step(title: str) -> None:
    """Print a step heading."""
    print(f"\n== {title}", flush=True)


def make_web_app_files() -> None:
    """``tap2pkg mktap web ... -o examples/web.{tap,tas,tax}``, through the Python API."""
    for suffix in ("tap", "tas", "tax"):
        output = EXAMPLES / f"web.{suffix}"
        print(f"$ tap2pkg mktap web {' '.join(WEB_OPTIONS)} -o {output.relative_to(EXAMPLES.parent)}")
        code = tap2pkg_main(["mktap", "web", *WEB_OPTIONS, "-o", str(output)])
        if code != 0:
            raise SystemExit(code)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 15) -> None:
    """Wait until 127.0.0.1:``port`` accepts connections (or the daemon died)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"demo: tapd exited early with status {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"demo: nothing answered on 127.0.0.1:{port} within {timeout:.0f}s")


def run_echo_example(workdir: Path) -> None:
    """Start echo.tac under tapd, send a few lines, stop it, print its log."""
    port = free_port()
    log_file = workdir / "tapd.log"
    command = ["tapd", "-n", "-l", "tapd.log", "-y", str(ECHO_TAC)]
    print(f"$ cd {workdir}")
    print(f"$ ECHO_PORT={port} {' '.join(command)}")
    daemon = subprocess.Popen([sys.executable, "-m", "tap2pkg.runtime.daemon", *command[1:]],
                              env={**os.environ, "ECHO_PORT": str(port)}, cwd=workdir)
    try:
        wait_for_port(port, daemon)
        print(f"tapd is running (pid {daemon.pid}); talking to 127.0.0.1:{port}:")
        with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
            replies = connection.makefile("rb")
            for line in ("hello, tapd", "one application file in", "distro-native packages out"):
                connection.sendall(line.encode() + b"\n")
                print(f"  sent {line!r:32} got back {replies.readline().decode().rstrip()!r}")
                time.sleep(0.5)
            replies.close()
        time.sleep(1)
    finally:
        daemon.send_signal(signal.SIGTERM)
        status = daemon.wait(timeout=30)
    how = f"killed by {signal.Signals(-status).name}, as twistd exits" if status < 0 else f"status {status}"
    print(f"$ kill -TERM {daemon.pid}   -> tapd stopped ({how}); pidfile removed: "
          f"{not (workdir / 'tapd.pid').exists()}")
    print("$ cat tapd.log")
    print(log_file.read_text(), end="")


def build_packages() -> None:
    """Step 3, to come: build .deb and .rpm packages from the example app files."""
    print("(package building arrives with the Debian and RPM backends)")


def main() -> int:
    """Run the demo."""
    step("1. application files from a plugin: tap2pkg mktap web")
    make_web_app_files()
    step("2. the echo example under tapd, for a few seconds")
    with tempfile.TemporaryDirectory(prefix="tap2pkg-demo-") as workdir:
        run_echo_example(Path(workdir))
    step("3. packages")
    build_packages()
    return 0


if __name__ == "__main__":
    sys.exit(main())
