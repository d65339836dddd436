"""Ids and names shared by the modules."""

from __future__ import annotations

import uuid

from triobus._util import new_id, new_result_id


def test_result_ids_are_unique_uuid7_strings_in_time_order() -> None:
    """Result ids parse as RFC 4122 version-7 UUIDs and never repeat."""
    ids = [new_result_id() for _ in range(20_000)]
    parsed = [uuid.UUID(text) for text in ids]
    assert all(u.version == 7 and u.variant == uuid.RFC_4122 for u in parsed)
    assert all(str(u) == text for u, text in zip(parsed, ids, strict=True))
    assert len(set(ids)) == len(ids)
    stamps = [u.int >> 80 for u in parsed]  # the 48-bit millisecond field
    assert stamps == sorted(stamps)


def test_result_ids_share_the_clock_of_event_ids() -> None:
    """A result id made after an event id carries a timestamp no earlier."""
    event_stamp = uuid.UUID(new_id()).int >> 80
    result_stamp = uuid.UUID(new_result_id()).int >> 80
    assert result_stamp >= event_stamp - 1000  # uuid6 may run ahead of the clock
