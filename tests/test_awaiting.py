"""Emitting and awaiting: immediate path, queue-jump and queue order (section 4)."""

from __future__ import annotations

from typing import Any

import pytest
import trio
import trio.lowlevel
import trio.testing

from triobus import BaseEvent, EventBus


class Job(BaseEvent[str]):
    name: str = ""


class Child(BaseEvent[str]):
    name: str = ""


async def test_emit_returns_the_same_pending_object_without_blocking() -> None:
    """``emit`` is sync: the very object comes back, still pending."""
    async with EventBus("Emit") as bus:
        bus.on(Job, lambda e: "done")
        job = Job(name="a")
        with trio.testing.assert_no_checkpoints():
            returned = bus.emit(job)
        assert returned is job
        assert job.event_status == "pending"
        assert job.event_path == [bus.label]
        assert (await job).event_status == "completed"


async def test_awaiting_a_child_in_a_handler_runs_it_inline_without_overshoot() -> None:
    """The child runs at once; events queued before it keep waiting (no overshoot)."""
    trace: list[str] = []

    async with EventBus("Jump") as bus:

        async def job(event: Job) -> str:
            trace.append(f"start {event.name}")
            if event.name == "first":
                child = bus.emit(Child(name="c"))
                await child
                trace.append(f"child {child.event_status}")
            trace.append(f"end {event.name}")
            return event.name

        async def child(event: Child) -> str:
            trace.append("child runs")
            await trio.lowlevel.checkpoint()
            return "c"

        bus.on(Job, job)
        bus.on(Child, child)
        bus.emit(Job(name="first"))
        bus.emit(Job(name="second"))
        bus.emit(Job(name="third"))
        await bus.wait_until_idle()
    assert trace == [
        "start first",
        "child runs",
        "child completed",
        "end first",
        "start second",
        "end second",
        "start third",
        "end third",
    ]


async def test_queue_jump_is_inline_in_the_awaiting_handlers_task() -> None:
    """The child's handler runs in the same Trio task as the awaiting handler."""
    tasks: dict[str, object] = {}
    async with EventBus("Task") as bus:

        async def parent(event: Job) -> str:
            tasks["parent"] = trio.lowlevel.current_task()
            await bus.emit(Child())
            return "p"

        async def child(event: Child) -> str:
            tasks["child"] = trio.lowlevel.current_task()
            await trio.lowlevel.checkpoint()
            return "c"

        bus.on(Job, parent)
        bus.on(Child, child)
        await bus.emit(Job())
    assert tasks["parent"] is tasks["child"]


@pytest.mark.parametrize("mode", ["bus-serial", "global-serial", "parallel"])
async def test_nested_queue_jumps_never_deadlock_at_any_depth(mode: str) -> None:
    """Twenty levels of handlers each awaiting a child all complete."""
    depth_reached: list[int] = []

    class Level(BaseEvent[int]):
        depth: int = 0

    async with EventBus("Deep", event_concurrency=mode) as bus:

        async def handler(event: Level) -> int:
            depth_reached.append(event.depth)
            if event.depth < 20:
                child = await bus.emit(Level(depth=event.depth + 1))
                assert child.event_status == "completed"
            return event.depth

        bus.on(Level, handler)
        root = await bus.emit(Level())
    assert depth_reached == list(range(21))
    assert root.event_status == "completed"


async def test_global_serial_child_on_another_bus_runs_inline() -> None:
    """Under global-serial, a handler holds every bus's slot for its children."""
    trace: list[str] = []
    async with (
        EventBus("A", event_concurrency="global-serial") as a,
        EventBus("B", event_concurrency="global-serial") as b,
    ):

        async def parent(event: Job) -> str:
            trace.append("parent start")
            await b.emit(Child())
            trace.append("parent end")
            return "p"

        async def on_b(event: Child) -> str:
            trace.append("child on B")
            await trio.lowlevel.checkpoint()
            return "c"

        async def other_b(event: Job) -> str:
            trace.append("other B job")
            return "o"

        a.on(Job, parent)
        b.on(Child, on_b)
        b.on(Job, other_b)
        b.emit(Job(name="queued on B first"))
        a.emit(Job())
        await a.wait_until_idle()
        await b.wait_until_idle()
    # Which bus takes the global lock first is up to Trio's scheduler; the
    # child on B must run inline, inside the parent, either way.
    start = trace.index("parent start")
    assert trace[start : start + 3] == ["parent start", "child on B", "parent end"]
    assert sorted(trace) == sorted(
        ["other B job", "parent start", "child on B", "parent end"]
    )


