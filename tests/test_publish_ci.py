"""The release templates (ci/github-release.yml, ci/gitlab-ci.yml): valid YAML, verify fanned out per image,
publishing only after every image passed, and only the images tap2pkg knows."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tap2pkg.verify import DISTROS

CI = Path(__file__).resolve().parents[1] / "ci"


def load_yaml(path: Path) -> Any:
    """``path`` parsed by PyYAML: the test environment's, else the system's (python3-yaml)."""
    try:
        import yaml  # type: ignore[import-untyped]  # PyYAML ships no type hints
    except ImportError:
        python = shutil.which("python3")
        proc = subprocess.run([python or "python3", "-c", "import json, sys, yaml; "
                               "json.dump(yaml.safe_load(open(sys.argv[1])), sys.stdout)", str(path)],
                              capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            pytest.skip("needs PyYAML (pip install pyyaml, or apt-get install python3-yaml)")
        return json.loads(proc.stdout)
    return yaml.safe_load(path.read_text())


def named_distros(text: str) -> set[str]:
    """Every image a template names: ``--distro X`` and ``images build X Y``."""
    found = set(re.findall(r"--distro \"?([\w:.-]+)", text))
    for line in re.findall(r"images build ([^\n]+)", text):
        found |= {word for word in (w.strip('"') for w in line.split()) if not word.startswith("$")}
    return found


def needs(job: dict[str, Any]) -> list[str]:
    value = job.get("needs", [])
    return [value] if isinstance(value, str) else list(value)


def test_github_release_fans_verify_out_and_publishes_only_after_all_passed() -> None:
    workflow = load_yaml(CI / "github-release.yml")
    jobs = workflow["jobs"]
    assert needs(jobs["verify"]) == ["build"] and needs(jobs["publish"]) == ["verify"]
    strategy = jobs["verify"]["strategy"]
    assert strategy["fail-fast"] is False  # one image failing still reports the others
    images = [entry["distro"] for entry in strategy["matrix"]["include"]]
    assert len(images) == len(set(images)) >= 2 and set(images) <= set(DISTROS)
    run = "\n".join(step.get("run", "") for step in jobs["verify"]["steps"])
    assert "${{ matrix.distro }}" in run and "--jobs 2" in run and "--junit-xml" in run
    publish = "\n".join(step.get("run", "") for step in jobs["publish"]["steps"])
    assert "tap2pkg publish --apt site/apt --rpm site/rpm" in publish
    assert "--from-repo site/apt" in publish and "--from-repo site/rpm" in publish
    text = (CI / "github-release.yml").read_text()
    assert named_distros(text.replace('"${{ matrix.distro }}"', "")) <= set(DISTROS)
    assert "wget -r" not in text  # a static site lists no directories: the indexes are read instead


def test_gitlab_ci_fans_verify_out_with_parallel_matrix_and_deploys_last() -> None:
    pipeline = load_yaml(CI / "gitlab-ci.yml")
    stages = pipeline["stages"]
    assert stages.index("build") < stages.index("verify") < stages.index(pipeline["pages"]["stage"])
    matrix = pipeline["verify"]["parallel"]["matrix"]
    images = [distro for entry in matrix for distro in entry["DISTRO"]]
    assert len(images) == len(set(images)) >= 2 and set(images) <= set(DISTROS)
    assert pipeline["verify"]["variables"]["DOCKER_HOST"].startswith("tcp://")
    assert any("--jobs 2" in line for line in pipeline["verify"]["script"])
    assert pipeline[".tap2pkg"]["rules"] == [{"if": "$CI_COMMIT_TAG"}]
    script = "\n".join(pipeline["pages"]["script"])
    assert "--from-repo public/apt" in script and "--from-repo public/rpm" in script
    assert pipeline["pages"]["artifacts"]["paths"] == ["public"]
    text = (CI / "gitlab-ci.yml").read_text()
    assert named_distros(text) <= set(DISTROS)
