"""Polling: every device on its schedule, devices sharing a line taking turns.

One task runs per line (``DevicePlan.port_key``): a serial port with its
RS-485 bus, or one converter port. Devices on different lines are read
concurrently; devices on one line one after another, each addressed by its
serial number. A readout that overruns its scan never piles up: the missed
scans are counted and the schedule moves to the next slot in the future.

A failed readout (after its retries) marks that device's signals not topical,
keeps their last values and sets its status signal; other devices are never
touched. A device going down is logged once, and coming back once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from obisgate.errors import AccessDeniedError, ConfigError, ObisgateError
from obisgate.gateway.mapping import map_readout
from obisgate.gateway.plan import DevicePlan
from obisgate.gateway.quality import Quality
from obisgate.gateway.updates import STATUS_SIGNAL, SignalUpdate
from obisgate.programming import read_registers_on
from obisgate.protocol.dataset import DataSet
from obisgate.protocol.passwords import PasswordScheme
from obisgate.protocol.readout import BccStatus, Readout
from obisgate.session import read_meter_on
from obisgate.transport.base import Transport
from obisgate.transport.url import open_transport

__all__ = ["DeviceState", "LinePoller", "ReadFunction", "read_device", "read_on"]

_LOGGER = logging.getLogger(__name__)

ReadFunction = Callable[[DevicePlan], Awaitable[Readout]]
"""Reads one device (open, exchange(s), release) into one Readout; raises ObisgateError."""

#: Pause between a standard readout and the programming sign-on of the same poll.
_BETWEEN_SESSIONS_S = 0.2


async def read_device(plan: DevicePlan) -> Readout:
    """Open the device's line, wait ``poll_delay``, read, wait ``close_delay``, release.

    The standard readout serves the signals taken from it; signals read by
    command are read in one programming session afterwards (signed on and
    off), and their data sets are put first in the returned readout.

    Raises:
        ObisgateError: any failure of the port or the exchanges.
    """
    # The password is read (environment, file) before the line is taken.
    scheme = plan.programming.scheme() if plan.programming is not None else None
    transport = await open_transport(plan.url, plan.line, connect_timeout_s=plan.connect_timeout_s)
    try:
        return await read_on(transport, plan, scheme)
    finally:
        await transport.aclose()


async def read_on(
    transport: Transport, plan: DevicePlan, scheme: PasswordScheme | None = None
) -> Readout:
    """:func:`read_device` on a transport that is already open (and stays open).

    Raises:
        ObisgateError: any failure of the port or the exchanges.
    """
    await asyncio.sleep(plan.poll_delay_s)
    readout = Readout((), BccStatus.ABSENT)
    if plan.needs_readout:
        result = await read_meter_on(transport, plan.options, total_timeout_s=plan.total_timeout_s)
        readout = result.readout
    if plan.programming is not None:
        if plan.needs_readout:
            await asyncio.sleep(_BETWEEN_SESSIONS_S)
        readings = await read_registers_on(
            transport,
            plan.command_tags,
            options=plan.programming.options,
            scheme=scheme,
            total_timeout_s=plan.total_timeout_s,
        )
        answered: list[DataSet] = []
        for tag, reading in readings.items():
            if reading.error is not None:
                _LOGGER.info("%s: %s", plan.alias, reading.error)
            elif (dataset := reading.dataset) is not None:
                answered.append(DataSet(tag, dataset.values))
        readout = Readout(
            (*answered, *readout.datasets),
            readout.bcc,
            readout.identification,
            readout.unparsed,
        )
    await asyncio.sleep(plan.close_delay_s)
    return readout


@dataclass(slots=True)
class DeviceState:
    """What the gateway knows about one device between polls."""

    plan: DevicePlan
    up: bool | None = None
    status: str = "not polled yet"
    polls: int = 0
    failures: int = 0
    missed_scans: int = 0
    last_duration_s: float = 0.0
    last: dict[str, SignalUpdate] = field(default_factory=dict)


Publish = Callable[[Sequence[SignalUpdate]], None]


class InternalError(ObisgateError):
    """Handling one device failed for a reason that is not the meter's (a bug)."""

    kind = "internal error"


def _internal_error(alias: str, exc: Exception) -> InternalError:
    # The type only: a message could carry anything (e.g. a password plug-in's text).
    _LOGGER.error("%s: internal error while polling (%s)", alias, type(exc).__name__)
    return InternalError(f"internal error ({type(exc).__name__})")


