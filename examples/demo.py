"""What ``make demo`` runs: tap2pkg's main job on the bundled examples, step by step.

1. write the web example's application files with ``tap2pkg mktap web``
   (``examples/web.tap``, ``.tas``, ``.tax``);
2. run the echo example (``examples/echo/echo.tac``) under ``tapd`` for a few
   seconds, talk to it over TCP on 127.0.0.1, stop it with SIGTERM and show
   its log;
3. package the echo example with ``tap2deb`` and ``tap2rpm`` (native builders)
   into ``out/demo/`` and show what they hold;
4. say how to prove the packages in containers with ``tap2pkg verify``.

Standard library and tap2pkg only.
"""

from __future__ import annotations

import os
import shlex
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


OUT = EXAMPLES.parent / "out" / "demo"
PACKAGE_OPTIONS = ["-m", "tap2pkg demo <demo@example.org>", "--include", "examples/echo/echoproto.py",
                   "--port", "8007", "-o", "out/demo", "examples/echo/echo.tac"]


def show(command: list[str]) -> None:
    """Run an inspection tool when it is installed, printing its output."""
    if subprocess.run(["sh", "-c", f"command -v {command[0]}"], capture_output=True).returncode != 0:
        print(f"({command[0]} is not installed; skipped)")
        return
    print(f"$ {' '.join(command)}", flush=True)
    subprocess.run(command, check=False, cwd=EXAMPLES.parent)


def build_packages() -> None:
    """Step 3: a .deb and an .rpm of the echo example, written in pure Python."""
    from tap2pkg.cli.tap2deb import main as tap2deb_main
    from tap2pkg.cli.tap2rpm import main as tap2rpm_main

    OUT.mkdir(parents=True, exist_ok=True)
    os.chdir(EXAMPLES.parent)
    # -u: the demo has no signing key; tap2rpm never signs (sign later with rpmsign)
    for prog, entry, extra in (("tap2deb", tap2deb_main, ["-u"]), ("tap2rpm", tap2rpm_main, [])):
        print(f"$ {prog} {shlex.join(extra + PACKAGE_OPTIONS)}", flush=True)
        code = entry(extra + PACKAGE_OPTIONS)
        if code != 0:
            raise SystemExit(code)
    print("\nout/demo now holds:")
    for path in sorted(OUT.iterdir()):
        print(f"  {path.name}{'/' if path.is_dir() else ''}")
    show(["dpkg-deb", "--info", "out/demo/echo_1.0-1_all.deb"])
    show(["rpm", "-qlp", "out/demo/echo-1.0-1.noarch.rpm"])


def verify_hint() -> None:
    """Step 4: the container proof is a separate, slower command."""
    print("To install, run, upgrade and purge them in real containers (docker engine needed):")
    print("  tap2pkg images build --offline debian:bookworm rpm-on-debian")
    print("  tap2pkg verify out/demo/echo_1.0-1_all.deb out/demo/echo-1.0-1.noarch.rpm --port 8007")


def main() -> int:
    """Run the demo."""
    step("1. application files from a plugin: tap2pkg mktap web")
    make_web_app_files()
    step("2. the echo example under tapd, for a few seconds")
    with tempfile.TemporaryDirectory(prefix="tap2pkg-demo-") as workdir:
        run_echo_example(Path(workdir))
    step("3. packages: tap2deb and tap2rpm on the echo example")
    build_packages()
    step("4. proving the packages")
    verify_hint()
    return 0


if __name__ == "__main__":
    sys.exit(main())
