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
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Literal, TypeVar

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
from obisgate.gateway.readplan import (
    DevicePlanner,
    ReadKind,
    ReadSize,
    record_size,
)
from obisgate.gateway.readstats import ReadStats
from obisgate.gateway.schedule import DeviceSchedule
from obisgate.gateway.throttle import SessionLimiter
from obisgate.gateway.updates import STATUS_SIGNAL, SignalUpdate, signal_update

__all__ = [
    "DeviceState",
    "IdleWork",
    "LinePoller",
    "ProgrammingFailed",
    "ReadFunction",
    "ReadRequest",
    "ReadRequestError",
    "failure_updates",
    "password_scheme",
    "read_device",
    "read_on",
    "status_update",
    "success_updates",
]

_LOGGER = logging.getLogger(__name__)

T = TypeVar("T")
_NO_LIMITERS: Mapping[str, SessionLimiter] = MappingProxyType({})

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
        if plan.close_delay_s > 0:
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
    if plan.close_delay_s > 0:
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
    """What the gateway knows about one device between polls.

    Attributes:
        reads: its read-success figures (scheduled reads, lateness, priority reads).
        size: what its last readout looked like on the wire (for the read plan).
        planner: its read plan per set of due signals (``None`` until first needed,
            ``False`` for a device read the one way).
    """

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
    reads: ReadStats = field(default_factory=ReadStats)
    size: ReadSize | None = None
    planner: DevicePlanner | Literal[False] | None = None

    def read_for(self, groups: int | None = None) -> tuple[DevicePlan | None, ReadKind]:
        """The plan to read the rate groups ``groups`` with (``None``: all), and its kind.

        A device read the one way (no own scan rates, lists or register reads) gets its
        own plan (:attr:`effective_plan`); otherwise the read plan's cheapest choice
        (``None`` when nothing can read what is due: only signals read by command, and
        the password was refused).
        """
        plan = self.plan
        planner = self.planner
        if planner is None:
            if not plan.planned:  # read the one way: decided once
                kind = ReadKind.ASSOCIATION if plan.dlms is not None else ReadKind.READOUT
                self.planner = False
                return self.effective_plan, kind
            planner = self.planner = DevicePlanner(plan)
        elif planner is False:
            kind = ReadKind.ASSOCIATION if plan.dlms is not None else ReadKind.READOUT
            return self.effective_plan, kind
        if groups is None:
            groups = (1 << len(plan.rate_periods)) - 1
        chosen = planner.choice(groups, self.size, self.access_denied)
        if chosen is None:
            return None, ReadKind.REGISTERS
        return chosen.plan, chosen.kind

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


