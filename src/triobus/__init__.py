"""triobus: a Trio-native, typed, in-process event bus."""

from __future__ import annotations

import logging

from ._bus import BusStatistics as BusStatistics
from ._bus import EventBus as EventBus
from ._enums import EventConcurrency as EventConcurrency
from ._enums import EventResultStatus as EventResultStatus
from ._enums import EventStatus as EventStatus
from ._enums import HandlerCompletion as HandlerCompletion
from ._enums import HandlerConcurrency as HandlerConcurrency
from ._errors import BusClosedError as BusClosedError
from ._errors import BusNotRunningError as BusNotRunningError
from ._errors import EventDecodeError as EventDecodeError
from ._errors import EventHandlerAbortedError as EventHandlerAbortedError
from ._errors import EventHandlerCancelledError as EventHandlerCancelledError
from ._errors import EventHandlerTimeoutError as EventHandlerTimeoutError
from ._errors import EventResultTypeError as EventResultTypeError
from ._errors import TriobusError as TriobusError
from ._event import BaseEvent as BaseEvent
from ._handlers import EventHandler as EventHandler
from ._results import EventResult as EventResult
from ._serialization import EventConverter as EventConverter
from ._serialization import RemoteHandlerError as RemoteHandlerError
from ._serialization import converter as converter

__version__ = "0.1.0"

logging.getLogger("triobus").addHandler(logging.NullHandler())


def _claim_public_names() -> None:
    # Public names report the package as their home, so reprs, docs and
    # pickles do not expose the private module layout.
    for obj in list(globals().values()):
        if isinstance(obj, type) and obj.__module__.startswith("triobus._"):
            obj.__module__ = "triobus"


_claim_public_names()
