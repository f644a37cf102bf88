"""The services tree: :class:`Service`, :class:`MultiService` and :class:`Application`.

An application is a tree of services. A :class:`MultiService` starts its
children in the order they were added and stops them in reverse order; a
child added to a running parent starts at once; two children of one parent
may not share a name. Starting happens in two steps so that a daemon can bind
privileged ports as root and only then drop privileges:

1. ``await app.privileged_start()`` -- every service grabs what needs root
   (listening sockets, mostly);
2. ``await app.start()`` -- everything else.

Stopping is ``await app.stop(timeout=...)``: each child gets at most
``timeout`` seconds before it is abandoned with a log line.

Persistence contract
--------------------
Every class that may appear in a saved application (``.tap``, ``.tas``,
``.tax``) is decorated with :func:`persistable` and lists in
``persist_fields`` the constructor keyword arguments that rebuild it; each
field is also an attribute of the same name. :meth:`Persistable.persist_state`
returns those values and ``cls(**state)`` rebuilds an equal object. Values may
be ``None``, ``bool``, ``int``, ``float``, ``str``, ``bytes``, lists, tuples,
dicts with ``str`` keys, other persistable objects, and references to
callables: registered runtime callables, or :class:`Ref` for the
application's own code (resolved, i.e. imported, only when the service runs).
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections.abc import Callable, Iterator
from typing import Any, ClassVar, TypeVar

from .errors import Tap2pkgError, brief

log = logging.getLogger("tap2pkg.service")

#: Every class or callable that a saved application may name, by "module:qualname".
REGISTRY: dict[str, Any] = {}

T = TypeVar("T")


def qualified_name(obj: Any) -> str:
    """Return ``"module:qualname"`` for a class or function."""
    return f"{obj.__module__}:{obj.__qualname__}"


def persistable(obj: T) -> T:
    """Register a class (or a runtime callable) so saved applications may name it."""
    REGISTRY[qualified_name(obj)] = obj
    return obj


class Persistable:
    """Mixin: an object rebuilt from the keyword arguments named in ``persist_fields``."""

    persist_fields: ClassVar[tuple[str, ...]] = ()

    def persist_state(self) -> dict[str, Any]:
        """The constructor keyword arguments that rebuild this object."""
        return {field: getattr(self, field) for field in self.persist_fields}

    # pickle support: the state is exactly the constructor's keyword arguments,
    # so the restricted unpickler never has to trust an arbitrary __dict__.
    def __getstate__(self) -> dict[str, Any]:
        return self.persist_state()

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(**state)  # type: ignore[misc]  # re-running __init__ on a blank instance is how a persisted service is rebuilt

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.persist_state().items())
        return f"{type(self).__name__}({args})"


@persistable
class Ref(Persistable):
    """A reference to a callable in the application's own code, by ``"module:qualname"``.

    Loading a saved application never imports anything; a :class:`Ref` is
    resolved (its module imported) only when it is called, i.e. when the
    service runs.
    """

    persist_fields = ("target",)

    def __init__(self, target: str) -> None:
        module, sep, qualname = target.partition(":") if isinstance(target, str) else ("", "", "")
        if not sep or not module or not qualname:
            raise ValueError(f"Ref target must look like 'module:qualname', got {brief(target)}")
        self.target = target
        self._resolved: Any = None

    def resolve(self) -> Any:
        """Import the module and return the object the reference names."""
        if self._resolved is None:
            if self.target in REGISTRY:
                self._resolved = REGISTRY[self.target]
            else:
                module, _, qualname = self.target.partition(":")
                obj: Any = importlib.import_module(module)
                for part in qualname.split("."):
                    obj = getattr(obj, part)
                self._resolved = obj
        return self._resolved

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.resolve()(*args, **kwargs)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Ref) and other.target == self.target

    def __hash__(self) -> int:
        return hash(self.target)


def resolve(obj: Any) -> Any:
    """Return what ``obj`` stands for: a :class:`Ref`'s target, anything else unchanged."""
    return obj.resolve() if isinstance(obj, Ref) else obj


@persistable
class Factory(Persistable):
    """A protocol factory: ``Factory(MyProtocol, {"greeting": "hi"})()`` -> ``MyProtocol(greeting="hi")``."""

    persist_fields = ("protocol", "options")

    def __init__(self, protocol: Any, options: dict[str, Any] | None = None) -> None:
        self.protocol = protocol
        self.options = dict(options or {})

    def __call__(self) -> Any:
        return resolve(self.protocol)(**self.options)


class ServiceError(Tap2pkgError):
    """Misuse of the services tree (duplicate names, bad parent)."""