class ReadRequestError(ObisgateError):
    """A priority read cannot be queued.

    Attributes:
        reason: ``unknown`` (no such device here), ``push`` (a push meter cannot be
            asked) or ``stopped`` (the gateway is not polling).
    """

    kind = "read request refused"

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(eq=False, slots=True)
class ReadRequest:
    """Work waiting in its line's queue: a priority read, or a job of another stage.

    Attributes:
        state: the device concerned (its throttle group's session is held meanwhile).
        future: gets the updates published for the read, or the job's result (its
            exception when it raised); cancelled when the line stops first.
        job: the job to run (``None``: a priority read of ``state``).
    """

    state: DeviceState
    future: asyncio.Future[Any]
    job: Callable[[], Awaitable[Any]] | None = None


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


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
            spread load (default: all at once); a sequence gives each of the
            device's rate groups its own first slot
            (:func:`obisgate.gateway.schedule.first_slots`).
        limiters: the throttle groups' session limiters by name; a device of a
            group takes a session before each poll.
        totals: read-success figures to add every scheduled poll to besides the
            device's own (its group's, the shard's).
        sizes: equal readout size records, one object each (shared by all lines).
        idle: work for the line's free time (the line's backfill): called before each
            poll with the seconds left until it is due (``<= 0``: none), again as long
            as it uses some (priority work queued meanwhile goes first).

    Priority reads (:meth:`request`) go to the head of the line's queue: the poll in
    progress finishes, then the requested device is read (every signal), before any
    scheduled poll; a wait for the next slot is cut short for it. Other stages queue
    their own work on the line with :meth:`submit`: a job runs between polls, never
    during one, holding the device's throttle-group session, either at the head of the
    queue or in the line's idle time (before ``idle``).
    """

    # One poller per line, and lines are many: no instance dictionary.
    __slots__ = (
        "_background",
        "_clock",
        "_idle",
        "_limiters",
        "_now",
        "_offsets",
        "_publish",
        "_read",
        "_requests",
        "_sizes",
        "_sleep",
        "_totals",
        "_wake",
        "started",
        "states",
    )

    def __init__(
        self,
        states: Sequence[DeviceState],
        publish: Publish,
        *,
        read: ReadFunction = read_device,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        start_offsets: Mapping[str, float | Sequence[float]] | None = None,
        limiters: Mapping[str, SessionLimiter] | None = None,
        totals: Callable[[DeviceState], Sequence[ReadStats]] | None = None,
        sizes: dict[ReadSize, ReadSize] | None = None,
        idle: IdleWork | None = None,
    ) -> None:
        self.states = list(states)
        self._publish = publish
        self._read = read
        self._clock = clock
        self._sleep = sleep
        self._now = wall_clock
        self._offsets = start_offsets or {}
        self._limiters: Mapping[str, SessionLimiter] = limiters or _NO_LIMITERS
        self._totals = totals
        self._sizes = sizes if sizes is not None else {}
        # Created on first use: an empty deque is ~600 bytes, and lines are many.
        self._requests: deque[ReadRequest] | None = None
        self._background: deque[ReadRequest] | None = None
        self._wake: asyncio.Future[None] | None = None
        self._idle = idle
        self.started = False
        """Whether :meth:`run` began (a line is set up only when its first poll is due)."""

    def request(self, state: DeviceState) -> asyncio.Future[list[SignalUpdate]]:
        """Put a read of ``state``'s device at the head of the queue.

        A read of the same device already waiting is joined, not queued twice.

        Returns:
            A future with the updates published for that read.
        """
        requests = self._requests
        if requests is None:
            requests = self._requests = deque()
        for waiting in requests:
            if waiting.state is state and waiting.job is None and not waiting.future.done():
                return waiting.future
        future: asyncio.Future[list[SignalUpdate]] = asyncio.get_running_loop().create_future()
        requests.append(ReadRequest(state, future))
        self._wake_up()
        return future

    def submit(
        self,
        state: DeviceState,
        job: Callable[[], Awaitable[T]],
        *,
        background: bool = False,
    ) -> asyncio.Future[T]:
        """Run ``job`` on this line between polls, holding ``state``'s group session.

        The job may use the line (open the device's transport, read a profile): no poll
        of the line runs meanwhile. It is bounded by nothing but itself: keep it short,
        or give it its own deadline.

        Args:
            state: the device the job is for (its throttle group counts the job as a
                session).
            job: the work; its result (or exception) is the future's.
            background: ``False``: at the head of the queue, like a priority read;
                ``True``: when the line is idle, i.e. no priority work waits and the next
                scheduled poll is not due yet (a long job may make it late).

        Returns:
            A future with the job's result; cancelled if the line stops first.
        """
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        if background:
            if self._background is None:
                self._background = deque()
            self._background.append(ReadRequest(state, future, job))
        else:
            if self._requests is None:
                self._requests = deque()
            self._requests.append(ReadRequest(state, future, job))
        self._wake_up()
        return future

    def _wake_up(self) -> None:
        if self._wake is not None:
            _wake(self._wake)

    @property
    def waiting_requests(self) -> int:
        """Priority reads and jobs queued and not started yet."""
        return len(self._requests or ()) + len(self._background or ())

    async def run(self, *, max_polls: int | None = None) -> None:
        """Poll until cancelled (or until ``max_polls`` scheduled polls, for tests).

        Cancellation abandons the exchange in progress; its port is closed, and
        priority reads still queued are cancelled.
        """
        self.started = True
        start = self._clock()
        states = self.states
        schedules = [self._schedule(s, start) for s in states]
        # Next due time of each state, by position (one small list: lines are many).
        due = [schedule.next_due for schedule in schedules]
        polls = 0
        try:
            while states and (max_polls is None or polls < max_polls):
                if self._requests:
                    await self._priority(self._requests.popleft())
                    continue
                index = min(range(len(due)), key=due.__getitem__)
                slot = due[index]
                wait = slot - self._clock()
                if wait > 0 and self._background:
                    await self._priority(self._background.popleft(), head=False)
                    continue
                if self._idle is not None and await self._idle(wait):
                    continue  # it used the line's time: look again (priority work first)
                if wait > 0:
                    await self._wait(wait)
                    if self._requests or self._background:
                        continue  # woken for queued work: the slot is still ahead
                state = states[index]
                schedule = schedules[index]
                groups = schedule.due_groups(slot)
                plan, kind = state.read_for(groups)
                limiter = self._limiters.get(state.plan.group or "") if state.plan.group else None
                if limiter is not None and not limiter.try_acquire():
                    asked = self._clock()
                    await limiter.acquire()
                    limiter.waited(self._clock() - asked)
                try:
                    late = self._clock() - slot
                    await self.poll(state, plan, kind)
                finally:
                    if limiter is not None:
                        limiter.release()
                polls += 1
                self._record(state, state.status == "ok", late)
                missed = schedule.advance(groups, self._clock())
                if missed:
                    state.missed_scans += missed
                    state.reads.record_missed(missed)
                    if self._totals is not None:
                        for total in self._totals(state):
                            total.record_missed(missed)
                    _LOGGER.debug(
                        "%s: readout overran its scan, %d scan(s) missed", state.plan.alias, missed
                    )
                due[index] = schedule.next_due
        finally:
            for queue in (self._requests, self._background):
                while queue:
                    queue.popleft().future.cancel()

    def _schedule(self, state: DeviceState, start: float) -> DeviceSchedule:
        periods = state.plan.rate_periods
        offset = self._offsets.get(state.plan.alias, 0.0)
        if isinstance(offset, int | float):
            first = [start + offset] * len(periods)
        else:
            first = [start + o for o in offset]
        return DeviceSchedule(periods, first)

    def _record(self, state: DeviceState, ok: bool, late: float) -> None:
        state.reads.record(ok, late)
        if self._totals is not None:
            for total in self._totals(state):
                total.record(ok, late)

    async def _wait(self, seconds: float) -> None:
        """Wait ``seconds``, or less when a priority read is queued meanwhile."""
        loop = asyncio.get_running_loop()
        wake: asyncio.Future[None] = loop.create_future()
        self._wake = wake
        try:
            if self._sleep is asyncio.sleep:
                # Real time: one timer on the loop, as asyncio.sleep itself makes.
                handle = loop.call_later(seconds, _wake, wake)
                try:
                    await wake
                finally:
                    handle.cancel()
                return
            sleeper = asyncio.ensure_future(self._sleep(seconds))
            try:
                await asyncio.wait((sleeper, wake), return_when=asyncio.FIRST_COMPLETED)
            finally:
                if not sleeper.done():
                    sleeper.cancel()
                await asyncio.gather(sleeper, return_exceptions=True)
        finally:
            self._wake = None
            wake.cancel()

    async def _priority(self, request: ReadRequest, *, head: bool = True) -> None:
        """Serve queued work: read every signal of the requested device now, or run a
        job; the device's group limit still holds (``head``: at the head of its queue)."""
        state = request.state
        limiter = self._limiters.get(state.plan.group or "") if state.plan.group else None
        result: Any = None
        failure: Exception | None = None
        try:
            if limiter is not None and not limiter.try_acquire():
                asked = self._clock()
                await limiter.acquire(priority=head)
                limiter.waited(self._clock() - asked)
            try:
                if request.job is None:
                    plan, kind = state.read_for(None)
                    result = await self.poll(state, plan, kind)
                else:
                    try:
                        result = await request.job()
                    except Exception as exc:  # the job's own failure: its future's
                        failure = exc
            finally:
                if limiter is not None:
                    limiter.release()
        except BaseException:
            request.future.cancel()
            raise
        if request.job is None:
            state.reads.priority += 1
            if self._totals is not None:
                for total in self._totals(state):
                    total.priority += 1
        if request.future.done():
            return
        if failure is not None:
            request.future.set_exception(failure)
        else:
            request.future.set_result(result)

    async def poll(
        self,
        state: DeviceState,
        plan: DevicePlan | None = None,
        kind: ReadKind = ReadKind.READOUT,
    ) -> list[SignalUpdate]:
        """Read one device (with retries, within its total deadline) and publish its updates.

        Args:
            state: the device.
            plan: what to read (a read plan's choice); default: every signal, the
                device's own way (:meth:`DeviceState.read_for`).
            kind: what ``plan`` sends (a readout, a list or register reads); a good
                readout or list updates the device's size record.

        Never raises for the device's sake: a meter error, an overrun deadline,
        and even a bug in handling this one device, becomes that device's
        failure, so the other devices of the line go on being polled.
        """
        if plan is None:
            plan, kind = state.read_for(None)
        alias = state.plan.alias
        began = self._clock()
        error: ObisgateError | None = None
        result: Readout | None = None
        if state.blocked or plan is None:
            error = AccessDeniedError("password refused earlier: not sent again until reload")
        else:
            try:
                result = await self._within_deadline(plan)
            except ProgrammingFailed as exc:
                result, error = exc.readout, exc.cause
            except ObisgateError as exc:
                error = exc
            except Exception as exc:
                error = _internal_error(alias, exc)
        if isinstance(error, AccessDeniedError) and not state.access_denied:
            state.access_denied = True
            _LOGGER.warning(
                "%s: password refused; %s stop until the configuration is reloaded",
                alias,
                "its polls" if state.plan.dlms is not None else "programming-mode reads",
            )
        state.polls += 1
        state.last_duration_s = self._clock() - began
        state.total_duration_s += state.last_duration_s
        now = self._now()
        updates: list[SignalUpdate] | None = None
        mapped = state.plan if plan is None else plan
        if result is not None:
            try:
                updates = success_updates(state, result, now, mapped)
            except Exception as exc:
                error = _internal_error(alias, exc)
                result = None
        if result is None or updates is None:
            assert error is not None
            updates = failure_updates(state, error, now, mapped)
        else:
            _log_recipes(state, result)
            _log_programming(state, error)
            if error is not None or state.access_denied:
                state.status = error.kind if error is not None else AccessDeniedError.kind
                updates[-1] = status_update(state, now, updates[-1].raw, updates[-1].serial)
            if kind is ReadKind.READOUT or kind is ReadKind.LIST:
                self._learn_size(state, result, mapped, kind)
        self._publish(updates)
        return updates

    def _learn_size(
        self, state: DeviceState, result: Readout, plan: DevicePlan, kind: ReadKind
    ) -> None:
        """Keep what the readout (or list) looked like on the wire, for the read plan."""
        if result.bcc is BccStatus.ABSENT and not result.datasets:
            return  # nothing came (a programming-only poll)
        size = record_size(state.size, result, plan.options, kind)
        if size is not state.size and size is not None:
            state.size = self._sizes.setdefault(size, size)

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


def success_updates(
    state: DeviceState, result: Readout, now: datetime, plan: DevicePlan | None = None
) -> list[SignalUpdate]:
    """Record a good readout of ``state``'s device; its updates, status last.

    ``plan``: what was read (its signals get updates; default: the device's plan).
    """
    if state.up is False:
        _LOGGER.info("%s: answering again", state.plan.alias)
    state.up = True
    state.status = "ok"
    updates = map_readout(state.plan if plan is None else plan, result, now)
    for update in updates:
        state.last[update.signal] = update
    ident = result.identification
    line = None if ident is None else ident.to_bytes().decode("latin-1").rstrip("\r\n")
    updates.append(status_update(state, now, line, meter_serial(result.datasets)))
    return updates


def failure_updates(
    state: DeviceState, error: ObisgateError, now: datetime, plan: DevicePlan | None = None
) -> list[SignalUpdate]:
    """Record a failed readout: every signal not topical (last value kept), status last.

    ``plan``: what was to be read (only its signals turn not topical; default: the
    device's plan). The failure is logged when the device goes down, not again until
    it is back.
    """
    state.failures += 1
    if state.up is not False:
        _LOGGER.warning("%s: %s", state.plan.alias, error)
    state.up = False
    state.status = error.kind
    updates: list[SignalUpdate] = []
    for signal in (state.plan if plan is None else plan).signals:
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
    return signal_update(
        state.plan.alias,
        STATUS_SIGNAL,
        state.status,
        None,
        now,
        Quality.VALID,
        identification,
        serial=serial,
    )
