"""tap2rpm's packages through the whole lifecycle in the rpm-on-debian image, systemd as PID 1.

Install (user, unit enabled and running, the echo service answering), upgrade
from a native build to an rpmbuild one (restart, edited app file kept), erase.
Uses ``tap2pkg images build --offline`` (reused when current) and
``tap2pkg verify``; needs a docker engine and root.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tap2pkg.cli.tap2pkg import main as tap2pkg_main
from tap2pkg.cli.tap2rpm import main as tap2rpm_main

pytestmark = [pytest.mark.container, pytest.mark.slow,
              pytest.mark.skipif(shutil.which("rpmbuild") is None, reason="rpmbuild is needed")]
MAINTAINER = "Jane Doe <jane@example.org>"


def test_native_then_rpmbuild_upgrade_in_rpm_on_debian(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    assert tap2pkg_main(["images", "build", "--offline", "rpm-on-debian"]) == 0
    app = tmp_path / "echo.tap"
    assert tap2pkg_main(["mktap", "echo", "--port", "8007", "-o", str(app)]) == 0
    assert tap2rpm_main([str(app), "-m", MAINTAINER, "-o", str(tmp_path / "old"), "--binary-only", "-q"]) == 0
    assert tap2rpm_main([str(app), "-m", MAINTAINER, "-o", str(tmp_path / "new"), "--binary-only", "-q",
                         "-V", "1.1", "--builder", "rpmbuild"]) == 0
    capsys.readouterr()
    code = tap2pkg_main(["verify", str(tmp_path / "new/echo-1.1-1.noarch.rpm"),
                         "--upgrade-from", str(tmp_path / "old/echo-1.0-1.noarch.rpm"),
                         "--distro", "rpm-on-debian", "--port", "8007",
                         "--probe-send", "hello\\n", "--probe-expect", "hello", "--json"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert json.loads(out)
