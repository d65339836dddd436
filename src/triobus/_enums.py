"""The string enumerations that name statuses and scheduling modes."""

from __future__ import annotations

from enum import StrEnum
from typing import TypeVar

M = TypeVar("M", bound="StrEnum")


class EventStatus(StrEnum):
    """Where an event is in its lifecycle; it only ever moves forwards."""

    PENDING = "pending"
    STARTED = "started"
    COMPLETED = "completed"


class EventResultStatus(StrEnum):
    """Where one handler's result is; ``completed`` and ``error`` are final."""

    PENDING = "pending"
    STARTED = "started"
    COMPLETED = "completed"
    ERROR = "error"


class EventConcurrency(StrEnum):
    """How many events a bus processes at once.

    ``global-serial`` allows one event across every bus of the same
    ``trio.run``; ``bus-serial`` one per bus; ``parallel`` starts each event
    as soon as it is emitted.
    """

    GLOBAL_SERIAL = "global-serial"
    BUS_SERIAL = "bus-serial"
    PARALLEL = "parallel"


class HandlerConcurrency(StrEnum):
    """Whether the handlers of one event run one after another or together."""

    SERIAL = "serial"
    PARALLEL = "parallel"


class HandlerCompletion(StrEnum):
    """When an event's handler phase is over.

    ``all`` waits for every handler; ``first`` stops at the first handler
    result that is not None, not an error and not an event.
    """

    ALL = "all"
    FIRST = "first"


def parse_mode(enum: type[M], value: object, option: str) -> M:
    """Turn a mode given as a member or plain string into the member.

    Raises:
        ValueError: ``value`` is not one of the mode's values; the message
            lists the allowed ones.
    """
    if isinstance(value, str):
        try:
            return enum(value)
        except ValueError:
            pass
    allowed = ", ".join(repr(m.value) for m in enum)
    raise ValueError(f"{option} must be one of {allowed}, got {value!r}")
