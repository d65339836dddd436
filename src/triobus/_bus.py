"""The event bus: lifecycle, registration, emit, history and statistics."""

from __future__ import annotations

import contextvars
import logging
import math
import types
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any, Self, TypeVar

import attrs
import trio

from ._context import active_frame
from ._enums import (
    EventConcurrency,
    EventStatus,
    HandlerCompletion,
    HandlerConcurrency,
    parse_mode,
)
from ._errors import BusClosedError, BusNotRunningError, EventHandlerCancelledError
from ._event import (
    BaseEvent,
    EventConcurrencyLike,
    HandlerCompletionLike,
    HandlerConcurrencyLike,
    runtime_of,
    set_runtime,
)
from ._handlers import EventHandler, HandlerFunc
from ._history import History, make_predicate
from ._locks import global_lock
from ._processing import event_concurrency, process_run
from ._results import EventResult
from ._runtime import BusRun, EventRuntime, RunState, finish_run
from ._slow import SlowWatcher
from ._util import new_id, utc_now

logger = logging.getLogger("triobus.bus")

E = TypeVar("E", bound=BaseEvent[Any])

_NEW, _RUNNING, _CLOSING, _CLOSED = "new", "running", "closing", "closed"


@attrs.frozen
class BusStatistics:
    """A snapshot of a bus, from :meth:`EventBus.statistics`.

    Attributes:
        queued: Events waiting on this bus, not yet started here.
        running: Events being processed on this bus now.
        completed: Events whose processing on this bus has finished.
        handlers: Registered handlers.
        history_size: Events held in ``event_history``.
        dropped: Completed events dropped from history to respect
            ``max_history_size``.
        refused: Emits refused with ``trio.WouldBlock``.
    """

    queued: int
    running: int
    completed: int
    handlers: int
    history_size: int
    dropped: int
    refused: int


def _check_seconds(name: str, value: float | None) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number of seconds or None, got {value!r}")
    if not value >= 0:
        raise ValueError(f"{name} must be >= 0 or None, got {value!r}")


def _check_size(name: str, value: int | None) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be an integer >= 0 or None, got {value!r}")


