"""Errors shared by the runtime and the tools built on it.

Every error tap2pkg raises on purpose derives from :class:`Tap2pkgError`. Each
class carries the process exit code the command-line front ends use (sysexits
style where a code fits), and a message that names the file or option at
fault and says how to fix it.
"""

from __future__ import annotations


def brief(value: object, limit: int = 60) -> str:
    """A short description of ``value`` for an error message: a hostile file never floods the line.

    Text and numbers are shown (cut short: a huge number by its size, as Python
    refuses to print one of more than 4300 digits); anything else by its type
    alone, so that a deep or self-containing value is never walked.
    """
    if isinstance(value, bool) or value is None or isinstance(value, float):
        return repr(value)
    if isinstance(value, int):
        if value.bit_length() > 3 * limit:
            try:
                return f"a {len(str(abs(value)))}-digit number"
            except ValueError:  # more digits than Python prints
                return f"a number of about {value.bit_length() * 30103 // 100000} digits"
        text = repr(value)
    elif isinstance(value, (str, bytes)):
        text = repr(value[:limit])
    else:
        kind = type(value).__name__
        size = ""
        if isinstance(value, (list, tuple, dict, set, frozenset)):
            size = f" of {len(value)} item{'' if len(value) == 1 else 's'}"
        return f"{'an' if kind[:1] in 'aeiouAEIOU' else 'a'} {kind}{size}"
    return text if len(text) <= limit else f"{text[:limit - 3]}..."


def clip(text: str, limit: int = 80) -> str:
    """``text`` as is when short, else its start and ``...``: names taken from a file stay readable."""
    return text if len(text) <= limit else f"{text[:limit - 3]}..."


class Tap2pkgError(Exception):
    """Root of every deliberate tap2pkg error; ``exit_code`` is what the CLI exits with."""

    exit_code: int = 70  # EX_SOFTWARE

    def __init__(self, message: str, *, exit_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if exit_code is not None:
            self.exit_code = exit_code

    def __str__(self) -> str:
        return self.message


class UsageError(Tap2pkgError):
    """A bad command-line option or argument."""

    exit_code = 64  # EX_USAGE


class AppFileError(Tap2pkgError):
    """An application file that cannot be loaded: syntax error, truncated, no ``application``..."""

    exit_code = 65  # EX_DATAERR

    def __init__(self, path: object, problem: str, *, line: int | None = None,
                 expected: str | None = None, exit_code: int | None = None) -> None:
        where = f"{path}:{line}" if line is not None else f"{path}"
        message = f"{where}: {problem}"
        if expected:
            message += f" (expected {expected})"
        super().__init__(message, exit_code=exit_code)
        self.path = str(path)
        self.line = line
        self.problem = problem
        self.expected = expected


class AppFileNotFoundError(AppFileError):
    """The application file does not exist or cannot be read."""

    exit_code = 66  # EX_NOINPUT


class UnsafeAppFileError(AppFileError):
    """An application file whose loading would run code it is not allowed to run."""

    exit_code = 76


class UnknownUserError(Tap2pkgError):
    """A user or group name/number that does not exist on this system."""

    exit_code = 67  # EX_NOUSER


class ServiceUnavailableError(Tap2pkgError):
    """A service could not start, e.g. its port is already in use."""

    exit_code = 69  # EX_UNAVAILABLE


class AlreadyRunningError(Tap2pkgError):
    """The pidfile names a live process: another instance is running."""

    exit_code = 75  # EX_TEMPFAIL


class PermissionDeniedError(Tap2pkgError):
    """An operation needs privileges the process does not have."""

    exit_code = 77  # EX_NOPERM


class ConfigError(Tap2pkgError):
    """A configuration value that is invalid (package name, version, maintainer...)."""

    exit_code = 78  # EX_CONFIG


class OutputError(Tap2pkgError):
    """An output file or directory cannot be created or written."""

    exit_code = 73  # EX_CANTCREAT
