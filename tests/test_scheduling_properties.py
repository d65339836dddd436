"""Property-based tests of the scheduling rules (sections 4, 5, 7 and 8).

Hypothesis generates small programs: root events emitted from outside onto
one to three buses, and for every event a script per handler that sleeps,
emits children (awaited on the immediate path, awaited in queue order, awaited
later, or not awaited at all), fails or returns a value. Each program runs
under virtual time and records a trace of every handler call; the checks then
hold the trace against the scheduling invariants.

Which bus a child may go to follows lock ordering, so that no program can
build a wait cycle, which would hang under any correct scheduler: a handler
may wait for an event on a bus its task already holds (the event then runs
inline, in that task), or on a bus above every bus that it, or any ancestor
waiting on it, may hold. Since a handler that waits for an event on another
bus lends that event its slots, "held" includes lent slots, so programs also
await children on lower buses through a lender. Children that nobody awaits
may go to any bus the handler holds: whoever waits on their parent runs them
in its slot.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from collections.abc import Iterator
from contextlib import AsyncExitStack
from typing import Any

import attrs
import pytest
import trio
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st

from triobus import BaseEvent, EventBus, EventResultStatus, EventStatus

EVENT_MODES = ("bus-serial", "global-serial", "parallel")
HANDLER_MODES = ("serial", "parallel")
PATTERNS = ("class", "string", "*")
HOWS = ("await", "completed", "later", "detach")

MAX_NODES = 10
MAX_DEPTH = 3
#: Virtual seconds after which a program counts as hung.
WATCHDOG = 100_000


class Job(BaseEvent[int]):
    """One node of a generated program; handlers look their script up by it."""

    node: int


class HandlerBoom(Exception):
    """What a handler whose script ends in ``fail`` raises."""


# -- programs -----------------------------------------------------------------


@attrs.frozen
class Sleep:
    seconds: int


@attrs.frozen
class Emit:
    child: int
    how: str


@attrs.frozen
class Script:
    steps: tuple[Sleep | Emit, ...]
    ending: str  # "value", "none" or "fail"


@attrs.frozen
class Node:
    bus: int
    scripts: tuple[Script, ...]  # one per handler registered on the bus
    handler_concurrency: str | None  # the event's own option, None inherits
    #: Under bus-serial: buses whose slot this event's handlers surely hold,
    #: and buses whose slot they may hold (own, inline host's, or lent).
    surely_held: frozenset[int]
    maybe_held: frozenset[int]


@attrs.frozen
class Program:
    patterns: tuple[tuple[str, ...], ...]  # per bus, the handlers' patterns
    nodes: tuple[Node, ...]
    roots: tuple[tuple[int, int], ...]  # (node, virtual delay before emit)

    def parent_of(self) -> dict[int, int]:
        parents: dict[int, int] = {}
        for index, node in enumerate(self.nodes):
            for script in node.scripts:
                for step in script.steps:
                    if isinstance(step, Emit):
                        parents[step.child] = index
        return parents


@st.composite
def programs(draw: st.DrawFn) -> Program:
    """Random programs of events, handlers and scripts (see the module doc)."""
    bus_count = draw(st.sampled_from((1, 2, 3, 3)))
    patterns = tuple(
        tuple(draw(st.lists(st.sampled_from(PATTERNS), min_size=1, max_size=3)))
        for _ in range(bus_count)
    )
    nodes: list[Node | None] = []

    def make_node(
        bus: int,
        depth: int,
        surely: frozenset[int],
        maybe: frozenset[int],
        reserved: frozenset[int],
        lent: frozenset[int],
    ) -> int:
        index = len(nodes)
        nodes.append(None)
        # A bus this event does not hold may only be waited for if it lies
        # above every bus that the event, or an ancestor that may be waiting
        # for it, may hold.
        above = max(maybe | reserved) + 1
        targets = {j: list(HOWS) for j in sorted(surely)}
        targets.update({j: [*HOWS, "await"] for j in range(above, bus_count)})
        scripts = []
        for _ in patterns[bus]:
            steps: list[Sleep | Emit] = []
            for _ in range(draw(st.integers(0, 3))):
                can_emit = depth < MAX_DEPTH and len(nodes) < MAX_NODES
                if can_emit and draw(st.booleans()):
                    j = draw(st.sampled_from(sorted(targets)))
                    how = draw(st.sampled_from(targets[j]))
                    if j in surely and how != "detach":
                        # Runs inline in this handler's task: same slots.
                        held = (surely, maybe)
                        child_lent = lent
                    elif how == "await":
                        # Awaited at once from another bus: lent our slots.
                        held = (surely | {j}, maybe | {j})
                        child_lent = lent | maybe
                    else:
                        # May be lent our slots if still queued when awaited.
                        held = (frozenset({j}), maybe | {j})
                        child_lent = lent | maybe
                    made = make_node(j, depth + 1, *held, reserved | maybe, child_lent)
                    steps.append(Emit(made, how))
                else:
                    steps.append(Sleep(draw(st.integers(0, 3))))
            ending = draw(st.sampled_from(("value", "none", "fail")))
            scripts.append(Script(tuple(steps), ending))
        concurrency = draw(st.sampled_from((None, None, "serial", "parallel")))
        nodes[index] = Node(bus, tuple(scripts), concurrency, surely, maybe)
        return index

    roots = []
    for _ in range(draw(st.integers(1, 4))):
        if len(nodes) >= MAX_NODES:
            break
        bus = draw(st.integers(0, bus_count - 1))
        only = frozenset({bus})
        root = make_node(bus, 0, only, only, frozenset(), frozenset())
        roots.append((root, draw(st.sampled_from((0, 0, 1, 2)))))
    return Program(patterns, tuple(n for n in nodes if n is not None), tuple(roots))


def expected_value(node: int, handler: int) -> int:
    return node * 10 + handler


# -- running and recording ----------------------------------------------------


@attrs.define(eq=False)
class HandlerRun:
    """One handler call: where it ran and when (sequence numbers, not time)."""

    node: int
    bus: int
    handler: int
    task: trio.lowlevel.Task
    start: int
    end: int = -1


@attrs.define(eq=False)
class Completion:
    """What a watcher saw when an event signalled completion."""

    seq: int
    status: EventStatus
    completed_at: object
    open_children: list[int]
    open_results: list[str]


@attrs.define(eq=False)
class AwaitWindow:
    """A handler blocked in ``await child`` (immediate path) from start to end."""

    run: HandlerRun
    awaited: int
    start: int
    end: int = -1


@attrs.define
class Trace:
    seq: Iterator[int] = attrs.field(factory=itertools.count)
    runs: list[HandlerRun] = attrs.field(factory=list)
    windows: list[AwaitWindow] = attrs.field(factory=list)
    events: dict[int, Job] = attrs.field(factory=dict)
    emit_seq: dict[int, int] = attrs.field(factory=dict)
    emit_count: dict[int, int] = attrs.field(factory=lambda: defaultdict(int))
    #: Nodes awaited on the immediate path, which may legally jump the queue.
    jumped: set[int] = attrs.field(factory=set)
    completions: dict[int, list[Completion]] = attrs.field(
        factory=lambda: defaultdict(list)
    )
    #: Violations seen while the program ran, e.g. an awaited child not done.
    problems: list[str] = attrs.field(factory=list)
    handler_ids: list[list[str]] = attrs.field(factory=list)
    statistics: list[Any] = attrs.field(factory=list)
    hung: bool = False


def queue_order_is_legal(event_mode: str, node: Node, child: Node) -> bool:
    """Whether ``await child.event_completed()`` can finish inside the handler.

    Under ``bus-serial`` it cannot when the handler holds the child's bus:
    the bus then raises instead of hanging. The generator only picks buses
    the handler surely holds or surely does not. Under ``global-serial`` the
    handler holds the one lock every child needs; under ``parallel`` nothing
    is held.
    """
    if event_mode == "parallel":
        return True
    if event_mode == "global-serial":
        return False
    return child.bus not in node.surely_held


async def run_program(program: Program, event_mode: str, handler_mode: str) -> Trace:
    """Run ``program`` on fresh buses and return what happened."""
    trace = Trace()
    send, receive = trio.open_memory_channel[Job](math.inf)

    async def watch(event: Job) -> None:
        await event.event_completed()
        trace.completions[event.node].append(
            Completion(
                seq=next(trace.seq),
                status=event.event_status,
                completed_at=event.event_completed_at,
                open_children=[
                    c.node
                    for c in event.event_children
                    if isinstance(c, Job)
                    and c.event_status is not EventStatus.COMPLETED
                ],
                open_results=[
                    r.handler_name
                    for r in event.event_results.values()
                    if not r.is_final
                ],
            )
        )

    async def spawn_watchers(nursery: trio.Nursery) -> None:
        # Watchers start from the test's context, not from inside a handler,
        # so they wait like any outside observer.
        async for event in receive:
            nursery.start_soon(watch, event)

    def emitted(event: Job) -> Job:
        trace.events[event.node] = event
        trace.emit_seq[event.node] = next(trace.seq)
        trace.emit_count[event.node] += 1
        send.send_nowait(event)
        return event

    buses = [
        EventBus(
            f"B{index}",
            event_concurrency=event_mode,
            event_handler_concurrency=handler_mode,
            event_timeout=None,
            event_slow_timeout=None,
            event_handler_slow_timeout=None,
            max_history_size=None,
        )
        for index in range(len(program.patterns))
    ]

    async def await_now(run: HandlerRun, child: Job) -> None:
        trace.jumped.add(child.node)
        window = AwaitWindow(run, child.node, next(trace.seq))
        trace.windows.append(window)
        await child
        window.end = next(trace.seq)

    async def check_awaited(parent: int, child: Job, how: str) -> None:
        if child.event_status is not EventStatus.COMPLETED:
            trace.problems.append(
                f"node {parent}: child {child.node} awaited ({how}) but"
                f" {child.event_status}"
            )
        for result in child.event_results.values():
            if not result.is_final:
                trace.problems.append(
                    f"node {parent}: child {child.node} awaited ({how}) with"
                    f" result {result.handler_name} still {result.status}"
                )
        await trio.lowlevel.checkpoint()

    def make_handler(bus: int, handler: int) -> Any:
        async def handle(event: Job) -> int | None:
            node = program.nodes[event.node]
            script = node.scripts[handler]
            run = HandlerRun(
                event.node, bus, handler, trio.lowlevel.current_task(), next(trace.seq)
            )
            trace.runs.append(run)
            later: list[Job] = []
            try:
                for step in script.steps:
                    if isinstance(step, Sleep):
                        await trio.sleep(step.seconds)
                        continue
                    child_node = program.nodes[step.child]
                    child = emitted(
                        buses[child_node.bus].emit(
                            Job(
                                node=step.child,
                                event_handler_concurrency=child_node.handler_concurrency,
                            )
                        )
                    )
                    if step.how == "await":
                        await await_now(run, child)
                        await check_awaited(event.node, child, step.how)
                    elif step.how == "completed":
                        if queue_order_is_legal(event_mode, node, child_node):
                            await child.event_completed()
                        else:
                            # The bus sees the cycle and says so instead of
                            # hanging; the handler then takes the other path.
                            try:
                                await child.event_completed()
                            except RuntimeError:
                                pass
                            else:
                                trace.problems.append(
                                    f"node {event.node}: queue-order wait for"
                                    f" child {child.node} did not raise"
                                )
                            await await_now(run, child)
                        await check_awaited(event.node, child, step.how)
                    elif step.how == "later":
                        trace.jumped.add(child.node)
                        later.append(child)
                for child in later:
                    await await_now(run, child)
                    await check_awaited(event.node, child, "later")
                if script.ending == "fail":
                    raise HandlerBoom(f"node {event.node} handler {handler}")
                if script.ending == "value":
                    return expected_value(event.node, handler)
                return None
            finally:
                run.end = next(trace.seq)

        handle.__qualname__ = f"handler_b{bus}_h{handler}"
        return handle

    for index, bus in enumerate(buses):
        ids = []
        for handler, pattern in enumerate(program.patterns[index]):
            key: type[Job] | str = {"class": Job, "string": "Job", "*": "*"}[pattern]
            ids.append(bus.on(key, make_handler(index, handler)).id)
        trace.handler_ids.append(ids)

    async with trio.open_nursery() as nursery:

        async def watchdog() -> None:
            await trio.sleep(WATCHDOG)
            trace.hung = True
            nursery.cancel_scope.cancel()

        nursery.start_soon(watchdog)
        nursery.start_soon(spawn_watchers, nursery)
        async with AsyncExitStack() as stack:
            for bus in buses:
                await stack.enter_async_context(bus)
            roots = []
            for node, delay in program.roots:
                await trio.sleep(delay)
                event = Job(
                    node=node,
                    event_handler_concurrency=program.nodes[node].handler_concurrency,
                )
                roots.append(emitted(buses[program.nodes[node].bus].emit(event)))
            # Waiting in queue order keeps the roots in their places, so the
            # FIFO check below sees the bus's own order.
            for root in roots:
                await root.event_completed()
            for _ in range(2):
                for bus in buses:
                    await bus.wait_until_idle()
            trace.statistics = [bus.statistics() for bus in buses]
        send.close()
        await trio.testing.wait_all_tasks_blocked()
        nursery.cancel_scope.cancel()
    return trace


def run(program: Program, event_mode: str, handler_mode: str) -> Trace:
    clock = trio.testing.MockClock(autojump_threshold=0)
    trace: Trace = trio.run(run_program, program, event_mode, handler_mode, clock=clock)
    return trace


# -- checking -----------------------------------------------------------------


def host_of(
    run: HandlerRun, by_task: dict[trio.lowlevel.Task, list[HandlerRun]]
) -> HandlerRun | None:
    """The handler call that ``run``'s event was processed inside, if any.

    A queue-jumped event is processed in the awaiting handler's task (or, for
    parallel handlers, in tasks of a nursery opened there), during that
    handler's call. Walking up the task tree finds it.
    """
    task: trio.lowlevel.Task | None = run.task
    while task is not None:
        hosts = [
            other
            for other in by_task.get(task, ())
            if other.node != run.node and other.start < run.start < run.end < other.end
        ]
        if hosts:
            return max(hosts, key=lambda other: other.start)
        nursery = task.parent_nursery
        task = nursery.parent_task if nursery is not None else None
    return None


def check_trace(
    program: Program, event_mode: str, handler_mode: str, trace: Trace
) -> None:
    """Hold a trace against every invariant; fail naming the first broken one."""
    assert not trace.hung, "the program hung (no progress within the watchdog)"
    assert trace.problems == []
    node_count = len(program.nodes)
    parents = program.parent_of()

    # (d) every event was emitted once and completed exactly once, for good.
    assert sorted(trace.events) == list(range(node_count))
    assert all(trace.emit_count[n] == 1 for n in range(node_count))
    for node, event in trace.events.items():
        seen = trace.completions[node]
        assert len(seen) == 1, f"node {node} signalled completion {len(seen)} times"
        (completion,) = seen
        assert completion.status is EventStatus.COMPLETED
        assert completion.completed_at is not None
        assert event.event_status is EventStatus.COMPLETED
        assert event.event_completed_at == completion.completed_at
        # (h) a parent completes only after all its children.
        assert completion.open_children == [], f"node {node} completed too early"
        children = sorted(c.node for c in event.event_children if isinstance(c, Job))
        assert children == sorted(c for c, p in parents.items() if p == node)
        assert all(c.event_parent_id == event.event_id for c in event.event_children)
        # Every result is final, and was already when the event completed.
        assert completion.open_results == []
        for result in event.event_results.values():
            assert result.status in (
                EventResultStatus.COMPLETED,
                EventResultStatus.ERROR,
            )
            assert result.started_at is not None
            assert result.completed_at is not None

    runs_of: dict[int, list[HandlerRun]] = defaultdict(list)
    by_task: dict[trio.lowlevel.Task, list[HandlerRun]] = defaultdict(list)
    for handler_run in trace.runs:
        runs_of[handler_run.node].append(handler_run)
        by_task[handler_run.task].append(handler_run)

    for node_index, node in enumerate(program.nodes):
        event = trace.events[node_index]
        runs = runs_of[node_index]
        ids = trace.handler_ids[node.bus]
        # Every handler ran exactly once, and ended.
        assert sorted(r.handler for r in runs) == list(range(len(ids)))
        assert all(r.end > r.start for r in runs)
        # (e) results are in registration order, typed and "*" alike.
        assert list(event.event_results) == ids
        # (f) failures are errors; they stop no other handler.
        for handler, (result_id, script) in enumerate(
            zip(ids, node.scripts, strict=True)
        ):
            result = event.event_results[result_id]
            if script.ending == "fail":
                assert result.status is EventResultStatus.ERROR
                assert isinstance(result.error, HandlerBoom)
                assert str(result.error) == f"node {node_index} handler {handler}"
            else:
                assert result.status is EventResultStatus.COMPLETED, result.error
                expected = expected_value(node_index, handler)
                assert result.result == (expected if script.ending == "value" else None)
        # (g) serial handlers of one event run one after another, in order.
        concurrency = node.handler_concurrency or handler_mode
        if concurrency == "serial":
            ordered = sorted(runs, key=lambda r: r.start)
            assert [r.handler for r in ordered] == list(range(len(ids)))
            for before, after in itertools.pairwise(ordered):
                assert before.end < after.start, f"node {node_index} handlers overlap"

    for index, stats in enumerate(trace.statistics):
        on_bus = sum(1 for n in program.nodes if n.bus == index)
        assert (stats.queued, stats.running, stats.completed) == (0, 0, on_bus)

    if event_mode == "parallel":
        return

    interval = {
        n: (min(r.start for r in runs), max(r.end for r in runs), n)
        for n, runs in runs_of.items()
    }
    # Which handler call each event ran under: the one it was processed
    # inline in (queue-jump), else the one that lent it its slots by awaiting
    # it (or an ancestor) while it ran; None for an event that took a slot
    # of its own.
    hosts: dict[int, HandlerRun | None] = {}
    for node_index, runs in runs_of.items():
        found = {host_of(r, by_task) for r in runs}
        assert len(found) == 1, f"node {node_index} ran inside several calls: {found}"
        inline = found.pop()
        if inline is not None:
            # Only an awaited event (or a descendant of one) runs inline, and
            # under bus-serial only on a bus whose slot the host holds.
            assert any(
                a in trace.jumped for a in ancestors_or_self(node_index, parents)
            ), f"node {node_index} ran inside node {inline.node} without being awaited"
            if event_mode == "bus-serial":
                host_node = program.nodes[inline.node]
                assert program.nodes[node_index].bus in host_node.maybe_held
        hosts[node_index] = (
            inline
            if inline is not None
            else lender_of(node_index, interval[node_index], trace.windows, parents)
        )

    def host_chain(node_index: int) -> list[HandlerRun]:
        chain = []
        host = hosts[node_index]
        while host is not None:
            chain.append(host)
            host = hosts[host.node]
        return chain

    # (a) Two events on one serial bus (on any bus under global-serial) run
    # at the same time only inside one slot: one within the other, or each
    # inside a different one of the parallel handler calls of a common host.
    # One handler call, awaiting, runs one thing at a time in its slots.
    for first, second in itertools.combinations(range(node_count), 2):
        same_slot = event_mode == "global-serial" or (
            program.nodes[first].bus == program.nodes[second].bus
        )
        (start_1, end_1, _), (start_2, end_2, _) = interval[first], interval[second]
        if not same_slot or end_1 < start_2 or end_2 < start_1:
            continue
        chain_1, chain_2 = host_chain(first), host_chain(second)
        if first in {r.node for r in chain_2} or second in {r.node for r in chain_1}:
            continue
        shared = [(a, b) for a in chain_1 for b in chain_2 if a.node == b.node]
        assert shared, f"nodes {first} and {second} overlap in different slots"
        call_1, call_2 = shared[0]
        assert call_1 is not call_2, (
            f"nodes {first} and {second} overlap inside one call of node"
            f" {call_1.node}'s handler {call_1.handler}"
        )

    def holds_own_slot(node_index: int) -> bool:
        bus = program.nodes[node_index].bus
        return not any(
            event_mode == "global-serial" or program.nodes[host.node].bus == bus
            for host in host_chain(node_index)
        )

    slot_holders = [n for n in range(node_count) if holds_own_slot(n)]
    for bus in range(len(program.patterns)):
        on_bus = [n for n in slot_holders if program.nodes[n].bus == bus]

        # (b) FIFO per bus, apart from awaited events and what they carry.
        in_place = [
            n
            for n in on_bus
            if not any(a in trace.jumped for a in ancestors_or_self(n, parents))
        ]
        by_emit = sorted(in_place, key=lambda n: trace.emit_seq[n])
        by_start = sorted(in_place, key=lambda n: interval[n][0])
        assert by_start == by_emit, f"bus {bus} broke FIFO"


def lender_of(
    node: int,
    span: tuple[int, int, int],
    windows: list[AwaitWindow],
    parents: dict[int, int],
) -> HandlerRun | None:
    """The handler call that awaited ``node`` (or an ancestor) throughout it."""
    lineage = set(ancestors_or_self(node, parents))
    lenders = [
        w
        for w in windows
        if w.awaited in lineage and w.start < span[0] and span[1] < w.end
    ]
    if not lenders:
        return None
    return max(lenders, key=lambda w: w.start).run


def ancestors_or_self(node: int, parents: dict[int, int]) -> Iterator[int]:
    current: int | None = node
    while current is not None:
        yield current
        current = parents.get(current)


# -- the tests ----------------------------------------------------------------


@pytest.mark.parametrize("handler_mode", HANDLER_MODES)
@pytest.mark.parametrize("event_mode", EVENT_MODES)
@settings(max_examples=60)
@given(program=programs())
def test_random_programs_keep_every_scheduling_invariant(
    event_mode: str, handler_mode: str, program: Program
) -> None:
    """No overlap, FIFO, awaited children done, one completion, ordered results.

    See :func:`check_trace` for the list; it is the same for every mode,
    with the overlap and FIFO checks skipped under ``parallel``.
    """
    trace = run(program, event_mode, handler_mode)
    check_trace(program, event_mode, handler_mode, trace)


@pytest.mark.parametrize("depth", [1, 2, 3])
async def test_queue_jump_runs_the_awaited_child_without_overshooting_the_queue(
    autojump_clock: trio.testing.MockClock, depth: int
) -> None:
    """E1 awaits child C (which awaits its own child...): C runs, E2 waits for E1.

    E2 is queued behind E1 before E1 starts, and E1 also emits a child X that
    it does not await before it awaits C. The queue-jump runs the awaited
    chain inside E1's handler; nothing queued runs early, and X keeps its
    place behind E2.
    """
    trace: list[str] = []
    async with EventBus("Jump", event_timeout=None) as bus:

        async def handle(event: Job) -> int:
            trace.append(f"start {event.node}")
            await trio.sleep(1)
            if event.node == 100:
                bus.emit(Job(node=300))
            if 0 < event.node < depth or event.node == 100:
                child = bus.emit(Job(node=1 if event.node == 100 else event.node + 1))
                await child
                trace.append(f"awaited {child.node} {child.event_status}")
            trace.append(f"end {event.node}")
            return event.node

        bus.on(Job, handle)
        first = bus.emit(Job(node=100))
        second = bus.emit(Job(node=200))
        with trio.fail_after(60):  # a hang fails here, in virtual time
            await second.event_completed()
            await bus.wait_until_idle()

    expected = ["start 100", *(f"start {n}" for n in range(1, depth + 1))]
    for n in range(depth, 0, -1):
        expected += [f"end {n}", f"awaited {n} completed"]
    expected += ["end 100", "start 200", "end 200", "start 300", "end 300"]
    assert trace == expected
    assert first.event_status is EventStatus.COMPLETED
    # Every step took one virtual second, strictly one after another.
    assert trio.current_time() == depth + 3


async def test_queue_jump_under_global_serial_holds_back_other_buses_too(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Under global-serial the awaited child jumps the lock; no other bus starts."""
    trace: list[str] = []
    async with (
        EventBus("G1", event_concurrency="global-serial", event_timeout=None) as one,
        EventBus("G2", event_concurrency="global-serial", event_timeout=None) as two,
    ):

        async def handle(event: Job) -> None:
            trace.append(f"start {event.node}")
            if event.node == 1:
                # The child goes to the other bus, whose loop waits for the
                # lock that this handler holds: it must run inline here.
                await two.emit(Job(node=2))
            await trio.sleep(1)
            trace.append(f"end {event.node}")

        one.on(Job, handle)
        two.on(Job, handle)
        one.emit(Job(node=1))
        # Event 1 holds the lock (its child is running) before 3 is emitted.
        await trio.testing.wait_all_tasks_blocked()
        last = two.emit(Job(node=3))
        with trio.fail_after(60):
            await last.event_completed()

    assert trace == ["start 1", "start 2", "end 2", "end 1", "start 3", "end 3"]
    assert trio.current_time() == 3


