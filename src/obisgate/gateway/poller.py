"""Polling: every device on its schedule, devices sharing a line taking turns.

One task runs per line (``DevicePlan.port_key``): a serial port with its
RS-485 bus, or one converter port. Devices on different lines are read
concurrently; devices on one line one after another, each addressed by its
serial number. A readout that overruns its scan never piles up: the missed
scans are counted and the schedule moves to the next slot in the future.

A failed readout (after its retries) marks that device's signals not topical,
keeps their last values and sets its status signal; other devices are never
touched. A device going down is logged once, and coming back once.

Every poll of a device (opening, retries, readout and programming session) is
bounded by its total deadline (``DevicePlan.total_timeout_s``): a meter that
trickles bytes forever is abandoned, its port released, its status set to
``timeout``, and the next device of the line is polled on time.

A refused password is never sent again: the device's programming-mode reads
stop (status ``access denied``) until the configuration is reloaded or the
gateway restarted, since meters lock after a few wrong passwords. A failed
programming session never throws away the good readout of the same poll.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from obisgate import (
    BccStatus,
    DataSet,
    PasswordScheme,
    Readout,
    Transport,
    open_transport,
    read_dlms_on,
    read_meter_on,
    read_registers_on,
)
from obisgate.errors import AccessDeniedError, ConfigError, ObisgateError, TotalTimeoutError
from obisgate.gateway.identity import meter_serial
from obisgate.gateway.mapping import map_readout
from obisgate.gateway.plan import DevicePlan, DlmsPlan
from obisgate.gateway.quality import Quality
from obisgate.gateway.updates import STATUS_SIGNAL, SignalUpdate

__all__ = [
    "DeviceState",
    "IdleWork",
    "LinePoller",
    "ProgrammingFailed",
    "ReadFunction",
    "failure_updates",
    "password_scheme",
    "read_device",
    "read_on",
    "status_update",
    "success_updates",
]

_LOGGER = logging.getLogger(__name__)

ReadFunction = Callable[[DevicePlan], Awaitable[Readout]]
"""Reads one device (open, exchange(s), release) into one Readout; raises ObisgateError."""

IdleWork = Callable[[float], Awaitable[bool]]
"""Uses at most the given seconds of a line's free time before its next due poll (a
backfill session), or takes a turn of its own on a line too busy for any; returns
whether it used the line. Never raises for a device's sake."""

#: Pause between a standard readout and the programming sign-on of the same poll.
_BETWEEN_SESSIONS_S = 0.2


class ProgrammingFailed(ObisgateError):
    """The programming session of a poll failed after a good readout.

    Attributes:
        readout: the standard readout of the same poll (its values are kept).
        cause: what went wrong in programming mode.
    """

    def __init__(self, readout: Readout, cause: ObisgateError) -> None:
        self.readout = readout
        self.cause = cause
        self.kind = cause.kind
        super().__init__(f"programming mode: {cause}")


async def read_device(plan: DevicePlan) -> Readout:
    """Open the device's line, wait ``poll_delay``, read, wait ``close_delay``, release.

    The standard readout serves the signals taken from it; signals read by
    command are read in one programming session afterwards (signed on and
    off), and their data sets are put first in the returned readout. The
    caller bounds the whole call in time (:class:`LinePoller` applies
    ``plan.total_timeout_s``); cancelling it releases the port.

    Raises:
        ProgrammingFailed: the readout succeeded, the programming session did not.
        ObisgateError: any other failure of the port or the exchanges.
    """
    # The password is read (environment, file) before the line is taken.
    scheme, scheme_error = password_scheme(plan)
    transport = await open_transport(plan.url, plan.line, connect_timeout_s=plan.connect_timeout_s)
    try:
        return await read_on(transport, plan, scheme, scheme_error)
    finally:
        await transport.aclose()


def password_scheme(plan: DevicePlan) -> tuple[PasswordScheme | None, ConfigError | None]:
    """The device's password scheme, read now (environment, file), or why it cannot be.

    Returns:
        ``(scheme, None)``, or ``(None, error)`` when the password cannot be read
        but the poll has a readout to do (it still runs; the failure comes with it).

    Raises:
        ConfigError: the password cannot be read and nothing else is to be read.
    """
    if plan.programming is None:
        return None, None
    try:
        return plan.programming.scheme(), None
    except ConfigError as exc:
        if not plan.needs_readout:
            raise
        return None, exc


