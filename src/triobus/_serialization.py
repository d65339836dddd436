"""JSON serialisation of events through a cattrs converter.

The wire shape is flat: built-in fields and payload fields side by side,
then ``event_results`` when there are any. It matches the event JSON of the
asyncio peer abxbus key for key, so events cross between the two. Keys that
abxbus writes and triobus has no field for are kept on load and written back
unchanged.

Events are (un)structured by hand-written code rather than by cattrs' attrs
hooks: the built-in fields have fixed shapes and rules of their own, and
this path is hot (every message a bridge carries goes through it). Payload
fields still go through the converter's hooks for their declared types.
"""

from __future__ import annotations

import json
import typing
import weakref
from collections import Counter
from collections.abc import Callable, Mapping
from collections.abc import Set as AbstractSet
from datetime import datetime
from typing import Any, NoReturn, TypeVar, cast

import attrs
from cattrs.errors import StructureHandlerNotFoundError
from cattrs.preconf.json import JsonConverter, configure_converter

from ._enums import EventResultStatus, EventStatus
from ._errors import EventDecodeError, EventResultTypeError
from ._event import (
    BUILTIN_FIELDS,
    METADATA_FIELDS,
    BaseEvent,
    event_class_for,
    extra_payload,
    payload_fields,
    reserved_name_rule,
    set_extra_payload,
)
from ._results import EventResult
from ._schema import schema_to_type, type_to_schema
from ._util import new_id
from ._wire import (
    RemoteHandlerError,
    copy_json,
    decode_timestamp,
    describe,
    error_from_json,
    error_to_json,
    format_datetime,
    optional_datetime,
    optional_str,
    parse_datetime,
    short_repr,
    str_list,
    structure_bool,
    structure_float,
    structure_int,
    structure_none,
    structure_str,
)

__all__ = [
    "EventConverter",
    "RemoteHandlerError",
    "converter",
    "error_from_json",
    "error_to_json",
    "format_datetime",
    "parse_datetime",
    "validate_result",
]

E = TypeVar("E", bound=BaseEvent[Any])
T = TypeVar("T")

#: Event-level keys abxbus writes that triobus has no field for.
PEER_EVENT_KEYS = frozenset({"event_ttl", "event_result_ttl"})
_RESULT_KEYS = frozenset(
    {
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
    }
)
# Built-in fields passed to ``__init__``, whose validators and converters
# check them; the rest are set after construction, checked here.
_STR_METADATA = ("event_id", "event_type", "event_version")
_CHECKED_BY_INIT = tuple(
    name
    for name in METADATA_FIELDS
    if name not in _STR_METADATA and name != "event_result_type"
)
_TIMESTAMP_FIELDS = ("event_started_at", "event_completed_at")
# Private key in an event's ``__dict__``: the schema a loaded event's result
# type was read from, written back as it came (see ``_result_schema``).
_SCHEMA_KEY = "_triobus_result_schema"
_MISSING: Any = object()
_UNWRITABLE: dict[str, object] = {"unwritable": True}


# -- result type validation ---------------------------------------------------------


def validate_result(result_type: object, value: object, handler_label: str) -> Any:
    """Check a handler's return value against the event's result type.

    Events (as returned by forwarders) and None are never validated. Values
    that already are instances of a plain class result type pass through
    untouched; others are structured through the converter, so a dict
    becomes an attrs result class and an int a float.

    Args:
        result_type: The event's ``event_result_type``; None disables checks.
        value: What the handler returned.
        handler_label: Names the handler in the error message.

    Returns:
        The value, possibly converted.

    Raises:
        EventResultTypeError: The value cannot be structured to the type.
    """
    if result_type is None or value is None or result_type is Any:
        return value
    if result_type is object or _is_event(value):
        return value
    if (
        isinstance(result_type, type)
        and isinstance(value, result_type)
        and (result_type is bool or not isinstance(value, bool))
    ):
        return value
    try:
        return converter.structure(value, cast(Any, result_type))
    except Exception as exc:  # any failure means "does not fit"
        raise EventResultTypeError(
            f"handler {handler_label} returned {short_repr(value)}, which is not"
            f" a valid {_type_name(result_type)}"
        ) from exc


