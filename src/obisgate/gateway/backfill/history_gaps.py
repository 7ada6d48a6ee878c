"""The history's gaps of every backfilled device, read once at start (on a thread)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path

from obisgate.errors import ConfigError
from obisgate.gateway.history import HistoryGaps, HistoryStore
from obisgate.gateway.plan import DevicePlan

__all__ = ["history_gaps"]

_LOGGER = logging.getLogger("obisgate.gateway.backfill")


def history_gaps(
    path: Path, plans: Iterable[DevicePlan], now: datetime
) -> dict[str, HistoryGaps | None]:
    """Device alias -> the holes and the newest time of its profile signals' history
    within its ``backfill_max_days`` (``None``: it could not be read, logged once).

    Blocking (SQLite): run it on a thread.
    """
    found: dict[str, HistoryGaps | None] = {}
    wanted = [plan for plan in plans if plan.profile is not None]
    try:
        store = HistoryStore(path, create=False)
    except ConfigError as exc:
        _LOGGER.warning("backfill: cannot read the history (%s); only new gaps are filled", exc)
        return dict.fromkeys((plan.alias for plan in wanted), None)
    with store:
        for plan in wanted:
            profile = plan.profile
            assert profile is not None
            try:
                found[plan.alias] = store.gaps(
                    plan.alias,
                    [signal.alias for _, signal in profile.channels],
                    since=now - timedelta(days=profile.max_days),
                    longer_than=timedelta(seconds=profile.period_s + plan.scan_rate_s),
                )
            except Exception as exc:
                _LOGGER.warning("%s: backfill: cannot read its history (%s)", plan.alias, exc)
                found[plan.alias] = None
    return found
