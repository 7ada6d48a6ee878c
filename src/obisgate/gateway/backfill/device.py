"""One device's backfill: which spans are still to fill, and what happened so far.

:class:`DeviceBackfill` is a state machine driven by its line
(:class:`~obisgate.gateway.backfill.line.LineBackfill`); it reads no clock of its
own (every time is handed in) and does no I/O.

Where a gap comes from:

* the history (:meth:`DeviceBackfill.loaded`, at start): holes between stored
  values of the device's profile signals in the last ``backfill_max_days``, and the
  time since its newest stored value (the gateway was down), which ends at the
  first poll that succeeds; a device the history has never seen gets the last
  ``backfill_max_days``;
* the device itself (:meth:`DeviceBackfill.after_poll`): when it answers again
  after failed polls, the time since its last good poll.

A span is read only while the device answers its polls, in chunks of at most
``backfill_chunk`` intervals, and a chunk only once its newest interval is
:data:`SETTLE_S` old (the meter has closed it). A failed session is retried after
a jittered, growing wait (:class:`~obisgate.backoff.Backoff`); after
:data:`MAX_ATTEMPTS` failures in a row the device gives up until its next gap
(or a restart, which finds the hole in the history again). A refused password, an
error answer to the profile request (an unknown profile, a command the meter does
not take) and a password that cannot be read end in the ``refused`` phase: logged
once, never tried again until the configuration is reloaded. A refused password
also stops the device's programming-mode reads (``DeviceState.access_denied``):
meters lock after a few wrong passwords.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from obisgate.backoff import Backoff
from obisgate.errors import (
    AccessDeniedError,
    ConfigError,
    MeterError,
    ObisgateError,
    SessionEndedError,
)
from obisgate.gateway.backfill.spans import Span, add_span, holes
from obisgate.gateway.backfill.times import boundaries, count_boundaries, last_boundary
from obisgate.gateway.history import HistoryGaps
from obisgate.gateway.plan import ProfilePlan
from obisgate.gateway.poller import DeviceState

__all__ = ["MAX_ATTEMPTS", "SETTLE_S", "DeviceBackfill", "Phase"]

_LOGGER = logging.getLogger("obisgate.gateway.backfill")

#: Failed sessions in a row after which a device gives up until its next gap.
MAX_ATTEMPTS = 5
#: Seconds after an interval's stamp before it is read (the meter writes it at the stamp).
SETTLE_S = 30.0
#: The first and the longest ceiling of the wait after a failed session (seconds).
BACKOFF_S = (5.0, 300.0)


class Phase(enum.StrEnum):
    """Where a device's backfill stands (``/api/devices``, the metrics)."""

    IDLE = "idle"
    """Nothing to fill."""
    WAITING = "waiting"
    """A gap to fill: waiting for the device to answer, for time on its line, for the
    meter to close the newest interval, or for the history to be looked at."""
    READING = "reading"
    """A programming session reads a chunk."""
    RETRYING = "retrying"
    """A session failed; the next one after a jittered wait."""
    GAVE_UP = "gave up"
    """Failed :data:`MAX_ATTEMPTS` times in a row; tried again at the next gap or restart."""
    REFUSED = "refused"
    """The meter refused (password, error answer) or the password cannot be read:
    not tried again until the configuration is reloaded."""


