"""Dependencies: either format's syntax in, each format's spelling out, one error for anything else."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tap2pkg.dependency import Dependency
from tap2pkg.errors import InvalidOptionValueError

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "echo"


@pytest.mark.parametrize(("text", "debian", "rpm"), [
    ("python3-yaml", "python3-yaml", "python3-yaml"),
    ("python3-yaml (>= 5.1)", "python3-yaml (>= 5.1)", "python3-yaml >= 5.1"),
    ("python3-yaml(>=5.1)", "python3-yaml (>= 5.1)", "python3-yaml >= 5.1"),
    ("python3-yaml >= 5.1", "python3-yaml (>= 5.1)", "python3-yaml >= 5.1"),
    ("python3-yaml < 6", "python3-yaml (<< 6)", "python3-yaml < 6"),
    ("python3-yaml (<< 6)", "python3-yaml (<< 6)", "python3-yaml < 6"),
    # dpkg reads a bare < inside parentheses as <=
    ("python3-yaml (< 6)", "python3-yaml (<= 6)", "python3-yaml <= 6"),
    ("python3-yaml == 6", "python3-yaml (= 6)", "python3-yaml = 6"),
    ("bar (= 1:2.0-3)", "bar (= 1:2.0-3)", "bar = 1:2.0-3"),
    ("default-mta | mail-transport-agent", "default-mta | mail-transport-agent",
     "(default-mta or mail-transport-agent)"),
    ("aa (>= 1) | bb >= 2", "aa (>= 1) | bb (>= 2)", "(aa >= 1 or bb >= 2)"),
])
def test_either_syntax_reads_and_each_format_spells_it(text: str, debian: str, rpm: str) -> None:
    dep = Dependency.parse(text)
    assert (dep.debian(), dep.rpm()) == (debian, rpm)
    assert Dependency.parse(dep.debian()) == dep
    assert Dependency.parse(dep.rpm()) == dep


@pytest.mark.parametrize("text", ["", "Foo", "a (>= )", "a >=", "a (~> 1)", "a | ", "a,b", "a (>= 1", "a b",
                                  "(a and b)", "()"])
def test_anything_else_is_one_error_naming_the_option(text: str) -> None:
    with pytest.raises(InvalidOptionValueError, match="--depends") as info:
        Dependency.parse(text)
    assert info.value.exit_code == 86


@pytest.mark.slow
@pytest.mark.parametrize("builder", ["native", "rpmbuild"])
def test_alternatives_become_a_rich_rpm_dependency(builder: str, tmp_path: Path) -> None:
    """``a | b`` built the .deb and then failed on rpm; now both builders write ``(a or b)``."""
    if shutil.which("rpmbuild") is None:
        pytest.skip("rpmbuild is not installed")
    from tap2pkg.cli.tap2rpm import main

    rc = main([str(EXAMPLE / "echo.tac"), "--include", str(EXAMPLE / "echoproto.py"), "-m", "J <j@x.org>",
               "--builder", builder, "-o", str(tmp_path), "--binary-only",
               "--depends", "default-mta | mail-transport-agent", "--depends", "python3-yaml (<< 7)"])
    assert rc == 0
    [rpm] = tmp_path.glob("*.noarch.rpm")
    requires = subprocess.run(["rpm", "-qp", "--requires", str(rpm)], capture_output=True, text=True,
                              check=True).stdout.splitlines()
    assert "(default-mta or mail-transport-agent)" in requires
    assert "python3-yaml < 7" in requires
    assert any(r.startswith("rpmlib(RichDependencies)") for r in requires)