def _type_name(tp: object) -> str:
    return tp.__name__ if isinstance(tp, type) else repr(tp)


# -- the converter ------------------------------------------------------------------

_StructureHook = Callable[[Any, Any], Any]


@attrs.frozen
class _PayloadField:
    name: str
    alias: str
    init: bool
    annotation: object
    structure: _StructureHook
    #: Exact types of values that are already valid for the field and are
    #: taken as they are, without calling the hook (JSON scalars).
    as_is: frozenset[type] = frozenset()


@attrs.frozen
class _EventCodec:
    """What (un)structuring one event class needs, worked out on first use."""

    #: Payload field names with their unstructure hook, or None where the
    #: value is a JSON scalar already and is written as it is.
    unstructure: tuple[tuple[str, Callable[[Any], Any] | None], ...]
    structure: tuple[_PayloadField, ...]
    #: Keys that are not extra payload: built-ins, payload fields, results.
    known: frozenset[str]
    #: The class's default result type and the schema written for it.
    result_type: object
    result_schema: dict[str, object] | None


#: Field types whose values are written to JSON as they are.
_SCALARS: frozenset[object] = frozenset(
    {str, int, float, bool, type(None), str | None, int | None, float | None}
    | {bool | None, Any, object}
)
_ENCODER = json.JSONEncoder(separators=(",", ":"))


