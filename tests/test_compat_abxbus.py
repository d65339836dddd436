"""Events cross between triobus and abxbus through their JSON (SPEC 12).

These tests use the real abxbus package (the ``test`` extra). Events dumped
by abxbus, including ones its bus completed, load in triobus; events dumped
by triobus validate in abxbus. Ids, type, payload, lineage, path and results
must survive in both directions.

Where abxbus itself drops something on loading (it keeps no child ids in a
result, and it loads every error as a plain ``Exception``), the tests say so
instead of asserting it.
"""

import asyncio
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import abxbus
import attrs
import pytest

import triobus
from triobus import (
    BaseEvent,
    EventHandler,
    EventResultStatus,
    EventStatus,
    RemoteHandlerError,
    converter,
)

# Twin classes: one per library, with the same event_type and payload.


class TrioOrderPlaced(BaseEvent[str]):
    """triobus side of an order event."""

    event_type: str = "CompatOrderPlaced"

    order_id: str
    amount: float = 0.0
    items: list[str] = attrs.field(factory=list)


class TrioReceiptSent(BaseEvent[None]):
    """triobus side of the child event the order handler emits."""

    event_type: str = "CompatReceiptSent"

    order_id: str


class AbxOrderPlaced(abxbus.BaseEvent[str]):
    """abxbus side of the order event."""

    event_type: str = "CompatOrderPlaced"

    order_id: str
    amount: float = 0.0
    items: list[str] = []  # noqa: RUF012 - pydantic copies field defaults


class AbxReceiptSent(abxbus.BaseEvent[None]):
    """abxbus side of the child event."""

    event_type: str = "CompatReceiptSent"

    order_id: str


def run_abxbus_order() -> tuple[AbxOrderPlaced, AbxReceiptSent]:
    """Process an order on a real abxbus bus.

    One handler emits and awaits a receipt (a child event) and returns a
    value; a second handler raises.

    Returns:
        The completed order and its completed child.
    """

    async def scenario() -> tuple[AbxOrderPlaced, AbxReceiptSent]:
        bus = abxbus.EventBus("Shop")
        children: list[AbxReceiptSent] = []

        async def place(event: AbxOrderPlaced) -> str:
            child = event.emit(AbxReceiptSent(order_id=event.order_id))
            children.append(child)
            await child
            return f"placed {event.order_id}"

        async def charge(event: AbxOrderPlaced) -> str:
            raise ValueError("card declined")

        bus.on(AbxOrderPlaced, place)
        bus.on(AbxOrderPlaced, charge)
        order = bus.emit(AbxOrderPlaced(order_id="o-1", amount=9.5, items=["a", "b"]))
        await order
        return order, children[0]

    return asyncio.run(scenario())


@pytest.fixture(scope="module")
def abx_order() -> tuple[AbxOrderPlaced, AbxReceiptSent]:
    """A completed abxbus order and its child, made once for the module."""
    return run_abxbus_order()


def trio_completed_order() -> tuple[TrioOrderPlaced, TrioReceiptSent, triobus.EventBus]:
    """A triobus order in the state a bus leaves it, built by hand.

    The state is seeded through ``event_result_update`` rather than by
    running a bus, so these tests exercise the JSON alone.
    """
    bus = triobus.EventBus("Shop")
    place = EventHandler(
        handler=lambda event: None,
        event_pattern="CompatOrderPlaced",
        eventbus_name=bus.name,
        eventbus_id=bus.id,
    )
    charge = EventHandler(
        handler=lambda event: None,
        event_pattern="CompatOrderPlaced",
        eventbus_name=bus.name,
        eventbus_id=bus.id,
        handler_timeout=5.0,
    )
    order = TrioOrderPlaced(
        order_id="o-1", amount=9.5, items=["a", "b"], event_parent_id=str(uuid.uuid4())
    )
    order.event_path.append(bus.label)
    order.event_status = EventStatus.STARTED
    order.event_started_at = datetime.now(UTC)
    order.event_result_update(handler=place, eventbus=bus, status="started")
    child = TrioReceiptSent(order_id="o-1", event_parent_id=order.event_id)
    child.event_emitted_by_handler_id = place.id
    child.event_path.append(bus.label)
    order.event_results[place.id].event_children.append(child)
    order.event_result_update(handler=place, result="placed o-1")
    order.event_result_update(handler=charge, error=ValueError("card declined"))
    order.event_status = EventStatus.COMPLETED
    order.event_completed_at = datetime.now(UTC)
    return order, child, bus


