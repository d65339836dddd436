"""Event and handler concurrency, and completion policies (section 5)."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from triobus import (
    BaseEvent,
    EventBus,
    EventHandlerAbortedError,
    EventHandlerCancelledError,
)


class Work(BaseEvent[str]):
    name: str = ""
    delay: float = 1.0


def tracker() -> tuple[list[str], dict[str, int]]:
    return [], {"now": 0, "peak": 0}


async def test_bus_serial_runs_one_event_at_a_time_per_bus(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Under bus-serial, events on one bus never overlap; buses do."""
    active = {"A": 0, "B": 0}
    peak = {"A": 0, "B": 0}

    async def handler(event: Work) -> str:
        name = event.bus.name
        active[name] += 1
        peak[name] = max(peak[name], active[name])
        await trio.sleep(event.delay)
        active[name] -= 1
        return event.name

    async with EventBus("A") as a, EventBus("B") as b:
        a.on(Work, handler)
        b.on(Work, handler)
        for i in range(3):
            a.emit(Work(name=f"a{i}"))
            b.emit(Work(name=f"b{i}"))
        await a.wait_until_idle()
        await b.wait_until_idle()
    assert peak == {"A": 1, "B": 1}
    assert trio.current_time() == 3  # the two buses overlapped


async def test_global_serial_runs_one_event_across_all_buses(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Under global-serial, one event at a time in the whole ``trio.run``."""
    active = [0]
    peak = [0]

    async def handler(event: Work) -> str:
        active[0] += 1
        peak[0] = max(peak[0], active[0])
        await trio.sleep(1)
        active[0] -= 1
        return "x"

    async with (
        EventBus("A", event_concurrency="global-serial") as a,
        EventBus("B", event_concurrency="global-serial") as b,
    ):
        a.on(Work, handler)
        b.on(Work, handler)
        for _ in range(3):
            a.emit(Work())
            b.emit(Work())
    assert peak == [1]
    assert trio.current_time() == 6


async def test_parallel_events_start_as_soon_as_they_are_emitted(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Under parallel, every event runs in its own task at once."""
    async with EventBus("P", event_concurrency="parallel") as bus:

        async def handler(event: Work) -> str:
            await trio.sleep(5)
            return event.name

        bus.on(Work, handler)
        events = [bus.emit(Work(name=str(i))) for i in range(10)]
        await bus.wait_until_idle()
    assert trio.current_time() == 5
    assert [await e.event_result() for e in events] == [str(i) for i in range(10)]


async def test_an_events_own_concurrency_beats_the_bus_default_both_ways(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A parallel event on a serial bus starts at once; a serial one on a parallel
    bus waits for the bus slot."""
    starts: dict[str, float] = {}

    async def handler(event: Work) -> str:
        starts[event.name] = trio.current_time()
        await trio.sleep(1)
        return event.name

    async with (
        EventBus("Serial") as serial,
        EventBus("Parallel", event_concurrency="parallel") as parallel,
    ):
        serial.on(Work, handler)
        parallel.on(Work, handler)
        serial.emit(Work(name="s1"))
        serial.emit(Work(name="s2"))
        serial.emit(Work(name="s-par", event_concurrency="parallel"))
        parallel.emit(Work(name="p-ser1", event_concurrency="bus-serial"))
        parallel.emit(Work(name="p-ser2", event_concurrency="bus-serial"))
        parallel.emit(Work(name="p-par"))
    assert starts == {
        "s1": 0,
        "s2": 1,
        "s-par": 0,
        "p-ser1": 0,
        "p-ser2": 1,
        "p-par": 0,
    }


async def test_serial_handlers_run_one_after_another_in_order(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Serial handler concurrency: registration order, no overlap."""
    trace: list[str] = []

    def make(name: str, delay: float):
        async def handler(event: Work) -> str:
            trace.append(f"start {name}")
            await trio.sleep(delay)
            trace.append(f"end {name}")
            return name

        return handler

    async with EventBus("S") as bus:
        bus.on(Work, make("slow", 2))
        bus.on(Work, make("fast", 1))
        event = await bus.emit(Work())
    assert trace == ["start slow", "end slow", "start fast", "end fast"]
    assert trio.current_time() == 3
    assert await event.event_results_list() == ["slow", "fast"]


async def test_parallel_handlers_start_together_and_keep_registration_order(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Parallel handler concurrency: all start at once; results stay in order."""
    async with EventBus("PH", event_handler_concurrency="parallel") as bus:

        def make(name: str, delay: float):
            async def handler(event: Work) -> str:
                await trio.sleep(delay)
                return name

            return handler

        bus.on(Work, make("slow", 3))
        bus.on(Work, make("fast", 1))
        event = await bus.emit(Work())
    assert trio.current_time() == 3
    assert await event.event_results_list() == ["slow", "fast"]
    starts = [r.started_at for r in event.event_results.values()]
    assert starts[0] is not None
    assert starts[1] is not None


async def test_first_serial_skips_handlers_after_the_winner() -> None:
    """Serial ``first``: the first usable value wins; later handlers never start."""
    calls: list[str] = []

    def none(event: Work) -> None:
        calls.append("none")

    def fails(event: Work) -> str:
        calls.append("fails")
        raise ValueError("nope")

    def zero(event: Work) -> int:
        calls.append("zero")
        return 0

    def never(event: Work) -> str:
        calls.append("never")
        return "never"

    class Num(BaseEvent[int]):
        pass

    async with EventBus("First", event_handler_completion="first") as bus:
        for handler in (none, fails, zero, never):
            bus.on(Num, handler)
        event = await bus.emit(Num())
    assert calls == ["none", "fails", "zero"]
    results = list(event.event_results.values())
    assert isinstance(results[3].error, EventHandlerCancelledError)
    assert results[3].started_at is None
    # The ValueError is a real failure; the cancelled loser is not.
    with pytest.raises(ValueError, match="nope"):
        await event.event_result()
    assert await event.event_result(raise_if_any=False) == 0


async def test_first_parallel_cancels_the_losers_with_a_reason(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Parallel ``first``: the winner cancels the rest, which become aborted."""

    async def slow(event: Work) -> str:
        await trio.sleep(10)
        return "slow"

    async def quick(event: Work) -> str:
        await trio.sleep(1)
        return "quick"

    async with EventBus(
        "Race", event_handler_concurrency="parallel", event_handler_completion="first"
    ) as bus:
        bus.on(Work, slow)
        bus.on(Work, quick)
        event = await bus.emit(Work())
    assert trio.current_time() == 1
    loser, winner = event.event_results.values()
    assert isinstance(loser.error, EventHandlerAbortedError)
    assert "won" in str(loser.error)
    assert winner.result == "quick"
    assert await event.event_result() == "quick"
    assert await event.event_results_list() == ["quick"]


async def test_first_with_no_winner_runs_every_handler() -> None:
    """When nobody returns a usable value, every handler runs to the end."""
    async with EventBus("None", event_handler_completion="first") as bus:
        bus.on(Work, lambda e: None)
        bus.on(Work, lambda e: None)
        event = await bus.emit(Work())
    assert [r.status for r in event.event_results.values()] == ["completed"] * 2
    assert await event.event_result() is None


async def test_first_method_on_a_pending_event_processes_it_in_first_mode(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """``await event.first()`` before processing switches the event to ``first``."""

    async def slow(event: Work) -> str:
        await trio.sleep(5)
        return "slow"

    async def quick(event: Work) -> str:
        await trio.sleep(1)
        return "quick"

    async with EventBus("M", event_handler_concurrency="parallel") as bus:
        bus.on(Work, slow)
        bus.on(Work, quick)
        assert await bus.emit(Work()).first() == "quick"
        assert trio.current_time() == 1
        # On an event that already started, first() waits for all handlers.
        started = bus.emit(Work())
        await trio.testing.wait_all_tasks_blocked()
        assert await started.first() == "slow"


async def test_per_event_completion_and_handler_concurrency_beat_the_bus(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Event-level handler options override the bus defaults both ways."""

    async def a(event: Work) -> str:
        await trio.sleep(2)
        return "a"

    async def b(event: Work) -> str:
        await trio.sleep(1)
        return "b"

    async with EventBus("Opts") as bus:
        bus.on(Work, a)
        bus.on(Work, b)
        event = await bus.emit(
            Work(event_handler_concurrency="parallel", event_handler_completion="first")
        )
        assert await event.event_result() == "b"
        assert trio.current_time() == 1
    async with EventBus(
        "Opts2", event_handler_concurrency="parallel", event_handler_completion="first"
    ) as bus:
        bus.on(Work, a)
        bus.on(Work, b)
        event = await bus.emit(
            Work(event_handler_concurrency="serial", event_handler_completion="all")
        )
        assert await event.event_results_list() == ["a", "b"]
        assert trio.current_time() == 4