class EventConverter(JsonConverter):
    """The cattrs JSON converter for events, available as ``triobus.converter``.

    ``dumps``/``loads`` go to and from JSON text; ``unstructure`` and
    ``structure`` to and from plain dicts. Structuring to ``BaseEvent`` (or
    any event class) picks the subclass whose ``event_type`` matches. Every
    failure to build an event raises :class:`~triobus.EventDecodeError`.

    It is configured like ``cattrs.preconf.json.make_converter()``, except
    that scalars are not coerced (``"5"`` is not an ``int``) and datetimes
    are written in UTC with a ``Z`` suffix.
    """

    def __init__(self) -> None:
        super().__init__(
            detailed_validation=False,
            unstruct_collection_overrides={AbstractSet: list, Counter: dict},
        )
        configure_converter(self)
        self._codecs: weakref.WeakKeyDictionary[type[Any], _EventCodec] = (
            weakref.WeakKeyDictionary()
        )
        for tp, hook in (
            (str, structure_str),
            (int, structure_int),
            (float, structure_float),
            (bool, structure_bool),
            (type(None), structure_none),
        ):
            self.register_structure_hook(tp, hook)
        self.register_unstructure_hook(datetime, format_datetime)
        self.register_structure_hook(datetime, lambda v, _: parse_datetime(v))
        self.register_unstructure_hook_func(_is_event_class, self.unstructure_event)
        self.register_structure_hook_func(_is_event_class, self._structure_hook)

    # The JSON entry points wrap every failure into one documented error.

    def dumps(self, obj: Any, unstructure_as: Any = None, **kwargs: Any) -> str:
        """Serialise an event (or anything the converter knows) to JSON text.

        Keyword arguments go to ``json.dumps``; without any, the text is
        compact.
        """
        if unstructure_as is None and _is_event(obj):
            data: object = self._event_dict(obj, copy=False)
        else:
            data = self.unstructure(obj, unstructure_as=unstructure_as)
        if kwargs:
            return json.dumps(data, **kwargs)
        return _ENCODER.encode(data)

    def loads(self, data: str | bytes | bytearray, cl: type[T], **kwargs: Any) -> T:
        """Parse JSON text into an event of class ``cl`` (or any, for BaseEvent).

        Keyword arguments go to ``json.loads``. Other classes than events are
        structured as cattrs does, after the same JSON parsing.

        Raises:
            EventDecodeError: The text is not valid JSON, or not a valid event
                of ``cl``.
        """
        try:
            raw = json.loads(data, **kwargs)
        except Exception as exc:  # ValueError, RecursionError, TypeError...
            raise EventDecodeError(f"not valid JSON: {describe(exc)}") from exc
        return self.structure(raw, cl)

    def structure(self, obj: Any, cl: type[T]) -> T:
        """Structure ``obj`` into ``cl``; events fail with EventDecodeError.

        Raises:
            EventDecodeError: ``cl`` is an event class and ``obj`` is not a
                valid event of it.
        """
        if _is_event_class(cl):
            return cast(T, self._structure_hook(obj, cl))
        return super().structure(obj, cl)

    def _structure_hook(self, obj: Any, cl: Any) -> BaseEvent[Any]:
        if not isinstance(cl, type):
            cl = typing.get_origin(cl)  # BaseEvent[Any] is BaseEvent here
        target: type[BaseEvent[Any]] = cl
        try:
            return self.structure_event(obj, target)
        except EventDecodeError:
            raise
        except Exception as exc:
            raise EventDecodeError(
                f"cannot load {_type_name(cl)}: {describe(exc)}"
            ) from exc

    # -- events -------------------------------------------------------------

    def _codec(self, cls: type[BaseEvent[Any]]) -> _EventCodec:
        codec = self._codecs.get(cls)
        if codec is None:
            codec = self._codecs[cls] = self._make_codec(cls)
        return codec

    def _make_codec(self, cls: type[BaseEvent[Any]]) -> _EventCodec:
        attrs.resolve_types(cls)
        fields = attrs.fields_dict(cls)
        names = payload_fields(cls)
        unstructure: list[tuple[str, Callable[[Any], Any] | None]] = []
        structure: list[_PayloadField] = []
        for name in names:
            field = fields[name]
            tp = field.type
            hook: Callable[[Any], Any] = self.get_unstructure_hook(tp)
            unstructure.append((name, None if _is_scalar(tp) else hook))
            structure.append(
                _PayloadField(
                    name=name,
                    alias=field.alias or name,
                    init=field.init,
                    annotation=tp,
                    structure=self._payload_structure_hook(tp),
                    as_is=_as_is_types(tp),
                )
            )
        result_type = fields["event_result_type"].default
        try:
            result_schema = type_to_schema(result_type)
        except TypeError:
            # Not a supported result type. Loading still works (the class
            # keeps its type); dumping raises the TypeError that says why.
            result_schema = _UNWRITABLE
        return _EventCodec(
            unstructure=tuple(unstructure),
            structure=tuple(structure),
            known=frozenset(names) | BUILTIN_FIELDS,
            result_type=result_type,
            result_schema=result_schema,
        )

    def _payload_structure_hook(self, tp: object) -> _StructureHook:
        """The hook for a payload field's type, or one that says there is none.

        A type cattrs cannot structure must not stop the class from being
        dumped; loading it fails, with EventDecodeError, when it comes to it.
        """
        try:
            return self.get_structure_hook(tp)
        except StructureHandlerNotFoundError as exc:
            message = str(exc)

            def missing(_value: object, _tp: object) -> NoReturn:
                raise TypeError(message)

            return missing

    def unstructure_event(self, event: BaseEvent[Any]) -> dict[str, Any]:
        """The flat JSON-ready dict of an event (section 12 of the spec)."""
        return self._event_dict(event, copy=True)

    def _event_dict(self, event: BaseEvent[Any], *, copy: bool) -> dict[str, Any]:
        codec = self._codec(type(event))
        started = event.event_started_at
        completed = event.event_completed_at
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
            "event_result_type": self._result_schema(event, codec, copy=copy),
            "event_id": event.event_id,
            "event_path": list(event.event_path),
            "event_parent_id": event.event_parent_id,
            "event_emitted_by_handler_id": event.event_emitted_by_handler_id,
            "event_pending_bus_count": event.event_pending_bus_count,
            "event_created_at": format_datetime(event.event_created_at),
            "event_status": event.event_status,
            "event_started_at": None if started is None else format_datetime(started),
            "event_completed_at": (
                None if completed is None else format_datetime(completed)
            ),
        }
        for name, hook in codec.unstructure:
            value = getattr(event, name)
            data[name] = value if hook is None else hook(value)
        extra = extra_payload(event)
        if extra:
            data.update(extra)
        if event.event_results:
            data["event_results"] = {
                handler_id: self.unstructure_result(result)
                for handler_id, result in event.event_results.items()
            }
        return data

    @staticmethod
    def _result_schema(
        event: BaseEvent[Any], codec: _EventCodec, *, copy: bool
    ) -> dict[str, object] | None:
        result_type = event.event_result_type
        if result_type is codec.result_type:
            schema = codec.result_schema
            if schema is None or (not copy and schema is not _UNWRITABLE):
                return schema
            return type_to_schema(result_type)
        # A loaded event keeps the schema it came with, so an event whose
        # schema reads back as a looser type (a pydantic model as a dict, for
        # example) is forwarded with its schema unchanged.
        loaded: tuple[object, dict[str, object]] | None = vars(event).get(_SCHEMA_KEY)
        if loaded is not None and loaded[0] is result_type:
            return cast(dict[str, object], copy_json(loaded[1])) if copy else loaded[1]
        return type_to_schema(result_type)

    def unstructure_result(self, result: EventResult[Any]) -> dict[str, Any]:
        """The JSON-ready dict of one handler result."""
        value = result.result
        started = result.started_at
        completed = result.completed_at
        data: dict[str, Any] = {
            "id": result.id,
            "status": result.status,
            "event_id": result.event_id,
            "handler_id": result.handler_id,
            "handler_name": result.handler_name,
            "eventbus_id": result.eventbus_id,
            "eventbus_name": result.eventbus_name,
            "timeout": result.timeout,
            "started_at": None if started is None else format_datetime(started),
            "completed_at": None if completed is None else format_datetime(completed),
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
        }
        if result.extra:
            data.update(result.extra)
        return data

    def structure_event(self, obj: object, cl: type[E]) -> E:
        """Build an event of class ``cl`` from a flat dict, validating keys.

        When ``event_type`` names a class defined in this process that is
        ``cl`` or a subclass of it, the event is built as that class;
        otherwise as ``cl``, keeping the keys it has no field for.

        Raises:
            EventDecodeError: ``obj`` is not a valid event.
        """
        if not isinstance(obj, dict):
            if not isinstance(obj, Mapping):
                raise EventDecodeError(
                    f"an event must be a JSON object, got {short_repr(obj)}"
                )
            obj = dict(cast(Mapping[object, object], obj))
        data = cast(dict[str, Any], obj)

        target: type[BaseEvent[Any]] = cl
        event_type = data.get("event_type", _MISSING)
        if event_type is not _MISSING:
            if not isinstance(event_type, str):
                raise EventDecodeError(
                    f"event_type must be a string, got {short_repr(event_type)}"
                )
            found = event_class_for(event_type)
            if found is not None and found is not cl and issubclass(found, cl):
                target = found
        codec = self._codec(target)

        extra: dict[str, object] | None = None
        unknown = data.keys() - codec.known
        if unknown:
            extra = self._extra_keys(target, data, unknown)

        kwargs: dict[str, Any] = {}
        late: list[tuple[str, Any]] = []
        for field in codec.structure:
            name = field.name
            if name in data:
                value = data[name]
                try:
                    if type(value) not in field.as_is:
                        value = field.structure(value, field.annotation)
                except Exception as exc:
                    raise EventDecodeError(
                        f"{target.__name__}: field {name!r}: {describe(exc)}"
                    ) from exc
                if field.init:
                    kwargs[field.alias] = value
                else:
                    late.append((name, value))
        for key in _STR_METADATA:
            value = data.get(key, _MISSING)
            if value is not _MISSING:
                if not isinstance(value, str):
                    raise EventDecodeError(
                        f"{key} must be a string, got {short_repr(value)}"
                    )
                kwargs[key] = value
        for key in _CHECKED_BY_INIT:
            if key in data:
                kwargs[key] = data[key]
        parent_id = data.get("event_parent_id")
        if parent_id is not None:
            kwargs["event_parent_id"] = optional_str(parent_id, "event_parent_id")
        schema = data.get("event_result_type", _MISSING)
        if (
            schema is not _MISSING
            and schema != codec.result_schema
            and codec.result_schema is not _UNWRITABLE
        ):
            if schema is not None and not isinstance(schema, dict):
                raise EventDecodeError(
                    f"event_result_type must be a JSON Schema object or null,"
                    f" got {short_repr(schema)}"
                )
            kwargs["event_result_type"] = (
                None if schema is None else schema_to_type(cast(dict[str, Any], schema))
            )

        event = _construct(target, kwargs)
        fields = vars(event)
        if "event_result_type" in kwargs and schema is not None:
            fields[_SCHEMA_KEY] = (kwargs["event_result_type"], schema)
        for name, value in late:
            setattr(event, name, value)
        if extra:
            set_extra_payload(event, extra)
        self._apply_runtime(fields, data)
        results = data.get("event_results")
        if results is not None:
            event.event_results = self._structure_results(event, results)
        return cast(E, event)

    @staticmethod
    def _extra_keys(
        target: type[BaseEvent[Any]], data: dict[str, Any], unknown: set[str]
    ) -> dict[str, object]:
        """Check the keys an event class has no field for, keeping their order."""
        extra: dict[str, object] = {}
        for key, value in data.items():
            if key not in unknown:
                continue
            if not isinstance(key, str):  # pyright: ignore[reportUnnecessaryIsInstance]
                raise EventDecodeError(
                    f"event keys must be strings, got {short_repr(key)}"
                )
            if key not in PEER_EVENT_KEYS:
                rule = reserved_name_rule(key)
                if rule is not None:
                    raise EventDecodeError(f"{target.__name__}: {rule}")
            extra[key] = value
        return extra

    @staticmethod
    def _apply_runtime(fields: dict[str, Any], data: dict[str, Any]) -> None:
        """Set the runtime fields given in ``data`` straight into the instance."""
        value = data.get("event_status", _MISSING)
        if value is not _MISSING:
            try:
                fields["event_status"] = EventStatus(cast(str, value))
            except ValueError:
                raise EventDecodeError(
                    "event_status must be one of 'pending', 'started',"
                    f" 'completed', got {short_repr(value)}"
                ) from None
        value = data.get("event_created_at", _MISSING)
        if value is not _MISSING:
            if value is None:
                raise EventDecodeError("event_created_at must not be null")
            fields["event_created_at"] = decode_timestamp(value, "event_created_at")
        for key in _TIMESTAMP_FIELDS:
            value = data.get(key)
            if value is not None:
                fields[key] = decode_timestamp(value, key)
        value = data.get("event_path", _MISSING)
        if value is not _MISSING:
            fields["event_path"] = str_list(value, "event_path")
        value = data.get("event_pending_bus_count", _MISSING)
        if value is not _MISSING:
            if type(value) is not int or value < 0:
                raise EventDecodeError(
                    "event_pending_bus_count must be a non-negative integer,"
                    f" got {short_repr(value)}"
                )
            fields["event_pending_bus_count"] = value
        value = data.get("event_blocks_parent_completion", _MISSING)
        if value is not _MISSING:
            if type(value) is not bool:
                raise EventDecodeError(
                    "event_blocks_parent_completion must be a boolean,"
                    f" got {short_repr(value)}"
                )
            fields["event_blocks_parent_completion"] = value
        value = data.get("event_emitted_by_handler_id")
        if value is not None:
            fields["event_emitted_by_handler_id"] = optional_str(
                value, "event_emitted_by_handler_id"
            )

    def _structure_results(
        self, event: BaseEvent[Any], value: object
    ) -> dict[str, EventResult[Any]]:
        if not isinstance(value, Mapping):
            raise EventDecodeError(
                f"event_results must be an object, got {short_repr(value)}"
            )
        results: dict[str, EventResult[Any]] = {}
        for handler_id, raw in cast(Mapping[object, object], value).items():
            if not isinstance(handler_id, str) or not isinstance(raw, Mapping):
                raise EventDecodeError(
                    f"event_results entries must be objects keyed by handler id,"
                    f" got {short_repr(handler_id)}: {short_repr(raw)}"
                )
            try:
                results[handler_id] = self._structure_result(
                    event, handler_id, cast(Mapping[str, object], raw)
                )
            except EventDecodeError:
                raise
            except Exception as exc:
                raise EventDecodeError(
                    f"event_results[{handler_id!r}]: {describe(exc)}"
                ) from exc
        return results

    def _structure_result(
        self, event: BaseEvent[Any], handler_id: str, raw: Mapping[str, object]
    ) -> EventResult[Any]:
        get = raw.get
        text: dict[str, str] = {}
        for key, default in (
            ("id", ""),
            ("event_id", event.event_id),
            ("handler_id", handler_id),
            ("handler_name", "anonymous"),
            ("eventbus_id", ""),
            ("eventbus_name", ""),
        ):
            value = get(key)
            text[key] = default if value is None else structure_str(value, None)
        if not text["id"]:
            text["id"] = new_id()

        status = get("status", "pending")
        try:
            parsed_status = EventResultStatus(cast(str, status))
        except ValueError:
            raise EventDecodeError(
                f"result status must be one of 'pending', 'started', 'completed',"
                f" 'error', got {short_repr(status)}"
            ) from None
        timeout = get("timeout")
        children = get("event_children")
        result: Any = get("result")
        result_type: Any = event.event_result_type
        if result is not None and result_type is not None:
            result = self.get_structure_hook(result_type)(result, result_type)
        error = get("error")
        extra = (
            {k: v for k, v in raw.items() if k not in _RESULT_KEYS}
            if raw.keys() - _RESULT_KEYS
            else {}
        )
        entry: EventResult[Any] = EventResult(
            status=parsed_status,
            timeout=None if timeout is None else structure_float(timeout, None),
            started_at=optional_datetime(get("started_at")),
            completed_at=optional_datetime(get("completed_at")),
            result=result,
            error=None if error is None else error_from_json(error),
            # Loaded children are only ids: the event objects live in another
            # process. They are kept and written back out as the same ids.
            foreign_children=(
                [] if children is None else str_list(children, "event_children")
            ),
            extra=extra,
            result_type=result_type,
            id=text["id"],
            event_id=text["event_id"],
            handler_id=text["handler_id"],
            handler_name=text["handler_name"],
            eventbus_id=text["eventbus_id"],
            eventbus_name=text["eventbus_name"],
        )
        return entry


