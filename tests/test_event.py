"""Tests for the event model: BaseEvent, its built-in fields and name rules.

Every class here has a name unique to this module: structuring to
``BaseEvent`` finds classes by ``event_type`` across the whole process, and
other test modules define events too.
"""

import math
import time
import types
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Generic, TypeVar

import attrs
import pytest
import trio
import trio.testing

from triobus import (
    BaseEvent,
    EventBus,
    EventConcurrency,
    EventHandler,
    EventResult,
    EventResultStatus,
    EventResultTypeError,
    EventStatus,
    HandlerCompletion,
    HandlerConcurrency,
)
from triobus._event import extra_payload, set_extra_payload

U = TypeVar("U")


class EvUserCreated(BaseEvent[str]):
    """A user signed up."""

    user_id: str
    email: str | None = None


class EvStock(BaseEvent[int]):
    """Stock was reserved; its payload uses attrs features."""

    sku: str
    quantity: int = attrs.field(converter=int, validator=attrs.validators.gt(0))
    tags: list[str] = attrs.field(factory=list)


class EvNoParam(BaseEvent):  # type: ignore[type-arg]
    """An event whose results are not validated."""


class EvNone(BaseEvent[None]):
    """An event whose handlers return nothing."""


@attrs.define
class EvPoint:
    """A result type that is an attrs class."""

    x: int
    y: int


class EvPointed(BaseEvent[EvPoint]):
    """An event whose handlers return an attrs class."""


def a_handler(**kwargs: Any) -> EventHandler:
    """An ``EventHandler`` record, as ``bus.on`` would return, without a bus."""
    defaults: dict[str, Any] = {
        "handler": lambda event: None,
        "event_pattern": "*",
        "eventbus_name": "Seed",
        "eventbus_id": str(uuid.uuid4()),
    }
    return EventHandler(**{**defaults, **kwargs})


def define_event(name: str, namespace: dict[str, Any]) -> type[BaseEvent[None]]:
    """Define ``class <name>(BaseEvent[None])`` with the given class body."""
    return types.new_class(
        name, (BaseEvent[None],), {}, lambda ns: ns.update(namespace)
    )


# -- defining events ----------------------------------------------------------


def test_subclassing_base_event_makes_an_attrs_class_without_a_decorator() -> None:
    """A plain annotated subclass is an attrs class with its payload as fields."""
    assert attrs.has(EvUserCreated)
    event = EvUserCreated(user_id="u1", email="ada@example.com")
    assert (event.user_id, event.email) == ("u1", "ada@example.com")


def test_payload_fields_are_keyword_only() -> None:
    """Payload fields cannot be passed by position."""
    with pytest.raises(TypeError):
        EvUserCreated("u1")  # type: ignore[misc]


def test_a_missing_required_payload_field_is_a_type_error() -> None:
    """Leaving out a field without a default fails like any attrs class."""
    with pytest.raises(TypeError, match="user_id"):
        EvUserCreated()  # type: ignore[call-arg]


def test_payload_fields_take_defaults_and_factories() -> None:
    """Defaults apply, and a factory gives every event its own value."""
    first = EvStock(sku="A", quantity=1)
    second = EvStock(sku="B", quantity=2)
    assert EvUserCreated(user_id="u1").email is None
    first.tags.append("x")
    assert second.tags == []


def test_payload_fields_run_attrs_converters_and_validators() -> None:
    """Converters run before validators, at construction and on assignment."""
    event = EvStock(sku="A", quantity="3")  # type: ignore[arg-type]
    assert event.quantity == 3
    with pytest.raises(ValueError, match="quantity"):
        EvStock(sku="A", quantity=0)
    with pytest.raises(ValueError, match="quantity"):
        event.quantity = -1


def test_attrs_fields_lists_payload_and_built_in_fields() -> None:
    """``attrs.fields`` works on event classes and includes every field."""
    names = {field.name for field in attrs.fields(EvStock)}
    assert {"sku", "quantity", "tags"} <= names
    assert {"event_id", "event_type", "event_status", "event_results"} <= names
    assert attrs.fields_dict(EvStock)["quantity"].validator is not None


