"""The event model: :class:`BaseEvent`, its built-in fields and name rules.

Subclassing ``BaseEvent[T]`` turns the subclass into an attrs class through
the metaclass below, so users write plain annotated classes. Runtime
bookkeeping that the bus needs (completion signal, captured context, per-bus
state) lives outside the attrs fields, in the instance ``__dict__`` under
private keys, so that it never shows up in ``attrs.fields``, equality or the
JSON form.
"""

import enum
import inspect
import math
import typing
import weakref
from collections.abc import Callable, Generator, Mapping
from datetime import datetime
from typing import (
    TYPE_CHECKING,
    Any,
    ClassVar,
    Generic,
    Literal,
    Self,
    TypeVar,
    dataclass_transform,
)

import attrs

from ._enums import (
    EventConcurrency,
    EventResultStatus,
    EventStatus,
    HandlerCompletion,
    HandlerConcurrency,
)
from ._results import EventResult
from ._util import new_id, utc_now

if TYPE_CHECKING:
    from ._bus import EventBus
    from ._handlers import EventHandler

T = TypeVar("T")
_E = TypeVar("_E", bound=enum.Enum)

EventConcurrencyLike = (
    EventConcurrency | Literal["global-serial", "bus-serial", "parallel"]
)
HandlerConcurrencyLike = HandlerConcurrency | Literal["serial", "parallel"]
HandlerCompletionLike = HandlerCompletion | Literal["all", "first"]
EventResultStatusLike = (
    EventResultStatus | Literal["pending", "started", "completed", "error"]
)

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
#: Other public attributes of every event. A payload field of the same name
#: would replace the attribute and break the event, so classes may not declare
#: one; JSON keys of that name are still loaded, as extra payload.
EVENT_ATTRIBUTE_NAMES = frozenset({"label"})

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


def reserved_name_rule(name: str) -> str | None:
    """Say which rule of SPEC 2.2 forbids ``name`` as a payload key, if any.

    Built-in field names are allowed: redeclaring one changes its default.

    Args:
        name: A field name or JSON key.

    Returns:
        The rule ``name`` breaks, as a sentence fragment, or None.
    """
    if name in BUILTIN_FIELDS:
        return None
    if name in RUNTIME_API_NAMES:
        return f"{name!r} is a runtime API of every event and cannot be a field"
    if name.startswith("event_"):
        return (
            f"{name!r} starts with 'event_', which is reserved for the built-in"
            " fields; rename the field"
        )
    if name.startswith("model_"):
        return f"{name!r} starts with 'model_', which is reserved; rename the field"
    if name.startswith("_"):
        return f"payload field {name!r} must not start with '_'"
    return None


def check_payload_name(name: str, where: str) -> None:
    """Raise ``TypeError`` if ``name`` may not be a payload field of a class.

    Args:
        name: The field name.
        where: Names the class, for the message.

    Raises:
        TypeError: The name breaks a rule; the message names the field and
            the rule.
    """
    rule = reserved_name_rule(name)
    if rule is None and name in EVENT_ATTRIBUTE_NAMES:
        rule = f"'{name}' is an attribute of every event and cannot be a field"
    if rule is not None:
        raise TypeError(f"{where}: {rule}")


def _is_classvar(annotation: object) -> bool:
    if isinstance(annotation, str):
        return annotation.startswith(("ClassVar", "typing.ClassVar"))
    return annotation is ClassVar or typing.get_origin(annotation) is ClassVar


_MISSING: Any = object()
# ``attrs.Factory`` is typed as returning what the factory makes, so the class
# is taken from an instance for ``isinstance`` checks.
_FACTORY: type[object] = type(attrs.Factory(object))


def _substitute(template: object, mapping: Mapping[object, object]) -> object:
    """Replace the type variables in ``template`` by their values in ``mapping``."""
    if isinstance(template, TypeVar):
        return mapping.get(template, template)
    params: tuple[object, ...] = getattr(template, "__parameters__", ())
    if not params:
        return template
    try:
        return template[tuple(mapping.get(p, p) for p in params)]  # type: ignore[index]
    except TypeError:
        return template


def _result_template(cls: type) -> object:
    """Find ``T`` in ``class X(BaseEvent[T])`` or ``class X(Generic[T]Event[T])``.

    Returns:
        The result type expression, possibly holding type variables of ``cls``
        itself, or ``_MISSING`` when the class line does not parameterise an
        event base (the class then inherits its base's result type).
    """
    for base in cls.__dict__.get("__orig_bases__", ()):
        origin = typing.get_origin(base)
        if isinstance(origin, _EventMeta):
            params: tuple[object, ...] = getattr(origin, "__parameters__", ())
            mapping = dict(zip(params, typing.get_args(base), strict=False))
            return _substitute(origin.__dict__.get("_triobus_result_template"), mapping)
    return _MISSING


