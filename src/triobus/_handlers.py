"""Handler registrations: the :class:`EventHandler` record."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

import attrs
import trio

from ._util import callable_name, new_id, utc_now

if TYPE_CHECKING:
    from ._event import BaseEvent

HandlerFunc = Callable[["BaseEvent[Any]"], object]
"""Anything a bus accepts as a handler: a callable taking the event."""


def _is_async_callable(fn: object) -> bool:
    """Tell whether calling ``fn`` returns a coroutine, seeing through wrappers."""
    while True:
        inner = getattr(fn, "func", None)  # functools.partial
        if inner is None or not callable(inner):
            break
        fn = inner
    if inspect.iscoroutinefunction(fn):
        return True
    call = getattr(type(fn), "__call__", None)  # noqa: B004 - a callable object
    return call is not None and inspect.iscoroutinefunction(call)


@attrs.frozen(eq=False)
class EventHandler:
    """One registration of a handler on a bus, as returned by ``bus.on``.

    Attributes:
        id: Unique per registration; registering the same callable twice gives
            two records with different ids.
        handler: The registered callable.
        handler_name: ``module.qualname`` of the callable.
        event_pattern: The ``event_type`` string it was registered for, or
            ``"*"``.
        handler_timeout: This registration's own budget in seconds, or None.
        handler_slow_timeout: Warn when one call runs longer than this.
        eventbus_name: Name of the bus it is registered on.
        eventbus_id: Id of that bus.
        registered_at: When it was registered (UTC).
        run_in_thread: Run this sync handler in a worker thread through
            ``trio.to_thread.run_sync`` instead of inline in the bus task.
        thread_limiter: The capacity limiter for those threads; None uses
            Trio's default limiter.
    """

    handler: HandlerFunc
    event_pattern: str
    eventbus_name: str
    eventbus_id: str
    handler_timeout: float | None = None
    handler_slow_timeout: float | None = None
    id: str = attrs.field(factory=new_id)
    handler_name: str = attrs.field(
        default=attrs.Factory(lambda self: callable_name(self.handler), takes_self=True)
    )
    registered_at: datetime = attrs.field(factory=utc_now)
    run_in_thread: bool = False
    thread_limiter: trio.CapacityLimiter | None = attrs.field(default=None, repr=False)
    is_async: bool = attrs.field(
        default=attrs.Factory(
            lambda self: _is_async_callable(self.handler), takes_self=True
        ),
        repr=False,
    )

    @property
    def label(self) -> str:
        """``handler_name#abcd``: the name used in logs and error messages."""
        return f"{self.handler_name}#{self.id[-4:]}"
