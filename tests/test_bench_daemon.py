"""The daemon benchmark: its results-file sections, its statistics, and a smoke run."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent
TWISTD = ROOT / "bench" / ".work" / "twisted-venv" / "bin" / "twistd"


def _load_common() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_common", ROOT / "bench" / "common.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


common = _load_common()


def test_missing_file_is_created_with_header_and_section(tmp_path: Path) -> None:
    path = tmp_path / "BENCHMARKS.md"
    common.rewrite_section(path, "daemon", "| a | b |\n")
    text = path.read_text()
    assert text.startswith("# Benchmarks\n")
    assert "<!-- bench:daemon -->\n| a | b |\n<!-- /bench:daemon -->\n" in text
    assert common.read_section(path, "daemon") == "| a | b |"


def test_rewriting_one_section_leaves_the_others_byte_for_byte(tmp_path: Path) -> None:
    path = tmp_path / "BENCHMARKS.md"
    before = ("# Results\n\nintro  with  odd   spacing\n\n"
              "<!-- bench:build -->\nbuild numbers\n<!-- /bench:build -->\n\n"
              "<!-- bench:daemon -->\nold daemon numbers\nsecond line\n<!-- /bench:daemon -->\n\n"
              "<!-- bench:verify -->\nverify numbers\n<!-- /bench:verify -->\ntrailer without newline")
    path.write_text(before)
    common.rewrite_section(path, "daemon", "new daemon numbers\n")
    after = path.read_text()
    assert after == before.replace("old daemon numbers\nsecond line", "new daemon numbers")
    # doing it again changes nothing
    common.rewrite_section(path, "daemon", "new daemon numbers\n")
    assert path.read_text() == after


def test_missing_section_is_appended_and_others_kept(tmp_path: Path) -> None:
    path = tmp_path / "BENCHMARKS.md"
    path.write_text("# Mine\n\n<!-- bench:build -->\nb\n<!-- /bench:build -->\n")
    common.rewrite_section(path, "verify", "v")
    assert path.read_text() == ("# Mine\n\n<!-- bench:build -->\nb\n<!-- /bench:build -->\n\n"
                                "<!-- bench:verify -->\nv\n<!-- /bench:verify -->\n")
    assert common.read_section(path, "build") == "b"
    assert common.read_section(path, "daemon") is None


def test_unmatched_or_duplicate_markers_are_refused_and_file_untouched(tmp_path: Path) -> None:
    path = tmp_path / "BENCHMARKS.md"
    broken = "<!-- bench:daemon -->\nno end marker\n"
    path.write_text(broken)
    with pytest.raises(common.BenchmarkError, match="unmatched markers"):
        common.rewrite_section(path, "daemon", "x")
    assert path.read_text() == broken
    path.write_text("<!-- bench:daemon -->\n<!-- /bench:daemon -->\n" * 2)
    with pytest.raises(common.BenchmarkError, match="more than once"):
        common.rewrite_section(path, "daemon", "x")
    with pytest.raises(ValueError, match="bad benchmark section name"):
        common.rewrite_section(path, "two words", "x")
    assert [p.name for p in tmp_path.iterdir()] == ["BENCHMARKS.md"]  # no temp file left behind


def test_median_and_ratio_formatting() -> None:
    assert common.median([3, 1, 2]) == 2
    assert common.median([1, 2, 3, 10]) == 2.5
    with pytest.raises(common.BenchmarkError):
        common.median([])
    assert common.format_ratio(common.ratio(0.05, 0.2)) == "0.25x"
    assert common.format_ratio(common.ratio(3, 2)) == "1.5x"
    assert common.format_ratio(common.ratio(25, 2)) == "12x"
    assert common.format_ratio(common.ratio(1, 0)) == "inf"


def test_comparison_table_shows_verdicts() -> None:
    rows = [common.Comparison("ready", "50 ms", "300 ms", "0.17x", "<= 0.4x", True),
            common.Comparison("memory", "20 MiB", "30 MiB", "0.67x", "<= 0.5x", False),
            common.Comparison("info", "1", "2", "0.50x", "-", None)]
    lines = common.comparison_table(rows, "tapd", "twistd").splitlines()
    assert lines[0].split("|")[1:-1] == [" metric ", " tapd   ", " twistd ", " ratio ", " target  ",
                                         " pass/fail "]
    assert [line.split("|")[-2].strip() for line in lines[2:]] == ["pass", "FAIL", "-"]


def test_open_files_limit_is_raised_and_inherited() -> None:
    limit = common.raise_open_files_limit(2048)
    assert limit >= 2048 or limit == common.resource.getrlimit(common.resource.RLIMIT_NOFILE)[1]
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(5)"])
    try:
        assert common.open_files_limit(child.pid) == limit
        assert common.rss_kib(child.pid) > 0
    finally:
        child.kill()
        child.wait()


def _tapd_runs_tac() -> bool:
    return all(importlib.util.find_spec(m) is not None
               for m in ("tap2pkg.runtime.daemon", "tap2pkg.runtime.internet"))


@pytest.mark.skipif(not TWISTD.exists(), reason="Twisted's venv is not set up; run `make bench` once")
@pytest.mark.skipif(not _tapd_runs_tac(), reason="tapd is not available yet")
def test_quick_benchmark_run_writes_its_section(tmp_path: Path) -> None:
    out = tmp_path / "BENCHMARKS.md"
    out.write_text("# Benchmarks\n\n<!-- bench:build -->\nkeep me\n<!-- /bench:build -->\n")
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "daemon.py"), "--quick", "--runs", "2",
                           "--json", "--output", str(out)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    connections = next(c for c in result["comparisons"] if "held open" in c["metric"])
    assert connections["verdict"] == "pass"
    assert len(result["measurements"]["tapd"]["ready_s"]) == 2
    text = out.read_text()
    assert "keep me" in text
    section = common.read_section(out, "daemon")
    assert section is not None and "| ready (exec to first answer, median)" in section
    assert "| metric " in section and " | packaged tapd " in section and " | tapd --tls " in section
    assert "Twisted: " in section and "twistd plugin cache: warm" in section
    assert {c["daemon"] for c in result["comparisons"]} == {"tapd", "packaged tapd", "tapd --tls"}


def _load_daemon_bench(module: str = "daemon") -> ModuleType:
    """``bench.daemon`` or one of the modules it is made of (``daemon_measure``, ``daemon_setup``)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    return importlib.import_module(f"bench.{module}")


