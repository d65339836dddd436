"""A bus's scheduling state: handler registry, queue, counters, history.

:class:`EventBus` is the public face; this object is what the processing
modules work with. Keeping the state here gives them a real interface
instead of reaching into the bus's private attributes.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any

import trio

from ._enums import EventConcurrency
from ._errors import EventHandlerCancelledError
from ._event import BaseEvent, runtime_of
from ._history import History
from ._locks import global_lock
from ._processing import event_concurrency, new_result, process_run
from ._results import mark_failed
from ._runtime import BusRun, EventRuntime, RunState, finish_run
from ._slow import SlowWatcher

if TYPE_CHECKING:
    from ._bus import EventBus
    from ._handlers import EventHandler


#: How many events the serial loop may process in a row before it yields.
_EVENTS_PER_YIELD = 8


class BusCore:
    """The state one bus schedules with, shared with the processing code."""

    def __init__(self, bus: EventBus, history: History) -> None:
        self.bus = bus
        #: The set of slots held while processing a serial event here.
        self.own_slot = frozenset({bus.id})
        self.history = history
        self.slow = SlowWatcher()
        self.handlers: dict[str, dict[str, EventHandler]] = {}
        self.order: dict[str, int] = {}  # handler id -> registration number
        self._registered = 0
        self._handler_cache: dict[str, tuple[EventHandler, ...]] = {}
        self.queue: deque[BusRun] = deque()
        self.queue_lot = trio.lowlevel.ParkingLot()
        self.idle_lot = trio.lowlevel.ParkingLot()
        self.room_lot = trio.lowlevel.ParkingLot()
        self.queued = 0
        self.running = 0
        self.completed = 0
        self.refused = 0

    # -- handler registry -----------------------------------------------------

    def add_handler(self, entry: EventHandler) -> None:
        self.handlers.setdefault(entry.event_pattern, {})[entry.id] = entry
        self._registered += 1
        self.order[entry.id] = self._registered
        self._handler_cache.clear()

    def remove_handlers(self, pattern: str, handler_ids: list[str]) -> None:
        entries = self.handlers.get(pattern, {})
        for handler_id in handler_ids:
            del entries[handler_id]
            del self.order[handler_id]
        if not entries:
            self.handlers.pop(pattern, None)
        if handler_ids:
            self._handler_cache.clear()

    def handlers_for(self, event_type: str) -> tuple[EventHandler, ...]:
        """The handlers for one event: typed and ``"*"``, registration order."""
        cached = self._handler_cache.get(event_type)
        if cached is None:
            typed = self.handlers.get(event_type, {})
            wildcard = self.handlers.get("*", {}) if event_type != "*" else {}
            merged = [*typed.values(), *wildcard.values()]
            if typed and wildcard:
                merged.sort(key=lambda e: self.order[e.id])
            cached = tuple(merged)
            self._handler_cache[event_type] = cached
        return cached

    # -- queue ------------------------------------------------------------------

    def enqueue(self, run: BusRun, nursery: trio.Nursery) -> None:
        """Queue a new run: at the back, or in a task of its own if parallel."""
        self.queued += 1
        if event_concurrency(run.event, self.bus) is EventConcurrency.PARALLEL:
            nursery.start_soon(self._run_parallel, run)
        else:
            self.queue.append(run)
            self.queue_lot.unpark()

    def claim(self, run: BusRun) -> None:
        """A run starts processing: nobody else may process it now."""
        run.state = RunState.RUNNING
        self.queued -= 1
        self.running += 1
        if self.bus.max_pending is not None:
            self.room_lot.unpark_all()

    def release(self, run: BusRun) -> None:
        """A run finished processing here."""
        self.running -= 1
        self.completed += 1
        if not self.running and not self.queued:
            self.idle_lot.unpark_all()

    def move_to_front(self, run: BusRun) -> None:
        """Put a queued run at the head of the queue (its old entry is skipped)."""
        queue = self.queue
        if run.state is RunState.QUEUED and (not queue or queue[0] is not run):
            queue.appendleft(run)
            self.queue_lot.unpark()

    def event_completed(self, event: BaseEvent[Any]) -> None:
        """Called once when an event this bus saw has completed."""
        self.history.completed(event)
        self.room_lot.unpark_all()

    @property
    def idle(self) -> bool:
        return not self.queued and not self.running

    # -- processing loops -------------------------------------------------------

    async def serial_loop(self) -> None:
        """Process queued serial events one at a time, for the bus's life."""
        queue = self.queue
        streak = 0
        while True:
            if not queue:
                await self.queue_lot.park()
                continue
            run = queue.popleft()
            if run.state is not RunState.QUEUED:
                continue  # claimed by a queue-jump, or a moved duplicate
            if event_concurrency(run.event, self.bus) is EventConcurrency.GLOBAL_SERIAL:
                async with global_lock():
                    if run.state is RunState.QUEUED:
                        await process_run(self.bus, run, None)
            else:
                await process_run(self.bus, run, None)
            # Sync handlers never yield. Yielding to the scheduler every few
            # events keeps a busy bus from starving the other tasks of the
            # run without paying a full reschedule for every event; between
            # those, a cancellation is still noticed at once.
            # An empty queue parks the loop next, which yields anyway.
            streak += 1
            if streak >= _EVENTS_PER_YIELD and queue:
                streak = 0
                await trio.lowlevel.checkpoint()
            else:
                await trio.lowlevel.checkpoint_if_cancelled()

    async def _run_parallel(self, run: BusRun) -> None:
        if run.state is RunState.QUEUED:
            await process_run(self.bus, run, None)
        else:
            await trio.lowlevel.checkpoint()

    def abandon(self) -> None:
        """End every run still queued here: the bus is gone."""
        bus = self.bus
        pending = [*self.queue, *self._parallel_queued()]
        self.queue.clear()
        for run in pending:
            if run.state is not RunState.QUEUED:
                continue
            run.state = RunState.RUNNING
            self.queued -= 1
            self.completed += 1
            event = run.event
            for handler in self.handlers_for(event.event_type):
                if handler.id in event.event_results:
                    continue
                result = new_result(event, bus, handler)
                mark_failed(
                    result,
                    EventHandlerCancelledError(
                        f"handler {result.label} for {event.label} never started:"
                        f" {bus.label} closed first"
                    ),
                )
            finish_run(run)

    def _parallel_queued(self) -> list[BusRun]:
        found: list[BusRun] = []
        for event in self.history.events.values():
            runtime: EventRuntime | None = runtime_of(event)
            run = None if runtime is None else runtime.runs.get(self.bus.id)
            if run is not None and run.state is RunState.QUEUED:
                found.append(run)
        return found
