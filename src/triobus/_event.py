"""The event model: :class:`BaseEvent`, its built-in fields and name rules.

Subclassing ``BaseEvent[T]`` turns the subclass into an attrs class through
the metaclass below, so users write plain annotated classes. Runtime
bookkeeping that the bus needs (completion signal, captured context, per-bus
state) lives outside the attrs fields, in the instance ``__dict__`` under
private keys, so that it never shows up in ``attrs.fields``, equality or the
JSON form.
"""

import inspect
import typing
import weakref
from collections.abc import Callable, Generator, Mapping
from datetime import datetime
from typing import Any, ClassVar, Generic, Literal, Self, TypeVar, dataclass_transform

import attrs

from ._enums import (
    EventConcurrency,
    EventStatus,
    HandlerCompletion,
    HandlerConcurrency,
)
from ._results import EventResult
from ._util import new_id, utc_now

if typing.TYPE_CHECKING:
    from ._bus import EventBus
    from ._handlers import EventHandler

T = TypeVar("T")

EventConcurrencyLike = (
    EventConcurrency | Literal["global-serial", "bus-serial", "parallel"]
)
HandlerConcurrencyLike = HandlerConcurrency | Literal["serial", "parallel"]
HandlerCompletionLike = HandlerCompletion | Literal["all", "first"]

#: Built-in metadata fields: settable per class (as a default) or per instance.
METADATA_FIELDS = (
    "event_id",
    "event_type",
    "event_version",
    "event_result_type",
    "event_timeout",
    "event_handler_timeout",
    "event_slow_timeout",
    "event_handler_slow_timeout",
    "event_concurrency",
    "event_handler_concurrency",
    "event_handler_completion",
)
#: Built-in runtime fields: set by the bus, serialised.
RUNTIME_FIELDS = (
    "event_status",
    "event_created_at",
    "event_started_at",
    "event_completed_at",
    "event_parent_id",
    "event_emitted_by_handler_id",
    "event_path",
    "event_results",
    "event_pending_bus_count",
    "event_blocks_parent_completion",
)
BUILTIN_FIELDS = frozenset(METADATA_FIELDS + RUNTIME_FIELDS)
#: Names of runtime APIs on the event that a payload field would shadow.
RUNTIME_API_NAMES = frozenset({"bus", "first"})

# Private keys in an event's ``__dict__``.
_RUNTIME_KEY = "_triobus_runtime"
_EXTRA_KEY = "_triobus_extra"

#: Every event class defined in this process, by ``event_type``; the newest
#: definition of a type wins. Weak, so classes defined in tests can go away.
_classes_by_type: "weakref.WeakValueDictionary[str, type[BaseEvent[Any]]]" = (
    weakref.WeakValueDictionary()
)


def event_class_for(event_type: str) -> "type[BaseEvent[Any]] | None":
    """Return the event class defined for ``event_type``, if there is one."""
    return _classes_by_type.get(event_type)


def check_payload_name(name: str, where: str) -> None:
    """Raise ``TypeError`` if ``name`` may not be a payload field.

    Args:
        name: The field or key name.
        where: Names the class or input, for the message.
    """
    if name in BUILTIN_FIELDS:
        return
    if name in RUNTIME_API_NAMES:
        rule = f"'{name}' is a runtime API of every event and cannot be a field"
    elif name.startswith("event_"):
        rule = (
            f"'{name}' starts with 'event_', which is reserved for the built-in"
            " fields; rename the field"
        )
    elif name.startswith("model_"):
        rule = f"'{name}' starts with 'model_', which is reserved; rename the field"
    elif name.startswith("_"):
        rule = f"payload field '{name}' must not start with '_'"
    else:
        return
    raise TypeError(f"{where}: {rule}")


def _is_classvar(annotation: object) -> bool:
    if isinstance(annotation, str):
        return annotation.startswith(("ClassVar", "typing.ClassVar"))
    return annotation is ClassVar or typing.get_origin(annotation) is ClassVar


def _result_type_from_bases(cls: type) -> object:
    """Find ``T`` in ``class X(BaseEvent[T])``; ``_MISSING`` if not given here."""
    if "BaseEvent" not in globals():
        return _MISSING  # defining BaseEvent itself
    for base in getattr(cls, "__orig_bases__", ()):
        origin = typing.get_origin(base)
        if isinstance(origin, type) and issubclass(origin, BaseEvent):
            args = typing.get_args(base)
            if args and not isinstance(args[0], TypeVar):
                return None if args[0] is type(None) else args[0]
    return _MISSING