class EventBus:
    """An in-process event bus that runs inside a Trio nursery.

    Either form runs it::

        async with EventBus("Auth") as bus:
            ...

        async with trio.open_nursery() as nursery:
            bus = await nursery.start(EventBus("Auth").run)

    Args:
        name: Shown in logs; ``label`` adds four id characters to tell buses
            of the same name apart.
        event_concurrency: ``global-serial``, ``bus-serial`` or ``parallel``.
        event_handler_concurrency: ``serial`` or ``parallel``.
        event_handler_completion: ``all`` or ``first``.
        event_timeout: Default event budget in seconds; None for no budget.
        event_slow_timeout: Warn when an event runs longer; None for never.
        event_handler_slow_timeout: Warn when a handler runs longer.
        max_history_size: Events kept in history; None unbounded, 0 only
            in-flight ones.
        max_history_drop: Drop the oldest completed events when history is
            full (default); with False, ``emit`` refuses once that many
            unfinished events are held.
        max_pending: Bound on events queued but not started; None unbounded.
        middlewares: Reserved for middleware objects; must be empty for now.
    """

    def __init__(
        self,
        name: str = "EventBus",
        *,
        event_concurrency: EventConcurrencyLike = EventConcurrency.BUS_SERIAL,
        event_handler_concurrency: HandlerConcurrencyLike = HandlerConcurrency.SERIAL,
        event_handler_completion: HandlerCompletionLike = HandlerCompletion.ALL,
        event_timeout: float | None = 60.0,
        event_slow_timeout: float | None = 300.0,
        event_handler_slow_timeout: float | None = 30.0,
        max_history_size: int | None = 100,
        max_history_drop: bool = True,
        max_pending: int | None = None,
        middlewares: tuple[object, ...] = (),
    ) -> None:
        if not isinstance(name, str) or not name:  # pyright: ignore[reportUnnecessaryIsInstance]
            raise TypeError(f"bus name must be a non-empty string, got {name!r}")
        for option, value in (
            ("event_timeout", event_timeout),
            ("event_slow_timeout", event_slow_timeout),
            ("event_handler_slow_timeout", event_handler_slow_timeout),
        ):
            _check_seconds(option, value)
        _check_size("max_history_size", max_history_size)
        _check_size("max_pending", max_pending)
        if middlewares:
            raise NotImplementedError("middlewares are not supported yet")
        self.name = name
        self.id = new_id()
        self.label = f"{name}#{self.id[-4:]}"
        self.event_concurrency = parse_mode(
            EventConcurrency, event_concurrency, "event_concurrency"
        )
        self.event_handler_concurrency = parse_mode(
            HandlerConcurrency, event_handler_concurrency, "event_handler_concurrency"
        )
        self.event_handler_completion = parse_mode(
            HandlerCompletion, event_handler_completion, "event_handler_completion"
        )
        self.event_timeout = event_timeout
        self.event_slow_timeout = event_slow_timeout
        self.event_handler_slow_timeout = event_handler_slow_timeout
        self.max_history_size = max_history_size
        self.max_history_drop = max_history_drop
        self.max_pending = max_pending

        self._state = _NEW
        self._nursery: trio.Nursery | None = None
        self._handlers: dict[str, dict[str, EventHandler]] = {}
        self._order: dict[str, int] = {}  # handler id -> registration number
        self._registered = 0
        self._handler_cache: dict[str, tuple[EventHandler, ...]] = {}
        self._queue: deque[BusRun] = deque()
        self._queue_lot = trio.lowlevel.ParkingLot()
        self._idle_lot = trio.lowlevel.ParkingLot()
        self._queued = 0
        self._running = 0
        self._completed = 0
        self._refused = 0
        self._room_lot = trio.lowlevel.ParkingLot()
        self._history = History(max_history_size, max_history_drop)
        self._slow = SlowWatcher()
        self._close_requested = trio.Event()
        self._closed = trio.Event()
        self._cm_nursery: Any = None
        self._run_scope: trio.CancelScope | None = None

    def __repr__(self) -> str:
        return f"<EventBus {self.label} {self._state}>"

    # -- registration -------------------------------------------------------

    def on(
        self,
        event_pattern: type[BaseEvent[Any]] | str,
        handler: HandlerFunc,
        *,
        handler_timeout: float | None = None,
        handler_slow_timeout: float | None = None,
        run_in_thread: bool = False,
        thread_limiter: trio.CapacityLimiter | None = None,
    ) -> EventHandler:
        """Register ``handler`` for an event class, ``event_type`` or ``"*"``.

        Args:
            event_pattern: An event class (its ``event_type`` is used), an
                ``event_type`` string, or ``"*"`` for every event.
            handler: Any callable taking the event; async or sync.
            handler_timeout: This registration's own budget in seconds.
            handler_slow_timeout: Warn when one call runs longer than this.
            run_in_thread: Run a sync handler in a worker thread (see
                :doc:`/timeouts`); it may then be cut off by budgets, but the
                thread itself keeps running until the function returns.
            thread_limiter: Capacity limiter for those threads.

        Returns:
            The registration record; pass it (or its id) to :meth:`off`.
        """
        pattern = _pattern_key(event_pattern)
        if not callable(handler):
            raise TypeError(f"handler must be callable, got {handler!r}")
        _check_seconds("handler_timeout", handler_timeout)
        _check_seconds("handler_slow_timeout", handler_slow_timeout)
        entry = EventHandler(
            handler=handler,
            event_pattern=pattern,
            eventbus_name=self.name,
            eventbus_id=self.id,
            handler_timeout=handler_timeout,
            handler_slow_timeout=handler_slow_timeout,
            run_in_thread=run_in_thread,
            thread_limiter=thread_limiter,
        )
        if run_in_thread and entry.is_async:
            raise TypeError(
                f"run_in_thread is for sync handlers; {entry.handler_name} is async"
            )
        self._handlers.setdefault(pattern, {})[entry.id] = entry
        self._registered += 1
        self._order[entry.id] = self._registered
        self._handler_cache.clear()
        logger.debug("%s: registered %s for %r", self.label, entry.label, pattern)
        return entry

    def off(
        self,
        event_pattern: type[BaseEvent[Any]] | str,
        handler: HandlerFunc | EventHandler | str | None = None,
    ) -> int:
        """Remove handlers registered for a pattern.

        Args:
            event_pattern: The pattern used with :meth:`on`.
            handler: The callable, the :class:`EventHandler` record or its
                id; None removes every handler of the pattern.

        Returns:
            How many registrations were removed.
        """
        pattern = _pattern_key(event_pattern)
        entries = self._handlers.get(pattern, {})
        if handler is None:
            doomed = list(entries)
        elif isinstance(handler, EventHandler):
            doomed = [handler.id] if handler.id in entries else []
        elif isinstance(handler, str):
            doomed = [handler] if handler in entries else []
        else:
            doomed = [i for i, e in entries.items() if e.handler == handler]
        for handler_id in doomed:
            del entries[handler_id]
            del self._order[handler_id]
        if not entries:
            self._handlers.pop(pattern, None)
        if doomed:
            self._handler_cache.clear()
        return len(doomed)

    @property
    def handlers(self) -> tuple[EventHandler, ...]:
        """Every registration on this bus, in registration order."""
        every = [e for entries in self._handlers.values() for e in entries.values()]
        return tuple(sorted(every, key=lambda e: self._order[e.id]))

    def _handlers_for(self, event_type: str) -> tuple[EventHandler, ...]:
        """The handlers for one event: typed and ``"*"``, registration order."""
        cached = self._handler_cache.get(event_type)
        if cached is None:
            typed = self._handlers.get(event_type, {})
            wildcard = self._handlers.get("*", {}) if event_type != "*" else {}
            merged = [*typed.values(), *wildcard.values()]
            if typed and wildcard:
                merged.sort(key=lambda e: self._order[e.id])
            cached = tuple(merged)
            self._handler_cache[event_type] = cached
        return cached

    # -- emitting -----------------------------------------------------------

    def emit(self, event: E) -> E:
        """Queue ``event`` on this bus and return the same object.

        Emit never blocks and never raises handler errors. Inside a handler
        the event becomes a child of the event being handled. Emitting an
        event whose path already holds this bus is a no-op, which is what
        makes forwarding cycles terminate.

        Raises:
            BusNotRunningError: The bus has not been started.
            BusClosedError: The bus has been closed.
            trio.WouldBlock: The bus cannot take an event now (``max_pending``
                reached, or history full with ``max_history_drop=False``);
                the event is neither queued nor kept.
            RuntimeError: The event already completed elsewhere.
        """
        return self._emit(event, count_refusal=True)

    def _emit(self, event: E, *, count_refusal: bool) -> E:
        if not isinstance(event, BaseEvent):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise TypeError(f"emit takes an event, got {event!r}")
        state = self._state
        if state is not _RUNNING and state is not _CLOSING:
            if state is _NEW:
                raise BusNotRunningError(
                    f"{self.label} is not running: use 'async with bus:' or"
                    " 'await nursery.start(bus.run)' before emitting"
                )
            raise BusClosedError(f"{self.label} is closed; it cannot take new events")
        if self.label in event.event_path:
            return event

        frame = active_frame()
        runtime: EventRuntime | None = runtime_of(event)
        if frame is not None and trio.current_effective_deadline() == -math.inf:
            # A handler that was cut off but keeps running: what it emits now
            # is late and is discarded.
            logger.debug(
                "%s: discarded %s emitted by cancelled handler %s",
                self.label,
                event.label,
                frame.handler.label,
            )
            return event
        if runtime is not None and runtime.done.is_set():
            raise RuntimeError(
                f"{event.label} has already completed; emit event.event_reset()"
                " to send a fresh copy"
            )
        self._check_room(count_refusal)

        if runtime is None:
            runtime = EventRuntime(context=contextvars.copy_context())
            set_runtime(event, runtime)
            if frame is not None and _is_new_child(event, frame.event):
                self._link(event, runtime, frame)
        event.event_path.append(self.label)
        run = BusRun(self, event, queued_at=trio.current_time())
        runtime.runs[self.id] = run
        runtime.pending += 1
        event.event_pending_bus_count = runtime.pending
        self._history.add(event)
        self._queued += 1
        if event_concurrency(event, self) is EventConcurrency.PARALLEL:
            nursery = self._nursery
            assert nursery is not None  # running or closing: the nursery is open
            nursery.start_soon(self._run_parallel, run)
        else:
            self._queue.append(run)
            self._queue_lot.unpark()
        return event

    async def emit_wait(self, event: E) -> E:
        """Emit, waiting for room when the bus cannot take the event now.

        The async partner of :meth:`emit`, as ``send`` is of
        ``send_nowait`` on a Trio channel: where ``emit`` would raise
        ``trio.WouldBlock`` (``max_pending`` reached, or history full with
        ``max_history_drop=False``), this waits until a queued event starts
        or an unfinished one completes, then tries again.

        Returns:
            The same event object, emitted.
        """
        await trio.lowlevel.checkpoint_if_cancelled()
        while True:
            try:
                self._emit(event, count_refusal=False)
            except trio.WouldBlock:
                await self._room_lot.park()
            else:
                await trio.lowlevel.cancel_shielded_checkpoint()
                return event

    def _check_room(self, count_refusal: bool = True) -> None:
        if self.max_pending is not None and self._queued >= self.max_pending:
            self._refused += count_refusal
            raise trio.WouldBlock(
                f"{self.label} has {self._queued} events queued (max_pending="
                f"{self.max_pending})"
            )
        if self._history.full():
            self._refused += count_refusal
            raise trio.WouldBlock(
                f"{self.label} holds {self._history.unfinished} unfinished events"
                f" (max_history_size={self.max_history_size}, max_history_drop=False)"
            )

    def _link(
        self, event: BaseEvent[Any], runtime: EventRuntime, frame: Any
    ) -> None:
        parent = frame.event
        parent_runtime: EventRuntime = runtime_of(parent)
        if event.event_parent_id is None:
            event.event_parent_id = parent.event_id
        event.event_emitted_by_handler_id = frame.handler.id
        event.event_blocks_parent_completion = True
        runtime.parent = parent
        runtime.cap = trio.current_effective_deadline()
        parent_runtime.children.append(event)
        parent_runtime.open_children += 1
        frame.result.event_children.append(event)

    # -- history --------------------------------------------------------------

    @property
    def event_history(self) -> Mapping[str, BaseEvent[Any]]:
        """Events emitted to this bus, by id, in emit order (read-only)."""
        return types.MappingProxyType(self._history.events)

    def _event_completed(self, event: BaseEvent[Any]) -> None:
        """Called once when an event this bus saw has completed."""
        self._history.completed(event)
        self._room_lot.unpark_all()

    async def find(
        self,
        event_pattern: type[E] | str,
        where: Callable[[Any], bool] | None = None,
        child_of: BaseEvent[Any] | None = None,
        past: bool | float = True,
        future: bool | float = False,
        **filters: object,
    ) -> Any:
        """Return the newest matching event, or wait for the next one.

        Args:
            event_pattern: An event class, an ``event_type`` string or
                ``"*"``.
            where: Extra test on each candidate.
            child_of: Only descendants (any depth, any bus) of this event.
            past: True searches all history, False none, a number only the
                events emitted to this bus in the last that many seconds of
                the Trio clock.
            future: False does not wait; True waits for the next matching
                emit; a number waits up to that many seconds.
            **filters: Attribute values the event must equal.

        Returns:
            The event, or None when nothing matched in time.
        """
        predicate = self._predicate(event_pattern, where, child_of, filters)
        found = self._history.past_matches(predicate, self.id, past, 1)
        if found or future is False:
            await trio.lowlevel.checkpoint()
            return found[0] if found else None
        arrived = await self._history.future_matches(predicate, future, 1)
        return arrived[0] if arrived else None

    async def filter(
        self,
        event_pattern: type[E] | str,
        where: Callable[[Any], bool] | None = None,
        child_of: BaseEvent[Any] | None = None,
        past: bool | float = True,
        future: bool | float = False,
        limit: int | None = None,
        **filters: object,
    ) -> list[Any]:
        """Return matching events, newest first.

        Takes the arguments of :meth:`find`, plus ``limit``. With ``future``,
        matches emitted later are added (in emit order) until ``limit`` is
        reached or the ``future`` window of seconds closes; ``future=True``
        needs a ``limit``.

        Returns:
            Past matches newest first, then future ones.
        """
        if limit is not None and (isinstance(limit, bool) or limit < 0):
            raise ValueError(f"limit must be an integer >= 0 or None, got {limit!r}")
        if future is True and limit is None:
            raise ValueError("filter(future=True) needs a limit, or it never returns")
        predicate = self._predicate(event_pattern, where, child_of, filters)
        found = self._history.past_matches(predicate, self.id, past, limit)
        wanted = None if limit is None else limit - len(found)
        if future is False or wanted == 0:
            await trio.lowlevel.checkpoint()
            return found
        return found + await self._history.future_matches(predicate, future, wanted)

    def _predicate(
        self,
        event_pattern: type[BaseEvent[Any]] | str,
        where: Callable[[Any], bool] | None,
        child_of: BaseEvent[Any] | None,
        filters: Mapping[str, object],
    ) -> Callable[[BaseEvent[Any]], bool]:
        return make_predicate(
            _pattern_key(event_pattern), where, child_of, filters, self.event_is_child_of
        )

    # -- processing -----------------------------------------------------------

    def _claim(self, run: BusRun) -> None:
        run.state = RunState.RUNNING
        self._queued -= 1
        self._running += 1
        if self.max_pending is not None:
            self._room_lot.unpark_all()

    def _release(self, run: BusRun) -> None:
        self._running -= 1
        self._completed += 1
        if not self._running and not self._queued:
            self._idle_lot.unpark_all()

    def _move_to_front(self, run: BusRun) -> None:
        """Put a queued run at the head of the queue (its old entry is skipped)."""
        if run.state is RunState.QUEUED and (not self._queue or self._queue[0] is not run):
            self._queue.appendleft(run)
            self._queue_lot.unpark()

    async def _serial_loop(self) -> None:
        queue = self._queue
        while True:
            if not queue:
                await self._queue_lot.park()
                continue
            run = queue.popleft()
            if run.state is not RunState.QUEUED:
                continue
            if event_concurrency(run.event, self) is EventConcurrency.GLOBAL_SERIAL:
                async with global_lock():
                    if run.state is RunState.QUEUED:
                        await process_run(self, run, None)
            else:
                await process_run(self, run, None)
            await trio.lowlevel.checkpoint()

    async def _run_parallel(self, run: BusRun) -> None:
        if run.state is RunState.QUEUED:
            await process_run(self, run, None)
        else:
            await trio.lowlevel.checkpoint()

    def _abandon(self) -> None:
        """End every run still queued here: the bus is gone."""
        for run in [*self._queue, *self._parallel_queued()]:
            if run.state is not RunState.QUEUED:
                continue
            run.state = RunState.RUNNING
            self._queued -= 1
            event = run.event
            for handler in self._handlers_for(event.event_type):
                if handler.id in event.event_results:
                    continue
                result: EventResult[Any] = EventResult(
                    event_id=event.event_id,
                    handler_id=handler.id,
                    handler_name=handler.handler_name,
                    eventbus_id=self.id,
                    eventbus_name=self.name,
                    result_type=event.event_result_type,
                )
                event.event_results[handler.id] = result
                result._fail(  # noqa: SLF001
                    EventHandlerCancelledError(
                        f"handler {result.label} for {event.label} never started:"
                        f" {self.label} closed first"
                    )
                )
            finish_run(run)
        self._queue.clear()

    def _parallel_queued(self) -> list[BusRun]:
        return [
            run
            for event in self._history.events.values()
            if (run := _run_on(event, self.id)) is not None
            and run.state is RunState.QUEUED
        ]

    # -- lifecycle ------------------------------------------------------------

    async def run(
        self, *, task_status: trio.TaskStatus[Self] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Run the bus until it is closed; for ``nursery.start(bus.run)``.

        ``task_status.started`` hands the bus back once it accepts events.
        Returns after :meth:`aclose` has drained it; cancelling it cancels
        in-flight handlers, records their results as errors, and ends every
        queued event.
        """
        if self._state is not _NEW:
            raise RuntimeError(f"{self.label} has already been started")
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                self._run_scope = nursery.cancel_scope
                self._state = _RUNNING
                nursery.start_soon(self._serial_loop)
                nursery.start_soon(self._slow.run)
                logger.debug("%s: running", self.label)
                task_status.started(self)
                await self._close_requested.wait()
                self._state = _CLOSING
                await self._wait_idle()
                nursery.cancel_scope.cancel("bus closed")
        finally:
            self._state = _CLOSED
            self._abandon()
            self._closed.set()
            logger.debug("%s: closed", self.label)

    async def aclose(self) -> None:
        """Drain the bus (wait until idle), then close it and end ``run``.

        Called from inside one of this bus's own handlers it only asks for the
        close, since the drain has to wait for that handler.
        """
        if self._state is _NEW:
            self._state = _CLOSED
            self._closed.set()
            await trio.lowlevel.checkpoint()
            return
        self._close_requested.set()
        frame = active_frame()
        if frame is not None and any(f.bus is self for f in frame.chain()):
            await trio.lowlevel.checkpoint()
            return
        await self._closed.wait()

    async def __aenter__(self) -> Self:
        manager = trio.open_nursery()
        nursery = await manager.__aenter__()
        self._cm_nursery = manager
        try:
            await nursery.start(self.run)
        except BaseException as exc:
            await manager.__aexit__(type(exc), exc, exc.__traceback__)
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: types.TracebackType | None,
    ) -> bool:
        manager = self._cm_nursery
        own_error: BaseException | None = None
        if exc is None:
            try:
                await self.aclose()
            except BaseException as close_error:  # noqa: BLE001 - passed on below
                own_error = close_error
                exc_type, exc, tb = type(close_error), close_error, close_error.__traceback__
        if exc is not None and self._run_scope is not None:
            self._run_scope.cancel("the 'async with' block of the bus raised")
        try:
            suppressed = bool(await manager.__aexit__(exc_type, exc, tb))
        except BaseExceptionGroup as group:
            # Report the block's own exception as itself, not wrapped in the
            # group of the nursery the bus hides.
            if exc is not None and list(_leaves(group)) == [exc]:
                raise exc from None
            raise
        if own_error is not None and not suppressed:
            raise own_error
        return suppressed

    # -- waiting and introspection --------------------------------------------

    async def wait_until_idle(self) -> None:
        """Return once nothing is queued or running on this bus."""
        await self._wait_idle()

    async def _wait_idle(self) -> None:
        if self._queued or self._running:
            while self._queued or self._running:
                await self._idle_lot.park()
        else:
            await trio.lowlevel.checkpoint()

    def statistics(self) -> BusStatistics:
        """A frozen snapshot of queue depth, work done and history."""
        return BusStatistics(
            queued=self._queued,
            running=self._running,
            completed=self._completed,
            handlers=len(self._order),
            history_size=len(self._history.events),
            dropped=self._history.dropped,
            refused=self._refused,
        )

    # -- lineage helpers ------------------------------------------------------

    def event_is_child_of(self, event: BaseEvent[Any], ancestor: BaseEvent[Any]) -> bool:
        """Whether ``ancestor`` is a parent, grandparent, ... of ``event``."""
        seen: set[str] = set()
        parent_id = event.event_parent_id
        while parent_id is not None and parent_id not in seen:
            if parent_id == ancestor.event_id:
                return True
            seen.add(parent_id)
            parent = self._lookup(parent_id, event)
            if parent is None:
                return False
            event = parent
            parent_id = event.event_parent_id
        return False

    def event_is_parent_of(self, parent: BaseEvent[Any], event: BaseEvent[Any]) -> bool:
        """Whether ``parent`` is the direct parent of ``event``."""
        return event.event_parent_id == parent.event_id

    def _lookup(self, event_id: str, near: BaseEvent[Any]) -> BaseEvent[Any] | None:
        found = self._history.events.get(event_id)
        if found is not None:
            return found
        runtime: EventRuntime | None = runtime_of(near)
        if runtime is not None and runtime.parent is not None:
            if runtime.parent.event_id == event_id:
                return runtime.parent
        return None


def _pattern_key(pattern: type[BaseEvent[Any]] | str) -> str:
    if isinstance(pattern, str):
        if not pattern:
            raise ValueError("event pattern must not be empty")
        return pattern
    if isinstance(pattern, type) and issubclass(pattern, BaseEvent):  # pyright: ignore[reportUnnecessaryIsInstance]
        default = attrs.fields_dict(pattern)["event_type"].default
        return str(default)
    raise TypeError(
        f"event pattern must be an event class, an event_type string or '*',"
        f" got {pattern!r}"
    )


def _is_new_child(event: BaseEvent[Any], parent: BaseEvent[Any]) -> bool:
    if event is parent:
        return False
    return event.event_parent_id is None or event.event_parent_id == parent.event_id


def _run_on(event: BaseEvent[Any], bus_id: str) -> BusRun | None:
    runtime: EventRuntime | None = runtime_of(event)
    return None if runtime is None else runtime.runs.get(bus_id)


def _leaves(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    leaves: list[BaseException] = []
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            leaves.extend(_leaves(exc))  # pyright: ignore[reportUnknownArgumentType]
        else:
            leaves.append(exc)
    return leaves


__all__ = ["BusStatistics", "EventBus", "utc_now"]
