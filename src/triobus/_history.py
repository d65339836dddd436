"""Per-bus event history, its bounds, and ``find``/``filter`` matching.

History keeps emitted events in emit order. With a size bound and dropping
on (the default), the oldest *completed* events go first; in-flight events
are never dropped. Without dropping, the bound counts unfinished events and
the bus refuses emits past it. Completed events never cause a refusal.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import attrs
import trio

from ._enums import EventStatus
from ._event import BaseEvent, runtime_of

Predicate = Callable[[BaseEvent[Any]], bool]


@attrs.define(eq=False)
class _Waiter:
    """A ``find``/``filter`` call waiting for future matches."""

    matches: Predicate
    limit: int | None
    found: list[BaseEvent[Any]] = attrs.field(factory=lambda: list[BaseEvent[Any]]())
    wakeup: trio.Event = attrs.field(factory=trio.Event)

    @property
    def satisfied(self) -> bool:
        return self.limit is not None and len(self.found) >= self.limit


class History:
    """The events one bus has seen, bounded as the bus was configured."""

    def __init__(self, max_size: int | None, drop: bool) -> None:
        self.max_size = max_size
        self.drop = drop
        self.events: OrderedDict[str, BaseEvent[Any]] = OrderedDict()
        self.unfinished = 0
        self.dropped = 0
        self._waiters: list[_Waiter] = []

    def full(self) -> bool:
        """True when, without dropping, one more unfinished event is too many."""
        limit = self.max_size
        return not self.drop and limit is not None and self.unfinished >= limit

    def add(self, event: BaseEvent[Any]) -> None:
        """Record a newly emitted event and wake future waiters it matches."""
        self.events[event.event_id] = event
        self.unfinished += 1
        self._trim()
        if self._waiters:
            for waiter in list(self._waiters):
                if waiter.matches(event):
                    waiter.found.append(event)
                    if waiter.satisfied:
                        waiter.wakeup.set()

    def completed(self, event: BaseEvent[Any]) -> None:
        """An event in this history completed: it may now be dropped."""
        if self.events.get(event.event_id) is event:
            self.unfinished -= 1
            self._trim()

    def _trim(self) -> None:
        limit = self.max_size
        events = self.events
        if limit is None or len(events) <= limit:
            return
        droppable = len(events) - self.unfinished
        excess = min(len(events) - limit, droppable)
        if excess <= 0:
            return  # everything held is in flight: nothing may go
        # Scan from the oldest entry; only in-flight events in front of the
        # droppable ones are passed over, so the cost follows the number of
        # in-flight events, not the size of the history.
        doomed: list[str] = []
        for event_id, event in events.items():
            if event.event_status is EventStatus.COMPLETED:
                doomed.append(event_id)
                if len(doomed) >= excess:
                    break
        for event_id in doomed:
            del events[event_id]
        self.dropped += len(doomed)

    # -- find / filter --------------------------------------------------------

    def newest_first(self) -> Iterator[BaseEvent[Any]]:
        return reversed(self.events.values())

    def past_matches(
        self,
        matches: Predicate,
        bus_id: str,
        past: bool | float,
        limit: int | None,
    ) -> list[BaseEvent[Any]]:
        """Matches among events already emitted, newest first."""
        if past is False or limit == 0:
            return []
        since = -math.inf
        if past is not True:
            since = trio.current_time() - float(past)
        found: list[BaseEvent[Any]] = []
        for event in self.newest_first():
            if since > -math.inf:
                runtime = runtime_of(event)
                run = None if runtime is None else runtime.runs.get(bus_id)
                if run is None or run.queued_at < since:
                    break  # emit order: everything older is older still
            if matches(event):
                found.append(event)
                if limit is not None and len(found) >= limit:
                    break
        return found

    async def future_matches(
        self, matches: Predicate, future: bool | float, limit: int | None
    ) -> list[BaseEvent[Any]]:
        """Wait for matching emits: the first one, or up to ``limit`` of them.

        ``future=True`` waits without end; a number waits that many seconds
        and returns what arrived by then.
        """
        waiter = _Waiter(matches, limit)
        self._waiters.append(waiter)
        try:
            if future is True:
                await waiter.wakeup.wait()
            else:
                with trio.move_on_after(float(future)):
                    await waiter.wakeup.wait()
        finally:
            self._waiters.remove(waiter)
        return waiter.found


def make_predicate(
    event_type: str,
    where: Callable[[Any], bool] | None,
    child_of: BaseEvent[Any] | None,
    filters: Mapping[str, object],
    is_descendant: Callable[[BaseEvent[Any], BaseEvent[Any]], bool],
) -> Predicate:
    """Combine the pattern, ``where``, ``child_of`` and keyword filters."""
    missing = object()

    def matches(event: BaseEvent[Any]) -> bool:
        if event_type != "*" and event.event_type != event_type:
            return False
        for name, expected in filters.items():
            if getattr(event, name, missing) != expected:
                return False
        if child_of is not None and not is_descendant(event, child_of):
            return False
        return where is None or bool(where(event))

    return matches
