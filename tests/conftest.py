"""Shared test configuration."""

from __future__ import annotations

from hypothesis import HealthCheck, settings

# Trio tests run on virtual time but can still be slow in wall-clock terms on a
# busy CI machine, so examples get no deadline and no too-slow health check.
settings.register_profile(
    "ci",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("ci")
