"""Processing one event on one bus: handlers, policies, budgets, outcomes.

``process_run`` is the whole of it: it resolves the event's options on the
processing bus, opens the event's cancel scope (the event budget), runs the
handlers serially or in a nursery of their own, applies the completion
policy, and settles every result, also when it is itself cancelled. No
result is ever left ``pending`` or ``started`` once the run is over.
"""

from __future__ import annotations

import contextvars
import inspect
import logging
import math
import types
from collections.abc import Awaitable, Generator
from typing import TYPE_CHECKING, Any

import attrs
import trio

from ._context import current_frame_var
from ._enums import (
    EventConcurrency,
    EventStatus,
    HandlerCompletion,
    HandlerConcurrency,
)
from ._errors import (
    EventHandlerAbortedError,
    EventHandlerCancelledError,
    EventHandlerTimeoutError,
)
from ._event import BaseEvent, runtime_of
from ._results import EventResult, mark_completed, mark_failed, mark_started
from ._runtime import BusRun, EventRuntime, HandlerFrame, finish_run
from ._serialization import validate_result
from ._util import utc_now

if TYPE_CHECKING:
    from ._bus import EventBus
    from ._handlers import EventHandler

logger = logging.getLogger("triobus.bus")


def event_concurrency(event: BaseEvent[Any], bus: EventBus) -> EventConcurrency:
    """The event's concurrency mode on ``bus``: its own, else the bus's."""
    mode = event.event_concurrency
    return bus.event_concurrency if mode is None else EventConcurrency(mode)


def _budget(value: float | None) -> float | None:
    """None and 0 both mean "no budget"."""
    return value if value else None


def is_event(value: object) -> bool:
    """Whether ``value`` is an event (without narrowing its type)."""
    return isinstance(value, BaseEvent)


def is_valid_value(value: object) -> bool:
    """A result counts as a value: not None and not an event."""
    return value is not None and not isinstance(value, BaseEvent)


@attrs.define(eq=False)
class _Pass:
    """One processing pass of an event on a bus: what its handlers share."""

    bus: EventBus
    run: BusRun
    runtime: EventRuntime
    completion: HandlerCompletion
    deadline: float
    budget: float | None
    outer: HandlerFrame | None
    held: frozenset[str]
    holds_global: bool
    #: Whether the parent's deadline, not the event's own budget, binds.
    capped: bool = False
    winner: EventResult[Any] | None = None
    nursery_scope: trio.CancelScope | None = None


# Sync handlers never yield, so processing need not checkpoint; its callers
# do (the serial loop after each event, awaiters at the end of their wait).
async def process_run(  # noqa: ASYNC910
    bus: EventBus, run: BusRun, outer: HandlerFrame | None
) -> None:
    """Process ``run.event`` on ``bus``; ``outer`` is set for a queue-jump.

    The caller has checked that the run is still queued and, for serial
    modes, holds the slot; this claims the run before its first checkpoint so
    nobody else can process it.
    """
    event = run.event
    runtime: EventRuntime = runtime_of(event)
    run.core.claim(run)
    mode = event_concurrency(event, bus)
    if event.event_status is EventStatus.PENDING:
        event.event_status = EventStatus.STARTED
        event.event_started_at = utc_now()

    handlers = run.core.handlers_for(event.event_type)
    results = [_pending_result(event, bus, handler) for handler in handlers]

    budget = _budget(event.event_timeout)
    if event.event_timeout is None:
        budget = _budget(bus.event_timeout)
    now = trio.current_time()
    deadline = now + budget if budget is not None else math.inf
    capped = runtime.cap < deadline
    if capped:
        # Only a budget the event asked for itself is worth a warning; the
        # bus default routinely outlasts what a nested parent has left.
        if event.event_timeout and runtime.cap < math.inf:
            logger.warning(
                "%s on %s: its budget (%s) reaches past what its parent has left"
                " (%.3fs); the parent's deadline applies",
                event.label,
                bus.label,
                "none" if budget is None else f"{budget}s",
                max(runtime.cap - now, 0.0),
            )
        deadline = runtime.cap

    # Slots this processing may use for its own awaited children: those of
    # the frame it runs inline in, or those lent by a handler in another
    # task that is blocked awaiting it (see _awaiting).
    lender = outer if outer is not None else run.borrowed
    held = lender.held if lender is not None else frozenset[str]()
    holds_global = lender.holds_global if lender is not None else False
    if mode is not EventConcurrency.PARALLEL:
        held = run.core.own_slot if not held else held | run.core.own_slot
    if mode is EventConcurrency.GLOBAL_SERIAL:
        holds_global = True
    completion = event.event_handler_completion
    completion = (
        bus.event_handler_completion
        if completion is None
        else HandlerCompletion(completion)
    )
    concurrency = event.event_handler_concurrency
    concurrency = (
        bus.event_handler_concurrency
        if concurrency is None
        else HandlerConcurrency(concurrency)
    )
    state = _Pass(
        bus=bus,
        run=run,
        runtime=runtime,
        completion=completion,
        deadline=deadline,
        budget=budget,
        outer=outer,
        held=held,
        holds_global=holds_global,
        capped=capped,
    )
    slow = event.event_slow_timeout
    if slow is None:
        slow = bus.event_slow_timeout
    watch = run.core.slow.watch(slow, "slow event: %s on %s", event.label, bus.label)
    reason = "it was cancelled from outside (bus closing or its awaiter cancelled)"
    try:
        with trio.CancelScope(deadline=deadline) as scope:  # noqa: ASYNC912
            if concurrency is HandlerConcurrency.SERIAL or len(handlers) < 2:
                for handler, result in zip(handlers, results, strict=True):
                    if state.winner is not None:
                        break
                    await _run_handler(state, handler, result)
            else:
                async with trio.open_nursery() as nursery:
                    state.nursery_scope = nursery.cancel_scope
                    for handler, result in zip(handlers, results, strict=True):
                        nursery.start_soon(_run_handler, state, handler, result)
        if scope.cancelled_caught:
            reason = f"the event budget of {_budget_text(state)} expired"
        else:
            reason = "another handler's result won (completion 'first')"
    finally:
        _settle(state, results, reason)
        run.core.slow.finish(watch)
        run.core.release(run)
        finish_run(run)


