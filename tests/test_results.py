"""Handler results, the accessors and error handling (sections 7 and 9)."""

from __future__ import annotations

import contextvars
import logging

import attrs
import pytest
import trio
import trio.lowlevel

from triobus import (
    BaseEvent,
    EventBus,
    EventHandlerTimeoutError,
    EventResult,
    EventResultStatus,
    EventResultTypeError,
)


class Query(BaseEvent[int]):
    q: str = ""


class Untyped(BaseEvent[None]):
    pass


async def test_results_record_status_timing_and_bus() -> None:
    """Each handler leaves a complete EventResult on the event."""
    async with EventBus("R") as bus:
        entry = bus.on(Query, lambda e: 7)
        event = await bus.emit(Query())
    result = event.event_results[entry.id]
    assert isinstance(result, EventResult)
    assert result.status is EventResultStatus.COMPLETED
    assert (result.result, result.error) == (7, None)
    assert (result.handler_id, result.handler_name) == (entry.id, entry.handler_name)
    assert (result.eventbus_id, result.eventbus_name) == (bus.id, "R")
    assert result.event_id == event.event_id
    assert result.started_at is not None
    assert result.completed_at is not None
    assert result.started_at <= result.completed_at
    assert await result == 7


async def test_awaiting_an_error_result_raises_it() -> None:
    """``await entry`` raises the handler's exception."""

    def boom(event: Query) -> int:
        raise KeyError("missing")

    async with EventBus("E") as bus:
        entry = bus.on(Query, boom)
        event = await bus.emit(Query())
    with pytest.raises(KeyError, match="missing"):
        await event.event_results[entry.id]


