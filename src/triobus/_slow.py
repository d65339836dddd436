"""Slow-work warnings: one watcher task per bus, driven by a deadline heap.

Every handler call and event processing registers a deadline. The watcher
sleeps until the earliest one and logs a WARNING for work still running
then. Nothing is polled and nothing is cancelled: a warning is only a log
line. Finished work is removed lazily; the heap is rebuilt when dead entries
outnumber live ones, so its size follows the amount of running work.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import math
from collections.abc import Callable

import attrs
import trio

logger = logging.getLogger("triobus.bus")


@attrs.define(eq=False)
class SlowWatch:
    """A registration: ``done`` is set when the watched work ends."""

    started: float
    describe: Callable[[float], str]
    done: bool = False


class SlowWatcher:
    """Logs once for each registration whose work outlives its threshold."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, SlowWatch]] = []
        self._counter = itertools.count()
        self._dead = 0
        self._scope: trio.CancelScope | None = None

    def watch(
        self, threshold: float | None, describe: Callable[[float], str]
    ) -> SlowWatch | None:
        """Register work that started now; None when there is no threshold."""
        if not threshold:
            return None
        now = trio.current_time()
        item = SlowWatch(now, describe)
        when = now + threshold
        heapq.heappush(self._heap, (when, next(self._counter), item))
        scope = self._scope
        if scope is not None and when < scope.deadline:
            scope.deadline = when
        return item

    def finish(self, item: SlowWatch | None) -> None:
        """Mark watched work as ended."""
        if item is None or item.done:
            return
        item.done = True
        self._dead += 1
        if self._dead > 256 and self._dead * 2 > len(self._heap):
            self._heap = [entry for entry in self._heap if not entry[2].done]
            heapq.heapify(self._heap)
            self._dead = 0

    async def run(self) -> None:
        """The watcher loop; runs in the bus's nursery until it is cancelled."""
        while True:
            deadline = self._heap[0][0] if self._heap else math.inf
            with trio.CancelScope(deadline=deadline) as scope:
                self._scope = scope
                await trio.sleep_forever()
            self._scope = None
            now = trio.current_time()
            while self._heap and self._heap[0][0] <= now:
                _, _, item = heapq.heappop(self._heap)
                if item.done:
                    self._dead -= 1
                    continue
                item.done = True
                logger.warning("%s", item.describe(now - item.started))
