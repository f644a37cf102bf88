"""The Debian backend: source tree + ``dpkg-source``, the ``dpkg`` builder, the native writer.

:func:`build_deb` is the one entry point front ends call; the modules behind it
are ``source`` (the editable tree and the source package), ``dpkg``
(``dpkg-buildpackage``), ``native`` (the ``.deb`` in pure Python) and
``archive`` (reproducible tar and ``ar``).
"""

from .build import BUILDERS, DebBuildResult, build_deb

__all__ = ["BUILDERS", "DebBuildResult", "build_deb"]
