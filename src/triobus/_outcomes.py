"""Reading results back: the accessors' filtering and error raising."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from ._event import BaseEvent
from ._processing import is_first_loser, is_valid_value
from ._results import EventResult

T = TypeVar("T")


def collect_results(
    event: BaseEvent[T],
    include: Callable[[T | None, EventResult[T]], bool] | None,
    raise_if_any: bool,
    raise_if_none: bool,
) -> list[T | None]:
    """Valid values of a completed event, raising as the flags ask.

    Args:
        event: A completed event.
        include: Replaces the validity test when given.
        raise_if_any: Raise the handler error (or a group of them).
        raise_if_none: Raise ValueError when no value is valid.

    Returns:
        The valid values, in handler registration order.
    """
    values: list[T | None] = []
    errors: list[tuple[EventResult[T], BaseException]] = []
    for result in event.event_results.values():
        error = result.error
        if error is not None:
            if not is_first_loser(error):
                errors.append((result, error))
            if include is None:
                continue
        if include is not None:
            if include(result.result, result):
                values.append(result.result)
        elif result.is_final and is_valid_value(result.result):
            values.append(result.result)

    if raise_if_any and errors:
        if len(errors) == 1:
            raise errors[0][1]
        members: list[Exception] = []
        for result, error in errors:
            note = f"raised by handler {result.label} on {result.eventbus_name}"
            if note not in getattr(error, "__notes__", ()):
                error.add_note(note)
            members.append(
                error if isinstance(error, Exception) else RuntimeError(repr(error))
            )
        raise ExceptionGroup(f"{len(errors)} handlers of {event.label} failed", members)
    if raise_if_none and not values:
        raise ValueError(f"no handler of {event.label} returned a valid result")
    return values


__all__ = ["collect_results"]