async def read_on(
    transport: Transport,
    plan: DevicePlan,
    scheme: PasswordScheme | None = None,
    scheme_error: ConfigError | None = None,
) -> Readout:
    """:func:`read_device` on a transport that is already open (and stays open).

    Raises:
        ProgrammingFailed: the readout succeeded, the programming session did not
            (or ``scheme_error``: its password could not be read).
        ObisgateError: any other failure of the port or the exchanges.
    """
    if plan.poll_delay_s > 0:
        await asyncio.sleep(plan.poll_delay_s)
    if plan.dlms is not None:
        readout = await _read_dlms(transport, plan, plan.dlms)
        await asyncio.sleep(plan.close_delay_s)
        return readout
    readout = Readout((), BccStatus.ABSENT)
    if plan.needs_readout:
        result = await read_meter_on(transport, plan.options, rules=plan.recipes)
        readout = result.readout
    if scheme_error is not None:
        raise ProgrammingFailed(readout, scheme_error)
    if plan.programming is not None:
        if plan.needs_readout:
            await asyncio.sleep(_BETWEEN_SESSIONS_S)
        try:
            readings = await read_registers_on(
                transport,
                plan.command_tags,
                options=plan.programming.options,
                scheme=scheme,
                rules=plan.recipes,
            )
        except ObisgateError as exc:
            if not plan.needs_readout:
                raise
            raise ProgrammingFailed(readout, exc) from exc
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


async def _read_dlms(transport: Transport, plan: DevicePlan, dlms: DlmsPlan) -> Readout:
    """One association with a mode E / direct HDLC meter: every signal's object.

    Raises:
        ConfigError: the LLS password cannot be read.
        ObisgateError: the exchange failed (``AccessDeniedError``: password refused).
    """
    options = dlms.options
    if dlms.password is not None:
        options = replace(options, password=dlms.password())
    result = await read_dlms_on(
        transport,
        options,
        opening=plan.options if dlms.mode_e else None,
        objects=dlms.objects,
    )
    return result.readout


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
    access_denied: bool = False
    programming_failing: bool = False
    recipes: tuple[str, ...] = ()
    total_duration_s: float = 0.0
    last: dict[str, SignalUpdate] = field(default_factory=dict)

    @property
    def blocked(self) -> bool:
        """A refused password is never sent again: nothing is left to poll."""
        if not self.access_denied:
            return False
        dlms = self.plan.dlms
        return (
            dlms is not None and dlms.password is not None
        ) or not self.effective_plan.needs_readout

    @property
    def effective_plan(self) -> DevicePlan:
        """The plan to poll with: without programming mode once a password was refused."""
        if self.access_denied and self.plan.programming is not None:
            return replace(self.plan, programming=None)
        return self.plan


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
        idle: work for the line's free time (the line's backfill): called before each
            poll with the seconds left until it is due (``<= 0``: none), again as long
            as it uses some.
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
        idle: IdleWork | None = None,
    ) -> None:
        self.states = list(states)
        self._publish = publish
        self._read = read
        self._clock = clock
        self._sleep = sleep
        self._now = wall_clock
        self._offsets = start_offsets or {}
        self._idle = idle

    async def run(self, *, max_polls: int | None = None) -> None:
        """Poll until cancelled (or until ``max_polls`` polls, for tests).

        Cancellation abandons the exchange in progress; its port is closed.
        """
        start = self._clock()
        states = self.states
        # Next due time of each state, by position (one small list: lines are many).
        due = [start + self._offsets.get(s.plan.alias, 0.0) for s in states]
        polls = 0
        while states and (max_polls is None or polls < max_polls):
            index = min(range(len(due)), key=due.__getitem__)
            slot = due[index]
            wait = slot - self._clock()
            while self._idle is not None and await self._idle(wait):
                wait = slot - self._clock()
            if wait > 0:
                await self._sleep(wait)
            state = states[index]
            alias = state.plan.alias
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
            due[index] = following

    async def poll(self, state: DeviceState) -> list[SignalUpdate]:
        """Read one device (with retries, within its total deadline) and publish its updates.

        Never raises for the device's sake: a meter error, an overrun deadline,
        and even a bug in handling this one device, becomes that device's
        failure, so the other devices of the line go on being polled.
        """
        plan = state.plan
        began = self._clock()
        error: ObisgateError | None = None
        result: Readout | None = None
        if state.blocked:
            error = AccessDeniedError("password refused earlier: not sent again until reload")
        else:
            try:
                result = await self._within_deadline(state.effective_plan)
            except ProgrammingFailed as exc:
                result, error = exc.readout, exc.cause
            except ObisgateError as exc:
                error = exc
            except Exception as exc:
                error = _internal_error(plan.alias, exc)
        if isinstance(error, AccessDeniedError) and not state.access_denied:
            state.access_denied = True
            _LOGGER.warning(
                "%s: password refused; %s stop until the configuration is reloaded",
                plan.alias,
                "its polls" if plan.dlms is not None else "programming-mode reads",
            )
        state.polls += 1
        state.last_duration_s = self._clock() - began
        state.total_duration_s += state.last_duration_s
        now = self._now()
        updates: list[SignalUpdate] | None = None
        if result is not None:
            try:
                updates = success_updates(state, result, now)
            except Exception as exc:
                error = _internal_error(plan.alias, exc)
                result = None
        if result is None or updates is None:
            assert error is not None
            updates = failure_updates(state, error, now)
        else:
            _log_recipes(state, result)
            _log_programming(state, error)
            if error is not None or state.access_denied:
                state.status = error.kind if error is not None else AccessDeniedError.kind
                updates[-1] = status_update(state, now, updates[-1].raw, updates[-1].serial)
        self._publish(updates)
        return updates

    async def _within_deadline(self, plan: DevicePlan) -> Readout:
        """The attempts of one poll, abandoned when ``plan.total_timeout_s`` passes.

        The deadline runs on the injected ``sleep``, so tests drive it with
        their own clock. Abandoning cancels the read, which releases the port.

        Raises:
            TotalTimeoutError: the deadline passed.
            ObisgateError: the last attempt's failure.
        """
        limit = plan.total_timeout_s
        if limit is None:
            return await self._attempts(plan)
        if self._sleep is asyncio.sleep:
            # Real time: the loop's own deadline, without a task and a timer task per poll.
            deadline = asyncio.timeout(limit)
            try:
                async with deadline:
                    return await self._attempts(plan)
            except TimeoutError:
                if deadline.expired():
                    raise TotalTimeoutError("poll", limit) from None
                raise
        reading = asyncio.ensure_future(self._attempts(plan))
        timer = asyncio.ensure_future(self._sleep(limit))
        try:
            await asyncio.wait((reading, timer), return_when=asyncio.FIRST_COMPLETED)
        finally:
            timer.cancel()
            if not reading.done():
                reading.cancel()
            await asyncio.gather(reading, timer, return_exceptions=True)
        if reading.cancelled():
            raise TotalTimeoutError("poll", limit)
        return reading.result()

    async def _attempts(self, plan: DevicePlan) -> Readout:
        """Read, retrying up to ``plan.retries`` times; returns the first success.

        Raises:
            ObisgateError: the last failure; a configuration error, a refused
                password or a partly failed poll is not retried.
        """
        for _attempt in range(plan.retries):
            try:
                return await self._read(plan)
            except (ConfigError, AccessDeniedError, ProgrammingFailed):
                raise  # retrying cannot help (and a wrong password may lock the meter)
            except ObisgateError:
                continue
        return await self._read(plan)