async def test_child_on_a_bus_whose_slot_is_busy_moves_to_the_front() -> None:
    """A child on another bus-serial bus waits only for the event running there."""
    trace: list[str] = []
    release = trio.Event()
    async with EventBus("A") as a, EventBus("B") as b:

        async def busy(event: Job) -> str:
            trace.append(f"B {event.name} start")
            if event.name == "running":
                await release.wait()
            trace.append(f"B {event.name} end")
            return event.name

        async def parent(event: Child) -> str:
            trace.append("A parent awaits")
            release.set()
            await b.emit(Job(name="child"))
            trace.append("A parent resumes")
            return "p"

        b.on(Job, busy)
        a.on(Child, parent)
        b.emit(Job(name="running"))
        b.emit(Job(name="queued"))
        await trio.testing.wait_all_tasks_blocked()
        await a.emit(Child())
        await b.wait_until_idle()
    assert trace[:5] == [
        "B running start",
        "A parent awaits",
        "B running end",
        "B child start",
        "B child end",
    ]
    # After that, the parent on A and the next event on B run concurrently.
    assert sorted(trace[5:]) == ["A parent resumes", "B queued end", "B queued start"]


async def test_awaiting_outside_handlers_jumps_the_queue_but_keeps_serial_mode() -> (
    None
):
    """From outside, an awaited event runs next, after the running one ends."""
    trace: list[str] = []
    gate = trio.Event()
    async with EventBus("Outside") as bus:

        async def job(event: Job) -> str:
            trace.append(f"start {event.name}")
            if event.name == "a":
                await gate.wait()
            trace.append(f"end {event.name}")
            return event.name

        bus.on(Job, job)
        bus.emit(Job(name="a"))
        bus.emit(Job(name="b"))
        late = bus.emit(Job(name="c"))
        await trio.testing.wait_all_tasks_blocked()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_await, late)
            await trio.testing.wait_all_tasks_blocked()
            gate.set()
        await bus.wait_until_idle()
    assert trace == ["start a", "end a", "start c", "end c", "start b", "end b"]


async def _await(event: BaseEvent[Any]) -> None:
    await event


async def test_event_completed_waits_in_queue_order_without_reordering() -> None:
    """The queue-order path never moves the event forward."""
    trace: list[str] = []
    async with EventBus("Order") as bus:

        async def job(event: Job) -> str:
            trace.append(event.name)
            await trio.lowlevel.checkpoint()
            return event.name

        bus.on(Job, job)
        bus.emit(Job(name="a"))
        bus.emit(Job(name="b"))
        last = bus.emit(Job(name="c"))
        await last.event_completed()
    assert trace == ["a", "b", "c"]


async def test_queue_order_wait_for_an_event_behind_the_handler_raises() -> None:
    """A handler waiting in queue order for a later event on its bus would hang."""
    errors: list[str] = []
    async with EventBus("Cycle") as bus:

        async def parent(event: Job) -> str:
            child = bus.emit(Child())
            try:
                await child.event_completed()
            except RuntimeError as exc:
                errors.append(str(exc))
            return "p"

        bus.on(Job, parent)
        bus.on(Child, lambda e: "c")
        await bus.emit(Job())
    assert len(errors) == 1
    assert "use 'await event'" in errors[0]


async def test_awaiting_the_handlers_own_event_raises_instead_of_hanging() -> None:
    """An event cannot complete before its own handler returns."""
    seen: list[BaseException] = []
    async with EventBus("Self") as bus:

        async def handler(event: Job) -> str:
            for wait in (event.event_completed, event.__await__):
                try:
                    if wait == event.__await__:
                        await event
                    else:
                        await event.event_completed()
                except RuntimeError as exc:
                    seen.append(exc)
            return "ok"

        bus.on(Job, handler)
        await bus.emit(Job())
    assert len(seen) == 2
    assert all("cannot complete before that handler returns" in str(e) for e in seen)


