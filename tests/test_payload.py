"""The payload: computed once per build, one build time for both formats, one table of service roles."""

from __future__ import annotations

import os
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import jinja2
import pytest
from debian.debfile import DebFile

from tap2pkg import payload as payload_module
from tap2pkg.deb.native import build_native_deb
from tap2pkg.deb.source import DebPayload, write_source_tree
from tap2pkg.payload import SERVICE_ROLES, build_time
from tap2pkg.render import rfc2822
from tap2pkg.rpm.source import rpm_package, rpm_sources
from tap2pkg.spec import PackageSpec

ECHO = Path(__file__).parent / "data" / "echo"


def make_spec(app: Path = ECHO / "echo.tac", **kw: Any) -> PackageSpec:
    base: dict[str, Any] = dict(name="echo", app_file=app, app_kind="python", ports=(8007,),
                                maintainer="Jane Doe <jane@example.org>", includes=(ECHO / "echoproto.py",))
    base.update(kw)
    return PackageSpec(**base)


def test_a_native_deb_build_renders_each_template_once_and_reads_each_file_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    renders: Counter[str] = Counter()
    reads: Counter[Path] = Counter()
    real_render, real_read = jinja2.Template.render, payload_module.read_file

    def counting_render(self: jinja2.Template, *args: Any, **kw: Any) -> str:
        renders[str(self.name)] += 1
        return real_render(self, *args, **kw)

    def counting_read(path: Path, role: str) -> bytes:
        reads[path] += 1
        return real_read(path, role)

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # empty: every text is rendered by Jinja
    monkeypatch.setattr(jinja2.Template, "render", counting_render)
    monkeypatch.setattr(payload_module, "read_file", counting_read)
    tree = write_source_tree(DebPayload.for_spec(make_spec(source_date_epoch=1700000000)), tmp_path / "out")
    build_native_deb(tree, tmp_path / "out")
    assert renders and set(renders.values()) == {1}, renders
    assert ECHO / "echo.tac" in reads and ECHO / "echoproto.py" in reads
    assert set(reads.values()) == {1}, reads


def test_a_cli_build_of_both_formats_computes_one_payload_per_format(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The plan (hand edits, tap2pkg.regen) and the builder share one payload: no second rendering."""
    from tap2pkg.cli.tap2pkg import main
    from tap2pkg.payload import Payload

    made: Counter[str] = Counter()
    real = Payload.for_spec.__func__  # type: ignore[attr-defined]  # a classmethod's function

    def counting(cls: type[Payload], spec: PackageSpec, distro: str) -> Payload:
        made[distro] += 1
        return real(cls, spec, distro)  # type: ignore[no-any-return]  # the real for_spec

    monkeypatch.setattr(Payload, "for_spec", classmethod(counting))
    code = main(["build", str(ECHO / "echo.tac"), "--include", str(ECHO / "echoproto.py"), "-m",
                 "Jane Doe <jane@example.org>", "-o", str(tmp_path / "out"), "--binary-only", "-u"])
    assert code == 0
    assert {p.suffix for p in (tmp_path / "out").iterdir()} >= {".deb", ".rpm"}
    assert sorted(made.values()) == [1, 1] and len(made) == 2, made
    # a build --from-tree compares the tree with one payload and builds from that same one
    from tap2pkg.cli.tap2deb import main as tap2deb_main

    made.clear()
    assert tap2deb_main(["--from-tree", str(tmp_path / "out" / "echo-1.0"), "--binary-only", "-u"]) == 0
    assert dict(made) == {"debian": 1}, made


def test_without_source_date_epoch_both_formats_take_the_app_files_time(tmp_path: Path) -> None:
    app = tmp_path / "echo.tac"
    shutil.copy(ECHO / "echo.tac", app)
    os.utime(app, (1700000000, 1700000000))
    spec = make_spec(app)
    assert build_time(spec) == 1700000000
    payload = DebPayload.for_spec(spec)
    assert payload.text("changelog").rstrip().endswith(rfc2822(1700000000))
    tree = write_source_tree(payload, tmp_path / "a")
    deb = build_native_deb(tree, tmp_path / "a")
    assert {m.mtime for m in DebFile(str(deb)).data.tgz().getmembers()} == {1700000000}
    again = build_native_deb(write_source_tree(DebPayload.for_spec(spec), tmp_path / "b"), tmp_path / "b")
    assert again.read_bytes() == deb.read_bytes()
    assert rpm_package(rpm_sources(spec)).buildtime == 1700000000


def test_an_app_file_older_than_the_policy_the_package_claims_dates_the_build_at_its_release(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """lintian's timewarp-standards-version: a changelog entry must not be older than its Standards-Version
    (an app file unpacked from an old tarball keeps its old time)."""
    from tap2pkg.cli.tap2deb import main

    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    app = tmp_path / "echo.tac"
    shutil.copy(ECHO / "echo.tac", app)
    os.utime(app, (1580601600, 1580601600))  # 2020-02-02
    assert build_time(make_spec(app)) == 1671244904  # Debian Policy 4.6.2, bookworm's
    assert main([str(app), "--include", str(ECHO / "echoproto.py"), "-m", "Jane Doe <jane@example.org>",
                 "-o", str(tmp_path / "out"), "-u", "--binary-only"]) == 0
    assert ("note: the build is dated 2022-12-17, when Debian Policy 4.6.2 (the package's Standards-Version) "
            "came out, not at the app file's older time" in capsys.readouterr().err)
    assert build_time(make_spec(app, source_date_epoch=1580601600)) == 1580601600  # the user's choice stands


@pytest.mark.parametrize("when", [-315619200, 2**32 + 86400])  # 1960, and after 2106
def test_an_app_file_dated_outside_what_packages_carry_is_refused_in_one_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        when: int) -> None:
    from tap2pkg.cli.tap2pkg import main

    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    app = tmp_path / "echo.tac"
    shutil.copy(ECHO / "echo.tac", app)
    os.utime(app, (when, when))
    assert main(["build", "--format", "deb,rpm", str(app), "--include", str(ECHO / "echoproto.py"),
                 "-m", "Jane Doe <jane@example.org>", "-o", str(tmp_path / "out")]) == 86
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and f"modified at {when} seconds from 1970" in err, err
    assert "set SOURCE_DATE_EPOCH" in err and not (tmp_path / "out").exists()


def test_each_service_role_is_named_from_the_one_table() -> None:
    spec = make_spec(source_date_epoch=1700000000)
    debian = DebPayload.for_spec(spec).debian
    # the license of what tap2pkg bundles is the copyright file's on Debian, a file of its own in an RPM
    assert {f"echo.{role.debian_name}" for role in SERVICE_ROLES if role.name != "license"} <= set(debian)
    assert "echo.license" not in debian
    sources = rpm_sources(spec)
    assert sorted(s.name for s in sources.sources) == sorted(
        f"echo{role.rpm_suffix}" for role in SERVICE_ROLES if role.rpm_suffix)
    for source in sources.sources:
        assert f"{source.macro_path}" in sources.spec_text
