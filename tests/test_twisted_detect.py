"""Twisted applications are told from tapd ones in every format, without running them."""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from tap2pkg.appfile import inspect
from tap2pkg.runtime import persist
from tap2pkg.runtime.errors import AppFileError
from tap2pkg.twisted_detect import description_port, detect, looks_like_path

DATA = Path(__file__).parent / "data"
TWISTED = DATA / "twisted"


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """echo.tap and echo.tas, saved by the real Twisted (tests/data/twisted/make_saved.py)."""
    pytest.importorskip("twisted", reason="Twisted is in the test extras: pip install -e '.[test]'")
    out = tmp_path_factory.mktemp("twisted-saved")
    subprocess.run([sys.executable, str(TWISTED / "make_saved.py"), str(out)], check=True)
    return out


def docs_tac_files(twisted_docs: Path) -> list[Path]:
    return sorted((twisted_docs / "docs").rglob("*.tac"))


def test_every_tac_in_twisteds_docs_is_a_twisted_app(twisted_docs: Path) -> None:
    files = docs_tac_files(twisted_docs)
    assert len(files) >= 40, f"expected Twisted's ~50 example .tac files under {twisted_docs}/docs"
    for path in files:
        info = inspect(path)
        assert (info.kind, info.runtime) == ("python", "twisted"), path
        assert info.evidence.startswith("imports twisted"), (path, info.evidence)


@pytest.mark.parametrize(("name", "ports", "app"), [
    # the 8081 client on the same port adds nothing; the TimerService listens on nothing
    ("core/examples/simple.tac", (8080, 8081), ("test", None, None)),
    ("core/howto/listings/application/service.tac", (8080,), ("Demo application", None, None)),
    ("core/howto/tutorial/listings/finger/finger11.tac", (79,), ("finger", 1, 1)),
    ("core/howto/listings/amp/basic_server.tac", (8750,), ("basic AMP server", None, None)),
    ("core/howto/listings/pb/copy_receiver.tac", (8800,), ("copy_receiver", None, None)),
    # strports: tcp:79, ssl:port=443:..., tcp:8000 and a pb port; a module-level /etc/users file
    ("core/howto/tutorial/listings/finger/organized-finger.tac", (79, 443, 8000, 8889), ("finger", 1, 1)),
])
def test_what_twisteds_examples_show(twisted_docs: Path, name: str, ports: tuple[int, ...],
                                     app: tuple[object, ...]) -> None:
    info = inspect(twisted_docs / "docs" / name)
    assert info.ports == ports
    assert (info.app_name, info.uid, info.gid) == app


def test_a_data_file_named_by_an_example_is_reported(twisted_docs: Path) -> None:
    info = inspect(twisted_docs / "docs/core/howto/tutorial/listings/finger/finger14.tac")
    assert info.paths == ("/etc/users",)


def test_twisted_saved_pickle_is_detected_never_refused(saved: Path) -> None:
    info = inspect(saved / "echo.tap")
    assert (info.kind, info.runtime, info.app_name, info.uid, info.gid, info.ports) == (
        "pickle", "twisted", "echo", 1000, 1000, (8080,))
    assert "twisted." in info.evidence and "pickle" in info.evidence


def test_twisted_saved_aot_source_is_detected(saved: Path) -> None:
    info = inspect(saved / "echo.tas")
    assert (info.kind, info.runtime, info.app_name, info.uid, info.gid, info.ports) == (
        "source", "twisted", "echo", 1000, 1000, (8080,))


def test_twisteds_old_xml_form_is_detected() -> None:
    info = inspect(TWISTED / "echo.tax")
    assert (info.kind, info.runtime, info.app_name, info.uid, info.gid, info.ports) == (
        "xml", "twisted", "echo", 1000, 1000, (8080, 8081))


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_every_pickle_protocol_is_read(protocol: int, tmp_path: Path) -> None:
    # GLOBAL and copyreg (0, 1), NEWOBJ (2), STACK_GLOBAL with memoized names (4, 5)
    pytest.importorskip("twisted")
    sys.path.insert(0, str(TWISTED))
    try:
        from make_saved import build  # type: ignore[import-not-found]  # tests/data/twisted, put on sys.path above
    finally:
        sys.path.remove(str(TWISTED))
    path = tmp_path / "app.tap"
    path.write_bytes(pickle.dumps(build(), protocol=protocol))
    info = inspect(path)
    assert (info.runtime, info.app_name, info.uid, info.ports) == ("twisted", "echo", 1000, (8080,))


