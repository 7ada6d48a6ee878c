"""A base for test outputs: every method of the :class:`Output` contract, doing nothing."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from obisgate.gateway.outputs.base import Output, publish_each
from obisgate.gateway.outputs.health import OutputHealth, OutputState
from obisgate.gateway.updates import SignalUpdate

_SINCE = datetime(2026, 12, 1, tzinfo=UTC)


class StubOutput(Output):
    """Starts and closes at once, drops what it is given, is always running.

    Test outputs override what they record (usually :meth:`publish`).
    """

    name = "stub"

    async def start(self) -> None:
        pass

    async def publish(self, updates: Sequence[SignalUpdate]) -> None:
        pass

    async def publish_many(self, batches: Sequence[Sequence[SignalUpdate]]) -> None:
        await publish_each(self, batches)

    async def aclose(self) -> None:
        pass

    def health(self) -> OutputHealth:
        return OutputHealth(state=OutputState.RUNNING, since=_SINCE)
