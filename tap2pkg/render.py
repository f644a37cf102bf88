"""One Jinja2 environment over ``templates/``, and the filters templates use.

Templates hold layout only; anything with logic (folding a description for
``debian/control``, formatting dates, quoting for the shell) is a small Python
function here, registered as a filter and tested on its own. The environment
is strict: an undefined variable is an error, not an empty string.

The context every template gets comes from :func:`template_context`: the
:class:`~tap2pkg.spec.PackageSpec` as ``spec``, the
:class:`~tap2pkg.bundle.Layout` as ``layout``, ``distro`` (``"debian"`` or
``"fedora"``) and the ``tapd`` command line pieces.

Rendering is cached per user (``$XDG_CACHE_HOME/tap2pkg/rendered``), keyed by
the template files and the whole context, so a rebuild of the same package
does not even import Jinja2 (the import and set-up were most of a single
build's start-up). The cached text is exactly what Jinja2 rendered; a render
that read the clock (a date filter given no ``SOURCE_DATE_EPOCH``) is never
stored.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import textwrap
import time
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .bundle import SERVICE_ROLES, Layout
from .runtime.kinds import TAPD_OPTIONS
from .spec import PackageSpec

if TYPE_CHECKING:
    from collections.abc import Callable

    import jinja2

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
#: set when a filter read the clock: that render's text must not be cached
_read_clock = False


def _moment(epoch: int | None) -> time.struct_time:
    global _read_clock
    if epoch is None:
        _read_clock = True
        return time.gmtime(time.time())
    return time.gmtime(epoch)


def rfc2822(epoch: int | None) -> str:
    """``epoch`` (None: now) as a Debian changelog date, in UTC (``Tue, 14 Nov 2023 22:13:20 -0000``)."""
    t = _moment(epoch)
    # English names whatever the locale, as email.utils.formatdate writes them
    return (f"{_DAYS[t.tm_wday]}, {t.tm_mday:02d} {_MONTHS[t.tm_mon - 1]} {t.tm_year:04d} "
            f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} -0000")


def rpm_date(epoch: int | None) -> str:
    """``epoch`` (None: now) as an RPM ``%changelog`` date (``Mon Nov 23 2026``)."""
    t = _moment(epoch)
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


def cache_dir(name: str) -> Path | None:
    """``$XDG_CACHE_HOME/tap2pkg/<name>`` (created), or None when it cannot be written."""
    return _cache_dir(name, os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache"))


@lru_cache(maxsize=16)
def _cache_dir(name: str, home: str) -> Path | None:
    base = Path(home) / "tap2pkg" / name
    try:
        base.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return base if os.access(base, os.W_OK) else None


def _bytecode_cache() -> jinja2.BytecodeCache | None:
    """A per-user cache of compiled templates (compiling dominated a single build); None if unwritable."""
    import jinja2

    base = cache_dir("jinja")
    # Jinja checks each template's source checksum, so a stale entry is never used.
    return None if base is None else jinja2.FileSystemBytecodeCache(str(base))


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """The shared environment (cached): strict, newline-keeping, no autoescape."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        bytecode_cache=_bytecode_cache(),
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
    return env


#: rendered texts kept at most; past it the older half is dropped
RENDER_CACHE_ENTRIES = 4096
_use_render_cache = [True]


def use_render_cache(enabled: bool) -> None:
    """Turn the rendered-text cache on or off for this process.

    A call that builds several packages imports Jinja2 once for all of them,
    so there looking up and storing every text costs more than it saves.
    """
    _use_render_cache[0] = enabled


@lru_cache(maxsize=1)
def _templates_fingerprint() -> str:
    """What a template's output depends on besides its context's fields: the template files, and the
    code of the filters and of the context's classes (their properties), i.e. tap2pkg's own modules."""
    from . import __version__

    package = os.path.dirname(os.path.abspath(__file__))
    parts = [__version__]
    for top in (TEMPLATES, Path(package)):
        for dirpath, dirnames, filenames in os.walk(top):
            dirnames[:] = sorted(d for d in dirnames if d not in ("__pycache__", "runtime"))
            for name in sorted(filenames):
                if top == TEMPLATES or name.endswith(".py"):
                    st = os.stat(os.path.join(dirpath, name))
                    parts.append(f"{dirpath}/{name} {st.st_mtime_ns} {st.st_size}")
    return "\n".join(parts)


