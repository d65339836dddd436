"""Cancellation leaves the bus consistent (sections 3, 4, 5.3, 7 and 9).

Deterministic tests pin the individual rules: cancelling an awaiter does not
cancel the event, except when the event runs inline in the cancelled task;
BaseExceptions that are not ordinary errors propagate and are never stored;
every public async call checkpoints, also on its fast path. Property tests
then cancel from outside at a random virtual time and check that nothing
leaked and nothing was left half done.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import attrs
import pytest
import trio
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st

from triobus import (
    BaseEvent,
    BusClosedError,
    EventBus,
    EventHandlerAbortedError,
    EventHandlerCancelledError,
    EventResultStatus,
    EventStatus,
)


class Job(BaseEvent[int]):
    """An event whose handlers are driven by a script looked up by ``node``."""

    node: int = 0


class Halt(BaseException):
    """A BaseException that is not an error, like KeyboardInterrupt."""


class HandlerBoom(Exception):
    """What a handler whose script ends in ``fail`` raises."""


def quiet_bus(name: str, **options: Any) -> EventBus:
    """A bus with no budgets or slow warnings: only cancellation cuts work off."""
    defaults: dict[str, Any] = {
        "event_timeout": None,
        "event_slow_timeout": None,
        "event_handler_slow_timeout": None,
        "max_history_size": None,
    }
    return EventBus(name, **(defaults | options))


def leaves(exc: BaseException) -> Iterator[BaseException]:
    """The exceptions inside (nested) exception groups."""
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            yield from leaves(inner)
    else:
        yield exc


def is_cancellation(exc: BaseException) -> bool:
    return any(isinstance(leaf, trio.Cancelled) for leaf in leaves(exc))


def statuses(event: BaseEvent[Any]) -> list[tuple[EventResultStatus, type | None]]:
    return [
        (r.status, None if r.error is None else type(r.error))
        for r in event.event_results.values()
    ]


def live_tasks() -> int:
    """How many tasks this ``trio.run`` has right now, system tasks included."""

    def count(task: trio.lowlevel.Task) -> int:
        return 1 + sum(
            count(child)
            for nursery in task.child_nurseries
            for child in nursery.child_tasks
        )

    return count(trio.lowlevel.current_root_task())


# -- awaiting and cancellation -------------------------------------------------


WAYS_TO_WAIT: dict[str, Callable[[Job], Any]] = {
    "await event": lambda event: event,
    "event_completed()": lambda event: event.event_completed(),
    "event_result()": lambda event: event.event_result(),
}


@pytest.mark.parametrize("way", WAYS_TO_WAIT)
async def test_cancelling_an_outside_awaiter_does_not_cancel_the_event(
    autojump_clock: trio.testing.MockClock, way: str
) -> None:
    """The awaiter gives up at 1 s; the event still completes at 5 s with 7."""
    async with quiet_bus("Outside") as bus:

        async def slow(event: Job) -> int:
            await trio.sleep(5)
            return 7

        bus.on(Job, slow)
        event = bus.emit(Job())
        with trio.move_on_after(1) as scope:
            await WAYS_TO_WAIT[way](event)
        assert scope.cancelled_caught
        assert event.event_status is EventStatus.STARTED

        assert await event.event_result() == 7
        assert trio.current_time() == 5
        assert statuses(event) == [(EventResultStatus.COMPLETED, None)]

        # The bus is fine: the next event runs as usual.
        assert await bus.emit(Job()).event_result() == 7
        assert trio.current_time() == 10


@pytest.mark.parametrize("concurrency", ["serial", "parallel"])
async def test_cancelling_a_handler_aborts_the_child_it_runs_inline(
    autojump_clock: trio.testing.MockClock, concurrency: str
) -> None:
    """A queue-jumped child shares the fate of the task that runs it.

    The parent's handler gives up on the child after 1 s. The child's handler
    that had finished keeps its value, the one that was running is aborted,
    and (serial) the one that never started is cancelled. The child is
    completed, the parent goes on, and so does the bus.
    """
    seen: dict[str, object] = {}
    async with quiet_bus("Inline", event_handler_concurrency=concurrency) as bus:

        async def parent(event: Job) -> int:
            if event.node != 0:
                return -1
            child = bus.emit(Job(node=1))
            with trio.move_on_after(1) as scope:
                await child
            seen["caught"] = scope.cancelled_caught
            seen["child"] = child.event_status
            return 0

        async def quick(event: Job) -> int:
            return 10

        async def slow(event: Job) -> int:
            seen.setdefault(f"slow started {event.node}", trio.current_time())
            await trio.sleep(5)
            return 20

        async def slower(event: Job) -> int:
            seen.setdefault(f"slower started {event.node}", trio.current_time())
            await trio.sleep(6)
            return 30

        bus.on(Job, parent)
        bus.on(Job, quick)
        bus.on(Job, slow)
        bus.on(Job, slower)
        root = bus.emit(Job(node=0))
        after = bus.emit(Job(node=2))
        await root.event_completed()
        # Serial: the parent handler's 1 s, then the root's own 5 s and 6 s.
        assert trio.current_time() == (12 if concurrency == "serial" else 6)
        child = root.event_children[0]

        assert seen["caught"] is True
        assert seen["child"] is EventStatus.COMPLETED
        assert child.event_status is EventStatus.COMPLETED
        results = list(child.event_results.values())
        assert results[0].result == -1
        assert results[1].result == 10
        assert isinstance(results[2].error, EventHandlerAbortedError)
        assert results[2].started_at is not None
        if concurrency == "serial":
            assert isinstance(results[3].error, EventHandlerCancelledError)
            assert results[3].started_at is None
            assert "slower started 1" not in seen
        else:
            assert isinstance(results[3].error, EventHandlerAbortedError)
        assert all(r.is_final for r in results)
        assert statuses(root) == [(EventResultStatus.COMPLETED, None)] * 4

        await after.event_completed()
        assert statuses(after) == [(EventResultStatus.COMPLETED, None)] * 4
        assert bus.statistics().queued == bus.statistics().running == 0


async def test_cancelling_an_inline_child_cancels_its_whole_inline_subtree(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Parent gives up at 2 s on child, which awaits grandchild inline."""
    async with quiet_bus("Deep") as bus:

        async def handle(event: Job) -> int:
            if event.node == 0:
                child = bus.emit(Job(node=1))
                with trio.move_on_after(2):
                    await child
                return 0
            if event.node == 1:
                await trio.sleep(1)
                await bus.emit(Job(node=2))
                return 1
            await trio.sleep(5)
            return 2

        def second(event: Job) -> int:
            return 100 + event.node

        bus.on(Job, handle)
        bus.on(Job, second)
        root = await bus.emit(Job(node=0))

    (child,) = root.event_children
    (grandchild,) = child.event_children
    aborted = (EventResultStatus.ERROR, EventHandlerAbortedError)
    cancelled = (EventResultStatus.ERROR, EventHandlerCancelledError)
    assert statuses(grandchild) == [aborted, cancelled]
    assert statuses(child) == [aborted, cancelled]
    assert statuses(root) == [(EventResultStatus.COMPLETED, None)] * 2
    assert [e.event_status for e in (root, child, grandchild)] == [
        EventStatus.COMPLETED
    ] * 3
    assert trio.current_time() == 2


