"""``PackageSpec``: the one validated description of a package.

Front ends and library callers build one from an app file with
:meth:`PackageSpec.from_app_file` (the ``[tool.tap2pkg]`` settings, the
caller's settings, the environment, the app file inspected without running
it); every backend reads one and nothing else. Building one checks every value,
so a backend never meets a bad name or version: the rules are the intersection
of Debian Policy and RPM's, so one spec is valid for both formats.

>>> spec = PackageSpec.from_app_file(Path("echo.tac"), {"version": "2.0"})  # doctest: +SKIP

>>> spec = PackageSpec(name="echo", app_file=Path("echo.tac"), app_kind="python",
...                    maintainer="Jane Doe <jane@example.org>")
>>> spec.full_version, spec.user, spec.summary
('1.0-1', 'echo', 'Server for echo')
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .dependency import Dependency
from .errors import (
    InvalidMaintainerError,
    InvalidOptionValueError,
    InvalidPackageNameError,
    InvalidVersionError,
    UnknownAppTypeError,
    UsageError,
)
from .runtime.kinds import KINDS, kind_by_name, kind_by_suffix
from .runtime.lazy import lazy_import
from .textpolicy import FIELD_OPTIONS, check_text, shorten

if TYPE_CHECKING:
    from . import config
    from . import settings as settings_module
else:  # imported on first use: settings.py imports this module (a cycle); config only in from_app_file
    config = lazy_import("tap2pkg.config")
    settings_module = lazy_import("tap2pkg.settings")

#: App file kinds (the runtime's one table, :mod:`tap2pkg.runtime.kinds`).
APP_KINDS = tuple(KINDS)
#: What can run a packaged app: the bundled ``tapd`` or the distribution's Twisted.
RUNTIMES = ("tapd", "twisted")

# Debian Policy 5.6.1: lower case letters, digits, + - . ; at least two, starts alphanumeric.
_NAME_RE = re.compile(r"[a-z0-9][a-z0-9+.-]+")
# Upstream version: starts with a digit; no "-" (RPM forbids it) and no ":" (no epochs).
_VERSION_RE = re.compile(r"[0-9][A-Za-z0-9.+~]*")
_REVISION_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9.+~]*")
_MAINTAINER_RE = re.compile(r"(?P<name>[^<>]*?\S)\s*<(?P<email>[^<>@\s]+@[^<>@\s]+\.[^<>@\s]+)>")
_USER_RE = re.compile(r"[a-z_][a-z0-9_-]{0,31}")
_LICENSE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9.+-]*")
_DISTRIBUTION_RE = re.compile(r"[a-z0-9][a-z0-9.+-]*")
_FILE_NAME_RE = re.compile(r"[A-Za-z0-9_+][A-Za-z0-9._+-]*")
# RFC 3986: the characters a URI may hold (unreserved, reserved and '%' of percent-encoding).
# Without "'", which a unit's Documentation= would take for a quote: percent-encode it (%27).
_HOMEPAGE_RE = re.compile(r"https?://[A-Za-z0-9._~:/?#\[\]@!$&()*+,;=%-]+")
#: The longest file name a filesystem takes (bytes): a build's files are named after the package.
_MAX_FILE_NAME = 255

def _dependency(value: str | Dependency) -> Dependency:
    """``value`` parsed, its text checked by the text policy first."""
    if isinstance(value, Dependency):
        return value
    check_text("depends", value)
    return Dependency.parse(value.strip(" "))


def kind_for(path: Path, type_option: str | None = None) -> str:
    """Return the app kind named by ``--type`` or, without it, by the file's suffix."""
    if type_option:
        kind = kind_by_name(type_option.lower())
        if kind is None:
            raise UnknownAppTypeError(
                f"-y/--type {type_option!r} is not a known app file type; use one of "
                "python (tac, py), tap (pickle), source (tas), xml (tax)"
            )
        return kind
    kind = kind_by_suffix(path.suffix)
    if kind is None:
        raise UnknownAppTypeError(
            f"{path}: cannot tell the app file type from the suffix {path.suffix!r}; "
            "give -y/--type python|tap|source|xml or rename it to .tac/.tap/.tas/.tax"
        )
    return kind


