"""The two ways to wait for an event: immediate (queue-jump) and queue order.

``await event`` inside a handler processes the event at once, in the
awaiting handler's task, on every bus whose serial slot that task already
holds; holding the slot is what makes this safe from deadlock at any depth.
On other buses the event moves to the front of the queue. The event's
queued descendants are part of it (an event is a nursery of its children),
so they are processed the same way before the wait for completion.

A handler that waits for an event queued on another bus lends it its slots,
so the awaited event's own handlers may queue-jump their children onto the
lender's buses. Without this, a parent on bus A awaiting a child on bus B
that awaits a grandchild on A would deadlock. The slots are still used by
one task at a time: the lender lends to one run at once, stays off the
slots while that run is processing, and takes back a loan that has not
started before processing anything inline itself.
"""

from __future__ import annotations

from collections import deque
from typing import Any, TypeVar

import trio

from ._context import active_frame
from ._enums import EventConcurrency
from ._event import BaseEvent, runtime_of
from ._processing import event_concurrency, process_run
from ._runtime import BusRun, EventRuntime, HandlerFrame, RunState

E = TypeVar("E", bound=BaseEvent[Any])


def _runtime(event: BaseEvent[Any]) -> EventRuntime:
    runtime: EventRuntime | None = runtime_of(event)
    if runtime is None:
        raise RuntimeError(
            f"{event.label} was never emitted: call bus.emit(event) before awaiting it"
        )
    return runtime


def _check_not_own_ancestor(event: BaseEvent[Any], frame: HandlerFrame) -> None:
    for outer in frame.chain():
        if outer.event is event:
            raise RuntimeError(
                f"handler {outer.handler.label} awaited {event.label}, which cannot"
                " complete before that handler returns"
            )


def _holds_slot(frame: HandlerFrame, run: BusRun) -> bool:
    mode = event_concurrency(run.event, run.bus)
    if mode is EventConcurrency.PARALLEL:
        return True
    if mode is EventConcurrency.GLOBAL_SERIAL:
        return frame.holds_global
    return run.bus.id in frame.held


def _queued_runs(event: BaseEvent[Any]) -> list[BusRun]:
    """Queued runs of ``event`` and its linked descendants, parents first."""
    runtime: EventRuntime = runtime_of(event)
    if not runtime.children:  # the common case: no descendants to walk
        return [r for r in runtime.runs.values() if r.state is RunState.QUEUED]
    found: list[BusRun] = []
    pending = deque([event])
    while pending:
        current = pending.popleft()
        runtime = runtime_of(current)
        if runtime.done.is_set():
            continue
        found.extend(r for r in runtime.runs.values() if r.state is RunState.QUEUED)
        pending.extend(c for c in runtime.children if c.event_blocks_parent_completion)
    return found


async def wait_immediate(event: E) -> E:
    """``await event``: process it now if possible, then wait for completion."""
    runtime = _runtime(event)
    frame = active_frame()
    if frame is None:
        if not runtime.done.is_set():
            for run in list(runtime.runs.values()):
                run.core.move_to_front(run)
        await runtime.done.wait()
        return event

    _check_not_own_ancestor(event, frame)
    try:
        while not runtime.done.is_set():
            if await _advance(event, frame):
                continue
            # Nothing to do inline now; sleep until the event completes, or
            # it or a descendant gets a new run or finishes one.
            if runtime.watchers is None:
                runtime.watchers = trio.lowlevel.ParkingLot()
            await runtime.watchers.park()
    finally:
        _revoke_loan(frame)
    await trio.lowlevel.checkpoint()
    return event


def _revoke_loan(frame: HandlerFrame) -> None:
    """Take back a loan the borrower has not started using."""
    loan = frame.loan
    if loan is not None and loan.state is RunState.QUEUED:
        loan.borrowed = None
        frame.loan = None


async def _advance(event: BaseEvent[Any], frame: HandlerFrame) -> bool:
    """Process inline what this task may; send the rest to the queue front.

    The frame's slots are used by one task at a time: while a run it lent
    them to is running, this task leaves them alone; before using them
    itself, it takes back a loan that has not started.

    Returns:
        Whether anything was processed, so the caller should look again.
    """
    loan = frame.loan
    if loan is not None:
        if loan.state is RunState.RUNNING:
            return False  # noqa: ASYNC910 - the borrower holds the slots now
        if loan.state is RunState.DONE:
            frame.loan = None
    progressed = False
    for run in _queued_runs(event):
        if run.state is not RunState.QUEUED:
            continue  # processed meanwhile by an earlier run of this loop
        if _holds_slot(frame, run):
            _revoke_loan(frame)
            await process_run(run.bus, run, frame)
            progressed = True
            continue
        if frame.loan is None and run.borrowed is None:
            run.borrowed = frame
            frame.loan = run
        run.core.move_to_front(run)
    # The caller loops and checkpoints; one pass may legitimately not yield.
    return progressed  # noqa: ASYNC910


async def wait_queue_order(event: E) -> E:
    """``await event.event_completed()``: wait without reordering anything."""
    runtime = _runtime(event)
    frame = active_frame()
    if frame is not None and not runtime.done.is_set():
        _check_not_own_ancestor(event, frame)
        for run in _queued_runs(event):
            serial = (
                event_concurrency(run.event, run.bus) is not EventConcurrency.PARALLEL
            )
            if serial and _holds_slot(frame, run):
                raise RuntimeError(
                    f"handler {frame.handler.label} waits in queue order for"
                    f" {event.label}, which is queued on {run.bus.label} behind"
                    " the handler's own event and cannot finish until the"
                    " handler returns; use 'await event' to process it now"
                )
    await runtime.done.wait()
    return event
