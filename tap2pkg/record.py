"""``@record``: the part of ``@dataclass`` the packaging side uses, without its import cost.

``dataclasses`` imports ``inspect`` (and with it ``dis``, ``tokenize``...) and
compiles an ``__init__``, ``__repr__``, ``__eq__``... for every class, which
together were a fifth of a single ``tap2rpm`` call. A record class gets
generic methods instead, with the same behaviour for what we use: fields from
the class annotations in order, defaults and :func:`field` factories,
``__post_init__``, ``repr`` like a dataclass's, equality and hashing over the
compared fields, ``frozen=True`` and ``order=True``. Type checkers see it as a
dataclass (:pep:`681`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, dataclass_transform, overload

__all__ = ["FrozenRecordError", "field", "fields", "record", "replace"]

T = TypeVar("T")
_MISSING: Any = object()


class FrozenRecordError(AttributeError):
    """Assignment to a field of a frozen record."""


class _Field:
    __slots__ = ("compare", "default", "default_factory", "name", "repr")

    def __init__(self, default: Any = _MISSING, default_factory: Callable[[], Any] | None = None,
                 compare: bool = True, repr: bool = True) -> None:
        self.name = ""
        self.default = default
        self.default_factory = default_factory
        self.compare = compare
        self.repr = repr


def field(*, default: Any = _MISSING, default_factory: Callable[[], Any] | None = None,
          compare: bool = True, repr: bool = True) -> Any:
    """A field with a ``default_factory``, or left out of comparisons (``compare=False``) or ``repr``."""
    return _Field(default, default_factory, compare, repr)


def fields(obj: object) -> tuple[_Field, ...]:
    """The fields of a record class or instance, in order."""
    cls: Any = obj if isinstance(obj, type) else type(obj)
    result: tuple[_Field, ...] = cls.__record_fields__
    return result


def replace(obj: T, **changes: Any) -> T:
    """A new record like ``obj`` with ``changes`` (checked again by ``__post_init__``)."""
    values = {f.name: getattr(obj, f.name) for f in fields(obj)}
    values.update(changes)
    return type(obj)(**values)


def _init(self: Any, *args: Any, **kwargs: Any) -> None:
    cls = type(self)
    specs: tuple[_Field, ...] = cls.__record_fields__
    if len(args) > len(specs):
        raise TypeError(f"{cls.__name__}() takes {len(specs)} arguments but {len(args)} were given")
    for spec, value in zip(specs, args, strict=False):
        if spec.name in kwargs:
            raise TypeError(f"{cls.__name__}() got multiple values for argument {spec.name!r}")
        kwargs[spec.name] = value
    for spec in specs:
        if spec.name in kwargs:
            value = kwargs.pop(spec.name)
        elif spec.default_factory is not None:
            value = spec.default_factory()
        elif spec.default is not _MISSING:
            value = spec.default
        else:
            raise TypeError(f"{cls.__name__}() missing required argument {spec.name!r}")
        object.__setattr__(self, spec.name, value)
    if kwargs:
        raise TypeError(f"{cls.__name__}() got an unexpected keyword argument {next(iter(kwargs))!r}")
    post_init = getattr(self, "__post_init__", None)
    if post_init is not None:
        post_init()


def _repr(self: Any) -> str:
    inner = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in self.__record_fields__ if f.repr)
    return f"{type(self).__qualname__}({inner})"


def _key(self: Any) -> tuple[Any, ...]:
    return tuple(getattr(self, f.name) for f in self.__record_fields__ if f.compare)


def _eq(self: Any, other: object) -> bool:
    if type(other) is not type(self):
        result: bool = NotImplemented
        return result
    equal: bool = _key(self) == _key(other)
    return equal


def _hash(self: Any) -> int:
    return hash(_key(self))


def _frozen_setattr(self: Any, name: str, value: object) -> None:
    raise FrozenRecordError(f"cannot assign to field {name!r}")


def _frozen_delattr(self: Any, name: str) -> None:
    raise FrozenRecordError(f"cannot delete field {name!r}")


def _order(op: Callable[[tuple[Any, ...], tuple[Any, ...]], bool]) -> Callable[[Any, object], bool]:
    def compare(self: Any, other: object) -> bool:
        if type(other) is not type(self):
            result: bool = NotImplemented
            return result
        return op(_key(self), _key(other))
    return compare


def _make(cls: type[T], frozen: bool, order: bool) -> type[T]:
    specs = []
    # the class's own annotations (strings: every module uses postponed evaluation)
    for name, annotation in cls.__dict__.get("__annotations__", {}).items():  # noqa: RUF063 -- inspect is what we avoid
        if "ClassVar" in str(annotation):
            continue
        default = cls.__dict__.get(name, _MISSING)
        spec = default if isinstance(default, _Field) else _Field(default)
        spec.name = name
        if isinstance(default, _Field):  # the class attribute holds the plain default, as in dataclasses
            if spec.default is _MISSING:
                delattr(cls, name)
            else:
                setattr(cls, name, spec.default)
        specs.append(spec)
    methods: dict[str, Any] = {"__record_fields__": tuple(specs), "__init__": _init, "__repr__": _repr,
                               "__eq__": _eq, "__hash__": _hash if frozen else None,
                               "__match_args__": tuple(s.name for s in specs)}
    if frozen:
        methods.update(__setattr__=_frozen_setattr, __delattr__=_frozen_delattr)
    if order:
        methods.update(__lt__=_order(lambda a, b: a < b), __le__=_order(lambda a, b: a <= b),
                       __gt__=_order(lambda a, b: a > b), __ge__=_order(lambda a, b: a >= b))
    for name, method in methods.items():
        setattr(cls, name, method)
    return cls


@overload
def record(cls: type[T], /) -> type[T]: ...


@overload
def record(*, frozen: bool = False, order: bool = False) -> Callable[[type[T]], type[T]]: ...


@dataclass_transform(field_specifiers=(field,))
def record(cls: type[T] | None = None, /, *, frozen: bool = False,
           order: bool = False) -> type[T] | Callable[[type[T]], type[T]]:
    """Make ``cls`` a record, like ``@dataclass`` / ``@dataclass(frozen=True, order=True)``."""
    if cls is None:
        return lambda c: _make(c, frozen, order)
    return _make(cls, frozen, order)
