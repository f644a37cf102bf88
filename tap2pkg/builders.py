"""The builders: one protocol, one registry, one result for every package format.

A :class:`Builder` turns a :class:`~tap2pkg.spec.PackageSpec` into package
files in an output directory. Each one is registered under ``(format, name)``:

=======  ==========  ==============================================
format   name        what runs
=======  ==========  ==============================================
deb      native      the ``.deb`` written in Python (the default)
deb      dpkg        ``dpkg-buildpackage`` in the emitted source tree
rpm      native      the ``.rpm`` written in Python (the default)
rpm      rpmbuild    ``rpmbuild`` on the emitted ``.spec``
=======  ==========  ==============================================

Front ends never name a format's modules: they ask :func:`get` for a
builder, list :func:`enumerate` for their ``--builder`` help and check a
``--compression`` with :func:`check_options`. Every build answers with the
same :class:`BuildResult`, whose :class:`Artifact` entries carry a kind, a
path and a SHA-256.

Builders write through :class:`StagedBuilder`: the files are made in a
private staging directory inside the output directory
(:class:`~tap2pkg.output.Staging`) and published together at the end, so a
failure, a full disk or a signal leaves the output directory as it was.
"""

from __future__ import annotations

import hashlib
import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from .errors import UsageError
from .output import Staging
from .runtime.lazy import lazy_import
from .spec import PackageSpec

if TYPE_CHECKING:
    from . import payload
    from .regen import TreeEdits
else:  # imported on first use: the front ends' --help asks the registry and builds nothing
    payload = lazy_import("tap2pkg.payload")

#: a format's payload type (:class:`tap2pkg.deb.source.DebPayload`, :class:`tap2pkg.rpm.source.RpmSources`)
P = TypeVar("P")

#: The modules that register each format's builders, imported on first use of the registry.
FORMAT_MODULES = {"deb": "tap2pkg.deb.build", "rpm": "tap2pkg.rpm.build"}

#: The builder every format uses unless told otherwise.
DEFAULT_BUILDER = "native"


@dataclass(frozen=True, slots=True)
class Artifact:
    """One file a build wrote: its kind, its final path and its SHA-256 (hex).

    Kinds: ``package`` (the binary ``.deb``/``.rpm``), ``source-package``
    (``.dsc``/``.src.rpm``), and the format's own: ``orig``, ``debian-tar``,
    ``changes``, ``buildinfo`` (deb); ``spec``, ``sources`` (rpm).
    """

    kind: str
    path: Path
    sha256: str


@dataclass(frozen=True, slots=True)
class BuildOptions:
    """What to build: the source package, the binary package, the payload compression, a signature."""

    source: bool = True
    binary: bool = True
    #: None: the builder's default (the first of its :attr:`Builder.compressions`)
    compression: str | None = None
    sign: bool = False
    #: hand edits written over the generated source tree (:mod:`tap2pkg.regen`); None: a fresh tree
    edits: TreeEdits | None = None
    #: ``--sign-key``: sign with this key (debsign, rpmsign --addsign); None: the format's default
    sign_key: str | None = None
    #: the format's payload as the plan rendered it (:attr:`tap2pkg.regen.Plan.payload`); None: render it
    payload: object = None
    #: called right before publishing, which waits for it: a batch publishes in order (:mod:`tap2pkg.batch`)
    publish_turn: Callable[[], None] | None = None

    def payload_of(self, spec: PackageSpec, kind: type[P], make: Callable[[PackageSpec], P]) -> P:
        """The payload rendered for ``spec`` already, or ``make(spec)``: each build renders once."""
        given = self.payload
        if isinstance(given, kind) and getattr(given, "spec", None) is spec:  # not another spec's
            return given
        return make(spec)


@dataclass(frozen=True, slots=True)
class BuildResult:
    """What one build produced, at its final paths, for every format alike."""

    spec: PackageSpec
    format: str
    builder: str
    artifacts: list[Artifact]
    #: the editable source tree directory (the Debian ``<pkg>-<version>/``), None when the format has none
    source_tree: Path | None = None
    notes: list[str] = field(default_factory=list)
    #: the version built, as the tree has it (a packager may have changed it by hand); default the spec's
    version: str | None = None

    @property
    def full_version(self) -> str:
        """The version of the built package: ``version``, else the spec's ``version-revision``."""
        return self.version or self.spec.full_version

    def paths(self, kind: str | None = None) -> list[Path]:
        """The artifacts' paths (of one ``kind`` only, when given), in build order."""
        return [a.path for a in self.artifacts if kind is None or a.kind == kind]

    def summary(self, **extra: Any) -> dict[str, Any]:
        """This build as one entry of the front ends' ``--json`` summary."""
        tree = {"source_tree": str(self.source_tree)} if self.source_tree is not None else {}
        return {"name": self.spec.name, "version": self.full_version, "format": self.format,
                "builder": self.builder, "runtime": self.spec.runtime, **tree, **extra,
                "notes": list(self.notes),
                "artifacts": [{"path": str(a.path), "sha256": a.sha256, "kind": a.kind}
                              for a in self.artifacts]}


