"""Lineage and forwarding between buses (section 8)."""

from __future__ import annotations

from typing import Any

import hypothesis.strategies as st
import trio
import trio.lowlevel
import trio.testing
from hypothesis import given, settings

from triobus import BaseEvent, EventBus


class Parent(BaseEvent[str]):
    pass


class Kid(BaseEvent[str]):
    tag: str = ""


async def test_events_emitted_in_a_handler_become_its_children() -> None:
    """Parent id, emitting handler id and both children lists are set."""
    async with EventBus("A") as a, EventBus("B") as b:

        async def parent(event: Parent) -> str:
            a.emit(Kid(tag="same bus"))
            b.emit(Kid(tag="other bus"))
            await trio.lowlevel.checkpoint()
            return "p"

        entry = a.on(Parent, parent)
        a.on(Kid, lambda e: e.tag)
        b.on(Kid, lambda e: e.tag)
        root = await a.emit(Parent())
    kids = root.event_children
    assert [k.tag for k in kids] == ["same bus", "other bus"]
    for kid in kids:
        assert kid.event_parent_id == root.event_id
        assert kid.event_emitted_by_handler_id == entry.id
        assert kid.event_blocks_parent_completion is True
        assert kid.event_status == "completed"
    assert root.event_results[entry.id].event_children == kids
    assert a.event_is_parent_of(root, kids[0])
    assert a.event_is_child_of(kids[1], root)
    assert not a.event_is_child_of(root, kids[0])


async def test_an_explicit_parent_id_is_never_overwritten() -> None:
    """A parent id set by the emitter stays, and the event is not linked."""
    async with EventBus("Explicit") as bus:
        holder: list[Kid] = []

        async def parent(event: Parent) -> str:
            holder.append(bus.emit(Kid(event_parent_id="0" * 36)))
            await trio.lowlevel.checkpoint()
            return "p"

        bus.on(Parent, parent)
        root = await bus.emit(Parent())
    assert holder[0].event_parent_id == "0" * 36
    assert root.event_children == []


async def test_grandchildren_are_descendants_at_any_depth_across_buses() -> None:
    """``event_is_child_of`` walks the lineage through several buses."""
    async with EventBus("A") as a, EventBus("B") as b:
        found: list[BaseEvent[Any]] = []

        async def parent(event: Parent) -> str:
            await b.emit(Kid(tag="child"))
            return "p"

        async def kid(event: Kid) -> str:
            if event.tag == "child":
                found.append(await a.emit(Kid(tag="grandchild")))
            return event.tag

        a.on(Parent, parent)
        b.on(Kid, kid)
        a.on(Kid, kid)
        root = await a.emit(Parent())
    (grandchild,) = found
    assert a.event_is_child_of(grandchild, root)
    assert b.event_is_child_of(grandchild, root)
    assert not a.event_is_parent_of(root, grandchild)


async def test_forwarding_keeps_one_object_one_path_and_one_result_map() -> None:
    """The same event travels; each bus adds its label and its results."""
    async with EventBus("A") as a, EventBus("B") as b:
        a.on("*", b.emit)
        a.on(Parent, lambda e: "from A")
        b.on(Parent, lambda e: "from B")
        seen: list[Parent] = []
        b.on(Parent, seen.append)
        event = a.emit(Parent())
        await event
    assert seen == [event]
    assert seen[0] is event
    assert event.event_path == [a.label, b.label]
    assert await event.event_results_list() == ["from A", "from B"]
    assert event.event_children == []  # forwarding is not parenthood
    assert event.event_parent_id is None


async def test_cycles_and_bidirectional_pairs_process_once_per_bus() -> None:
    """A→B→C→A and A⇄B terminate, each bus handling the event once."""
    counts: dict[str, int] = {}

    def count(event: BaseEvent[Any]) -> None:
        counts[event.bus.label] = counts.get(event.bus.label, 0) + 1

    async with EventBus("A") as a, EventBus("B") as b, EventBus("C") as c:
        for bus in (a, b, c):
            bus.on("*", count)
        a.on("*", b.emit)
        b.on("*", c.emit)
        c.on("*", a.emit)
        b.on("*", a.emit)
        event = await a.emit(Parent())
    assert counts == {a.label: 1, b.label: 1, c.label: 1}
    assert event.event_path == [a.label, b.label, c.label]


async def test_same_name_buses_are_told_apart_by_label() -> None:
    """Two buses named alike both receive a forwarded event."""
    async with EventBus("Twin") as one, EventBus("Twin") as two:
        one.on("*", two.emit)
        two.on(Parent, lambda e: "second twin")
        event = await one.emit(Parent())
    assert await event.event_result() == "second twin"
    assert len(event.event_path) == 2


