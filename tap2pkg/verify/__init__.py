"""Prove packages in real containers: images, the install-to-purge lifecycle, reports.

This is the only part of tap2pkg that imports ``docker`` (and only when a
function that needs the engine is called). The public surface:

- :func:`connect` -- a docker client, or a one-line error saying how to start an engine;
- :func:`read_artifact` -- recognise a .deb or .rpm and read its name and version;
- :func:`find_image`, :func:`build_image`, :func:`list_images`, :func:`remove_images`;
- :func:`derive_image` -- the image with a package's dependencies from the archive (:class:`VerifyImage`);
- :class:`VerifyContainer` -- a systemd (or init-less) container removed on any exit;
- :func:`verify_lifecycle`, :func:`verify_sysvinit` -- the steps, as :class:`RunResult`;
- :func:`summary_table`, :func:`to_json`, :func:`to_junit_xml`, :class:`Progress` -- reports.
"""

from __future__ import annotations

from .artifact import Artifact, read_artifact
from .container import VerifyContainer
from .derived import VerifyImage, derive_image
from .engine import connect
from .images import DISTROS, Distro, build_image, find_image, get_distro, list_images, remove_images
from .lifecycle import VerifyOptions, verify_lifecycle
from .report import Progress, RunResult, StepResult, summary_table, to_json, to_junit_xml
from .sysvinit import verify_sysvinit

__all__ = [
    "DISTROS",
    "Artifact",
    "Distro",
    "Progress",
    "RunResult",
    "StepResult",
    "VerifyContainer",
    "VerifyImage",
    "VerifyOptions",
    "build_image",
    "connect",
    "derive_image",
    "find_image",
    "get_distro",
    "list_images",
    "read_artifact",
    "remove_images",
    "summary_table",
    "to_json",
    "to_junit_xml",
    "verify_lifecycle",
    "verify_sysvinit",
]