_MISSING: Any = object()


def _check_timeout(_inst: object, attribute: "attrs.Attribute[Any]", value: object) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(
            f"{attribute.name} must be a number of seconds or None, got {value!r}"
        )
    if value < 0 or value != value:  # the second test catches NaN
        raise ValueError(f"{attribute.name} must be >= 0 or None, got {value!r}")


def _mode_converter(enum: type[Any]) -> Callable[[object], Any]:
    def convert(value: object) -> Any:
        if value is None:
            return None
        try:
            return enum(value)
        except ValueError:
            allowed = ", ".join(repr(m.value) for m in enum)
            raise ValueError(
                f"expected one of {allowed} or None, got {value!r}"
            ) from None

    return convert


@dataclass_transform(kw_only_default=True, field_specifiers=(attrs.field,))
class _EventMeta(type):
    """Makes every ``BaseEvent`` subclass an attrs class, checking its names."""

    def __new__(
        mcls,
        name: str,
        bases: tuple[type, ...],
        namespace: dict[str, Any],
        **kwargs: Any,
    ) -> "_EventMeta":
        cls = super().__new__(mcls, name, bases, namespace, **kwargs)
        own = inspect.get_annotations(cls)
        where = f"event class {cls.__qualname__}"
        for attr, annotation in own.items():
            if not _is_classvar(annotation):
                check_payload_name(attr, where)
        for attr in BUILTIN_FIELDS & namespace.keys():
            if attr not in own:
                raise TypeError(
                    f"{where}: '{attr}' is a built-in field; to change its default,"
                    f" annotate it, e.g. '{attr}: {_builtin_annotation(attr)} = ...'"
                )

        declared_type = "event_type" in own
        result_type = _result_type_from_bases(cls)
        declared_result = "event_result_type" in own

        def fix_defaults(
            _cls: type, fields: "list[attrs.Attribute[Any]]"
        ) -> "list[attrs.Attribute[Any]]":
            fixed: list[attrs.Attribute[Any]] = []
            for field in fields:
                if field.name == "event_type" and not declared_type:
                    field = field.evolve(default=name)
                elif (
                    field.name == "event_result_type"
                    and not declared_result
                    and result_type is not _MISSING
                ):
                    field = field.evolve(default=result_type)
                fixed.append(field)
            return fixed

        built = attrs.define(
            cls,
            slots=False,
            kw_only=True,
            eq=False,
            repr=False,
            field_transformer=fix_defaults,
        )
        payload = tuple(
            f.name for f in attrs.fields(built) if f.name not in BUILTIN_FIELDS
        )
        type.__setattr__(built, "_triobus_payload_fields", payload)
        type.__setattr__(built, "_triobus_types_resolved", False)
        default_type = attrs.fields_dict(built)["event_type"].default
        if isinstance(default_type, str):
            _classes_by_type[default_type] = built
        return built


def _builtin_annotation(name: str) -> str:
    return str(BaseEvent.__annotations__.get(name, "..."))