def _budget_text(state: _Pass) -> str:
    if state.capped:
        return "its parent's remaining time"
    return f"{state.budget}s"


def _pending_result(
    event: BaseEvent[Any], bus: EventBus, handler: EventHandler
) -> EventResult[Any]:
    existing = event.event_results.get(handler.id)
    if existing is not None and not existing.is_final:
        return existing  # seeded with event_result_update
    return new_result(event, bus, handler)


def new_result(
    event: BaseEvent[Any], bus: EventBus, handler: EventHandler
) -> EventResult[Any]:
    """A pending result for ``handler`` on ``bus``, stored on the event."""
    result: EventResult[Any] = EventResult(
        event_id=event.event_id,
        handler_id=handler.id,
        handler_name=handler.handler_name,
        eventbus_id=bus.id,
        eventbus_name=bus.name,
        timeout=handler.handler_timeout,
        result_type=event.event_result_type,
    )
    event.event_results[handler.id] = result
    return result


def _settle(state: _Pass, results: list[EventResult[Any]], reason: str) -> None:
    """End every result the pass left open, naming why."""
    event = state.run.event
    first_won = state.winner is not None
    for result in results:
        if result.is_final:
            continue
        if result.started_at is None:
            error: Exception = EventHandlerCancelledError(
                f"handler {result.label} for {event.label} never started: {reason}"
            )
        else:
            error = EventHandlerAbortedError(
                f"handler {result.label} for {event.label} was interrupted: {reason}"
            )
        if first_won:
            mark_first_loser(error)
        mark_failed(result, error)


def mark_first_loser(error: BaseException) -> None:
    """Tag an error as "lost to a ``first`` winner": not a failure."""
    error.__dict__["_triobus_first_loser"] = True


def is_first_loser(error: BaseException) -> bool:
    """Whether an error only records that another handler won."""
    return bool(error.__dict__.get("_triobus_first_loser"))


async def _run_handler(  # noqa: ASYNC910 - sync handlers run inline
    state: _Pass, handler: EventHandler, result: EventResult[Any]
) -> None:
    """Call one handler inside its own budget and record what it did."""
    if result.is_final:
        await trio.lowlevel.checkpoint()
        return
    if state.deadline <= trio.current_time():
        # The event's time ran out before this handler's turn (for example a
        # child whose inherited deadline passed while it was queued): it
        # never starts. The checkpoint delivers the cancellation.
        await trio.lowlevel.checkpoint()
        return
    bus, event = state.bus, state.run.event
    own = _budget(handler.handler_timeout)
    if own is None and handler.handler_timeout is None:
        own = _budget(event.event_handler_timeout)
    start = trio.current_time()
    own_deadline = start + own if own is not None else math.inf
    # A budget that reaches past the event's is left to the event scope, so
    # the handler is then "aborted", not "timed out" (spec section 6).
    scoped = own_deadline < state.deadline
    result.timeout = own if own is not None else state.budget
    mark_started(result)

    frame = HandlerFrame(
        bus=bus,
        event=event,
        handler=handler,
        result=result,
        parent=state.outer,
        held=state.held,
        holds_global=state.holds_global,
    )
    context = state.runtime.context.copy()
    context.run(current_frame_var.set, frame)
    slow = handler.handler_slow_timeout
    if slow is None:
        slow = event.event_handler_slow_timeout
    if slow is None:
        slow = bus.event_handler_slow_timeout
    watch = state.run.core.slow.watch(
        slow, "slow handler: %s for %s on %s", handler.label, event.label, bus.label
    )
    value: object = None
    error: Exception | None = None
    try:
        # A handler that swallowed its cancellation and returned is cut off
        # at the checkpoint after the call: what it returned is late.
        if scoped:
            with trio.CancelScope(deadline=own_deadline) as scope:
                value, error = await _guarded_call(handler, event, context)
                await trio.lowlevel.checkpoint_if_cancelled()
            timed_out = scope.cancel_called
        else:
            value, error = await _guarded_call(handler, event, context)
            await trio.lowlevel.checkpoint_if_cancelled()
            timed_out = False
    except BaseException:
        # Cancelled from outside the handler (event budget, ``first`` winner,
        # bus closing, the awaiting task), or KeyboardInterrupt/SystemExit.
        if not result.is_final:
            _abort(state, result, _outer_reason(state))
        raise
    finally:
        state.run.core.slow.finish(watch)

    _record(state, handler, result, timed_out, own, value, error)


