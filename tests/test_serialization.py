"""Tests for the JSON form of events: ``triobus.converter`` (SPEC section 12).

Class names are unique to this module (prefix ``Ser``): structuring to
``BaseEvent`` finds classes by ``event_type`` across the whole process.
"""

import contextlib
import json
import keyword
import string
import types
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import triobus
from triobus import (
    BaseEvent,
    EventConcurrency,
    EventDecodeError,
    EventHandler,
    EventHandlerAbortedError,
    EventHandlerTimeoutError,
    EventResult,
    EventResultStatus,
    EventStatus,
    HandlerCompletion,
    HandlerConcurrency,
    RemoteHandlerError,
    TriobusError,
    converter,
)
from triobus._event import BUILTIN_FIELDS, reserved_name_rule
from triobus._schema import type_to_schema


class SerSignup(BaseEvent[str]):
    """A user signed up."""

    user_id: str
    email: str | None = None
    age: int = 0


class SerPremiumSignup(SerSignup):
    """A subclass, to check resolution to subclasses."""

    plan: str = "gold"


@attrs.define
class SerReceipt:
    """An attrs result type."""

    order_id: str
    total: float


class SerOrdered(BaseEvent[SerReceipt]):
    """An event whose handlers return an attrs class."""

    order_id: str
    lines: list[int] = attrs.field(factory=list)
    notes: dict[str, str] = attrs.field(factory=dict)


class SerTyped(BaseEvent[list[int]]):
    """A payload with one field of each JSON shape, for bad-input tests."""

    text: str = ""
    count: int = 0
    ratio: float = 0.0
    flag: bool = False
    numbers: list[int] = attrs.field(factory=list)
    labels: dict[str, str] = attrs.field(factory=dict)
    maybe: int | None = None


def a_handler(name: str = "Seed") -> EventHandler:
    """A handler registration record, as ``bus.on`` returns, without a bus."""
    return EventHandler(
        handler=lambda event: None,
        event_pattern="*",
        eventbus_name=name,
        eventbus_id=str(uuid.uuid4()),
    )


def completed(
    event: BaseEvent[Any], *results: tuple[object, BaseException | None]
) -> None:
    """Give ``event`` the state a bus leaves: completed, with these results."""
    for value, error in results:
        event.event_result_update(
            handler=a_handler(), result=value, error=error, status="started"
        )
        entry = list(event.event_results.values())[-1]
        if error is None:
            entry.update(result=value)
    event.event_status = EventStatus.COMPLETED
    event.event_started_at = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    event.event_completed_at = event.event_started_at + timedelta(seconds=1)
    event.event_path.extend(["Auth#1a2b", "Mail#3c4d"])
    event.event_parent_id = str(uuid.uuid4())
    event.event_emitted_by_handler_id = str(uuid.uuid4())


def assert_same_event(loaded: BaseEvent[Any], original: BaseEvent[Any]) -> None:
    """Field for field equality, results included, and the same JSON."""
    assert type(loaded) is type(original)
    for field in attrs.fields(type(original)):
        if field.name == "event_results":
            continue
        assert getattr(loaded, field.name) == getattr(original, field.name), field.name
    assert loaded.event_results.keys() == original.event_results.keys()
    for handler_id, entry in original.event_results.items():
        assert_same_result(loaded.event_results[handler_id], entry)
    assert converter.unstructure(loaded) == converter.unstructure(original)


def assert_same_result(loaded: EventResult[Any], original: EventResult[Any]) -> None:
    """Two result entries agree on everything the wire carries."""
    for name in (
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
        "child_ids",
    ):
        assert getattr(loaded, name) == getattr(original, name), name
    if original.error is None:
        assert loaded.error is None
    else:
        assert loaded.error is not None
        assert str(loaded.error) == str(original.error)
        assert error_type_name(loaded.error) == error_type_name(original.error)


def error_type_name(error: BaseException) -> str:
    """The type name an error is written with."""
    if isinstance(error, RemoteHandlerError):
        return error.type_name
    return type(error).__name__


def signup_dict(**changes: object) -> dict[str, Any]:
    """The unstructured form of a fresh SerSignup, with some keys changed."""
    data = converter.unstructure(SerSignup(user_id="u1", email="a@b.c"))
    data.update(changes)
    return data


# -- the shape of the JSON ------------------------------------------------------------


def test_dumps_writes_flat_json_with_built_in_and_payload_keys() -> None:
    """Built-ins and payload sit side by side in one object (SPEC 12)."""
    event = SerSignup(user_id="u1", email="ada@example.com", age=36)
    data = json.loads(converter.dumps(event))
    assert data["event_type"] == "SerSignup"
    assert data["event_id"] == event.event_id
    assert (data["user_id"], data["email"], data["age"]) == (
        "u1",
        "ada@example.com",
        36,
    )
    assert set(data) == BUILTIN_FIELDS - {"event_results"} | {"user_id", "email", "age"}


