"""JSON serialisation of events through a cattrs converter.

The wire shape is flat: built-in fields and payload fields side by side,
then ``event_results`` when there are any. It matches the event JSON of the
asyncio peer abxbus key for key, so events cross between the two. Keys that
abxbus writes and triobus has no field for are kept on load and written back
unchanged.
"""

from __future__ import annotations

import builtins
import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

import attrs
from cattrs.preconf.json import JsonConverter

from . import _errors
from ._enums import EventResultStatus, EventStatus
from ._errors import EventDecodeError, EventResultTypeError, TriobusError
from ._event import (
    BUILTIN_FIELDS,
    METADATA_FIELDS,
    RUNTIME_API_NAMES,
    BaseEvent,
    event_class_for,
    extra_payload,
    payload_fields,
    set_extra_payload,
)
from ._results import EventResult
from ._schema import schema_to_type, type_to_schema

E = TypeVar("E", bound=BaseEvent[Any])

#: Event-level keys abxbus writes that triobus has no field for.
PEER_EVENT_KEYS = frozenset({"event_ttl", "event_result_ttl"})
_RESULT_KEYS = (
    "id",
    "status",
    "event_id",
    "handler_id",
    "handler_name",
    "eventbus_id",
    "eventbus_name",
    "timeout",
    "started_at",
    "completed_at",
    "result",
    "error",
    "event_children",
)
_TIMESTAMP_FIELDS = ("event_created_at", "event_started_at", "event_completed_at")


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


def _structure_str(value: object, _: object) -> str:
    if isinstance(value, str):
        return value
    raise TypeError(f"expected a string, got {value!r}")