@pytest.mark.parametrize(
    ("name", "default"),
    [
        ("event_version", "0.0.1"),
        ("event_timeout", None),
        ("event_handler_timeout", None),
        ("event_slow_timeout", None),
        ("event_handler_slow_timeout", None),
        ("event_concurrency", None),
        ("event_handler_concurrency", None),
        ("event_handler_completion", None),
        ("event_status", EventStatus.PENDING),
        ("event_started_at", None),
        ("event_completed_at", None),
        ("event_parent_id", None),
        ("event_emitted_by_handler_id", None),
        ("event_path", []),
        ("event_results", {}),
        ("event_pending_bus_count", 0),
        ("event_blocks_parent_completion", False),
    ],
)
def test_every_built_in_field_starts_at_its_documented_default(
    name: str, default: object
) -> None:
    """The built-in fields of SPEC 2.1 have the defaults its table gives."""
    event = EvUserCreated(user_id="u1")
    assert getattr(event, name) == default
    assert type(getattr(event, name)) is type(default)


def test_event_created_at_is_the_aware_utc_time_of_construction() -> None:
    """``event_created_at`` is set when the event is built, in UTC."""
    before = datetime.now(UTC)
    event = EvUserCreated(user_id="u1")
    after = datetime.now(UTC)
    assert event.event_created_at.tzinfo is UTC
    assert before <= event.event_created_at <= after


def test_event_type_defaults_to_the_class_name() -> None:
    """Without an explicit value, ``event_type`` is the class's ``__name__``."""
    assert EvUserCreated(user_id="u1").event_type == "EvUserCreated"


def test_a_subclass_has_its_own_event_type() -> None:
    """A subclass does not share its parent's type, so handlers tell them apart."""

    class EvAdminCreated(EvUserCreated):
        level: int = 0

    assert EvAdminCreated(user_id="u1").event_type == "EvAdminCreated"


def test_a_class_can_set_its_event_type_explicitly() -> None:
    """Redeclaring ``event_type`` with an annotation changes it for the class."""

    class EvRenamedEvent(BaseEvent[None]):
        event_type: str = "EvRenamed"

    assert EvRenamedEvent().event_type == "EvRenamed"


def test_an_instance_can_set_its_event_type() -> None:
    """``event_type`` is also a keyword argument of every event."""
    event = EvUserCreated(user_id="u1", event_type="EvSomethingElse")
    assert event.event_type == "EvSomethingElse"
    assert event.label == f"EvSomethingElse#{event.event_id[-4:]}"


def test_event_ids_are_uuid7_strings() -> None:
    """Every event gets a fresh, canonical UUIDv7 string as its id."""
    event = EvUserCreated(user_id="u1")
    parsed = uuid.UUID(event.event_id)
    assert parsed.version == 7
    assert parsed.variant == uuid.RFC_4122
    assert str(parsed) == event.event_id


def test_event_ids_are_unique_and_time_ordered() -> None:
    """Ids made one after another sort in the order they were made."""
    ids = [EvUserCreated(user_id="u").event_id for _ in range(500)]
    assert len(set(ids)) == len(ids)
    assert sorted(ids) == ids


def test_event_id_timestamp_is_close_to_the_creation_time() -> None:
    """The millisecond timestamp in the id is the time the event was made."""
    event = EvUserCreated(user_id="u1")
    millis = uuid.UUID(event.event_id).int >> 80
    assert abs(millis / 1000 - time.time()) < 60


def test_an_event_id_can_be_given() -> None:
    """``event_id`` is a keyword argument, for rebuilding a known event."""
    assert EvUserCreated(user_id="u1", event_id="fixed").event_id == "fixed"


def test_events_are_equal_when_their_ids_are() -> None:
    """Equality ignores the payload and looks at ``event_id`` only."""
    first = EvUserCreated(user_id="u1", event_id="same")
    second = EvUserCreated(user_id="u2", event_id="same")
    third = EvUserCreated(user_id="u1")
    assert first == second
    assert first != third
    assert first != "same"


def test_events_hash_by_their_ids() -> None:
    """Events with the same id are one member of a set or key of a dict."""
    first = EvUserCreated(user_id="u1", event_id="same")
    second = EvUserCreated(user_id="u2", event_id="same")
    assert hash(first) == hash("same")
    assert len({first, second, EvUserCreated(user_id="u3")}) == 2