def test_unstructure_gives_the_same_dict_that_dumps_writes() -> None:
    """``unstructure`` and ``json.loads(dumps(...))`` agree."""
    event = SerOrdered(order_id="o1", lines=[1, 2], notes={"gift": "yes"})
    completed(event, (SerReceipt("o1", 9.5), None))
    assert converter.unstructure(event) == json.loads(converter.dumps(event))


def test_dumps_passes_keyword_arguments_to_json() -> None:
    """``indent`` and friends work as with ``json.dumps``."""
    text = converter.dumps(SerSignup(user_id="u1"), indent=2)
    assert text.startswith('{\n  "event_type"')


def test_timestamps_are_iso_8601_utc_strings_with_a_z_suffix() -> None:
    """Datetimes in Python, ISO 8601 strings ending in ``Z`` in JSON."""
    event = SerSignup(user_id="u1")
    event.event_started_at = datetime(2026, 5, 6, 7, 8, 9, tzinfo=UTC)
    data = converter.unstructure(event)
    assert data["event_started_at"] == "2026-05-06T07:08:09.000000Z"
    assert data["event_created_at"].endswith("Z")
    assert datetime.fromisoformat(data["event_created_at"]) == event.event_created_at


def test_timestamps_in_other_zones_are_written_in_utc() -> None:
    """An offset datetime is converted, a naive one is taken as UTC."""
    event = SerSignup(user_id="u1")
    event.event_started_at = datetime(
        2026, 5, 6, 9, 0, tzinfo=timezone(timedelta(hours=2))
    )
    event.event_completed_at = datetime(2026, 5, 6, 7, 30)
    data = converter.unstructure(event)
    assert data["event_started_at"] == "2026-05-06T07:00:00.000000Z"
    assert data["event_completed_at"] == "2026-05-06T07:30:00.000000Z"


def test_event_results_are_written_only_when_there_are_some() -> None:
    """An event no handler has seen has no ``event_results`` key."""
    event = SerSignup(user_id="u1")
    assert "event_results" not in converter.unstructure(event)
    completed(event, ("ok", None))
    assert len(converter.unstructure(event)["event_results"]) == 1


def test_a_result_entry_has_the_keys_of_spec_12() -> None:
    """Each entry is keyed by handler id; errors are ``{type, message}``."""
    event = SerSignup(user_id="u1")
    child = SerSignup(user_id="child")
    completed(event, (None, ValueError("bad address")))
    entry = next(iter(event.event_results.values()))
    entry.event_children.append(child)
    written = converter.unstructure(event)["event_results"][entry.handler_id]
    assert written == {
        "id": entry.id,
        "status": "error",
        "event_id": event.event_id,
        "handler_id": entry.handler_id,
        "handler_name": entry.handler_name,
        "eventbus_id": entry.eventbus_id,
        "eventbus_name": "Seed",
        "timeout": None,
        "started_at": written["started_at"],
        "completed_at": written["completed_at"],
        "result": None,
        "error": {"type": "ValueError", "message": "bad address"},
        "event_children": [child.event_id],
    }


def test_an_event_valued_result_is_written_as_null() -> None:
    """A forwarder's result is the event itself, which travels on its own."""
    event = SerSignup(user_id="u1")
    entry = event.event_result_update(handler=a_handler(), result=event)
    assert (
        converter.unstructure(event)["event_results"][entry.handler_id]["result"]
        is None
    )


def test_the_result_type_is_written_as_a_json_schema() -> None:
    """``event_result_type`` travels as the schema of SPEC 12."""
    assert converter.unstructure(SerSignup(user_id="u"))["event_result_type"] == {
        "type": "string",
        "$schema": "https://json-schema.org/draft/2020-12/schema",
    }
    assert converter.unstructure(SerOrdered(order_id="o"))[
        "event_result_type"
    ] == type_to_schema(SerReceipt)
    assert converter.unstructure(BaseEvent())["event_result_type"] is None


def test_an_unstructured_schema_can_be_changed_without_harm() -> None:
    """``unstructure`` returns a fresh dict; the converter keeps no alias to it."""
    first = converter.unstructure(SerSignup(user_id="u"))
    first["event_result_type"]["type"] = "integer"
    second = converter.unstructure(SerSignup(user_id="u"))
    assert second["event_result_type"]["type"] == "string"


# -- round trips ---------------------------------------------------------------------


