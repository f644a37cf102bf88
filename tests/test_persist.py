"""Application files: the four formats round trip, and bad or hostile files are refused cleanly."""

from __future__ import annotations

import copy
import json
import os
import pickle
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tap2pkg.runtime import persist
from tap2pkg.runtime.errors import (
    AppFileError,
    AppFileNotFoundError,
    OutputError,
    UnsafeAppFileError,
    UsageError,
)
from tap2pkg.runtime.service import (
    REGISTRY,
    Application,
    Factory,
    MultiService,
    Persistable,
    Ref,
    Service,
    describe,
    persistable,
)

DATA = Path(__file__).parent / "data" / "appfiles"
BAD = DATA / "bad"
SAVED_KINDS = {"tap": "pickle", "tas": "source", "tax": "xml"}

persist.ensure_registry()


# ---------------------------------------------------------------------------
# sample objects for every registered class

#: sample constructor arguments, by field name, for classes the tests did not write
FIELD_SAMPLES: dict[str, Any] = {
    "name": "sample",
    "port": 8123,
    "factory": Factory(Ref("echo_protocol:Echo"), {"greeting": "hi", "count": 3}),
    "protocol": Ref("echo_protocol:Echo"),
    "options": {"greeting": "hi", "list": [1, 2.5, None]},
    "interface": "127.0.0.1",
    "backlog": 7,
    "path": "/run/sample/sample.sock",
    "mode": 0o600,
    "interval": 2.5,
    "callable": Ref("echo_protocol:tick"),
    "args": ("a", 1),
    "kwargs": {"flag": True},
    "now": False,
    "host": "127.0.0.1",
    "initial_delay": 0.5,
    "max_delay": 30.0,
    "factor": 2.0,
    "jitter": 0.1,
    "services": [Service("child")],
    "uid": 1000,
    "gid": "nogroup",
    "target": "echo_protocol:Echo",
    "root": "/srv/www",
    "index": "index.html",
    "listing": False,
    "dest_port": 8124,
    "connect_timeout": 5.0,
    "command": ["/bin/true", "--flag"],
    "commands": [["/bin/true"], ["/bin/sleep", "1"]],
    "timeout": 10.0,
    "processes": {"worker": {"args": ["/bin/sleep", "60"], "env": {"LANG": "C"}, "cwd": "/",
                             "uid": None, "gid": None}},
    "threshold": 2.0,
    "kill_time": 3.0,
    "min_restart_delay": 0.5,
    "max_restart_delay": 60.0,
}


def _sample(cls: type[Persistable]) -> Persistable:
    kwargs = {f: copy.deepcopy(FIELD_SAMPLES[f]) for f in cls.persist_fields if f in FIELD_SAMPLES}
    return cls(**kwargs)


def _wrap(value: Any) -> Application:
    """An application holding ``value`` somewhere a saved file must carry it."""
    if isinstance(value, Service):
        return Application("roundtrip", uid=0, gid="root", services=[value])
    return Application("roundtrip", services=[Holder(name="holder", value=value)])


class Holder(Service):
    """A test-only service that keeps any value (registered only while the tests use it)."""

    persist_fields = ("name", "value")

    def __init__(self, name: str | None = None, value: Any = None) -> None:
        super().__init__(name)
        self.value = value


@pytest.fixture(autouse=True)
def registered_holder() -> Iterator[None]:
    persistable(Holder)
    yield
    REGISTRY.pop(f"{Holder.__module__}:{Holder.__qualname__}", None)


@pytest.fixture(autouse=True)
def isolated_imports() -> Iterator[None]:
    """Loading a .tac imports the app's code and extends sys.path; undo both for the other tests."""
    path, modules = list(sys.path), set(sys.modules)
    yield
    sys.path[:] = path
    for name in set(sys.modules) - modules:
        if name in ("echo_protocol", "h2_not_on_path_mod", persist.PYTHON_APP_MODULE):
            del sys.modules[name]


def _roundtrip(app: Application, tmp_path: Path, ext: str) -> Application:
    path = tmp_path / f"app.{ext}"
    persist.save(app, path)
    return persist.load(path)


REGISTERED = sorted(REGISTRY)


