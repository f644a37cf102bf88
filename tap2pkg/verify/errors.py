"""Errors of ``tap2pkg verify`` and ``tap2pkg images``, defined with their codes in :mod:`tap2pkg.errors`."""

from __future__ import annotations

from ..errors import (
    AppBuildError,
    EngineUnavailableError,
    ImageBuildError,
    ImageMissingError,
    NotAPackageError,
    UnknownDistroError,
    VerificationFailed,
)

__all__ = [
    "AppBuildError",
    "EngineUnavailableError",
    "ImageBuildError",
    "ImageMissingError",
    "NotAPackageError",
    "UnknownDistroError",
    "VerificationFailed",
]