def test_loads_of_dumps_gives_an_equal_event() -> None:
    """A pending event comes back field for field."""
    event = SerSignup(
        user_id="u1",
        email=None,
        age=7,
        event_timeout=1.5,
        event_concurrency="parallel",
        event_handler_completion="first",
        event_version="2",
    )
    assert_same_event(converter.loads(converter.dumps(event), SerSignup), event)


def test_runtime_state_and_results_round_trip() -> None:
    """Status, timestamps, path, lineage and results all survive."""
    event = SerOrdered(order_id="o1", lines=[3], notes={"a": "b"})
    completed(
        event,
        (SerReceipt("o1", 12.25), None),
        (None, EventHandlerTimeoutError("handler x timed out after 5.0s")),
    )
    event.event_pending_bus_count = 2
    event.event_blocks_parent_completion = True
    loaded = converter.loads(converter.dumps(event), SerOrdered)
    assert_same_event(loaded, event)
    results = list(loaded.event_results.values())
    assert results[0].result == SerReceipt("o1", 12.25)
    assert isinstance(results[1].error, EventHandlerTimeoutError)


def test_structure_of_unstructure_gives_an_equal_event() -> None:
    """The dict entry points round-trip like the text ones."""
    event = SerOrdered(order_id="o1", lines=[1], notes={})
    completed(event, (SerReceipt("o1", 1.0), None))
    assert_same_event(
        converter.structure(converter.unstructure(event), SerOrdered), event
    )


def test_loaded_results_can_be_awaited() -> None:
    """A rehydrated entry is final, so awaiting it would return at once."""
    event = SerSignup(user_id="u1")
    completed(event, ("hello", None))
    loaded = converter.loads(converter.dumps(event), SerSignup)
    entry = next(iter(loaded.event_results.values()))
    assert entry.is_final
    assert entry.result == "hello"


@pytest.mark.parametrize(
    ("error", "loaded_type", "type_name"),
    [
        (ValueError("bad"), ValueError, "ValueError"),
        (RuntimeError(""), RuntimeError, "RuntimeError"),
        (EventHandlerAbortedError("cut off"), EventHandlerAbortedError, None),
        (KeyError("k"), RemoteHandlerError, "KeyError"),
        (UnicodeDecodeError("utf-8", b"\xff", 0, 1, "no"), RemoteHandlerError, None),
        (RemoteHandlerError("SomeoneElsesError", "far away"), RemoteHandlerError, None),
    ],
)
def test_result_errors_round_trip_as_type_and_message(
    error: BaseException, loaded_type: type[BaseException], type_name: str | None
) -> None:
    """Known classes come back as themselves; others keep their name and text.

    ``KeyError`` quotes its message, so it comes back as a RemoteHandlerError
    that writes out exactly what it read, however many times it is relayed.
    """
    event = SerSignup(user_id="u1")
    completed(event, (None, error))
    text = converter.dumps(event)
    loaded = converter.loads(text, SerSignup)
    loaded_error = next(iter(loaded.event_results.values())).error
    assert type(loaded_error) is loaded_type
    assert str(loaded_error) == str(error)
    assert error_type_name(loaded_error) == error_type_name(error)
    if type_name is not None:
        assert error_type_name(loaded_error) == type_name
    assert converter.dumps(converter.loads(text, SerSignup)) == text


def test_an_error_written_as_a_plain_string_is_accepted() -> None:
    """Older writers put the message alone; it loads as a remote Exception."""
    data = signup_dict(
        event_results={"h1": {"status": "error", "error": "it broke"}},
    )
    entry = converter.structure(data, SerSignup).event_results["h1"]
    assert isinstance(entry.error, RemoteHandlerError)
    assert (entry.error.type_name, str(entry.error)) == ("Exception", "it broke")


def test_a_result_entry_missing_optional_keys_gets_defaults() -> None:
    """Only the status is needed; ids come from the key and the event."""
    data = signup_dict(event_results={"h1": {"status": "completed", "result": "x"}})
    event = converter.structure(data, SerSignup)
    entry = event.event_results["h1"]
    assert (entry.handler_id, entry.event_id, entry.result) == (
        "h1",
        event.event_id,
        "x",
    )
    assert uuid.UUID(entry.id).version == 7


# -- choosing the class ----------------------------------------------------------------


def test_structuring_to_base_event_picks_the_class_by_event_type() -> None:
    """SPEC 12: ``loads(text, BaseEvent)`` builds the matching subclass."""
    event = SerSignup(user_id="u1", age=3)
    loaded = converter.loads(converter.dumps(event), BaseEvent)
    assert type(loaded) is SerSignup
    assert_same_event(loaded, event)


