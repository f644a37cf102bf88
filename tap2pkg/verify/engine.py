"""The connection to the docker engine: one place that knows how to reach it."""

from __future__ import annotations

import os
from typing import Any

from .errors import EngineUnavailableError

HOW_TO_START = (
    "start one with `bash ci/start-dockerd.sh` (or `sudo systemctl start docker`) or set DOCKER_HOST"
)


def docker_host() -> str:
    """The engine address the SDK will try, for error messages."""
    return os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock (DOCKER_HOST unset)"


def connect() -> Any:
    """Return a ``docker.DockerClient`` that answered a ping, or raise :class:`EngineUnavailableError`."""
    try:
        import docker
    except ImportError as exc:
        raise EngineUnavailableError(
            "the docker SDK is not installed; install it with `pip install 'tap2pkg[verify]'`"
        ) from exc
    try:
        client = docker.from_env(timeout=600)
        client.ping()
    except Exception as exc:
        raise EngineUnavailableError(f"no docker engine answers at {docker_host()}; {HOW_TO_START}") from exc
    return client