def _structure_int(value: object, _: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise TypeError(f"expected an integer, got {value!r}")


def _structure_float(value: object, _: object) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    raise TypeError(f"expected a number, got {value!r}")


def _structure_bool(value: object, _: object) -> bool:
    if isinstance(value, bool):
        return value
    raise TypeError(f"expected a boolean, got {value!r}")


def format_datetime(value: datetime) -> str:
    """Write a datetime as ISO 8601 in UTC with a ``Z`` suffix."""
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.isoformat().replace("+00:00", "Z")


def parse_datetime(value: object) -> datetime:
    """Read an ISO 8601 string (or datetime) into an aware UTC datetime."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        parsed = datetime.fromisoformat(value)
    else:
        raise TypeError(f"expected an ISO 8601 timestamp, got {value!r}")
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _optional_datetime(value: object) -> datetime | None:
    return None if value is None else parse_datetime(value)


# -- errors on the wire -----------------------------------------------------------


def error_to_json(error: BaseException) -> dict[str, str]:
    """The wire form of a handler error: its type name and message."""
    type_name = (
        error.type_name if isinstance(error, RemoteHandlerError) else type(error).__name__
    )
    return {"type": type_name, "message": str(error)}


def error_from_json(value: object) -> BaseException:
    """Rebuild a handler error: a real class where the name is known here."""
    if isinstance(value, str):
        return RemoteHandlerError("Exception", value)
    if not isinstance(value, Mapping):
        raise TypeError(f"expected an error object, got {value!r}")
    raw = cast(Mapping[str, object], value)
    type_name = raw.get("type", "Exception")
    message = raw.get("message", "")
    if not isinstance(type_name, str) or not isinstance(message, str):
        raise TypeError(f"error type and message must be strings, got {value!r}")
    known = getattr(_errors, type_name, None) or getattr(builtins, type_name, None)
    if (
        isinstance(known, type)
        and issubclass(known, Exception)
        and known is not RemoteHandlerError
    ):
        try:
            return known(message)
        except Exception:  # noqa: BLE001 - a class whose constructor needs more
            pass
    return RemoteHandlerError(type_name, message)


# -- result type validation ---------------------------------------------------------


def validate_result(result_type: object, value: object, handler_label: str) -> Any:
    """Check a handler's return value against the event's result type.

    Events (as returned by forwarders) and None are never validated. Values
    that already have the exact expected class pass through untouched;
    others are structured through the converter, so a dict becomes an attrs
    result class and an int a float.

    Args:
        result_type: The event's ``event_result_type``; None disables checks.
        value: What the handler returned.
        handler_label: Names the handler in the error message.

    Returns:
        The value, possibly converted.

    Raises:
        EventResultTypeError: The value cannot be structured to the type.
    """
    if result_type is None or value is None or isinstance(value, BaseEvent):
        return value
    if type(value) is result_type or result_type is Any or result_type is object:
        return value
    try:
        return converter.structure(value, result_type)
    except Exception as exc:  # noqa: BLE001 - any failure means "does not fit"
        error = EventResultTypeError(
            f"handler {handler_label} returned {value!r}, which is not a valid"
            f" {_type_name(result_type)}"
        )
        error.__cause__ = exc
        raise error from exc


def _type_name(tp: object) -> str:
    return tp.__name__ if isinstance(tp, type) else repr(tp)


# -- the converter ------------------------------------------------------------------


@attrs.frozen
class _EventCodec:
    """Per-class (un)structure hooks for payload fields, built on first use."""

    unstructure: tuple[tuple[str, Callable[[Any], Any]], ...]
    structure: dict[str, tuple[str, Callable[[Any, Any], Any], object]]


class EventConverter(JsonConverter):
    """The cattrs JSON converter for events, available as ``triobus.converter``.

    ``dumps``/``loads`` go to and from JSON text; ``unstructure`` and
    ``structure`` to and from plain dicts. Structuring to ``BaseEvent`` picks
    the class by ``event_type``. Every failure to decode raises
    :class:`~triobus.EventDecodeError`.
    """

    def __init__(self) -> None:
        super().__init__()
        self._codecs: dict[type[Any], _EventCodec] = {}
        for tp, hook in (
            (str, _structure_str),
            (int, _structure_int),
            (float, _structure_float),
            (bool, _structure_bool),
        ):
            self.register_structure_hook(tp, hook)
        self.register_unstructure_hook(datetime, format_datetime)
        self.register_structure_hook(datetime, lambda v, _: parse_datetime(v))
        self.register_unstructure_hook_func(_is_event_class, self.unstructure_event)
        self.register_structure_hook_func(_is_event_class, self._structure_hook)

    # The JSON entry points wrap every failure into one documented error.

    def dumps(  # type: ignore[override]
        self, obj: Any, unstructure_as: Any = None, **kwargs: Any
    ) -> str:
        """Serialise an event (or anything the converter knows) to JSON text."""
        return json.dumps(self.unstructure(obj, unstructure_as=unstructure_as), **kwargs)

    def loads(  # type: ignore[override]
        self, data: str | bytes | bytearray, cl: type[E], **kwargs: Any
    ) -> E:
        """Parse JSON text into an event of class ``cl`` (or any, for BaseEvent).

        Raises:
            EventDecodeError: The text is not valid JSON or not a valid event.
        """
        try:
            raw = json.loads(data, **kwargs)
        except (ValueError, TypeError, RecursionError) as exc:
            raise EventDecodeError(f"not valid event JSON: {exc}") from exc
        return self.structure(raw, cl)

    def structure(self, obj: Any, cl: Any) -> Any:
        """Structure ``obj`` into ``cl``; events fail with EventDecodeError."""
        if not _is_event_class(cl):
            return super().structure(obj, cl)
        try:
            return self.structure_event(obj, cl)
        except EventDecodeError:
            raise
        except (Exception, RecursionError) as exc:  # noqa: BLE001
            raise EventDecodeError(f"cannot load {_type_name(cl)}: {exc}") from exc

    def _structure_hook(self, obj: Any, cl: Any) -> Any:
        return self.structure_event(obj, cl)

    # -- events -------------------------------------------------------------

    def _codec(self, cls: type[BaseEvent[Any]]) -> _EventCodec:
        codec = self._codecs.get(cls)
        if codec is None:
            attrs.resolve_types(cls)
            fields = attrs.fields_dict(cls)
            names = payload_fields(cls)
            codec = _EventCodec(
                unstructure=tuple(
                    (n, self.get_unstructure_hook(fields[n].type)) for n in names
                ),
                structure={
                    n: (
                        fields[n].alias,
                        self.get_structure_hook(fields[n].type),
                        fields[n].type,
                    )
                    for n in names
                    if fields[n].init
                },
            )
            self._codecs[cls] = codec
        return codec

    def unstructure_event(self, event: BaseEvent[Any]) -> dict[str, Any]:
        """The flat JSON-ready dict of an event (section 12 of the spec)."""
        data: dict[str, Any] = {
            "event_type": event.event_type,
            "event_version": event.event_version,
            "event_timeout": event.event_timeout,
            "event_slow_timeout": event.event_slow_timeout,
            "event_concurrency": event.event_concurrency,
            "event_handler_timeout": event.event_handler_timeout,
            "event_handler_slow_timeout": event.event_handler_slow_timeout,
            "event_handler_concurrency": event.event_handler_concurrency,
            "event_handler_completion": event.event_handler_completion,
            "event_blocks_parent_completion": event.event_blocks_parent_completion,
            "event_result_type": type_to_schema(event.event_result_type),
            "event_id": event.event_id,
            "event_path": list(event.event_path),
            "event_parent_id": event.event_parent_id,
            "event_emitted_by_handler_id": event.event_emitted_by_handler_id,
            "event_pending_bus_count": event.event_pending_bus_count,
            "event_created_at": format_datetime(event.event_created_at),
            "event_status": event.event_status,
            "event_started_at": (
                None
                if event.event_started_at is None
                else format_datetime(event.event_started_at)
            ),
            "event_completed_at": (
                None
                if event.event_completed_at is None
                else format_datetime(event.event_completed_at)
            ),
        }
        for name, hook in self._codec(type(event)).unstructure:
            data[name] = hook(getattr(event, name))
        for key, value in extra_payload(event).items():
            data[key] = value
        if event.event_results:
            data["event_results"] = {
                handler_id: self.unstructure_result(result)
                for handler_id, result in event.event_results.items()
            }
        return data

    def unstructure_result(self, result: EventResult[Any]) -> dict[str, Any]:
        """The JSON-ready dict of one handler result."""
        value = result.result
        return {
            "id": result.id,
            "status": result.status,
            "event_id": result.event_id,
            "handler_id": result.handler_id,
            "handler_name": result.handler_name,
            "eventbus_id": result.eventbus_id,
            "eventbus_name": result.eventbus_name,
            "timeout": result.timeout,
            "started_at": (
                None if result.started_at is None else format_datetime(result.started_at)
            ),
            "completed_at": (
                None
                if result.completed_at is None
                else format_datetime(result.completed_at)
            ),
            # An event-valued result (a forwarder's return value) is the event
            # itself, which travels on its own; writing it here would nest the
            # event inside its own results.
            "result": (
                None
                if value is None or isinstance(value, BaseEvent)
                else self.unstructure(value)
            ),
            "error": None if result.error is None else error_to_json(result.error),
            "event_children": result.child_ids,
            **result.extra,
        }

    def structure_event(self, obj: object, cl: type[E]) -> E:
        """Build an event of class ``cl`` from a flat dict, validating keys."""
        if not isinstance(obj, Mapping):
            raise EventDecodeError(f"an event must be a JSON object, got {obj!r}")
        data = cast(Mapping[str, Any], obj)
        event_type = data.get("event_type")
        if event_type is not None and not isinstance(event_type, str):
            raise EventDecodeError(f"event_type must be a string, got {event_type!r}")

        target: type[BaseEvent[Any]] = cl
        if cl is BaseEvent and event_type is not None:
            target = event_class_for(event_type) or BaseEvent
        codec = self._codec(target)

        kwargs: dict[str, Any] = {}
        runtime: dict[str, Any] = {}
        extra: dict[str, object] = {}
        results: object = None
        for key, value in data.items():
            if not isinstance(key, str):  # pyright: ignore[reportUnnecessaryIsInstance]
                raise EventDecodeError(f"event keys must be strings, got {key!r}")
            spec = codec.structure.get(key)
            if spec is not None:
                alias, hook, tp = spec
                kwargs[alias] = self._field(key, hook, value, tp)
            elif key == "event_results":
                results = value
            elif key in BUILTIN_FIELDS:
                if key in METADATA_FIELDS or key == "event_parent_id":
                    kwargs[key] = value
                else:
                    runtime[key] = value
            elif key in PEER_EVENT_KEYS:
                extra[key] = value
            elif key.startswith(("event_", "model_", "_")) or key in RUNTIME_API_NAMES:
                raise EventDecodeError(
                    f"{target.__name__}: key {key!r} is reserved and not a built-in"
                    " field"
                )
            else:
                extra[key] = value

        schema = kwargs.pop("event_result_type", None)
        if target is BaseEvent:
            kwargs["event_result_type"] = None if schema is None else schema_to_type(schema)
        for key in ("event_id", "event_type", "event_version"):
            if key in kwargs:
                _structure_str(kwargs[key], None)
        if kwargs.get("event_parent_id") is not None:
            _structure_str(kwargs["event_parent_id"], None)
        try:
            event = target(**kwargs)
        except TypeError as exc:
            raise EventDecodeError(f"cannot build {target.__name__}: {exc}") from exc
        if extra:
            set_extra_payload(event, extra)
        if runtime:
            self._apply_runtime(event, runtime)
        if results is not None:
            event.event_results = self._structure_results(event, results)
        return cast(E, event)

    @staticmethod
    def _field(key: str, hook: Callable[[Any, Any], Any], value: object, tp: object) -> Any:
        try:
            return hook(value, tp)
        except (Exception, RecursionError) as exc:  # noqa: BLE001
            raise EventDecodeError(f"field {key!r}: {exc}") from exc

    def _apply_runtime(self, event: BaseEvent[Any], runtime: dict[str, Any]) -> None:
        fields = event.__dict__
        for key, value in runtime.items():
            if key == "event_status":
                fields[key] = EventStatus(value)
            elif key in _TIMESTAMP_FIELDS:
                parsed = _optional_datetime(value)
                if parsed is None and key == "event_created_at":
                    raise EventDecodeError("event_created_at must not be null")
                fields[key] = parsed
            elif key == "event_path":
                if not isinstance(value, list) or not all(
                    isinstance(v, str) for v in cast(list[object], value)
                ):
                    raise EventDecodeError(f"event_path must be a list of strings: {value!r}")
                fields[key] = list(cast(list[str], value))
            elif key == "event_pending_bus_count":
                fields[key] = _structure_int(value, None)
            elif key == "event_blocks_parent_completion":
                fields[key] = _structure_bool(value, None)
            elif key == "event_emitted_by_handler_id":
                fields[key] = None if value is None else _structure_str(value, None)

    def _structure_results(
        self, event: BaseEvent[Any], value: object
    ) -> dict[str, EventResult[Any]]:
        if not isinstance(value, Mapping):
            raise EventDecodeError(f"event_results must be an object, got {value!r}")
        results: dict[str, EventResult[Any]] = {}
        for handler_id, raw in cast(Mapping[object, object], value).items():
            if not isinstance(handler_id, str) or not isinstance(raw, Mapping):
                raise EventDecodeError(f"bad event_results entry {handler_id!r}")
            results[handler_id] = self._structure_result(
                event, handler_id, cast(Mapping[str, object], raw)
            )
        return results

    def _structure_result(
        self, event: BaseEvent[Any], handler_id: str, raw: Mapping[str, object]
    ) -> EventResult[Any]:
        def text(key: str, default: str) -> str:
            value = raw.get(key, default)
            return default if value is None else _structure_str(value, None)

        timeout = raw.get("timeout")
        if timeout is not None:
            timeout = _structure_float(timeout, None)
        children = raw.get("event_children") or []
        if not isinstance(children, list) or not all(
            isinstance(c, str) for c in cast(list[object], children)
        ):
            raise EventDecodeError(f"event_children must be a list of ids: {children!r}")
        value = raw.get("result")
        if value is not None and event.event_result_type is not None:
            value = self.structure(value, event.event_result_type)
        error = raw.get("error")
        result = EventResult[Any](
            id=text("id", ""),
            status=EventResultStatus(raw.get("status", "pending")),
            event_id=text("event_id", event.event_id),
            handler_id=text("handler_id", handler_id),
            handler_name=text("handler_name", "anonymous"),
            eventbus_id=text("eventbus_id", ""),
            eventbus_name=text("eventbus_name", ""),
            timeout=cast(float | None, timeout),
            started_at=_optional_datetime(raw.get("started_at")),
            completed_at=_optional_datetime(raw.get("completed_at")),
            result=value,
            error=None if error is None else error_from_json(error),
            # Loaded children are only ids: the event objects live in another
            # process. They are kept and written back out as the same ids.
            foreign_children=list(cast(list[str], children)),
            extra={k: v for k, v in raw.items() if k not in _RESULT_KEYS},
            result_type=event.event_result_type,
        )
        return result


def _is_event_class(cl: object) -> bool:
    return isinstance(cl, type) and issubclass(cl, BaseEvent)


converter = EventConverter()
"""The converter for events: ``dumps``, ``loads``, ``unstructure``, ``structure``."""