def test_structuring_to_a_parent_class_picks_a_subclass_by_event_type() -> None:
    """A ``SerPremiumSignup`` loaded as ``SerSignup`` is a ``SerPremiumSignup``."""
    event = SerPremiumSignup(user_id="u1", plan="platinum")
    loaded = converter.loads(converter.dumps(event), SerSignup)
    assert type(loaded) is SerPremiumSignup
    assert loaded.plan == "platinum"  # type: ignore[attr-defined]


def test_an_explicit_class_is_kept_when_event_type_names_an_unrelated_one() -> None:
    """Loading to a class builds that class unless the type is a subclass."""
    text = converter.dumps(SerSignup(user_id="u1"))
    loaded = converter.loads(text, SerPremiumSignup)
    assert type(loaded) is SerPremiumSignup
    assert loaded.event_type == "SerSignup"


def test_events_nested_in_other_types_are_structured_too() -> None:
    """Events in lists and dicts go through the same event code."""
    events = [SerSignup(user_id="a"), SerOrdered(order_id="o")]
    loaded = converter.structure(converter.unstructure(events), list[BaseEvent[Any]])
    assert [type(e) for e in loaded] == [SerSignup, SerOrdered]
    with pytest.raises(EventDecodeError):
        converter.structure([{"event_type": 5}], list[BaseEvent[Any]])


# -- unknown event types ----------------------------------------------------------


def foreign_event() -> dict[str, Any]:
    """The JSON of an event whose class this process does not have."""
    data = converter.unstructure(BaseEvent(event_type="SerNeverDefinedHere"))
    data.update(
        {
            "order_id": "o-77",
            "amount": 12.5,
            "items": [{"sku": "A", "qty": 2}],
            "gift": None,
            "label": "kept too",
        }
    )
    return data


def test_an_unknown_event_type_loads_as_a_generic_base_event() -> None:
    """No class for the type: a plain BaseEvent with that ``event_type``."""
    loaded = converter.structure(foreign_event(), BaseEvent)
    assert type(loaded) is BaseEvent
    assert loaded.event_type == "SerNeverDefinedHere"


def test_an_unknown_events_payload_keys_are_readable_as_attributes() -> None:
    """Payload keys of an event without a class read like fields."""
    loaded: Any = converter.structure(foreign_event(), BaseEvent)
    assert loaded.order_id == "o-77"
    assert loaded.amount == 12.5
    assert loaded.items == [{"sku": "A", "qty": 2}]
    assert loaded.gift is None


def test_an_unknown_event_is_written_back_out_unchanged() -> None:
    """So a bus can forward events it has no class for (SPEC 12)."""
    data = foreign_event()
    loaded = converter.structure(data, BaseEvent)
    assert converter.unstructure(loaded) == data
    assert list(converter.unstructure(loaded)) == list(data)
    assert json.loads(converter.dumps(loaded)) == data


def test_a_result_schema_that_reads_back_looser_is_forwarded_unchanged() -> None:
    """An object schema (a pydantic model in abxbus) is written as it came."""
    schema = {
        "$defs": {},
        "properties": {"id": {"title": "Id", "type": "string"}},
        "required": ["id"],
        "title": "Thing",
        "type": "object",
        "$schema": "https://json-schema.org/draft/2020-12/schema",
    }
    data = foreign_event()
    data["event_result_type"] = schema
    loaded = converter.structure(data, BaseEvent)
    assert loaded.event_result_type == dict[str, Any]
    assert converter.unstructure(loaded)["event_result_type"] == schema
    assert json.loads(converter.dumps(loaded))["event_result_type"] == schema


def test_the_result_type_is_read_back_from_its_schema() -> None:
    """A generic event gets its result type from the schema it carries."""
    data = foreign_event()
    data["event_result_type"] = type_to_schema(list[int] | None)
    assert converter.structure(data, BaseEvent).event_result_type == list[int] | None


def test_a_known_class_keeps_its_own_result_type() -> None:
    """The class's type wins over the looser one its schema reads back as."""
    loaded = converter.loads(converter.dumps(SerOrdered(order_id="o")), SerOrdered)
    assert loaded.event_result_type is SerReceipt


def test_a_per_instance_result_type_round_trips() -> None:
    """An instance whose result type differs from its class's keeps it."""
    event = SerSignup(user_id="u", event_result_type=int)
    assert converter.loads(converter.dumps(event), SerSignup).event_result_type is int


# -- abxbus-only keys ---------------------------------------------------------------

ABXBUS_RESULT_KEYS = {
    "handler_file_path": "/srv/app/handlers.py:12",
    "handler_timeout": 5.0,
    "handler_slow_timeout": None,
    "handler_result_ttl": 30.0,
    "handler_registered_at": "2026-01-02T03:04:05.123456789Z",
    "handler_event_pattern": "SerSignup",
}


