"""Errors of ``tap2pkg verify`` and ``tap2pkg images``, each with its exit code."""

from __future__ import annotations

from ..runtime.errors import Tap2pkgError


class EngineUnavailableError(Tap2pkgError):
    """No docker engine answers (or the docker SDK is missing)."""

    exit_code = 69  # EX_UNAVAILABLE


class ImageMissingError(Tap2pkgError):
    """The verification image for a distro has not been built yet."""

    exit_code = 72  # EX_OSFILE


class ImageBuildError(Tap2pkgError):
    """Building a verification image failed (debootstrap, docker import or docker build)."""

    exit_code = 70  # EX_SOFTWARE


class NotAPackageError(Tap2pkgError):
    """An artifact given to ``tap2pkg verify`` is neither a .deb nor an .rpm."""

    exit_code = 65  # EX_DATAERR


class UnknownDistroError(Tap2pkgError):
    """A ``--distro`` name that tap2pkg has no image recipe for."""

    exit_code = 64  # EX_USAGE


class VerificationFailed(Tap2pkgError):
    """At least one lifecycle step failed; the report says which."""

    exit_code = 1


class AppBuildError(Tap2pkgError):
    """Building packages from an app file given to ``tap2pkg verify`` failed."""

    exit_code = 70  # EX_SOFTWARE