def same_instant(triobus_time: datetime | None, abxbus_time: str | None) -> bool:
    """A triobus datetime and an abxbus timestamp name the same microsecond."""
    if triobus_time is None or abxbus_time is None:
        return triobus_time is None and abxbus_time is None
    parsed = datetime.fromisoformat(abxbus_time)
    return abs(parsed - triobus_time).total_seconds() < 1e-6


# -- abxbus to triobus ---------------------------------------------------------------


def test_a_pending_abxbus_event_loads_into_its_triobus_class() -> None:
    """Ids, type, version, payload and times survive the crossing."""
    abx = AbxOrderPlaced(order_id="o-9", amount=3.25, items=["x"])
    loaded = converter.loads(abx.model_dump_json(), TrioOrderPlaced)
    assert type(loaded) is TrioOrderPlaced
    assert loaded.event_id == abx.event_id
    assert loaded.event_type == "CompatOrderPlaced"
    assert loaded.event_version == abx.event_version
    assert (loaded.order_id, loaded.amount, loaded.items) == ("o-9", 3.25, ["x"])
    assert loaded.event_status is EventStatus.PENDING
    assert loaded.event_result_type is str
    assert same_instant(loaded.event_created_at, abx.event_created_at)
    assert loaded.event_path == []
    assert loaded.event_results == {}


def test_a_pending_abxbus_event_loads_as_base_event_by_its_type() -> None:
    """Loading to BaseEvent picks the triobus class with the same type."""
    abx = AbxOrderPlaced(order_id="o-9")
    loaded = converter.loads(abx.model_dump_json(), BaseEvent)
    assert type(loaded) is TrioOrderPlaced
    assert loaded.event_id == abx.event_id


@pytest.mark.parametrize("target", [TrioOrderPlaced, BaseEvent])
def test_a_completed_abxbus_event_keeps_its_state_and_results(
    abx_order: tuple[AbxOrderPlaced, AbxReceiptSent], target: type[BaseEvent[Any]]
) -> None:
    """Status, path, results, errors and child ids all load in triobus."""
    abx, abx_child = abx_order
    loaded: Any = converter.loads(abx.model_dump_json(), target)
    assert type(loaded) is TrioOrderPlaced
    assert loaded.event_id == abx.event_id
    assert loaded.order_id == "o-1"
    assert loaded.event_status is EventStatus.COMPLETED
    assert loaded.event_path == abx.event_path
    assert loaded.event_parent_id is None
    assert same_instant(loaded.event_started_at, abx.event_started_at)
    assert same_instant(loaded.event_completed_at, abx.event_completed_at)

    assert list(loaded.event_results) == list(abx.event_results)
    place, charge = abx.event_results.values()
    ok = loaded.event_results[place.handler_id]
    assert ok.id == place.id
    assert ok.status is EventResultStatus.COMPLETED
    assert ok.result == "placed o-1"
    assert ok.error is None
    assert (ok.handler_id, ok.handler_name) == (place.handler_id, place.handler_name)
    assert (ok.eventbus_id, ok.eventbus_name) == (place.eventbus_id, "Shop")
    assert ok.event_id == abx.event_id
    assert ok.child_ids == [abx_child.event_id]
    assert same_instant(ok.started_at, place.started_at)
    assert same_instant(ok.completed_at, place.completed_at)

    failed = loaded.event_results[charge.handler_id]
    assert failed.status is EventResultStatus.ERROR
    assert isinstance(failed.error, ValueError)
    assert str(failed.error) == "card declined"
    assert failed.result is None


def test_an_abxbus_child_event_keeps_its_lineage(
    abx_order: tuple[AbxOrderPlaced, AbxReceiptSent],
) -> None:
    """Parent id, emitting handler, path and linked flag load in triobus."""
    abx, abx_child = abx_order
    loaded = converter.loads(abx_child.model_dump_json(), BaseEvent)
    assert type(loaded) is TrioReceiptSent
    assert loaded.event_parent_id == abx.event_id
    place = next(iter(abx.event_results.values()))
    assert loaded.event_emitted_by_handler_id == place.handler_id
    assert loaded.event_path == abx_child.event_path
    assert loaded.event_blocks_parent_completion is True
    assert loaded.event_result_type is None