class Builder(Protocol):
    """One way to build one package format; registered under ``(format, name)``."""

    @property
    def format(self) -> str:
        """The package format: ``deb`` or ``rpm``."""

    @property
    def name(self) -> str:
        """The ``--builder`` value that picks it (``native``, ``dpkg``, ``rpmbuild``)."""

    @property
    def help(self) -> str:
        """A few words for ``--help``: what it runs."""

    @property
    def compressions(self) -> tuple[str, ...]:
        """The payload compressions it applies, the default first; empty when its tool decides."""

    def build(self, spec: PackageSpec, output_dir: Path, options: BuildOptions) -> BuildResult:
        """Build ``spec`` into ``output_dir``; every artifact is published there when it returns."""

    def signs(self, options: BuildOptions) -> bool:
        """Whether a build with ``options`` runs a signing tool (which may ask for a passphrase)."""


@dataclass(frozen=True, slots=True)
class Staged:
    """What a builder's writer made in the staging directory: ``(kind, path)`` pairs, the tree, notes,
    and the version the tree holds when a packager changed it by hand (``dch -v``, ``Release:``): the
    result reports that version, as its artifacts' names do."""

    artifacts: list[tuple[str, Path]]
    source_tree: Path | None = None
    notes: list[str] = field(default_factory=list)
    version: str | None = None


#: A builder's writer: build ``spec`` into ``stage.path`` with the checked options. It may refuse,
#: before writing, a name that is taken in the output directory (``stage.check_free``).
Writer = Callable[[PackageSpec, Staging, BuildOptions], Staged]


@dataclass(frozen=True, slots=True)
class StagedBuilder:
    """A :class:`Builder` whose writer works in a staging directory; :meth:`build` publishes the result."""

    format: str
    name: str
    help: str
    compressions: tuple[str, ...]
    write: Writer
    #: whether a build with these options signs: the format's rule (default: only with ``--sign-key``)
    signing: Callable[[BuildOptions], bool] = lambda options: options.sign_key is not None

    def build(self, spec: PackageSpec, output_dir: Path, options: BuildOptions) -> BuildResult:
        """Check ``options``, write into a staging directory inside ``output_dir``, publish, hash."""
        options = check_options(self, options)
        output_dir = Path(output_dir)
        payload.check_output_dir(spec, output_dir)
        with Staging(output_dir, option="-o/--output-dir") as stage:
            try:
                staged = self.write(spec, stage, options)
            except OSError as exc:
                raise stage.error(exc) from None
            tree = [staged.source_tree] if staged.source_tree is not None else []
            if options.publish_turn is not None:
                options.publish_turn()
            final = stage.publish([*tree, *(path for _kind, path in staged.artifacts)])
        source_tree = final[0] if tree else None
        published = final[len(tree):]
        artifacts = [Artifact(kind, path, sha256(path))
                     for (kind, _staged), path in zip(staged.artifacts, published, strict=True)]
        notes = [*spec.notes, *staged.notes]
        if options.compression is not None and not self.compressions:
            notes.append(f"--compression {options.compression} is not applied by the {self.name} builder "
                         "(its tool chooses); use --builder native to choose it")
        return BuildResult(spec, self.format, self.name, artifacts, source_tree, notes, staged.version)

    def signs(self, options: BuildOptions) -> bool:
        """Whether a build with ``options`` runs a signing tool (:attr:`signing`)."""
        return self.signing(options)