def test_events_are_mutable() -> None:
    """The bus changes runtime fields in place; payloads can change too."""
    event = EvUserCreated(user_id="u1")
    event.event_status = EventStatus.STARTED
    event.user_id = "u2"
    assert (event.event_status, event.user_id) == ("started", "u2")


def test_the_repr_names_the_event_its_status_and_payload() -> None:
    """``repr`` is short and shows what a reader of a log wants to see."""
    event = EvUserCreated(user_id="u1")
    assert repr(event) == f"<{event.label} pending (user_id='u1', email=None)>"


def test_reading_an_unknown_attribute_raises_attribute_error() -> None:
    """Only extra payload loaded from JSON is readable beyond the fields."""
    event = EvUserCreated(user_id="u1")
    with pytest.raises(AttributeError, match="nickname"):
        getattr(event, "nickname")  # noqa: B009 - the name is the point
    set_extra_payload(event, {"nickname": "ada"})
    assert getattr(event, "nickname") == "ada"  # noqa: B009
    assert extra_payload(event) == {"nickname": "ada"}


def test_a_new_event_has_no_children() -> None:
    """``event_children`` is empty until handlers emit events."""
    assert EvUserCreated(user_id="u1").event_children == []


# -- result types -----------------------------------------------------------------


def test_the_generic_parameter_becomes_the_result_type() -> None:
    """``BaseEvent[T]`` makes ``T`` the class's ``event_result_type``."""
    assert EvUserCreated(user_id="u").event_result_type is str
    assert EvStock(sku="A", quantity=1).event_result_type is int
    assert EvPointed().event_result_type is EvPoint


def test_no_parameter_or_none_means_results_are_not_validated() -> None:
    """``BaseEvent`` and ``BaseEvent[None]`` both leave the result type None."""
    assert EvNoParam().event_result_type is None
    assert EvNone().event_result_type is None
    assert BaseEvent().event_result_type is None


def test_a_generic_result_type_is_kept_whole() -> None:
    """Parameterised result types such as ``list[int] | None`` are kept."""

    class EvListed(BaseEvent[list[int] | None]):
        pass

    assert EvListed().event_result_type == list[int] | None


def test_a_subclass_of_a_concrete_event_inherits_its_result_type() -> None:
    """``class Child(EvUserCreated)`` keeps ``str``, at any depth."""

    class EvChild(EvUserCreated):
        pass

    class EvGrandchild(EvChild):
        extra: int = 0

    assert EvChild(user_id="u").event_result_type is str
    assert EvGrandchild(user_id="u").event_result_type is str
    assert attrs.fields(EvGrandchild).event_result_type.default is str


def test_a_generic_intermediate_base_passes_its_parameter_on() -> None:
    """``class Base(BaseEvent[U], Generic[U])``, then ``Base[int]``, gives int."""

    class EvEnvelope(BaseEvent[U], Generic[U]):
        source: str = "app"

    class EvIntEnvelope(EvEnvelope[int]):
        pass

    assert EvEnvelope().event_result_type is None
    assert EvIntEnvelope().event_result_type is int
    assert EvIntEnvelope().source == "app"


def test_a_partly_generic_base_substitutes_its_parameter() -> None:
    """``class Base(BaseEvent[list[U]])`` then ``Base[int]`` gives ``list[int]``."""

    class EvBatch(BaseEvent[list[U]], Generic[U]):
        pass

    class EvIntBatch(EvBatch[int]):
        pass

    assert EvBatch().event_result_type is None
    assert EvIntBatch().event_result_type == list[int]


def test_a_class_can_declare_its_result_type_explicitly() -> None:
    """Redeclaring ``event_result_type`` wins over the generic parameter."""

    class EvExplicit(BaseEvent[str]):
        event_result_type: object = int

    assert EvExplicit().event_result_type is int


def test_an_instance_can_set_its_result_type() -> None:
    """``event_result_type`` is a keyword argument of every event."""
    assert EvUserCreated(user_id="u", event_result_type=int).event_result_type is int


# -- reserved names ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "rule"),
    [
        ("bus", "runtime API"),
        ("first", "runtime API"),
        ("event_colour", "starts with 'event_'"),
        ("event_children", "starts with 'event_'"),
        ("model_config", "starts with 'model_'"),
        ("_secret", "must not start with '_'"),
        ("label", "attribute of every event"),
    ],
)
def test_a_reserved_payload_name_is_rejected_when_the_class_is_defined(
    name: str, rule: str
) -> None:
    """SPEC 2.2: the message names the class, the field and the rule."""
    with pytest.raises(TypeError) as caught:
        define_event("EvMisnamed", {"__annotations__": {name: str}})
    message = str(caught.value)
    assert "EvMisnamed" in message
    assert f"'{name}'" in message
    assert rule in message


