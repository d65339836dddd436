# pyright: reportUnnecessaryTypeIgnoreComment=error
"""Type tests: mypy and pyright understand the ``__init__`` of event classes.

CI runs ``mypy --strict`` and pyright (strict) over this directory. Each line
that both checkers must reject carries ``# type: ignore[<mypy code>]``, which
both honour. mypy's ``warn_unused_ignores`` (part of strict) fails the run if
mypy stops reporting that error code there, and pyright's
``reportUnnecessaryTypeIgnoreComment`` (switched on for this file by the
comment on the first line) fails it if pyright stops reporting an error on
that line. ``assert_type`` fails either checker if a type is not the one
stated.

pytest runs the ``test_`` functions too: each rejected call is wrapped in
``pytest.raises``, so what type checkers refuse also fails at runtime. Code
that needs a running bus sits in a function pytest does not collect, since
only its types matter here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, assert_type

import attrs
import pytest

from triobus import (
    BaseEvent,
    EventConcurrency,
    EventResult,
    EventStatus,
    HandlerCompletion,
    converter,
)


class SignedUp(BaseEvent[str]):
    """The event whose generated ``__init__`` is checked."""

    user_id: str
    email: str | None = None
    attempts: int = attrs.field(default=0)


class AdminSignedUp(SignedUp):
    """A subclass adds a field and keeps the parent's."""

    level: int = 1


def test_constructing_with_valid_keywords_is_accepted() -> None:
    """Payload and built-in keywords type-check, and fields have their types."""
    event = SignedUp(user_id="u1", email=None, attempts=2, event_timeout=5.0)
    assert_type(event, SignedUp)
    assert_type(event.user_id, str)
    assert_type(event.email, str | None)
    assert_type(event.attempts, int)
    assert_type(event.event_id, str)
    assert_type(event.event_type, str)
    assert_type(event.event_timeout, float | None)
    assert_type(event.event_status, EventStatus)
    assert_type(event.event_created_at, datetime)
    assert_type(event.event_path, list[str])
    assert_type(event.event_results, dict[str, EventResult[str]])


def test_modes_are_accepted_as_members_or_strings() -> None:
    """Mode options take the enum member or its literal string."""
    SignedUp(user_id="u", event_concurrency=EventConcurrency.PARALLEL)
    SignedUp(user_id="u", event_concurrency="parallel")
    SignedUp(user_id="u", event_handler_completion=HandlerCompletion.FIRST)
    SignedUp(user_id="u", event_handler_concurrency="serial")


def test_a_subclass_accepts_its_own_and_inherited_fields() -> None:
    """Inherited payload fields stay keywords of the subclass."""
    admin = AdminSignedUp(user_id="u", level=3)
    assert_type(admin.level, int)
    assert_type(admin.user_id, str)
    assert_type(admin.event_reset(), AdminSignedUp)


def test_an_unknown_keyword_is_rejected() -> None:
    """A misspelt field name is a type error, and a TypeError at runtime."""
    with pytest.raises(TypeError):
        SignedUp(user_id="u", emial="typo")  # type: ignore[call-arg]


def test_a_wrong_type_is_rejected() -> None:
    """A value of the wrong type for a field is a type error."""
    SignedUp(user_id=42)  # type: ignore[arg-type]


def test_a_missing_required_field_is_rejected() -> None:
    """Leaving out a field without a default is a type error."""
    with pytest.raises(TypeError):
        SignedUp()  # type: ignore[call-arg]


def test_positional_arguments_are_rejected() -> None:
    """Payload fields are keyword-only."""
    with pytest.raises(TypeError):
        SignedUp("u1")  # type: ignore[call-arg]


def test_an_unknown_mode_string_is_rejected() -> None:
    """Only the modes' own strings are accepted."""
    with pytest.raises(ValueError, match="event_concurrency"):
        SignedUp(user_id="u", event_concurrency="sideways")  # type: ignore[arg-type]


def test_runtime_fields_are_not_constructor_arguments() -> None:
    """Status and results are set by the bus, not passed in."""
    with pytest.raises(TypeError):
        SignedUp(user_id="u", event_status=EventStatus.STARTED)  # type: ignore[call-arg]


def test_reading_an_unknown_attribute_is_rejected() -> None:
    """Events do not accept arbitrary attribute names."""
    event = SignedUp(user_id="u")
    with pytest.raises(AttributeError):
        event.nickname  # type: ignore[attr-defined]


def test_attrs_fields_accepts_event_classes() -> None:
    """Event classes are attrs classes to the checkers too."""
    fields = attrs.fields(SignedUp)
    assert "user_id" in attrs.fields_dict(SignedUp)
    assert fields


def test_the_converter_returns_the_class_it_was_given() -> None:
    """``loads`` and ``structure`` are typed by their target class."""
    text = converter.dumps(SignedUp(user_id="u"))
    assert_type(text, str)
    assert_type(converter.loads(text, SignedUp), SignedUp)
    assert_type(
        converter.structure(
            converter.unstructure(AdminSignedUp(user_id="u")), AdminSignedUp
        ),
        AdminSignedUp,
    )
    assert_type(converter.loads(text, BaseEvent), BaseEvent[Any])


async def results_are_typed_by_the_generic_parameter(event: SignedUp) -> None:
    """The accessors return ``T | None``; not run, only type-checked."""
    assert_type(await event.event_result(), str | None)
    assert_type(await event.event_results_list(), list[str | None])
    assert_type(await event.first(), str | None)
    assert_type(await event, SignedUp)
    entry = event.event_results["handler-id"]
    assert_type(await entry, str | None)
    assert_type(entry.result, str | None)