def _concrete_result_type(template: object) -> object:
    """The ``event_result_type`` for a template; None when it is still generic."""
    params: tuple[object, ...] = getattr(template, "__parameters__", ())
    if isinstance(template, TypeVar) or params:
        return None
    return None if template is type(None) else template


def _timeout_check(name: str) -> Callable[[object], object]:
    """A check for a timeout option: None or a number of seconds >= 0.

    The value is stored as a float: deadlines are float arithmetic, and an int
    too large for a float would only fail later, inside the bus.
    """

    def check(value: object) -> object:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(
                f"{name} must be a number of seconds or None, got {value!r}"
            )
        try:
            seconds = float(value)
        except OverflowError:
            raise ValueError(f"{name} is too large: {value!r}") from None
        if math.isnan(seconds) or seconds < 0:
            raise ValueError(f"{name} must be >= 0 or None, got {value!r}")
        return seconds

    return check


def _mode_check(enum_cls: type[_E], name: str) -> Callable[[object], object]:
    """A check for a mode option: a member, its string value or None."""
    allowed = ", ".join(repr(m.value) for m in enum_cls)

    def check(value: object) -> object:
        if value is None or type(value) is enum_cls:
            return value
        try:
            return enum_cls(value)
        except ValueError:
            raise ValueError(
                f"{name} must be one of {allowed} or None, got {value!r}"
            ) from None

    return check


#: The option fields whose values are checked (and modes converted to their
#: enum) whenever they are assigned, in ``__init__`` or later.
_OPTION_CHECKS: dict[str, Callable[[object], object]] = {
    "event_timeout": _timeout_check("event_timeout"),
    "event_handler_timeout": _timeout_check("event_handler_timeout"),
    "event_slow_timeout": _timeout_check("event_slow_timeout"),
    "event_handler_slow_timeout": _timeout_check("event_handler_slow_timeout"),
    "event_concurrency": _mode_check(EventConcurrency, "event_concurrency"),
    "event_handler_concurrency": _mode_check(
        HandlerConcurrency, "event_handler_concurrency"
    ),
    "event_handler_completion": _mode_check(
        HandlerCompletion, "event_handler_completion"
    ),
}


class _CheckedOption:
    """Checks every assignment to one option field of every event.

    attrs could check these fields with validators and converters, but then
    it routes every assignment to every field of the event (the bus makes
    many) through a Python ``__setattr__``, and ``__init__`` through slower
    code. This descriptor has ``__set__`` and no ``__get__``, so only writes
    to its own field pay for the check; reads go straight to the instance
    ``__dict__``, where ``__set__`` stores the value.
    """

    __slots__ = ("check", "name")

    def __init__(self, name: str, check: Callable[[object], object]) -> None:
        self.name = name
        self.check = check

    def __set__(self, instance: object, value: object) -> None:
        if value is not None:  # the usual case, kept cheap: None is always valid
            value = self.check(value)
        instance.__dict__[self.name] = value


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

        # While BaseEvent itself is being defined, its result type is T.
        template = _result_template(cls) if "BaseEvent" in globals() else T
        if template is not _MISSING:
            type.__setattr__(cls, "_triobus_result_template", template)
        declared_type = "event_type" in own
        declared_result = "event_result_type" in own
        result_type = (
            _MISSING if template is _MISSING else _concrete_result_type(template)
        )

        base_fields: dict[str, attrs.Attribute[Any]] = (
            attrs.fields_dict(BaseEvent) if "BaseEvent" in globals() else {}
        )

        def fix_defaults(
            _cls: type, fields: "list[attrs.Attribute[Any]]"
        ) -> "list[attrs.Attribute[Any]]":
            fixed: list[attrs.Attribute[Any]] = []
            for field in fields:
                if field.name in own and field.name in base_fields:
                    field = _redeclared(base_fields[field.name], field, where)
                if field.name == "event_type" and not declared_type:
                    # Not "inherited": attrs builds the fields of subclasses from
                    # the definitions that are not, so a grandchild would
                    # otherwise get BaseEvent's default back.
                    field = field.evolve(default=name, inherited=False)
                elif (
                    field.name == "event_result_type"
                    and not declared_result
                    and result_type is not _MISSING
                ):
                    field = field.evolve(default=result_type, inherited=False)
                fixed.append(field)
            return fixed

        built: Any = attrs.define(
            cls,
            slots=False,
            kw_only=True,
            eq=False,
            repr=False,
            field_transformer=fix_defaults,
        )
        fields: tuple[attrs.Attribute[Any], ...] = attrs.fields(built)
        payload = tuple(f.name for f in fields if f.name not in BUILTIN_FIELDS)
        type.__setattr__(built, "_triobus_payload_fields", payload)
        default_type = attrs.fields_dict(built)["event_type"].default
        if isinstance(default_type, str):
            _classes_by_type[default_type] = built
        return typing.cast("_EventMeta", built)


