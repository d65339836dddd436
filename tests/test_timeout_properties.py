"""Property-based tests of budgets and cut-offs (SPEC.md section 6).

Hypothesis generates forests of events: one or two root events, each with
children (at most three per event, at most three levels in all). Every event
has its own ``event_type``, so its own handler list: one to four handlers,
run serially or in parallel, some with a registration ``handler_timeout``.
Every event draws an ``event_timeout`` (None inherits the bus's default, 0
disables) and sometimes an ``event_handler_timeout``; the bus draws its
default ``event_timeout`` the same way. A handler sleeps a virtual duration,
then emits its children in order, awaiting some (queue-jump) and leaving the
others queued.

Each forest runs on one bus under ``MockClock`` with autojump. Handlers
record the virtual times at which they started, finished sleeping, returned
and exited; watcher tasks record when every event completed. The checks then
compute each handler's effective deadline from the forest and those times
alone, never from the library's state:

- handler budget: the registration's ``handler_timeout``, else the event's
  ``event_handler_timeout``, else none; the handler's own deadline is its
  start time plus that budget;
- event deadline: the moment the event's processing started plus its budget
  (its ``event_timeout``, else the bus's; 0 or None is none), capped by the
  effective deadline of the handler that emitted it (a queue-jumped child
  runs inside that handler's scopes; a queued child inherits the deadline as
  a cap);
- effective deadline: the smaller of the two.

A handler that would have run past its effective deadline must end exactly
at it, with ``EventHandlerTimeoutError`` when its own budget ended strictly
before the event deadline (only then does it get a scope of its own) and
``EventHandlerAbortedError`` otherwise. A handler that completed must have
done all its work before that deadline. A handler that never started must be
``EventHandlerCancelledError``, and only where the event deadline had passed
before its turn came. Examples where a sleep ends exactly on a deadline, or
two deadlines that would give different errors meet, are rejected: the spec
does not order equal instants.

One case the property accepts either way, and the last test pins to the
spec: an event whose deadline had passed before its processing began (a
queued child whose cap ran out while it waited). The spec says its handlers
never start; the library calls them and aborts them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Coroutine
from typing import Any

import attrs
import pytest
import trio
import trio.lowlevel
import trio.testing
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from triobus import (
    BaseEvent,
    EventBus,
    EventHandlerAbortedError,
    EventHandlerCancelledError,
    EventHandlerTimeoutError,
    EventResult,
    EventResultStatus,
    EventStatus,
)

#: Levels of a tree: a root, its children and its grandchildren.
MAX_LEVELS = 3
MAX_CHILDREN = 3
MAX_NODES = 12
#: Virtual seconds after which a forest counts as hung: every forest ends far
#: sooner, as no budget or sleep is longer than ten seconds.
WATCHDOG = 10_000

#: Budgets sit a quarter second off the half-second grid that sleeps use, so
#: a handler's sleep rarely ends exactly on a deadline. Ties can still arise
#: once a cut-off has moved a later start off the grid; the checks reject
#: those examples with ``assume`` (see ``Checker.avoid_tie``).
BUDGETS = tuple(k / 2 + 0.25 for k in range(1, 20))  # 0.75 .. 9.75
SLEEPS = st.integers(0, 20).map(lambda k: k / 2)  # 0 .. 10 in steps of 0.5

Key = tuple[int, int]  # (node, handler index)


class Node(BaseEvent[str]):
    """One generated event; its ``event_type`` names its node."""


# -- forests ------------------------------------------------------------------


@attrs.frozen
class HandlerSpec:
    sleep: float
    handler_timeout: float | None
    #: The children this handler emits after sleeping: (node, awaited).
    children: tuple[tuple[int, bool], ...]


@attrs.frozen
class NodeSpec:
    event_timeout: float | None
    event_handler_timeout: float | None
    concurrency: str
    handlers: tuple[HandlerSpec, ...]
    #: The handler that emits this node, None for a root.
    parent: Key | None


@attrs.frozen
class Forest:
    bus_timeout: float | None
    #: Parents come before their children.
    nodes: tuple[NodeSpec, ...]
    roots: tuple[int, ...]


def event_timeouts() -> st.SearchStrategy[float | None]:
    """An ``event_timeout``: None inherits, 0 disables, else a budget."""
    return st.one_of(st.none(), st.just(0.0), st.sampled_from(BUDGETS))


def handler_timeouts() -> st.SearchStrategy[float | None]:
    """A handler budget, absent two times in three."""
    # Zero is left out: the spec does not say what a zero handler budget
    # means, only that a zero event budget means none.
    return st.one_of(st.none(), st.none(), st.sampled_from(BUDGETS))


@st.composite
def forests(draw: st.DrawFn) -> Forest:
    """Random forests of events with budgets, handlers and children."""
    nodes: list[NodeSpec | None] = []

    def make_node(level: int, parent: Key | None) -> int:
        index = len(nodes)
        nodes.append(None)
        handler_count = draw(st.integers(1, 4))
        children: list[list[tuple[int, bool]]] = [[] for _ in range(handler_count)]
        if level < MAX_LEVELS:
            for _ in range(draw(st.integers(0, MAX_CHILDREN))):
                if len(nodes) >= MAX_NODES:
                    break
                owner = draw(st.integers(0, handler_count - 1))
                awaited = draw(st.booleans())
                child = make_node(level + 1, (index, owner))
                children[owner].append((child, awaited))
        handlers = tuple(
            HandlerSpec(draw(SLEEPS), draw(handler_timeouts()), tuple(kids))
            for kids in children
        )
        nodes[index] = NodeSpec(
            event_timeout=draw(event_timeouts()),
            event_handler_timeout=draw(handler_timeouts()),
            concurrency=draw(st.sampled_from(("serial", "parallel"))),
            handlers=handlers,
            parent=parent,
        )
        return index

    roots = tuple(make_node(1, None) for _ in range(draw(st.integers(1, 2))))
    # Every placeholder has been filled by now; the filter is for the types.
    built = tuple(node for node in nodes if node is not None)
    return Forest(draw(event_timeouts()), built, roots)


# -- running a forest ---------------------------------------------------------


@attrs.define
class Trace:
    """Virtual times recorded while a forest ran."""

    #: When each handler was called, finished its sleep, returned, and left
    #: (returning or cut off).
    started: dict[Key, float] = attrs.Factory(dict)
    slept: dict[Key, float] = attrs.Factory(dict)
    returned: dict[Key, float] = attrs.Factory(dict)
    exited: dict[Key, float] = attrs.Factory(dict)
    #: Children each handler emitted, in order.
    emitted: dict[Key, list[int]] = attrs.Factory(dict)
    events: dict[int, Node] = attrs.Factory(dict)
    #: When each emitted event completed.
    completed: dict[int, float] = attrs.Factory(dict)
    handler_ids: dict[Key, str] = attrs.Factory(dict)


def make_event(forest: Forest, node: int) -> Node:
    """A fresh event for ``node``, carrying its own options."""
    spec = forest.nodes[node]
    return Node(
        event_type=f"n{node}",
        event_timeout=spec.event_timeout,
        event_handler_timeout=spec.event_handler_timeout,
        event_handler_concurrency=spec.concurrency,
    )


def run_forest(forest: Forest) -> Trace:
    """Run ``forest`` on one bus under virtual time and return its trace."""
    trace = Trace()

    async def main() -> None:
        send, receive = trio.open_memory_channel[Node](math.inf)

        async def watch(node: int, event: Node) -> None:
            # Queue-order waiting from a task outside every handler never
            # reorders anything; it wakes at the virtual instant the event
            # completes.
            await event.event_completed()
            trace.completed[node] = trio.current_time()

        async def spawn_watchers(nursery: trio.Nursery) -> None:
            # Watchers are spawned from this task, not from the handlers, so
            # that they run outside any handler's context.
            async with receive:
                async for event in receive:
                    nursery.start_soon(watch, int(event.event_type[1:]), event)

        def emit(bus: EventBus, node: int) -> Node:
            event = bus.emit(make_event(forest, node))
            trace.events[node] = event
            send.send_nowait(event)
            return event

        def make_handler(
            bus: EventBus, key: Key, spec: HandlerSpec
        ) -> Callable[[Node], Coroutine[Any, Any, str]]:
            async def handler(event: Node) -> str:
                trace.started[key] = trio.current_time()
                trace.emitted[key] = []
                try:
                    await trio.sleep(spec.sleep)
                    trace.slept[key] = trio.current_time()
                    for child, awaited in spec.children:
                        trace.emitted[key].append(child)
                        emitted = emit(bus, child)
                        if awaited:
                            await emitted
                    trace.returned[key] = trio.current_time()
                    return f"{key[0]}.{key[1]}"
                finally:
                    trace.exited[key] = trio.current_time()

            return handler

        # A hang must fail the example, not the run. The watchdog is a task of
        # its own rather than a deadline around the bus, which would cap
        # every handler's effective deadline and so change what is tested.
        watchdog_scope = trio.CancelScope()

        async def watchdog() -> None:
            with watchdog_scope:
                await trio.sleep(WATCHDOG)
                raise AssertionError(f"the forest still ran after {WATCHDOG}s")

        async with trio.open_nursery() as nursery:
            nursery.start_soon(spawn_watchers, nursery)
            nursery.start_soon(watchdog)
            async with EventBus(
                "Budgets",
                event_timeout=forest.bus_timeout,
                event_slow_timeout=None,
                event_handler_slow_timeout=None,
            ) as bus:
                for index, node in enumerate(forest.nodes):
                    for position, spec in enumerate(node.handlers):
                        key = (index, position)
                        entry = bus.on(
                            f"n{index}",
                            make_handler(bus, key, spec),
                            handler_timeout=spec.handler_timeout,
                        )
                        trace.handler_ids[key] = entry.id
                for root in forest.roots:
                    emit(bus, root)
            # Leaving the bus waited until it was idle: every event emitted
            # has completed, so the watchers are finishing too.
            send.close()
            watchdog_scope.cancel()

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    return trace


# -- the model ----------------------------------------------------------------


def _budget(value: float | None) -> float:
    """0 and None both mean "no budget"."""
    return value if value else math.inf


@attrs.define
class Checker:
    """Hold one forest's trace against the rules of section 6.

    Nodes are checked parents first, because a child's cap is the effective
    deadline of the handler that emitted it.
    """

    forest: Forest
    trace: Trace
    #: Effective deadline of every handler that started.
    deadlines: dict[Key, float] = attrs.Factory(dict)

    def check(self) -> None:
        for node in range(len(self.forest.nodes)):
            self.check_node(node)

    def avoid_tie(self, a: float, b: float) -> None:
        """Reject an example in which two instants that decide an outcome meet.

        When a sleep ends exactly on a deadline, or a handler's own deadline
        is exactly its event's, the expected outcome would rest on the order
        in which Trio processes equal deadlines, which the spec does not
        fix. Budgets are off the sleep grid (see ``BUDGETS``), so few
        examples are rejected.
        """
        assume(not (math.isfinite(a) and a == b))

    def was_emitted(self, node: int) -> bool:
        parent = self.forest.nodes[node].parent
        return parent is None or node in self.trace.emitted.get(parent, [])

    def check_node(self, node: int) -> None:
        spec = self.forest.nodes[node]
        trace = self.trace
        keys = [(node, j) for j in range(len(spec.handlers))]
        if not self.was_emitted(node):
            assert node not in trace.events
            assert not any(key in trace.started for key in keys)
            return

        event = trace.events[node]
        assert event.event_status is EventStatus.COMPLETED
        assert node in trace.completed
        results = [event.event_results[trace.handler_ids[key]] for key in keys]
        for result in results:
            assert result.status in (
                EventResultStatus.COMPLETED,
                EventResultStatus.ERROR,
            ), result

        # The bus gives no virtual timestamp for the start of an event's
        # processing, so the handlers record it: nothing between the bus
        # opening the event's scope and calling the first handler (serial)
        # or spawning them all (parallel) waits, so that is the instant the
        # first handler starts. An event none of whose handlers started had
        # nothing to wait for, so it completed at the instant it began.
        starts = [trace.started[key] for key in keys if key in trace.started]
        began = min(starts) if starts else trace.completed[node]
        if spec.event_timeout is not None:
            budget = _budget(spec.event_timeout)
        else:
            budget = _budget(self.forest.bus_timeout)
        cap = math.inf if spec.parent is None else self.deadlines[spec.parent]
        # A queue-jumped child whose own deadline is exactly its cap would
        # leave the parent's fate to the order of equal deadlines.
        self.avoid_tie(began + budget, cap)
        event_deadline = min(began + budget, cap)
        expired = event_deadline <= began

        for key, handler, result in zip(keys, spec.handlers, results, strict=True):
            if key not in trace.started:
                self.check_never_started(key, result, event_deadline, expired)
                continue
            start = trace.started[key]
            if spec.concurrency == "parallel":
                assert start == began
            elif key[1] > 0:
                assert start == trace.exited[node, key[1] - 1]
            if expired:
                self.deadlines[key] = event_deadline
                self.check_started_after_expiry(key, result)
                continue

            assert start < event_deadline
            if handler.handler_timeout is not None:
                own = _budget(handler.handler_timeout)
            else:
                own = _budget(spec.event_handler_timeout)
            own_deadline = start + own
            deadline = min(own_deadline, event_deadline)
            self.deadlines[key] = deadline
            self.avoid_tie(own_deadline, event_deadline)
            self.avoid_tie(start + handler.sleep, deadline)
            # Only a handler budget that ends strictly before the event
            # deadline gets a scope of its own; otherwise the event's scope
            # (or an enclosing one, for the cap) cuts the handler off.
            own_binds = own_deadline < event_deadline
            self.check_started(key, handler, result, deadline, own_binds)

    def check_never_started(
        self,
        key: Key,
        result: EventResult[Any],
        event_deadline: float,
        expired: bool,
    ) -> None:
        assert isinstance(result.error, EventHandlerCancelledError), result
        assert result.started_at is None
        if expired:
            return
        # Otherwise only a serial handler may miss its turn, and only
        # because the handler before it was cut off by the event deadline.
        node, position = key
        assert self.forest.nodes[node].concurrency == "serial"
        assert position > 0
        before = (node, position - 1)
        if before in self.trace.started:
            assert before not in self.trace.returned
            assert self.trace.exited[before] == event_deadline

    def check_started_after_expiry(self, key: Key, result: EventResult[Any]) -> None:
        # The event's deadline had passed before its processing began (a
        # queued child whose parent's deadline ran out while it waited). The
        # spec says its handlers never start; the library calls them and
        # aborts them at their first checkpoint. Both are accepted here so
        # that this property guards everything else; the deterministic test
        # below pins the spec's behaviour.
        assert key not in self.trace.slept
        assert self.trace.exited[key] == self.trace.started[key]
        assert isinstance(result.error, EventHandlerAbortedError), result

    def check_started(
        self,
        key: Key,
        handler: HandlerSpec,
        result: EventResult[Any],
        deadline: float,
        own_binds: bool,
    ) -> None:
        trace = self.trace
        start = trace.started[key]
        emitted = trace.emitted[key]
        planned = [child for child, _ in handler.children]
        if key in trace.returned:
            # Completed: all of its work done, all of it before its deadline.
            returned = trace.returned[key]
            assert result.status is EventResultStatus.COMPLETED, result
            assert result.result == f"{key[0]}.{key[1]}"
            assert trace.slept[key] == start + handler.sleep
            assert emitted == planned
            assert returned < deadline
            for child, awaited in handler.children:
                if awaited:
                    assert trace.completed[child] <= returned
            return

        # Cut off: exactly at its effective deadline, while it still had work
        # to do, either its sleep or an awaited child still in flight.
        assert trace.exited[key] == deadline
        if key in trace.slept:
            assert trace.slept[key] == start + handler.sleep < deadline
            assert emitted
            assert emitted == planned[: len(emitted)]
            in_flight, awaited = handler.children[len(emitted) - 1]
            assert awaited
            assert trace.completed[in_flight] >= deadline
        else:
            assert start + handler.sleep > deadline
            assert emitted == []
        expected = EventHandlerTimeoutError if own_binds else EventHandlerAbortedError
        assert type(result.error) is expected, result


# -- tests --------------------------------------------------------------------


@settings(max_examples=100)
@given(forests())
def test_every_handler_ends_by_its_effective_deadline_with_the_right_error(
    forest: Forest,
) -> None:
    """Overrunning handlers are cut off exactly at their effective deadline
    with the error of the budget that bound them, none ends early, unstarted
    handlers are cancelled, and every event completes with final results."""
    Checker(forest, run_forest(forest)).check()


@pytest.mark.parametrize("concurrency", ["serial", "parallel"])
def test_an_event_whose_inherited_deadline_passed_starts_no_handler(
    concurrency: str,
) -> None:
    """A queued child that gets its turn only after its parent's deadline has
    passed cancels its handlers without calling any of them.

    The parent's first handler (own budget 1 s) emits the child at 0 s, so
    the child's cap is 1 s; the parent's second handler keeps the bus busy
    until 2 s. Section 6: a handler that never started gets
    ``EventHandlerCancelledError``; one that was running gets
    ``EventHandlerAbortedError``. None of the child's handlers was running
    when its deadline passed, so none should run at all.
    """
    calls: list[tuple[str, float]] = []
    children: list[Node] = []

    async def main() -> None:
        async with EventBus("Expired", event_timeout=None) as bus:

            async def emit_child(event: Node) -> str:
                children.append(
                    bus.emit(
                        Node(event_type="child", event_handler_concurrency=concurrency)
                    )
                )
                return "parent"

            async def keep_busy(event: Node) -> str:
                await trio.sleep(2)
                return "busy"

            def sync_child(event: Node) -> str:
                calls.append(("sync", trio.current_time()))
                return "ran"

            async def async_child(event: Node) -> str:
                calls.append(("async", trio.current_time()))
                await trio.lowlevel.checkpoint()
                return "ran"

            bus.on("parent", emit_child, handler_timeout=1.0)
            bus.on("parent", keep_busy)
            bus.on("child", sync_child)
            bus.on("child", async_child)
            await bus.emit(Node(event_type="parent"))
        assert trio.current_time() == 2.0

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    (child,) = children
    assert child.event_status is EventStatus.COMPLETED
    assert calls == []
    for result in child.event_results.values():
        assert isinstance(result.error, EventHandlerCancelledError), result
        assert result.started_at is None
