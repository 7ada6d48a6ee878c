"""Push meters (mode D): the port stays open, each telegram is one readout.

Most German household meters (eHZ, EasyMeter) send a telegram every few
seconds without being asked. For a device with ``type = "D"`` the gateway
keeps its port open and listens:

- each complete telegram (identification line to ``!`` CR LF, or to ETX BCC
  when framed) is one readout of that device's signals; the stream is cut into
  telegrams by :class:`~obisgate.protocol.telegrams.TelegramSplitter` (sans-IO,
  re-exported here), which skips the bytes before the first identification (a
  telegram whose start was cut, e.g. when the port opened in its middle);
- ``scan_rate_s`` limits how often updates are published; when telegrams come
  faster, the latest one wins;
- when no complete telegram arrives for ``options.response_timeout_s``
  (``timeout_ms``), the device's signals turn not topical, status
  ``no answer``; a closed connection is reopened after ``scan_rate_s``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from obisgate import (
    NoAnswerError,
    ObisgateError,
    Readout,
    TelegramSplitter,
    Transport,
    open_transport,
    parse_readout,
)
from obisgate.gateway.plan import DevicePlan
from obisgate.gateway.poller import DeviceState, Publish, failure_updates, success_updates

__all__ = ["PushListener", "TelegramSplitter"]

_LOGGER = logging.getLogger(__name__)

Opener = Callable[[DevicePlan], Awaitable[Transport]]


async def _open(plan: DevicePlan) -> Transport:
    return await open_transport(plan.url, plan.line, connect_timeout_s=plan.connect_timeout_s)


class PushListener:
    """Listens to one mode D device until cancelled.

    Args:
        state: the device.
        publish: receives the updates of each published telegram or failure.
        open_port: opens the device's port (default: its URL).
        clock: monotonic seconds, for the publishing rate.
        wall_clock: UTC now, for time stamps.
    """

    def __init__(
        self,
        state: DeviceState,
        publish: Publish,
        *,
        open_port: Opener = _open,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.state = state
        self._publish = publish
        self._open = open_port
        self._clock = clock
        self._now = wall_clock
        self._next_publish = float("-inf")
        self._pending: Readout | None = None

    async def run(self) -> None:
        """Open, listen, and reopen after a failure, until cancelled."""
        plan = self.state.plan
        while True:
            try:
                transport = await self._open(plan)
                async with transport:
                    await self._listen(transport)
            except ObisgateError as exc:
                self._fail(exc)
            await asyncio.sleep(plan.scan_rate_s)

    async def _listen(self, transport: Transport) -> None:
        """Read telegrams until the line fails; silence turns the signals not topical.

        Raises:
            ConnectionLostError, TransportError: the line failed.
        """
        plan = self.state.plan
        silence_s = plan.options.response_timeout_s
        splitter = TelegramSplitter()
        last_telegram = self._clock()
        while True:
            now = self._clock()
            wait = last_telegram + silence_s - now
            if self._pending is not None:
                wait = min(wait, self._next_publish - now)
            if wait <= 0 and self._pending is not None and now >= self._next_publish:
                self._flush()
                continue
            if wait <= 0:
                # Silent too long: not topical, but the port stays open for the next push.
                self._fail(NoAnswerError("push telegram", silence_s))
                last_telegram = self._clock()
                continue
            try:
                async with asyncio.timeout(wait):
                    data = await transport.read()
            except TimeoutError:
                continue
            for telegram in splitter.feed(data):
                readout = self._parse(telegram)
                if readout is not None:
                    last_telegram = self._clock()
                    self._pending = readout
            if self._pending is not None and self._clock() >= self._next_publish:
                self._flush()

    def _parse(self, telegram: bytes) -> Readout | None:
        options = self.state.plan.options
        try:
            return parse_readout(
                telegram, bcc_method=options.bcc_method, verify_bcc=options.verify_bcc
            )
        except ObisgateError as exc:
            _LOGGER.info("%s: telegram skipped: %s", self.state.plan.alias, exc)
            return None

    def _flush(self) -> None:
        readout, self._pending = self._pending, None
        assert readout is not None
        self._next_publish = self._clock() + self.state.plan.scan_rate_s
        self.state.polls += 1
        self._publish(success_updates(self.state, readout, self._now()))

    def _fail(self, error: ObisgateError) -> None:
        self._pending = None
        self.state.polls += 1
        self._publish(failure_updates(self.state, error, self._now()))
