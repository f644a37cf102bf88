"""The services tree: order, names, late children, deadlines, persistence contract."""

from __future__ import annotations

import asyncio
import copy
import pickle

import pytest

from tap2pkg.runtime.service import (
    Application,
    Factory,
    MultiService,
    Ref,
    Service,
    ServiceError,
    describe,
    walk,
)


class Recorder(Service):
    """A service that logs its start/stop into a shared list."""

    def __init__(self, name: str, events: list[str], stop_delay: float = 0.0) -> None:
        super().__init__(name)
        self.events = events
        self.stop_delay = stop_delay

    async def privileged_start(self) -> None:
        self.events.append(f"bind {self.name}")

    async def start(self) -> None:
        await super().start()
        self.events.append(f"start {self.name}")

    async def stop(self) -> None:
        await asyncio.sleep(self.stop_delay)
        await super().stop()
        self.events.append(f"stop {self.name}")


def test_children_start_in_order_and_stop_in_reverse() -> None:
    events: list[str] = []
    app = Application("demo")
    for name in ("a", "b", "c"):
        Recorder(name, events).set_service_parent(app)

    async def scenario() -> None:
        await app.privileged_start()
        await app.start()
        await app.stop()

    asyncio.run(scenario())
    assert events == ["bind a", "bind b", "bind c", "start a", "start b", "start c",
                      "stop c", "stop b", "stop a"]
    assert not any(s.running for s in app)


def test_duplicate_names_are_refused() -> None:
    parent = MultiService("parent")
    parent.add_service(Service("web"))
    with pytest.raises(ServiceError, match="duplicate service name 'web'"):
        parent.add_service(Service("web"))
    assert len(parent) == 1


def test_a_service_with_a_parent_cannot_be_renamed_or_added_twice() -> None:
    parent, other = MultiService("p"), MultiService("o")
    child = Service("x")
    parent.add_service(child)
    with pytest.raises(ServiceError):
        child.set_name("y")
    with pytest.raises(ServiceError):
        other.add_service(child)
    child.disown_service_parent()
    other.add_service(child)
    assert other.get_service_named("x") is child


def test_child_added_to_a_running_parent_starts_at_once() -> None:
    events: list[str] = []
    app = Application("demo")

    async def scenario() -> None:
        await app.privileged_start()
        await app.start()
        task = app.add_service(Recorder("late", events))
        assert task is not None
        await task
        assert app.get_service_named("late").running
        await app.stop()

    asyncio.run(scenario())
    assert events == ["bind late", "start late", "stop late"]


def test_removing_a_running_child_stops_it() -> None:
    events: list[str] = []
    app = Application("demo")
    child = Recorder("a", events)
    app.add_service(child)

    async def scenario() -> None:
        await app.start()
        task = app.remove_service(child)
        assert task is not None
        await task

    asyncio.run(scenario())
    assert events == ["start a", "stop a"]
    assert child.parent is None


def test_stop_is_bounded_by_a_deadline() -> None:
    events: list[str] = []
    app = Application("demo")
    Recorder("slow", events, stop_delay=30).set_service_parent(app)
    Recorder("quick", events).set_service_parent(app)

    async def scenario() -> float:
        await app.start()
        loop = asyncio.get_running_loop()
        began = loop.time()
        await app.stop(timeout=0.2)
        return loop.time() - began

    elapsed = asyncio.run(scenario())
    assert elapsed < 5
    assert "stop quick" in events and "stop slow" not in events
    assert not app.get_service_named("slow").running


def test_application_carries_name_uid_gid() -> None:
    app = Application("echo", uid="nobody", gid=65534)
    assert (app.process_name, app.uid, app.gid) == ("echo", "nobody", 65534)


def test_walk_visits_the_tree_depth_first() -> None:
    app = Application("a")
    inner = MultiService("inner")
    inner.add_service(Service("leaf"))
    app.add_service(inner)
    app.add_service(Service("last"))
    assert [s.name for s in walk(app)] == ["a", "inner", "leaf", "last"]


def test_persist_state_rebuilds_an_equivalent_tree_and_pickles() -> None:
    app = Application("echo", uid=0, gid=0, services=[
        MultiService("group", services=[Service("one")]),
        Service("two"),
    ])
    rebuilt = Application(**copy.deepcopy(app.persist_state()))
    assert describe(rebuilt) == describe(app)
    assert describe(pickle.loads(pickle.dumps(app, protocol=4))) == describe(app)


def test_ref_resolves_lazily_and_factory_builds_protocols() -> None:
    ref = Ref("collections:OrderedDict")
    assert ref._resolved is None
    factory = Factory(ref, {"a": 1})
    assert factory() == {"a": 1}
    assert describe(factory) == {"class": "tap2pkg.runtime.service:Factory",
                                 "protocol": {"ref": "collections:OrderedDict"}, "options": {"a": 1}}
    with pytest.raises(ValueError, match="module:qualname"):
        Ref("no-colon")
