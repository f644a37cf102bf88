"""Damaged input from someone else's repository: one line, its exit code, no traceback, nothing written.

Three readers meet such input: the ``[project]`` and ``[build-system]`` tables of a
project's ``pyproject.toml`` (exit 92), a ``.tax`` app file (exit 65, in tap2deb,
tap2rpm and tapd alike) and the record of a generated tree in ``OUTPUT/.tap2pkg/``
(exit 73). Each is driven through the real commands.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from test_cli_robustness import one_error as one_line  # the single stderr line of a failed run, checked

from tap2pkg.errors import AppFileError, OutputError
from tap2pkg.runtime import persist
from tap2pkg.tree_state import MAX_STATE_BYTES, State

BIN = Path(sys.executable).parent
EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "echo"
MAINTAINER = "Jane Doe <jane@example.org>"


def run(command: str, *args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / command), *map(str, args)], capture_output=True, text=True, check=False,
                          cwd=cwd, timeout=60)


def echo_app(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name in ("echo.tac", "echoproto.py"):
        shutil.copy(EXAMPLE / name, directory / name)
    return directory / "echo.tac"


# -- a pyproject.toml beside the app file ------------------------------------------------------------------

HEAD = '[project]\nname = "x"\nversion = "1"\n'

#: (pyproject.toml, the key the line names)
BAD_TABLES = [
    (HEAD + "dynamic = 5\n", "dynamic"),
    (HEAD + 'dynamic = [["version"]]\n', "dynamic"),
    (HEAD + 'urls = "http://x"\n', "urls"),
    (HEAD + "urls = {Home = 5}\n", "urls"),
    (HEAD + "authors = 5\n", "authors"),
    (HEAD + 'authors = ["Jane"]\n', "authors"),
    (HEAD + 'authors = [{name = "Jane"}, {name = 5}]\n', "authors"),
    (HEAD + "maintainers = [{email = true}]\n", "maintainers"),
    (HEAD + "dependencies = 5\n", "dependencies"),
    (HEAD + 'dependencies = "attrs"\n', "dependencies"),
    (HEAD + "dependencies = [1]\n", "dependencies"),
    (HEAD + "optional-dependencies = 5\n", "optional-dependencies"),
    (HEAD + 'optional-dependencies = {tls = "pyopenssl"}\n', "optional-dependencies"),
    (HEAD + "license = 5\n", "license"),
    (HEAD + "license = {}\n", "license"),
    (HEAD + 'license = {file = "L", text = "MIT"}\n', "license"),
    (HEAD + "license = {text = 5}\n", "license"),
    (HEAD + 'readme = ["README"]\n', "readme"),
    (HEAD + "readme = {file = 5}\n", "readme"),
    (HEAD + "requires-python = 3\n", "requires-python"),
    (HEAD + "description = 1979-05-27\n", "description"),
    (HEAD + 'keywords = "a, b"\n', "keywords"),
    (HEAD + "classifiers = [[1]]\n", "classifiers"),
    (HEAD + "license-files = 5\n", "license-files"),
    (HEAD + "scripts = {x = 5}\n", "scripts"),
    (HEAD + "entry-points = {group = {x = 1}}\n", "entry-points"),
    (HEAD + 'entry-points = {group = "x"}\n', "entry-points"),
    ('[project]\nname = 5\nversion = "1"\n', "name"),
    ('[project]\nname = "x"\nversion = 1.0\n', "version"),
    ('[project]\nname = "x"\ndynamic = ["version"]\nauthors = 5\n', "authors"),  # a table the backend reads
    ("project = 5\n", "[project]"),
    ('build-system = "setuptools"\n' + HEAD, "[build-system]"),
    ('[build-system]\nrequires = "setuptools"\n' + HEAD, "requires"),
    ('[build-system]\nrequires = []\nbuild-backend = 5\n' + HEAD, "build-backend"),
    ('[build-system]\nrequires = []\nbackend-path = "."\n' + HEAD, "backend-path"),
]


@pytest.mark.parametrize(("text", "key"), BAD_TABLES, ids=[f"{i}-{k}" for i, (_, k) in enumerate(BAD_TABLES)])
def test_a_malformed_pyproject_table_is_one_line_and_exit_92(tmp_path: Path, text: str, key: str) -> None:
    app = echo_app(tmp_path / "proj")
    (app.parent / "pyproject.toml").write_text(text)
    proc = run("tap2deb", "-m", MAINTAINER, "--include", "echoproto.py", "-o", tmp_path / "out", app.name,
               cwd=app.parent)
    one_line(proc, 92, key, str(app.parent / "pyproject.toml"))
    assert not (tmp_path / "out").exists()


def test_a_project_file_nested_too_deeply_is_one_line_and_exit_92(tmp_path: Path) -> None:
    app = echo_app(tmp_path / "app")
    (tmp_path / "proj").mkdir()
    (tmp_path / "proj" / "pyproject.toml").write_text("a = " + "[" * 5000 + "]" * 5000 + "\n" + HEAD)
    proc = run("tap2deb", "-m", MAINTAINER, "--include", app.parent / "echoproto.py", "--project",
               tmp_path / "proj", "-o", tmp_path / "out", app)
    one_line(proc, 92, "nested too deeply", str(tmp_path / "proj" / "pyproject.toml"))
    assert not (tmp_path / "out").exists()


def test_a_project_with_every_key_well_typed_is_read(tmp_path: Path) -> None:
    from tap2pkg.project import read_project

    (tmp_path / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n'
        'backend-path = ["."]\n' + HEAD +
        'description = "d"\nreadme = {file = "README", content-type = "text/plain"}\n'
        'requires-python = ">=3.11"\n'
        'license = {text = "MIT"}\nlicense-files = ["L"]\nauthors = [{name = "Jane", email = "j@x.org"}]\n'
        'maintainers = [{email = "m@x.org"}]\nkeywords = ["k"]\nclassifiers = ["C"]\n'
        'urls = {Homepage = "https://x.org"}\nscripts = {x = "x:main"}\ngui-scripts = {}\n'
        'entry-points = {g = {x = "x:y"}}\ndependencies = ["attrs"]\noptional-dependencies = {t = ["a"]}\n'
        "dynamic = []\n")
    project = read_project(tmp_path)
    assert (project.license, project.homepage) == ("MIT", "https://x.org")
    assert project.authors == ("Jane <j@x.org>",)


# -- a .tax app file -----------------------------------------------------------------------------------------

APP = (b'<application-file format="tap2pkg" version="1"><object class="tap2pkg.runtime.service:Application">'
       b'<str name="name">x</str></object></application-file>')

#: name -> the bytes of a .tax file that must not load
BAD_XML = {
    "utf-7": b'<?xml version="1.0" encoding="utf-7"?>\n' + APP,
    "bogus": b'<?xml version="1.0" encoding="bogus"?>\n<a/>',
    "shift_jis": b'<?xml version="1.0" encoding="shift_jis"?>\n<a/>',
    "rot13": b'<?xml version="1.0" encoding="rot13"?>\n<a/>',
    "idna": b'<?xml version="1.0" encoding="idna"?>\n<a/>',
    "punycode": b'<?xml version="1.0" encoding="punycode"?>\n<a/>',
    "utf-7 in utf-16": '<?xml version="1.0" encoding="utf-7"?><a/>'.encode("utf-16"),
    "utf-16 declared, ascii": b'<?xml version="1.0" encoding="utf-16"?>\n<a/>',
    "utf-16 bom, utf-8 declared": '<?xml version="1.0" encoding="utf-8"?><a/>'.encode("utf-16"),
    "utf-8 bom, utf-16 declared": b'\xef\xbb\xbf<?xml version="1.0" encoding="utf-16"?><a/>',
    "invalid bytes": b'<a x="\xff\xfe"/>',
    "nul": b"<a>\x00</a>",
    "deep": b"<a>" * 100_000 + b"</a>" * 100_000,
    "huge attribute": b'<a x="' + b"y" * 5_000_000 + b'"/>',
    "huge name": b"<" + b"a" * 1_000_000 + b"/>",
}


@pytest.mark.parametrize("name", list(BAD_XML))
def test_a_malformed_tax_file_is_an_app_file_error(tmp_path: Path, name: str) -> None:
    path = tmp_path / "app.tax"
    path.write_bytes(BAD_XML[name])
    with pytest.raises(AppFileError) as info:
        persist.load(path)
    assert info.value.exit_code == 65 and len(str(info.value)) < 300


@pytest.mark.parametrize("command", ["tap2deb", "tap2rpm"])
def test_a_tax_file_in_an_unsupported_encoding_does_not_build(tmp_path: Path, command: str) -> None:
    (tmp_path / "app.tax").write_bytes(BAD_XML["utf-7"])
    proc = run(command, "-m", MAINTAINER, "-o", tmp_path / "out", tmp_path / "app.tax")
    one_line(proc, 65, "app.tax:1", "'utf-7'", "UTF-8")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("name", ["bogus", "rot13"])
def test_a_tax_file_in_an_unknown_encoding_does_not_build(tmp_path: Path, name: str) -> None:
    (tmp_path / "app.tax").write_bytes(BAD_XML[name])
    proc = run("tap2deb", "-m", MAINTAINER, "-o", tmp_path / "out", tmp_path / "app.tax")
    one_line(proc, 65, "app.tax:1", f"'{name}'")


@pytest.mark.parametrize("name", ["utf-7", "bogus", "rot13"])
def test_tapd_refuses_a_tax_file_in_an_unsupported_encoding(tmp_path: Path, name: str) -> None:
    (tmp_path / "app.tax").write_bytes(BAD_XML[name])
    proc = run("tapd", "-n", "-x", tmp_path / "app.tax", cwd=tmp_path)
    one_line(proc, 65, "app.tax:1", "encoding")


def test_a_tax_file_in_latin_1_still_loads(tmp_path: Path) -> None:
    path = tmp_path / "app.tax"
    path.write_bytes(b'<?xml version="1.0" encoding="ISO-8859-1"?>\n' + APP.replace(b">x<", b">\xe9<"))
    assert persist.load(path).name == "\xe9"


# -- the record of a generated tree --------------------------------------------------------------------------

def _record(**changes: object) -> dict[str, object]:
    record: dict[str, object] = {
        "format": "rpm", "name": "echo", "version": "1.0-1", "tree": ".",
        "settings": {"maintainer": MAINTAINER, "include": ["/x/echoproto.py"], "app_file": "/x/echo.tac",
                     "app_file_name": "echo.tac"},
        "files": {"echo.spec": {"mode": 0o644, "text": "Name: echo\n"},
                  "echo.bin": {"mode": 0o755, "base64": "AAE="}}}
    record.update(changes)
    return record


#: name -> the content of a damaged record (JSON values are dumped, bytes written as they are)
BAD_RECORDS: dict[str, object] = {
    "files a number": {"files": 5},
    "not an object": [1, 2],
    "not json": b"{",
    "not utf-8": b'{"format": "\xff"}',
    "deep": b"[" * 100_000 + b"]" * 100_000,
    "format a number": _record(format=5),
    "no version": {k: v for k, v in _record().items() if k != "version"},
    "version with a bad epoch": _record(version="x:1.0-1"),
    "tree out of the output directory": _record(tree=".."),
    "tree absolute": _record(tree="/etc"),
    "tree nested": _record(tree="a/b"),
    "settings a list": _record(settings=[]),
    "settings include a number": _record(settings={"include": 5}),
    "settings nested": _record(settings={"include": [["x"]]}),
    "settings app_file_name a path": _record(settings={"app_file_name": "../../echo.tac"}),
    "files a list": _record(files=[]),
    "file out of the tree": _record(files={"../../etc/passwd": {"mode": 0o644, "text": ""}}),
    "file absolute": _record(files={"/etc/passwd": {"mode": 0o644, "text": ""}}),
    "file with an empty part": _record(files={"debian//rules": {"mode": 0o644, "text": ""}}),
    "file entry a string": _record(files={"echo.spec": "Name: echo"}),
    "mode a string": _record(files={"echo.spec": {"mode": "644", "text": ""}}),
    "mode a boolean": _record(files={"echo.spec": {"mode": True, "text": ""}}),
    "mode out of range": _record(files={"echo.spec": {"mode": 1 << 40, "text": ""}}),
    "no content": _record(files={"echo.spec": {"mode": 0o644}}),
    "text and base64": _record(files={"echo.spec": {"mode": 0o644, "text": "", "base64": ""}}),
    "text a number": _record(files={"echo.spec": {"mode": 0o644, "text": 5}}),
    "bad base64": _record(files={"echo.spec": {"mode": 0o644, "base64": "*not base64*"}}),
    "lone surrogate": b'{"format": "rpm", "name": "echo", "version": "1.0-1", "tree": ".", "settings": {}, '
                      b'"files": {"echo.spec": {"mode": 420, "text": "\\ud800"}}}',
}


def _write_record(path: Path, content: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content if isinstance(content, bytes) else json.dumps(content).encode())


def test_a_sound_record_loads_as_it_was_saved(tmp_path: Path) -> None:
    state = State("rpm", "echo", "1:1.0-1", ".", {"x": [1, None], "app_file_name": "echo.tac"},
                  {"echo.spec": (b"Name: echo\n", 0o644), "lib/a b": (b"\xff", 0o755)})
    path = state.save(tmp_path)
    assert State.load(path) == state
    _write_record(path, _record())
    assert State.load(path) is not None


@pytest.mark.parametrize("name", list(BAD_RECORDS))
def test_a_damaged_record_is_an_output_error(tmp_path: Path, name: str) -> None:
    path = tmp_path / ".tap2pkg" / "rpm-echo.json"
    _write_record(path, BAD_RECORDS[name])
    with pytest.raises(OutputError) as info:
        State.load(path)
    message = str(info.value)
    assert info.value.exit_code == 73 and "remove it" in message and len(message) < 400, message


@pytest.mark.parametrize("command", ["tap2rpm", "tap2deb"])
def test_a_build_beside_a_damaged_record_says_how_to_go_on(tmp_path: Path, command: str) -> None:
    app = echo_app(tmp_path / "app")
    out = tmp_path / "out"
    _write_record(out / ".tap2pkg" / ("rpm-echo.json" if command == "tap2rpm" else "deb-echo-1.0.json"),
                  {"files": 5})
    proc = run(command, "-m", MAINTAINER, "--include", app.parent / "echoproto.py", "-o", out, app)
    one_line(proc, 73, ".tap2pkg", "remove it")
    assert sorted(p.name for p in out.iterdir()) == [".tap2pkg"]


@pytest.mark.parametrize("kind", ["fifo", "link to a device", "link to a file", "directory"])
def test_a_record_that_is_no_regular_file_is_refused_without_reading_it(tmp_path: Path, kind: str) -> None:
    path = tmp_path / ".tap2pkg" / "rpm-echo.json"
    path.parent.mkdir()
    if kind == "fifo":
        os.mkfifo(path)  # reading it would wait for a writer for ever
    elif kind == "link to a device":
        path.symlink_to("/dev/zero")  # reading it would never end
    elif kind == "link to a file":
        _write_record(tmp_path / "elsewhere.json", _record())
        path.symlink_to(tmp_path / "elsewhere.json")
    else:
        path.mkdir()
    with pytest.raises(OutputError) as info:
        State.load(path)
    assert "remove it" in str(info.value)


def test_a_record_larger_than_the_bound_is_refused_without_reading_it_whole(tmp_path: Path) -> None:
    path = tmp_path / "rpm-echo.json"
    with path.open("wb") as fh:  # sparse: no disk is used
        fh.truncate(MAX_STATE_BYTES + 1)
    with pytest.raises(OutputError) as info:
        State.load(path)
    assert "larger than" in str(info.value)


def test_a_missing_record_is_none(tmp_path: Path) -> None:
    assert State.load(tmp_path / "rpm-echo.json") is None