def _log_recipes(state: DeviceState, readout: Readout) -> None:
    """Log (info) the recipes a device's identification matches, once per change."""
    rules, ident = state.plan.recipes, readout.identification
    names = () if rules is None or ident is None else tuple(r.name for r in rules.matching(ident))
    if names != state.recipes:
        state.recipes = names
        if names:
            _LOGGER.info("%s: recipe %s applied", state.plan.alias, ", ".join(names))


def _log_programming(state: DeviceState, error: ObisgateError | None) -> None:
    """Log a programming-mode failure after a good readout once, and its end once."""
    if error is not None and not state.programming_failing:
        if not isinstance(error, AccessDeniedError):  # that one is logged when it blocks
            _LOGGER.warning("%s: programming mode: %s", state.plan.alias, error)
        state.programming_failing = True
    elif error is None and state.programming_failing and not state.access_denied:
        _LOGGER.info("%s: programming mode works again", state.plan.alias)
        state.programming_failing = False


def success_updates(state: DeviceState, result: Readout, now: datetime) -> list[SignalUpdate]:
    """Record a good readout of ``state``'s device; its updates, status last."""
    if state.up is False:
        _LOGGER.info("%s: answering again", state.plan.alias)
    state.up = True
    state.status = "ok"
    updates = map_readout(state.plan, result, now)
    for update in updates:
        state.last[update.signal] = update
    ident = result.identification
    line = None if ident is None else ident.to_bytes().decode("latin-1").rstrip("\r\n")
    updates.append(status_update(state, now, line, meter_serial(result.datasets)))
    return updates


def failure_updates(state: DeviceState, error: ObisgateError, now: datetime) -> list[SignalUpdate]:
    """Record a failed readout: every signal not topical (last value kept), status last.

    The failure is logged when the device goes down, not again until it is back.
    """
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
    updates.append(status_update(state, now))
    return updates


def status_update(
    state: DeviceState,
    now: datetime,
    identification: str | None = None,
    serial: str | None = None,
) -> SignalUpdate:
    """The device's ``_status`` update; its ``raw`` is the meter's identification line
    when it sent one (MQTT discovery names manufacturer and model from it), its
    ``serial`` the serial number the readout carries (discovery keys the meter on it)."""
    return SignalUpdate(
        state.plan.alias,
        STATUS_SIGNAL,
        state.status,
        None,
        now,
        Quality.VALID,
        identification,
        serial=serial,
    )