def test_abxbus_only_keys_are_written_back_unchanged(
    abx_order: tuple[AbxOrderPlaced, AbxReceiptSent],
) -> None:
    """``event_ttl``, ``event_result_ttl`` and ``handler_*`` keys survive."""
    abx, _ = abx_order
    original = json.loads(abx.model_dump_json())
    written = json.loads(
        converter.dumps(converter.loads(abx.model_dump_json(), BaseEvent))
    )
    for key in ("event_ttl", "event_result_ttl"):
        assert written[key] == original[key]
    for handler_id, entry in original["event_results"].items():
        for key, value in entry.items():
            if key.startswith("handler_"):
                assert written["event_results"][handler_id][key] == value, key


def test_an_unknown_abxbus_event_is_relayed_through_triobus_intact() -> None:
    """An event of a type triobus has no class for goes back out the same.

    Only the timestamps change: abxbus writes nanoseconds, a Python datetime
    holds microseconds.
    """

    class AbxUnknownHere(abxbus.BaseEvent[int]):
        event_type: str = "CompatOnlyInAbxbus"
        sku: str
        qty: int = 1
        meta: dict[str, Any] = {}  # noqa: RUF012 - pydantic copies field defaults

    abx = AbxUnknownHere(sku="A-1", qty=3, meta={"k": [1, 2]})
    original = json.loads(abx.model_dump_json())
    loaded: Any = converter.loads(abx.model_dump_json(), BaseEvent)
    assert type(loaded) is BaseEvent
    assert (loaded.sku, loaded.qty, loaded.meta) == ("A-1", 3, {"k": [1, 2]})
    written = json.loads(converter.dumps(loaded))
    assert set(written) == set(original)
    for key, value in original.items():
        if key == "event_created_at":
            assert same_instant(loaded.event_created_at, value)
        else:
            assert written[key] == value, key


def test_an_abxbus_event_relayed_by_triobus_validates_in_abxbus_again(
    abx_order: tuple[AbxOrderPlaced, AbxReceiptSent],
) -> None:
    """abxbus JSON, through triobus and back, is still a valid abxbus event."""
    abx, _ = abx_order
    relayed = converter.dumps(converter.loads(abx.model_dump_json(), TrioOrderPlaced))
    again = AbxOrderPlaced.model_validate_json(relayed)
    assert again.event_id == abx.event_id
    assert again.event_path == abx.event_path
    assert again.event_status == abx.event_status
    assert list(again.event_results) == list(abx.event_results)
    for handler_id, entry in abx.event_results.items():
        back = again.event_results[handler_id]
        assert (back.id, back.status, back.result) == (
            entry.id,
            entry.status,
            entry.result,
        )
        assert (back.handler_name, back.eventbus_id) == (
            entry.handler_name,
            entry.eventbus_id,
        )
        assert (
            str(back.error) == str(entry.error) if entry.error else back.error is None
        )


# -- triobus to abxbus ---------------------------------------------------------------


def test_a_pending_triobus_event_validates_in_abxbus() -> None:
    """A fresh triobus event is a valid abxbus event of the twin class."""
    event = TrioOrderPlaced(order_id="o-2", amount=1.5, items=["z"])
    abx = AbxOrderPlaced.model_validate_json(converter.dumps(event))
    assert abx.event_id == event.event_id
    assert abx.event_type == "CompatOrderPlaced"
    assert (abx.order_id, abx.amount, abx.items) == ("o-2", 1.5, ["z"])
    assert abx.event_status == "pending"
    assert abx.event_result_type is str
    assert same_instant(event.event_created_at, abx.event_created_at)


