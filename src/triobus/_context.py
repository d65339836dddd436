"""The context variable that tells code which handler it is running inside."""

from __future__ import annotations

import contextvars
from typing import TYPE_CHECKING, Any

from ._runtime import HandlerFrame

if TYPE_CHECKING:
    from ._bus import EventBus
    from ._event import BaseEvent

#: Set inside the context each handler call runs in (never in the emitter's).
current_frame_var: contextvars.ContextVar[HandlerFrame | None] = contextvars.ContextVar(
    "triobus_handler_frame", default=None
)


def active_frame() -> HandlerFrame | None:
    """The handler call the caller is inside of, if it is still running.

    A task that a handler started in some outer nursery inherits the frame
    but may outlive the call; once the call's result is final it no longer
    counts as being inside the handler.
    """
    frame = current_frame_var.get()
    if frame is None or frame.result.is_final:
        return None
    return frame


def bus_processing(event: BaseEvent[Any]) -> EventBus:
    """The bus processing ``event`` in the current handler, or RuntimeError."""
    frame = current_frame_var.get()
    while frame is not None:
        if frame.event is event:
            return frame.bus
        frame = frame.parent
    raise RuntimeError(
        f"{event.label}.bus is only available inside a handler of that event;"
        " outside handlers, call emit on the bus you mean"
    )
