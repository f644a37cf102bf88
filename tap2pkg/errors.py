"""Every error the packaging tools raise, with its exit code.

This re-exports the runtime's errors (:mod:`tap2pkg.runtime.errors`) and adds
the ones only the build side needs. Each bad-input case the command line can
meet has its own class and its own exit code, so a CI job can tell them apart:

====  ==========================  =============================================
code  class                       meaning
====  ==========================  =============================================
64    UsageError                  bad option combination
65    AppFileError                the app file does not load
66    AppFileNotFoundError        the app file does not exist
73    OutputError                 the output directory cannot be written
76    UnsafeAppFileError          loading the app file would run code
78    ConfigError                 a bad ``[tool.tap2pkg]`` / ``--config`` file
79    UnknownAppTypeError         ``--type`` or the suffix names no known type
80    InvalidPackageNameError     package name breaks Debian Policy / RPM rules
81    InvalidVersionError         version or revision breaks the rules
82    InvalidMaintainerError      maintainer lacks a name or an email address
83    IncludeNotFoundError        an ``--include`` is missing or unpackable
84    BuildToolError              dpkg-buildpackage, dpkg-source... failed
85    MissingToolError            an external tool the builder needs is absent
86    InvalidOptionValueError     another option value is invalid (user, port..)
87    UnsupportedEditError        a tree edit the native builder cannot build
====  ==========================  =============================================

A signal is not an error: on SIGINT, SIGTERM or SIGHUP the front ends clean up
and exit 128 + the signal's number (:func:`tap2pkg.cli.common.run_guarded`).
"""

from __future__ import annotations

from .runtime.errors import (
    AlreadyRunningError,
    AppFileError,
    AppFileNotFoundError,
    ConfigError,
    OutputError,
    PermissionDeniedError,
    ServiceUnavailableError,
    Tap2pkgError,
    UnknownUserError,
    UnsafeAppFileError,
    UsageError,
)

__all__ = [
    "AlreadyRunningError",
    "AppFileError",
    "AppFileNotFoundError",
    "BuildToolError",
    "ConfigError",
    "IncludeNotFoundError",
    "InvalidMaintainerError",
    "InvalidOptionValueError",
    "InvalidPackageNameError",
    "InvalidVersionError",
    "MissingToolError",
    "OutputError",
    "PermissionDeniedError",
    "ServiceUnavailableError",
    "Tap2pkgError",
    "UnknownAppTypeError",
    "UnknownUserError",
    "UnsafeAppFileError",
    "UnsupportedEditError",
    "UsageError",
]


class UnknownAppTypeError(UsageError):
    """``--type`` names no known type, or the app file's suffix says nothing."""

    exit_code = 79


class InvalidPackageNameError(ConfigError):
    """A package name that Debian Policy (or RPM) does not allow."""

    exit_code = 80


class InvalidVersionError(ConfigError):
    """A version, revision or release that the package format does not allow."""

    exit_code = 81


class InvalidMaintainerError(ConfigError):
    """A maintainer that is not ``Full Name <email@address>``."""

    exit_code = 82


class IncludeNotFoundError(ConfigError):
    """An ``--include`` path that does not exist, or holds what cannot be packaged (a link out of it,
    a dangling link, a FIFO, a socket, a device)."""

    exit_code = 83


class BuildToolError(Tap2pkgError):
    """An external build tool (dpkg-source, dpkg-buildpackage, rpmbuild...) failed."""

    exit_code = 84


class MissingToolError(Tap2pkgError):
    """An external tool the chosen builder needs is not installed."""

    exit_code = 85


class InvalidOptionValueError(ConfigError):
    """Any other option value that is out of range (user name, port, license...)."""

    exit_code = 86


class UnsupportedEditError(Tap2pkgError):
    """An edit of the emitted source tree (``debian/``, the ``.spec``) that the native builder cannot
    honour; the standard tool builder (``--builder dpkg`` / ``--builder rpmbuild``) can."""

    exit_code = 87