def _redeclared(
    base: "attrs.Attribute[Any]", new: "attrs.Attribute[Any]", where: str
) -> "attrs.Attribute[Any]":
    """A built-in field redeclared by a subclass to change its default.

    The field keeps what makes it built-in (runtime fields stay out of
    ``__init__``), and an option's new default is checked now, at class
    definition, rather than at every construction.

    Raises:
        TypeError: The new default is not a valid value of the option.
    """
    field = new.evolve(init=base.init, alias=base.alias)
    check = _OPTION_CHECKS.get(base.name)
    default: object = new.default
    if check is not None and not isinstance(default, _FACTORY):
        try:
            default = check(default)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"{where}: the default of built-in field '{base.name}' is not"
                f" valid: {exc}"
            ) from None
        field = field.evolve(default=default)
    return field


#: How the built-in fields are annotated, for the message that asks for one.
_BUILTIN_ANNOTATIONS = {
    "event_result_type": "object",
    "event_concurrency": "EventConcurrency | None",
    "event_handler_concurrency": "HandlerConcurrency | None",
    "event_handler_completion": "HandlerCompletion | None",
    "event_status": "EventStatus",
    "event_created_at": "datetime",
    "event_started_at": "datetime | None",
    "event_completed_at": "datetime | None",
    "event_parent_id": "str | None",
    "event_emitted_by_handler_id": "str | None",
    "event_path": "list[str]",
    "event_results": "dict[str, EventResult[T]]",
    "event_pending_bus_count": "int",
    "event_blocks_parent_completion": "bool",
}


