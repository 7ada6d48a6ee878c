"""Shared pytest configuration: the hypothesis settings profiles, and the list of the
screenshots the browser tests saved at the end of a run."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

from tests.screenshots import report

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


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    """Where the browser tests saved their screenshots (tests/screenshots.py)."""
    report(terminalreporter, config)
