"""Per-handler results: the :class:`EventResult` record."""

from __future__ import annotations

from collections.abc import Generator
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

import attrs
import trio

from ._enums import EventResultStatus
from ._util import new_result_id, utc_now

if TYPE_CHECKING:
    from ._event import BaseEvent

T = TypeVar("T")

_STATUS_VALUES = ", ".join(repr(s.value) for s in EventResultStatus)

_FINAL = frozenset({EventResultStatus.COMPLETED, EventResultStatus.ERROR})
_UNSET: Any = object()


def _no_children() -> list[BaseEvent[Any]]:
    # A named factory: the element type only exists for type checkers here.
    return []


@attrs.define(eq=False)
class EventResult(Generic[T]):
    """What one handler did with one event on one bus.

    A result starts ``pending``, becomes ``started`` when its handler is
    called, and ends ``completed`` (with ``result``) or ``error`` (with
    ``error``). Once ended it never changes again through the bus; only
    :meth:`update`, meant for seeding and rehydration, can rewrite it.

    ``await result`` waits until it has ended, then returns the value or
    raises the error.
    """

    event_id: str
    handler_id: str
    handler_name: str
    eventbus_id: str
    eventbus_name: str
    timeout: float | None = None
    id: str = attrs.field(factory=new_result_id)
    status: EventResultStatus = EventResultStatus.PENDING
    started_at: datetime | None = None
    completed_at: datetime | None = None
    result: T | None = None
    error: BaseException | None = None
    event_children: list[BaseEvent[Any]] = attrs.field(factory=_no_children)
    # Keys written by peers that triobus has no field for (for example the
    # extra ``handler_*`` keys of abxbus); kept so they are written back out.
    extra: dict[str, object] = attrs.field(
        factory=lambda: dict[str, object](), repr=False
    )
    _foreign_children: list[str] = attrs.field(
        factory=lambda: list[str](), repr=False, alias="foreign_children"
    )
    _result_type: object = attrs.field(default=None, repr=False, alias="result_type")
    _done: trio.Event | None = attrs.field(default=None, init=False, repr=False)

    @property
    def is_final(self) -> bool:
        """True once the result is ``completed`` or ``error``."""
        return self.status in _FINAL

    @property
    def child_ids(self) -> list[str]:
        """Ids of the children, including those known only by id from JSON."""
        return [*self._foreign_children, *(c.event_id for c in self.event_children)]

    @property
    def label(self) -> str:
        """``handler_name#abcd``, as used in logs and messages."""
        return f"{self.handler_name}#{self.handler_id[-4:]}"

    def update(
        self,
        *,
        status: EventResultStatus | str | None = None,
        result: object = _UNSET,
        error: BaseException | None = None,
    ) -> EventResult[T]:
        """Change this result by hand, for seeding and rehydration.

        A ``result`` is validated against the event's result type and sets
        the status to ``completed`` (clearing any error) unless ``status`` is
        given too; an ``error`` sets the status to ``error`` and clears the
        value. Moving back to ``pending`` or ``started`` clears the
        timestamps that status has not reached yet.

        Args:
            status: The new status.
            result: The new value; validated like a handler's return value.
            error: The new error; implies status ``error``.

        Returns:
            This result, for chaining.

        Raises:
            EventResultTypeError: ``result`` does not fit the result type;
                the result is left unchanged.
            ValueError: ``status`` is not a result status.
        """
        new_status = None if status is None else _parse_status(status)
        if result is not _UNSET:
            from ._serialization import validate_result  # noqa: PLC0415

            value = validate_result(self._result_type, result, self.label)
            self.result = value
            if error is None:
                self.error = None
            if new_status is None:
                new_status = EventResultStatus.COMPLETED
        if error is not None:
            self.error = error
            if result is _UNSET:
                self.result = None
            new_status = EventResultStatus.ERROR
        if new_status is not None:
            self._move_to(new_status)
        return self

    def _move_to(self, status: EventResultStatus) -> None:
        self.status = status
        if status is EventResultStatus.PENDING:
            self.started_at = self.completed_at = None
        elif self.started_at is None:
            self.started_at = utc_now()
        if status in _FINAL:
            if self.completed_at is None:
                self.completed_at = utc_now()
            self._set_done()
        else:
            self.completed_at = None
            if self._done is not None and self._done.is_set():
                # A trio.Event cannot be cleared; waiters from now on need a
                # new one.
                self._done = None

    # The bus moves results through their states with these three methods,
    # through the module-level functions at the end of this file.

    def _start(self) -> None:
        self.status = EventResultStatus.STARTED
        self.started_at = utc_now()

    def _finish(self, value: T | None) -> None:
        self.result = value
        self.status = EventResultStatus.COMPLETED
        self.completed_at = utc_now()
        self._set_done()

    def _fail(self, error: BaseException) -> None:
        self.error = error
        self.status = EventResultStatus.ERROR
        self.completed_at = utc_now()
        self._set_done()

    def _set_done(self) -> None:
        if self._done is not None:
            self._done.set()

    async def wait(self) -> T | None:
        """Wait until this result has ended; return its value or raise its error.

        Raises:
            BaseException: Whatever the handler raised (or the timeout and
                cancellation errors the bus recorded for it).
        """
        if self.is_final:
            await trio.lowlevel.checkpoint()
        else:
            if self._done is None:
                self._done = trio.Event()
            await self._done.wait()
        if self.error is not None:
            raise self.error
        return self.result

    def __await__(self) -> Generator[Any, None, T | None]:
        return self.wait().__await__()


def _parse_status(status: object) -> EventResultStatus:
    try:
        return EventResultStatus(cast(str, status))
    except ValueError:
        raise ValueError(
            f"status must be one of {_STATUS_VALUES}, got {status!r}"
        ) from None


# The bus moves results through their states with these functions; they are
# not methods so that the public class does not offer them.


def mark_started(result: EventResult[Any]) -> None:
    """The handler is being called now."""
    result._start()  # pyright: ignore[reportPrivateUsage]


def mark_completed(result: EventResult[T], value: T | None) -> None:
    """The handler returned ``value``."""
    result._finish(value)  # pyright: ignore[reportPrivateUsage]


def mark_failed(result: EventResult[Any], error: BaseException) -> None:
    """The handler failed, timed out, was aborted or never started."""
    result._fail(error)  # pyright: ignore[reportPrivateUsage]
