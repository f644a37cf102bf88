"""The tap2pkg runtime: services tree, built-in services, persistence and ``tapd``.

Standard library only: this package is copied verbatim into every package
tap2pkg builds (``/usr/lib/<pkg>/tap2pkg/runtime``).
"""

from .errors import AppFileError, Tap2pkgError
from .service import Application, Factory, MultiService, Ref, Service, persistable

__all__ = [
    "AppFileError",
    "Application",
    "Factory",
    "MultiService",
    "Ref",
    "Service",
    "Tap2pkgError",
    "persistable",
]
