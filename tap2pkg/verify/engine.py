"""The connection to the docker engine: one place that knows how to reach it.

The engine comes from the standard environment, as the ``docker`` command
finds it: ``DOCKER_HOST`` (with ``DOCKER_TLS_VERIFY``/``DOCKER_CERT_PATH``)
when set, else the docker context named by ``DOCKER_CONTEXT`` or made current
with ``docker context use`` (``~/.docker/config.json``), else the local
socket. A release job points verification at a remote engine with either.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from ..runtime.lazy import lazy_import
from .errors import EngineUnavailableError

if TYPE_CHECKING:
    from docker import context as docker_context
    from docker import tls as docker_tls
    from docker.utils import config as docker_config
else:  # imported on first use: only verify/ imports docker, and only when an engine is used
    docker_context = lazy_import("docker.context")
    docker_tls = lazy_import("docker.tls")
    docker_config = lazy_import("docker.utils.config")

HOW_TO_START = (
    "start one with `bash ci/start-dockerd.sh` (or `sudo systemctl start docker`) or set DOCKER_HOST"
)


def _config_dir() -> Path:
    """Where the docker command keeps its configuration and contexts: ``$DOCKER_CONFIG`` or ``~/.docker``."""
    return Path(os.environ.get("DOCKER_CONFIG") or Path.home() / ".docker")


def _context_from_files(name: str) -> Any:
    """The context ``name`` as the docker command stores it (``contexts/meta/<sha256>/meta.json`` and its
    TLS files), or None. The SDK finds contexts only beside a ``config.json``, and else looks in the
    current directory; the docker command does not need the file."""
    digest = hashlib.sha256(name.encode()).hexdigest()
    meta = _config_dir() / "contexts" / "meta" / digest / "meta.json"
    try:
        endpoint = json.loads(meta.read_text(encoding="utf-8"))["Endpoints"]["docker"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    tls_dir = _config_dir() / "contexts" / "tls" / digest / "docker"
    ca, cert, key = (tls_dir / "ca.pem", tls_dir / "cert.pem", tls_dir / "key.pem")
    tls: Any = False
    if cert.is_file() and key.is_file():
        tls = docker_tls.TLSConfig(client_cert=(str(cert), str(key)),
                                   ca_cert=str(ca) if ca.is_file() else None,
                                   verify=not endpoint.get("SkipTLSVerify", False))
    return SimpleNamespace(Name=name, Host=str(endpoint.get("Host", "")), TLSConfig=tls)


def _context() -> Any:
    """The docker context to use when ``DOCKER_HOST`` is unset, or None for the default one."""
    name = os.environ.get("DOCKER_CONTEXT")
    if name and name != "default" and docker_config.find_config_file() is None:
        context = _context_from_files(name)
    else:
        context = (docker_context.ContextAPI.get_context(name) if name
                   else docker_context.ContextAPI.get_current_context())
    if context is None:
        raise EngineUnavailableError(f"DOCKER_CONTEXT={name}: no such docker context "
                                     "(see `docker context ls`)")
    return None if context.Name == "default" else context


def docker_host() -> str:
    """The engine address the SDK will try, for error messages."""
    if os.environ.get("DOCKER_HOST"):
        return os.environ["DOCKER_HOST"]
    try:
        context = _context()
    except Exception:  # noqa: BLE001 - only for a message; connect() reports the real problem
        context = None
    if context is not None:
        return f"{context.Host} (docker context {context.Name})"
    return "unix:///var/run/docker.sock (DOCKER_HOST unset)"


def connect() -> Any:
    """Return a ``docker.DockerClient`` that answered a ping, or raise :class:`EngineUnavailableError`."""
    try:  # a probe: without the SDK, the error says how to install it
        import docker
    except ImportError as exc:
        raise EngineUnavailableError(
            "the docker SDK is not installed; install it with `pip install 'tap2pkg[verify]'`"
        ) from exc
    try:
        context = None if os.environ.get("DOCKER_HOST") else _context()
        if context is not None:
            client = docker.DockerClient(base_url=context.Host, tls=context.TLSConfig or False,
                                         timeout=600, max_pool_size=32)
        else:
            client = docker.from_env(timeout=600, max_pool_size=32)
        client.ping()
    except EngineUnavailableError:
        raise
    except Exception as exc:
        raise EngineUnavailableError(f"no docker engine answers at {docker_host()}; {HOW_TO_START}") from exc
    return client