@pytest.mark.parametrize("ext", sorted(SAVED_KINDS))
@pytest.mark.parametrize("key", REGISTERED)
def test_every_registered_runtime_object_round_trips(key: str, ext: str, tmp_path: Path) -> None:
    obj = REGISTRY[key]
    if isinstance(obj, type) and issubclass(obj, Persistable) and obj is not Ref:
        try:
            value: Any = _sample(obj)
        except Exception as exc:  # noqa: BLE001 -- a class the sample table cannot build is reported, not hidden
            pytest.skip(f"cannot build {key} from the sample table: {exc}")
    else:
        value = obj  # a registered callable or protocol class, saved as a reference
    app = _wrap(value)
    loaded = _roundtrip(app, tmp_path, ext)
    assert describe(loaded) == describe(app)


@pytest.mark.parametrize("ext", sorted(SAVED_KINDS))
def test_literal_values_keep_their_type_and_content(ext: str, tmp_path: Path) -> None:
    value = {
        "text": "héllo\tworld <&> 'quoted' \"double\" ]]>",
        "control": "line1\r\nline2\x00\x1b[0m",
        "bytes": b"\x00\xffraw",
        "ints": [0, -5, 2**70, -(2**70)],
        "floats": (1.5, -0.25, float("inf"), float("-inf"), 1e-300),
        "single": ("one",),
        "flags": [True, False, None],
        "nested": {"empty_list": [], "empty_dict": {}, "empty_tuple": (), "deep": [[{"k": (1, [2])}]]},
        "ref": Ref("mymodule:Thing.method"),
        "odd\x01key\r\n\t<&\"'>": "value",
    }
    app = _wrap(value)
    loaded = _roundtrip(app, tmp_path, ext)
    holder = loaded.get_service_named("holder")
    assert isinstance(holder, Holder)
    assert holder.value == value
    assert [type(v) for v in holder.value["floats"]] == [float] * 5
    assert holder.value["flags"][0] is True and isinstance(holder.value["single"], tuple)
    assert holder.value["ref"] == Ref("mymodule:Thing.method")


@pytest.mark.parametrize("ext", sorted(SAVED_KINDS))
def test_nested_tree_and_application_settings_round_trip(ext: str, tmp_path: Path) -> None:
    app = Application("tree", uid="nobody", gid=65534, services=[
        MultiService("group", [Service("a"), Service(None), MultiService("inner", [Service("b")])]),
        Service("last"),
    ])
    loaded = _roundtrip(app, tmp_path, ext)
    assert describe(loaded) == describe(app)
    assert [s.name for s in loaded] == ["group", "last"]
    assert loaded.uid == "nobody" and loaded.gid == 65534


@pytest.mark.parametrize("ext", sorted(SAVED_KINDS))
def test_user_classes_are_saved_as_references_and_never_imported_on_load(ext: str, tmp_path: Path) -> None:
    # the .tac imports the app's own module; the saved file must only name it
    app = persist.load(DATA / "echo.tac", search_path=[DATA])
    saved = tmp_path / f"echo.{ext}"
    persist.save(app, saved)
    code = ("import json, sys\nfrom tap2pkg.runtime import persist\n"
            "from tap2pkg.runtime.service import describe\n"
            "app = persist.load(sys.argv[1])\n"
            "print(json.dumps({'imported': 'echo_protocol' in sys.modules, 'tree': describe(app)}))\n")
    result = subprocess.run([sys.executable, "-c", code, str(saved)], capture_output=True, text=True,
                            check=True, cwd=tmp_path)
    answer = json.loads(result.stdout)
    assert answer["imported"] is False
    assert answer["tree"] == json.loads(json.dumps(describe(app)))
    assert answer["tree"]["services"][0]["factory"]["protocol"] == {"ref": "echo_protocol:Echo"}


def test_the_three_example_files_describe_the_same_application() -> None:
    from_python = describe(persist.load(DATA / "echo.tac", search_path=[DATA]))
    assert describe(persist.load(DATA / "echo.tas")) == from_python
    assert describe(persist.load(DATA / "echo.tax")) == from_python


def test_source_file_is_readable_python_syntax_with_one_keyword_per_line(tmp_path: Path) -> None:
    app = persist.load(DATA / "echo.tas")
    path = tmp_path / "echo.tas"
    persist.save(app, path)
    text = path.read_text()
    assert text.startswith("# tap2pkg application file")
    assert "application = Application(\n    name='echo',\n    uid='nobody',\n" in text
    assert "            port=8007,\n" in text
    assert "protocol=Ref('echo_protocol:Echo')," in text
    compile(text, str(path), "exec")  # it is valid Python syntax


