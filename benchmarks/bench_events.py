"""Per-event cost of construction, ``dumps`` and ``loads``: triobus vs abxbus.

Run it as ``python benchmarks/bench_events.py`` (``--quick`` for a rough
figure in a few seconds). Each case is timed on equivalent events in both
libraries in the same process, the two libraries taking turns round after
round so that a busy machine slows both alike. The best round of each is
reported, in microseconds per operation, with the abxbus/triobus ratio:
above 1 means triobus is faster.

Two events are measured: a pending one with a payload of a few fields, and a
completed one that also carries one handler result. The abxbus event is
completed by an abxbus bus; the triobus one is given the same state through
``event_result_update``, so the benchmark measures the event model alone.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import timeit
from collections.abc import Callable
from typing import Any

import abxbus
import attrs

import triobus

GOAL = 3.0
"""How many times faster than abxbus triobus aims to be on every case."""


class TrioSignup(triobus.BaseEvent[str]):
    """The triobus event measured: a few payload fields of common types."""

    user_id: str
    email: str | None = None
    age: int = 0
    score: float = 0.0
    tags: list[str] = attrs.field(factory=list)


class AbxSignup(abxbus.BaseEvent[str]):
    """The same event for abxbus (a pydantic model)."""

    user_id: str
    email: str | None = None
    age: int = 0
    score: float = 0.0
    tags: list[str] = []  # noqa: RUF012 - pydantic copies field defaults


PAYLOAD: dict[str, Any] = {
    "user_id": "u-1842",
    "email": "ada@example.com",
    "age": 36,
    "score": 0.75,
    "tags": ["beta", "eu"],
}


def completed_trio_event() -> TrioSignup:
    """A triobus event in the state a bus leaves it: completed, one result."""
    event = TrioSignup(**PAYLOAD)
    handler = triobus.EventHandler(
        handler=lambda _event: "ok",
        event_pattern="TrioSignup",
        eventbus_name="Bench",
        eventbus_id="0190b2d4-3c4e-7a3f-8c3e-6d7f1a2b3c4d",
    )
    event.event_path.append(f"Bench#{handler.eventbus_id[-4:]}")
    event.event_result_update(handler=handler, status="started")
    event.event_result_update(handler=handler, result="ok")
    event.event_status = triobus.EventStatus.COMPLETED
    event.event_started_at = event.event_results[handler.id].started_at
    event.event_completed_at = event.event_results[handler.id].completed_at
    return event


def completed_abx_event() -> AbxSignup:
    """An abxbus event completed by an abxbus bus with one handler."""

    async def run() -> AbxSignup:
        bus = abxbus.EventBus("Bench")

        def handler(_event: AbxSignup) -> str:
            return "ok"

        bus.on(AbxSignup, handler)
        event = bus.emit(AbxSignup(**PAYLOAD))
        await event
        return event

    return asyncio.run(run())


def best_per_op(
    cases: dict[str, Callable[[], object]], *, number: int, rounds: int
) -> dict[str, float]:
    """Time each case ``rounds`` times, taking turns; best µs per call each."""
    best = dict.fromkeys(cases, float("inf"))
    for _ in range(rounds):
        for name, fn in cases.items():
            seconds = timeit.timeit(fn, number=number)
            best[name] = min(best[name], seconds / number * 1e6)
    return best


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table.

    Returns:
        0 when triobus reaches the goal on every case, else 1.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="fewer rounds: a rough figure, fast"
    )
    args = parser.parse_args(argv)
    number, rounds = (500, 3) if args.quick else (2000, 7)

    conv = triobus.converter
    trio_event = TrioSignup(**PAYLOAD)
    abx_event = AbxSignup(**PAYLOAD)
    trio_done = completed_trio_event()
    abx_done = completed_abx_event()
    texts = {
        "trio": conv.dumps(trio_event),
        "abx": abx_event.model_dump_json(),
        "trio_done": conv.dumps(trio_done),
        "abx_done": abx_done.model_dump_json(),
    }

    # Each row: (label, triobus callable, abxbus callable).
    rows: list[tuple[str, Callable[[], object], Callable[[], object]]] = [
        (
            "construct",
            lambda: TrioSignup(**PAYLOAD),
            lambda: AbxSignup(**PAYLOAD),
        ),
        (
            "dumps",
            lambda: conv.dumps(trio_event),
            abx_event.model_dump_json,
        ),
        (
            "loads",
            lambda: conv.loads(texts["trio"], TrioSignup),
            lambda: AbxSignup.model_validate_json(texts["abx"]),
        ),
        (
            "dumps (completed, 1 result)",
            lambda: conv.dumps(trio_done),
            abx_done.model_dump_json,
        ),
        (
            "loads (completed, 1 result)",
            lambda: conv.loads(texts["trio_done"], TrioSignup),
            lambda: AbxSignup.model_validate_json(texts["abx_done"]),
        ),
    ]
    cases: dict[str, Callable[[], object]] = {}
    for label, trio_fn, abx_fn in rows:
        cases[f"{label}/triobus"] = trio_fn
        cases[f"{label}/abxbus"] = abx_fn
    best = best_per_op(cases, number=number, rounds=rounds)

    width = max(len(label) for label, _, _ in rows)
    print(f"{'operation':<{width}}  {'triobus µs':>10}  {'abxbus µs':>10}  ratio")
    print(f"{'-' * width}  {'-' * 10}  {'-' * 10}  -----")
    reached = True
    for label, _, _ in rows:
        trio_us = best[f"{label}/triobus"]
        abx_us = best[f"{label}/abxbus"]
        ratio = abx_us / trio_us
        reached = reached and ratio >= GOAL
        print(f"{label:<{width}}  {trio_us:>10.1f}  {abx_us:>10.1f}  {ratio:>4.1f}x")
    print(
        f"\ngoal: triobus at least {GOAL:.0f}x faster on each:"
        f" {'reached' if reached else 'NOT reached'}"
        f" (Python {sys.version.split()[0]}, abxbus {_version('abxbus')},"
        f" triobus {triobus.__version__})"
    )
    return 0 if reached else 1


def _version(dist: str) -> str:
    from importlib.metadata import version  # noqa: PLC0415 - only for the footer

    return version(dist)


if __name__ == "__main__":
    sys.exit(main())