async def _guarded_call(
    handler: EventHandler, event: BaseEvent[Any], context: contextvars.Context
) -> tuple[object, Exception | None]:
    """Call the handler; return its value, or the Exception it raised."""
    try:
        return await _call(handler, event, context), None
    except Exception as exc:
        # A sync handler may fail without ever reaching a checkpoint.
        return None, exc  # noqa: ASYNC910
    except BaseExceptionGroup as group:
        # Cancellation (or KeyboardInterrupt, SystemExit, any other
        # BaseException) mixed with ordinary errors: the former goes on up;
        # the errors are only worth a debug line now. A group of Exceptions
        # alone was caught above.
        rest, fatal = group.split(Exception)
        if rest is not None:
            logger.debug("%s raised while cancelled: %r", handler.label, rest)
        assert fatal is not None  # a BaseExceptionGroup holds one
        raise fatal from None


def _record(
    state: _Pass,
    handler: EventHandler,
    result: EventResult[Any],
    timed_out: bool,
    own: float | None,
    value: object,
    error: Exception | None,
) -> None:
    """Turn what a handler call did into its final result."""
    event = state.run.event
    if result.is_final:
        return
    if timed_out:
        error = EventHandlerTimeoutError(
            f"handler {handler.label} for {event.label} timed out after {own}s"
        )
    elif state.winner is not None:
        _abort(state, result, "another handler's result won (completion 'first')")
        return
    if error is not None:
        logger.debug("handler %s for %s raised %r", handler.label, event.label, error)
        mark_failed(result, error)
        return
    try:
        value = validate_result(event.event_result_type, value, handler.label)
    except Exception as exc:
        mark_failed(result, exc)
        return
    mark_completed(result, value)
    if state.completion is HandlerCompletion.FIRST and is_valid_value(value):
        state.winner = result
        if state.nursery_scope is not None:
            state.nursery_scope.cancel("a handler result won (completion 'first')")


def _outer_reason(state: _Pass) -> str:
    if state.winner is not None:
        return "another handler's result won (completion 'first')"
    if trio.current_time() >= state.deadline:
        return f"the event budget of {_budget_text(state)} expired"
    return "it was cancelled from outside (bus closing or its awaiter cancelled)"


def _abort(state: _Pass, result: EventResult[Any], reason: str) -> None:
    error = EventHandlerAbortedError(
        f"handler {result.label} for {state.run.event.label} was interrupted: {reason}"
    )
    if state.winner is not None:
        mark_first_loser(error)
    mark_failed(result, error)


async def _call(
    handler: EventHandler, event: BaseEvent[Any], context: contextvars.Context
) -> object:
    """Call a handler in its own context copy; await what it returns."""
    if handler.run_in_thread:
        # Abandoning on cancel lets budgets cut the call off; the thread
        # itself cannot be stopped and finishes on its own (see the docs).

        def call() -> object:
            return context.run(handler.handler, event)

        return await trio.to_thread.run_sync(
            call, abandon_on_cancel=True, limiter=handler.thread_limiter
        )
    if handler.is_async:
        coro: Any = context.run(handler.handler, event)
        return await _in_context(context, coro.__await__())
    value: object = context.run(handler.handler, event)
    # A returned event (what a forwarder such as ``other_bus.emit`` returns)
    # is a result, not something to wait for.
    if is_event(value) or not inspect.isawaitable(value):
        return value  # noqa: ASYNC910 - a sync handler ran inline
    awaitable: Awaitable[object] = value
    return await _in_context(context, awaitable.__await__())


@types.coroutine
def _in_context(
    context: contextvars.Context, inner: Generator[Any, Any, Any]
) -> Generator[Any, Any, Any]:
    """Drive a coroutine with every step run inside ``context``.

    Trio runs a task's coroutine in the task's context; a handler must see
    the context of the code that emitted its event instead, and its changes
    must not leak into the bus task. Stepping the handler's coroutine through
    ``context.run`` does that without a task per handler.
    """
    send_value: Any = None
    error: BaseException | None = None
    while True:
        try:
            if error is None:
                yielded = context.run(inner.send, send_value)
            else:
                pending, error = error, None
                yielded = context.run(inner.throw, pending)
        except StopIteration as stop:
            return stop.value
        try:
            send_value = yield yielded
        except GeneratorExit:
            context.run(inner.close)
            raise
        except BaseException as exc:  # noqa: ASYNC103 - thrown into the handler
            error = exc
            send_value = None