def test_a_completed_triobus_event_validates_in_abxbus_with_its_state() -> None:
    """Ids, lineage, path and results reach abxbus intact."""
    order, _child, bus = trio_completed_order()
    abx = AbxOrderPlaced.model_validate_json(converter.dumps(order))
    assert abx.event_id == order.event_id
    assert abx.event_parent_id == order.event_parent_id
    assert abx.event_path == [bus.label]
    assert abx.event_status == "completed"
    assert same_instant(order.event_started_at, abx.event_started_at)
    assert same_instant(order.event_completed_at, abx.event_completed_at)
    assert list(abx.event_results) == list(order.event_results)
    for handler_id, entry in order.event_results.items():
        back = abx.event_results[handler_id]
        assert (back.id, back.status) == (entry.id, entry.status)
        assert back.handler_id == entry.handler_id
        assert back.handler_name == entry.handler_name
        assert (back.eventbus_id, back.eventbus_name) == (bus.id, "Shop")
        assert back.result == entry.result
        assert back.timeout == entry.timeout
        assert same_instant(entry.completed_at, back.completed_at)
        # abxbus loads every error as a plain Exception with the message.
        assert (str(back.error) if back.error else None) == (
            str(entry.error) if entry.error else None
        )


def test_a_triobus_child_event_validates_in_abxbus_with_its_lineage() -> None:
    """The child's parent id and emitting handler reach abxbus."""
    order, child, _bus = trio_completed_order()
    abx = AbxReceiptSent.model_validate_json(converter.dumps(child))
    assert abx.event_parent_id == order.event_id
    assert abx.event_emitted_by_handler_id == child.event_emitted_by_handler_id
    assert abx.event_path == child.event_path
    written = json.loads(converter.dumps(order))
    first = next(iter(written["event_results"].values()))
    assert first["event_children"] == [child.event_id]


def test_a_triobus_event_loads_through_abxbus_generic_base_event() -> None:
    """abxbus's untyped path keeps the payload as extra attributes."""
    order, _child, _bus = trio_completed_order()
    text = converter.dumps(order)
    for generic in (
        abxbus.BaseEvent.model_validate_json(text),
        abxbus.BaseEvent.model_validate(json.loads(text)),
    ):
        assert generic.event_id == order.event_id
        assert generic.event_type == "CompatOrderPlaced"
        assert generic.event_parent_id == order.event_parent_id
        assert generic.event_path == order.event_path
        assert getattr(generic, "order_id") == "o-1"  # noqa: B009 - an extra field
        assert getattr(generic, "items") == ["a", "b"]  # noqa: B009
        assert list(generic.event_results) == list(order.event_results)
        assert generic.event_result_type is str


def test_triobus_writes_abxbus_key_names_and_value_shapes(
    abx_order: tuple[AbxOrderPlaced, AbxReceiptSent],
) -> None:
    """Every key triobus writes is one abxbus writes, with the same JSON type."""
    abx, _ = abx_order
    theirs = json.loads(abx.model_dump_json())
    order, _child, _bus = trio_completed_order()
    ours = json.loads(converter.dumps(order))
    assert set(theirs) - set(ours) == {"event_ttl", "event_result_ttl"}
    assert set(ours) <= set(theirs)
    for key in ours:
        if ours[key] is not None and theirs[key] is not None:
            assert type(ours[key]) is type(theirs[key]), key
    their_entry = next(iter(theirs["event_results"].values()))
    our_entry = next(iter(ours["event_results"].values()))
    # ``timeout`` is a field of abxbus's EventResult that its JSON leaves out.
    assert set(our_entry) - set(their_entry) == {"timeout"}
    for key in our_entry.keys() & their_entry.keys():
        if our_entry[key] is not None and their_entry[key] is not None:
            assert type(our_entry[key]) is type(their_entry[key]), key


def test_an_error_of_a_type_unknown_here_keeps_its_name_across_libraries() -> None:
    """abxbus writes the exception's class name; triobus keeps it on relay."""
    data = json.loads(AbxOrderPlaced(order_id="o").model_dump_json())
    data["event_results"] = {
        str(uuid.uuid4()): {
            "status": "error",
            "error": {"type": "PaymentGatewayError", "message": "timeout upstream"},
            "handler_name": "shop.pay",
            "eventbus_name": "Shop",
        }
    }
    loaded = converter.loads(json.dumps(data), TrioOrderPlaced)
    (entry,) = loaded.event_results.values()
    assert isinstance(entry.error, RemoteHandlerError)
    assert entry.error.type_name == "PaymentGatewayError"
    written = json.loads(converter.dumps(loaded))
    (back,) = written["event_results"].values()
    assert back["error"] == {
        "type": "PaymentGatewayError",
        "message": "timeout upstream",
    }
    assert AbxOrderPlaced.model_validate(written).event_results
