"""Twisted's own documentation examples, packaged and proven in real systemd containers.

Each application file comes from the Twisted source distribution (``make
twisted-docs`` fetches it; nobody on this project wrote them). ``tap2pkg
verify`` builds each one as a .deb and an .rpm at two versions, installs it in
debian:bookworm and in the rpm-on-debian stand-in (with the distribution's
``python3-twisted`` installed from the Debian archive into a derived image),
starts it, probes its port as its own user, restarts, upgrades, removes and
purges it, and checks nothing is left behind. The .deb also runs through its
LSB init script without systemd.

Needs a docker engine and root (``make test`` sets both up).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tap2pkg.cli.tap2pkg import main

pytestmark = [pytest.mark.container, pytest.mark.slow,
              pytest.mark.skipif(shutil.which("rpmbuild") is None, reason="rpmbuild is needed")]

MAINTAINER = "Jane Doe <jane@example.org>"
DATA = Path(__file__).parent / "data" / "twisted"
DISTROS = ("debian:bookworm", "rpm-on-debian")


@dataclass(frozen=True)
class Example:
    """One of Twisted's documentation examples and how to tell it answers."""

    path: str
    send: str = ""
    expect: str = ""
    includes: tuple[str, ...] = ()


EXAMPLES = {
    # a web server on 8080 serving its working directory
    "web": Example("docs/core/howto/listings/application/service.tac", "GET / HTTP/1.0\\r\\n\\r\\n",
                   "HTTP/1.0 200"),
    # two echo servers (8080, 8081), a timer and a client of its own server
    "simple": Example("docs/core/examples/simple.tac", "hello twisted\\n", "hello twisted"),
    # finger on port 79 with Application(uid=1, gid=1) and a strports description
    "finger": Example("docs/core/howto/tutorial/listings/finger/finger11.tac", "moshez\\r\\n",
                      "Happy and well"),
    # AMP on 8750 through a server endpoint service
    "amp": Example("docs/core/howto/listings/amp/basic_server.tac"),
    # Perspective Broker on 8800, importing a module of its own that is packaged with --include
    "pb": Example("docs/core/howto/listings/pb/copy_receiver.tac",
                  includes=("docs/core/howto/listings/pb/copy_sender.py",)),
    # an SMTP server on 2025 from the mail tutorial
    "smtp": Example("docs/mail/tutorial/smtpserver/smtpserver-8.tac", "", "220 "),
}


def verify(app: Path, *args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any], str]:
    """``tap2pkg verify APP`` on both distributions; (exit code, its JSON, stderr)."""
    capsys.readouterr()
    code = main(["verify", str(app), *(f"--distro={d}" for d in DISTROS), f"--build-arg=-m{MAINTAINER}",
                 "--json", *args])
    out, err = capsys.readouterr()
    return code, json.loads(out) if out.strip() else {}, err


def steps(run: dict[str, Any]) -> dict[str, str]:
    return {step["name"]: step["status"] for step in run["steps"]}


def failed(document: dict[str, Any]) -> str:
    """The failing steps with their details and logs, for an assertion message."""
    lines = []
    for run in document.get("runs", []):
        for step in run["steps"]:
            if step["status"] == "fail":
                lines.append(f"{run['distro']} {run['init']} {step['name']}: {step['detail']}\n"
                             f"{step['log'][-3000:]}")
    return "\n".join(lines)


