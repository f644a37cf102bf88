"""Where ``tapd``'s log lines go and what they look like.

Destinations: a log file (reopened on SIGHUP/SIGUSR1 for logrotate, with an
optional size-based rotation), standard output, or syslog. Formats:

* text, as twistd writes it: ``2026-11-23T20:40:00+0000 [tapd] message``;
* when standard output is the systemd journal (``JOURNAL_STREAM``), the same
  without the timestamp and with a ``<priority>`` prefix journald reads;
* json: one object per line, ``{"time": ..., "level": ..., "logger": ..., "message": ...}``.

A log file is never opened through a symbolic link (tapd may open it as
root in a directory the service's user owns): a link there is refused with
:class:`OutputError`, at start and when the file is reopened.
"""

from __future__ import annotations

import errno
import io
import logging
import os
import sys
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, TextIO

from .errors import OutputError
from .lazy import lazy_import

if TYPE_CHECKING:
    import json
    import syslog
else:  # imported on first use: only --log-format json and --syslog pay for them
    json = lazy_import("json")
    syslog = lazy_import("syslog")

#: logging level -> syslog priority (also the journald ``<N>`` prefix)
PRIORITIES = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3, logging.CRITICAL: 2}


def priority(level: int) -> int:
    """The syslog priority for a logging level."""
    for threshold in (logging.CRITICAL, logging.ERROR, logging.WARNING, logging.INFO):
        if level >= threshold:
            return PRIORITIES[threshold]
    return PRIORITIES[logging.DEBUG]


def timestamp(created: float) -> str:
    """Local time with its UTC offset, e.g. ``2026-11-23T20:40:00+0000``."""
    return time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(created))


class TextFormatter(logging.Formatter):
    """``<time> [<logger>] <message>``; without the time (and with a priority prefix) for journald."""

    def __init__(self, *, journald: bool = False) -> None:
        super().__init__()
        self.journald = journald

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.exc_info:
            message = f"{message}\n{self.formatException(record.exc_info)}"
        if record.levelno >= logging.WARNING:
            message = f"{record.levelname}: {message}"
        if self.journald:
            prefix = f"<{priority(record.levelno)}>"
            return "\n".join(f"{prefix}[{record.name}] {line}" for line in message.splitlines() or [""])
        stamp = timestamp(record.created)
        return "\n".join(f"{stamp} [{record.name}] {line}" for line in message.splitlines() or [""])


class JSONFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def __init__(self) -> None:
        super().__init__()
        # the first read of json (its import) is here, not at the first record: that may come after
        # --chroot, where the module is out of reach
        self._dumps = json.dumps

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": timestamp(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return self._dumps(entry, ensure_ascii=False)


#: how a log file is opened: appended to, created if missing, never through a symbolic link
_APPEND = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


