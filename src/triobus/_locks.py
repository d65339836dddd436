"""The ``global-serial`` lock: one per ``trio.run``, never per process."""

from __future__ import annotations

import trio
from trio.lowlevel import RunVar

_global_lock: RunVar[trio.Lock] = RunVar("triobus_global_serial_lock")


def global_lock() -> trio.Lock:
    """The lock that ``global-serial`` events hold while they are processed."""
    try:
        return _global_lock.get()
    except LookupError:
        lock = trio.Lock()
        _global_lock.set(lock)
        return lock
