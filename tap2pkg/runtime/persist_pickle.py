"""The ``pickle`` format (``.tap``): a pickler that never needs user code, and a restricted unpickler.

Saving pickles every class or function that is not registered as a
:class:`~tap2pkg.runtime.service.Ref`, so loading never imports the
application's own code.

A pickle is a small program: its opcodes import globals and call them. This
unpickler runs the pure-Python interpreter from :mod:`pickle` with the
dangerous opcodes replaced:

* a global (``GLOBAL``, ``STACK_GLOBAL``) may only name an entry of
  :data:`~tap2pkg.runtime.service.REGISTRY`; ``os:system`` and friends are
  refused with :class:`~tap2pkg.runtime.errors.UnsafeAppFileError` before anything runs;
* a call (``REDUCE``, ``NEWOBJ``) may only construct a registered
  :class:`~tap2pkg.runtime.service.Persistable` *class* -- never call a function
  or an object, so a ``Ref('os:system')`` built by the file cannot be invoked;
* ``BUILD`` may only hand a dict of keyword arguments to a persistable
  instance's ``__setstate__`` (which calls ``__init__``), and an instance
  made by ``NEWOBJ`` that never gets its ``BUILD`` is refused;
* the container opcodes only fill real lists, dicts and sets;
* ``INST``/``OBJ``/``NEWOBJ_EX`` (other ways to instantiate), persistent ids and
  extension codes (whose cache could hold objects loaded elsewhere) are refused.
"""

from __future__ import annotations

import io
import pickle
import types
from collections.abc import Callable
from typing import Any, ClassVar

from .errors import AppFileError, Tap2pkgError, UnsafeAppFileError, brief, clip
from .persist import PICKLE_PROTOCOL, build_object, callable_target, twisted_application
from .service import REGISTRY, Application, Persistable, Ref, qualified_name

_Opcode = Callable[["SafeUnpickler"], None]


class SafeUnpickler(pickle._Unpickler):
    """An unpickler that builds only registered tap2pkg runtime objects."""

    dispatch: ClassVar[dict[int, Any]] = dict(pickle._Unpickler.dispatch)
    # set up by pickle._Unpickler, undeclared in its stubs
    stack: list[Any]
    append: Callable[[Any], None]
    pop_mark: Callable[[], list[Any]]

    def __init__(self, stream: io.BytesIO, path: object) -> None:
        super().__init__(stream)
        self.path = path
        #: instances NEWOBJ made that no BUILD has initialized yet, by id (kept alive here)
        self.unbuilt: dict[int, Any] = {}

    def load(self) -> Any:
        value = super().load()
        if self.unbuilt:
            inst = next(iter(self.unbuilt.values()))
            raise AppFileError(self.path, f"not a valid .tap pickle: {brief(inst)} object is never given "
                               "its fields (NEWOBJ without BUILD)",
                               expected="a .tap file written by tap2pkg or tapd")
        return value

    def _refuse(self, what: str) -> UnsafeAppFileError:
        return UnsafeAppFileError(
            self.path, f"refusing to load {what}: a .tap may only build tap2pkg runtime classes",
            expected="your own code referenced with Ref('module:name')")

    def find_class(self, module: str, name: str) -> Any:
        key = f"{module}:{name}"
        if module.partition(".")[0] == "twisted":
            raise twisted_application(self.path, "pickle")
        if key not in REGISTRY:
            raise UnsafeAppFileError(
                self.path, f"refusing to load {clip(key)}: a .tap may only name tap2pkg runtime classes",
                expected="your own code referenced with Ref('module:name')")
        return REGISTRY[key]

    def _constructor(self, obj: Any) -> type[Persistable]:
        if isinstance(obj, type) and issubclass(obj, Persistable):
            cls: type[Persistable] = obj
            registered = REGISTRY.get(f"{cls.__module__}:{cls.__qualname__}") is cls
            if registered:
                return cls
        raise self._refuse(f"a call to {_name_of(obj)}")

    def load_reduce(self) -> None:
        args = self.stack.pop()
        cls = self._constructor(self.stack[-1])
        if not isinstance(args, tuple):
            raise self._refuse("a call with malformed arguments")
        self.stack[-1] = build_object(cls, list(args), {}, self.path)

    def load_newobj(self) -> None:
        args = self.stack.pop()
        cls = self._constructor(self.stack.pop())
        if not isinstance(args, tuple):
            raise self._refuse("a call with malformed arguments")
        inst = cls.__new__(cls, *args)
        self.unbuilt[id(inst)] = inst
        self.append(inst)

    def load_build(self) -> None:
        state = self.stack.pop()
        inst = self.stack[-1]
        if not isinstance(inst, Persistable) or not isinstance(state, dict) or not all(
                isinstance(k, str) for k in state):
            raise self._refuse(f"state for {_name_of(inst)}")
        try:
            inst.__setstate__(state)
        except Exception as exc:  # noqa: BLE001 -- a constructor may reject bad values any way it likes
            message = exc.message if isinstance(exc, Tap2pkgError) else str(exc)
            raise AppFileError(self.path,
                               f"cannot build {type(inst).__name__}: {clip(message, 200)}") from None
        self.unbuilt.pop(id(inst), None)

    def load_append(self) -> None:
        value = self.stack.pop()
        self._container(list).append(value)

    def load_appends(self) -> None:
        items = self.pop_mark()
        self._container(list).extend(items)

    def load_setitem(self) -> None:
        value = self.stack.pop()
        key = self.stack.pop()
        self._container(dict)[key] = value

    def load_setitems(self) -> None:
        items = self.pop_mark()
        target = self._container(dict)
        for i in range(0, len(items), 2):
            target[items[i]] = items[i + 1]

    def load_additems(self) -> None:
        items = self.pop_mark()
        self._container(set).update(items)

    def _container(self, kind: type[Any]) -> Any:
        target = self.stack[-1]
        if type(target) is not kind:
            raise self._refuse(f"items added to {_name_of(target)}")
        return target

    def _refuse_instance(self) -> None:
        raise self._refuse("an old-style instance")

    def _refuse_persistent_id(self) -> None:
        raise self._refuse("a persistent id")

    def _refuse_extension(self) -> None:
        # the extension cache may hold objects other code loaded, bypassing find_class
        raise self._refuse("an extension code")