def test_abxbus_only_keys_are_accepted_kept_and_written_back() -> None:
    """``event_ttl``, ``event_result_ttl`` and the ``handler_*`` keys survive."""
    event = SerSignup(user_id="u1")
    completed(event, ("ok", None))
    data = converter.unstructure(event)
    data["event_ttl"] = 60.0
    data["event_result_ttl"] = None
    (entry,) = data["event_results"].values()
    entry.update(ABXBUS_RESULT_KEYS)
    loaded: Any = converter.structure(data, SerSignup)
    assert loaded.event_ttl == 60.0
    assert loaded.event_result_ttl is None
    assert converter.unstructure(loaded) == data
    assert json.loads(converter.dumps(loaded)) == data


def test_abxbus_only_keys_also_survive_on_a_generic_event() -> None:
    """The same holds when the event loads without a class of its own."""
    data = foreign_event()
    data["event_ttl"] = 1.0
    assert converter.unstructure(converter.structure(data, BaseEvent)) == data


def test_abxbus_nanosecond_timestamps_load_to_the_microsecond() -> None:
    """abxbus writes nine fractional digits and a ``Z``; Python keeps six."""
    data = signup_dict(event_created_at="2026-12-03T10:20:34.028337755Z")
    loaded = converter.structure(data, SerSignup)
    assert loaded.event_created_at == datetime(
        2026, 12, 3, 10, 20, 34, 28337, tzinfo=UTC
    )


def test_timestamps_with_offsets_load_as_utc() -> None:
    """Any ISO 8601 offset is accepted and converted to UTC."""
    data = signup_dict(event_started_at="2026-12-03T12:00:00+02:00")
    started = converter.structure(data, SerSignup).event_started_at
    assert started == datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
    assert started is not None
    assert started.tzinfo is UTC


# -- bad input -------------------------------------------------------------------------


def test_event_decode_error_is_a_value_error_and_a_triobus_error() -> None:
    """The one documented exception for bad input fits both hierarchies."""
    assert issubclass(EventDecodeError, ValueError)
    assert issubclass(EventDecodeError, TriobusError)
    assert triobus.EventDecodeError is EventDecodeError


@pytest.mark.parametrize(
    ("key", "rule"),
    [
        ("event_colour", "starts with 'event_'"),
        ("event_extra_payload", "starts with 'event_'"),
        ("model_config", "starts with 'model_'"),
        ("bus", "runtime API"),
        ("first", "runtime API"),
        ("_secret", "must not start with '_'"),
    ],
)
@pytest.mark.parametrize("target", [BaseEvent, SerSignup])
def test_reserved_keys_are_rejected_on_input(
    key: str, rule: str, target: type[BaseEvent[Any]]
) -> None:
    """SPEC 2.2 applies to JSON keys: the error names the key and the rule."""
    text = json.dumps(signup_dict(**{key: 1}))
    with pytest.raises(EventDecodeError) as caught:
        converter.loads(text, target)
    assert f"'{key}'" in str(caught.value)
    assert rule in str(caught.value)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("event_id", 5),
        ("event_id", None),
        ("event_type", ["SerSignup"]),
        ("event_version", 1),
        ("event_timeout", -1),
        ("event_timeout", "5"),
        ("event_timeout", True),
        ("event_handler_timeout", {}),
        ("event_concurrency", "sideways"),
        ("event_handler_concurrency", 1),
        ("event_handler_completion", "some"),
        ("event_status", "done"),
        ("event_status", None),
        ("event_created_at", None),
        ("event_created_at", "yesterday"),
        ("event_started_at", 1700000000),
        ("event_completed_at", "2026-13-01T00:00:00Z"),
        ("event_parent_id", 7),
        ("event_emitted_by_handler_id", ["h"]),
        ("event_path", "Auth#1a2b"),
        ("event_path", [1]),
        ("event_pending_bus_count", -1),
        ("event_pending_bus_count", 1.5),
        ("event_pending_bus_count", True),
        ("event_blocks_parent_completion", 0),
        ("event_result_type", "string"),
        ("event_results", []),
        ("event_results", {"h": 5}),
        ("event_results", {"h": {"status": "finished"}}),
        ("event_results", {"h": {"status": "completed", "result": 5}}),
        ("event_results", {"h": {"error": ["x"]}}),
        ("event_results", {"h": {"error": {"type": 1, "message": "m"}}}),
        ("event_results", {"h": {"event_children": "c"}}),
        ("event_results", {"h": {"timeout": "long"}}),
        ("event_results", {"h": {"timeout": 10**400}}),
        ("event_results", {"h": {"started_at": "soon"}}),
        ("event_results", {"h": {"handler_name": 3}}),
        ("user_id", 5),
        ("user_id", None),
        ("email", 3),
        ("age", "3"),
        ("age", 3.0),
        ("age", False),
    ],
)
def test_a_value_of_the_wrong_shape_is_an_event_decode_error(
    key: str, value: object
) -> None:
    """Every built-in and payload field checks what it is given."""
    text = json.dumps(signup_dict(**{key: value}))
    with pytest.raises(EventDecodeError):
        converter.loads(text, SerSignup)