async def test_a_failing_handler_never_stops_the_others_or_the_bus(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Errors are stored, logged at DEBUG only, and processing goes on."""

    def boom(event: Query) -> int:
        raise RuntimeError("handler broke")

    caplog.set_level(logging.DEBUG, logger="triobus")
    async with EventBus("Robust") as bus:
        bus.on(Query, boom)
        bus.on(Query, lambda e: 2)
        first = await bus.emit(Query())
        second = await bus.emit(Query())
    assert await first.event_results_list(raise_if_any=False) == [2]
    assert await second.event_results_list(raise_if_any=False) == [2]
    records = [r for r in caplog.records if "handler broke" in r.getMessage()]
    assert records
    assert all(r.levelno == logging.DEBUG for r in records)


async def test_raise_if_any_raises_the_one_error_itself() -> None:
    """One failure: the accessor raises that exception object."""
    error = ValueError("bad input")

    def boom(event: Query) -> int:
        raise error

    async with EventBus("One") as bus:
        bus.on(Query, boom)
        bus.on(Query, lambda e: 1)
        event = await bus.emit(Query())
    with pytest.raises(ValueError, match="bad input") as info:
        await event.event_result()
    assert info.value is error
    assert await event.event_result(raise_if_any=False) == 1


async def test_several_errors_raise_a_group_with_notes_naming_handlers() -> None:
    """Several failures: an ExceptionGroup naming the event, a note per member."""

    def bad_one(event: Query) -> int:
        raise ValueError("one")

    def bad_two(event: Query) -> int:
        raise TypeError("two")

    async with EventBus("Group") as bus:
        one = bus.on(Query, bad_one)
        two = bus.on(Query, bad_two)
        event = await bus.emit(Query())
    with pytest.raises(ExceptionGroup) as info:
        await event.event_results_list()
    group = info.value
    assert event.label in str(group)
    notes = [e.__notes__ for e in group.exceptions]
    assert any(one.handler_name in n[0] for n in notes)
    assert any(two.handler_name in n[0] for n in notes)
    # Reading again does not pile up duplicate notes.
    with pytest.raises(ExceptionGroup):
        await event.event_results_list()
    assert all(len(e.__notes__) == 1 for e in group.exceptions)


async def test_raise_if_none_names_the_event() -> None:
    """No valid value and ``raise_if_none``: ValueError naming the event."""
    async with EventBus("NoneBus") as bus:
        bus.on(Query, lambda e: None)
        event = await bus.emit(Query())
    assert await event.event_result() is None
    with pytest.raises(ValueError, match=event.label):
        await event.event_result(raise_if_none=True)


async def test_all_failed_is_quiet_only_with_both_flags_off() -> None:
    """When every handler failed, only both flags off return quietly."""

    def boom(event: Query) -> int:
        raise ValueError("x")

    async with EventBus("AllFail") as bus:
        bus.on(Query, boom)
        event = await bus.emit(Query())
    with pytest.raises(ValueError, match="x"):
        await event.event_result()
    with pytest.raises(ValueError, match="no handler"):
        await event.event_result(raise_if_any=False, raise_if_none=True)
    assert await event.event_results_list(raise_if_any=False) == []


async def test_include_replaces_the_validity_test() -> None:
    """``include(value, entry)`` decides which results count."""
    async with EventBus("Include") as bus:
        bus.on(Query, lambda e: 1)
        bus.on(Query, lambda e: None)
        bus.on(Query, lambda e: 3)
        event = await bus.emit(Query())
    odd_or_none = await event.event_results_list(
        include=lambda value, entry: value is None or value % 2 == 1
    )
    assert odd_or_none == [1, None, 3]
    assert await event.event_result(include=lambda v, e: v == 3) == 3


async def test_return_values_are_validated_against_the_result_type() -> None:
    """A value that does not fit ``event_result_type`` makes an error result."""
    async with EventBus("Typed") as bus:
        bad = bus.on(Query, lambda e: "not an int")
        good = bus.on(Query, lambda e: 4)
        event = await bus.emit(Query())
    error = event.event_results[bad.id].error
    assert isinstance(error, EventResultTypeError)
    assert isinstance(error, TypeError)
    assert bad.handler_name in str(error)
    assert "'not an int'" in str(error)
    assert "int" in str(error)
    assert event.event_results[good.id].result == 4


async def test_attrs_and_generic_result_types_are_structured() -> None:
    """Result values go through the converter: dicts become attrs classes."""

    @attrs.define
    class User:
        name: str
        age: int

    class Lookup(BaseEvent[User]):
        pass

    class Many(BaseEvent[list[int]]):
        pass

    async with EventBus("Structured") as bus:
        bus.on(Lookup, lambda e: {"name": "ann", "age": 3})
        bus.on(Lookup, lambda e: User("bob", 4))
        bus.on(Many, lambda e: [1, 2])
        bus.on(Many, lambda e: [1, "two"])
        lookup = await bus.emit(Lookup())
        many = await bus.emit(Many())
    assert await lookup.event_results_list() == [User("ann", 3), User("bob", 4)]
    assert await many.event_results_list(raise_if_any=False) == [[1, 2]]


async def test_untyped_events_accept_any_value() -> None:
    """``BaseEvent[None]`` means results are not validated."""
    async with EventBus("Untyped") as bus:
        bus.on(Untyped, lambda e: {"anything": object})
        event = await bus.emit(Untyped())
    assert await event.event_result() == {"anything": object}


async def test_returned_events_are_not_values() -> None:
    """A handler returning an event (as forwarders do) is not validated or valid."""
    async with EventBus("A") as a, EventBus("B") as b:
        a.on("*", b.emit)
        b.on(Query, lambda e: 5)
        event = await a.emit(Query())
    assert await event.event_results_list() == [5]


class FatalSignal(BaseException):
    """Stands in for KeyboardInterrupt: a BaseException that must propagate."""


async def test_base_exceptions_propagate_and_are_never_stored() -> None:
    """KeyboardInterrupt-like exceptions escape the bus instead of being results."""

    def fatal(event: Query) -> int:
        raise FatalSignal

    with pytest.RaisesGroup(FatalSignal, flatten_subgroups=True, allow_unwrapped=True):
        async with EventBus("Fatal") as bus:
            bus.on(Query, fatal)
            event = bus.emit(Query())
            await event
    assert not any(
        isinstance(r.error, FatalSignal) for r in event.event_results.values()
    )


async def test_timeout_error_message_names_handler_event_and_budget(
    autojump_clock: object,
) -> None:
    """Messages say what was expected and what happened, with names."""

    async def slow(event: Query) -> int:
        await trio.sleep(10)
        return 1

    async with EventBus("Msg") as bus:
        entry = bus.on(Query, slow, handler_timeout=5.0)
        event = await bus.emit(Query())
    error = event.event_results[entry.id].error
    assert isinstance(error, EventHandlerTimeoutError)
    assert isinstance(error, TimeoutError)
    assert str(error) == f"handler {entry.label} for {event.label} timed out after 5.0s"


async def test_result_update_validates_and_sets_status() -> None:
    """``event_result_update`` seeds an entry that the bus then fills in."""
    bus = EventBus("Seed")
    entry = bus.on(Query, lambda e: 9)
    event = Query()
    seeded = event.event_result_update(handler=entry, eventbus=bus, status="pending")
    assert seeded.status == "pending"
    with pytest.raises(EventResultTypeError):
        seeded.update(result="nope")
    seeded.update(result=3)
    assert (seeded.status, seeded.result) == ("completed", 3)
    seeded.update(error=ValueError("v"))
    assert seeded.status == "error"


var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")


async def test_handlers_see_the_emitters_context_and_never_leak_back() -> None:
    """Context variables from emit time reach handlers; changes stay inside."""
    seen: list[str] = []
    async with EventBus("Ctx", event_handler_concurrency="parallel") as bus:

        async def reader(event: Query) -> int:
            seen.append(var.get())
            var.set("changed by handler")
            await trio.lowlevel.checkpoint()
            seen.append(var.get())
            return 1

        async def sibling(event: Query) -> int:
            await trio.lowlevel.checkpoint()
            seen.append(var.get())
            return 2

        bus.on(Query, reader)
        bus.on(Query, sibling)
        token = var.set("from emitter")
        event = bus.emit(Query())
        var.reset(token)
        await event
        assert var.get() == "unset"
    assert sorted(seen) == sorted(
        ["from emitter", "changed by handler", "from emitter"]
    )


async def test_context_follows_forwarding_and_queue_jumps() -> None:
    """The first emitter's context reaches every bus and inline children."""
    seen: list[str] = []
    async with EventBus("A") as a, EventBus("B") as b:
        a.on("*", b.emit)

        async def parent(event: Query) -> int:
            seen.append(f"parent {var.get()}")
            await a.emit(Untyped())
            return 1

        def child(event: Untyped) -> None:
            seen.append(f"child {var.get()}")

        b.on(Query, lambda e: seen.append(f"forwarded {var.get()}"))
        a.on(Query, parent)
        a.on(Untyped, child)
        var.set("origin")
        event = a.emit(Query())
        var.set("later")
        await event
    assert seen == ["parent origin", "child origin", "forwarded origin"]
