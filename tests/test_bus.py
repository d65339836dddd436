"""The bus's lifecycle, handler registration and statistics (spec section 3)."""

from __future__ import annotations

import functools
from typing import Any

import pytest
import trio
import trio.lowlevel
import trio.testing

from triobus import (
    BaseEvent,
    BusClosedError,
    BusNotRunningError,
    EventBus,
    EventHandler,
    EventHandlerAbortedError,
    EventHandlerCancelledError,
)


class Ping(BaseEvent[str]):
    n: int = 0


class Other(BaseEvent[str]):
    pass


async def test_async_with_runs_the_bus_and_drains_on_normal_exit() -> None:
    """Leaving ``async with`` normally waits for every emitted event."""
    done: list[int] = []

    async def handler(event: Ping) -> str:
        await trio.lowlevel.checkpoint()
        done.append(event.n)
        return "ok"

    async with EventBus("Drain") as bus:
        bus.on(Ping, handler)
        events = [bus.emit(Ping(n=i)) for i in range(5)]
    assert done == [0, 1, 2, 3, 4]
    assert all(e.event_status == "completed" for e in events)


async def test_nursery_start_returns_the_running_bus() -> None:
    """``await nursery.start(bus.run)`` hands back the bus, ready to emit."""
    async with trio.open_nursery() as nursery:
        bus = EventBus("Embedded")
        started = await nursery.start(bus.run)
        assert started is bus
        bus.on(Ping, lambda e: "pong")
        assert await bus.emit(Ping()).event_result() == "pong"
        await bus.aclose()
    with pytest.raises(BusClosedError):
        bus.emit(Ping())


async def test_emit_before_running_says_how_to_run_the_bus() -> None:
    """A bus that was never started refuses with a message naming the fix."""
    bus = EventBus("Idle")
    with pytest.raises(BusNotRunningError, match="async with bus"):
        bus.emit(Ping())


async def test_emit_after_close_raises_bus_closed_error() -> None:
    """A closed bus raises BusClosedError, a trio.ClosedResourceError."""
    async with EventBus("Closed") as bus:
        pass
    with pytest.raises(trio.ClosedResourceError):
        bus.emit(Ping())


async def test_a_bus_cannot_be_started_twice() -> None:
    """Running a bus a second time is a programming error."""
    async with EventBus("Once") as bus:
        pass
    with pytest.raises(RuntimeError, match="already been started"):
        await bus.run()


async def test_handlers_registered_before_running_are_used() -> None:
    """Registration does not need a running bus."""
    bus = EventBus("Early")
    bus.on(Ping, lambda e: "early")
    async with bus:
        assert await bus.emit(Ping()).event_result() == "early"


async def test_leaving_by_exception_cancels_in_flight_handlers() -> None:
    """An error in the ``async with`` body aborts running handlers and closes."""
    started = trio.Event()

    async def forever(event: Ping) -> str:
        started.set()
        await trio.sleep_forever()
        return "never"

    bus = EventBus("Boom")
    bus.on(Ping, forever)
    bus.on(Ping, forever)
    emitted: list[Ping] = []

    async def failing_body() -> None:
        async with bus:
            emitted.append(bus.emit(Ping()))
            await started.wait()
            raise ValueError("body failed")

    with pytest.raises(ValueError, match="body failed"):
        await failing_body()
    (event,) = emitted
    first, second = event.event_results.values()
    assert isinstance(first.error, EventHandlerAbortedError)
    assert isinstance(second.error, EventHandlerCancelledError)
    assert event.event_status == "completed"


async def test_outer_cancellation_ends_queued_events_as_cancelled() -> None:
    """Cancelling around the bus leaves no event queued or unfinished."""
    gate = trio.Event()

    async def blocked(event: Ping) -> str:
        await gate.wait()
        return "late"

    with trio.move_on_after(1) as scope:
        async with EventBus("Cancel") as bus:
            bus.on(Ping, blocked)
            events = [bus.emit(Ping(n=i)) for i in range(3)]
            await trio.sleep_forever()
    assert scope.cancelled_caught
    assert [e.event_status for e in events] == ["completed"] * 3
    running, *queued = events
    assert isinstance(
        next(iter(running.event_results.values())).error, EventHandlerAbortedError
    )
    for event in queued:
        (result,) = event.event_results.values()
        assert isinstance(result.error, EventHandlerCancelledError)
    stats = bus.statistics()
    assert (stats.queued, stats.running) == (0, 0)