def test_a_missing_required_payload_field_is_an_event_decode_error() -> None:
    """The class's own ``__init__`` rules apply."""
    data = signup_dict()
    del data["user_id"]
    with pytest.raises(EventDecodeError, match="user_id"):
        converter.structure(data, SerSignup)


def test_a_payload_validator_rejecting_a_value_is_an_event_decode_error() -> None:
    """attrs validators on payload fields run on loading too."""

    class SerPositive(BaseEvent[None]):
        n: int = attrs.field(validator=attrs.validators.gt(0))

    with pytest.raises(EventDecodeError, match="'n' must be > 0"):
        converter.loads(json.dumps({"event_type": "SerPositive", "n": 0}), SerPositive)


def test_the_decode_error_keeps_the_original_exception_as_its_cause() -> None:
    """``__cause__`` holds what went wrong underneath, when there is one."""
    with pytest.raises(EventDecodeError) as caught:
        converter.loads("{not json", SerSignup)
    assert isinstance(caught.value.__cause__, json.JSONDecodeError)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "{",
        "nul",
        '{"event_type": "SerSignup",}',
        "[" * 100_000 + "]" * 100_000,
        '{"a":' * 100_000 + "1" + "}" * 100_000,
        "9" * 100_000,
        '"' + "x" * 1_000_000,
        b"\xff\xfe\x00",
    ],
    ids=[
        "empty",
        "open-brace",
        "bad-literal",
        "trailing-comma",
        "deep-arrays",
        "deep-objects",
        "huge-integer",
        "unterminated-huge-string",
        "bad-bytes",
    ],
)
@pytest.mark.parametrize("target", [BaseEvent, SerSignup, SerTyped])
def test_malformed_and_huge_json_is_an_event_decode_error(
    text: str | bytes, target: type[BaseEvent[Any]]
) -> None:
    """Nothing but EventDecodeError comes out of malformed or oversized text."""
    with pytest.raises(EventDecodeError):
        converter.loads(text, target)


@pytest.mark.parametrize("value", [None, 1, 1.5, "x", [], [{}], True])
@pytest.mark.parametrize("target", [BaseEvent, SerSignup])
def test_json_that_is_not_an_object_is_an_event_decode_error(
    value: object, target: type[BaseEvent[Any]]
) -> None:
    """An event is a JSON object; other values are refused."""
    with pytest.raises(EventDecodeError, match="must be a JSON object"):
        converter.loads(json.dumps(value), target)


def test_a_deeply_nested_payload_value_is_an_event_decode_error() -> None:
    """Nesting that passes the JSON parser but not a field's type is refused."""
    nested: Any = 1
    for _ in range(500):
        nested = [nested]
    with pytest.raises(EventDecodeError, match="numbers"):
        converter.loads(json.dumps({"numbers": nested}), SerTyped)


def test_huge_but_valid_values_load() -> None:
    """Size alone is not an error: big strings and ints within Python's limits."""
    text = json.dumps({"text": "x" * 1_000_000, "count": 10**4000})
    loaded = converter.loads(text, SerTyped)
    assert len(loaded.text) == 1_000_000
    assert loaded.count == 10**4000


def test_an_event_key_that_is_not_a_string_is_refused() -> None:
    """Only ``structure`` can see such keys (JSON keys are strings)."""
    with pytest.raises(EventDecodeError, match="keys must be strings"):
        converter.structure({1: "x", "user_id": "u"}, SerSignup)


# -- property-based: generated events round-trip --------------------------------------

# (annotation, strategy for its values) pairs for generated payload fields.
FIELD_TYPES: list[tuple[object, st.SearchStrategy[Any]]] = [
    (str, st.text()),
    (int, st.integers()),
    (float, st.floats(allow_nan=False)),
    (bool, st.booleans()),
    (type(None), st.none()),
    (list[int], st.lists(st.integers(), max_size=5)),
    (dict[str, str], st.dictionaries(st.text(max_size=8), st.text(), max_size=4)),
    (str | None, st.none() | st.text()),
    (int | None, st.none() | st.integers()),
    (list[int] | None, st.none() | st.lists(st.integers(), max_size=3)),
]
RESULT_TYPES: list[tuple[object, st.SearchStrategy[Any]]] = [
    (None, st.none() | st.integers() | st.text()),
    (str, st.text()),
    (int, st.integers()),
    (float, st.floats(allow_nan=False)),
    (bool, st.booleans()),
    (list[int], st.lists(st.integers(), max_size=4)),
    (dict[str, int], st.dictionaries(st.text(max_size=5), st.integers(), max_size=3)),
    (str | None, st.none() | st.text()),
]
ERRORS: list[Any] = [
    ValueError,
    RuntimeError,
    KeyError,
    EventHandlerTimeoutError,
    EventHandlerAbortedError,
    lambda message: RemoteHandlerError("ForeignError", message),
]