async def test_awaiting_a_child_on_another_bus_runs_its_later_descendants_on_held_buses(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """P on A awaits C on B; C emits D onto A without awaiting it.

    C completes only after D (an event is a nursery of its children), and D
    is queued on A, whose slot P holds while it waits. The awaited event is
    "processed at once on every bus whose slot that handler holds" and its
    descendants are part of it, so D must run in P's slot instead of waiting
    behind P forever.
    """
    trace: list[str] = []
    async with (
        EventBus("A", event_timeout=None) as bus_a,
        EventBus("B", event_timeout=None) as bus_b,
    ):

        async def on_a(event: Job) -> None:
            if event.node == 0:
                child = bus_b.emit(Job(node=1))
                await child
                trace.append(f"P saw C {child.event_status}")
            else:
                trace.append("D ran")

        async def on_b(event: Job) -> None:
            await trio.sleep(1)  # P is parked waiting for C by now
            bus_a.emit(Job(node=2))
            trace.append("C emitted D")

        bus_a.on(Job, on_a)
        bus_b.on(Job, on_b)
        parent = bus_a.emit(Job(node=0))
        with trio.move_on_after(100):
            await parent.event_completed()

    assert trace == ["C emitted D", "D ran", "P saw C completed"]


@pytest.mark.parametrize("second_user", ["lender", "other borrower"])
async def test_a_lent_slot_is_used_by_one_task_at_a_time(
    autojump_clock: trio.testing.MockClock, second_user: str
) -> None:
    """P on bus A awaits C on bus B; what then runs on A runs one at a time.

    C awaits E on A, which it may (P lent it A's slot). Before that, C emitted
    D without awaiting it: onto A ("lender": P itself then processes D), or
    onto a third bus whose handler awaits F on A ("other borrower": D is lent
    P's slots too). Either way, two events hold A's one bus-serial slot at
    once unless the lender stays off its slots while its loan runs, and
    lends them to one run at a time.
    """
    spans: dict[str, tuple[float, float]] = {}
    async with AsyncExitStack() as stack:
        bus_a, bus_b, bus_c = [
            await stack.enter_async_context(EventBus(name, event_timeout=None))
            for name in ("A", "B", "C")
        ]

        async def on_a(event: Job) -> None:
            if event.node == 0:
                await bus_b.emit(Job(node=1))
                return
            start = trio.current_time()
            await trio.sleep(2)
            spans[f"node {event.node}"] = (start, trio.current_time())

        async def on_b(event: Job) -> None:
            if second_user == "lender":
                bus_a.emit(Job(node=3))
            else:
                bus_c.emit(Job(node=4))
            await trio.lowlevel.checkpoint()
            await bus_a.emit(Job(node=2))

        async def on_c(event: Job) -> None:
            await bus_a.emit(Job(node=5))

        bus_a.on(Job, on_a)
        bus_b.on(Job, on_b)
        bus_c.on(Job, on_c)
        parent = bus_a.emit(Job(node=0))
        with trio.fail_after(60):
            await parent.event_completed()

    earlier, later = sorted(spans.values())
    assert earlier[1] <= later[0], f"overlap on bus A: {spans}"