def test_a_daemon_that_dies_at_start_is_reported_with_its_log(tmp_path: Path) -> None:
    bench = _load_daemon_bench("daemon_measure")
    dying = bench.Daemon("dying", (sys.executable, "-c", "import sys; print('no such app'); sys.exit(3)"))
    with pytest.raises(bench.BenchmarkError, match=r"dying exited with status 3 .*no such app"):
        bench.wait_ready(dying, common.free_port(), "test-dying")
    assert bench.LIVE == []


def test_a_daemon_that_never_answers_is_stopped(monkeypatch: pytest.MonkeyPatch) -> None:
    bench = _load_daemon_bench("daemon_measure")
    monkeypatch.setattr(bench, "START_TIMEOUT", 0.3)
    silent = bench.Daemon("silent", (sys.executable, "-c", "import time; time.sleep(60)"))
    with pytest.raises(bench.BenchmarkError, match=r"silent did not answer on 127\.0\.0\.1:\d+"):
        bench.wait_ready(silent, common.free_port(), "test-silent")
    assert bench.LIVE == []


def test_echo_measurements_against_a_real_echo_server(tmp_path: Path) -> None:
    bench = _load_daemon_bench("daemon_measure")
    script = tmp_path / "echo.py"
    script.write_text(
        "import asyncio, os\n"
        "class Echo(asyncio.Protocol):\n"
        "    def connection_made(self, t): self.t = t\n"
        "    def data_received(self, d): self.t.write(d)\n"
        "async def main():\n"
        "    await asyncio.get_running_loop().create_server("
        "Echo, '127.0.0.1', int(os.environ['BENCH_ECHO_PORT']))\n"
        "    await asyncio.Event().wait()\n"
        "asyncio.run(main())\n")
    echo = bench.Daemon("echo", (sys.executable, str(script)))
    common.raise_open_files_limit(2500)
    port = common.free_port()
    proc, seconds, _ = bench.wait_ready(echo, port, "test-echo")
    try:
        assert 0 < seconds < bench.START_TIMEOUT
        assert bench.round_trips(port, 0.2) > 0
        held = bench.hold_connections(port, 300, proc.pid)
        assert (held.ok, held.errors) == (300, 0)
        assert held.rss_at_peak_kib > 0
    finally:
        bench.stop(proc)
    assert proc.returncode is not None and bench.LIVE == []


def test_importtime_report_names_who_imported_what() -> None:
    _load_daemon_bench()
    from bench.importtime import imports_beyond, parse_importtime

    report = ("import time: self [us] | cumulative | imported package\n"
              "import time:       100 |        100 |     _json\n"
              "import time:       300 |        400 |   json\n"
              "import time:       500 |        900 | tap2pkg.runtime.logs\n"
              "2026-01-01T00:00:00 [tapd] a log line in between\n"
              "import time:        50 |         50 | shutil\n")
    records = {r.module: r for r in parse_importtime(report)}
    assert records["_json"].imported_by == "json"
    assert records["json"].imported_by == "tap2pkg.runtime.logs"
    assert (records["json"].self_us, records["json"].cumulative_us) == (300, 400)
    assert records["tap2pkg.runtime.logs"].imported_by == ""
    assert records["shutil"].imported_by == ""
    baseline = "import time:       100 |        100 | _json\n"
    own, roots = imports_beyond(report, baseline)
    assert [r.module for r in own] == ["tap2pkg.runtime.logs"]
    assert [r.module for r in roots] == ["json", "shutil"]