def test_a_reserved_name_is_rejected_in_a_class_statement_too() -> None:
    """The check runs for ordinary class statements, not only ``type()``."""
    with pytest.raises(TypeError, match="'event_colour' starts with 'event_'"):

        class EvColoured(BaseEvent[None]):
            event_colour: str


def test_class_variables_are_not_payload_fields() -> None:
    """``ClassVar`` annotations are class constants, exempt from the rules."""

    class EvWithConstant(BaseEvent[None]):
        _registry_note: ClassVar[str] = "kept on the class"
        value: int = 0

    assert EvWithConstant._registry_note == "kept on the class"
    assert "_registry_note" not in attrs.fields_dict(EvWithConstant)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("event_timeout", 5.0),
        ("event_type", "Renamed"),
        ("event_version", "2"),
        ("event_concurrency", "parallel"),
    ],
)
def test_assigning_a_built_in_without_an_annotation_says_to_annotate_it(
    name: str, value: object
) -> None:
    """A bare ``event_timeout = 5.0`` is a TypeError that shows the fix."""
    with pytest.raises(TypeError) as caught:
        define_event("EvBare", {name: value})
    message = str(caught.value)
    assert f"'{name}' is a built-in field" in message
    assert f"annotate it, e.g. '{name}: " in message


def test_redeclaring_a_built_in_with_an_annotation_changes_its_default() -> None:
    """``event_timeout: float | None = 5.0`` is the way to change a default."""

    class EvPatient(BaseEvent[None]):
        event_timeout: float | None = 5.0
        event_version: str = "2.1"

    event = EvPatient()
    assert (event.event_timeout, event.event_version) == (5.0, "2.1")
    assert EvPatient(event_timeout=1.0).event_timeout == 1.0


def test_a_redeclared_built_in_keeps_its_checks() -> None:
    """A redeclared option still rejects bad values and converts modes."""

    class EvFast(BaseEvent[None]):
        event_timeout: float | None = 5.0
        event_concurrency: EventConcurrency | None = "parallel"  # type: ignore[assignment]

    assert EvFast().event_concurrency is EventConcurrency.PARALLEL
    with pytest.raises(ValueError, match="event_timeout"):
        EvFast(event_timeout=-1.0)


def test_a_redeclared_built_in_with_an_invalid_default_is_rejected() -> None:
    """The new default is checked when the class is defined."""
    with pytest.raises(TypeError, match="default of built-in field 'event_timeout'"):

        class EvNegative(BaseEvent[None]):
            event_timeout: float | None = -1.0


def test_a_redeclared_runtime_field_stays_out_of_init() -> None:
    """Runtime fields keep ``init=False`` when a class changes their default."""

    class EvLinked(BaseEvent[None]):
        event_blocks_parent_completion: bool = True

    assert EvLinked().event_blocks_parent_completion is True
    with pytest.raises(TypeError):
        EvLinked(event_blocks_parent_completion=False)  # type: ignore[call-arg]


# -- options: modes and timeouts --------------------------------------------------


@pytest.mark.parametrize(
    ("name", "text", "member"),
    [
        ("event_concurrency", "global-serial", EventConcurrency.GLOBAL_SERIAL),
        ("event_concurrency", "bus-serial", EventConcurrency.BUS_SERIAL),
        ("event_concurrency", "parallel", EventConcurrency.PARALLEL),
        ("event_handler_concurrency", "serial", HandlerConcurrency.SERIAL),
        ("event_handler_concurrency", "parallel", HandlerConcurrency.PARALLEL),
        ("event_handler_completion", "all", HandlerCompletion.ALL),
        ("event_handler_completion", "first", HandlerCompletion.FIRST),
    ],
)
def test_mode_fields_accept_plain_strings(name: str, text: str, member: object) -> None:
    """A mode given as its string becomes the enum member, however it is set."""
    built = EvUserCreated(user_id="u", **{name: text})
    assert getattr(built, name) is member
    assigned = EvUserCreated(user_id="u")
    setattr(assigned, name, text)
    assert getattr(assigned, name) is member
    setattr(assigned, name, None)
    assert getattr(assigned, name) is None


