# pyright: reportUnnecessaryTypeIgnoreComment=error
"""Type tests: ``bus.on`` checks a handler against its event class.

Checked by ``mypy --strict`` and pyright (strict) in CI, as the other files
here are; each line both must reject carries ``# type: ignore[<mypy code>]``.
pytest runs the test functions too, so the registrations must also work.
"""

from __future__ import annotations

from typing import Any, assert_type

import trio

from triobus import BaseEvent, EventBus, EventHandler


class Deposit(BaseEvent[int]):
    """The event handlers are registered for."""

    amount: int = 0


class Withdrawal(BaseEvent[int]):
    """A different event, whose handlers must not take a Deposit."""

    amount: int = 0


async def on_deposit(event: Deposit) -> int:
    await trio.lowlevel.checkpoint()
    return event.amount


def on_withdrawal(event: Withdrawal) -> int:
    return -event.amount


def on_any(event: BaseEvent[Any]) -> None:
    return None


def test_a_handler_typed_for_its_class_is_accepted() -> None:
    """A handler taking the event's own class type-checks, async or sync."""
    bus = EventBus("Types")
    assert_type(bus.on(Deposit, on_deposit), EventHandler)
    bus.on(Withdrawal, on_withdrawal)
    bus.on(Deposit, on_any)  # a handler for any event takes a Deposit too
    bus.on(Deposit, lambda event: event.amount * 2)
    assert len(bus.handlers) == 4


def test_string_patterns_take_any_one_argument_handler() -> None:
    """With a string pattern the checker cannot know the class: any handler."""
    bus = EventBus("Strings")
    other = EventBus("Other")
    bus.on("Deposit", on_deposit)
    bus.on("*", on_any)
    bus.on("*", other.emit)  # forwarding
    assert len(bus.handlers) == 3


def test_a_handler_for_another_class_is_rejected() -> None:
    """Registering a Withdrawal handler for Deposit is a type error."""
    bus = EventBus("Wrong")
    bus.on(Deposit, on_withdrawal)  # type: ignore[arg-type]
    assert bus.handlers[0].handler is on_withdrawal