class LogFile(logging.Handler):
    """A log file that can be reopened (after logrotate moved it) and rotated by size.

    Every record is written and flushed whole, so reopening between two
    records loses nothing.
    """

    def __init__(self, path: str, *, max_bytes: int = 0, backups: int = 5) -> None:
        super().__init__()
        self.path = path
        self.max_bytes = max_bytes
        self.backups = backups
        self.stream: TextIO = self._open()

    def _open(self) -> TextIO:
        # tapd may open the file as root in a directory the service's user owns: never through
        # a symbolic link (O_NOFOLLOW), and never block on a FIFO put there (O_NONBLOCK)
        try:
            fd = os.open(self.path, _APPEND, 0o666)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise OutputError(f"cannot open the log file {self.path}: it is a symbolic link, and tapd "
                                  "never writes through links (it may run as root); give the real file "
                                  "with --logfile, and check who can write to its directory") from None
            if exc.errno == errno.ENXIO:
                raise OutputError(f"cannot open the log file {self.path}: it is a FIFO nobody reads "
                                  "(give a regular file with --logfile)") from None
            raise OutputError(f"cannot open the log file {self.path}: {exc.strerror} "
                              "(choose another with --logfile, or --logfile=- for stdout)") from None
        os.set_blocking(fd, True)
        return open(fd, "a", encoding="utf-8", errors="backslashreplace")

    def reopen(self) -> None:
        """Close and reopen the file by name (logrotate ``create`` mode); keeps the old one on error."""
        with self.lock:  # type: ignore[union-attr]  # Handler.__init__ made it
            try:
                new = self._open()
            except OutputError as exc:
                self.stream.write(f"{timestamp(time.time())} [tapd] ERROR: {exc}\n")
                self.stream.flush()
                return
            self.stream.close()
            self.stream = new

    def _rotate(self) -> None:
        self.stream.close()
        if self.backups > 0:
            for index in range(self.backups - 1, 0, -1):
                older = f"{self.path}.{index}"
                if os.path.exists(older):
                    os.replace(older, f"{self.path}.{index + 1}")
            os.replace(self.path, f"{self.path}.1")
        else:
            os.unlink(self.path)
        self.stream = self._open()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record) + "\n"
            if self.max_bytes:
                # the file's size, not our offset: logrotate's copytruncate may have emptied it
                size = os.fstat(self.stream.fileno()).st_size
                if size > 0 and size + len(line.encode("utf-8", "backslashreplace")) > self.max_bytes:
                    self._rotate()
            self.stream.write(line)
            self.stream.flush()
        except Exception:  # noqa: BLE001 -- logging must never take the daemon down
            self.handleError(record)

    def close(self) -> None:
        with self.lock:  # type: ignore[union-attr]  # Handler.__init__ made it
            if not self.stream.closed:
                self.stream.close()
        super().close()


class SyslogHandler(logging.Handler):
    """Log through the C library's ``syslog(3)`` (ident ``--prefix``, the pid in every line)."""

    def __init__(self, ident: str) -> None:
        super().__init__()
        syslog.openlog(ident, syslog.LOG_PID | syslog.LOG_NDELAY, syslog.LOG_DAEMON)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            for line in self.format(record).splitlines() or [""]:
                syslog.syslog(priority(record.levelno), line)
        except Exception:  # noqa: BLE001 -- logging must never take the daemon down
            self.handleError(record)

    def close(self) -> None:
        syslog.closelog()
        super().close()


def is_journal(environ: Mapping[str, str] | None = None, stream: TextIO | None = None) -> bool:
    """Whether ``stream`` (default stdout) is the journald stream named by ``JOURNAL_STREAM``."""
    env = os.environ if environ is None else environ
    value = env.get("JOURNAL_STREAM", "")
    device, _, inode = value.partition(":")
    if not device.isdigit() or not inode.isdigit():
        return False
    try:
        info = os.fstat((stream or sys.stdout).fileno())
    except (OSError, ValueError, io.UnsupportedOperation):
        return False
    return (info.st_dev, info.st_ino) == (int(device), int(inode))


def open_log(*, logfile: str | None, use_syslog: bool = False, prefix: str = "tapd",
             log_format: str = "text", max_bytes: int = 0, backups: int = 5,
             level: int = logging.INFO) -> logging.Handler:
    """Create the log destination and install it, alone, on the root logger."""
    handler: logging.Handler
    journald = False
    if use_syslog:
        handler = SyslogHandler(prefix)
    elif logfile is not None:
        handler = LogFile(logfile, max_bytes=max_bytes, backups=backups)
    else:
        handler = logging.StreamHandler(sys.stdout)
        journald = is_journal()
    if log_format == "json":
        handler.setFormatter(JSONFormatter())
    elif use_syslog:
        handler.setFormatter(logging.Formatter("[%(name)s] %(message)s"))
    else:
        handler.setFormatter(TextFormatter(journald=journald))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(True)
    return handler


def reopen_log(handler: logging.Handler) -> None:
    """Reopen a log file by name (logrotate); nothing to do for standard output and syslog."""
    if isinstance(handler, LogFile):
        handler.reopen()


def close_log(handler: logging.Handler) -> None:
    """Flush and detach the handler :func:`open_log` installed."""
    logging.getLogger().removeHandler(handler)
    handler.close()
