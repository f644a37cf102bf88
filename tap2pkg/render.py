"""One Jinja2 environment over ``templates/``, and the filters templates use.

Templates hold layout only; anything with logic (folding a description for
``debian/control``, formatting dates, quoting for the shell) is a small Python
function here, registered as a filter and tested on its own. The environment
is strict: an undefined variable is an error, not an empty string.

The context every template gets comes from :func:`template_context`: the
:class:`~tap2pkg.spec.PackageSpec` as ``spec``, the
:class:`~tap2pkg.bundle.Layout` as ``layout``, ``distro`` (``"debian"`` or
``"fedora"``) and the ``tapd`` command line pieces.
"""

from __future__ import annotations

import email.utils
import os
import shlex
import textwrap
import time
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2

from .bundle import SERVICE_ROLES, Layout
from .spec import PackageSpec

TEMPLATES = Path(__file__).resolve().parent / "templates"

#: tapd option that loads each app kind.
KIND_OPTION = {"python": "--python", "pickle": "--file", "source": "--source", "xml": "--xml"}


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
        lines += [" " + ln for ln in textwrap.wrap(text, 78, break_on_hyphens=False)] or [" ."]
    return "\n".join(lines)


def rfc2822(epoch: int | None) -> str:
    """``epoch`` (None: now) as a Debian changelog date, in UTC."""
    return email.utils.formatdate(time.time() if epoch is None else epoch, localtime=False, usegmt=False)


def rpm_date(epoch: int | None) -> str:
    """``epoch`` (None: now) as an RPM ``%changelog`` date (``Mon Nov 23 2026``)."""
    return time.strftime("%a %b %d %Y", time.gmtime(time.time() if epoch is None else epoch))


def shell_quote(value: object) -> str:
    """Quote ``value`` for POSIX ``sh``."""
    return shlex.quote(str(value))


def wrap_lines(text: str, width: int = 79) -> str:
    """Wrap each paragraph of ``text`` at ``width`` columns, keeping blank lines between them."""
    paras = [" ".join(p.split()) for p in text.strip().split("\n\n")]
    return "\n\n".join(textwrap.fill(p, width, break_on_hyphens=False) for p in paras if p)


def _bytecode_cache() -> jinja2.BytecodeCache | None:
    """A per-user cache of compiled templates (compiling dominated a single build); None if unwritable."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "tap2pkg" / "jinja"
    try:
        base.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    if not os.access(base, os.W_OK):
        return None
    # Jinja checks each template's source checksum, so a stale entry is never used.
    return jinja2.FileSystemBytecodeCache(str(base))


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """The shared environment (cached): strict, newline-keeping, no autoescape."""
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
        wrap_lines=wrap_lines,
    )
    return env


def render(template: str, context: dict[str, Any]) -> str:
    """Render ``template`` (a path under ``templates/``) with ``context``."""
    return environment().get_template(template).render(context)


def tapd_arguments(spec: PackageSpec, layout: Layout, *, daemon: bool) -> list[str]:
    """The ``tapd`` arguments that run ``spec``'s app (foreground for systemd, else daemonizing)."""
    # In the foreground systemd tracks the process: no pidfile, log to the journal (stdout).
    if daemon:
        args = ["--pidfile", layout.pidfile, "--logfile", layout.logfile]
    else:
        args = ["--nodaemon", "--pidfile="]
    args += ["--no_save", "--rundir", layout.statedir, KIND_OPTION[spec.app_kind], layout.app_path]
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
