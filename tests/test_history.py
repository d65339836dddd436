"""History, find/filter and backpressure (section 10)."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from triobus import BaseEvent, EventBus


class Order(BaseEvent[str]):
    customer: str = ""
    amount: int = 0


class Refund(BaseEvent[str]):
    customer: str = ""


async def test_history_holds_events_in_emit_order_read_only() -> None:
    """``event_history`` maps ids to events in emit order and cannot be edited."""
    async with EventBus("H") as bus:
        events = [bus.emit(Order(amount=i)) for i in range(3)]
        assert list(bus.event_history) == [e.event_id for e in events]
        assert list(bus.event_history.values()) == events
        with pytest.raises(TypeError):
            bus.event_history["x"] = events[0]  # type: ignore[index]


async def test_history_drops_oldest_completed_events_but_never_running_ones(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """With a bound and dropping on, completed events make room."""
    gate = trio.Event()
    async with EventBus("Drop", max_history_size=3) as bus:

        async def handler(event: Order) -> str:
            if event.amount == 0:
                await gate.wait()
            await trio.sleep(event.amount)  # parallel ones finish in order
            return "ok"

        bus.on(Order, handler)
        blocker = bus.emit(Order(amount=0))
        for i in range(1, 6):
            bus.emit(Order(amount=i, event_concurrency="parallel"))
        await trio.sleep(10)
        amounts = [e.amount for e in bus.event_history.values()]
        assert amounts == [0, 4, 5]
        assert blocker.event_id in bus.event_history
        gate.set()
        await bus.wait_until_idle()
        assert bus.statistics().dropped == 3
        assert len(bus.event_history) == 3


async def test_history_size_zero_keeps_only_in_flight_events() -> None:
    """``max_history_size=0`` forgets each event once it completes."""
    gate = trio.Event()
    async with EventBus("Zero", max_history_size=0) as bus:

        async def handler(event: Order) -> str:
            await gate.wait()
            return "ok"

        bus.on(Order, handler)
        event = bus.emit(Order())
        assert list(bus.event_history) == [event.event_id]
        gate.set()
        await event
        assert dict(bus.event_history) == {}


async def test_without_dropping_emit_refuses_once_the_bound_is_unfinished() -> None:
    """``max_history_drop=False`` refuses with WouldBlock; completed events
    never cause a refusal."""
    gate = trio.Event()
    async with EventBus("Refuse", max_history_size=2, max_history_drop=False) as bus:

        async def handler(event: Order) -> str:
            await gate.wait()
            return "ok"

        bus.on(Order, handler)
        bus.emit(Order())
        bus.emit(Order())
        rejected = Order()
        with pytest.raises(trio.WouldBlock):
            bus.emit(rejected)
        assert rejected.event_id not in bus.event_history
        assert rejected.event_path == []
        gate.set()
        await bus.wait_until_idle()
        for _ in range(10):  # all completed: never refused again
            await bus.emit(Order())
        assert len(bus.event_history) <= 2
        assert bus.statistics().refused == 1


async def test_history_stays_bounded_after_thousands_of_events() -> None:
    """Thousands of events leave at most ``max_history_size`` behind."""
    async with EventBus("Many", max_history_size=50) as bus:
        bus.on(Order, lambda e: "ok")
        for i in range(5000):
            bus.emit(Order(amount=i))
            if i % 500 == 0:
                await bus.wait_until_idle()
        await bus.wait_until_idle()
        assert len(bus.event_history) == 50
        assert [e.amount for e in bus.event_history.values()] == list(range(4950, 5000))
        assert bus.statistics().dropped == 4950


async def test_max_pending_bounds_the_queue_and_emit_wait_waits_for_room() -> None:
    """``emit`` raises WouldBlock when the queue is full; ``emit_wait`` waits."""
    gate = trio.Event()
    async with EventBus("Pressure", max_pending=2) as bus:

        async def handler(event: Order) -> str:
            await gate.wait()
            return "ok"

        bus.on(Order, handler)
        bus.emit(Order(amount=0))
        await trio.testing.wait_all_tasks_blocked()  # the first one started
        bus.emit(Order(amount=1))
        bus.emit(Order(amount=2))
        refused = Order(amount=3)
        with pytest.raises(trio.WouldBlock):
            bus.emit(refused)
        assert refused.event_id not in bus.event_history
        stats = bus.statistics()
        assert (stats.queued, stats.refused) == (2, 1)

        waited: list[Order] = []

        async def producer() -> None:
            waited.append(await bus.emit_wait(refused))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(producer)
            await trio.testing.wait_all_tasks_blocked()
            assert waited == []
            gate.set()
        assert waited == [refused]
        await bus.wait_until_idle()
        assert refused.event_status == "completed"
        assert bus.statistics().refused == 1


async def test_emit_wait_checkpoints_even_when_there_is_room() -> None:
    """The async emit is a checkpoint on its fast path too."""
    async with EventBus("Fast") as bus:
        with trio.testing.assert_checkpoints():
            await bus.emit_wait(Order())


async def test_find_matches_pattern_where_and_keyword_filters() -> None:
    """``find`` returns the newest match; filters combine."""
    async with EventBus("Find") as bus:
        first = bus.emit(Order(customer="ann", amount=5))
        bus.emit(Refund(customer="ann"))
        newest = bus.emit(Order(customer="ann", amount=7))
        bus.emit(Order(customer="bob", amount=7))
        await bus.wait_until_idle()
        assert await bus.find(Order, customer="ann") is newest
        assert await bus.find("Order", where=lambda e: e.amount < 6) is first
        assert await bus.find("*", customer="ann") is newest
        assert await bus.find(Refund, customer="bob") is None
        assert await bus.find(Order, event_status="completed", amount=5) is first
        assert await bus.find(Order, past=False) is None


async def test_filter_returns_newest_first_with_a_limit() -> None:
    """``filter`` lists matches newest first, up to ``limit``."""
    async with EventBus("Filter") as bus:
        events = [bus.emit(Order(amount=i)) for i in range(6)]
        assert await bus.filter(Order) == events[::-1]
        assert await bus.filter(Order, limit=2) == [events[5], events[4]]
        assert await bus.filter(Order, where=lambda e: e.amount % 2 == 0) == [
            events[4],
            events[2],
            events[0],
        ]
        assert await bus.filter(Refund) == []
        with pytest.raises(ValueError, match="limit"):
            await bus.filter(Order, future=True)


async def test_past_seconds_uses_the_trio_clock(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """``past=N`` only sees events emitted in the last N virtual seconds."""
    async with EventBus("Past") as bus:
        old = bus.emit(Order(amount=1))
        await trio.sleep(10)
        recent = bus.emit(Order(amount=2))
        await trio.sleep(3)
        assert await bus.filter(Order, past=5) == [recent]
        assert await bus.filter(Order, past=20) == [recent, old]
        assert await bus.find(Order, past=1) is None


async def test_find_future_resolves_at_emit_not_completion(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A waiting ``find`` returns as soon as a match is emitted."""
    async with EventBus("Future") as bus:

        async def slow(event: Order) -> str:
            await trio.sleep(100)
            return "done"

        bus.on(Order, slow)
        found: list[BaseEvent[str] | None] = []

        async def finder() -> None:
            found.append(await bus.find(Order, past=False, future=True, customer="c"))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(finder)
            await trio.sleep(2)
            bus.emit(Order(customer="other"))
            await trio.sleep(2)
            match = bus.emit(Order(customer="c"))
        assert found == [match]
        assert trio.current_time() == 4
        assert match.event_status != "completed"