field_names = (
    st.text(
        alphabet=string.ascii_lowercase + string.digits + "_", min_size=1, max_size=12
    )
    .filter(lambda n: n[0].isalpha())
    .filter(lambda n: reserved_name_rule(n) is None and not keyword.iskeyword(n))
    .filter(lambda n: n not in BUILTIN_FIELDS and n not in {"label", "self"})
)
timestamps = st.datetimes(
    min_value=datetime(1970, 1, 2),
    max_value=datetime(2400, 1, 1),
    timezones=st.just(UTC),
)
ids = st.uuids().map(str)
timeouts = st.none() | st.floats(min_value=0, allow_nan=False)


@st.composite
def event_classes(draw: st.DrawFn) -> tuple[type[BaseEvent[Any]], dict[str, Any], Any]:
    """A new event class with random fields, plus values for them.

    Returns:
        The class, keyword arguments to build one, and a strategy for
        handler results that fit its result type.
    """
    names = draw(st.lists(field_names, max_size=6, unique=True))
    annotations: dict[str, object] = {}
    namespace: dict[str, object] = {}
    values: dict[str, Any] = {}
    for name in names:
        annotation, strategy = draw(st.sampled_from(FIELD_TYPES))
        annotations[name] = annotation
        if draw(st.booleans()):
            default = draw(strategy)
            namespace[name] = (
                attrs.field(factory=lambda d=default: type(d)(d))
                if isinstance(default, list | dict)
                else default
            )
        if name not in namespace or draw(st.booleans()):
            values[name] = draw(strategy)
    result_type, results = draw(st.sampled_from(RESULT_TYPES))
    suffix = draw(st.text(alphabet=string.ascii_letters, min_size=1, max_size=10))
    base: Any = BaseEvent if result_type is None else BaseEvent[result_type]  # type: ignore[valid-type]
    namespace["__annotations__"] = annotations
    cls = types.new_class(
        f"SerGen{suffix}", (base,), {}, lambda ns: ns.update(namespace)
    )
    return cls, values, results


@st.composite
def generated_events(draw: st.DrawFn) -> BaseEvent[Any]:
    """An event of a generated class, in a generated runtime state."""
    cls, values, results = draw(event_classes())
    options = {
        "event_timeout": draw(timeouts),
        "event_handler_timeout": draw(timeouts),
        "event_slow_timeout": draw(timeouts),
        "event_handler_slow_timeout": draw(timeouts),
        "event_concurrency": draw(st.none() | st.sampled_from(EventConcurrency)),
        "event_handler_concurrency": draw(
            st.none() | st.sampled_from(HandlerConcurrency)
        ),
        "event_handler_completion": draw(
            st.none() | st.sampled_from(HandlerCompletion)
        ),
        "event_parent_id": draw(st.none() | ids),
        "event_version": draw(st.text(max_size=8)),
    }
    event = cls(**values, **options)
    event.event_status = draw(st.sampled_from(EventStatus))
    event.event_created_at = draw(timestamps)
    event.event_started_at = draw(st.none() | timestamps)
    event.event_completed_at = draw(st.none() | timestamps)
    event.event_path = draw(st.lists(st.text(max_size=12), max_size=4))
    event.event_emitted_by_handler_id = draw(st.none() | ids)
    event.event_pending_bus_count = draw(st.integers(min_value=0, max_value=10))
    event.event_blocks_parent_completion = draw(st.booleans())
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        handler_id = draw(ids)
        failed = draw(st.booleans())
        error = (
            draw(st.sampled_from(ERRORS))(draw(st.text(max_size=20)))
            if failed
            else None
        )
        event.event_results[handler_id] = EventResult[Any](
            id=draw(ids),
            status=EventResultStatus.ERROR
            if failed
            else draw(st.sampled_from(EventResultStatus)),
            event_id=event.event_id,
            handler_id=handler_id,
            handler_name=draw(st.text(min_size=1, max_size=20)),
            eventbus_id=draw(ids),
            eventbus_name=draw(st.text(min_size=1, max_size=10)),
            timeout=draw(timeouts),
            started_at=draw(st.none() | timestamps),
            completed_at=draw(st.none() | timestamps),
            result=None if failed else draw(results),
            error=error,
            event_children=[BaseEvent() for _ in range(draw(st.integers(0, 2)))],
            result_type=event.event_result_type,
        )
    return event


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(generated_events())
def test_generated_events_round_trip_field_for_field(event: BaseEvent[Any]) -> None:
    """Any event class and runtime state comes back equal through JSON."""
    text = converter.dumps(event)
    loaded = converter.loads(text, type(event))
    assert_same_event(loaded, event)
    assert converter.dumps(loaded) == text


