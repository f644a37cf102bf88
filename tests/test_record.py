"""``@record`` behaves like the ``@dataclass`` features the packaging side uses."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest

from tap2pkg.record import FrozenRecordError, field, fields, record, replace


@record(frozen=True, order=True)
class Point:
    """A frozen, ordered record."""

    x: int
    y: int = 0
    tags: list[str] = field(default_factory=list, compare=False)


@dataclasses.dataclass(frozen=True, order=True)
class DataPoint:
    """The same as a dataclass, to compare with."""

    x: int
    y: int = 0
    tags: list[str] = dataclasses.field(default_factory=list, compare=False)


@record
class Box:
    """A mutable record."""

    items: list[int] = field(default_factory=list)


def test_init_defaults_and_repr_match_a_dataclass() -> None:
    assert repr(Point(1)) == repr(DataPoint(1)).replace("DataPoint", "Point")
    assert repr(Point(1, 2, ["a"])) == "Point(x=1, y=2, tags=['a'])"
    assert Point(y=3, x=1) == Point(1, 3)
    assert Point(1).tags == [] and Point(1).tags is not Point(1).tags
    assert Point.y == 0  # the class attribute holds the default, as with dataclasses
    with pytest.raises(TypeError):
        Point()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Point(1, z=2)  # type: ignore[call-arg]


def test_equality_hash_order_and_frozen() -> None:
    assert Point(1, 2, ["a"]) == Point(1, 2, ["b"])  # tags are not compared
    assert hash(Point(1, 2)) == hash(Point(1, 2))
    assert sorted([Point(2), Point(1, 5), Point(1, 1)]) == [Point(1, 1), Point(1, 5), Point(2)]
    assert Point(1) != DataPoint(1)  # type: ignore[comparison-overlap]
    with pytest.raises(FrozenRecordError):
        Point(1).x = 2  # type: ignore[misc]
    with pytest.raises(AttributeError):
        del Point(1).x  # type: ignore[misc]


def test_mutable_records_are_unhashable_and_assignable() -> None:
    box = Box()
    box.items.append(1)
    box.items = [2]
    assert box == Box([2])
    with pytest.raises(TypeError):
        hash(box)


def test_fields_and_replace() -> None:
    assert [f.name for f in fields(Point)] == ["x", "y", "tags"]
    assert [f.name for f in fields(Point(1))] == ["x", "y", "tags"]
    assert replace(Point(1, 2), y=5) == Point(1, 5)


def test_the_packaging_commands_do_not_import_dataclasses() -> None:
    code = "import sys, tap2pkg.cli.tap2rpm, tap2pkg.cli.tap2deb; print('dataclasses' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