def _cache_path(template: str, context: dict[str, Any]) -> Path | None:
    base = cache_dir("rendered")
    if base is None:
        return None
    # The dataclasses in a context (spec, layout, sources) repr every field, so the
    # repr says everything a template can see; an object without a faithful repr
    # would only miss (its address changes), never hit wrongly.
    key = f"{_templates_fingerprint()}\n{template}\n{sorted(context.items())!r}"
    return base / hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()


_pruned: set[Path] = set()


def store_cached(path: Path, data: bytes, max_entries: int) -> None:
    """Write a cache entry atomically; keep the directory under ``max_entries`` (checked once per process).

    A cache that cannot be written only costs time: errors are ignored.
    """
    partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
    try:
        partial.write_bytes(data)
        os.replace(partial, path)
        if path.parent not in _pruned:  # listing a big directory per entry would cost a batch dearly
            _pruned.add(path.parent)
            entries = list(os.scandir(path.parent))
            if len(entries) > max_entries:
                entries.sort(key=lambda e: e.stat().st_mtime_ns)
                for entry in entries[: len(entries) - max_entries // 2]:
                    os.unlink(entry.path)
    except OSError:
        try:
            partial.unlink(missing_ok=True)
        except OSError:
            pass


def cached_bytes(name: str, key: str, compute: Callable[[], bytes], max_entries: int) -> bytes:
    """``compute()``, read from the per-user cache ``name`` under ``key`` when an earlier run stored it.

    ``key`` must name everything the result depends on. Without a writable
    cache directory the result is simply computed.
    """
    base = cache_dir(name)
    if base is None:
        return compute()
    path = base / key
    try:
        return path.read_bytes()
    except OSError:
        pass
    out = compute()
    store_cached(path, out, max_entries)
    return out


def render(template: str, context: dict[str, Any]) -> str:
    """Render ``template`` (a path under ``templates/``) with ``context``; cached, see the module docs."""
    global _read_clock
    path = _cache_path(template, context) if _use_render_cache[0] else None
    if path is not None:
        try:
            return path.read_bytes().decode("utf-8", "surrogateescape")
        except OSError:
            pass
    _read_clock = False
    text = environment().get_template(template).render(context)
    if path is not None and not _read_clock:
        store_cached(path, text.encode("utf-8", "surrogateescape"), RENDER_CACHE_ENTRIES)
    return text


def tapd_arguments(spec: PackageSpec, layout: Layout, *, daemon: bool) -> list[str]:
    """The ``tapd`` arguments that run ``spec``'s app (foreground for systemd, else daemonizing)."""
    # In the foreground systemd tracks the process: no pidfile, log to the journal (stdout).
    if daemon:
        args = ["--pidfile", layout.pidfile, "--logfile", layout.logfile]
    else:
        args = ["--nodaemon", "--pidfile="]
    args += ["--no_save", "--rundir", layout.statedir, TAPD_OPTIONS[spec.app_kind], layout.app_path]
    return args


def template_context(spec: PackageSpec, distro: str = "debian") -> dict[str, Any]:
    """Everything templates may use, for ``spec`` on ``distro``."""
    layout = Layout.for_spec(spec, distro)
    return {
        "spec": spec,
        "layout": layout,
        "distro": distro,
        "tapd_foreground": " ".join(shlex.quote(a) for a in tapd_arguments(spec, layout, daemon=False)),
        "tapd_daemon": " ".join(shlex.quote(a) for a in tapd_arguments(spec, layout, daemon=True)),
    }


def render_service_files(spec: PackageSpec, distro: str = "debian") -> dict[str, str]:
    """The service files (roles of :data:`tap2pkg.bundle.SERVICE_ROLES`) rendered for ``distro``.

    ``init`` (the LSB init script) is only rendered for Debian.
    """
    context = template_context(spec, distro)
    names = {
        "unit": "service/unit.service", "init": "service/init.sh", "default": "service/default",
        "logrotate": "service/logrotate",
        "sysusers": "service/sysusers.conf", "tmpfiles": "service/tmpfiles.conf",
    }
    return {role: render(names[role], context) for role in SERVICE_ROLES
            if not (role == "init" and distro != "debian")}