@pytest.mark.parametrize("example", sorted(EXAMPLES))
def test_twisted_documentation_example_runs_packaged(example: str, twisted_docs: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    spec = EXAMPLES[example]
    app = tmp_path / Path(spec.path).name
    shutil.copy(twisted_docs / spec.path, app)
    args = [f"--build-arg=--include={twisted_docs / inc}" for inc in spec.includes]
    if spec.send:
        args.append(f"--probe-send={spec.send}")
    if spec.expect:
        args.append(f"--probe-expect={spec.expect}")
    code, document, err = verify(app, *args, capsys=capsys)
    assert code == 0, failed(document) or err
    runs = document["runs"]
    # both families, and the .deb also without systemd (its init script runs the same launcher)
    assert {(r["distro"], r["init"]) for r in runs} >= {("debian:bookworm", "systemd"),
                                                        ("debian:bookworm", "sysvinit"),
                                                        ("rpm-on-debian", "systemd")}
    for run in runs:
        status = steps(run)
        assert set(status.values()) == {"pass"}, (run["distro"], run["init"], status)
        if run["init"] == "systemd":
            wanted = {"install", "running", "probe", "restart", "upgrade", "remove", "purge", "diff"}
            assert wanted <= set(status), status
    stand_in = {r["distro"]: r["stand_in"] for r in runs}
    assert stand_in["rpm-on-debian"], "the report says rpm-on-debian is a stand-in"


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """echo.tap and echo.tas saved by the real Twisted (``twisted.persisted.sob``), an echo server on 8080."""
    import subprocess
    import sys

    out = tmp_path_factory.mktemp("twisted-saved")
    subprocess.run([sys.executable, str(DATA / "make_saved.py"), str(out)], check=True)
    return out


@pytest.mark.parametrize("name", ["echo.tap", "echo.tas"])
def test_an_application_saved_by_twisted_runs_packaged(name: str, saved: Path, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """A .tap runs with twistd's -f, a .tas with -s (which bookworm's own twistd cannot load: see the
    launcher); both under the package's user, not the uid 1000 the saved application asks for."""
    app = tmp_path / name
    shutil.copy(saved / name, app)
    code, document, err = verify(app, "--probe-send=saved by twisted\\n", "--probe-expect=saved by twisted",
                                 capsys=capsys)
    assert code == 0, failed(document) or err
    assert all(set(steps(run).values()) == {"pass"} for run in document["runs"])
    assert {run["distro"] for run in document["runs"]} == set(DISTROS)


def test_a_twisted_plugin_made_into_a_tac_runs_packaged(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """``mktap --twisted web``: the .tac builds Twisted's web plugin's service; verify fetches a page.

    The issue's own command serves /srv/www, which no package installs: the build says so in a note.
    The verified one serves the package's own configuration directory, which every package installs.
    """
    srv = tmp_path / "srv" / "web.tac"
    srv.parent.mkdir()
    assert main(["mktap", "--twisted", "web", "--path", "/srv/www", "-o", str(srv)]) == 0
    capsys.readouterr()
    assert main(["build", str(srv), "-m", MAINTAINER, "-o", str(tmp_path / "srv-out"), "--format", "deb",
                 "--binary-only", "--json"]) == 0
    notes = json.loads(capsys.readouterr().out)["packages"][0]["notes"]
    assert any("/srv/www" in note and "does not install" in note for note in notes), notes
    assert any("runtime twisted" in note for note in notes)

    app = tmp_path / "web.tac"
    assert main(["mktap", "--twisted", "web", "--listen", "tcp:8080", "--path", "/etc/web",
                 "-o", str(app)]) == 0
    code, document, err = verify(app, "--probe-send=GET /web.tac HTTP/1.0\\r\\n\\r\\n",
                                 "--probe-expect=200 OK", capsys=capsys)
    assert code == 0, failed(document) or err
    assert all(set(steps(run).values()) == {"pass"} for run in document["runs"])


def test_a_twisted_plugin_on_its_default_port_below_1024_runs_packaged(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``mktap --twisted dns --recursive``: the plugin listens on 53 by default, which the arguments do not
    say. The .tac states it, the unit grants CAP_NET_BIND_SERVICE, and verify's containers, where ports
    below 1024 are root's as on a real host, prove the grant."""
    app = tmp_path / "dns53.tac"
    assert main(["mktap", "--twisted", "dns", "--recursive", "-o", str(app)]) == 0
    code, document, err = verify(app, "--port=53", capsys=capsys)
    assert code == 0, failed(document) or err
    assert all(set(steps(run).values()) == {"pass"} for run in document["runs"])
    assert {run["distro"] for run in document["runs"]} == set(DISTROS)


TAKEN_TAC = '''\
from twisted.application import internet, service
from twisted.internet import protocol
from twisted.protocols import wire

factory = protocol.ServerFactory()
factory.protocol = wire.Echo
application = service.Application("taken")
internet.TCPServer(8080, factory).setServiceParent(application)
'''
#: holds port 8080 in the container, as a transient unit of its own
SQUATTER = ("systemd-run", "--unit=squatter", "python3", "-c",
            "import socket, time; s = socket.socket(); s.bind(('0.0.0.0', 8080)); s.listen(); "
            "time.sleep(600)")


@pytest.mark.parametrize("distro", DISTROS)
def test_a_twisted_app_that_cannot_start_fails_systemctl_start(distro: str, tmp_path: Path) -> None:
    """Readiness is real: with the port taken, Twisted cannot listen, the launcher exits without READY=1
    and ``systemctl start`` fails; once the port is free the same unit starts."""
    from tap2pkg import builders
    from tap2pkg.spec import PackageSpec
    from tap2pkg.verify import DISTROS as IMAGES
    from tap2pkg.verify import VerifyContainer, build_image, connect, derive_image, read_artifact
    from tap2pkg.verify.formats import package_format

    app = tmp_path / "taken.tac"
    app.write_text(TAKEN_TAC)
    spec = PackageSpec.from_app_file(app, {"maintainer": MAINTAINER})
    fmt = "deb" if distro.startswith("debian") else "rpm"
    result = builders.choose(None, [fmt])[fmt].build(spec, tmp_path / "out",
                                                     builders.BuildOptions(source=False, binary=True))
    artifact = read_artifact(result.paths("package")[0])
    client = connect()
    image = derive_image(client, IMAGES[distro], build_image(client, IMAGES[distro], offline=True).tag,
                         [artifact])
    with VerifyContainer(client, image.tag, image_note=image.note) as box:
        assert box.run(list(SQUATTER)).ok
        assert box.run("for i in $(seq 50); do python3 -c \"import socket; "
                       "socket.create_connection(('127.0.0.1', 8080))\" 2>/dev/null && exit 0; "
                       "sleep 0.1; done; exit 1").ok
        path = box.put_file(artifact.path, "/tmp/pkg")
        formats = package_format(fmt)
        box.run(formats.install(path, upgrade=False), env=formats.env)  # its own start fails: see below
        assert box.run(["dpkg-query" if fmt == "deb" else "rpm", "-W" if fmt == "deb" else "-q",
                        "taken"]).ok, "the package is installed"
        start = box.run(["systemctl", "start", "taken"])
        assert not start.ok, start.output
        assert box.run(["systemctl", "is-active", "taken"]).output.strip() in ("failed", "activating")
        journal = box.run(["journalctl", "-u", "taken", "--no-pager"]).output
        assert "CannotListenError" in journal or "Address already in use" in journal, journal
        assert box.run(["systemctl", "stop", "squatter"]).ok
        box.run(["systemctl", "reset-failed", "taken"])
        started = box.run(["systemctl", "start", "taken"])
        assert started.ok, started.output + box.run(["journalctl", "-u", "taken", "--no-pager"]).output
        assert box.run(["systemctl", "is-active", "taken"]).output.strip() == "active"