async def test_aclose_from_a_handler_closes_after_the_drain() -> None:
    """A handler may close its own bus; the close waits for the drain."""
    async with trio.open_nursery() as nursery:
        bus: EventBus = await nursery.start(EventBus("SelfClose").run)

        async def closer(event: Ping) -> str:
            await bus.aclose()
            return "closing"

        bus.on(Ping, closer)
        event = bus.emit(Ping())
    assert event.event_results
    assert await event.event_result() == "closing"
    with pytest.raises(BusClosedError):
        bus.emit(Ping())


async def test_close_never_hangs_on_a_handler_that_ignores_cancellation_once(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Outer cancellation finishes even when a handler swallows one Cancelled."""

    async def stubborn(event: Ping) -> str:
        try:
            await trio.sleep_forever()
        except trio.Cancelled:
            return "swallowed"
        return "unreachable"

    with trio.move_on_after(5):
        async with EventBus("Stubborn") as bus:
            bus.on(Ping, stubborn)
            event = bus.emit(Ping())
            await trio.sleep_forever()
    (result,) = event.event_results.values()
    assert isinstance(result.error, EventHandlerAbortedError)
    assert result.result is None
    assert trio.current_time() == 5


async def test_every_handler_kind_is_accepted() -> None:
    """Async and sync functions, methods, lambdas, partials, callable objects."""

    class Service:
        def __init__(self) -> None:
            self.prefix = "m"

        async def method(self, event: Ping) -> str:
            await trio.lowlevel.checkpoint()
            return f"{self.prefix}{event.n}"

    class AsyncCallable:
        async def __call__(self, event: Ping) -> str:
            await trio.lowlevel.checkpoint()
            return "callable"

    async def with_suffix(event: Ping, suffix: str) -> str:
        await trio.lowlevel.checkpoint()
        return f"p{suffix}"

    def sync(event: Ping) -> str:
        return "sync"

    async def coro_value() -> str:
        await trio.lowlevel.checkpoint()
        return "awaited"

    async with EventBus("Kinds") as bus:
        bus.on(Ping, Service().method)
        bus.on(Ping, AsyncCallable())
        bus.on(Ping, functools.partial(with_suffix, suffix="!"))
        bus.on(Ping, sync)
        bus.on(Ping, lambda e: coro_value())
        values = await bus.emit(Ping(n=3)).event_results_list()
    assert values == ["m3", "callable", "p!", "sync", "awaited"]


async def test_on_returns_a_registration_record() -> None:
    """``on`` returns an EventHandler with the fields of spec section 3.1."""

    async def check(event: Ping) -> str:
        return "ok"

    bus = EventBus("Records")
    entry = bus.on(Ping, check, handler_timeout=5.0, handler_slow_timeout=1.0)
    again = bus.on(Ping, check)
    assert isinstance(entry, EventHandler)
    assert entry.id != again.id
    assert entry.handler_name == f"{__name__}.{check.__qualname__}"
    assert entry.event_pattern == "Ping"
    assert (entry.handler_timeout, entry.handler_slow_timeout) == (5.0, 1.0)
    assert (entry.eventbus_name, entry.eventbus_id) == ("Records", bus.id)
    assert entry.registered_at.tzinfo is not None


async def test_handlers_run_in_registration_order_across_typed_and_wildcard() -> None:
    """Typed and ``"*"`` handlers interleave by registration, not by kind."""
    order: list[str] = []

    def make(name: str) -> Any:
        def handler(event: BaseEvent[Any]) -> str:
            order.append(name)
            return name

        return handler

    async with EventBus("Order") as bus:
        bus.on("*", make("star1"))
        bus.on(Ping, make("typed1"))
        bus.on("*", make("star2"))
        bus.on("Ping", make("typed2"))
        event = await bus.emit(Ping())
    assert order == ["star1", "typed1", "star2", "typed2"]
    assert [r.result for r in event.event_results.values()] == order


async def test_handlers_match_event_type_not_subclass() -> None:
    """A handler for a parent class does not receive subclass events."""

    class Child(Ping):
        pass

    seen: list[str] = []
    async with EventBus("Match") as bus:
        bus.on(Ping, lambda e: seen.append(e.event_type))
        await bus.emit(Child())
        await bus.emit(Ping())
    assert seen == ["Ping"]


async def test_off_removes_by_callable_record_id_and_pattern() -> None:
    """``off`` accepts the callable, the record, its id, or nothing (all)."""

    def a(event: Ping) -> str:
        return "a"

    def b(event: Ping) -> str:
        return "b"

    bus = EventBus("Off")
    bus.on(Ping, a)
    entry_b = bus.on(Ping, b)
    entry_c = bus.on(Ping, b)
    bus.on(Other, a)
    assert bus.off(Ping, a) == 1
    assert bus.off(Ping, entry_b) == 1
    assert bus.off(Ping, entry_c.id) == 1
    assert bus.off(Ping, b) == 0
    assert bus.off(Other) == 1
    assert bus.handlers == ()


async def test_handler_set_is_frozen_per_event() -> None:
    """Handlers added or removed mid-event do not change that event's set."""
    async with EventBus("Frozen") as bus:
        late_entries: list[EventHandler] = []

        def late(event: Ping) -> str:
            return "late"

        def second(event: Ping) -> str:
            return "second"

        second_entry = bus.on(Ping, second)

        async def first(event: Ping) -> str:
            late_entries.append(bus.on(Ping, late))
            bus.off(Ping, second_entry)
            await trio.lowlevel.checkpoint()
            return "first"

        bus.off(Ping, second_entry)
        bus.on(Ping, first)
        second_entry = bus.on(Ping, second)
        event = await bus.emit(Ping())
        assert await event.event_results_list() == ["first", "second"]
        again = await bus.emit(Ping())
        assert await again.event_results_list() == ["first", "late"]


async def test_bad_arguments_are_rejected_clearly() -> None:
    """Bad patterns, handlers and options raise TypeError/ValueError at once."""
    bus = EventBus("Bad")
    with pytest.raises(TypeError, match="callable"):
        bus.on(Ping, "not callable")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="event pattern"):
        bus.on(42, print)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="handler_timeout"):
        bus.on(Ping, print, handler_timeout=-1)
    with pytest.raises(ValueError, match="global-serial"):
        EventBus(event_concurrency="sideways")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_pending"):
        EventBus(max_pending=-1)
    with pytest.raises(TypeError, match="emit takes an event"):
        async with EventBus() as running:
            running.emit("nope")  # type: ignore[type-var]