def test_source_file_may_name_runtime_objects_by_reference(tmp_path: Path) -> None:
    from tap2pkg.runtime.internet import TCPServer
    path = tmp_path / "ref.tas"
    path.write_text("application = Application('x', services=[\n"
                    "    TCPServer(8000, Factory(Ref('tap2pkg.runtime.service:Service'), {'offset': -1})),\n"
                    "    Service(name='plain'),\n])\n")
    app = persist.load(path)
    server = app.services[0]
    assert isinstance(server, TCPServer) and server.factory.protocol is Service
    assert server.factory.options == {"offset": -1}
    assert describe(app.services[1])["name"] == "plain"


def test_xml_file_follows_the_documented_schema(tmp_path: Path) -> None:
    import xml.etree.ElementTree as ET
    app = persist.load(DATA / "echo.tas")
    path = tmp_path / "echo.tax"
    persist.save(app, path)
    root = ET.fromstring(path.read_bytes())
    assert (root.tag, root.get("format"), root.get("version")) == ("application-file", "tap2pkg", "1")
    (application,) = list(root)
    assert application.get("class") == "tap2pkg.runtime.service:Application"
    server = application.find("list[@name='services']/object")
    assert server is not None
    port = server.find("int[@name='port']")
    assert port is not None and port.text == "8007"
    ref = server.find("object[@name='factory']/ref[@name='protocol']")
    assert ref is not None and ref.get("target") == "echo_protocol:Echo"


# ---------------------------------------------------------------------------
# kinds and suffixes

@pytest.mark.parametrize(("name", "kind"), [("a.tac", "python"), ("a.py", "python"), ("a.tap", "pickle"),
                                            ("a.tas", "source"), ("a.tax", "xml"), ("A.TAP", "pickle")])
def test_kind_comes_from_the_suffix(name: str, kind: str) -> None:
    assert persist.detect_kind(name) == kind


@pytest.mark.parametrize(("alias", "kind"), [("tap", "pickle"), ("tac", "python"), ("py", "python"),
                                             ("tas", "source"), ("tax", "xml"), ("xml", "xml")])
def test_a_forced_kind_wins_over_the_suffix(alias: str, kind: str, tmp_path: Path) -> None:
    assert persist.detect_kind("anything.bin", alias) == kind


def test_unknown_suffix_names_the_kinds_and_the_type_option() -> None:
    with pytest.raises(AppFileError) as info:
        persist.detect_kind("app.conf")
    assert "'.conf'" in str(info.value) and ".tap" in str(info.value) and "-y/--type" in str(info.value)


def test_unknown_forced_kind_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="'yaml'"):
        persist.detect_kind("app.tap", "yaml")


def test_forced_kind_loads_a_file_with_any_name(tmp_path: Path) -> None:
    path = tmp_path / "application.data"
    persist.save(Application("forced"), path, "tap")
    assert persist.load(path, "pickle").name == "forced"


# ---------------------------------------------------------------------------
# bad input

@pytest.mark.parametrize("name", ["missing.tac", "missing.tap", "missing.tas", "missing.tax"])
def test_missing_file(name: str, tmp_path: Path) -> None:
    with pytest.raises(AppFileNotFoundError) as info:
        persist.load(tmp_path / name)
    assert str(tmp_path / name) in str(info.value) and "No such file" in str(info.value)
    assert info.value.exit_code == 66


def test_a_directory_is_not_an_app_file(tmp_path: Path) -> None:
    (tmp_path / "dir.tap").mkdir()
    with pytest.raises(AppFileNotFoundError):
        persist.load(tmp_path / "dir.tap")


@pytest.mark.parametrize(("name", "line"), [("syntax_error.tac", 3), ("syntax_error.tas", 3)])
def test_syntax_error_names_the_line(name: str, line: int) -> None:
    with pytest.raises(AppFileError) as info:
        persist.load(BAD / name)
    assert info.value.line == line
    assert str(info.value).startswith(f"{BAD / name}:{line}: syntax error")
    assert type(info.value) is AppFileError and info.value.exit_code == 65


@pytest.mark.parametrize("name", ["no_application.tac", "no_application.tas"])
def test_no_application(name: str) -> None:
    with pytest.raises(AppFileError, match="expected a module-level variable named application"):
        persist.load(BAD / name)


