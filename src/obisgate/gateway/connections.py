"""Converter connections kept open between polls (device field ``keep_open``).

Connecting and closing a TCP connection for every readout costs about a third of
the gateway's CPU per readout (profiled) and, on real converters, a connection set-up
per poll. With ``keep_open`` a successful poll leaves its connection open in the
line's slot (one per ``port_key``), and the next poll of that line takes it. Only
one task polls a line, so a slot is never used concurrently.

A kept connection may have been closed by the converter meanwhile (idle timeout,
restart): when a poll on a reused connection fails with a transport error, the
connection is replaced by a new one and the poll is made once more, so a stale
connection never costs a failed poll. A failed poll never keeps its connection
(the meter may be mid-message). A device without ``keep_open`` closes a connection
its line still keeps before it opens its own.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from typing import TypeVar

from obisgate import Readout, Transport, open_transport
from obisgate.errors import TransportError
from obisgate.gateway.plan import DevicePlan
from obisgate.gateway.poller import password_scheme, read_on

__all__ = ["KeptConnections"]

T = TypeVar("T")


class KeptConnections:
    """One open transport per line at most; :meth:`read` is a :data:`ReadFunction`."""

    def __init__(self) -> None:
        self._open: dict[str, Transport] = {}
        self.opened = 0
        """Connections opened so far (for tests and statistics)."""

    async def _open_new(self, plan: DevicePlan) -> Transport:
        transport = await open_transport(
            plan.url, plan.line, connect_timeout_s=plan.connect_timeout_s
        )
        self.opened += 1
        return transport

    async def read(self, plan: DevicePlan) -> Readout:
        """Read ``plan``'s device, on its line's kept connection when there is one.

        Raises:
            ObisgateError: any failure of the port or the exchanges (the connection
                is then closed).
        """
        scheme, scheme_error = password_scheme(plan)
        return await self.run(
            plan, lambda transport: read_on(transport, plan, scheme, scheme_error)
        )

    async def run(self, plan: DevicePlan, body: Callable[[Transport], Awaitable[T]]) -> T:
        """Run ``body`` (a poll, or a backfill's profile session) on ``plan``'s line: on its
        kept connection when there is one (a stale one is replaced and ``body`` run once
        more), else on a new one, kept afterwards when the device has ``keep_open``.

        Raises:
            ObisgateError: what ``body`` or opening the line raised (the connection
                is then closed).
        """
        kept = self._open.pop(plan.port_key, None)
        if kept is not None and not plan.keep_open:
            await _close(kept)
            kept = None
        transport = kept or await self._open_new(plan)
        try:
            try:
                result = await body(transport)
            except TransportError:
                if kept is None:
                    raise
                await _close(transport)  # stale: the converter closed it meanwhile
                transport = await self._open_new(plan)
                result = await body(transport)
        except BaseException:
            await _close(transport)
            raise
        if plan.keep_open:
            self._open[plan.port_key] = transport
        else:
            await _close(transport)
        return result

    async def aclose(self) -> None:
        """Close every kept connection."""
        kept, self._open = list(self._open.values()), {}
        for transport in kept:
            await _close(transport)


async def _close(transport: Transport) -> None:
    with contextlib.suppress(Exception):
        await transport.aclose()