async def test_find_future_seconds_gives_up_with_none(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """``future=N`` waits N virtual seconds, then returns None."""
    async with EventBus("GiveUp") as bus:
        assert await bus.find(Order, past=False, future=5) is None
        assert trio.current_time() == 5


async def test_filter_future_collects_until_limit_or_window(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """``filter`` with ``future`` adds later matches in emit order."""
    async with EventBus("Collect") as bus:
        past = bus.emit(Order(amount=0))
        got: list[list[BaseEvent[str]]] = []

        async def collector() -> None:
            got.append(await bus.filter(Order, future=10))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(collector)
            await trio.sleep(1)
            later = [bus.emit(Order(amount=i)) for i in (1, 2)]
        assert got == [[past, *later]]
        assert trio.current_time() == 10
        limited = await bus.filter(Order, past=False, future=True, limit=0)
        assert limited == []


async def test_find_child_of_matches_descendants_across_buses() -> None:
    """``child_of`` finds descendants at any depth, on any bus."""
    async with EventBus("A") as a, EventBus("B") as b:

        async def order(event: Order) -> str:
            await b.emit(Refund(customer="child"))
            return "o"

        async def refund(event: Refund) -> str:
            if event.customer == "child":
                a.emit(Refund(customer="grandchild"))
            return "r"

        a.on(Order, order)
        b.on(Refund, refund)
        a.on(Refund, refund)
        root = await a.emit(Order())
        unrelated = await a.emit(Refund(customer="unrelated"))
        found = await a.find(Refund, child_of=root)
        assert found is not None
        assert found.customer == "grandchild"
        assert await b.find(Refund, child_of=root) is not None
        assert unrelated not in await a.filter(Refund, child_of=root)
