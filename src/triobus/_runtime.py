"""Bookkeeping the bus attaches to events: per-event and per-bus state.

An emitted event carries one :class:`EventRuntime`. It records the context
captured at the first emit, one :class:`BusRun` per bus the event reached,
and its lineage. An event completes when every run has finished and every
linked child has completed; completion then propagates to the parent.
"""

from __future__ import annotations

import contextvars
import enum
import math
from typing import TYPE_CHECKING, Any

import attrs
import trio

from ._enums import EventStatus
from ._event import BaseEvent, runtime_of
from ._util import utc_now

if TYPE_CHECKING:
    from ._bus import EventBus
    from ._core import BusCore
    from ._handlers import EventHandler
    from ._results import EventResult


class RunState(enum.Enum):
    """Where an event is on one bus."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"


@attrs.define(eq=False)
class BusRun:
    """One event on one bus: queued, being processed, or done."""

    bus: EventBus
    core: BusCore
    event: BaseEvent[Any]
    state: RunState = RunState.QUEUED
    #: Trio time at which the run was queued, for ``find(past=seconds)``.
    queued_at: float = 0.0
    #: A handler frame that is blocked awaiting this run from another task.
    #: Its slots are lent to the run: the run's own awaits may use them.
    borrowed: HandlerFrame | None = None


@attrs.define(eq=False)
class EventRuntime:
    """State shared by every bus that handles one event."""

    context: contextvars.Context
    done: trio.Event = attrs.field(factory=trio.Event)
    runs: dict[str, BusRun] = attrs.field(factory=lambda: dict[str, BusRun]())
    #: Runs not yet finished; mirrors ``event_pending_bus_count``.
    pending: int = 0
    children: list[BaseEvent[Any]] = attrs.field(factory=lambda: list[BaseEvent[Any]]())
    #: Linked children that have not completed yet.
    open_children: int = 0
    parent: BaseEvent[Any] | None = None
    #: Absolute Trio deadline inherited from the emitting handler; a child
    #: never runs past what its parent had left.
    cap: float = math.inf
    #: Handlers blocked in ``await event`` on this event, woken whenever the
    #: event or a descendant gets a new run (they may be able to process it
    #: inline) and when the event completes.
    watchers: trio.lowlevel.ParkingLot | None = None


@attrs.define(eq=False)
class HandlerFrame:
    """The handler call the current task is inside of.

    Frames nest when a handler awaits a child that is processed inline. A
    frame knows which serial slots its task holds, which decides whether an
    awaited event may run inline (queue-jump) or must wait its turn.
    """

    bus: EventBus
    event: BaseEvent[Any]
    handler: EventHandler
    result: EventResult[Any]
    parent: HandlerFrame | None
    #: Ids of the buses whose ``bus-serial`` slot this task holds.
    held: frozenset[str]
    #: Whether this task holds the ``global-serial`` lock of the run.
    holds_global: bool
    #: The run this frame's task lent its slots to while it waits, if any.
    loan: BusRun | None = None

    def chain(self) -> list[HandlerFrame]:
        """This frame and its enclosing frames, innermost first."""
        frames: list[HandlerFrame] = []
        frame: HandlerFrame | None = self
        while frame is not None:
            frames.append(frame)
            frame = frame.parent
        return frames


def notify_watchers(event: BaseEvent[Any]) -> None:
    """Wake inline awaiters of ``event`` and its ancestors: it has a new run."""
    current: BaseEvent[Any] | None = event
    while current is not None:
        runtime: EventRuntime = runtime_of(current)
        if runtime.watchers is not None:
            runtime.watchers.unpark_all()
        current = runtime.parent


def finish_run(run: BusRun) -> None:
    """Mark a run done and complete the event if nothing else holds it."""
    if run.state is RunState.DONE:
        return
    run.state = RunState.DONE
    event = run.event
    runtime: EventRuntime = runtime_of(event)
    runtime.pending -= 1
    event.event_pending_bus_count = runtime.pending
    if run.borrowed is not None:
        # The lender stays off its slots while the loan runs; wake it.
        notify_watchers(event)
    maybe_complete(event)


def maybe_complete(event: BaseEvent[Any]) -> None:
    """Complete ``event`` once its runs and linked children are all done.

    Completion of a child may complete its parent in turn; the walk goes up
    the lineage until an ancestor still has work.
    """
    current = event
    while True:
        runtime: EventRuntime = runtime_of(current)
        if runtime.pending or runtime.open_children or runtime.done.is_set():
            return
        current.event_status = EventStatus.COMPLETED
        current.event_completed_at = utc_now()
        if current.event_started_at is None:
            current.event_started_at = current.event_completed_at
        runtime.done.set()
        if runtime.watchers is not None:
            runtime.watchers.unpark_all()
        for run in runtime.runs.values():
            run.core.event_completed(current)
        parent = runtime.parent
        if parent is None or not current.event_blocks_parent_completion:
            return
        parent_runtime: EventRuntime = runtime_of(parent)
        parent_runtime.open_children -= 1
        current = parent
