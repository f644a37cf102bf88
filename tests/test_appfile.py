"""appfile.inspect: what packaging learns from an application file, without running it."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from tap2pkg.appfile import AppInfo, describe_kind, inspect
from tap2pkg.runtime import persist
from tap2pkg.runtime.errors import AppFileError, AppFileNotFoundError, UnsafeAppFileError, UsageError
from tap2pkg.runtime.service import Application, Factory, Ref

DATA = Path(__file__).parent / "data" / "appfiles"
BAD = DATA / "bad"

ECHO_SERVICES = (("TCPServer", "echo-tcp"), ("UDPServer", "echo-udp"), ("TimerService", "tick"))
ECHO_REFS = ("echo_protocol:Echo", "echo_protocol:tick")


@pytest.fixture(scope="module")
def echo_tap(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tap") / "echo.tap"
    persist.save(persist.load(DATA / "echo.tas"), path)
    return path


@pytest.mark.parametrize(("name", "kind"), [("echo.tas", "source"), ("echo.tax", "xml")])
def test_inspect_text_formats(name: str, kind: str) -> None:
    info = inspect(DATA / name)
    assert info == AppInfo(DATA / name, kind, "echo", "nobody", "nogroup", ECHO_SERVICES, (8007, 8008),
                           ECHO_REFS)


def test_inspect_pickle(echo_tap: Path) -> None:
    info = inspect(echo_tap)
    assert (info.kind, info.app_name, info.services, info.ports, info.refs) == (
        "pickle", "echo", ECHO_SERVICES, (8007, 8008), ECHO_REFS)


def test_inspect_a_forced_type(echo_tap: Path, tmp_path: Path) -> None:
    renamed = tmp_path / "echo.bin"
    renamed.write_bytes(echo_tap.read_bytes())
    assert inspect(renamed, "tap").kind == "pickle"
    with pytest.raises(AppFileError, match="-y/--type"):
        inspect(renamed)
    with pytest.raises(UsageError):
        inspect(renamed, "zip")


def test_inspecting_safe_formats_imports_none_of_the_apps_code(echo_tap: Path) -> None:
    code = ("import json, sys\nfrom tap2pkg.appfile import inspect\n"
            "infos = [inspect(p).refs for p in sys.argv[1:]]\n"
            "print(json.dumps({'imported': 'echo_protocol' in sys.modules, 'refs': infos}))\n")
    files = [str(DATA / "echo.tas"), str(DATA / "echo.tax"), str(echo_tap)]
    # run from the fixture directory: an import of echo_protocol would succeed there, if anything tried
    result = subprocess.run([sys.executable, "-c", code, *files], capture_output=True, text=True, check=True,
                            cwd=DATA)
    answer = json.loads(result.stdout)
    assert answer["imported"] is False
    assert answer["refs"] == [list(ECHO_REFS)] * 3


def test_inspect_python_parses_without_running(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    path = tmp_path / "app.tac"
    path.write_text(f"open({str(marker)!r}, 'w').close()\n"
                    "from tap2pkg.runtime.service import Application\n"
                    "application = Application('parsed', uid=1000, gid='staff')\n")
    info = inspect(path)
    assert info == AppInfo(path, "python", "parsed", 1000, "staff", (), (), (), paths=(str(marker),))
    assert not marker.exists()


def test_inspect_python_with_a_computed_name(tmp_path: Path) -> None:
    path = tmp_path / "app.py"
    path.write_text("import os\nfrom tap2pkg.runtime.service import Application\n"
                    "application = Application(os.environ.get('NAME', 'x'))\n")
    assert inspect(path).app_name is None


def test_inspect_python_by_running_it_in_another_interpreter(tmp_path: Path) -> None:
    before = list(sys.path)
    info = inspect(DATA / "echo.tac", execute_python=True, search_path=[DATA])
    assert info == AppInfo(DATA / "echo.tac", "python", "echo", "nobody", "nogroup", ECHO_SERVICES,
                           (8007, 8008), ECHO_REFS)
    assert sys.path == before


def test_output_of_the_app_file_does_not_confuse_inspection(tmp_path: Path) -> None:
    path = tmp_path / "noisy.tac"
    path.write_text("import os, sys\nprint('hello from the app')\nos.write(1, b'{not json')\n"
                    "from tap2pkg.runtime.service import Application\napplication = Application('noisy')\n")
    assert inspect(path, execute_python=True).app_name == "noisy"


@pytest.mark.parametrize("execute", [False, True])
@pytest.mark.parametrize(("name", "line", "match"), [
    ("syntax_error.tac", 3, "syntax error"),
    ("no_application.tac", None, "expected a module-level variable named application"),
    ("not_application.tac", 1, "application is an int"),
])
def test_inspect_bad_python_files(name: str, line: int | None, match: str, execute: bool) -> None:
    with pytest.raises(AppFileError, match=match) as info:
        inspect(BAD / name, execute_python=execute)
    assert info.value.line == line and str(BAD / name) in str(info.value)


def test_inspect_python_that_fails_to_import_its_code(tmp_path: Path) -> None:
    path = tmp_path / "app.tac"
    path.write_text("import h2_nowhere_module\n")
    with pytest.raises(AppFileError, match="ModuleNotFoundError") as info:
        inspect(path, execute_python=True)
    assert info.value.line == 1


def test_inspect_python_that_never_finishes(tmp_path: Path) -> None:
    path = tmp_path / "slow.tac"
    path.write_text("import time\ntime.sleep(30)\n")
    with pytest.raises(AppFileError, match="longer than 1s"):
        inspect(path, execute_python=True, timeout=1)


@pytest.mark.parametrize("execute", [False, True])
def test_inspect_missing_file(execute: bool, tmp_path: Path) -> None:
    for name in ("gone.tac", "gone.tap"):
        with pytest.raises(AppFileNotFoundError):
            inspect(tmp_path / name, execute_python=execute)


@pytest.mark.parametrize(("name", "error"), [
    ("billion_laughs.tax", UnsafeAppFileError), ("external_entity.tax", UnsafeAppFileError),
    ("unsafe_import.tas", UnsafeAppFileError), ("garbage.tap", AppFileError), ("malformed.tax", AppFileError),
    ("syntax_error.tas", AppFileError), ("no_application.tas", AppFileError),
])
def test_inspect_refuses_bad_safe_files(name: str, error: type[AppFileError]) -> None:
    with pytest.raises(error):
        inspect(BAD / name)


def test_inspect_refuses_a_hostile_pickle_without_running_it(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            import os
            return os.system, (f"touch {marker}",)

    path = tmp_path / "hostile.tap"
    path.write_bytes(pickle.dumps(Payload(), protocol=4))
    with pytest.raises(UnsafeAppFileError, match="posix:system"):
        inspect(path)
    assert not marker.exists()


def test_client_ports_are_not_listening_ports(tmp_path: Path) -> None:
    from tap2pkg.runtime.internet import ClientService, TCPServer, UNIXServer
    app = Application("mixed", services=[
        TCPServer(0, Factory(Ref("m:P")), name="ephemeral"),
        ClientService("127.0.0.1", 9999, Factory(Ref("m:P")), name="client"),
        UNIXServer(str(tmp_path / "s.sock"), Factory(Ref("m:P")), name="unix"),
        TCPServer(80, Factory(Ref("m:P")), name="http"),
    ])
    path = tmp_path / "mixed.tas"
    persist.save(app, path)
    info = inspect(path)
    assert info.ports == (80,)
    assert info.refs == ("m:P",)
    assert [name for _, name in info.services] == ["ephemeral", "client", "unix", "http"]


def test_describe_kind() -> None:
    assert describe_kind("tap").startswith("pickle (.tap): ")
    assert describe_kind("python").startswith("python (.tac, .py): ")
    with pytest.raises(UsageError):
        describe_kind("yaml")


def test_parsing_a_python_app_file_does_not_load_the_runtime() -> None:
    # tap2deb/tap2rpm start faster when a .tac is only parsed: no runtime, no asyncio
    app = Path(__file__).parent / "data" / "echo" / "echo.tac"
    code = ("import sys; from tap2pkg.appfile import inspect; "
            f"info = inspect({str(app)!r}, 'python'); "
            "print(info.kind, 'asyncio' in sys.modules, 'tap2pkg.runtime.service' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["python", "False", "False"]