async def test_awaiting_an_event_that_was_never_emitted_raises() -> None:
    """Waiting for something no bus holds would wait forever."""
    with pytest.raises(RuntimeError, match="never emitted"):
        await Job()
    with pytest.raises(RuntimeError, match="never emitted"):
        await Job().event_completed()


async def test_awaiting_a_completed_event_returns_at_once_with_a_checkpoint() -> None:
    """A completed event is returned immediately, and the await still checkpoints."""
    async with EventBus("Done") as bus:
        bus.on(Job, lambda e: "x")
        job = await bus.emit(Job())
        with trio.testing.assert_checkpoints():
            assert await job is job
        with trio.testing.assert_checkpoints():
            await job.event_completed()
        with trio.testing.assert_checkpoints():
            assert await job.event_result() == "x"


async def test_many_tasks_can_await_one_event(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Any number of tasks may await the same event, any number of times."""
    got: list[str | None] = []
    async with EventBus("Many") as bus:

        async def slow(event: Job) -> str:
            await trio.sleep(1)
            return "v"

        bus.on(Job, slow)
        job = bus.emit(Job())

        async def waiter() -> None:
            await job
            got.append(await job.event_result())

        async with trio.open_nursery() as nursery:
            for _ in range(10):
                nursery.start_soon(waiter)
    assert got == ["v"] * 10


async def test_cancelling_an_outside_awaiter_does_not_cancel_the_event(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The event belongs to the bus, not to whoever waits for it."""
    async with EventBus("Awaiter") as bus:

        async def slow(event: Job) -> str:
            await trio.sleep(10)
            return "finished"

        bus.on(Job, slow)
        job = bus.emit(Job())
        with trio.move_on_after(1):
            await job
        assert job.event_status == "started"
        assert await job.event_result() == "finished"
        assert trio.current_time() == 10


async def test_a_child_whose_own_children_are_queued_still_completes_inline() -> None:
    """Awaiting a child also runs the grandchildren it left queued."""
    trace: list[str] = []
    async with EventBus("Grand") as bus:

        async def parent(event: Job) -> str:
            await bus.emit(Child(name="c"))
            trace.append("parent resumes")
            return "p"

        async def child(event: Child) -> str:
            if event.name == "c":
                bus.emit(Child(name="grandchild"))
            trace.append(event.name)
            return event.name

        bus.on(Job, parent)
        bus.on(Child, child)
        bus.emit(Job())
        bus.emit(Child(name="queued before"))
        await bus.wait_until_idle()
    assert trace == ["c", "grandchild", "parent resumes", "queued before"]


async def test_a_parent_waits_for_children_its_handlers_did_not_await() -> None:
    """An event completes only after its children, recursively."""
    async with EventBus("Nursery") as bus:

        async def parent(event: Job) -> str:
            bus.emit(Child(name="later"))
            return "p"

        async def child(event: Child) -> str:
            await trio.sleep(1)
            return "c"

        bus.on(Job, parent)
        bus.on(Child, child)
        job = await bus.emit(Job())
        (kid,) = job.event_children
        assert kid.event_status == "completed"
        assert job.event_completed_at is not None
        assert kid.event_completed_at is not None
        assert job.event_completed_at >= kid.event_completed_at


async def test_event_bus_property_is_the_processing_bus_inside_handlers() -> None:
    """``event.bus`` names the bus handling it, and raises outside handlers."""
    seen: list[str] = []
    async with EventBus("A") as a, EventBus("B") as b:
        a.on("*", b.emit)

        def record(event: Job) -> str:
            seen.append(event.bus.label)
            return "x"

        a.on(Job, record)
        b.on(Job, record)
        job = await a.emit(Job())
        with pytest.raises(RuntimeError, match="only available inside a handler"):
            _ = job.bus
    assert seen == [a.label, b.label]