async def test_labels_tell_same_name_buses_apart() -> None:
    """Two buses may share a name; their labels and ids differ."""
    one, two = EventBus("Same"), EventBus("Same")
    assert one.name == two.name == "Same"
    assert one.label != two.label
    assert one.label == f"Same#{one.id[-4:]}"


async def test_statistics_snapshot_counts_work() -> None:
    """``statistics()`` reports queue depth, running, completed and handlers."""
    gate = trio.Event()

    async def wait(event: Ping) -> str:
        await gate.wait()
        return "ok"

    async with EventBus("Stats") as bus:
        bus.on(Ping, wait)
        for _ in range(3):
            bus.emit(Ping())
        await trio.testing.wait_all_tasks_blocked()
        stats = bus.statistics()
        assert (stats.queued, stats.running, stats.completed) == (2, 1, 0)
        assert (stats.handlers, stats.history_size) == (1, 3)
        gate.set()
        await bus.wait_until_idle()
        stats = bus.statistics()
        assert (stats.queued, stats.running, stats.completed) == (0, 0, 3)
        with pytest.raises(AttributeError):
            stats.queued = 5  # type: ignore[misc]


async def test_wait_until_idle_waits_for_children_emitted_meanwhile() -> None:
    """Idle means nothing queued or running, including events emitted late."""
    seen: list[str] = []

    async def parent(event: Ping) -> str:
        await trio.lowlevel.checkpoint()
        bus.emit(Other())
        return "p"

    async with EventBus("Idle") as bus:
        bus.on(Ping, parent)
        bus.on(Other, lambda e: seen.append("child"))
        bus.emit(Ping())
        await bus.wait_until_idle()
        assert seen == ["child"]
        assert bus.statistics().queued == 0


def test_no_state_outlives_a_trio_run() -> None:
    """A second ``trio.run`` gets a fresh global-serial lock and works."""

    async def once() -> str | None:
        async with EventBus("Run", event_concurrency="global-serial") as bus:
            bus.on(Ping, lambda e: "ok")
            return await bus.emit(Ping()).event_result()

    assert trio.run(once) == "ok"
    assert trio.run(once) == "ok"