def test_a_twisted_pickle_is_never_unpickled(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            import os
            return os.system, (f"touch {marker}",)

    internet = pytest.importorskip("twisted.application.internet")
    path = tmp_path / "hostile.tap"
    # a twisted class makes it a Twisted app: inspection must still run nothing
    path.write_bytes(pickle.dumps([internet.TCPServer, Payload()], protocol=4))
    info = inspect(path)
    assert info.runtime == "twisted"
    assert any(ref.endswith(":system") for ref in info.refs)  # what it would call is named, not called
    assert not marker.exists()


@pytest.mark.parametrize("path", [DATA / "echo" / "echo.tac", DATA / "appfiles" / "echo.tac",
                                  DATA / "appfiles" / "echo.tas", DATA / "appfiles" / "echo.tax"])
def test_tapd_app_files_stay_tapd(path: Path) -> None:
    info = inspect(path)
    assert info.runtime == "tapd"
    assert info.evidence


def test_a_tapd_pickle_stays_tapd(tmp_path: Path) -> None:
    path = tmp_path / "echo.tap"
    persist.save(persist.load(DATA / "appfiles" / "echo.tas"), path)
    info = inspect(path)
    assert (info.runtime, info.ports) == ("tapd", (8007, 8008))


def test_ports_from_the_syntax_tree(tmp_path: Path) -> None:
    path = tmp_path / "app.tac"
    path.write_text('''"""/docstrings/are/not/paths"""
from twisted.application import internet, service, strports
from twisted.internet import endpoints, reactor
PORT = 8443
WEB = "tcp:port=8001:interface=127.0.0.1"
application = service.Application("many")
internet.TCPServer(PORT, None).setServiceParent(application)
internet.UDPServer(5353, None)
internet.SSLServer(port=443, factory=None, contextFactory=None)
internet.UNIXServer("/run/app.sock", None)
strports.service(WEB, None)
strports.listen("ssl:9443:privateKey=/etc/ssl/key.pem", None)
strports.service("unix:/run/other.sock", None)
endpoints.serverFromString(reactor, "tcp6:8002")
endpoints.TCP6ServerEndpoint(reactor, port=8003)
reactor.listenTCP(8004, None)
internet.TCPClient("localhost", 9001, None)
reactor.connectTCP("localhost", 9002, None)
endpoints.clientFromString(reactor, "tcp:host=x:port=9003")
internet.TCPServer(0, None)
internet.TCPServer(int("9004"), None)
URL = "http://example.com/a"
def data():
    return f"/var/{URL}", "/var/lib/app", "/", "//x", "/two words"
''')
    info = inspect(path)
    assert info.runtime == "twisted"
    assert info.ports == (443, 5353, 8001, 8002, 8003, 8004, 8443, 9443)
    assert info.paths == ("/run/app.sock", "/var/lib/app")


@pytest.mark.parametrize(("description", "old_style", "port"), [
    ("tcp:79", False, 79), ("TCP:port=80:interface=\\:\\:1", False, 80), ("ssl:443:privateKey=k", False, 443),
    ("unix:/run/s", False, None), ("79", True, 79), ("79", False, None), ("tcp:0", False, None),
    ("tcp:99999", False, None), ("systemd:domain=INET:index=0", False, None), (None, False, None),
])
def test_server_descriptions(description: object, old_style: bool, port: int | None) -> None:
    assert description_port(description, old_style=old_style) == port


def test_a_file_that_imports_both_stays_tapd(tmp_path: Path) -> None:
    path = tmp_path / "both.tac"
    path.write_text("import twisted\nfrom tap2pkg.runtime.service import Application\n"
                    "application = Application('both')\n")
    assert inspect(path).runtime == "tapd"


@pytest.mark.parametrize("data", [b"\x80\x04garbage", b"", b"\x80\x02ctwisted.x Y\n"])
def test_broken_pickles_fall_to_the_tapd_loader(data: bytes) -> None:
    assert detect(data, "pickle").runtime == "tapd"


def test_an_xml_doctype_is_not_followed(tmp_path: Path) -> None:
    data = (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
            b'<instance class="twisted.python.components.Componentized"><string value="&e;"/></instance>')
    assert detect(data, "xml").runtime == "tapd"  # the tapd loader then refuses the DOCTYPE


# ---- tapd, given a Twisted app by hand, names Twisted's runner

@pytest.mark.parametrize(("name", "flag"), [("echo.tap", "-nf"), ("echo.tas", "-ns")])
def test_tapd_names_twistd_for_a_twisted_saved_app(saved: Path, name: str, flag: str) -> None:
    runner = rf"Twisted application.*twistd3 on Debian.*{flag} .*tap2deb/tap2rpm"
    with pytest.raises(AppFileError, match=runner):
        persist.load(saved / name)


def test_tapd_names_twistd_for_a_twisted_tac(twisted_docs: Path) -> None:
    pytest.importorskip("twisted")
    with pytest.raises(AppFileError, match=r"Twisted application.*-ny ") as info:
        persist.load(twisted_docs / "docs/core/howto/listings/amp/basic_server.tac")
    assert info.value.exit_code == 65


def test_tapd_names_twistd_when_twisted_is_missing(tmp_path: Path) -> None:
    path = tmp_path / "app.tac"
    path.write_text("from twisted.no_such_module_here import service\n")
    with pytest.raises(AppFileError, match=r"Twisted application, which tapd cannot run.*-ny "):
        persist.load(path)


def test_tapd_says_twisted_no_longer_reads_its_xml() -> None:
    with pytest.raises(AppFileError, match=r"Twisted application.*no longer reads its old XML"):
        persist.load(TWISTED / "echo.tax")


@pytest.mark.parametrize(("arguments", "ports"), [
    (["--listen", "tcp:80", "--path", "/srv/www"], (80,)),
    (["--listen=tcp:port=8443:interface=127.0.0.1"], (8443,)),
    (["--port", "8080"], (8080,)),
    (["-p", "tcp:2222", "--listen", "unix:/run/x.sock"], (2222,)),
    (["--path", "tcp:80"], ()),  # not a listening option
    (["--listen"], ()),  # no value
])
def test_ports_in_a_plugins_command_line(arguments: list[str], ports: tuple[int, ...],
                                         tmp_path: Path) -> None:
    """A .tac from ``mktap --twisted`` keeps the plugin's options as a literal list: its ports count."""
    app = tmp_path / "web.tac"
    app.write_text("from twisted.application import service\n"
                   f"ARGUMENTS = {arguments!r}\napplication = service.Application('web')\n")
    assert inspect(app).ports == ports


def test_a_string_with_control_characters_is_not_taken_for_a_path() -> None:
    """A path the app file names is shown in a note: a terminal escape in it must not reach the terminal."""
    assert looks_like_path("/srv/www")
    assert not looks_like_path("/srv/x\x1b[2K\x1b[1Gtap2deb:\x1b[32mfake")
    assert not looks_like_path("/srv/x\u2028y")