class BaseEvent(Generic[T], metaclass=_EventMeta):
    """Base class of every event.

    Subclass it with the handlers' result type as the parameter; the subclass
    becomes an attrs class with keyword-only payload fields::

        class UserCreated(BaseEvent[str]):
            user_id: str
            email: str | None = None

    Events compare and hash by ``event_id``. ``await event`` processes it (at
    once, when awaited inside a handler) and returns it completed.
    """

    _triobus_payload_fields: ClassVar[tuple[str, ...]]
    _triobus_types_resolved: ClassVar[bool]

    event_id: str = attrs.field(factory=new_id)
    event_type: str = "BaseEvent"
    event_version: str = "0.0.1"
    event_result_type: object = None
    event_timeout: float | None = attrs.field(default=None, validator=_check_timeout)
    event_handler_timeout: float | None = attrs.field(
        default=None, validator=_check_timeout
    )
    event_slow_timeout: float | None = attrs.field(
        default=None, validator=_check_timeout
    )
    event_handler_slow_timeout: float | None = attrs.field(
        default=None, validator=_check_timeout
    )
    event_concurrency: EventConcurrencyLike | None = attrs.field(
        default=None, converter=_mode_converter(EventConcurrency)
    )
    event_handler_concurrency: HandlerConcurrencyLike | None = attrs.field(
        default=None, converter=_mode_converter(HandlerConcurrency)
    )
    event_handler_completion: HandlerCompletionLike | None = attrs.field(
        default=None, converter=_mode_converter(HandlerCompletion)
    )
    event_parent_id: str | None = None

    event_status: EventStatus = attrs.field(default=EventStatus.PENDING, init=False)
    event_created_at: datetime = attrs.field(factory=utc_now, init=False)
    event_started_at: datetime | None = attrs.field(default=None, init=False)
    event_completed_at: datetime | None = attrs.field(default=None, init=False)
    event_emitted_by_handler_id: str | None = attrs.field(default=None, init=False)
    event_path: list[str] = attrs.field(factory=list, init=False)
    event_results: dict[str, EventResult[T]] = attrs.field(factory=dict, init=False)
    event_pending_bus_count: int = attrs.field(default=0, init=False)
    event_blocks_parent_completion: bool = attrs.field(default=False, init=False)

    # -- identity -----------------------------------------------------------

    def __eq__(self, other: object) -> bool:
        if isinstance(other, BaseEvent):
            return self.event_id == other.event_id  # pyright: ignore[reportUnknownMemberType]
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.event_id)

    def __repr__(self) -> str:
        payload = ", ".join(
            f"{name}={getattr(self, name)!r}" for name in self._triobus_payload_fields
        )
        extra = self.__dict__.get(_EXTRA_KEY)
        if extra:
            payload = ", ".join(
                [payload, *(f"{k}={v!r}" for k, v in extra.items())]
            ).lstrip(", ")
        return f"<{self.label} {self.event_status.value} ({payload})>"

    def __getattr__(self, name: str) -> Any:
        # Only reached when normal lookup fails: payload keys of an event
        # loaded without a class of its own are readable as attributes.
        extra = self.__dict__.get(_EXTRA_KEY)
        if extra is not None and name in extra:
            return extra[name]
        raise AttributeError(
            f"{type(self).__name__!r} event has no attribute {name!r}"
        )

    @property
    def label(self) -> str:
        """``event_type#abcd``: the name used in logs and error messages."""
        return f"{self.event_type}#{self.event_id[-4:]}"

    # -- lineage --------------------------------------------------------------

    @property
    def event_children(self) -> "list[BaseEvent[Any]]":
        """Child events emitted by this event's handlers, in emit order."""
        runtime = self.__dict__.get(_RUNTIME_KEY)
        if runtime is not None:
            return list(runtime.children)
        children: list["BaseEvent[Any]"] = []
        for result in self.event_results.values():
            children.extend(result.event_children)
        return children

    @property
    def bus(self) -> "EventBus":
        """The bus processing this event; only available inside its handlers.

        Raises:
            RuntimeError: Read outside a handler of this event.
        """
        from ._context import bus_processing  # noqa: PLC0415

        return bus_processing(self)

    # -- awaiting -------------------------------------------------------------

    def __await__(self) -> Generator[Any, None, Self]:
        from ._awaiting import wait_immediate  # noqa: PLC0415

        return wait_immediate(self).__await__()

    async def event_completed(self) -> Self:
        """Wait for completion without reordering anything (queue-order path).

        Returns:
            This event, completed.

        Raises:
            RuntimeError: The event was never emitted, or waiting would
                deadlock because the caller's own handler holds the slot the
                event is queued behind.
        """
        from ._awaiting import wait_queue_order  # noqa: PLC0415

        return await wait_queue_order(self)

    async def event_result(
        self,
        include: Callable[[T | None, EventResult[T]], bool] | None = None,
        raise_if_any: bool = True,
        raise_if_none: bool = False,
    ) -> T | None:
        """Complete the event, then return the first valid handler result.

        Valid means completed, not None and not an event, unless ``include``
        decides instead. Results are looked at in registration order.

        Args:
            include: ``include(value, result)`` replaces the validity test.
            raise_if_any: Raise if any handler failed: the error itself for
                one, an ``ExceptionGroup`` for several.
            raise_if_none: Raise ``ValueError`` when no result is valid.

        Returns:
            The first valid value, or None.
        """
        values = await self._collect(include, raise_if_any, raise_if_none)
        return values[0] if values else None

    async def event_results_list(
        self,
        include: Callable[[T | None, EventResult[T]], bool] | None = None,
        raise_if_any: bool = True,
        raise_if_none: bool = False,
    ) -> list[T | None]:
        """Complete the event, then return every valid handler result.

        Takes the same arguments as :meth:`event_result`.

        Returns:
            The valid values in registration order.
        """
        return await self._collect(include, raise_if_any, raise_if_none)

    async def _collect(
        self,
        include: Callable[[T | None, EventResult[T]], bool] | None,
        raise_if_any: bool,
        raise_if_none: bool,
    ) -> list[T | None]:
        from ._outcomes import collect_results  # noqa: PLC0415

        await self
        return collect_results(self, include, raise_if_any, raise_if_none)

    async def first(self) -> T | None:
        """Process the event in ``first`` mode and return the winning value.

        On an event that has not started yet, this sets its completion mode to
        ``first`` and awaits it; on one that has started, it waits and
        returns the first valid result. None when nobody wins.
        """
        if self.event_status is EventStatus.PENDING:
            self.event_handler_completion = HandlerCompletion.FIRST
        return await self.event_result(raise_if_any=False)

    # -- seeding and copies ---------------------------------------------------

    def event_result_update(
        self,
        *,
        handler: "EventHandler",
        eventbus: "EventBus | None" = None,
        status: str = "pending",
        result: object = None,
        error: BaseException | None = None,
    ) -> EventResult[T]:
        """Create or update the result entry of ``handler`` on this event.

        Args:
            handler: The registration whose entry to create or update.
            eventbus: The bus it belongs to; defaults to the handler's own.
            status: The status to set.
            result: A value to record; validated against the result type.
            error: An error to record; sets status ``error``.

        Returns:
            The entry, created if it did not exist.
        """
        entry = self.event_results.get(handler.id)
        if entry is None:
            entry = EventResult[T](
                event_id=self.event_id,
                handler_id=handler.id,
                handler_name=handler.handler_name,
                eventbus_id=eventbus.id if eventbus else handler.eventbus_id,
                eventbus_name=eventbus.name if eventbus else handler.eventbus_name,
                timeout=handler.handler_timeout,
                result_type=self.event_result_type,
            )
            self.event_results[handler.id] = entry
        if result is not None:
            entry.update(result=result)
        if error is not None:
            entry.update(error=error)
        elif result is None or status != "pending":
            entry.update(status=status)
        return entry

    def event_reset(self) -> Self:
        """Return a fresh pending copy: new id, no results, same payload and path.

        Returns:
            A new event of the same class that has never been emitted.
        """
        values = {
            f.alias: getattr(self, f.name)
            for f in attrs.fields(type(self))
            if f.init and f.name not in ("event_id",)
        }
        fresh = type(self)(**values)
        fresh.event_path = list(self.event_path)
        extra = self.__dict__.get(_EXTRA_KEY)
        if extra:
            fresh.__dict__[_EXTRA_KEY] = dict(extra)
        return fresh


def payload_fields(cls: "type[BaseEvent[Any]]") -> tuple[str, ...]:
    """Names of the payload (non built-in) fields of an event class."""
    return cls._triobus_payload_fields  # pyright: ignore[reportPrivateUsage]


def extra_payload(event: "BaseEvent[Any]") -> Mapping[str, object]:
    """Payload keys an event carries beyond its class's fields (loaded JSON)."""
    extra: Mapping[str, object] | None = event.__dict__.get(_EXTRA_KEY)
    return extra if extra is not None else {}


def set_extra_payload(event: "BaseEvent[Any]", extra: dict[str, object]) -> None:
    """Attach payload keys that the event's class has no field for."""
    event.__dict__[_EXTRA_KEY] = extra


def runtime_of(event: "BaseEvent[Any]") -> Any:
    """The bus bookkeeping attached to an emitted event, or None."""
    return event.__dict__.get(_RUNTIME_KEY)


def set_runtime(event: "BaseEvent[Any]", runtime: object) -> None:
    """Attach bus bookkeeping to an event at its first emit."""
    event.__dict__[_RUNTIME_KEY] = runtime
