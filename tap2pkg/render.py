"""One Jinja2 environment over ``templates/``, and the filters templates use.

Templates hold layout only; anything with logic (folding a description for
``debian/control``, formatting dates, quoting for the shell) is a small Python
function here, registered as a filter and tested on its own. The environment
is strict: an undefined variable is an error, not an empty string.

The context every template gets comes from :func:`template_context`: the
:class:`~tap2pkg.spec.PackageSpec` as ``spec``, the
:class:`~tap2pkg.payload.Layout` as ``layout``, ``distro`` (``"debian"`` or
``"fedora"``), the build time as ``build_time`` and the ``tapd`` command line
pieces. Each template is rendered once per build, by the payload
(:class:`~tap2pkg.payload.Payload` and each format's payload).

Jinja2 keeps the templates it compiled in a per-user bytecode cache
(``$XDG_CACHE_HOME/tap2pkg/jinja2``, Jinja2's own ``FileSystemBytecodeCache``,
keyed by each template's source, in a private directory per Jinja2 version and
compile options), so a build compiles only the templates that changed since
the last one. It is the one cache a build keeps on disk:
without it a single ``tap2deb`` build compiles every template (the rows "with
an empty tap2pkg cache" in ``BENCHMARKS.md``). Deleting it is always safe; an
unwritable, damaged or shared one only costs time.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shlex
import textwrap
import time
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .deb.licenses import MIT_TEXT
from .runtime.kinds import TAPD_OPTIONS, TWISTD_OPTIONS
from .runtime.lazy import lazy_import

if TYPE_CHECKING:
    from collections.abc import Mapping

    import jinja2

    from .payload import Layout
    from .spec import PackageSpec
else:  # imported on first use: only rendering needs it (tapd, verify and --help never load it)
    jinja2 = lazy_import("jinja2")

TEMPLATES = Path(__file__).resolve().parent / "templates"


def fold_description(summary: str, long_description: str = "") -> str:
    """A Debian ``Description:`` value: summary, then the long text indented one space.

    Blank lines become `` .``; each paragraph is wrapped at 79 columns.
    """
    lines = [summary.strip()]
    paragraphs = [p for p in long_description.strip().split("\n\n")] if long_description.strip() else []
    for i, para in enumerate(paragraphs):
        if i:
            lines.append(" .")
        text = " ".join(para.split())
        # a long word (a URL) stays whole: breaking it would change the text
        wrapped = textwrap.wrap(text, 78, break_on_hyphens=False, break_long_words=False)
        lines += [" " + ln for ln in wrapped] or [" ."]
    return "\n".join(lines)


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def rfc2822(epoch: int) -> str:
    """``epoch`` as a Debian changelog date, in UTC (``Tue, 14 Nov 2023 22:13:20 -0000``)."""
    t = time.gmtime(epoch)
    # English names whatever the locale, as email.utils.formatdate writes them
    return (f"{_DAYS[t.tm_wday]}, {t.tm_mday:02d} {_MONTHS[t.tm_mon - 1]} {t.tm_year:04d} "
            f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} -0000")


def rpm_date(epoch: int) -> str:
    """``epoch`` as an RPM ``%changelog`` date (``Mon Nov 23 2026``)."""
    t = time.gmtime(epoch)
    return f"{_DAYS[t.tm_wday]} {_MONTHS[t.tm_mon - 1]} {t.tm_mday:02d} {t.tm_year}"


def shell_quote(value: object) -> str:
    """Quote ``value`` for POSIX ``sh``."""
    return shlex.quote(str(value))


def systemd_text(value: object) -> str:
    """``value`` for a free-text unit setting (``Description=``): ``%`` doubled so no specifier expands.

    Line breaks, and a trailing backslash that would continue the line, are
    refused earlier by :class:`~tap2pkg.spec.PackageSpec`.
    """
    return str(value).replace("%", "%%")


def wrap_lines(text: str, width: int = 79) -> str:
    """Wrap each paragraph of ``text`` at ``width`` columns, keeping blank lines between them."""
    paras = [" ".join(p.split()) for p in text.strip().split("\n\n")]
    return "\n\n".join(textwrap.fill(p, width, break_on_hyphens=False, break_long_words=False)
                       for p in paras if p)


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """The shared environment (cached): strict, newline-keeping, no autoescape, bytecode kept."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        fold_description=fold_description,
        rfc2822=rfc2822,
        rpm_date=rpm_date,
        shell_quote=shell_quote,
        systemd_text=systemd_text,
        wrap_lines=wrap_lines,
    )
    env.bytecode_cache = _bytecode_cache(env, os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache"))
    return env


def _bytecode_cache(env: jinja2.Environment, home: str) -> jinja2.BytecodeCache | None:
    """Jinja2's bytecode cache under ``<home>/tap2pkg/jinja2``, one directory per Jinja2 version and
    compile options (Jinja2 keys an entry by the template's source only); None when the directory
    cannot be made, or is not the user's own and private (the cache holds code that runs).

    A damaged entry is compiled again and a failed write (a full disk, the directory deleted
    meanwhile) is skipped: the cache only ever saves time.
    """

    class Forgiving(jinja2.FileSystemBytecodeCache):
        def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
            try:
                super().load_bytecode(bucket)
            except Exception:  # noqa: BLE001 -- any damage (a cut or garbled entry) means: compile it
                bucket.reset()

        def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
            with contextlib.suppress(OSError):
                super().dump_bytecode(bucket)

    options = (jinja2.__version__, env.keep_trailing_newline, env.autoescape, env.trim_blocks,
               env.lstrip_blocks)
    base = Path(home) / "tap2pkg" / "jinja2" / hashlib.sha256(repr(options).encode()).hexdigest()[:16]
    try:
        base.mkdir(mode=0o700, parents=True, exist_ok=True)
        st = os.stat(base)
    except OSError:
        return None
    if st.st_uid != os.getuid() or st.st_mode & 0o077 or not os.access(base, os.W_OK):
        return None
    return Forgiving(str(base))


def render(template: str, context: Mapping[str, Any]) -> str:
    """Render ``template`` (a path under ``templates/``) with ``context``."""
    return environment().get_template(template).render(context)


def tapd_arguments(spec: PackageSpec, layout: Layout, *, daemon: bool) -> list[str]:
    """The ``tapd`` arguments that run ``spec``'s app (foreground for systemd, else daemonizing)."""
    # In the foreground systemd tracks the process: no pidfile, log to the journal (stdout).
    if daemon:
        args = ["--pidfile", layout.pidfile, "--logfile", layout.logfile]
    else:
        args = ["--nodaemon", "--pidfile="]
    args += ["--no_save", "--rundir", layout.statedir, TAPD_OPTIONS[spec.app_kind], layout.app_path]
    return args


def twisted_arguments(spec: PackageSpec, layout: Layout, *, daemon: bool) -> list[str]:
    """The Twisted launcher's (twistd's) arguments that run ``spec``'s app under the distribution's Twisted.

    Under systemd: in the foreground, no pidfile, the log on stdout (the journal), as the unit's user.
    For the init script: daemonized with a pidfile and a log file, started as root so the app binds its
    ports before Twisted switches to the package's user (``--uid``/``--gid``).
    """
    if daemon:
        args = ["--pidfile", layout.pidfile, "--logfile", layout.logfile, "--uid", spec.user,
                "--gid", spec.user, "--umask", "0027"]
    else:
        args = ["--nodaemon", "--pidfile=", "--logfile=-"]
    args += ["--no_save", "--rundir", layout.statedir, TWISTD_OPTIONS[spec.app_kind], layout.app_path]
    return args


#: Services of the bundled runtime that open connections out (the rest only listen).
CLIENT_SERVICES = frozenset({"ClientService"})


def connects_out(spec: PackageSpec) -> bool:
    """Whether the service may connect out, so its unit waits for ``network-online.target``.

    Known only for a tapd app whose services inspection listed (``spec.app_info["services"]``); a
    Twisted app, or an app whose services are unknown, may.
    """
    services = spec.app_info.get("services")
    if spec.runtime != "tapd" or services is None:
        return True
    return any(cls in CLIENT_SERVICES for cls, _name in services)


def template_context(spec: PackageSpec, layout: Layout, build_time: int) -> dict[str, Any]:
    """Everything templates may use, for ``spec`` installed as ``layout``, built at ``build_time``."""
    context: dict[str, Any] = {
        "spec": spec,
        "layout": layout,
        "distro": layout.distro,
        "build_time": build_time,
        "tapd_foreground": " ".join(shlex.quote(a) for a in tapd_arguments(spec, layout, daemon=False)),
        "tapd_daemon": " ".join(shlex.quote(a) for a in tapd_arguments(spec, layout, daemon=True)),
    }
    context["connects_out"] = connects_out(spec)
    context["bundled_license"] = MIT_TEXT
    if spec.runtime == "twisted":
        for key, daemon in (("twisted_foreground", False), ("twisted_daemon", True)):
            context[key] = " ".join(shlex.quote(a) for a in twisted_arguments(spec, layout, daemon=daemon))
    return context