@pytest.mark.parametrize(
    "name",
    ["event_concurrency", "event_handler_concurrency", "event_handler_completion"],
)
@pytest.mark.parametrize("bad", ["serially", "", "PARALLEL", 3])
def test_mode_fields_reject_unknown_values(name: str, bad: object) -> None:
    """An unknown mode is a ValueError naming the field and the allowed values."""
    with pytest.raises(ValueError, match=f"{name} must be one of") as caught:
        EvUserCreated(user_id="u", **{name: bad})
    assert repr(bad) in str(caught.value)
    event = EvUserCreated(user_id="u")
    with pytest.raises(ValueError, match=name):
        setattr(event, name, bad)
    assert getattr(event, name) is None


TIMEOUTS = [
    "event_timeout",
    "event_handler_timeout",
    "event_slow_timeout",
    "event_handler_slow_timeout",
]


@pytest.mark.parametrize("name", TIMEOUTS)
@pytest.mark.parametrize("good", [0, 0.0, 2, 2.5, math.inf])
def test_timeouts_accept_non_negative_numbers(name: str, good: float) -> None:
    """Zero, ints, floats and infinity are all valid budgets, kept as floats."""
    event = EvUserCreated(user_id="u", **{name: good})
    assert getattr(event, name) == good
    assert type(getattr(event, name)) is float


@pytest.mark.parametrize("name", TIMEOUTS)
@pytest.mark.parametrize("bad", [-1, -0.001, -math.inf, math.nan])
def test_timeouts_reject_negatives_and_nan(name: str, bad: float) -> None:
    """A negative or NaN budget is a ValueError naming the field."""
    with pytest.raises(ValueError, match=f"{name} must be >= 0 or None"):
        EvUserCreated(user_id="u", **{name: bad})
    event = EvUserCreated(user_id="u")
    with pytest.raises(ValueError, match=name):
        setattr(event, name, bad)


@pytest.mark.parametrize("name", TIMEOUTS)
@pytest.mark.parametrize("bad", [True, False, "5", [1.0]])
def test_timeouts_reject_bools_and_non_numbers(name: str, bad: object) -> None:
    """``True`` is not one second: non-numbers are a TypeError naming the field."""
    with pytest.raises(TypeError, match=f"{name} must be a number of seconds"):
        EvUserCreated(user_id="u", **{name: bad})


def test_a_timeout_too_large_for_a_float_is_rejected() -> None:
    """Huge ints cannot become a deadline, so they are refused up front."""
    with pytest.raises(ValueError, match="event_timeout"):
        EvUserCreated(user_id="u", event_timeout=10**400)


# -- event_reset ----------------------------------------------------------------------


def seeded_completed_event() -> EvStock:
    """An event in the state a bus leaves it in, with one result."""
    event = EvStock(
        sku="A",
        quantity=2,
        tags=["t"],
        event_timeout=3.0,
        event_concurrency="parallel",
        event_parent_id="parent-id",
    )
    handler = a_handler()
    event.event_result_update(handler=handler, result=7)
    event.event_status = EventStatus.COMPLETED
    event.event_started_at = event.event_completed_at = datetime.now(UTC)
    event.event_path.append("Seed#abcd")
    event.event_emitted_by_handler_id = "handler-id"
    event.event_blocks_parent_completion = True
    event.event_pending_bus_count = 1
    return event


def test_event_reset_returns_a_fresh_pending_copy() -> None:
    """SPEC 7: new id, pending, no results, no start or completion time."""
    event = seeded_completed_event()
    fresh = event.event_reset()
    assert type(fresh) is EvStock
    assert fresh is not event
    assert fresh.event_id != event.event_id
    assert uuid.UUID(fresh.event_id).version == 7
    assert fresh.event_status is EventStatus.PENDING
    assert fresh.event_results == {}
    assert fresh.event_started_at is None
    assert fresh.event_completed_at is None
    assert fresh.event_pending_bus_count == 0


