"""Every error tap2pkg raises on purpose, and the one table of exit codes.

All of them derive from one root, :class:`Tap2pkgError`; the library raises
them, only ``tap2pkg.cli`` (and ``tapd``) turns one into a line on stderr and
its exit code. The runtime's own classes live in :mod:`tap2pkg.runtime.errors`
(the runtime is standard library only and is copied into packages); this module
re-exports them and adds the build-side and ``verify``/``images`` ones.

:data:`EXIT_CODES` is the table: each code, what it means (the wording of the
README's "Exit codes" table, which a test holds to it) and the classes that
exit with it. A code means one thing: a subclass shares its parent's code only
where the meaning is the same (:class:`UnknownDistroError` is a usage error).
Codes 129, 130 and 143 are not errors: on SIGHUP, SIGINT or SIGTERM the front
ends clean up and exit 128 + the signal's number
(:func:`tap2pkg.cli.common.run_guarded`).
"""

from __future__ import annotations

from dataclasses import dataclass

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
    "EXIT_CODES",
    "AlreadyRunningError",
    "AppBuildError",
    "AppFileError",
    "AppFileNotFoundError",
    "BuildToolError",
    "ConfigError",
    "EngineUnavailableError",
    "ExitCode",
    "ImageBuildError",
    "ImageMissingError",
    "IncludeNotFoundError",
    "InvalidMaintainerError",
    "InvalidOptionValueError",
    "InvalidPackageNameError",
    "InvalidVersionError",
    "MergeConflictError",
    "MissingToolError",
    "NotAPackageError",
    "OutputError",
    "PermissionDeniedError",
    "ProjectError",
    "RequirementError",
    "ServiceUnavailableError",
    "Tap2pkgError",
    "UnknownAppTypeError",
    "UnknownDistroError",
    "UnknownUserError",
    "UnsafeAppFileError",
    "UnsupportedEditError",
    "UsageError",
    "VerificationFailed",
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
    honour; the tool builder (``--builder dpkg`` / ``--builder rpmbuild``) can."""

    exit_code = 91


class ProjectError(Tap2pkgError):
    """The app's Python project (``--project``) cannot be read: no project there, a bad ``[project]``
    table, or a build backend that fails to give its metadata."""

    exit_code = 92


class RequirementError(Tap2pkgError):
    """A requirement of the app's project maps to no distribution package and cannot be made a
    companion package (no such project on PyPI, no sdist of a matching version)."""

    exit_code = 93


class MergeConflictError(Tap2pkgError):
    """Hand edits of a source tree and the regenerated files change the same lines: the files are left with
    conflict markers and ``FILE.tap2pkg-new`` beside them, nothing is built. One line per file."""

    exit_code = 94

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        #: one line per conflicting file
        self.lines = list(lines)


# ``tap2pkg verify`` and ``tap2pkg images`` (re-exported by :mod:`tap2pkg.verify.errors`).


class VerificationFailed(Tap2pkgError):
    """At least one lifecycle step failed; the report says which."""

    exit_code = 1


class ImageMissingError(Tap2pkgError):
    """The verification image for a distro has not been built yet."""

    exit_code = 72  # EX_OSFILE


class UnknownDistroError(UsageError):
    """A ``--distro`` (or ``images`` DISTRO) name that tap2pkg has no image recipe for."""

    exit_code = 64  # EX_USAGE: a usage error like its parent


class NotAPackageError(Tap2pkgError):
    """An artifact given to ``tap2pkg verify`` is neither a .deb nor an .rpm."""

    exit_code = 87


class EngineUnavailableError(Tap2pkgError):
    """No docker engine answers (or the docker SDK is missing)."""

    exit_code = 88


class ImageBuildError(Tap2pkgError):
    """A verification image does not build (debootstrap, docker import, docker build), or its container
    does not start."""

    exit_code = 89


class AppBuildError(Tap2pkgError):
    """Building packages from an app file given to ``tap2pkg verify`` failed."""

    exit_code = 90


@dataclass(frozen=True, slots=True)
class ExitCode:
    """One row of the exit-code table."""

    #: The process exit code.
    code: int
    #: What it means, as the README's "Exit codes" table says it (Markdown).
    meaning: str
    #: The names of the :class:`Tap2pkgError` classes that exit with it (none for a signal). Names,
    #: not classes: ``ServiceError`` lives in the runtime's services module, which this must not import.
    errors: tuple[str, ...] = ()


#: Every exit code of every command, in order. README's table is checked against it (tests/test_errors.py).
EXIT_CODES: tuple[ExitCode, ...] = (
    ExitCode(1, "`tap2pkg verify`: a lifecycle step failed", ("VerificationFailed",)),
    ExitCode(64, "bad command-line option or argument (every command: one line, not argparse's 2); "
                 "`verify`, `images`: unknown distro", ("UsageError", "UnknownDistroError")),
    ExitCode(65, "the application file does not load (syntax error, truncated, no `application`)",
             ("AppFileError",)),
    ExitCode(66, "the application file does not exist or cannot be read", ("AppFileNotFoundError",)),
    ExitCode(67, "unknown user or group", ("UnknownUserError",)),
    ExitCode(69, "a service cannot start (e.g. port already in use)", ("ServiceUnavailableError",)),
    ExitCode(70, "internal error: an unexpected failure (`tapd`: in a service, or an application that "
                 "misuses the services tree; the log has the traceback)", ("Tap2pkgError", "ServiceError")),
    ExitCode(72, "`verify`: the image is missing (the message gives the `tap2pkg images build` command)",
             ("ImageMissingError",)),
    ExitCode(73, "an output file or directory cannot be written (no space left, or a file or link where a "
                 "result goes)", ("OutputError",)),
    ExitCode(75, "another instance is already running (live pidfile)", ("AlreadyRunningError",)),
    ExitCode(76, "the application file would run code when loaded; refused without running it",
             ("UnsafeAppFileError",)),
    ExitCode(77, "permission denied", ("PermissionDeniedError",)),
    ExitCode(78, "bad `[tool.tap2pkg]` / `--config` file", ("ConfigError",)),
    ExitCode(79, "unknown application file type", ("UnknownAppTypeError",)),
    ExitCode(80, "invalid package name", ("InvalidPackageNameError",)),
    ExitCode(81, "invalid version or revision/release, or one lower than the source tree's last release",
             ("InvalidVersionError",)),
    ExitCode(82, "maintainer without an email address", ("InvalidMaintainerError",)),
    ExitCode(83, "an `--include` path does not exist, or holds what cannot be packaged (a link out of it, "
                 "a dangling link, a FIFO, socket or device)", ("IncludeNotFoundError",)),
    ExitCode(84, "a build tool failed (`dpkg-buildpackage`, `rpmbuild`, `dpkg-source`)", ("BuildToolError",)),
    ExitCode(85, "a build tool is missing", ("MissingToolError",)),
    ExitCode(86, "another bad option value (user, port, license, homepage, depends, `SOURCE_DATE_EPOCH`, "
                 "an included file name)", ("InvalidOptionValueError",)),
    ExitCode(87, "`verify`: an ARTIFACT is not a .deb or .rpm package", ("NotAPackageError",)),
    ExitCode(88, "`verify`, `images`: no docker engine answers (or the docker SDK is missing)",
             ("EngineUnavailableError",)),
    ExitCode(89, "`images build`, `verify`: a verification image does not build, or its container does not "
                 "start", ("ImageBuildError",)),
    ExitCode(90, "`verify`: an application file it was given does not build (the line gives the build's "
                 "error)", ("AppBuildError",)),
    ExitCode(91, "the native builder cannot build an edit of the source tree (a changed `debian/rules`, an "
                 "extra `debian/` file, a `.spec` edited beyond its values); the line names "
                 "`--builder dpkg` / `--builder rpmbuild`", ("UnsupportedEditError",)),
    ExitCode(92, "the app's Python project (`--project`) cannot be read (no project there, a bad `[project]` "
                 "table, a build backend that fails)", ("ProjectError",)),
    ExitCode(93, "a requirement of the app's project is in no distribution archive and cannot be made a "
                 "companion package (the line names it and the options that resolve it)",
             ("RequirementError",)),
    ExitCode(94, "hand edits of the source tree and the regenerated files change the same lines: conflict "
                 "markers and `FILE.tap2pkg-new` are left in the tree, one line per file, nothing is built",
             ("MergeConflictError",)),
    ExitCode(129, "interrupted by SIGHUP (the build cleans up as for Ctrl-C)"),
    ExitCode(130, "interrupted (Ctrl-C, SIGINT)"),
    ExitCode(143, "interrupted by SIGTERM (the build cleans up as for Ctrl-C)"),
)