def _name_of(obj: Any) -> str:
    if isinstance(obj, type) or (callable(obj) and hasattr(obj, "__qualname__")):
        return f"{getattr(obj, '__module__', '?')}:{obj.__qualname__}"
    return f"a {type(obj).__qualname__} object"


_REPLACED: dict[bytes, _Opcode] = {
    pickle.REDUCE: SafeUnpickler.load_reduce,
    pickle.NEWOBJ: SafeUnpickler.load_newobj,
    pickle.BUILD: SafeUnpickler.load_build,
    pickle.APPEND: SafeUnpickler.load_append,
    pickle.APPENDS: SafeUnpickler.load_appends,
    pickle.SETITEM: SafeUnpickler.load_setitem,
    pickle.SETITEMS: SafeUnpickler.load_setitems,
    pickle.ADDITEMS: SafeUnpickler.load_additems,
    pickle.NEWOBJ_EX: SafeUnpickler._refuse_instance,
    pickle.INST: SafeUnpickler._refuse_instance,
    pickle.OBJ: SafeUnpickler._refuse_instance,
    pickle.PERSID: SafeUnpickler._refuse_persistent_id,
    pickle.BINPERSID: SafeUnpickler._refuse_persistent_id,
    pickle.EXT1: SafeUnpickler._refuse_extension,
    pickle.EXT2: SafeUnpickler._refuse_extension,
    pickle.EXT4: SafeUnpickler._refuse_extension,
}
for _opcode, _handler in _REPLACED.items():
    SafeUnpickler.dispatch[_opcode[0]] = _handler


class _RefPickler(pickle.Pickler):
    """Pickles unregistered classes and functions as :class:`Ref`, so loading never needs user code."""

    def __init__(self, stream: io.BytesIO, path: object) -> None:
        super().__init__(stream, protocol=PICKLE_PROTOCOL)
        self._path = path

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, (type, types.FunctionType, types.BuiltinFunctionType)):
            target = qualified_name(obj)
            if REGISTRY.get(target) is not obj:
                return (Ref, (callable_target(obj, self._path, "a value"),))
        return NotImplemented


def dumps_pickle(app: Application, path: object) -> bytes:
    """The ``.tap`` bytes of ``app`` (``path`` names the file in errors)."""
    stream = io.BytesIO()
    _RefPickler(stream, path).dump(app)
    return stream.getvalue()


def loads_pickle(data: bytes, path: object) -> Any:
    """Unpickle a ``.tap`` file's bytes with :class:`SafeUnpickler`; every failure is an AppFileError."""
    try:
        return SafeUnpickler(io.BytesIO(data), path).load()
    except AppFileError:
        raise
    except EOFError:
        raise AppFileError(path, "truncated pickle: the file ends before the application does",
                           expected="a complete .tap file; save it again") from None
    except Exception as exc:  # noqa: BLE001 -- garbage input makes the unpickler fail in many ways
        if not data.startswith(b"\x80"):
            problem = "not a valid .tap pickle: it does not even start like one"
        elif isinstance(exc, pickle.UnpicklingError):
            problem = f"not a valid .tap pickle: {exc}"
        else:
            problem = "not a valid .tap pickle: its content is corrupt"
        raise AppFileError(path, problem, expected="a .tap file written by tap2pkg or tapd") from None
