"""A tour of triobus in one script: run it with ``python examples/demo.py``.

It defines two event types, runs two buses in a nursery, forwards events
from one bus to the other, lets a handler queue-jump a child event, cuts a
slow handler off with a budget, and prints the event tree as JSON.
"""

from __future__ import annotations

import json

import trio

from triobus import BaseEvent, EventBus, EventHandlerTimeoutError, converter


class OrderPlaced(BaseEvent[str]):
    """A customer placed an order; handlers answer with a confirmation."""

    order_id: str
    amount_cents: int


class StockReserved(BaseEvent[int]):
    """Reserve stock for an order; handlers answer with the units left."""

    order_id: str
    units: int = 1


async def main() -> None:
    stock = {"units": 10}

    async with EventBus("Shop") as shop, EventBus("Audit") as audit:
        # Everything the shop sees is forwarded to the audit bus as well.
        shop.on("*", audit.emit)

        async def place(event: OrderPlaced) -> str:
            # Awaiting a child inside a handler runs it at once, inline.
            reserved = await shop.emit(StockReserved(order_id=event.order_id))
            left = await reserved.event_result()
            return f"order {event.order_id} confirmed, {left} units left"

        def reserve(event: StockReserved) -> int:
            stock["units"] -= event.units
            return stock["units"]

        async def slow_fraud_check(event: OrderPlaced) -> str:
            await trio.sleep(10)  # far longer than its 0.1 s budget
            return "cleared"

        audited: list[str] = []
        audit.on("*", lambda event: audited.append(event.event_type))

        shop.on(OrderPlaced, place)
        shop.on(StockReserved, reserve)
        fraud = shop.on(OrderPlaced, slow_fraud_check, handler_timeout=0.1)

        order = await shop.emit(OrderPlaced(order_id="A-1", amount_cents=4200))

        print("result:   ", await order.event_result(raise_if_any=False))
        error = order.event_results[fraud.id].error
        assert isinstance(error, EventHandlerTimeoutError)
        print("timed out:", error)
        print("children: ", [child.event_type for child in order.event_children])
        print("path:     ", order.event_path)
        print("audited:  ", audited)

        wire = converter.dumps(order)
        again = converter.loads(wire, BaseEvent)
        print("reloaded: ", type(again).__name__, again == order)
        print(json.dumps(json.loads(wire), indent=2)[:400], "...")


if __name__ == "__main__":
    trio.run(main)