def _measured(ready_ms: float, rss_mib: float, trips: float) -> object:
    bench = _load_daemon_bench()
    return bench.Measurements(ready_s=[ready_ms / 1000], cpu_to_ready_s=[ready_ms / 2000],
                              rss_kib=[int(rss_mib * 1024)],
                              round_trips_per_s=[trips], connections_ok=1000, connections_s=0.2,
                              rss_with_connections_kib=int(rss_mib * 1100))


def test_the_table_shows_every_tapd_beside_twistd_and_judges_both_ways_of_running_it() -> None:
    bench = _load_daemon_bench()
    results = {"tapd": _measured(100, 16, 30000), "packaged tapd": _measured(150, 18, 30000),
               "tapd --tls": _measured(110, 20, 30000), "twistd": _measured(300, 32, 20000)}
    table, records = bench.side_by_side(results, 1000)
    header, _, ready, cpu, memory, trips = table.splitlines()[:6]
    assert [cell.strip() for cell in header.split("|")[1:-1]] == [
        "metric", "twistd", "tapd", "ratio", "packaged tapd", "ratio", "tapd --tls", "ratio", "target",
        "pass/fail (tapd / packaged tapd)"]
    assert [cell.strip() for cell in ready.split("|")[2:-1]] == [
        "300 ms", "100 ms", "0.33x", "150 ms", "0.50x", "110 ms", "0.37x", "<= 0.4x", "pass / FAIL"]
    assert cpu.split("|")[-2].strip() == "-"  # shown, no target
    assert memory.split("|")[-2].strip() == "pass / FAIL"
    assert trips.split("|")[-2].strip() == "pass / pass"
    tls = [r for r in records if r["daemon"] == "tapd --tls"]
    assert tls and all(r["passed"] is None for r in tls)  # shown, never judged
    assert [r["passed"] for r in records if r["daemon"] == "packaged tapd"][:3] == [False, None, False]


def test_each_daemon_goes_first_in_turn() -> None:
    bench = _load_daemon_bench("daemon_measure")
    daemons = [bench.Daemon(name, ("true",)) for name in ("a", "b", "c")]
    firsts = [bench.rotations(daemons, n)[0].label for n in range(6)]
    assert firsts == ["a", "b", "c", "a", "b", "c"]
    assert sorted(d.label for d in bench.rotations(daemons, 1)) == ["a", "b", "c"]


def test_the_packaged_launcher_runs_byte_compiled_as_a_package_installs_it(tmp_path: Path) -> None:
    bench = _load_daemon_bench("daemon_setup")
    launcher = bench.install_package_layout(tmp_path)
    compiled = sorted(tmp_path.rglob("*.pyc"))
    assert any("runtime" in p.parts for p in compiled)  # as the package's install script leaves it
    assert launcher == tmp_path / "usr" / "lib" / bench.PACKAGE / "tapd"
    result = subprocess.run([sys.executable, str(launcher), "--version"], capture_output=True, text=True,
                            check=False, env={"PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("tapd (tap2pkg) ")
    assert sorted(tmp_path.rglob("*.pyc")) == compiled  # the launcher itself writes no bytecode


def test_cpu_time_counts_every_live_thread_of_a_process() -> None:
    bench = _load_daemon_bench("daemon_measure")
    busy = ("import threading, time\n"
            "def spin():\n    end = time.thread_time() + 0.3\n    while time.thread_time() < end: pass\n"
            "    time.sleep(30)\n"
            "threading.Thread(target=spin).start(); time.sleep(30)\n")
    child = subprocess.Popen([sys.executable, "-c", busy])
    try:
        deadline = time.monotonic() + 10
        while bench.cpu_seconds(child.pid) < 0.3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert 0.3 <= bench.cpu_seconds(child.pid) < 5  # the spinning thread's time, not just the main one's
    finally:
        child.kill()
        child.wait()


def test_ratios_pair_each_start_with_twistds_start_of_the_same_round() -> None:
    bench = _load_daemon_bench()
    # the machine was slow in the second round: both daemons took three times as long
    ours = bench.Measurements(ready_s=[0.100, 0.300, 0.110])
    theirs = bench.Measurements(ready_s=[0.300, 0.900, 0.200])
    ready = bench.METRICS[0].comparison(ours, theirs)
    assert (ready.ours, ready.theirs, ready.ratio) == ("110 ms", "300 ms", "0.33x")  # not 110/300
    assert ready.passed is True
