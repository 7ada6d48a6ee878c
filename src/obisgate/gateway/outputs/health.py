"""How an output is doing, in one typed shape for every output: :class:`OutputHealth`.

Every :class:`~obisgate.gateway.outputs.base.Output` returns one from
``health()``; the HTTP output shows them all alike in ``/api/gateway``,
``/metrics`` and the web view. An output keeps its state in a
:class:`HealthRecord`, which remembers since when the state holds.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any

__all__ = ["HealthRecord", "OutputHealth", "OutputState", "utc_now"]


class OutputState(StrEnum):
    """Where an output stands; only :attr:`RUNNING` counts as up."""

    #: Built, not started yet.
    STARTING = "starting"
    #: Trying to reach its peer for the first time (MQTT broker).
    CONNECTING = "connecting"
    #: Doing its work: serving, connected, writing.
    RUNNING = "running"
    #: Lost its peer and retrying; what it takes meanwhile waits (MQTT outbox).
    DISCONNECTED = "disconnected"
    #: Running, but its work fails (a disk that refuses writes); see the last error.
    FAILING = "failing"
    #: Off for the rest of the run: it could not start, or its destination went away for
    #: good (stdout closed); see the last error. Polling goes on.
    OFF = "off"
    #: Closed at shutdown.
    CLOSED = "closed"
    #: Its health could not be asked (a bug); see the last error.
    UNKNOWN = "unknown"


_NO_COUNTERS: Mapping[str, int | float] = MappingProxyType({})


def utc_now() -> dt.datetime:
    """The current time, in UTC."""
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True, slots=True, kw_only=True)
class OutputHealth:
    """One output's state, as the API, the metrics and the web view show it.

    Attributes:
        state: where the output stands.
        since: when it entered ``state`` (UTC).
        last_error: the latest problem in one line, or ``None``; never a secret.
        address: where it listens (``HOST:PORT``) or what it connects to (a
            broker URL without credentials), if anything.
        counters: numbers about its work, by name; a name ending in ``_total``
            only grows (a Prometheus counter), any other is a level (a gauge).
    """

    state: OutputState
    since: dt.datetime
    last_error: str | None = None
    address: str | None = None
    counters: Mapping[str, int | float] = field(default_factory=lambda: _NO_COUNTERS)

    @property
    def up(self) -> bool:
        """True when the output is :attr:`OutputState.RUNNING`."""
        return self.state is OutputState.RUNNING

    def to_json(self) -> dict[str, Any]:
        """The JSON object of ``/api/gateway`` (``since`` in ISO 8601)."""
        return {
            "state": self.state.value,
            "since": self.since.isoformat(),
            "last_error": self.last_error,
            "address": self.address,
            "counters": dict(self.counters),
        }


class HealthRecord:
    """An output's current state, since when it holds, and its last error.

    Args:
        state: the state to begin with.
        clock: gives the current time (injected by tests).
    """

    def __init__(
        self,
        state: OutputState = OutputState.STARTING,
        *,
        clock: Callable[[], dt.datetime] = utc_now,
    ) -> None:
        self._clock = clock
        self.state = state
        self.since = clock()
        self.last_error: str | None = None

    def set(self, state: OutputState, error: str | None = None) -> None:
        """Enter ``state`` (``since`` moves only when the state changes); ``error``,
        when given, becomes the last error."""
        if state is not self.state:
            self.state = state
            self.since = self._clock()
        if error is not None:
            self.last_error = error

    def health(
        self, *, address: str | None = None, counters: Mapping[str, int | float] | None = None
    ) -> OutputHealth:
        """The :class:`OutputHealth` of this record with the output's own numbers."""
        return OutputHealth(
            state=self.state,
            since=self.since,
            last_error=self.last_error,
            address=address,
            counters=_NO_COUNTERS if counters is None else counters,
        )