class LinePoller:
    """Polls the devices of one line, in turn, each on its own schedule.

    Args:
        states: the devices on this line.
        publish: receives the updates of every poll (must not block).
        read: performs one readout (default: :func:`read_device`).
        clock: monotonic seconds (injectable for tests).
        sleep: waits (injectable for tests, paired with ``clock``).
        wall_clock: UTC now, for time stamps.
        start_offsets: seconds after start of each device's first poll, to
            spread load (default: all at once).
    """

    def __init__(
        self,
        states: Sequence[DeviceState],
        publish: Publish,
        *,
        read: ReadFunction = read_device,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        start_offsets: dict[str, float] | None = None,
    ) -> None:
        self.states = list(states)
        self._publish = publish
        self._read = read
        self._clock = clock
        self._sleep = sleep
        self._now = wall_clock
        self._offsets = start_offsets or {}

    async def run(self, *, max_polls: int | None = None) -> None:
        """Poll until cancelled (or until ``max_polls`` polls, for tests).

        Cancellation abandons the exchange in progress; its port is closed.
        """
        start = self._clock()
        due = {s.plan.alias: start + self._offsets.get(s.plan.alias, 0.0) for s in self.states}
        by_alias = {s.plan.alias: s for s in self.states}
        polls = 0
        while self.states and (max_polls is None or polls < max_polls):
            alias = min(due, key=due.__getitem__)
            slot = due[alias]
            wait = slot - self._clock()
            if wait > 0:
                await self._sleep(wait)
            state = by_alias[alias]
            await self.poll(state)
            polls += 1
            scan = state.plan.scan_rate_s
            following = slot + scan
            now = self._clock()
            if now > following:
                missed = int((now - following) // scan) + 1
                state.missed_scans += missed
                following += missed * scan
                _LOGGER.debug("%s: readout overran its scan, %d scan(s) missed", alias, missed)
            due[alias] = following

    async def poll(self, state: DeviceState) -> list[SignalUpdate]:
        """Read one device (with retries) and publish its updates.

        Never raises for the device's sake: a meter error, and even a bug in
        handling this one device, becomes that device's failure, so the other
        devices of the line go on being polled.
        """
        plan = state.plan
        began = self._clock()
        error: ObisgateError | None = None
        result: Readout | None = None
        for _attempt in range(1 + plan.retries):
            try:
                result = await self._read(plan)
                break
            except (ConfigError, AccessDeniedError) as exc:
                error = exc  # retrying cannot help (and a wrong password may lock the meter)
                break
            except ObisgateError as exc:
                error = exc
            except Exception as exc:
                error = _internal_error(plan.alias, exc)
                break
        state.polls += 1
        state.last_duration_s = self._clock() - began
        now = self._now()
        updates: list[SignalUpdate] | None = None
        if result is not None:
            try:
                updates = self._succeeded(state, result, now)
            except Exception as exc:
                error = _internal_error(plan.alias, exc)
        if updates is None:
            assert error is not None
            updates = self._failed(state, error, now)
        self._publish(updates)
        return updates

    def _succeeded(self, state: DeviceState, result: Readout, now: datetime) -> list[SignalUpdate]:
        if state.up is False:
            _LOGGER.info("%s: answering again", state.plan.alias)
        state.up = True
        state.status = "ok"
        updates = map_readout(state.plan, result, now)
        for update in updates:
            state.last[update.signal] = update
        ident = result.identification
        line = None if ident is None else ident.to_bytes().decode("latin-1").rstrip("\r\n")
        updates.append(self._status(state, now, line))
        return updates

    def _failed(
        self, state: DeviceState, error: ObisgateError, now: datetime
    ) -> list[SignalUpdate]:
        state.failures += 1
        if state.up is not False:
            _LOGGER.warning("%s: %s", state.plan.alias, error)
        state.up = False
        state.status = error.kind
        updates: list[SignalUpdate] = []
        for signal in state.plan.signals:
            last = state.last.get(signal.alias)
            if last is None:
                update = SignalUpdate(
                    state.plan.alias,
                    signal.alias,
                    None,
                    signal.unit,
                    now,
                    Quality.NOT_TOPICAL,
                    None,
                    signal.log,
                )
            else:
                # The last value, flagged; not logged again (the history has it).
                update = replace(last, quality=last.quality | Quality.NOT_TOPICAL, log=False)
            state.last[signal.alias] = update
            updates.append(update)
        updates.append(self._status(state, now))
        return updates

    @staticmethod
    def _status(
        state: DeviceState, now: datetime, identification: str | None = None
    ) -> SignalUpdate:
        """The status update; its ``raw`` is the meter's identification line when it sent one."""
        return SignalUpdate(
            state.plan.alias, STATUS_SIGNAL, state.status, None, now, Quality.VALID, identification
        )