def _construct(cls: type[BaseEvent[Any]], kwargs: dict[str, Any]) -> BaseEvent[Any]:
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise EventDecodeError(f"cannot build {cls.__name__}: {exc}") from exc


def _is_event(value: object) -> bool:
    return isinstance(value, BaseEvent)


_AS_IS: dict[object, frozenset[type]] = {
    str: frozenset({str}),
    int: frozenset({int}),
    float: frozenset({float}),
    bool: frozenset({bool}),
    type(None): frozenset({type(None)}),
    str | None: frozenset({str, type(None)}),
    int | None: frozenset({int, type(None)}),
    float | None: frozenset({float, type(None)}),
    bool | None: frozenset({bool, type(None)}),
}


def _as_is_types(tp: object) -> frozenset[type]:
    try:
        return _AS_IS.get(tp, frozenset())
    except TypeError:  # an unhashable annotation
        return frozenset()


def _is_scalar(tp: object) -> bool:
    try:
        return tp in _SCALARS
    except TypeError:  # an unhashable annotation
        return False


def _is_event_class(cl: object) -> bool:
    """True for event classes, parameterised (``BaseEvent[Any]``) or not."""
    if not isinstance(cl, type):
        cl = typing.get_origin(cl)
    return isinstance(cl, type) and issubclass(cl, BaseEvent)


converter = EventConverter()
"""The converter for events: ``dumps``, ``loads``, ``unstructure``, ``structure``."""