def test_event_reset_keeps_payload_options_path_and_creation_time() -> None:
    """Payload, options and ``event_path`` carry over; the path is a copy."""
    event = seeded_completed_event()
    fresh = event.event_reset()
    assert (fresh.sku, fresh.quantity, fresh.tags) == ("A", 2, ["t"])
    assert fresh.event_timeout == 3.0
    assert fresh.event_concurrency is EventConcurrency.PARALLEL
    assert fresh.event_type == event.event_type
    assert fresh.event_path == ["Seed#abcd"]
    fresh.event_path.append("Other#1234")
    assert event.event_path == ["Seed#abcd"]
    assert fresh.event_created_at == event.event_created_at


def test_event_reset_drops_the_lineage() -> None:
    """The copy has not been emitted by any handler, so it has no parent."""
    fresh = seeded_completed_event().event_reset()
    assert fresh.event_parent_id is None
    assert fresh.event_emitted_by_handler_id is None
    assert fresh.event_blocks_parent_completion is False
    assert fresh.event_children == []


def test_event_reset_leaves_the_original_untouched() -> None:
    """Resetting makes a copy; the completed event stays completed."""
    event = seeded_completed_event()
    event.event_reset()
    assert event.event_status is EventStatus.COMPLETED
    assert len(event.event_results) == 1


def test_event_reset_keeps_extra_payload_of_a_loaded_event() -> None:
    """Keys kept from JSON for an unknown type survive a reset."""
    event = BaseEvent(event_type="EvForeign")
    set_extra_payload(event, {"order_id": "o-1"})
    fresh = event.event_reset()
    assert extra_payload(fresh) == {"order_id": "o-1"}
    assert fresh.event_type == "EvForeign"


# -- event_result_update and EventResult.update -----------------------------------


def test_event_result_update_creates_a_pending_entry_for_the_handler() -> None:
    """The entry names the handler and its bus, keyed by handler id."""
    handler = a_handler(handler_timeout=4.0)
    event = EvUserCreated(user_id="u")
    entry = event.event_result_update(handler=handler)
    assert event.event_results == {handler.id: entry}
    assert entry.status is EventResultStatus.PENDING
    assert (entry.event_id, entry.handler_id) == (event.event_id, handler.id)
    assert entry.handler_name == handler.handler_name
    assert (entry.eventbus_id, entry.eventbus_name) == (handler.eventbus_id, "Seed")
    assert entry.timeout == 4.0
    assert entry.started_at is None
    assert entry.completed_at is None


def test_event_result_update_takes_the_bus_it_is_given() -> None:
    """An explicit ``eventbus`` names the entry's bus."""
    bus = EventBus("Other")
    entry = EvUserCreated(user_id="u").event_result_update(
        handler=a_handler(), eventbus=bus, status="pending"
    )
    assert (entry.eventbus_id, entry.eventbus_name) == (bus.id, "Other")


def test_event_result_update_updates_the_same_entry_again() -> None:
    """A second call for the same handler changes the entry it made."""
    handler = a_handler()
    event = EvUserCreated(user_id="u")
    first = event.event_result_update(handler=handler, status="started")
    second = event.event_result_update(handler=handler, result="done")
    assert first is second
    assert (second.status, second.result) == ("completed", "done")
    assert second.started_at is not None
    assert second.completed_at is not None
    assert len(event.event_results) == 1


def test_event_result_update_validates_the_result() -> None:
    """A value that does not fit the result type is refused and not recorded."""
    handler = a_handler()
    event = EvUserCreated(user_id="u")
    with pytest.raises(EventResultTypeError) as caught:
        event.event_result_update(handler=handler, result=5)
    assert "5" in str(caught.value)
    assert "str" in str(caught.value)
    assert event.event_results == {}


def test_event_result_update_records_an_error() -> None:
    """An error sets status ``error`` and completes the entry."""
    event = EvUserCreated(user_id="u")
    boom = ValueError("boom")
    entry = event.event_result_update(handler=a_handler(), error=boom)
    assert (entry.status, entry.error, entry.result) == ("error", boom, None)
    assert entry.completed_at is not None


def test_event_result_update_rejects_an_unknown_status() -> None:
    """Statuses are the four of EventResultStatus."""
    with pytest.raises(ValueError, match="status must be one of"):
        EvUserCreated(user_id="u").event_result_update(
            handler=a_handler(),
            status="done",  # type: ignore[arg-type]
        )


