"""Slow-work warnings: one watcher task per bus, no polling.

Every handler call and event processing registers its start with a slow
threshold. Registrations with the same threshold arrive in start order, so
each threshold keeps a FIFO queue whose head expires first; the watcher
sleeps until the earliest head and logs a WARNING for work still running
then. Finished work leaves its queue as soon as it reaches the head, so the
queues hold only the window of work in flight. A warning never cancels
anything.
"""

from __future__ import annotations

import logging
import math
from collections import deque

import attrs
import trio

logger = logging.getLogger("triobus.bus")


@attrs.define(eq=False)
class SlowWatch:
    """One registration; the message is only formatted if it fires."""

    when: float
    threshold: float
    started: float
    template: str
    args: tuple[object, ...]
    done: bool = False


class SlowWatcher:
    """Logs once for each registration whose work outlives its threshold."""

    def __init__(self) -> None:
        self._queues: dict[float, deque[SlowWatch]] = {}
        self._scope: trio.CancelScope | None = None

    def watch(
        self, threshold: float | None, template: str, *args: object
    ) -> SlowWatch | None:
        """Register work that starts now; None when there is no threshold.

        Args:
            threshold: Seconds after which the work counts as slow.
            template: A ``%``-style message; the elapsed seconds are
                appended as a last ``%.3f`` argument.
            *args: The message's arguments.
        """
        if not threshold:
            return None
        now = trio.current_time()
        item = SlowWatch(now + threshold, threshold, now, template, args)
        queue = self._queues.get(threshold)
        if queue is None:
            queue = self._queues[threshold] = deque()
        queue.append(item)
        scope = self._scope
        if len(queue) == 1 and scope is not None and item.when < scope.deadline:
            scope.deadline = item.when
        return item

    def finish(self, item: SlowWatch | None) -> None:
        """Mark watched work as ended."""
        if item is None:
            return
        item.done = True
        queue = self._queues[item.threshold]
        while queue and queue[0].done:
            queue.popleft()

    async def run(self) -> None:
        """The watcher loop; runs in the bus's nursery until it is cancelled."""
        while True:
            heads = [queue[0].when for queue in self._queues.values() if queue]
            with trio.CancelScope(deadline=min(heads, default=math.inf)) as scope:
                self._scope = scope
                await trio.sleep_forever()
            self._scope = None
            now = trio.current_time()
            for queue in self._queues.values():
                while queue and (queue[0].done or queue[0].when <= now):
                    item = queue.popleft()
                    if not item.done:
                        item.done = True
                        elapsed = now - item.started
                        logger.warning(
                            item.template + " still running after %.3fs",
                            *item.args,
                            elapsed,
                        )