def _builtin_annotation(name: str) -> str:
    if name in _BUILTIN_ANNOTATIONS:
        return _BUILTIN_ANNOTATIONS[name]
    return "float | None" if name.endswith("timeout") else "str"


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

    if TYPE_CHECKING:
        # Tells type checkers that every event class is an attrs class, so
        # ``attrs.fields(UserCreated)`` type-checks; attrs sets it at runtime.
        __attrs_attrs__: ClassVar[tuple[attrs.Attribute[Any], ...]]

    _triobus_payload_fields: ClassVar[tuple[str, ...]]
    _triobus_result_template: ClassVar[object]

    event_id: str = attrs.field(factory=new_id)
    event_type: str = "BaseEvent"
    event_version: str = "0.0.1"
    event_result_type: object = None
    # The option fields are checked on assignment by ``_CheckedOption``.
    event_timeout: float | None = None
    event_handler_timeout: float | None = None
    event_slow_timeout: float | None = None
    event_handler_slow_timeout: float | None = None
    event_concurrency: EventConcurrencyLike | None = None
    event_handler_concurrency: HandlerConcurrencyLike | None = None
    event_handler_completion: HandlerCompletionLike | None = None
    event_parent_id: str | None = None

    event_status: EventStatus = attrs.field(default=EventStatus.PENDING, init=False)
    event_created_at: datetime = attrs.field(factory=utc_now, init=False)
    event_started_at: datetime | None = attrs.field(default=None, init=False)
    event_completed_at: datetime | None = attrs.field(default=None, init=False)
    event_emitted_by_handler_id: str | None = attrs.field(default=None, init=False)
    event_path: list[str] = attrs.field(factory=list, init=False)  # pyright: ignore[reportUnknownVariableType]
    event_results: dict[str, EventResult[T]] = attrs.field(factory=dict, init=False)  # pyright: ignore[reportUnknownVariableType]
    event_pending_bus_count: int = attrs.field(default=0, init=False)
    event_blocks_parent_completion: bool = attrs.field(default=False, init=False)

    # -- identity -----------------------------------------------------------

    def __eq__(self, other: object) -> bool:
        if isinstance(other, BaseEvent):
            other_id: str = other.event_id  # pyright: ignore[reportUnknownMemberType]
            return self.event_id == other_id
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.event_id)

    def __repr__(self) -> str:
        parts = [
            f"{name}={getattr(self, name)!r}" for name in self._triobus_payload_fields
        ]
        parts.extend(f"{k}={v!r}" for k, v in extra_payload(self).items())
        return f"<{self.label} {self.event_status.value} ({', '.join(parts)})>"

    if not TYPE_CHECKING:
        # Hidden from type checkers, which would otherwise accept any attribute
        # name on every event and so miss misspelt field names.

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
        runtime = runtime_of(self)
        if runtime is not None:
            return list(runtime.children)
        children: list[BaseEvent[Any]] = []
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
        status: EventResultStatusLike | None = None,
        result: object = None,
        error: BaseException | None = None,
    ) -> EventResult[T]:
        """Create or update the result entry of ``handler`` on this event.

        This is for seeding and rehydration (tests, replaying a log); the bus
        keeps its own entries up to date. A new entry starts ``pending``.

        Args:
            handler: The registration whose entry to create or update.
            eventbus: The bus it belongs to; defaults to the handler's own.
            status: The status to set; unchanged when None.
            result: A value to record, validated against the result type;
                ignored when None. Sets status ``completed`` unless ``status``
                says otherwise.
            error: An error to record; sets status ``error``.

        Returns:
            The entry, created if it did not exist.

        Raises:
            EventResultTypeError: ``result`` does not fit
                ``event_result_type``. The entry is left as it was.
            ValueError: ``status`` is not a result status.
        """
        entry = self.event_results.get(handler.id)
        if entry is None:
            entry = EventResult[T](
                event_id=self.event_id,
                handler_id=handler.id,
                handler_name=handler.handler_name,
                eventbus_id=handler.eventbus_id if eventbus is None else eventbus.id,
                eventbus_name=(
                    handler.eventbus_name if eventbus is None else eventbus.name
                ),
                timeout=handler.handler_timeout,
                result_type=self.event_result_type,
            )
            if result is not None:
                # Validate before the entry is added, so a bad value leaves
                # the event without it.
                entry.update(status=status, result=result, error=error)
            elif status is not None or error is not None:
                entry.update(status=status, error=error)
            self.event_results[handler.id] = entry
        elif result is not None:
            entry.update(status=status, result=result, error=error)
        elif status is not None or error is not None:
            entry.update(status=status, error=error)
        return entry

    def event_reset(self) -> Self:
        """Return a fresh pending copy of this event, ready to be emitted again.

        The copy has a new ``event_id``, status ``pending``, no results, no
        start or completion time, and no parent. It keeps the payload (the
        values themselves, as ``attrs.evolve`` would), the options,
        ``event_created_at`` and a copy of ``event_path``.

        Returns:
            A new event of the same class that has never been emitted.
        """
        cls = type(self)
        values = {
            f.alias: getattr(self, f.name)
            for f in attrs.fields(cls)
            if f.init and f.name not in _NOT_RESET
        }
        fresh = cls(**values)
        fresh.event_created_at = self.event_created_at
        fresh.event_path = list(self.event_path)
        extra = extra_payload(self)
        if extra:
            set_extra_payload(fresh, dict(extra))
        return fresh


def _install_option_checks() -> None:
    # After attrs has built BaseEvent (it removes the class attributes of its
    # fields), so nothing replaces these descriptors; subclasses inherit them.
    for name, check in _OPTION_CHECKS.items():
        type.__setattr__(BaseEvent, name, _CheckedOption(name, check))


_install_option_checks()

#: Constructor arguments that :meth:`BaseEvent.event_reset` does not copy.
_NOT_RESET = frozenset({"event_id", "event_parent_id"})


def payload_fields(cls: "type[BaseEvent[Any]]") -> tuple[str, ...]:
    """Names of the payload (non built-in) fields of an event class."""
    return cls._triobus_payload_fields  # pyright: ignore[reportPrivateUsage]


def extra_payload(event: "BaseEvent[Any]") -> Mapping[str, object]:
    """Payload keys an event carries beyond its class's fields (loaded JSON)."""
    extra: Mapping[str, object] | None = vars(event).get(_EXTRA_KEY)
    return extra if extra is not None else _NO_EXTRA


_NO_EXTRA: Mapping[str, object] = {}


def set_extra_payload(event: "BaseEvent[Any]", extra: dict[str, object]) -> None:
    """Attach payload keys that the event's class has no field for."""
    vars(event)[_EXTRA_KEY] = extra


def runtime_of(event: "BaseEvent[Any]") -> Any:
    """The bus bookkeeping attached to an emitted event, or None."""
    return vars(event).get(_RUNTIME_KEY)


def set_runtime(event: "BaseEvent[Any]", runtime: object) -> None:
    """Attach bus bookkeeping to an event at its first emit."""
    vars(event)[_RUNTIME_KEY] = runtime