def sha256(path: Path) -> str:
    """The hex SHA-256 of a file."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


_REGISTRY: dict[tuple[str, str], Builder] = {}


def register(builder: Builder) -> None:
    """Add ``builder`` under ``(builder.format, builder.name)``; a second one of the same key is refused."""
    key = (builder.format, builder.name)
    if key in _REGISTRY and _REGISTRY[key] is not builder:
        raise ValueError(f"a builder is already registered as {key}")
    _REGISTRY[key] = builder


def _load(fmt: str | None = None) -> None:
    """Import the format modules (only ``fmt``'s when given), which register their builders."""
    for name, module in FORMAT_MODULES.items():
        if fmt is None or name == fmt:
            importlib.import_module(module)


def formats() -> list[str]:
    """The package formats that have builders, in order (``deb``, ``rpm``)."""
    return list(dict.fromkeys([*FORMAT_MODULES, *(fmt for fmt, _name in _REGISTRY)]))


# named as nfpm names it; read as ``builders.enumerate`` (this module does not use the builtin)
def enumerate(fmt: str | None = None) -> list[Builder]:
    """Every registered builder (of format ``fmt`` only, when given), the default of each format first."""
    _load(fmt)
    return sorted((b for (f, _n), b in _REGISTRY.items() if fmt is None or f == fmt),
                  key=lambda b: (list(FORMAT_MODULES).index(b.format) if b.format in FORMAT_MODULES else 99,
                                 b.name != DEFAULT_BUILDER, b.name))


def _names(fmt: str) -> str:
    names = [b.name for b in enumerate(fmt)]
    return " or ".join(names) if len(names) <= 2 else ", ".join(names[:-1]) + " or " + names[-1]


def get(fmt: str, name: str | None = None) -> Builder:
    """The builder ``name`` (default: native) of format ``fmt``; an unknown one is a :class:`UsageError`."""
    if fmt not in formats():
        raise UsageError(f"--format {fmt!r} is unknown; use {' or '.join(formats())}")
    _load(fmt)
    if fmt not in formats():
        raise UsageError(f"--format {fmt!r} is unknown; use {' or '.join(formats())}")
    name = name or DEFAULT_BUILDER
    builder = _REGISTRY.get((fmt, name))
    if builder is None:
        raise UsageError(f"--builder {name!r} is unknown for .{fmt} packages; use {_names(fmt)}")
    return builder


#: The ``--builder`` value that picks each format's standard-tool builder (``tap2pkg build --builder tool``).
TOOL = "tool"


def tool_builders(formats: Sequence[str]) -> list[Builder]:
    """Each format's standard-tool builder: the first one that is not native."""
    return [next(b for b in enumerate(f) if b.name != DEFAULT_BUILDER) for f in formats]


def choose(value: object, formats: Sequence[str]) -> dict[str, Builder]:
    """``--builder`` (comma-separated names, or ``tool``) as {format: builder}; formats it does not
    name use the native writer. An unknown name is one :class:`UsageError`."""
    chosen = {fmt: get(fmt) for fmt in formats}
    for item in (s.strip() for s in str(value or DEFAULT_BUILDER).split(",")):
        if item == TOOL:
            picked = tool_builders(formats)
        else:
            picked = [b for b in enumerate() if b.name == item]
            if not picked:
                names = [*dict.fromkeys(b.name for b in enumerate()), TOOL]
                raise UsageError(f"--builder {item!r} is unknown; use {', '.join(names[:-1])} or {names[-1]}")
        chosen.update({b.format: b for b in picked if b.format in chosen})
    return chosen


def format_compressions(fmt: str) -> list[str]:
    """Every compression some builder of ``fmt`` applies, the native default first."""
    return list(dict.fromkeys(c for b in enumerate(fmt) for c in b.compressions))


def check_options(builder: Builder, options: BuildOptions) -> BuildOptions:
    """``options`` checked for ``builder``, with its default compression filled in.

    Every bad value is a :class:`UsageError` (exit 64), whichever front end or
    config file gave it.
    """
    if not (options.source or options.binary):
        raise UsageError("--source-only and --binary-only exclude each other; give at most one")
    compression = options.compression
    known = format_compressions(builder.format)
    if compression is not None and compression not in known:
        raise UsageError(f"--compression {compression!r} is unknown for .{builder.format} packages; "
                         f"use {' or '.join(known)}")
    if compression is not None and builder.compressions and compression not in builder.compressions:
        raise UsageError(f"--compression {compression!r} is not applied by the {builder.name} builder; "
                         f"use {' or '.join(builder.compressions)}")
    if compression is None and builder.compressions:
        return replace(options, compression=builder.compressions[0])
    return options


def builder_help(fmt: str) -> str:
    """The ``--builder`` help text of format ``fmt``, from the registry."""
    return "; ".join(f"{b.name}{' (default)' if b.name == DEFAULT_BUILDER else ''}: {b.help}"
                     for b in enumerate(fmt))


def compression_help(fmt: str) -> str:
    """The ``--compression`` help text of format ``fmt``, from the registry."""
    choices = format_compressions(fmt)
    return f"payload compression of the native .{fmt}: {choices[0]} (default) or {' or '.join(choices[1:])}"


def build(spec: PackageSpec, output_dir: Path, fmt: str, builder: str | None = None,
          options: BuildOptions | None = None) -> BuildResult:
    """Build ``spec`` as a ``fmt`` package with ``builder`` (default: native) into ``output_dir``."""
    return get(fmt, builder).build(spec, Path(output_dir), options or BuildOptions())
