"""Small helpers shared by the modules: ids, clocks and names."""

from __future__ import annotations

import functools
import os
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime

import uuid6


def new_id() -> str:
    """Return a new UUIDv7 as a string; UUIDv7 ids sort by creation time."""
    return str(uuid6.uuid7())


# Result ids are made once per handler call, on the hot path, and need only
# be unique and shaped like a UUIDv7; ``uuid6`` spends most of its time in
# the system random source. A private generator seeded from it is enough.
_result_random = random.Random(os.urandom(16))


def new_result_id() -> str:
    """Return a unique UUIDv7-shaped id for a handler result, cheaply."""
    value = (time.time_ns() // 1_000_000) << 80 | _result_random.getrandbits(80)
    # Version 7 in bits 76-79, variant 0b10 in bits 62-63.
    value = value & ~(0xF << 76) | 0x7 << 76
    value = value & ~(0x3 << 62) | 0x2 << 62
    text = f"{value:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


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