def a_result(result_type: object) -> EventResult[Any]:
    """A pending result entry for a handler of an event of ``result_type``."""
    return EventResult[Any](
        event_id="e",
        handler_id="h",
        handler_name="tests.handler",
        eventbus_id="b",
        eventbus_name="Seed",
        result_type=result_type,
    )


@pytest.mark.parametrize(
    ("result_type", "value", "stored"),
    [
        (str, "ok", "ok"),
        (int, 3, 3),
        (float, 3, 3.0),
        (list[int], [1, 2], [1, 2]),
        (dict[str, int], {"a": 1}, {"a": 1}),
        (int | None, 4, 4),
        (EvPoint, {"x": 1, "y": 2}, EvPoint(1, 2)),
        (EvPoint, EvPoint(3, 4), EvPoint(3, 4)),
        (None, object, object),
    ],
)
def test_update_stores_a_value_that_fits_the_result_type(
    result_type: object, value: object, stored: object
) -> None:
    """Fitting values are stored, converted where the converter converts."""
    entry = a_result(result_type).update(result=value)
    assert entry.result == stored
    assert type(entry.result) is type(stored)
    assert entry.status is EventResultStatus.COMPLETED


@pytest.mark.parametrize(
    ("result_type", "value"),
    [
        (str, 5),
        (int, "5"),
        (int, True),
        (int, 1.5),
        (bool, 1),
        (list[int], ["a"]),
        (dict[str, int], {"a": "b"}),
        (EvPoint, {"x": 1}),
    ],
)
def test_update_rejects_a_value_that_does_not_fit(
    result_type: object, value: object
) -> None:
    """SPEC 2.3: a misfit is an EventResultTypeError naming handler and type."""
    entry = a_result(result_type)
    with pytest.raises(EventResultTypeError) as caught:
        entry.update(result=value)
    assert "tests.handler" in str(caught.value)
    assert isinstance(caught.value, TypeError)
    assert entry.status is EventResultStatus.PENDING
    assert entry.result is None


def test_update_never_validates_an_event_valued_result() -> None:
    """A forwarder returns the event it forwarded; that is not checked."""
    forwarded = EvUserCreated(user_id="u")
    assert a_result(int).update(result=forwarded).result is forwarded


def test_update_with_an_error_sets_status_error_and_clears_the_value() -> None:
    """An error ends the entry; a value recorded before it is dropped."""
    entry = a_result(int).update(result=1)
    error = RuntimeError("late")
    entry.update(error=error)
    assert (entry.status, entry.error, entry.result) == ("error", error, None)


def test_update_with_a_result_clears_an_earlier_error() -> None:
    """Rehydrating a value over an error leaves a consistent completed entry."""
    entry = a_result(int).update(error=RuntimeError("x"))
    entry.update(result=2)
    assert (entry.status, entry.error, entry.result) == ("completed", None, 2)


def test_update_sets_and_clears_timestamps_with_the_status() -> None:
    """Started and completed times follow the status, forwards and backwards."""
    entry = a_result(None)
    entry.update(status="started")
    assert entry.started_at is not None
    assert entry.completed_at is None
    entry.update(status="completed")
    assert entry.completed_at is not None
    assert entry.completed_at >= entry.started_at
    entry.update(status="pending")
    assert entry.started_at is None
    assert entry.completed_at is None


def test_update_keeps_a_completion_time_that_was_already_set() -> None:
    """Updating an ended entry's value does not move its completion time."""
    entry = a_result(int).update(result=1)
    completed = entry.completed_at
    assert completed is not None
    entry.completed_at = completed - timedelta(seconds=5)
    entry.update(result=2)
    assert entry.completed_at == completed - timedelta(seconds=5)


async def test_awaiting_an_entry_returns_its_value_or_raises_its_error() -> None:
    """``await entry`` gives the result, or raises what the handler raised."""
    assert await a_result(int).update(result=5) == 5
    with pytest.raises(KeyError):
        await a_result(int).update(error=KeyError("k"))


async def test_awaiting_a_pending_entry_waits_until_it_ends() -> None:
    """A waiter wakes when the entry is updated to a final status."""
    entry = a_result(int)
    got: list[int | None] = []

    async def waiter() -> None:
        got.append(await entry)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(waiter)
        await trio.testing.wait_all_tasks_blocked()
        assert got == []
        entry.update(result=8)
    assert got == [8]