@dataclass
class DeviceBackfill:
    """The backfill of one device (see the module docstring).

    Args:
        state: the poller's state of the device (its plan, whether it answers).
        profile: the device's profile plan.
        backoff: the waits after failed sessions.

    Attributes:
        spans: what is left to fill, oldest first.
        phase: where it stands.
        chunk: intervals per session now (halved when a session did not fit its slot).
        estimate_s: how long the next session is expected to take.
        retry_at: monotonic time before which no session is started.
        intervals_total, sessions_total, failures_total: counters.
        last_error: the last failure, one line.
        filled_to: the newest time filled so far.
    """

    state: DeviceState
    profile: ProfilePlan
    backoff: Backoff = field(default_factory=lambda: Backoff(*BACKOFF_S))
    spans: list[Span] = field(default_factory=list)
    phase: Phase = Phase.WAITING
    chunk: int = 0
    estimate_s: float = 0.0
    retry_at: float = 0.0
    intervals_total: int = 0
    sessions_total: int = 0
    failures_total: int = 0
    failures: int = 0
    last_error: str | None = None
    filled_to: datetime | None = None
    loaded_history: bool = False
    first_ok: datetime | None = None
    last_good: datetime | None = None
    open_since: datetime | None = None
    warned_channels: bool = False

    def __post_init__(self) -> None:
        self.chunk = self.profile.chunk

    @property
    def alias(self) -> str:
        """The device alias."""
        return self.state.plan.alias

    @property
    def period(self) -> timedelta:
        """The profile's interval."""
        return timedelta(seconds=self.profile.period_s)

    # -- where gaps come from -------------------------------------------------

    def loaded(self, gaps: HistoryGaps | None, now: datetime) -> None:
        """Take what the history says (``None``: it could not be read; only gaps seen
        while running are filled then). ``now`` is when it was looked at."""
        self.loaded_history = True
        since = now - timedelta(days=self.profile.max_days)
        if gaps is None:
            self.last_good = self.first_ok
            self._settle_phase()
            return
        longer = self.period + timedelta(seconds=self.state.plan.scan_rate_s)
        for span in holes(gaps.holes, since, longer_than=longer):
            self._add(span)
        start = since if gaps.last is None else max(gaps.last, since)
        if self.first_ok is not None:
            self._add(Span(start, self.first_ok))
            self.last_good = self.first_ok
        else:
            self.open_since = start
            self.last_good = start
        self._settle_phase()

    def after_poll(self, ok: bool, now: datetime) -> None:
        """Take the outcome of one poll of the device at ``now``."""
        if not self.loaded_history:
            if ok and self.first_ok is None:
                self.first_ok = now
            return
        if not ok:
            if self.open_since is None:
                self.open_since = self.last_good
            return
        if self.open_since is not None:
            since = now - timedelta(days=self.profile.max_days)
            span = Span(self.open_since, now).clipped(since)
            self.open_since = None
            if span is not None:
                self._add(span)
        self.last_good = now
        self._settle_phase()

    def _add(self, span: Span) -> None:
        p = self.profile
        count = count_boundaries(span.lo, span.hi, p.period_s, p.zone)
        if count == 0:
            return
        self.spans = add_span(self.spans, span)
        _LOGGER.info(
            "%s: gap from %s to %s: %d intervals to read from its load profile %s",
            self.alias,
            _short(span.lo),
            _short(span.hi),
            count,
            p.address,
        )
        if self.phase in (Phase.IDLE, Phase.GAVE_UP):
            self.phase = Phase.WAITING
            self.failures = 0
            self.backoff.reset()

    def _settle_phase(self) -> None:
        if self.phase is Phase.WAITING and not self.spans:
            self.phase = Phase.IDLE

    # -- reading ----------------------------------------------------------------

    def next_chunk(self, now: datetime, monotonic: float) -> Span | None:
        """The span the next session should read, or ``None`` when none may start now.

        Spans without an interval stamp left are dropped here. A session may start
        while the device answers its polls, its password is not refused, the wait
        after a failure is over and the chunk's newest interval is settled.
        """
        if self.phase in (Phase.REFUSED, Phase.GAVE_UP) or not self.loaded_history:
            return None
        if self.state.access_denied:
            self._refuse("the password was refused (programming mode)")
            return None
        p = self.profile
        self._prune()
        if not self.spans:
            self.phase = Phase.IDLE
            return None
        first = self.spans[0]
        stamps = boundaries(first.lo, first.hi, p.period_s, p.zone, limit=self.chunk)
        if self.state.up is not True or monotonic < self.retry_at:
            return None
        settled = last_boundary(now - timedelta(seconds=SETTLE_S), p.period_s, p.zone)
        end = min(stamps[-1], settled)
        if end <= first.lo:
            return None
        return Span(first.lo, end)

    def started(self) -> None:
        """A session for the chunk begins."""
        self.phase = Phase.READING
        self.sessions_total += 1

    def read(self, chunk: Span, intervals: int, duration_s: float) -> None:
        """The chunk was read (``intervals`` of them published) in ``duration_s``."""
        self._advance(chunk)
        self.intervals_total += intervals
        self.filled_to = chunk.hi if self.filled_to is None else max(self.filled_to, chunk.hi)
        self.estimate_s = duration_s * 1.2
        if self.failures:
            _LOGGER.info("%s: the backfill works again", self.alias)
        self.failures = 0
        self.last_error = None
        self.backoff.reset()
        self.phase = Phase.WAITING if self.spans else Phase.IDLE
        if not self.spans:
            _LOGGER.info(
                "%s: backfill done (%d intervals so far)", self.alias, self.intervals_total
            )

    def _advance(self, chunk: Span) -> None:
        first = self.spans[0]
        if chunk.hi >= first.hi:
            self.spans.pop(0)
        else:
            self.spans[0] = Span(chunk.hi, first.hi)
        self._prune()

    def _prune(self) -> None:
        """Drop the spans at the front that hold no interval stamp (left after a chunk)."""
        p = self.profile
        while self.spans and not count_boundaries(*self.spans[0], p.period_s, p.zone):
            self.spans.pop(0)

    def cut_short(self, limit_s: float) -> None:
        """The session did not end within the line's free time (``limit_s``): it was
        abandoned; the next one reads half as many intervals and waits for more time."""
        self.chunk = max(1, self.chunk // 2)
        self.estimate_s = max(self.estimate_s, limit_s)
        self.phase = Phase.WAITING

    def failed(self, exc: ObisgateError, monotonic: float) -> None:
        """A session failed: refuse for good, retry after a wait, or give up for now."""
        if isinstance(exc, AccessDeniedError):
            self.state.access_denied = True  # never sent again, live reads included
            self._refuse("the password was refused")
            return
        if isinstance(exc, ConfigError):
            self._refuse(str(exc))
            return
        if isinstance(exc, MeterError) and not isinstance(exc, SessionEndedError):
            self._refuse(f"the meter refuses {self.profile.address}: {exc}")
            return
        self.failures += 1
        self.failures_total += 1
        self.last_error = str(exc)
        if self.failures >= MAX_ATTEMPTS:
            self.phase = Phase.GAVE_UP
            _LOGGER.warning(
                "%s: backfill gave up after %d failed sessions (%s); tried again at the "
                "next gap or restart",
                self.alias,
                self.failures,
                exc,
            )
            return
        if self.failures == 1:
            _LOGGER.warning("%s: backfill session failed (%s); retrying", self.alias, exc)
        self.retry_at = monotonic + self.backoff.next_delay()
        self.phase = Phase.RETRYING

    def _refuse(self, reason: str) -> None:
        if self.phase is not Phase.REFUSED:
            _LOGGER.warning(
                "%s: backfill stopped: %s; not tried again until the configuration is reloaded",
                self.alias,
                reason,
            )
        self.phase = Phase.REFUSED
        self.last_error = reason

    # -- what it shows ------------------------------------------------------------

    def pending_intervals(self) -> int:
        """Interval stamps left in the spans."""
        p = self.profile
        return sum(count_boundaries(s.lo, s.hi, p.period_s, p.zone) for s in self.spans)

    def progress(self, monotonic: float) -> dict[str, Any]:
        """The JSON object of ``/api/devices`` (``backfill``) and the metrics."""
        retry = self.retry_at - monotonic if self.phase is Phase.RETRYING else None
        return {
            "phase": self.phase.value,
            "profile": self.profile.address,
            "pending_intervals": self.pending_intervals(),
            "gap_from": _iso(self.spans[0].lo) if self.spans else None,
            "gap_to": _iso(self.spans[-1].hi) if self.spans else None,
            "filled_to": _iso(self.filled_to),
            "intervals_total": self.intervals_total,
            "sessions_total": self.sessions_total,
            "failures_total": self.failures_total,
            "retry_in_s": None if retry is None else round(max(retry, 0.0), 1),
            "last_error": self.last_error,
        }


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat(timespec="seconds")


def _short(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")