async def test_awaiting_at_the_origin_waits_for_late_forwards(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A forwarder that forwards late still holds the origin's await."""
    async with EventBus("Origin") as a, EventBus("Far") as b:

        async def late_forward(event: Parent) -> None:
            await trio.sleep(3)
            b.emit(event)

        async def far(event: Parent) -> str:
            await trio.sleep(2)
            return "far"

        a.on("*", late_forward)
        b.on(Parent, far)
        event = await a.emit(Parent())
        assert trio.current_time() == 5
        assert await event.event_result() == "far"
        assert event.event_pending_bus_count == 0


async def test_each_bus_resolves_its_own_defaults_for_a_forwarded_event(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A forwarded event follows the policy of the bus processing it."""

    async def slow(event: Parent) -> str:
        await trio.sleep(1)
        return "slow"

    async def fast(event: Parent) -> str:
        return "fast"

    async with (
        EventBus("Serial") as a,
        EventBus(
            "First",
            event_handler_concurrency="parallel",
            event_handler_completion="first",
        ) as b,
    ):
        a.on(Parent, slow)
        a.on(Parent, fast)
        a.on("*", b.emit)
        b.on(Parent, slow)
        b.on(Parent, fast)
        event = await a.emit(Parent())
    values = [r.result for r in event.event_results.values() if r.eventbus_id == b.id]
    assert values == [None, "fast"]
    a_values = [r.result for r in event.event_results.values() if r.eventbus_id == a.id]
    assert a_values[:2] == ["slow", "fast"]
    assert event.event_concurrency is None  # options stay unset on the event


async def test_pending_bus_count_tracks_queued_and_running_buses() -> None:
    """``event_pending_bus_count`` counts buses still holding the event."""
    gate = trio.Event()
    async with EventBus("A") as a, EventBus("B") as b:
        counts: list[int] = []

        async def on_a(event: Parent) -> None:
            b.emit(event)
            counts.append(event.event_pending_bus_count)

        async def on_b(event: Parent) -> None:
            await gate.wait()

        a.on(Parent, on_a)
        b.on(Parent, on_b)
        event = a.emit(Parent())
        assert event.event_pending_bus_count == 1
        await trio.testing.wait_all_tasks_blocked()
        assert event.event_pending_bus_count == 1  # A done, B running
        gate.set()
        await event
    assert counts == [2]
    assert event.event_pending_bus_count == 0


@st.composite
def topologies(draw: st.DrawFn) -> tuple[int, list[tuple[int, int]], int]:
    size = draw(st.integers(1, 6))
    pairs = [(i, j) for i in range(size) for j in range(size) if i != j]
    edges = draw(st.lists(st.sampled_from(pairs), unique=True)) if pairs else []
    origin = draw(st.integers(0, size - 1))
    return size, edges, origin


def _reachable(size: int, edges: list[tuple[int, int]], origin: int) -> set[int]:
    seen = {origin}
    frontier = [origin]
    while frontier:
        node = frontier.pop()
        for src, dst in edges:
            if src == node and dst not in seen:
                seen.add(dst)
                frontier.append(dst)
    return seen


@settings(max_examples=80, deadline=None)
@given(topologies(), st.sampled_from(["bus-serial", "global-serial", "parallel"]))
def test_any_forwarding_graph_handles_each_event_once_per_reachable_bus(
    topology: tuple[int, list[tuple[int, int]], int], mode: str
) -> None:
    """Random directed graphs of up to six buses, cycles included: every
    reachable bus handles the event exactly once, and everything completes."""
    size, edges, origin = topology

    async def main() -> None:
        handled: dict[int, int] = {}
        buses = [EventBus(f"N{i}", event_concurrency=mode) for i in range(size)]

        def counter(index: int) -> Any:
            def count(event: BaseEvent[Any]) -> None:
                handled[index] = handled.get(index, 0) + 1

            return count

        for index, bus in enumerate(buses):
            bus.on("*", counter(index))
        for src, dst in edges:
            buses[src].on("*", buses[dst].emit)
        async with trio.open_nursery() as nursery:
            for bus in buses:
                await nursery.start(bus.run)
            event = await buses[origin].emit(Parent())
            reached = _reachable(size, edges, origin)
            assert handled == dict.fromkeys(reached, 1)
            assert sorted(event.event_path) == sorted(buses[i].label for i in reached)
            assert len(set(event.event_path)) == len(event.event_path)
            assert event.event_status == "completed"
            assert event.event_pending_bus_count == 0
            for bus in buses:
                await bus.aclose()

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