@persistable
class Service(Persistable):
    """A named thing that can be started and stopped; the leaf of the tree."""

    persist_fields: ClassVar[tuple[str, ...]] = ("name",)

    def __init__(self, name: str | None = None) -> None:
        if name is not None and not isinstance(name, str):
            raise ValueError(f"a service name must be a string or None, got {brief(name)}")
        self.name = name
        self.parent: MultiService | None = None
        self.running = False

    def set_name(self, name: str) -> None:
        """Rename the service; refused once it has a parent."""
        if self.parent is not None:
            raise ServiceError(f"cannot rename service {self.name!r}: it already has a parent")
        self.name = name

    def set_service_parent(self, parent: MultiService) -> asyncio.Task[None] | None:
        """Add this service to ``parent`` (see :meth:`MultiService.add_service`)."""
        return parent.add_service(self)

    def disown_service_parent(self) -> None:
        """Remove this service from its parent (does not stop it)."""
        if self.parent is not None:
            self.parent.remove_service(self)

    async def privileged_start(self) -> None:
        """Do what needs root (bind ports) before privileges are dropped."""

    async def start(self) -> None:
        """Start the service. Subclasses call ``await super().start()``."""
        self.running = True

    async def stop(self) -> None:
        """Stop the service. Subclasses call ``await super().stop()``."""
        self.running = False


@persistable
class MultiService(Service):
    """A service made of named children, started in order and stopped in reverse."""

    persist_fields: ClassVar[tuple[str, ...]] = ("name", "services")

    #: Seconds each child gets to stop before it is abandoned.
    stop_timeout: float = 10.0

    def __init__(self, name: str | None = None, services: list[Service] | None = None) -> None:
        super().__init__(name)
        self._services: list[Service] = []
        self._named: dict[str, Service] = {}
        self._privileged = False
        for service in services or []:
            self.add_service(service)

    @property
    def services(self) -> list[Service]:
        """The children, in start order."""
        return list(self._services)

    def __iter__(self) -> Iterator[Service]:
        return iter(list(self._services))

    def __len__(self) -> int:
        return len(self._services)

    def get_service_named(self, name: str) -> Service:
        """Return the child called ``name``; ``KeyError`` when there is none."""
        return self._named[name]

    def add_service(self, service: Service) -> asyncio.Task[None] | None:
        """Add a child; if this service is running, start the child at once.

        Returns the task starting the child when this service is running
        (await it to know the child is up), else ``None``.
        """
        if service.parent is not None:
            raise ServiceError(f"service {service.name!r} already has a parent")
        if service.name is not None:
            if service.name in self._named:
                raise ServiceError(
                    f"duplicate service name {service.name!r} in {self.name or type(self).__name__}"
                )
            self._named[service.name] = service
        self._services.append(service)
        service.parent = self
        if self.running or self._privileged:
            return asyncio.ensure_future(self._start_late(service))
        return None

    async def _start_late(self, service: Service) -> None:
        if self._privileged:
            await service.privileged_start()
        if self.running:
            await service.start()

    def remove_service(self, service: Service) -> asyncio.Task[None] | None:
        """Remove a child; if it is running, stop it (returns the stopping task)."""
        if service not in self._services:
            raise ServiceError(f"service {service.name!r} is not a child of {self.name!r}")
        self._services.remove(service)
        if service.name is not None:
            self._named.pop(service.name, None)
        service.parent = None
        if service.running:
            return asyncio.ensure_future(service.stop())
        return None

    async def privileged_start(self) -> None:
        self._privileged = True
        for service in list(self._services):
            await service.privileged_start()

    async def start(self) -> None:
        await super().start()
        for service in list(self._services):
            if not service.running:
                await service.start()

    async def stop(self, timeout: float | None = None) -> None:
        """Stop children in reverse order, each within ``timeout`` seconds."""
        await super().stop()
        self._privileged = False
        deadline = self.stop_timeout if timeout is None else timeout
        for service in reversed(list(self._services)):
            if not service.running:
                continue
            try:
                await asyncio.wait_for(service.stop(), deadline)
            except TimeoutError:
                service.running = False
                log.warning("service %r did not stop within %.1fs; abandoned", service.name, deadline)
            except Exception:
                service.running = False
                log.exception("service %r failed while stopping", service.name)


@persistable
class Application(MultiService):
    """The root of the tree: a process name plus the uid/gid to run as."""

    persist_fields: ClassVar[tuple[str, ...]] = ("name", "uid", "gid", "services")

    def __init__(self, name: str, uid: int | str | None = None, gid: int | str | None = None,
                 services: list[Service] | None = None) -> None:
        super().__init__(name, services)
        for what, value in (("uid", uid), ("gid", gid)):
            if not (value is None or isinstance(value, str) or (type(value) is int and value >= 0)):
                raise ValueError(f"{what} must be a user or group name or number, or None, "
                                 f"got {brief(value)}")
        self.uid = uid
        self.gid = gid

    @property
    def process_name(self) -> str:
        """The name the daemon gives its process and its log lines."""
        return self.name or "tapd"


def walk(service: Service) -> Iterator[Service]:
    """Yield ``service`` and every service below it, depth first, in start order."""
    yield service
    if isinstance(service, MultiService):
        for child in service:
            yield from walk(child)


def describe(value: Any) -> Any:
    """A plain, comparable form of a persistable tree: two equivalent trees describe equal."""
    if isinstance(value, Ref):
        return {"ref": value.target}
    if isinstance(value, Persistable):
        return {"class": qualified_name(type(value)),
                **{k: describe(v) for k, v in value.persist_state().items()}}
    if isinstance(value, (list, tuple)):
        return [describe(v) for v in value]
    if isinstance(value, dict):
        return {str(k): describe(v) for k, v in value.items()}
    if isinstance(value, type) or callable(value):
        return {"ref": qualified_name(value)}
    return value


CallableRef = Callable[..., Any] | Ref
