"""The library's exception hierarchy, rooted at :class:`TriobusError`."""

from __future__ import annotations

import trio


class TriobusError(Exception):
    """Root of every exception that triobus defines."""


class EventHandlerTimeoutError(TriobusError, TimeoutError):
    """A handler ran past its own budget and was cut off."""


class EventHandlerCancelledError(TriobusError):
    """A handler never started: the event ended first.

    This happens when the event budget expires, a ``first`` winner is found,
    the bus closes, or a queue-jumping parent is cancelled before the handler
    had its turn. It is an ordinary exception, never ``trio.Cancelled``.
    """


class EventHandlerAbortedError(TriobusError):
    """A handler was interrupted while it was running.

    The reasons are those of :class:`EventHandlerCancelledError`, but the
    handler had already started.
    """


class EventResultTypeError(TriobusError, TypeError):
    """A handler returned a value that does not fit ``event_result_type``."""


class BusNotRunningError(TriobusError, RuntimeError):
    """The bus was asked to emit before it was started."""


class BusClosedError(TriobusError, trio.ClosedResourceError):
    """The bus was asked to emit after it was closed."""


class EventDecodeError(TriobusError, ValueError):
    """Input could not be turned into an event.

    Raised by ``triobus.converter.loads`` and ``structure`` for malformed
    JSON, values of the wrong type, reserved or unknown ``event_*`` keys, and
    input nested too deeply. The original exception, when there is one, is
    the ``__cause__``.
    """
