"""The two builders, one result: native vs dpkg-buildpackage; lintian; reproducibility; hand edits.

Needs dpkg-dev, debhelper and lintian (skipped without them).
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest
from debian.deb822 import Deb822

from tap2pkg.builders import BuildOptions, BuildResult, build
from tap2pkg.spec import PackageSpec

ECHO = Path(__file__).parent / "data" / "echo"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("dpkg-buildpackage") is None or shutil.which("dh") is None,
                       reason="dpkg-dev and debhelper are not installed"),
]


def make_spec(**kw: object) -> PackageSpec:
    base: dict[str, Any] = dict(
        name="echo", app_file=ECHO / "echo.tac", app_kind="python", maintainer="Jane Doe <jane@example.org>",
        ports=(8007,), includes=(ECHO / "echoproto.py",), depends=("python3-yaml",),
        homepage="https://example.org/echo", source_date_epoch=1700000000)
    base.update(kw)
    return PackageSpec(**base)


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, BuildResult]:
    spec = make_spec()
    return {builder: build(spec, tmp_path_factory.mktemp(builder), "deb", builder)
            for builder in ("native", "dpkg")}


def artifact(result: BuildResult, suffix: str) -> Path:
    [path] = [p for p in result.paths() if p.name.endswith(suffix)]
    return path


def deb_part(deb: Path, prefix: str) -> tarfile.TarFile:
    out = subprocess.run(["dpkg-deb", "--fsys-tarfile" if prefix == "data" else "--ctrl-tarfile", str(deb)],
                         capture_output=True, check=True).stdout
    return tarfile.open(fileobj=io.BytesIO(out))


def data_listing(deb: Path) -> dict[str, tuple[int, int, int, str]]:
    with deb_part(deb, "data") as tar:
        return {m.name.rstrip("/"): (m.mode, m.uid, m.gid, "d" if m.isdir() else "f")
                for m in tar.getmembers()}


def control_member(deb: Path, name: str) -> str:
    with deb_part(deb, "control") as tar:
        fh = tar.extractfile(f"./{name}")
        assert fh is not None
        return fh.read().decode()


def test_same_files_modes_and_ownership(builds: dict[str, BuildResult]) -> None:
    native = data_listing(artifact(builds["native"], "_all.deb"))
    dpkg = data_listing(artifact(builds["dpkg"], "_all.deb"))
    assert sorted(native) == sorted(dpkg)
    assert native == dpkg


def test_same_control_fields_and_conffiles(builds: dict[str, BuildResult]) -> None:
    native_deb, dpkg_deb = (artifact(builds[b], "_all.deb") for b in ("native", "dpkg"))
    native = Deb822(control_member(native_deb, "control"))
    dpkg = Deb822(control_member(dpkg_deb, "control"))
    assert sorted(native) == sorted(dpkg)
    for field in native:
        if field != "Installed-Size":
            assert native[field] == dpkg[field], field
    # sizes differ only by the maintainer scripts' wording
    assert abs(int(native["Installed-Size"]) - int(dpkg["Installed-Size"])) <= 3
    assert control_member(native_deb, "conffiles") == control_member(dpkg_deb, "conffiles")
    paths = [control_member(deb, "md5sums").split()[1::2] for deb in (native_deb, dpkg_deb)]
    assert paths[0] == paths[1]


def test_same_installed_file_contents(builds: dict[str, BuildResult]) -> None:
    contents = {}
    for builder in ("native", "dpkg"):
        with deb_part(artifact(builds[builder], "_all.deb"), "data") as tar:
            contents[builder] = {m.name: tar.extractfile(m).read()  # type: ignore[union-attr]  # m.isfile(): never None
                                 for m in tar.getmembers() if m.isfile() and not m.name.endswith(".gz")}
    assert contents["native"] == contents["dpkg"]


STUBBED = ("getent", "systemd-sysusers", "adduser", "addgroup", "deluser", "delgroup", "userdel", "groupdel",
           "deb-systemd-helper", "deb-systemd-invoke", "systemctl", "update-rc.d", "invoke-rc.d",
           "systemd-tmpfiles", "chown", "chmod", "mkdir", "rm")

SCENARIOS = [
    ("preinst", ["install"]), ("preinst", ["upgrade", "1.0-0"]),
    ("postinst", ["configure", ""]), ("postinst", ["configure", "1.0-0"]),
    ("prerm", ["remove"]), ("prerm", ["upgrade", "1.0-2"]),
    ("postrm", ["remove"]), ("postrm", ["purge"]), ("postrm", ["upgrade", "1.0-2"]),
]


def run_script(text: str, args: list[str], root: Path) -> list[str]:
    """Run a maintainer script against stub commands under ``root``; return the commands it ran."""
    root.mkdir(parents=True, exist_ok=True)
    stubs = root / "bin"
    log = root / "log"
    log.write_text("")
    if not stubs.exists():
        stubs.mkdir()
        for name in STUBBED:
            stub = stubs / name
            # getent fails (no user yet), so the user-creating branch runs too
            status = 2 if name == "getent" else 0
            stub.write_text(f'#!/bin/sh\necho "${{0##*/}} $*" >> {log}\nexit {status}\n')
            stub.chmod(0o755)
        # mkdir really makes the data and log directories (under root): the marker goes in them
        (stubs / "mkdir").write_text(f'#!/bin/sh\necho "mkdir $*" >> {log}\nexec /bin/mkdir "$@"\n')
        for parent in ("lib", "log"):
            (root / "var" / parent).mkdir(parents=True)
        (root / "etc" / "init.d").mkdir(parents=True)
        (root / "etc" / "init.d" / "echo").write_text("#!/bin/sh\n")
        (root / "etc" / "init.d" / "echo").chmod(0o755)
        (root / "run" / "systemd" / "system").mkdir(parents=True)
    for path in ("/etc/init.d/", "/run/systemd/system", "/usr/bin/deb-systemd-helper", "/var/lib/echo",
                 "/var/log/echo"):
        target = str(stubs / "deb-systemd-helper") if path.endswith("helper") else f"{root}{path}"
        text = text.replace(path, target)
    script = root / "script"
    script.write_text(text)
    env = {"PATH": str(stubs)}
    proc = subprocess.run(["/bin/sh", "-e", str(script), *args], env=env, capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    return log.read_text().replace(str(root), "").splitlines()


@pytest.mark.parametrize(("script", "args"), SCENARIOS)
def test_maintainer_scripts_behave_the_same(builds: dict[str, BuildResult], tmp_path: Path,
                                            script: str, args: list[str]) -> None:
    calls = {}
    for builder in ("native", "dpkg"):
        text = control_member(artifact(builds[builder], "_all.deb"), script)
        calls[builder] = run_script(text, args, tmp_path / builder)
    assert calls["native"] == calls["dpkg"]
    if (script, args) == ("postinst", ["configure", ""]):
        assert "deb-systemd-helper enable echo.service" in calls["native"]
        assert "deb-systemd-invoke start echo.service" in calls["native"]
        assert any(c.startswith("adduser --system --group --home /var/lib/echo") for c in calls["native"])
    if (script, args) == ("postinst", ["configure", "1.0-0"]):
        assert "deb-systemd-invoke restart echo.service" in calls["native"]
    if (script, args) == ("postrm", ["purge"]):  # the account stays; no marked directory to delete here
        deleting = ("deluser", "delgroup", "userdel", "groupdel", "rm")
        assert not [c for c in calls["native"] if c.split()[0] in deleting]


@pytest.mark.skipif(shutil.which("lintian") is None, reason="lintian is not installed")
def test_lintian_has_no_errors_or_warnings(builds: dict[str, BuildResult]) -> None:
    dpkg = builds["dpkg"]
    targets = [artifact(dpkg, ".changes"), artifact(dpkg, ".dsc"), artifact(dpkg, "_all.deb"),
               artifact(builds["native"], "_all.deb"), artifact(builds["native"], ".dsc")]
    proc = subprocess.run(["lintian", "--fail-on", "error,warning", *map(str, targets)], capture_output=True,
                          text=True, check=False)
    tags = [line for line in proc.stdout.splitlines() if line[:2] in ("E:", "W:")]
    assert tags == [] and proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("builder", ["native", "dpkg"])
def test_reproducible_with_source_date_epoch(tmp_path: Path, builder: str) -> None:
    spec = make_spec()
    first = build(spec, tmp_path / "one", "deb", builder)
    second = build(spec, tmp_path / "two", "deb", builder)
    for suffix in ("_all.deb", ".dsc", ".orig.tar.gz", ".debian.tar.xz"):
        assert artifact(first, suffix).read_bytes() == artifact(second, suffix).read_bytes(), suffix


def test_hand_edited_tree_rebuilds_with_the_edits(tmp_path: Path) -> None:
    result = build(make_spec(), tmp_path, "deb", "native", BuildOptions(source=False))
    tree = result.source_tree
    assert tree is not None
    control = tree / "debian" / "control"
    control.write_text(control.read_text().replace("Description: Server for echo",
                                                   "Description: Hand-edited echo service"))
    unit = tree / "debian" / "echo.service"
    unit.write_text(unit.read_text().replace("RestartSec=2", "RestartSec=9"))
    proc = subprocess.run(["dpkg-buildpackage", "-us", "-uc", "-b"], cwd=tree, capture_output=True, text=True,
                          env={**os.environ, "SOURCE_DATE_EPOCH": "1700000000"}, check=False)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    deb = tmp_path / "echo_1.0-1_all.deb"
    assert Deb822(control_member(deb, "control"))["Description"].startswith("Hand-edited echo service")
    with deb_part(deb, "data") as tar:
        fh = tar.extractfile("./lib/systemd/system/echo.service")
        assert fh is not None
        assert "RestartSec=9" in fh.read().decode()


@pytest.mark.skipif(shutil.which("debsign") is None or shutil.which("gpg") is None,
                    reason="debsign or gpg is not installed")
def test_signed_when_a_key_is_available(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "gnupg"
    home.mkdir(mode=0o700)
    monkeypatch.setenv("GNUPGHOME", str(home))
    subprocess.run(["gpg", "--batch", "--quiet", "--pinentry-mode", "loopback", "--passphrase", "",
                    "--quick-gen-key", "Jane Doe <jane@example.org>", "ed25519", "sign", "never"],
                   check=True, capture_output=True)
    try:
        result = build(make_spec(), tmp_path / "out", "deb", "dpkg", BuildOptions(sign=True))
    finally:
        # stop the gpg-agent this test started for its private keyring
        subprocess.run(["gpgconf", "--kill", "gpg-agent"], capture_output=True, check=False)
    assert result.notes == []
    for suffix in (".changes", ".dsc"):
        assert artifact(result, suffix).read_text().startswith("-----BEGIN PGP SIGNED MESSAGE-----")
    unsigned = build(make_spec(), tmp_path / "unsigned", "deb", "dpkg")
    assert not artifact(unsigned, ".changes").read_text().startswith("-----BEGIN PGP")
