"""Throw-away containers of a verification image, removed when done.

:func:`run_once` runs one command in a new container of an image and gives its
exit code and output; files it is given are put in :data:`INBOX` first. It is
how :mod:`tap2pkg.verify.missing` asks a base image what it lacks (without
network). :mod:`tap2pkg.verify.derived` starts the container a derived image is
committed from the same way, and waits for it itself.
"""

from __future__ import annotations

import io
import tarfile
from typing import Any

INBOX = "/tmp/tap2pkg-deps"


def run_once(client: Any, image: str, command: list[str], *, network: str,
             files: dict[str, bytes] | None = None) -> tuple[int, str]:
    """Run ``command`` in a throw-away container of ``image`` (``files`` put in :data:`INBOX`)."""
    container = start(client, image, command, network, files or {})
    try:
        code = int(container.wait()["StatusCode"])
        return code, container.logs().decode(errors="replace")
    finally:
        container.remove(force=True)


def start(client: Any, image: str, command: list[str], network: str, files: dict[str, bytes]) -> Any:
    """A started container of ``image`` running ``command`` (``files`` put in :data:`INBOX` first); the
    caller waits for it and removes it. If it cannot be started, it is removed here."""
    # no labels: a committed image would pass them on to every container made from it
    container = client.containers.create(image, command, network_mode=network)
    try:
        if files:
            buffer = io.BytesIO()
            with tarfile.open(fileobj=buffer, mode="w") as tar:
                for name, data in files.items():
                    info = tarfile.TarInfo(f"{INBOX.lstrip('/')}/{name}")
                    info.size, info.mode = len(data), 0o644
                    tar.addfile(info, io.BytesIO(data))
            container.put_archive("/", buffer.getvalue())
        container.start()
    except BaseException:
        container.remove(force=True)
        raise
    return container