@settings(max_examples=100)
@given(generated_events())
def test_generated_events_resolve_their_class_from_base_event(
    event: BaseEvent[Any],
) -> None:
    """Loading to ``BaseEvent`` finds the generated class by its type."""
    loaded = converter.loads(converter.dumps(event), BaseEvent)
    assert type(loaded) is type(event)
    assert converter.unstructure(loaded) == converter.unstructure(event)


# -- property-based: garbage in, EventDecodeError out --------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)
TARGETS: list[type[BaseEvent[Any]]] = [BaseEvent, SerSignup, SerTyped, SerOrdered]
KNOWN_KEYS = sorted(BUILTIN_FIELDS | {"user_id", "email", "age", "text", "count"})
RESERVED_KEYS = st.sampled_from(["bus", "first"]) | st.text(max_size=10).map(
    lambda tail: f"{['event_', 'model_', '_'][len(tail) % 3]}{tail}"
).filter(
    lambda k: k not in BUILTIN_FIELDS and k not in {"event_ttl", "event_result_ttl"}
)


def loads_or_decode_error(text: str | bytes, target: type[BaseEvent[Any]]) -> None:
    """Load ``text``; anything raised other than EventDecodeError fails the test."""
    with contextlib.suppress(EventDecodeError):
        converter.loads(text, target)


@st.composite
def mutated_events(draw: st.DrawFn) -> str:
    """The JSON of a valid event with some keys given random values."""
    event = SerTyped(text="t", count=1, numbers=[1], labels={"a": "b"})
    completed(event, ([1, 2], None), (None, ValueError("v")))
    data = converter.unstructure(event)
    results = data["event_results"]
    handler_id = draw(st.sampled_from(sorted(results)))
    for key in draw(st.lists(st.sampled_from(sorted(results[handler_id])), max_size=3)):
        results[handler_id][key] = draw(json_values)
    for key in draw(st.lists(st.sampled_from(KNOWN_KEYS), max_size=4)):
        data[key] = draw(json_values)
    return json.dumps(data)


garbage = (
    st.text()
    | st.binary()
    | json_values.map(json.dumps)
    | mutated_events()
    | st.builds(
        lambda depth, opener: opener * depth,
        st.integers(min_value=1, max_value=200_000),
        st.sampled_from(["[", '{"a":', "[{", '{"user_id":[']),
    )
)


@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
@given(garbage, st.sampled_from(TARGETS))
def test_garbage_raises_event_decode_error_and_nothing_else(
    text: str | bytes, target: type[BaseEvent[Any]]
) -> None:
    """Malformed text, wrong shapes and wrong types never escape as others."""
    loads_or_decode_error(text, target)


@settings(max_examples=200)
@given(RESERVED_KEYS, json_values, st.sampled_from(TARGETS))
def test_any_reserved_key_is_an_event_decode_error(
    key: str, value: object, target: type[BaseEvent[Any]]
) -> None:
    """Whatever its value, a reserved key is refused, naming the key."""
    data = converter.unstructure(SerTyped())
    data[key] = value
    with pytest.raises(EventDecodeError) as caught:
        converter.loads(json.dumps(data), target)
    assert repr(key) in str(caught.value)


@settings(max_examples=200)
@given(st.sampled_from(sorted(BUILTIN_FIELDS)), json_values)
def test_a_random_value_for_a_built_in_loads_or_is_refused_cleanly(
    key: str, value: object
) -> None:
    """Either the value fits the field and loads, or EventDecodeError says why."""
    data = signup_dict(**{key: value})
    try:
        loaded = converter.structure(data, SerSignup)
    except EventDecodeError:
        return
    # What loaded must write out again and load to the same thing.
    again = converter.loads(converter.dumps(loaded), SerSignup)
    assert converter.unstructure(again) == converter.unstructure(loaded)


def test_any_exception_raised_while_building_is_wrapped() -> None:
    """Even an unexpected error from a class's own code becomes the one error."""

    class SerExploding(BaseEvent[None]):
        n: int = 0

        def __attrs_post_init__(self) -> None:
            raise LookupError("not a decode error")

    with pytest.raises(EventDecodeError) as caught:
        converter.loads('{"n": 1}', SerExploding)
    assert isinstance(caught.value.__cause__, LookupError)