async def test_a_child_whose_inherited_deadline_passed_while_queued_starts_no_handler(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A child queued under a parent's cancel scope that expired never runs.

    The parent's handler awaits C inline inside ``move_on_after(1)``; C's
    handler emits D without awaiting it, so D is queued with what was left
    of that deadline as its cap. D starts after the deadline passed: none of
    its handlers may run; each must be "never started".
    """
    calls: list[str] = []
    async with quiet_bus("Cap") as bus:

        async def on_job(event: Job) -> int:
            if event.node == 0:
                child = bus.emit(Job(node=1))
                with trio.move_on_after(1):
                    await child
                return 0
            if event.node == 1:
                bus.emit(Job(node=2))
                await trio.sleep(5)
                return 1
            calls.append("async handler")
            return 2

        def sync_handler(event: Job) -> int:
            if event.node == 2:
                calls.append("sync handler")
            return 3

        bus.on(Job, on_job)
        bus.on(Job, sync_handler)
        await bus.emit(Job(node=0))
        await bus.wait_until_idle()

    (late,) = [e for e in bus.event_history.values() if e.node == 2]
    assert late.event_status is EventStatus.COMPLETED
    assert calls == []
    cancelled = (EventResultStatus.ERROR, EventHandlerCancelledError)
    assert statuses(late) == [cancelled, cancelled]


# -- BaseExceptions and trio.Cancelled -----------------------------------------


@pytest.mark.parametrize("inline", [False, True])
@pytest.mark.parametrize(
    ("event_mode", "handler_mode"),
    [("bus-serial", "serial"), ("parallel", "parallel")],
)
async def test_a_base_exception_from_a_handler_propagates_and_is_not_stored(
    autojump_clock: trio.testing.MockClock,
    inline: bool,
    event_mode: str,
    handler_mode: str,
) -> None:
    """A KeyboardInterrupt-like exception leaves the bus; results stay errors.

    With ``inline`` it is raised by a child that runs inside its parent's
    handler, and goes up through that parent too. Every other handler was
    still running or had not started: aborted or cancelled, never the
    exception itself.
    """
    halt = Halt("stop everything")
    events: list[Job] = []
    caught: BaseException | None = None
    try:
        async with quiet_bus(
            "Halt", event_concurrency=event_mode, event_handler_concurrency=handler_mode
        ) as bus:

            async def first(event: Job) -> int:
                if inline and event.node == 0:
                    await bus.emit(Job(node=1))
                    return 0
                raise halt

            async def second(event: Job) -> int:
                await trio.sleep(1)
                return 2

            bus.on(Job, first)
            bus.on(Job, second)
            events.append(bus.emit(Job(node=0)))
            events.append(bus.emit(Job(node=5)))
            await bus.wait_until_idle()
    except BaseException as exc:
        caught = exc

    assert caught is not None, "the bus went idle although a handler raised Halt"
    assert halt in list(leaves(caught))
    assert not is_cancellation(caught)
    everything = [*events, *events[0].event_children]
    assert len(everything) == (3 if inline else 2)
    for event in everything:
        assert event.event_status is EventStatus.COMPLETED
        for result in event.event_results.values():
            assert result.is_final
            assert isinstance(
                result.error, EventHandlerAbortedError | EventHandlerCancelledError
            )
    with pytest.raises(BusClosedError):
        bus.emit(Job())


async def test_trio_cancelled_is_never_stored_even_inside_a_group(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A handler's nursery mixes Cancelled with a ValueError: stored as aborted.

    The handler's awaiter (its parent, running it inline) gives up; inside the
    handler one task turns its cancellation into a ValueError, so the handler
    raises a group of Cancelled and ValueError. The result is an aborted
    error, never a Cancelled or a group holding one.
    """
    async with quiet_bus("Group") as bus:

        async def handle(event: Job) -> int:
            if event.node == 0:
                child = bus.emit(Job(node=1, event_handler_concurrency="parallel"))
                with trio.move_on_after(1):
                    await child
                return 0

            async def turns_bad() -> None:
                try:
                    await trio.sleep_forever()
                except trio.Cancelled:
                    raise ValueError("cleanup failed") from None

            async with trio.open_nursery() as nursery:
                nursery.start_soon(turns_bad)
                nursery.start_soon(trio.sleep_forever)
            return 1

        async def swallows(event: Job) -> int:
            if event.node == 0:
                return 0
            try:
                await trio.sleep_forever()
            except trio.Cancelled:
                raise RuntimeError("turned cancellation into an error") from None

        bus.on(Job, handle)
        bus.on(Job, swallows)
        root = await bus.emit(Job(node=0))

    (child,) = root.event_children
    for result in child.event_results.values():
        assert isinstance(result.error, EventHandlerAbortedError)
        assert not is_cancellation(result.error)
    assert statuses(root) == [(EventResultStatus.COMPLETED, None)] * 2


# -- checkpoints ----------------------------------------------------------------


async def test_every_public_async_call_checkpoints_on_its_fast_path() -> None:
    """Awaits on finished things still yield and still see cancellation."""
    async with quiet_bus("Checkpoints") as bus:
        bus.on(Job, lambda event: 1)
        event = await bus.emit(Job())
        (result,) = event.event_results.values()
        calls = {
            "await event": lambda: event,
            "event_completed()": event.event_completed,
            "event_result()": event.event_result,
            "event_results_list()": event.event_results_list,
            "first()": event.first,
            "await result": lambda: result,
            "wait_until_idle()": bus.wait_until_idle,
            "find(past)": lambda: bus.find(Job, past=True, future=False),
            "filter(past)": lambda: bus.filter(Job, past=True),
            "emit_wait()": lambda: bus.emit_wait(Job()),
        }
        for name, call in calls.items():
            await bus.wait_until_idle()
            with trio.testing.assert_checkpoints():
                await call()
            # A checkpoint is also a cancel point: a cancelled caller stops.
            with trio.CancelScope() as scope:
                scope.cancel()
                await call()
                pytest.fail(f"{name} did not raise Cancelled in a cancelled scope")
            assert scope.cancelled_caught, name

    with trio.testing.assert_checkpoints():
        await bus.aclose()  # already closed
    never_started = quiet_bus("Never")
    with trio.testing.assert_checkpoints():
        await never_started.aclose()


async def test_awaits_inside_a_handler_checkpoint_on_their_fast_path() -> None:
    """The same inside a handler: a done child, and ``aclose`` of its own bus."""
    checked: list[str] = []
    async with quiet_bus("InHandler") as bus:

        async def handle(event: Job) -> int:
            if event.node == 0:
                child = await bus.emit(Job(node=1))
                with trio.testing.assert_checkpoints():
                    await child
                with trio.testing.assert_checkpoints():
                    await child.event_completed()
                with trio.testing.assert_checkpoints():
                    await child.event_result()
                with trio.testing.assert_checkpoints():
                    await bus.aclose()  # only asks: the drain waits for us
                checked.append("done")
            return event.node

        bus.on(Job, handle)
        bus.emit(Job(node=0))
    assert checked == ["done"]


# -- cancelling from outside at random points ----------------------------------


@attrs.frozen
class Sleep:
    seconds: int


@attrs.frozen
class Emit:
    child: int
    how: str  # "await", "detach", or "within": await inside move_on_after
    within: float = 0.0


@attrs.frozen
class Script:
    steps: tuple[Sleep | Emit, ...]
    fails: bool


@attrs.frozen
class Node:
    bus: int
    scripts: tuple[Script, ...]


@attrs.frozen
class Program:
    handler_counts: tuple[int, ...]  # per bus
    nodes: tuple[Node, ...]
    roots: tuple[int, ...]

    @property
    def has_inner_scopes(self) -> bool:
        return any(
            isinstance(step, Emit) and step.how == "within"
            for node in self.nodes
            for script in node.scripts
            for step in script.steps
        )


MAX_NODES = 10


@st.composite
def programs(draw: st.DrawFn) -> Program:
    """Trees of events with sleeping handlers and nested awaited children.

    Children go to the parent's bus or a higher one, so waits cannot form a
    cycle. A child awaited inside a handler's own ``move_on_after`` stays on
    the parent's bus, and so do its descendants: what it awaits runs inline,
    inside that scope, and what it does not await is queued with that scope's
    deadline as its cap.
    """
    bus_count = draw(st.integers(1, 2))
    handler_counts = tuple(draw(st.integers(1, 3)) for _ in range(bus_count))
    nodes: list[Node | None] = []

    def make_node(bus: int, depth: int, inline_only: bool) -> int:
        index = len(nodes)
        nodes.append(None)
        scripts = []
        for _ in range(handler_counts[bus]):
            steps: list[Sleep | Emit] = []
            for _ in range(draw(st.integers(0, 3))):
                if depth < 3 and len(nodes) < MAX_NODES and draw(st.booleans()):
                    if inline_only:
                        how = draw(st.sampled_from(("await", "detach", "within")))
                        child_bus = bus
                    else:
                        how = draw(st.sampled_from(("await", "detach", "within")))
                        child_bus = bus
                        if how != "within":
                            child_bus = draw(st.integers(bus, bus_count - 1))
                    within = draw(st.integers(0, 4)) + 0.5
                    child_inline = inline_only or how == "within"
                    child = make_node(child_bus, depth + 1, child_inline)
                    steps.append(Emit(child, how, within))
                else:
                    steps.append(Sleep(draw(st.integers(0, 3))))
            scripts.append(Script(tuple(steps), draw(st.booleans())))
        nodes[index] = Node(bus, tuple(scripts))
        return index

    roots = [
        make_node(draw(st.integers(0, bus_count - 1)), 0, inline_only=False)
        for _ in range(draw(st.integers(1, 3)))
        if len(nodes) < MAX_NODES
    ]
    return Program(
        handler_counts, tuple(n for n in nodes if n is not None), tuple(roots)
    )


@attrs.define
class Record:
    """What the handlers did, as they saw it."""

    started: set[tuple[int, int]] = attrs.field(factory=set)
    ended: set[tuple[int, int]] = attrs.field(factory=set)
    events: dict[int, Job] = attrs.field(factory=dict)
    #: Children a cut-off handler emitted too late; the bus must drop them.
    discarded: dict[int, tuple[int, int]] = attrs.field(factory=dict)
    problems: list[str] = attrs.field(factory=list)


def install_handlers(
    program: Program, buses: list[EventBus], record: Record
) -> list[list[str]]:
    """Register the scripted handlers; return their ids per bus."""

    def make(bus_index: int, handler: int) -> Callable[[Job], Any]:
        async def handle(event: Job) -> int:
            key = (event.node, handler)
            record.started.add(key)
            if event.node < 0:  # a fresh event sent after the cancellation
                record.ended.add(key)
                return handler
            script = program.nodes[event.node].scripts[handler]
            for step in script.steps:
                if isinstance(step, Sleep):
                    await trio.sleep(step.seconds)
                    continue
                target = buses[program.nodes[step.child].bus]
                child = target.emit(Job(node=step.child))
                if not child.event_path:
                    record.discarded[step.child] = key
                    raise RuntimeError("emitted after being cut off")
                record.events[step.child] = child
                cut_off = False
                if step.how == "await":
                    await child
                elif step.how == "within":
                    with trio.move_on_after(step.within) as scope:
                        await child
                    # A child cut off here may still wait for children of
                    # its own that were queued, not run inline.
                    cut_off = scope.cancelled_caught
                done = child.event_status is EventStatus.COMPLETED
                if step.how != "detach" and not cut_off and not done:
                    record.problems.append(f"{key}: awaited child not completed")
            record.ended.add(key)
            if script.fails:
                raise HandlerBoom(f"node {event.node} handler {handler}")
            return event.node * 10 + handler

        handle.__qualname__ = f"handler_b{bus_index}_h{handler}"
        return handle

    return [
        [bus.on(Job, make(index, handler)).id for handler in range(count)]
        for index, (bus, count) in enumerate(
            zip(buses, program.handler_counts, strict=True)
        )
    ]


def check_results(program: Program, record: Record, ids: list[list[str]]) -> None:
    """Every emitted event completed; every result final and true to the run.

    A handler that returned has its value (or its error); one that started
    and was cut off is aborted; one that never started is cancelled. Nothing
    is pending, started, a ``trio.Cancelled`` or any other BaseException.
    """
    assert record.problems == []
    for child, (node, handler) in record.discarded.items():
        assert child not in record.events
        event = record.events[node]
        result = event.event_results[ids[program.nodes[node].bus][handler]]
        assert isinstance(result.error, EventHandlerAbortedError)
    for node, event in record.events.items():
        assert event.event_status is EventStatus.COMPLETED, node
        assert event.event_completed_at is not None
        handler_ids = ids[program.nodes[node].bus] if node >= 0 else ids[0]
        assert list(event.event_results) == handler_ids
        for handler, result_id in enumerate(handler_ids):
            result = event.event_results[result_id]
            key = (node, handler)
            assert result.is_final, (key, result.status)
            assert isinstance(result.error, Exception | None), (key, result.error)
            if key in record.ended:
                fails = node >= 0 and program.nodes[node].scripts[handler].fails
                if fails:
                    assert isinstance(result.error, HandlerBoom), (key, result.error)
                else:
                    assert result.error is None, (key, result.error)
                    assert result.result == (
                        node * 10 + handler if node >= 0 else handler
                    )
            elif key in record.started:
                assert isinstance(result.error, EventHandlerAbortedError), key
                assert result.started_at is not None
            else:
                assert isinstance(result.error, EventHandlerCancelledError), key
                assert result.started_at is None


@asynccontextmanager
async def running(buses: list[EventBus], embedded: bool) -> AsyncIterator[None]:
    """Run the buses with ``async with`` or embedded with ``nursery.start``."""
    if embedded:
        async with trio.open_nursery() as nursery:
            for bus in buses:
                await nursery.start(bus.run)
            yield
            for bus in reversed(buses):
                await bus.aclose()
    else:
        async with AsyncExitStack() as stack:
            for bus in buses:
                await stack.enter_async_context(bus)
            yield


def make_buses(program: Program, event_mode: str, handler_mode: str) -> list[EventBus]:
    return [
        quiet_bus(
            f"B{index}",
            event_concurrency=event_mode,
            event_handler_concurrency=handler_mode,
        )
        for index in range(len(program.handler_counts))
    ]


def run_trio(program: Callable[[], Any]) -> None:
    trio.run(program, clock=trio.testing.MockClock(autojump_threshold=0))


EVENT_MODES = st.sampled_from(("bus-serial", "global-serial", "parallel"))
HANDLER_MODES = st.sampled_from(("serial", "parallel"))
CANCEL_AT = st.integers(0, 14).map(lambda n: n + 0.5)  # never on a sleep's end


@settings(max_examples=100)
@given(
    program=programs(),
    event_mode=EVENT_MODES,
    handler_mode=HANDLER_MODES,
    cancel_at=CANCEL_AT,
    embedded=st.booleans(),
)
def test_cancelling_the_scope_around_the_bus_ends_everything_cleanly(
    program: Program,
    event_mode: str,
    handler_mode: str,
    cancel_at: float,
    embedded: bool,
) -> None:
    """Cancelled at a random time, the buses close and leave nothing half done.

    No task is left over, nothing is queued or running, every emitted event
    completed, every result is final and true to what its handler did, and
    the closed buses refuse new events.
    """

    async def main() -> None:
        record = Record()
        buses = make_buses(program, event_mode, handler_mode)
        ids = install_handlers(program, buses, record)
        before = live_tasks()

        with trio.move_on_after(cancel_at):
            async with running(buses, embedded):
                for root in program.roots:
                    bus = buses[program.nodes[root].bus]
                    record.events[root] = bus.emit(Job(node=root))
                for event in list(record.events.values()):
                    await event.event_completed()
                for bus in buses:
                    await bus.wait_until_idle()

        assert live_tasks() == before
        for bus in buses:
            stats = bus.statistics()
            assert (stats.queued, stats.running) == (0, 0)
            with pytest.raises(BusClosedError):
                bus.emit(Job(node=-1))
        check_results(program, record, ids)
        # No awaiter can hang: every event signals completion at once.
        for event in record.events.values():
            with trio.testing.assert_checkpoints():
                await event.event_completed()

    run_trio(main)


@settings(max_examples=100)
@given(
    program=programs(),
    event_mode=EVENT_MODES,
    handler_mode=HANDLER_MODES,
    cancel_at=CANCEL_AT,
)
def test_cancelling_an_awaiter_at_a_random_time_leaves_the_bus_working(
    program: Program, event_mode: str, handler_mode: str, cancel_at: float
) -> None:
    """The test body stops awaiting at a random time; the work goes on.

    Only the handlers' own ``move_on_after`` scopes cut anything off; every
    event completes, the bus takes and processes a new event afterwards, and
    closes cleanly.
    """

    async def main() -> None:
        record = Record()
        buses = make_buses(program, event_mode, handler_mode)
        ids = install_handlers(program, buses, record)
        async with running(buses, embedded=False):
            roots = []
            for root in program.roots:
                bus = buses[program.nodes[root].bus]
                roots.append(bus.emit(Job(node=root)))
                record.events[root] = roots[-1]
            with trio.move_on_after(cancel_at):
                for event in roots:
                    await event
            for event in roots:
                await event.event_completed()
            for bus in buses:
                await bus.wait_until_idle()
            for bus in buses:
                stats = bus.statistics()
                assert (stats.queued, stats.running) == (0, 0)
            check_results(program, record, ids)
            if not program.has_inner_scopes:
                every = {
                    (node, handler)
                    for node, event in record.events.items()
                    for handler in range(len(event.event_results))
                }
                assert record.ended == every

            fresh = buses[0].emit(Job(node=-1))
            record.events[-1] = fresh
            assert await fresh.event_results_list() == list(
                range(program.handler_counts[0])
            )
        check_results(program, record, ids)
        for bus in buses:
            with pytest.raises(BusClosedError):
                bus.emit(Job(node=-1))

    run_trio(main)


def test_programs_cover_inner_scopes() -> None:
    """The generator can produce the shapes the property tests rely on."""
    seen: set[str] = set()

    @settings(max_examples=200)
    @given(program=programs())
    def collect(program: Program) -> None:
        for node in program.nodes:
            for script in node.scripts:
                for step in script.steps:
                    if isinstance(step, Emit):
                        seen.add(step.how)
        if len(program.handler_counts) > 1:
            seen.add("two buses")

    collect()
    assert seen == {"await", "detach", "within", "two buses"}
