"""Budgets, slow warnings and cancellation as cancel scopes (section 6).

Every test runs under ``MockClock`` with autojump and asserts exact virtual
times.
"""

from __future__ import annotations

import logging
import threading

import pytest
import trio
import trio.testing

from triobus import (
    BaseEvent,
    EventBus,
    EventHandlerAbortedError,
    EventHandlerCancelledError,
    EventHandlerTimeoutError,
)


class Task(BaseEvent[str]):
    name: str = ""


def sleeper(seconds: float, value: str = "ok"):
    async def handler(event: BaseEvent[str]) -> str:
        await trio.sleep(seconds)
        return value

    handler.__qualname__ = f"sleep_{seconds}"
    return handler


async def test_a_handler_past_its_own_budget_times_out_and_others_carry_on(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Own budget expired: EventHandlerTimeoutError at that exact moment."""
    ends: list[float] = []

    async def record(event: Task) -> str:
        await trio.sleep(1)
        ends.append(trio.current_time())
        return "after"

    async with EventBus("Own") as bus:
        slow = bus.on(Task, sleeper(10), handler_timeout=2.0)
        bus.on(Task, record)
        event = await bus.emit(Task())
    result = event.event_results[slow.id]
    assert isinstance(result.error, EventHandlerTimeoutError)
    assert result.timeout == 2.0
    assert ends == [3.0]
    assert await event.event_results_list(raise_if_any=False) == ["after"]


async def test_event_budget_aborts_running_and_cancels_unstarted_handlers(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Event budget expired: running → aborted, unstarted → cancelled, ended kept."""
    async with EventBus("Budget") as bus:
        done = bus.on(Task, sleeper(1, "done"))
        running = bus.on(Task, sleeper(10))
        never = bus.on(Task, sleeper(1))
        bus.on(Task, sleeper(1))
        event = await bus.emit(Task(event_timeout=3.0))
        assert trio.current_time() == 3.0
        assert event.event_status == "completed"
        assert event.event_results[done.id].result == "done"
        assert isinstance(
            event.event_results[running.id].error, EventHandlerAbortedError
        )
        assert isinstance(
            event.event_results[never.id].error, EventHandlerCancelledError
        )
        assert "3.0s" in str(event.event_results[running.id].error)
        # The bus moves on to the next event at once.
        bus.on(Task, sleeper(0))
        await bus.emit(Task(event_timeout=0))
        assert trio.current_time() == 3.0 + 1 + 10 + 1 + 1 + 0


async def test_budget_resolution_order_on_the_processing_bus(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Registration beats event_handler_timeout, which beats the event budget."""
    async with EventBus("Resolve", event_timeout=8.0) as bus:
        by_registration = bus.on(Task, sleeper(100), handler_timeout=1.0)
        by_event = bus.on(Task, sleeper(100))
        event = await bus.emit(Task(event_handler_timeout=2.0))
    first = event.event_results[by_registration.id]
    second = event.event_results[by_event.id]
    assert isinstance(first.error, EventHandlerTimeoutError)
    assert isinstance(second.error, EventHandlerTimeoutError)
    assert (first.timeout, second.timeout) == (1.0, 2.0)
    assert trio.current_time() == 3.0


async def test_a_handler_budget_past_the_event_budget_is_cut_off_as_aborted(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A handler budget that reaches past the event's yields to the event's."""
    async with EventBus("Cap") as bus:
        entry = bus.on(Task, sleeper(100), handler_timeout=50.0)
        event = await bus.emit(Task(event_timeout=4.0))
    assert isinstance(event.event_results[entry.id].error, EventHandlerAbortedError)
    assert trio.current_time() == 4.0


async def test_none_inherits_zero_disables_and_a_none_bus_means_no_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """``None`` on the event inherits the bus; ``0`` disables; bus None is none."""
    async with EventBus("Defaults", event_timeout=2.0) as bus:
        entry = bus.on(Task, sleeper(5))
        inherited = await bus.emit(Task())
        assert isinstance(
            inherited.event_results[entry.id].error, EventHandlerAbortedError
        )
        assert trio.current_time() == 2.0
        disabled = await bus.emit(Task(event_timeout=0))
        assert disabled.event_results[entry.id].result == "ok"
        assert trio.current_time() == 7.0
    async with EventBus("NoBudget", event_timeout=None) as bus:
        entry = bus.on(Task, sleeper(1000))
        event = await bus.emit(Task())
        assert event.event_results[entry.id].result == "ok"


async def test_a_forwarded_event_gets_a_fresh_budget_on_each_bus(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Each processing bus opens its own event scope with its own default."""
    async with (
        EventBus("A", event_timeout=3.0) as a,
        EventBus("B", event_timeout=3.0) as b,
    ):
        on_a = a.on(Task, sleeper(2, "a"))
        a.on("*", b.emit)  # forwards after 2 s of A's budget are spent
        on_b = b.on(Task, sleeper(2, "b"))
        event = a.emit(Task())
        await event
    assert event.event_results[on_a.id].result == "a"
    assert event.event_results[on_b.id].result == "b"
    assert trio.current_time() == 4.0


async def test_a_queue_jumped_child_runs_inside_its_parents_scope(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A parent timeout aborts the inline child's running handlers and cancels
    its pending ones."""

    class Child(BaseEvent[str]):
        pass

    holder: dict[str, Child] = {}
    async with EventBus("Inline") as bus:

        async def parent(event: Task) -> str:
            child = bus.emit(Child(event_timeout=0))
            holder["child"] = child
            await child
            return "parent done"

        parent_entry = bus.on(Task, parent)
        running = bus.on(Child, sleeper(10))
        pending = bus.on(Child, sleeper(10))
        event = await bus.emit(Task(event_timeout=3.0))
    child = holder["child"]
    assert trio.current_time() == 3.0
    assert child.event_status == "completed"
    assert isinstance(child.event_results[running.id].error, EventHandlerAbortedError)
    assert isinstance(child.event_results[pending.id].error, EventHandlerCancelledError)
    assert isinstance(
        event.event_results[parent_entry.id].error, EventHandlerAbortedError
    )


async def test_a_normally_queued_child_is_capped_by_its_parents_deadline(
    autojump_clock: trio.testing.MockClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A child queued without await inherits what its parent has left, and a
    child asking for more is warned about."""

    class Child(BaseEvent[str]):
        pass

    holder: dict[str, Child] = {}
    async with EventBus("Capped") as bus:

        async def parent(event: Task) -> str:
            await trio.sleep(1)
            holder["child"] = bus.emit(Child(event_timeout=30.0))
            return "parent"

        bus.on(Task, parent)
        child_entry = bus.on(Child, sleeper(10))
        await bus.emit(Task(event_timeout=5.0))
    child = holder["child"]
    assert isinstance(
        child.event_results[child_entry.id].error, EventHandlerAbortedError
    )
    assert trio.current_time() == 5.0
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert any(
        child.label in r.getMessage() and "parent" in r.getMessage() for r in warnings
    )


async def test_late_work_after_a_cut_off_is_discarded(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A handler that swallows its cancellation, emits and returns keeps its error."""

    class Late(BaseEvent[str]):
        pass

    async with EventBus("Late") as bus:
        late_events: list[Late] = []

        async def stubborn(event: Task) -> str:
            try:
                await trio.sleep(10)
            except trio.Cancelled:
                late_events.append(bus.emit(Late()))
                return "late value"
            return "on time"

        seen: list[str] = []
        bus.on(Late, lambda e: seen.append("late handled"))
        entry = bus.on(Task, stubborn, handler_timeout=1.0)
        event = await bus.emit(Task())
        await bus.wait_until_idle()
    result = event.event_results[entry.id]
    assert isinstance(result.error, EventHandlerTimeoutError)
    assert result.result is None
    (late,) = late_events
    assert late.event_id not in bus.event_history
    assert late.event_path == []
    assert seen == []
    assert event.event_children == []


async def test_slow_warnings_log_once_with_names_and_never_cancel(
    autojump_clock: trio.testing.MockClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Slow handlers and events get one WARNING each and still finish."""
    caplog.set_level(logging.WARNING, logger="triobus")
    async with EventBus(
        "Slow", event_slow_timeout=3.0, event_handler_slow_timeout=2.0
    ) as bus:
        entry = bus.on(Task, sleeper(10, "finished"))
        event = await bus.emit(Task())
    assert event.event_results[entry.id].result == "finished"
    messages = [r.getMessage() for r in caplog.records if r.name == "triobus.bus"]
    handler_lines = [m for m in messages if m.startswith("slow handler")]
    event_lines = [m for m in messages if m.startswith("slow event")]
    assert len(handler_lines) == 1
    assert len(event_lines) == 1
    assert entry.label in handler_lines[0]
    assert bus.label in handler_lines[0]
    assert event.label in handler_lines[0]
    assert "2.000s" in handler_lines[0]
    assert event.label in event_lines[0]
    assert "3.000s" in event_lines[0]


async def test_slow_thresholds_resolve_like_budgets(
    autojump_clock: trio.testing.MockClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Registration beats the event, which beats the bus; None on all: silence."""
    caplog.set_level(logging.WARNING, logger="triobus")
    async with EventBus(
        "SlowResolve", event_slow_timeout=None, event_handler_slow_timeout=None
    ) as bus:
        quiet = bus.on(Task, sleeper(5))
        loud = bus.on(Task, sleeper(5), handler_slow_timeout=1.0)
        await bus.emit(Task(event_handler_slow_timeout=100.0))
        lines = [r.getMessage() for r in caplog.records]
        assert len(lines) == 1
        assert loud.label in lines[0]
        assert quiet.label not in lines[0]
        await bus.emit(Task(event_handler_slow_timeout=4.0, event_slow_timeout=6.0))
        lines = [r.getMessage() for r in caplog.records]
        assert sum(quiet.label in line for line in lines) == 1
        assert sum(line.startswith("slow event") for line in lines) == 1


async def test_nested_budgets_parent_child_grandchild(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Parent (5 s) awaits child (2 s) awaits grandchild (1 s) with five serial
    handlers led by a 2 s one: the grandchild ends [aborted, cancelled x4]."""

    class Parent(BaseEvent[str]):
        pass

    class Child(BaseEvent[str]):
        pass

    class Grandchild(BaseEvent[str]):
        pass

    events: dict[str, BaseEvent[str]] = {}
    async with EventBus("Nested") as bus:

        async def parent(event: Parent) -> str:
            events["child"] = child = bus.emit(Child(event_timeout=2.0))
            await child
            return "parent"

        async def child(event: Child) -> str:
            events["grandchild"] = grandchild = bus.emit(Grandchild(event_timeout=1.0))
            await grandchild
            return "child"

        bus.on(Parent, parent)
        bus.on(Child, child)
        bus.on(Grandchild, sleeper(2))
        for _ in range(4):
            bus.on(Grandchild, sleeper(0.1))
        root = await bus.emit(Parent(event_timeout=5.0))
    grandchild = events["grandchild"]
    kinds = [type(r.error) for r in grandchild.event_results.values()]
    assert kinds == [EventHandlerAbortedError] + [EventHandlerCancelledError] * 4
    assert grandchild.event_status == "completed"
    # The grandchild's budget ended it after 1 s; child and parent then
    # finished normally, well inside their own budgets.
    assert await events["child"].event_result() == "child"
    assert await root.event_result() == "parent"
    assert trio.current_time() == 1.0


async def test_sync_handlers_run_inline_and_threaded_ones_can_be_cut_off(
    mock_clock: trio.testing.MockClock,
) -> None:
    """A sync handler runs in the bus task; ``run_in_thread`` moves it to a
    worker thread that a budget can abandon.

    Virtual time stands still here (threads and autojump do not mix): the
    test jumps the clock by hand once the stuck thread is known to run.
    """
    bus_thread = threading.get_ident()
    threads: list[int] = []
    entered = threading.Event()
    release = threading.Event()

    def inline(event: Task) -> str:
        threads.append(threading.get_ident())
        return "inline"

    def threaded(event: Task) -> str:
        threads.append(threading.get_ident())
        return "threaded"

    def stuck(event: Task) -> str:
        entered.set()
        release.wait(timeout=30)  # a real blocking call; released below
        return "too late"

    limiter = trio.CapacityLimiter(2)
    async with EventBus("Threads") as bus:
        bus.on(Task, inline)
        bus.on(Task, threaded, run_in_thread=True, thread_limiter=limiter)
        event = await bus.emit(Task())
        assert await event.event_results_list() == ["inline", "threaded"]
        assert threads[0] == bus_thread != threads[1]
        bus.off(Task)
        entry = bus.on(Task, stuck, run_in_thread=True, handler_timeout=1.0)
        cut = bus.emit(Task())
        await trio.to_thread.run_sync(entered.wait)
        mock_clock.jump(1.0)
        await cut
        release.set()
    assert isinstance(cut.event_results[entry.id].error, EventHandlerTimeoutError)
    with pytest.raises(TypeError, match="sync handlers"):
        bus.on(Task, sleeper(1), run_in_thread=True)
