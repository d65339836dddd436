"""Small helpers shared by the modules: ids, clocks and names."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, datetime

import uuid6


def new_id() -> str:
    """Return a new UUIDv7 as a string; UUIDv7 ids sort by creation time."""
    return str(uuid6.uuid7())


def utc_now() -> datetime:
    """Return the current time as a timezone-aware UTC datetime."""
    return datetime.now(UTC)


def callable_name(fn: Callable[..., object]) -> str:
    """Return ``module.qualname`` for any callable, unwrapping partials."""
    while isinstance(fn, functools.partial):
        fn = fn.func  # pyright: ignore[reportUnknownMemberType]
    target: object = fn
    qualname = getattr(target, "__qualname__", None)
    if qualname is None:
        # A callable object: name it after its class.
        target = type(target)
        qualname = type(fn).__qualname__
    module = getattr(target, "__module__", None) or "?"
    return f"{module}.{qualname}"


def short(ident: str) -> str:
    """Return the last four characters of an id, as used in labels."""
    return ident[-4:]
