"""Shared pytest configuration: only the hypothesis settings profiles live here."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

# Deterministic by default (same examples every run, nothing stored on disk).
# HYPOTHESIS_PROFILE=thorough explores more, with fresh random examples.
settings.register_profile(
    "default",
    max_examples=100,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("thorough", max_examples=2000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
