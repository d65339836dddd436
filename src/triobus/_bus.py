"""The event bus: lifecycle, registration, emit, history and statistics."""

from __future__ import annotations

import contextvars
import logging
import math
import types
from collections.abc import Callable, Mapping
from typing import Any, Never, Self, TypeVar, cast, overload

import attrs
import trio

from ._context import active_frame
from ._core import BusCore
from ._enums import (
    EventConcurrency,
    HandlerCompletion,
    HandlerConcurrency,
    parse_mode,
)
from ._errors import BusClosedError, BusNotRunningError
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
from ._runtime import BusRun, EventRuntime, HandlerFrame, notify_watchers
from ._util import new_id

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


def _check_seconds(name: str, value: object) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number of seconds or None, got {value!r}")
    if not value >= 0:
        raise ValueError(f"{name} must be >= 0 or None, got {value!r}")


def _check_name(name: object) -> None:
    if not isinstance(name, str) or not name:
        raise TypeError(f"bus name must be a non-empty string, got {name!r}")


def _check_size(name: str, value: object) -> None:
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
        _check_name(name)
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
        self._core = BusCore(self, History(max_history_size, max_history_drop))
        self._close_requested = trio.Event()
        self._closed = trio.Event()
        self._cm_nursery: Any = None
        self._run_scope: trio.CancelScope | None = None

    def __repr__(self) -> str:
        return f"<EventBus {self.label} {self._state}>"

    # -- registration -------------------------------------------------------

    @overload
    def on(
        self,
        event_pattern: type[E],
        handler: Callable[[E], object],
        *,
        handler_timeout: float | None = None,
        handler_slow_timeout: float | None = None,
        run_in_thread: bool = False,
        thread_limiter: trio.CapacityLimiter | None = None,
    ) -> EventHandler: ...

    @overload
    def on(
        self,
        event_pattern: str,
        handler: Callable[[Never], object],
        *,
        handler_timeout: float | None = None,
        handler_slow_timeout: float | None = None,
        run_in_thread: bool = False,
        thread_limiter: trio.CapacityLimiter | None = None,
    ) -> EventHandler: ...

    def on(
        self,
        event_pattern: type[BaseEvent[Any]] | str,
        handler: Callable[[Never], object],
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
            handler: Any callable taking the event; async or sync. With a
                class pattern, type checkers check it takes that class.
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
            # Typed per pattern by the overloads; stored as taking any event.
            handler=cast(HandlerFunc, handler),
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
        self._core.add_handler(entry)
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
        entries = self._core.handlers.get(pattern, {})
        if handler is None:
            doomed = list(entries)
        elif isinstance(handler, EventHandler):
            doomed = [handler.id] if handler.id in entries else []
        elif isinstance(handler, str):
            doomed = [handler] if handler in entries else []
        else:
            doomed = [i for i, e in entries.items() if e.handler == handler]
        self._core.remove_handlers(pattern, doomed)
        return len(doomed)

    @property
    def handlers(self) -> tuple[EventHandler, ...]:
        """Every registration on this bus, in registration order."""
        core = self._core
        every = [e for entries in core.handlers.values() for e in entries.values()]
        return tuple(sorted(every, key=lambda e: core.order[e.id]))

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
        # Inside a handler, what it has left becomes a new child's deadline.
        left = math.inf if frame is None else trio.current_effective_deadline()
        if frame is not None and left == -math.inf:
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
                self._link(event, runtime, frame, left)
        event.event_path.append(self.label)
        run = BusRun(self, self._core, event, queued_at=trio.current_time())
        runtime.runs[self.id] = run
        runtime.pending += 1
        event.event_pending_bus_count = runtime.pending
        self._core.history.add(event)
        nursery = self._nursery
        assert nursery is not None  # running or closing: the nursery is open
        self._core.enqueue(run, nursery)
        notify_watchers(event)
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
                await self._core.room_lot.park()
            else:
                await trio.lowlevel.cancel_shielded_checkpoint()
                return event

    def _check_room(self, count_refusal: bool = True) -> None:
        core = self._core
        if self.max_pending is not None and core.queued >= self.max_pending:
            core.refused += count_refusal
            raise trio.WouldBlock(
                f"{self.label} has {core.queued} events queued (max_pending="
                f"{self.max_pending})"
            )
        if core.history.full():
            core.refused += count_refusal
            raise trio.WouldBlock(
                f"{self.label} holds {core.history.unfinished} unfinished events"
                f" (max_history_size={self.max_history_size}, max_history_drop=False)"
            )

    def _link(
        self,
        event: BaseEvent[Any],
        runtime: EventRuntime,
        frame: HandlerFrame,
        cap: float,
    ) -> None:
        parent = frame.event
        parent_runtime: EventRuntime = runtime_of(parent)
        if event.event_parent_id is None:
            event.event_parent_id = parent.event_id
        event.event_emitted_by_handler_id = frame.handler.id
        event.event_blocks_parent_completion = True
        runtime.parent = parent
        runtime.cap = cap
        parent_runtime.children.append(event)
        parent_runtime.open_children += 1
        frame.result.event_children.append(event)

    # -- history --------------------------------------------------------------

    @property
    def event_history(self) -> Mapping[str, BaseEvent[Any]]:
        """Events emitted to this bus, by id, in emit order (read-only)."""
        return types.MappingProxyType(self._core.history.events)

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
        found = self._core.history.past_matches(predicate, self.id, past, 1)
        if found or future is False:
            await trio.lowlevel.checkpoint()
            return found[0] if found else None
        arrived = await self._core.history.future_matches(predicate, future, 1)
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
        found = self._core.history.past_matches(predicate, self.id, past, limit)
        wanted = None if limit is None else limit - len(found)
        if future is False or wanted == 0:
            await trio.lowlevel.checkpoint()
            return found
        return found + await self._core.history.future_matches(
            predicate, future, wanted
        )

    def _predicate(
        self,
        event_pattern: type[BaseEvent[Any]] | str,
        where: Callable[[Any], bool] | None,
        child_of: BaseEvent[Any] | None,
        filters: Mapping[str, object],
    ) -> Callable[[BaseEvent[Any]], bool]:
        return make_predicate(
            _pattern_key(event_pattern),
            where,
            child_of,
            filters,
            self.event_is_child_of,
        )

    # -- lifecycle ------------------------------------------------------------

    async def run(
        self, *, task_status: trio.TaskStatus[EventBus] = trio.TASK_STATUS_IGNORED
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
                nursery.start_soon(self._core.serial_loop)
                nursery.start_soon(self._core.slow.run)
                logger.debug("%s: running", self.label)
                task_status.started(self)
                await self._close_requested.wait()
                self._state = _CLOSING
                await self._wait_idle()
                nursery.cancel_scope.cancel("bus closed")
        finally:
            self._state = _CLOSED
            self._core.abandon()
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
            # Closing the nursery is how the failure propagates: not a
            # cleanup to shield.
            await manager.__aexit__(  # noqa: ASYNC102
                type(exc), exc, exc.__traceback__
            )
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
            # Kept and handed to the nursery below, which re-raises it.
            except BaseException as close_error:  # noqa: ASYNC103
                own_error = close_error
                exc_type, exc, tb = (
                    type(close_error),
                    close_error,
                    close_error.__traceback__,
                )
        if exc is not None and self._run_scope is not None:
            self._run_scope.cancel("the 'async with' block of the bus raised")
        try:
            # The hidden nursery must stay cancellable: no shield here.
            suppressed = bool(
                await manager.__aexit__(exc_type, exc, tb)  # noqa: ASYNC102
            )
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
        core = self._core
        if core.idle:
            await trio.lowlevel.checkpoint()
            return
        await core.idle_lot.park()
        while not core.idle:
            await core.idle_lot.park()

    def statistics(self) -> BusStatistics:
        """A frozen snapshot of queue depth, work done and history."""
        core = self._core
        return BusStatistics(
            queued=core.queued,
            running=core.running,
            completed=core.completed,
            handlers=len(core.order),
            history_size=len(core.history.events),
            dropped=core.history.dropped,
            refused=core.refused,
        )

    # -- lineage helpers ------------------------------------------------------

    def event_is_child_of(
        self, event: BaseEvent[Any], ancestor: BaseEvent[Any]
    ) -> bool:
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
        # The runtime's parent link works across buses; history covers
        # events loaded from JSON, which have no runtime.
        runtime: EventRuntime | None = runtime_of(near)
        parent = None if runtime is None else runtime.parent
        if parent is not None and parent.event_id == event_id:
            return parent
        return self._core.history.events.get(event_id)


def _is_event_class(value: object) -> bool:
    return isinstance(value, type) and issubclass(value, BaseEvent)


def _pattern_key(pattern: object) -> str:
    if isinstance(pattern, str):
        if not pattern:
            raise ValueError("event pattern must not be empty")
        return pattern
    if _is_event_class(pattern):
        default: object = attrs.fields_dict(cast(type, pattern))["event_type"].default
        return str(default)
    raise TypeError(
        f"event pattern must be an event class, an event_type string or '*',"
        f" got {pattern!r}"
    )


def _is_new_child(event: BaseEvent[Any], parent: BaseEvent[Any]) -> bool:
    if event is parent:
        return False
    return event.event_parent_id is None or event.event_parent_id == parent.event_id


def _leaves(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    leaves: list[BaseException] = []
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            leaves.extend(_leaves(exc))  # pyright: ignore[reportUnknownArgumentType]
        else:
            leaves.append(exc)
    return leaves


__all__ = ["BusStatistics", "EventBus"]
