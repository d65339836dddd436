"""Bus throughput: triobus against abxbus, and against the pure-Trio floor.

Run it from the repository root::

    python benchmarks/bench_bus.py            # full sizes
    python benchmarks/bench_bus.py --quick    # every size divided by 10
    python benchmarks/bench_bus.py --quick --repeat 3 --only scenarios,floor

Scenarios (issue 3, "Speed"), each run for triobus under ``trio.run`` and for
abxbus under ``asyncio.run`` in the same process:

1. one bus, 50k events, one handler: emit them all, then wait until idle;
2. 500 buses with one handler each, 100 events per bus (emitted round-robin),
   then wait until every bus is idle;
3. one event, 50k handlers run in parallel (``event_handler_concurrency``
   parallel); the cost is reported per handler;
4. 50k events, each with a handler registered before its emit and removed
   after its await;
5. one parent event whose handler emits and awaits a child 10k times (the
   child is queue-jumped: processed inline in the parent handler's task);
6. emit-then-await, one event at a time, 10k times.

Each scenario runs per library in a fresh event loop for every pass: timing
passes (``time.perf_counter``, no tracing; the best of ``--repeat`` is kept,
the two libraries' passes interleaved so that a change in machine load hits
both) and then one memory pass (``tracemalloc`` peak above the traced memory
at the start of the measured part). Only the measured part is bracketed:
bus start-up, handler registration where it is not the subject, and bus
shutdown are left out. Event construction is included, as it is part of what
a user's emit costs.

Both libraries keep their default timeouts and slow-warning timers, as a
user would; history is bounded to 100 events with dropping on both sides
(triobus's default; abxbus needs ``max_history_drop=True`` for it, since by
default it refuses emits past 100 unfinished events). Loggers of both
libraries sit at WARNING and the root logger has a ``NullHandler``, so
nothing is printed.

The Trio floor is what one event cannot avoid on Trio: a memory-channel hop
(``send_nowait`` and a receive in a consumer task), a task spawn
(``nursery.start_soon`` of a trivial function, run to completion) and a
cancel scope with a deadline. Scaling checks the per-event cost of scenario
1 when the history grows (100 to 1000 events held, and unbounded with 10k
prefilled), the handler count grows (1 to 10 handlers, cost per handler call,
same number of calls) and the bus count grows (50 to 500 buses, same total
number of events).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import math
import sys
import time
import tracemalloc
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import abxbus
import trio
import trio.testing

import triobus

#: Bus settings shared by every abxbus bus: the same history bound as
#: triobus's default, and no duplicate-name warnings for scenario 3's 50k
#: registrations of one function.
ABX_OPTIONS: dict[str, Any] = {
    "max_history_size": 100,
    "max_history_drop": True,
    "warn_on_duplicate_handler_names": False,
}


# -- events -------------------------------------------------------------------


class TrioEvent(triobus.BaseEvent[int]):
    x: int = 0


class TrioParent(triobus.BaseEvent[None]):
    pass


class TrioChild(triobus.BaseEvent[int]):
    x: int = 0


class AbxEvent(abxbus.BaseEvent[int]):
    x: int = 0


class AbxParent(abxbus.BaseEvent[None]):
    pass


class AbxChild(abxbus.BaseEvent[int]):
    x: int = 0


# -- measuring ------------------------------------------------------------------


class Probe:
    """Brackets the measured part of one run: wall time, or traced memory."""

    def __init__(self, *, memory: bool) -> None:
        self.memory = memory
        self.seconds = math.nan
        self.peak_bytes = math.nan
        self._started = 0.0
        self._base = 0

    def start(self) -> None:
        if self.memory:
            tracemalloc.reset_peak()
            self._base = tracemalloc.get_traced_memory()[0]
        self._started = time.perf_counter()

    def stop(self) -> None:
        self.seconds = time.perf_counter() - self._started
        if self.memory:
            self.peak_bytes = tracemalloc.get_traced_memory()[1] - self._base


#: A scenario body: sets itself up, brackets the measured part with the probe
#: and returns how many units (events or handlers) that part processed.
Body = Callable[[Probe], Coroutine[Any, Any, int]]


def run_trio(body: Body, probe: Probe) -> int:
    return trio.run(body, probe)


def run_asyncio(body: Body, probe: Probe) -> int:
    return asyncio.run(body(probe))


@dataclass
class Measured:
    """Per-unit figures of one scenario on one library."""

    units: int
    seconds: float
    peak_bytes: float

    @property
    def ms_per_unit(self) -> float:
        return self.seconds * 1e3 / self.units

    @property
    def bytes_per_unit(self) -> float:
        return self.peak_bytes / self.units


def time_once(runner: Callable[[Body, Probe], int], body: Body) -> tuple[int, float]:
    """One timing pass, without tracing: (units, seconds)."""
    gc.collect()
    probe = Probe(memory=False)
    units = runner(body, probe)
    return units, probe.seconds


def peak_once(runner: Callable[[Body, Probe], int], body: Body) -> float:
    """One memory pass: traced peak above the start of the measured part."""
    gc.collect()
    tracemalloc.start()
    try:
        probe = Probe(memory=True)
        runner(body, probe)
    finally:
        tracemalloc.stop()
    return probe.peak_bytes


def measure_pair(
    trio_body: Body, abx_body: Body, *, repeat: int
) -> tuple[Measured, Measured]:
    """Both libraries, timing passes interleaved so load changes hit both."""
    best = {"trio": math.inf, "abx": math.inf}
    units = {"trio": 0, "abx": 0}
    for _ in range(repeat):
        units["trio"], seconds = time_once(run_trio, trio_body)
        best["trio"] = min(best["trio"], seconds)
        units["abx"], seconds = time_once(run_asyncio, abx_body)
        best["abx"] = min(best["abx"], seconds)
    return (
        Measured(units["trio"], best["trio"], peak_once(run_trio, trio_body)),
        Measured(units["abx"], best["abx"], peak_once(run_asyncio, abx_body)),
    )


def expect(what: str, actual: int, wanted: int) -> None:
    if actual != wanted:
        raise RuntimeError(f"{what}: expected {wanted} handler calls, got {actual}")


# -- triobus scenarios --------------------------------------------------------------


def trio_one_bus(
    n: int, *, handlers: int = 1, history: int | None = 100, prefill: int = 0
) -> Body:
    """Scenario 1 (and its scaling variants): emit all, then wait idle."""

    async def body(probe: Probe) -> int:
        calls = 0

        async def handler(event: TrioEvent) -> int:
            nonlocal calls
            calls += 1
            return 1

        async with triobus.EventBus("One", max_history_size=history) as bus:
            for _ in range(handlers):
                bus.on(TrioEvent, handler)
            for _ in range(prefill):
                bus.emit(TrioEvent())
            await bus.wait_until_idle()
            calls = 0
            probe.start()
            for _ in range(n):
                bus.emit(TrioEvent())
            await bus.wait_until_idle()
            probe.stop()
        expect("triobus one bus", calls, n * handlers)
        return n * handlers

    return body


def trio_many_buses(buses: int, per_bus: int) -> Body:
    """Scenario 2: many buses, one handler each, events emitted round-robin."""

    async def body(probe: Probe) -> int:
        calls = 0

        async def handler(event: TrioEvent) -> int:
            nonlocal calls
            calls += 1
            return 1

        async with trio.open_nursery() as nursery:
            running: list[triobus.EventBus] = []
            for i in range(buses):
                bus = triobus.EventBus(f"Bus{i}")
                bus.on(TrioEvent, handler)
                running.append(await nursery.start(bus.run))
            probe.start()
            for _ in range(per_bus):
                for bus in running:
                    bus.emit(TrioEvent())
            for bus in running:
                await bus.wait_until_idle()
            probe.stop()
            for bus in running:
                await bus.aclose()
        expect("triobus many buses", calls, buses * per_bus)
        return buses * per_bus

    return body


def trio_parallel_handlers(n: int) -> Body:
    """Scenario 3: one event, ``n`` handlers in parallel; cost per handler."""

    async def body(probe: Probe) -> int:
        calls = 0

        async def handler(event: TrioEvent) -> int:
            nonlocal calls
            calls += 1
            return 1

        async with triobus.EventBus(
            "Wide", event_handler_concurrency="parallel"
        ) as bus:
            for _ in range(n):
                bus.on(TrioEvent, handler)
            probe.start()
            await bus.emit(TrioEvent())
            probe.stop()
        expect("triobus parallel handlers", calls, n)
        return n

    return body


def trio_on_off(n: int) -> Body:
    """Scenario 4: register a handler, emit and await, remove the handler."""

    async def body(probe: Probe) -> int:
        calls = 0

        async def handler(event: TrioEvent) -> int:
            nonlocal calls
            calls += 1
            return 1

        async with triobus.EventBus("OnOff") as bus:
            probe.start()
            for _ in range(n):
                entry = bus.on(TrioEvent, handler)
                await bus.emit(TrioEvent())
                bus.off(TrioEvent, entry)
            probe.stop()
        expect("triobus on/off", calls, n)
        return n

    return body


def trio_children(n: int) -> Body:
    """Scenario 5: one parent handler emits and awaits ``n`` children."""

    async def body(probe: Probe) -> int:
        calls = 0

        async with triobus.EventBus("Tree") as bus:

            async def parent(event: TrioParent) -> None:
                for _ in range(n):
                    await bus.emit(TrioChild())

            async def child(event: TrioChild) -> int:
                nonlocal calls
                calls += 1
                return 1

            bus.on(TrioParent, parent)
            bus.on(TrioChild, child)
            probe.start()
            await bus.emit(TrioParent())
            probe.stop()
        expect("triobus children", calls, n)
        return n

    return body


def trio_one_at_a_time(n: int) -> Body:
    """Scenario 6: emit, await, and only then emit the next one."""

    async def body(probe: Probe) -> int:
        calls = 0

        async def handler(event: TrioEvent) -> int:
            nonlocal calls
            calls += 1
            return 1

        async with triobus.EventBus("Serial") as bus:
            bus.on(TrioEvent, handler)
            probe.start()
            for _ in range(n):
                await bus.emit(TrioEvent())
            probe.stop()
        expect("triobus one at a time", calls, n)
        return n

    return body


# -- abxbus scenarios ---------------------------------------------------------------


def abx_one_bus(n: int) -> Body:
    async def body(probe: Probe) -> int:
        calls = 0

        async def handler(event: AbxEvent) -> int:
            nonlocal calls
            calls += 1
            return 1

        bus = abxbus.EventBus("One", **ABX_OPTIONS)
        bus.on(AbxEvent, handler)
        probe.start()
        for _ in range(n):
            bus.emit(AbxEvent())
        await bus.wait_until_idle()
        probe.stop()
        await bus.destroy()
        expect("abxbus one bus", calls, n)
        return n

    return body


def abx_many_buses(buses: int, per_bus: int) -> Body:
    async def body(probe: Probe) -> int:
        calls = 0

        async def handler(event: AbxEvent) -> int:
            nonlocal calls
            calls += 1
            return 1

        running = [abxbus.EventBus(f"Bus{i}", **ABX_OPTIONS) for i in range(buses)]
        for bus in running:
            bus.on(AbxEvent, handler)
        probe.start()
        for _ in range(per_bus):
            for bus in running:
                bus.emit(AbxEvent())
        for bus in running:
            await bus.wait_until_idle()
        probe.stop()
        for bus in running:
            await bus.destroy()
        expect("abxbus many buses", calls, buses * per_bus)
        return buses * per_bus

    return body


def abx_parallel_handlers(n: int) -> Body:
    async def body(probe: Probe) -> int:
        calls = 0

        async def handler(event: AbxEvent) -> int:
            nonlocal calls
            calls += 1
            return 1

        bus = abxbus.EventBus(
            "Wide", event_handler_concurrency="parallel", **ABX_OPTIONS
        )
        for _ in range(n):
            bus.on(AbxEvent, handler)
        probe.start()
        await bus.emit(AbxEvent())
        probe.stop()
        await bus.destroy()
        expect("abxbus parallel handlers", calls, n)
        return n

    return body


def abx_on_off(n: int) -> Body:
    async def body(probe: Probe) -> int:
        calls = 0

        async def handler(event: AbxEvent) -> int:
            nonlocal calls
            calls += 1
            return 1

        bus = abxbus.EventBus("OnOff", **ABX_OPTIONS)
        probe.start()
        for _ in range(n):
            entry = bus.on(AbxEvent, handler)
            await bus.emit(AbxEvent())
            bus.off(AbxEvent, entry)
        probe.stop()
        await bus.destroy()
        expect("abxbus on/off", calls, n)
        return n

    return body


def abx_children(n: int) -> Body:
    async def body(probe: Probe) -> int:
        calls = 0
        bus = abxbus.EventBus("Tree", **ABX_OPTIONS)

        async def parent(event: AbxParent) -> None:
            for _ in range(n):
                await bus.emit(AbxChild())

        async def child(event: AbxChild) -> int:
            nonlocal calls
            calls += 1
            return 1

        bus.on(AbxParent, parent)
        bus.on(AbxChild, child)
        probe.start()
        await bus.emit(AbxParent())
        probe.stop()
        await bus.destroy()
        expect("abxbus children", calls, n)
        return n

    return body


def abx_one_at_a_time(n: int) -> Body:
    async def body(probe: Probe) -> int:
        calls = 0

        async def handler(event: AbxEvent) -> int:
            nonlocal calls
            calls += 1
            return 1

        bus = abxbus.EventBus("Serial", **ABX_OPTIONS)
        bus.on(AbxEvent, handler)
        probe.start()
        for _ in range(n):
            await bus.emit(AbxEvent())
        probe.stop()
        await bus.destroy()
        expect("abxbus one at a time", calls, n)
        return n

    return body


# -- the Trio floor -----------------------------------------------------------------


def floor_channel_hop(n: int) -> Body:
    """``send_nowait`` into a memory channel, received by a consumer task."""

    async def body(probe: Probe) -> int:
        send, receive = trio.open_memory_channel[int](math.inf)
        done = trio.Event()

        async def consume() -> None:
            seen = 0
            async for _ in receive:
                seen += 1
                if seen == n:
                    done.set()
                    return

        async with trio.open_nursery() as nursery:
            nursery.start_soon(consume)
            await trio.testing.wait_all_tasks_blocked()
            probe.start()
            for i in range(n):
                send.send_nowait(i)
            await done.wait()
            probe.stop()
        return n

    return body


def floor_task_spawn(n: int) -> Body:
    """``nursery.start_soon`` of a trivial function, run to completion."""

    async def trivial() -> None:
        pass

    async def body(probe: Probe) -> int:
        probe.start()
        async with trio.open_nursery() as nursery:
            for _ in range(n):
                nursery.start_soon(trivial)
        probe.stop()
        return n

    return body


def floor_cancel_scope(n: int) -> Body:
    """Enter and leave a cancel scope with a deadline (an event budget)."""

    async def body(probe: Probe) -> int:
        deadline = trio.current_time() + 60.0
        probe.start()
        for _ in range(n):
            with trio.CancelScope(deadline=deadline):  # noqa: ASYNC100 - its own cost
                pass
        probe.stop()
        await trio.lowlevel.checkpoint()
        return n

    return body


# -- the run --------------------------------------------------------------------------


@dataclass
class Row:
    number: str
    name: str
    unit: str
    trio: Measured
    abx: Measured

    @property
    def ratio(self) -> float:
        return self.abx.ms_per_unit / self.trio.ms_per_unit


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    floor: dict[str, Measured] = field(default_factory=dict)
    #: Triobus scenarios 1 and 6, timed in the same rounds as the floor.
    floor_bus: dict[str, Measured] = field(default_factory=dict)
    scaling: list[tuple[str, str, Measured, str, Measured]] = field(
        default_factory=list
    )


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def warm_up() -> None:
    """Run each library once, small, so first-use costs stay out of the figures."""
    for body in (trio_one_bus(200), trio_children(50), trio_parallel_handlers(50)):
        run_trio(body, Probe(memory=False))
    for body in (abx_one_bus(200), abx_children(50), abx_parallel_handlers(50)):
        run_asyncio(body, Probe(memory=False))


def run_scenarios(scale: int, repeat: int, report: Report) -> None:
    n50k, n10k = 50_000 // scale, 10_000 // scale
    buses = 500 // scale
    scenarios: list[tuple[str, str, str, Body, Body]] = [
        ("1", f"1 bus x {n50k} events x 1 handler", "event",
         trio_one_bus(n50k), abx_one_bus(n50k)),
        ("2", f"{buses} buses x 100 events", "event",
         trio_many_buses(buses, 100), abx_many_buses(buses, 100)),
        ("3", f"1 event x {n50k} parallel handlers", "handler",
         trio_parallel_handlers(n50k), abx_parallel_handlers(n50k)),
        ("4", f"{n50k} events, handler on/off around each", "event",
         trio_on_off(n50k), abx_on_off(n50k)),
        ("5", f"1 handler emits+awaits {n10k} children", "child",
         trio_children(n10k), abx_children(n10k)),
        ("6", f"emit-then-await x {n10k}", "event",
         trio_one_at_a_time(n10k), abx_one_at_a_time(n10k)),
    ]  # fmt: skip
    for number, name, unit, trio_body, abx_body in scenarios:
        progress(f"scenario {number}: {name}")
        trio_measured, abx_measured = measure_pair(trio_body, abx_body, repeat=repeat)
        row = Row(number, name, unit, trio_measured, abx_measured)
        report.rows.append(row)
        progress(
            f"  triobus {trio_measured.ms_per_unit:.4f} ms, abxbus"
            f" {abx_measured.ms_per_unit:.4f} ms, ratio {row.ratio:.1f}x"
        )


def interleaved(bodies: list[Body], repeat: int) -> list[Measured]:
    """Best wall time of each triobus body, one pass of each per round.

    Comparisons within a group (floor against bus, small against large) then
    see the same machine load, even when the load drifts during the run.
    """
    best = [math.inf] * len(bodies)
    units = [0] * len(bodies)
    for _ in range(repeat):
        for i, body in enumerate(bodies):
            units[i], seconds = time_once(run_trio, body)
            best[i] = min(best[i], seconds)
    return [Measured(u, b, math.nan) for u, b in zip(units, best, strict=True)]


def run_floor(scale: int, repeat: int, report: Report) -> None:
    """The floor parts, timed in the same rounds as triobus scenarios 1 and 6."""
    n, n10k = 50_000 // scale, 10_000 // scale
    progress("Trio floor (interleaved with triobus scenarios 1 and 6)")
    names = ["memory-channel hop", "task spawn", "cancel scope", "1", "6"]
    bodies = [
        floor_channel_hop(n),
        floor_task_spawn(n),
        floor_cancel_scope(n),
        trio_one_bus(n),
        trio_one_at_a_time(n10k),
    ]
    for name, measured in zip(names, interleaved(bodies, repeat), strict=True):
        if name.isdigit():
            report.floor_bus[name] = measured
        else:
            report.floor[name] = measured


def run_scaling(scale: int, repeat: int, report: Report) -> None:
    """Each group of sizes timed in the same rounds."""
    n = 50_000 // scale
    progress("scaling")
    small = "max_history_size=100, 100 prefilled"
    h100, h1000, hnone = interleaved(
        [
            trio_one_bus(n, history=100, prefill=100),
            trio_one_bus(n, history=1000, prefill=1000),
            trio_one_bus(n, history=None, prefill=10_000),
        ],
        repeat,
    )
    report.scaling.append(
        ("history", small, h100, "max_history_size=1000, 1000 prefilled", h1000)
    )
    report.scaling.append(
        ("history", small, h100, "max_history_size=None, 10000 prefilled", hnone)
    )
    one, ten = interleaved(
        [trio_one_bus(n, handlers=1), trio_one_bus(n // 10, handlers=10)], repeat
    )
    report.scaling.append(
        (
            "handlers (per handler call)",
            f"1 handler, {n} events",
            one,
            f"10 handlers, {n // 10} events",
            ten,
        )
    )
    fifty, five_hundred = interleaved(
        [trio_many_buses(50, n // 50), trio_many_buses(500, n // 500)], repeat
    )
    report.scaling.append(
        (
            "buses",
            f"50 buses x {n // 50} events",
            fifty,
            f"500 buses x {n // 500} events",
            five_hundred,
        )
    )


def us(value: float) -> str:
    return f"{value * 1e3:.2f}"


def print_report(report: Report, elapsed: float, quick: bool, repeat: int) -> None:
    print()
    print(f"## triobus {triobus.__version__} vs abxbus: bus scenarios")
    print()
    sizes = "quick (sizes / 10)" if quick else "full"
    print(
        f"Sizes: {sizes}. Python {sys.version.split()[0]}, trio {trio.__version__}."
        f" Timing: best of {repeat} pass(es) without tracing; memory: a separate"
        " tracemalloc pass. Default timeouts and slow-warning timers on both."
    )
    print(f"triobus imported from {triobus.__file__}")
    print()
    print(
        "| # | scenario | triobus ms/unit | abxbus ms/unit | abxbus/triobus"
        " | >=5x | triobus peak B/unit | abxbus peak B/unit |"
    )
    print("|---|---|---:|---:|---:|:-:|---:|---:|")
    for row in report.rows:
        ok = "yes" if row.ratio >= 5 else "**no**"
        print(
            f"| {row.number} | {row.name} (per {row.unit}) |"
            f" {row.trio.ms_per_unit:.4f} | {row.abx.ms_per_unit:.4f} |"
            f" {row.ratio:.1f}x | {ok} | {row.trio.bytes_per_unit:,.0f} |"
            f" {row.abx.bytes_per_unit:,.0f} |"
        )

    if report.floor:
        floor = sum(m.ms_per_unit for m in report.floor.values())
        print()
        print("## The Trio floor per event")
        print()
        print("| part | us |")
        print("|---|---:|")
        for name, m in report.floor.items():
            print(f"| {name} | {us(m.ms_per_unit)} |")
        print(f"| **floor of one event** | **{us(floor)}** |")
        print()
        print("| # | triobus us/event (same rounds) | multiple of floor | <=2x |")
        print("|---|---:|---:|:-:|")
        for number, measured in report.floor_bus.items():
            multiple = measured.ms_per_unit / floor
            goal = "yes" if multiple <= 2 else "**no**"
            print(
                f"| {number} | {us(measured.ms_per_unit)} | {multiple:.1f}x | {goal} |"
            )

    if report.scaling:
        print()
        print("## triobus scaling (scenario 1 shape, per-unit cost)")
        print()
        print("| grows | from | us/unit | to | us/unit | ratio | <=1.2 |")
        print("|---|---|---:|---|---:|---:|:-:|")
        for dimension, small_name, small, large_name, large in report.scaling:
            ratio = large.ms_per_unit / small.ms_per_unit
            ok = "yes" if ratio <= 1.2 else "**no**"
            print(
                f"| {dimension} | {small_name} | {us(small.ms_per_unit)} |"
                f" {large_name} | {us(large.ms_per_unit)} | {ratio:.2f} | {ok} |"
            )
    print()
    print(f"Total runtime: {elapsed:.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description="triobus bus benchmarks")
    parser.add_argument("--quick", action="store_true", help="divide sizes by 10")
    parser.add_argument(
        "--repeat", type=int, default=1, help="timing passes per case (best kept)"
    )
    parser.add_argument(
        "--only",
        default="scenarios,floor,scaling",
        help="comma-separated parts to run: scenarios, floor, scaling",
    )
    args = parser.parse_args()
    parts = set(args.only.split(","))
    scale = 10 if args.quick else 1

    for name in ("triobus", "abxbus"):
        logging.getLogger(name).setLevel(logging.WARNING)
    logging.getLogger().addHandler(logging.NullHandler())

    started = time.perf_counter()
    warm_up()
    report = Report()
    if "scenarios" in parts:
        run_scenarios(scale, args.repeat, report)
    if "floor" in parts:
        run_floor(scale, args.repeat, report)
    if "scaling" in parts:
        run_scaling(scale, args.repeat, report)
    print_report(report, time.perf_counter() - started, args.quick, args.repeat)


if __name__ == "__main__":
    main()
