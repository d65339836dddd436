"""Memory under a long stream of events through a bus with bounded history.

Run it from the repository root::

    python benchmarks/bench_history.py            # 200k events
    python benchmarks/bench_history.py --quick    # 20k events

One bus with ``max_history_size=100`` and dropping on (the defaults), one
trivial handler. Events are emitted in batches of 1000, each followed by
``wait_until_idle()``. ``tracemalloc`` runs throughout; every 10k events
(1k with ``--quick``) the script samples the traced memory now, the peak
since the previous sample, the memory still held after ``gc.collect()``
(what a leak would grow), and the size of ``bus.event_history``. The bus
keeps its default timeouts and slow-warning timers, as a user would.

Memory should be flat: the growth from the second sample to the last is
printed for the retained memory and for the per-window peak, in total and
per event. The "now" column shows how much garbage waits for the cyclic
collector between samples. ``len(bus.event_history)`` is checked
after every batch (when the bus is idle) and must never exceed 100; during
a batch the in-flight events are held too, which the spec allows.
"""

from __future__ import annotations

import argparse
import gc
import logging
import sys
import time
import tracemalloc
from dataclasses import dataclass

import trio

import triobus

HISTORY_LIMIT = 100
BATCH = 1000


class Tick(triobus.BaseEvent[int]):
    n: int = 0


@dataclass
class Sample:
    events: int
    current: int
    window_peak: int
    retained: int
    history: int
    dropped: int


@dataclass
class Outcome:
    samples: list[Sample]
    max_idle_history: int
    max_busy_history: int
    seconds: float
    calls: int


async def stream(total: int, every: int) -> Outcome:
    calls = 0

    async def handler(event: Tick) -> int:
        nonlocal calls
        calls += 1
        return event.n

    samples: list[Sample] = []
    max_idle = max_busy = 0
    seconds = 0.0
    async with triobus.EventBus(
        "History", max_history_size=HISTORY_LIMIT, max_history_drop=True
    ) as bus:
        bus.on(Tick, handler)
        tracemalloc.reset_peak()
        started = time.perf_counter()
        emitted = 0
        while emitted < total:
            for _ in range(min(BATCH, total - emitted)):
                bus.emit(Tick(n=emitted))
                emitted += 1
            max_busy = max(max_busy, len(bus.event_history))
            await bus.wait_until_idle()
            held = len(bus.event_history)
            max_idle = max(max_idle, held)
            if held > HISTORY_LIMIT:
                raise RuntimeError(
                    f"history holds {held} events after {emitted} emits,"
                    f" more than max_history_size={HISTORY_LIMIT}"
                )
            if emitted % every == 0:
                current, peak = tracemalloc.get_traced_memory()
                gc.collect()
                retained = tracemalloc.get_traced_memory()[0]
                tracemalloc.reset_peak()
                dropped = bus.statistics().dropped
                samples.append(Sample(emitted, current, peak, retained, held, dropped))
        seconds = time.perf_counter() - started
    return Outcome(samples, max_idle, max_busy, seconds, calls)


def kib(value: float) -> str:
    return f"{value / 1024:,.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description="triobus history memory benchmark")
    parser.add_argument("--quick", action="store_true", help="20k events, not 200k")
    args = parser.parse_args()
    total = 20_000 if args.quick else 200_000
    every = total // 20

    logging.getLogger("triobus").setLevel(logging.WARNING)
    logging.getLogger().addHandler(logging.NullHandler())

    tracemalloc.start()
    try:
        outcome = trio.run(stream, total, every)
    finally:
        tracemalloc.stop()
    if outcome.calls != total:
        raise RuntimeError(f"expected {total} handler calls, got {outcome.calls}")

    print(f"## triobus {triobus.__version__}: {total:,} events, bounded history")
    print()
    print(
        f"max_history_size={HISTORY_LIMIT} (drop), 1 handler, batches of {BATCH}"
        " with wait_until_idle; tracemalloc on throughout (no forced gc)."
    )
    print()
    print(
        "| events | traced now KiB | peak since last sample KiB"
        " | after gc.collect() KiB | len(history) | dropped |"
    )
    print("|---:|---:|---:|---:|---:|---:|")
    for s in outcome.samples:
        print(
            f"| {s.events:,} | {kib(s.current)} | {kib(s.window_peak)} |"
            f" {kib(s.retained)} | {s.history} | {s.dropped:,} |"
        )
    first, last = outcome.samples[1], outcome.samples[-1]
    events = last.events - first.events
    retained = last.retained - first.retained
    peak_growth = last.window_peak - first.window_peak
    peaks = [s.window_peak for s in outcome.samples[1:]]
    print()
    print(
        f"From {first.events:,} to {last.events:,} events: retained memory (after"
        f" gc.collect()) grew {kib(retained)} KiB ({retained / events:+.3f}"
        f" B/event); the peak per window grew {kib(peak_growth)} KiB"
        f" ({peak_growth / events:+.3f} B/event) and stayed between"
        f" {kib(min(peaks))} and {kib(max(peaks))} KiB."
    )
    verdict = "ok" if outcome.max_idle_history <= HISTORY_LIMIT else "EXCEEDED"
    print(
        f"len(bus.event_history) after each batch: at most"
        f" {outcome.max_idle_history} ({verdict}, limit {HISTORY_LIMIT});"
        f" during a batch, with its events in flight: at most"
        f" {outcome.max_busy_history}."
    )
    print(
        f"Time (with tracemalloc): {outcome.seconds:.1f} s,"
        f" {outcome.seconds * 1e6 / total:.1f} us/event."
    )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