def test_no_application_in_xml(tmp_path: Path) -> None:
    path = tmp_path / "empty.tax"
    path.write_text('<application-file format="tap2pkg" version="1"/>\n')
    with pytest.raises(AppFileError, match="no application defined"):
        persist.load(path)


@pytest.mark.parametrize("name", ["not_application.tac", "not_application.tas"])
def test_application_that_is_not_an_application(name: str) -> None:
    with pytest.raises(AppFileError, match="application is an int, not an Application"):
        persist.load(BAD / name)


def test_pickle_and_xml_holding_something_else(tmp_path: Path) -> None:
    (tmp_path / "three.tap").write_bytes(pickle.dumps(3, protocol=4))
    with pytest.raises(AppFileError, match="application is an int"):
        persist.load(tmp_path / "three.tap")
    (tmp_path / "service.tax").write_text(
        '<application-file format="tap2pkg" version="1">'
        '<object class="tap2pkg.runtime.service:Service"><str name="name">x</str></object>'
        "</application-file>")
    with pytest.raises(AppFileError, match=r"application is a tap2pkg\.runtime\.service\.Service"):
        persist.load(tmp_path / "service.tax")


def test_truncated_pickle(tmp_path: Path) -> None:
    good = tmp_path / "good.tap"
    persist.save(persist.load(DATA / "echo.tas"), good)
    data = good.read_bytes()
    for cut in (1, len(data) // 3, len(data) // 2, len(data) - 1):
        (tmp_path / "cut.tap").write_bytes(data[:cut])
        with pytest.raises(AppFileError) as info:
            persist.load(tmp_path / "cut.tap")
        assert type(info.value) is AppFileError, f"cut at {cut}: {info.value}"


def test_garbage_pickle() -> None:
    with pytest.raises(AppFileError, match=r"not a valid \.tap pickle") as info:
        persist.load(BAD / "garbage.tap")
    assert type(info.value) is AppFileError


def test_random_bytes_never_escape_as_raw_exceptions(tmp_path: Path) -> None:
    import random
    rng = random.Random(1234)
    for ext in ("tap", "tas", "tax", "tac"):
        for size in (0, 1, 17, 300):
            path = tmp_path / f"noise.{ext}"
            path.write_bytes(bytes(rng.randrange(256) for _ in range(size)))
            with pytest.raises(AppFileError):
                persist.load(path)


class _Payload:
    """Pickles as a call to ``func(*args)``: what a hostile .tap would hold."""

    def __init__(self, func: Any, *args: Any) -> None:
        self.func, self.args = func, args

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return self.func, self.args


def _hostile_payloads(marker: Path) -> dict[str, Any]:
    import builtins
    return {
        "posix:system": _Payload(os.system, f"touch {marker}"),
        "builtins:eval": _Payload(builtins.eval, f"open({str(marker)!r}, 'w').close()"),
        "subprocess:Popen": _Payload(subprocess.Popen, ["touch", str(marker)]),
        # a registered class is allowed, but calling what it builds is not: Ref('os:system')(...)
        "a call to a Ref object": _Payload(Ref("os:system"), f"touch {marker}"),
    }


@pytest.mark.parametrize("name", ["posix:system", "builtins:eval", "subprocess:Popen",
                                  "a call to a Ref object"])
def test_hostile_pickle_is_refused_without_running(name: str, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    data = pickle.dumps(_hostile_payloads(marker)[name], protocol=4)
    # the payload is real: an ordinary unpickler runs it
    result = pickle.loads(data)
    if isinstance(result, subprocess.Popen):
        result.wait()
    assert marker.exists()
    marker.unlink()

    path = tmp_path / "hostile.tap"
    path.write_bytes(data)
    with pytest.raises(UnsafeAppFileError) as info:
        persist.load(path)
    assert name in str(info.value) and str(path) in str(info.value)
    assert "Ref('module:name')" in str(info.value)
    assert info.value.exit_code == 76
    assert not marker.exists()


def test_hostile_pickle_inside_a_valid_application_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    app = Application("innocent", services=[Holder(name="h", value=_Payload(os.system, f"touch {marker}"))])
    path = tmp_path / "app.tap"
    path.write_bytes(pickle.dumps(app, protocol=4))
    with pytest.raises(UnsafeAppFileError, match="posix:system"):
        persist.load(path)
    assert not marker.exists()


@pytest.mark.parametrize("protocol", [0, 1, 2, 3, 4, 5])
def test_every_pickle_protocol_is_refused_for_foreign_globals(protocol: int, tmp_path: Path) -> None:
    path = tmp_path / "app.tap"
    path.write_bytes(pickle.dumps(_Payload(shutil.rmtree, str(tmp_path / "nothing")), protocol=protocol))
    with pytest.raises(UnsafeAppFileError, match="shutil:rmtree"):
        persist.load(path)


def test_hostile_source_file_is_refused_without_running(tmp_path: Path) -> None:
    shutil.copy(BAD / "unsafe_import.tas", tmp_path / "app.tas")
    with pytest.raises(UnsafeAppFileError) as info:
        persist.load(tmp_path / "app.tas")
    assert info.value.line == 3 and "__import__('os').system" in str(info.value)
    assert not (tmp_path / "MARKER").exists() and not Path("MARKER").exists()


@pytest.mark.parametrize(("text", "line", "what"), [
    ("import os\napplication = Application('x')\n", 1, "an import"),
    ("application = Application(name=os.environ)\n", 1, "attribute access"),
    ("application = Application(name=NAME)\n", 1, "a name"),
    ("application = Application(\n  name=f'{1}')\n", 2, "an f-string"),
    ("application = Application(\n\n  name=(lambda: 1))\n", 3, "a lambda"),
    ("application = Application(name=open('/etc/passwd'))\n", 1, "a call to open"),
    ("application = Application(name=os.system('true'))\n", 1, "a call to os.system"),
    ("application = Application('x', services=[s for s in ()])\n", 1, "ListComp"),
    ("application = Application(**{'name': 'x'})\n", 1, "** arguments"),
    ("def f():\n    pass\napplication = Application('x')\n", 1, "a function definition"),
    ("application = Application('x', services=[Service(name=1 + 2)])\n", 1, "BinOp"),
])
def test_source_constructs_that_could_run_code_are_refused(text: str, line: int, what: str,
                                                           tmp_path: Path) -> None:
    path = tmp_path / "app.tas"
    path.write_text(text)
    with pytest.raises(UnsafeAppFileError) as info:
        persist.load(path)
    assert info.value.line == line and what in str(info.value)


def test_source_file_reports_bad_arguments_with_the_line(tmp_path: Path) -> None:
    path = tmp_path / "app.tas"
    path.write_text("application = Application(\n    name='x',\n    services=[\n"
                    "        Service(nmae='typo'),\n    ],\n)\n")
    with pytest.raises(AppFileError) as info:
        persist.load(path)
    assert info.value.line == 4 and "nmae" in str(info.value)


@pytest.mark.parametrize("name", ["billion_laughs.tax", "external_entity.tax"])
def test_xml_with_a_doctype_is_refused(name: str) -> None:
    with pytest.raises(UnsafeAppFileError) as info:
        persist.load(BAD / name)
    assert info.value.line == 2 and "DOCTYPE" in str(info.value)


def test_malformed_xml_names_the_line() -> None:
    with pytest.raises(AppFileError) as info:
        persist.load(BAD / "malformed.tax")
    assert info.value.line == 4 and "mismatched tag" in str(info.value)


@pytest.mark.parametrize(("body", "error", "match"), [
    ('<object class="os:system"/>', UnsafeAppFileError, "refusing to build os:system"),
    ('<object class="tap2pkg.runtime.plugins.timer:run_command"/>', UnsafeAppFileError, "refusing to build"),
    ('<object class="tap2pkg.runtime.service:Application"><int name="name">x</int></object>', AppFileError,
     "bad <int> value 'x'"),
    ('<object class="tap2pkg.runtime.service:Application"><str>x</str></object>', AppFileError,
     "needs a 'name' attribute"),
    ('<object class="tap2pkg.runtime.service:Application"><code name="name">x</code></object>', AppFileError,
     "unknown element <code>"),
])
def test_xml_elements_are_checked(body: str, error: type[Exception], match: str, tmp_path: Path) -> None:
    path = tmp_path / "app.tax"
    path.write_text(f'<?xml version="1.0"?>\n<application-file format="tap2pkg" version="1">\n{body}\n'
                    "</application-file>\n")
    with pytest.raises(error, match=match) as info:
        persist.load(path)
    assert getattr(info.value, "line", None) == 3


def test_xml_of_another_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "app.tax"
    path.write_text('<application-file format="tap2pkg" version="9"/>\n')
    with pytest.raises(AppFileError, match=r"unsupported \.tax version '9'"):
        persist.load(path)


def test_python_file_error_names_the_line_and_search_path_helps(tmp_path: Path) -> None:
    path = tmp_path / "app.tac"
    path.write_text("# needs its module\n\nimport h2_not_on_path_mod\napplication = h2_not_on_path_mod.app\n")
    with pytest.raises(AppFileError) as info:
        persist.load(path)
    assert info.value.line == 3 and "ModuleNotFoundError" in str(info.value)
    assert "search path" in str(info.value)
    code = tmp_path / "code"
    code.mkdir()
    (code / "h2_not_on_path_mod.py").write_text(
        "from tap2pkg.runtime.service import Application\napp = Application('found')\n")
    assert persist.load(path, search_path=[code]).name == "found"


# ---------------------------------------------------------------------------
# saving

def test_save_is_atomic_and_refuses_what_it_cannot_save(tmp_path: Path) -> None:
    path = tmp_path / "app.tas"
    persist.save(Application("first"), path)
    before = path.read_bytes()
    for ext in SAVED_KINDS:
        with pytest.raises(AppFileError, match=r"cannot save application\.services\[0\]\.value: a set"):
            persist.save(_wrap({1, 2}), path.with_suffix(f".{ext}"))
    with pytest.raises(AppFileError, match="is a lambda"):
        persist.save(_wrap(lambda: None), path)
    with pytest.raises(AppFileError, match="dict key 1 is not a str"):
        persist.save(_wrap({1: "x"}), path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["app.tas"]


def test_save_keeps_the_mode_of_the_file_it_replaces(tmp_path: Path) -> None:
    path = tmp_path / "app.tap"
    persist.save(Application("one"), path)
    path.chmod(0o640)
    persist.save(Application("two"), path)
    assert path.stat().st_mode & 0o777 == 0o640 and persist.load(path).name == "two"


def test_save_into_a_missing_directory_is_an_output_error(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match=r"nowhere/app\.tap"):
        persist.save(Application("x"), tmp_path / "nowhere" / "app.tap")


def test_python_files_cannot_be_saved(tmp_path: Path) -> None:
    with pytest.raises(AppFileError, match="cannot save an application as python"):
        persist.save(Application("x"), tmp_path / "app.tac")


# ---------------------------------------------------------------------------
# the built-in plugins' services, as `tap2pkg mktap` saves them

PLUGIN_ARGV = {
    "web": ["--port", "8080", "--path", "/srv/www", "--listing"],
    "echo": ["--port", "8007"],
    "portforward": ["--port", "8080", "--host", "127.0.0.1", "--dest-port", "80"],
    "procmon": ["--command", "/bin/sleep 60", "--command", "/bin/true --flag"],
    "timer": ["--interval", "5", "--command", "/bin/true --flag"],
}


def _builtin_plugins() -> list[str]:
    try:
        from tap2pkg.runtime.plugins import builtin_plugins
    except ImportError:
        return []
    return sorted(builtin_plugins())


@pytest.mark.parametrize("ext", sorted(SAVED_KINDS))
@pytest.mark.parametrize("plugin", _builtin_plugins())
def test_every_builtin_plugin_service_round_trips(plugin: str, ext: str, tmp_path: Path) -> None:
    from tap2pkg.runtime.plugins import builtin_plugins
    maker = builtin_plugins()[plugin]
    service = maker.make_service(maker.parse_options(PLUGIN_ARGV.get(plugin, [])))
    app = Application(plugin, services=[service])
    loaded = _roundtrip(app, tmp_path, ext)
    assert describe(loaded) == describe(app)


# ---------------------------------------------------------------------------
# hand-made pickles that try to get around the restrictions

@pytest.mark.parametrize(("data", "what"), [
    # BUILD on a class: would set attributes of the runtime's own Ref class
    (b"ctap2pkg.runtime.service\nRef\nN}S'resolve'\nNs\x86b.", "state for tap2pkg.runtime.service:Ref"),
    # INST: protocol-0 instantiation
    (b"(itap2pkg.runtime.service\nService\n.", "an old-style instance"),
    # APPEND into a runtime object instead of a list
    (b"ctap2pkg.runtime.service\nService\n)\x81Na.", "items added to a Service object"),
    # a registered function may be named but never called
    (b"ctap2pkg.runtime.plugins.timer\nrun_command\n(]tR.",
     "a call to tap2pkg.runtime.plugins.timer:run_command"),
    # persistent ids and the copyreg extension registry are not used by .tap files
    (b"P1\n.", "a persistent id"),
    (b"\x80\x02\x82\x01.", "an extension code"),
])
def test_handmade_pickles_cannot_escape(data: bytes, what: str, tmp_path: Path) -> None:
    path = tmp_path / "app.tap"
    path.write_bytes(data)
    with pytest.raises(UnsafeAppFileError) as info:
        persist.load(path)
    assert what in str(info.value)
    assert "resolve" in vars(Ref)


@pytest.mark.parametrize("ext", sorted(SAVED_KINDS))
def test_subclasses_of_plain_values_are_saved_as_plain_values(ext: str, tmp_path: Path) -> None:
    import enum

    class Color(enum.IntEnum):
        RED = 1

    class Name(str):
        pass

    loaded = _roundtrip(_wrap({"color": Color.RED, "name": Name("x"), Name("key"): 2.0}), tmp_path, ext)
    holder = loaded.get_service_named("holder")
    assert isinstance(holder, Holder)
    value = holder.value
    assert value == {"color": 1, "name": "x", "key": 2.0}
    assert type(value["color"]) is int and type(value["name"]) is str


def test_saved_pickle_names_only_registered_runtime_objects(tmp_path: Path) -> None:
    import pickletools
    app = persist.load(DATA / "echo.tac", search_path=[DATA])
    path = tmp_path / "echo.tap"
    persist.save(app, path)
    names = [arg for op, arg, _ in pickletools.genops(path.read_bytes())
             if op.name in ("SHORT_BINUNICODE", "BINUNICODE") and isinstance(arg, str)]
    assert "echo_protocol" not in names  # never as a module a global is looked up in...
    assert "echo_protocol:Echo" in names  # ...only as the text of a Ref
    runtime = {"tap2pkg.runtime.service", "tap2pkg.runtime.internet", "tap2pkg.runtime.timer",
               "tap2pkg.runtime.client"}
    assert {n for n in names if n.startswith("tap2pkg.")} <= runtime


def test_source_file_qualifies_class_names_that_two_modules_share(tmp_path: Path) -> None:
    other = type("Service", (Service,), {"__module__": "h2_fake_plugin", "__qualname__": "Service"})
    key = "h2_fake_plugin:Service"
    REGISTRY[key] = other
    try:
        app = Application("twins", services=[Service("ours"), other("theirs")])
        path = tmp_path / "twins.tas"
        persist.save(app, path)
        text = path.read_text()
        assert "tap2pkg.runtime.service.Service(" in text and "h2_fake_plugin.Service(" in text
        loaded = persist.load(path)
        assert [type(s) for s in loaded] == [Service, other]
        path.write_text("application = Application('x', services=[Service(name='which')])\n")
        with pytest.raises(AppFileError, match=r"Service is ambiguous.*h2_fake_plugin\.Service"):
            persist.load(path)
    finally:
        del REGISTRY[key]


# ---------------------------------------------------------------------------
# bounded trees: what a file may make the loaders (and every later walk) go through

def _app_with_options(options: dict[str, Any]) -> Application:
    from tap2pkg.runtime.internet import TCPServer
    app = Application("bounded")
    TCPServer(0, Factory(Ref("echo_protocol:Echo"), options), name="server").set_service_parent(app)
    return app


def _server_options(app: Application) -> dict[str, Any]:
    from tap2pkg.runtime.internet import TCPServer
    server = app.get_service_named("server")
    assert isinstance(server, TCPServer)
    options: dict[str, Any] = server.factory.options
    return options


def _pickled(app: Application, tmp_path: Path) -> Path:
    from tap2pkg.runtime.persist_pickle import dumps_pickle
    path = tmp_path / "app.tap"
    path.write_bytes(dumps_pickle(app, path))  # pickled as is: shared values stay shared
    return path


def test_a_list_doubled_through_the_pickle_memo_is_refused_at_once(tmp_path: Path) -> None:
    doubled: list[Any] = []
    for _ in range(30):
        doubled = [doubled, doubled]  # 2**30 lists when walked, in a file of under 500 bytes
    path = _pickled(_app_with_options({"data": doubled}), tmp_path)
    assert path.stat().st_size < 500
    with pytest.raises(AppFileError, match=rf"too large: more than {persist.MAX_VALUES} values"):
        persist.load(path)


def test_a_list_inside_itself_is_refused(tmp_path: Path) -> None:
    looped: list[Any] = [1]
    looped.append(looped)
    with pytest.raises(AppFileError, match="a list of 2 items contains itself"):
        persist.load(_pickled(_app_with_options({"data": looped}), tmp_path))


def test_a_value_shared_a_few_times_is_fine(tmp_path: Path) -> None:
    shared = ["a", "b"]
    app = persist.load(_pickled(_app_with_options({"one": shared, "two": shared}), tmp_path))
    assert _server_options(app) == {"one": ["a", "b"], "two": ["a", "b"]}


def _nested(levels: int) -> Any:
    value: Any = "bottom"
    for _ in range(levels):
        value = [value]
    return value


@pytest.mark.parametrize("ext", sorted(SAVED_KINDS))
def test_nesting_is_bounded_the_same_in_every_format(ext: str, tmp_path: Path) -> None:
    # the application, its list of services, the server, the factory, the options dict: 5 levels
    # above the nested lists, and the string at the bottom is one more
    allowed = persist.MAX_DEPTH - 6
    app = _roundtrip(_app_with_options({"data": _nested(allowed)}), tmp_path, ext)
    assert _server_options(app)["data"] == _nested(allowed)
    path = tmp_path / f"deep.{ext}"
    deep = _app_with_options({"data": _nested(allowed + 1)})
    if ext == "tap":
        path = _pickled(deep, tmp_path)
    else:
        tree = persist.to_tree(deep, path)
        from tap2pkg.runtime.persist_source import dumps_source
        from tap2pkg.runtime.persist_xml import dumps_xml
        path.write_bytes(dumps_source(tree) if ext == "tas" else dumps_xml(tree))
    with pytest.raises(AppFileError, match=rf"nested too deeply: more than {persist.MAX_DEPTH} levels"):
        persist.load(path)


def test_a_very_deep_xml_file_is_refused_while_parsing(tmp_path: Path) -> None:
    path = tmp_path / "deep.tax"
    path.write_text('<application-file format="tap2pkg" version="1">' + "<list>" * 200_000
                    + "</list>" * 200_000 + "</application-file>")
    with pytest.raises(AppFileError, match=r"deep\.tax:1: nested too deeply"):
        persist.load(path)


def test_a_pickled_object_never_given_its_fields_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "app.tap"
    # the class, then NEWOBJ makes an instance, and no BUILD ever gives it its fields
    path.write_bytes(b"\x80\x04\x8c\x17tap2pkg.runtime.service\x8c\x0bApplication\x93)\x81.")
    with pytest.raises(AppFileError, match=r"an Application object is never given its fields"):
        persist.load(path)


@pytest.mark.parametrize(("field", "value", "message"), [
    ("port", "9" * 4000, "port must be a whole number from 0 to 65535, got a 4000-digit number"),
    ("port", "65536", "port must be a whole number from 0 to 65535, got 65536"),
    ("port", "True", "port must be a whole number from 0 to 65535, got True"),
    ("interface", "['x']", "interface must be a host name or address of at most 255 characters, got a list"),
    ("backlog", "10**100", "refusing"),  # not a literal: refused before anything is built
    ("name", "[1, 2]", "a service name must be a string or None, got a list of 2 items"),
])
def test_bad_arguments_are_refused_when_the_file_loads(field: str, value: str, message: str,
                                                       tmp_path: Path) -> None:
    path = tmp_path / "app.tas"
    arguments = {"port": "8000", "interface": "'127.0.0.1'", "backlog": "5", "name": "'s'", field: value}
    path.write_text("application = Application('x', services=[TCPServer(factory=Factory(Ref('a:b')), "
                    + ", ".join(f"{k}={v}" for k, v in arguments.items()) + ")])\n")
    with pytest.raises(AppFileError) as caught:
        persist.load(path)
    assert message in str(caught.value)
    assert len(str(caught.value)) < 400
