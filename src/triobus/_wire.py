"""The JSON shapes of the values inside an event, shared by the converter.

Strict scalar checks (JSON has no coercion: ``"5"`` is not an int),
timestamps as ISO 8601 in UTC, handler errors as ``{"type", "message"}``,
and short renderings of bad input for error messages.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TypeGuard, cast

from ._errors import (
    BusClosedError,
    BusNotRunningError,
    EventDecodeError,
    EventHandlerAbortedError,
    EventHandlerCancelledError,
    EventHandlerTimeoutError,
    EventResultTypeError,
    TriobusError,
)


class RemoteHandlerError(TriobusError):
    """A handler error loaded from JSON whose exception type is not known here.

    Attributes:
        type_name: The exception type name written by the process that ran
            the handler; it is written back out unchanged.
    """

    def __init__(self, type_name: str, message: str) -> None:
        super().__init__(message)
        self.type_name = type_name


# -- scalar hooks ---------------------------------------------------------------
#
# cattrs' default scalar hooks coerce (``str(5)``, ``int("5")``). Events and
# result types are validated, so these reject values of the wrong JSON type.


def structure_str(value: object, _: object) -> str:
    """A cattrs structure hook: the value if it is a string."""
    if isinstance(value, str):
        return value
    raise TypeError(f"expected a string, got {short_repr(value)}")


def structure_int(value: object, _: object) -> int:
    """A cattrs structure hook: the value if it is an int (not a bool)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise TypeError(f"expected an integer, got {short_repr(value)}")


def structure_float(value: object, _: object) -> float:
    """A cattrs structure hook: an int or float (not a bool), as a float."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    raise TypeError(f"expected a number, got {short_repr(value)}")


def structure_bool(value: object, _: object) -> bool:
    """A cattrs structure hook: the value if it is a bool."""
    if isinstance(value, bool):
        return value
    raise TypeError(f"expected a boolean, got {short_repr(value)}")


def structure_none(value: object, _: object) -> None:
    """A cattrs structure hook for ``None`` as a type: only null fits."""
    if value is not None:
        raise TypeError(f"expected null, got {short_repr(value)}")


def optional_str(value: object, key: str) -> str | None:
    """``value`` if it is a string or None; else EventDecodeError naming ``key``."""
    if value is None or isinstance(value, str):
        return value
    raise EventDecodeError(f"{key} must be a string or null, got {short_repr(value)}")


def describe(exc: BaseException, limit: int = 200) -> str:
    """An exception's message for an error message, cut to ``limit``."""
    text = str(exc) or type(exc).__name__
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


def short_repr(value: object, limit: int = 80) -> str:
    """``repr`` cut to ``limit`` characters: error messages quote bad input."""
    try:
        text = repr(value)
    except Exception:  # a repr nested too deeply, for instance
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


# -- timestamps -----------------------------------------------------------------


def format_datetime(value: datetime) -> str:
    """Write a datetime as ISO 8601 in UTC with a ``Z`` suffix.

    A naive datetime is taken to be in UTC already.
    """
    if value.tzinfo is not UTC:
        value = (
            value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        )
    return value.isoformat(timespec="microseconds").replace("+00:00", "Z")


def parse_datetime(value: object) -> datetime:
    """Read an ISO 8601 string (or datetime) into an aware UTC datetime.

    abxbus writes nanoseconds; they are cut to the microseconds a Python
    datetime holds.

    Raises:
        TypeError: ``value`` is neither a string nor a datetime.
        ValueError: ``value`` is not an ISO 8601 timestamp.
    """
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        parsed = datetime.fromisoformat(value)
    else:
        raise TypeError(f"expected an ISO 8601 timestamp, got {short_repr(value)}")
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    if parsed.tzinfo is UTC:
        return parsed
    return parsed.astimezone(UTC)


def optional_datetime(value: object) -> datetime | None:
    """:func:`parse_datetime`, letting None through."""
    return None if value is None else parse_datetime(value)


# -- errors on the wire -----------------------------------------------------------

_KNOWN_ERRORS: dict[str, type[Exception]] = {
    cls.__name__: cls
    for cls in (
        TriobusError,
        EventHandlerTimeoutError,
        EventHandlerCancelledError,
        EventHandlerAbortedError,
        EventResultTypeError,
        BusNotRunningError,
        BusClosedError,
        EventDecodeError,
    )
}


def error_to_json(error: BaseException) -> dict[str, str]:
    """The wire form of a handler error: its type name and message."""
    type_name = (
        error.type_name
        if isinstance(error, RemoteHandlerError)
        else type(error).__name__
    )
    return {"type": type_name, "message": str(error)}


def error_from_json(value: object) -> BaseException:
    """Rebuild a handler error: a real class where the name is known here.

    The rebuilt error always writes back the same type name and message; a
    class that cannot promise that (one whose constructor needs more than a
    message, or that changes the message, as ``KeyError`` quotes it) loads as
    a :class:`RemoteHandlerError` carrying the name.

    Raises:
        TypeError: ``value`` is not an error object or a string.
    """
    if isinstance(value, str):
        return RemoteHandlerError("Exception", value)
    if not isinstance(value, Mapping):
        raise TypeError(f"expected an error object, got {short_repr(value)}")
    raw = cast(Mapping[str, object], value)
    type_name = raw.get("type", "Exception")
    message = raw.get("message", "")
    if not isinstance(type_name, str) or not isinstance(message, str):
        raise TypeError(
            f"error type and message must be strings, got {short_repr(raw)}"
        )
    known: object = _KNOWN_ERRORS.get(type_name) or getattr(builtins, type_name, None)
    if isinstance(known, type) and issubclass(known, Exception):
        try:
            error = known(message)
        except Exception:  # a class whose constructor needs more than a message
            pass
        else:
            if str(error) == message:
                return error
    return RemoteHandlerError(type_name, message)


def str_list(value: object, key: str) -> list[str]:
    """A copy of ``value`` if it is a JSON array of strings."""
    if is_str_list(value):
        return value.copy()
    raise EventDecodeError(f"{key} must be a list of strings, got {short_repr(value)}")


def is_str_list(value: object) -> TypeGuard[list[str]]:
    """True for a list whose items are all strings."""
    return type(value) is list and all(
        isinstance(v, str) for v in cast(list[object], value)
    )


def decode_timestamp(value: object, key: str) -> datetime:
    """:func:`parse_datetime`, failing with EventDecodeError naming ``key``."""
    try:
        return parse_datetime(value)
    except (TypeError, ValueError) as exc:
        raise EventDecodeError(f"{key}: {exc}") from None


def copy_json(value: object) -> object:
    """A deep copy of a JSON value (dicts and lists; the rest is immutable)."""
    if isinstance(value, dict):
        return {k: copy_json(v) for k, v in cast(dict[str, object], value).items()}
    if isinstance(value, list):
        return [copy_json(v) for v in cast(list[object], value)]
    return value