@dataclass(frozen=True)
class PackageSpec:
    """Everything a backend needs to build one package; validated on construction.

    Empty ``protocol``, ``description``, ``user`` mean "the default": the
    package name, ``"Server for <protocol>"`` and the package name.
    """

    #: Package name (``Package:``/``Name:``), Debian Policy rules.
    name: str
    #: The application file to package (``.tac``/``.py``, ``.tap``, ``.tas``, ``.tax``).
    app_file: Path
    #: ``"python"``, ``"pickle"``, ``"source"`` or ``"xml"``.
    app_kind: str
    #: ``Full Name <email@address>``.
    maintainer: str
    #: Upstream version.
    version: str = "1.0"
    #: Debian revision / RPM release.
    revision: str = "1"
    #: Twisted's "protocol": the default package name and the subject of the default description.
    protocol: str = ""
    #: One-line summary.
    description: str = ""
    #: Long description; paragraphs separated by blank lines.
    long_description: str = ""
    #: System user the service runs as.
    user: str = ""
    #: Ports the service listens on (used by verification, and documented in the default file).
    ports: tuple[int, ...] = ()
    #: Extra runtime dependencies; given as text in Debian's or RPM's syntax, kept parsed.
    depends: tuple[Dependency, ...] = ()
    #: The app's own modules or packages, installed where ``tapd`` imports them.
    includes: tuple[Path, ...] = ()
    #: SPDX license identifier of the packaged app.
    license: str = "MIT"
    #: Project home page, or empty.
    homepage: str = ""
    #: Debian changelog distribution.
    distribution: str = "unstable"
    #: Build time as seconds since the epoch (``SOURCE_DATE_EPOCH``); None means "now".
    source_date_epoch: int | None = None
    #: What runs the service: ``"tapd"`` (the bundled runtime) or ``"twisted"`` (the distribution's Twisted).
    runtime: str = "tapd"
    #: Decisions made on the user's behalf (a name derived, a runtime chosen...), one line each.
    notes: tuple[str, ...] = field(default=(), compare=False)
    #: Field -> the option that sets it in the front end being run, for error messages
    #: (default :data:`FIELD_OPTIONS`; ``tap2rpm`` names ``-r/--rpmfile`` for the name...).
    option_names: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)
    #: The app's own Python project (``--project``), None when it has none.
    project: Any = field(default=None, compare=False, repr=False)
    #: Companion packages built beside it (:class:`tap2pkg.companions.Companion`), the project's first.
    companions: tuple[Any, ...] = field(default=(), compare=False, repr=False)
    #: Each project requirement and how it was resolved (:class:`tap2pkg.pydeps.Resolved`).
    requirements: tuple[Any, ...] = field(default=(), compare=False, repr=False)
    #: Extra values the caller knows about the app (e.g. services found by inspection).
    app_info: dict[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def from_app_file(cls, app_file: Path | str, settings: Mapping[str, Any] | None = None, *,
                      config_file: Path | str | None = None, env: Mapping[str, str] | None = None,
                      default_maintainer: str | None = None, package_format: str | None = None,
                      ) -> PackageSpec:
        """The spec of ``app_file``: ``[tool.tap2pkg]`` (``config_file``, else a ``pyproject.toml``
        beside it) overlaid with ``settings``, then :meth:`from_settings`.

        ``settings`` take the keys of :data:`tap2pkg.config.KEYS` (``version``,
        ``maintainer``, ``depends``...); a None value means "not given". A bad
        key or value raises the :mod:`tap2pkg.errors` class of its exit code,
        naming it. Callers that also need the build's settings (``builder``,
        ``compression``, ``output_dir``) call :func:`tap2pkg.config.merge_settings`
        and :meth:`from_settings` themselves.
        """
        merged = config.merge_settings(Path(app_file), settings,
                                       None if config_file is None else Path(config_file))
        return cls.from_settings(app_file, merged, env=env, default_maintainer=default_maintainer,
                                 package_format=package_format)

    @classmethod
    def from_settings(cls, app_file: Path | str, settings: Mapping[str, Any], *,
                      env: Mapping[str, str] | None = None, default_maintainer: str | None = None,
                      package_format: str | None = None) -> PackageSpec:
        """The spec of ``app_file`` from settings already merged (:func:`tap2pkg.config.merge_settings`).

        See :func:`tap2pkg.settings.spec_from_settings`: the app file is inspected without running
        it, the maintainer and the build time may come from ``env`` (default ``os.environ``).
        """
        return settings_module.spec_from_settings(cls, app_file, settings, env=env,
                                                  default_maintainer=default_maintainer,
                                                  package_format=package_format)

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "app_file", Path(self.app_file))
        # Only spaces: any other white space is a control character the text policy names.
        set_(self, "maintainer", self.maintainer.strip(" "))
        set_(self, "description", self.description.strip(" "))
        set_(self, "ports", tuple(self.ports))
        set_(self, "depends", tuple(_dependency(d) for d in self.depends
                                    if not isinstance(d, str) or d.strip(" ")))
        set_(self, "includes", tuple(Path(p) for p in self.includes))
        if not self.protocol:
            set_(self, "protocol", self.name)
        if not self.description:
            set_(self, "description", f"Server for {self.protocol}")
        if not self.user:
            set_(self, "user", self.name)
        self._validate()

    def _validate(self) -> None:
        # The text policy first, over every field: a control character is refused with its own
        # message whatever else is wrong with the value.
        for field_name, value in (
            # protocol first: the name, the user and the description default to it
            ("protocol", self.protocol), ("name", self.name), ("app file name", self.app_file.name),
            ("maintainer", self.maintainer), ("version", self.version), ("revision", self.revision),
            ("description", self.description), ("user", self.user), ("license", self.license),
            ("homepage", self.homepage), ("distribution", self.distribution),
            *(("include", str(inc)) for inc in self.includes),
        ):
            check_text(field_name, value, option=self._option(field_name))
        check_text("long description", self.long_description, multiline=True,
                   option=self._option("long description"))
        if not _NAME_RE.fullmatch(self.name):
            raise InvalidPackageNameError(
                f"package name {self.name!r} is invalid (Debian Policy: at least two characters of "
                f"a-z 0-9 + - ., starting with a letter or digit); set it with {self._option('name')}"
            )
        if not _FILE_NAME_RE.fullmatch(self.app_file.name):
            raise InvalidOptionValueError(
                f"app file name {self.app_file.name!r} cannot be installed as is; rename the file "
                "(letters, digits and . _ + - only)"
            )
        if self.runtime not in RUNTIMES:
            raise UsageError(f"runtime {self.runtime!r} is unknown; use one of {', '.join(RUNTIMES)} "
                             f"(fix {self._option('runtime')})")
        if self.app_kind not in APP_KINDS:
            raise UnknownAppTypeError(
                f"app kind {self.app_kind!r} is unknown; use one of {', '.join(APP_KINDS)}"
            )
        if not _VERSION_RE.fullmatch(self.version):
            raise InvalidVersionError(
                f"version {self.version!r} is invalid (must start with a digit and use only "
                f"A-Z a-z 0-9 . + ~; write pre-releases as 1.0~rc1); fix {self._option('version')}"
            )
        if not _REVISION_RE.fullmatch(self.revision):
            raise InvalidVersionError(
                f"revision {self.revision!r} is invalid (only A-Z a-z 0-9 . + ~, no '-'); "
                f"fix {self._option('revision')}"
            )
        if not _MAINTAINER_RE.fullmatch(self.maintainer):
            raise InvalidMaintainerError(
                f"maintainer {self.maintainer!r} must be 'Full Name <email@example.org>'; "
                f"fix {self._option('maintainer')}"
            )
        if not _USER_RE.fullmatch(self.user):
            whence = ", by default the package name," if self.user == self.name else ""
            raise InvalidOptionValueError(
                f"user {self.user!r}{whence} is not a valid system user name (a-z 0-9 _ -, starting with "
                f"a letter or _, at most 32 characters); give one with {self._option('user')}"
            )
        # the longest names a build writes (dpkg-buildpackage's .buildinfo, a temporary directory of
        # dpkg-source) must fit the filesystem
        longest = max(f"{self.name}_{self.version}-{self.revision}_amd64.buildinfo",
                      f"{self.name}_{self.version}.orig.tar.gz.tmp-extract.XXXXX", key=len)
        if len(longest.encode()) > _MAX_FILE_NAME:
            error = InvalidPackageNameError if len(self.name) > _MAX_FILE_NAME // 2 else InvalidVersionError
            raise error(
                f"package name {shorten(self.name)!r} and version {shorten(self.full_version)!r} are too "
                f"long together: a build would write a file named with {len(longest.encode())} bytes "
                f"({shorten(longest)!r}), over the {_MAX_FILE_NAME} a file name may have; shorten "
                f"{self._option('name')} or {self._option('version')}"
            )
        for port in self.ports:
            if not isinstance(port, int) or not 1 <= port <= 65535:
                raise InvalidOptionValueError(f"port {port!r} is out of range 1-65535; "
                                              f"fix {self._option('port')}")
        if not _LICENSE_RE.fullmatch(self.license):
            raise InvalidOptionValueError(
                f"license {self.license!r} is not an SPDX identifier; fix {self._option('license')}"
            )
        if not _DISTRIBUTION_RE.fullmatch(self.distribution):
            raise InvalidOptionValueError(
                f"distribution {self.distribution!r} is invalid; fix {self._option('distribution')}"
            )
        if self.description.rstrip().endswith("\\"):
            # a unit file, a spec or an init script would join the next line to it
            raise InvalidOptionValueError(
                f"description {shorten(self.description)!r} must not end with a backslash; "
                f"fix {self._option('description')}"
            )
        if self.homepage and not _HOMEPAGE_RE.fullmatch(self.homepage):
            raise InvalidOptionValueError(
                f"homepage {shorten(self.homepage)!r} must be an http(s) URL of RFC 3986 characters "
                "(no spaces, quotes, <>, {}, \\; percent-encode them); "
                f"fix {self._option('homepage')}"
            )

    def _option(self, field_name: str) -> str:
        """The option that sets ``field_name`` in the front end that built this spec."""
        return self.option_names.get(field_name) or FIELD_OPTIONS.get(field_name, field_name)

    @property
    def full_version(self) -> str:
        """``version-revision``, as both formats print it."""
        return f"{self.version}-{self.revision}"

    @property
    def summary(self) -> str:
        """The one-line description."""
        return self.description

    @property
    def maintainer_name(self) -> str:
        """The maintainer's name without the address."""
        match = _MAINTAINER_RE.fullmatch(self.maintainer)
        assert match is not None  # validated in __post_init__
        return match.group("name")

    @property
    def maintainer_email(self) -> str:
        """The maintainer's email address."""
        match = _MAINTAINER_RE.fullmatch(self.maintainer)
        assert match is not None
        return match.group("email")

    @property
    def app_file_name(self) -> str:
        """The app file's base name, as installed under ``/etc/<pkg>/``."""
        return self.app_file.name

    def replace(self, **changes: Any) -> PackageSpec:
        """Return a copy with ``changes`` applied (and validated again)."""
        return replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        """The fields as plain JSON-friendly values."""
        out: dict[str, Any] = {}
        for f in fields(self):
            if f.name in ("option_names", "project", "companions", "requirements"):
                continue
            value = getattr(self, f.name)
            if isinstance(value, Path):
                value = str(value)
            elif isinstance(value, tuple):
                value = [str(v) if isinstance(v, (Path, Dependency)) else v for v in value]
            out[f.name] = value
        return out
