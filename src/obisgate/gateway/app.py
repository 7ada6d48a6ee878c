"""The gateway: line pollers for every device, outputs, and a clean shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Collection, Coroutine, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from obisgate import ProtocolMode
from obisgate.gateway.backfill.history_gaps import history_gaps
from obisgate.gateway.backfill.line import LineBackfill
from obisgate.gateway.backfill.reading import ProfileRead, on_line, read_profile
from obisgate.gateway.connections import KeptConnections
from obisgate.gateway.outputs import Fanout, Output
from obisgate.gateway.outputs.base import STORE_LINGER_S
from obisgate.gateway.outputs.context import OutputContext, ReadFigures
from obisgate.gateway.plan import DevicePlan
from obisgate.gateway.poller import (
    DeviceState,
    LinePoller,
    ReadFunction,
    ReadRequestError,
    read_device,
)
from obisgate.gateway.processing.stage import ProcessingPlan, ProcessingStage
from obisgate.gateway.push import PushListener
from obisgate.gateway.readplan import ReadSize
from obisgate.gateway.readsizes import SAVE_INTERVAL_S, load_sizes, save_sizes
from obisgate.gateway.readstats import ReadStats
from obisgate.gateway.schedule import first_slots
from obisgate.gateway.throttle import SessionLimiter
from obisgate.gateway.updates import SignalUpdate

__all__ = ["Gateway"]

_LOGGER = logging.getLogger(__name__)

T = TypeVar("T")


class Gateway:
    """Polls every device plan and delivers the updates to the outputs.

    Devices are grouped into lines by ``port_key``; each line gets one
    :class:`LinePoller` task. A push meter (mode D) gets a
    :class:`~obisgate.gateway.push.PushListener` that keeps its port open. Each
    device's polls fall at a fixed offset within its scan period (a stable hash of
    its alias, against the wall clock: :mod:`~obisgate.gateway.schedule`), or, for a
    plan without a phase (``scan_align = 1``), the first polls are spread evenly over
    the scan periods in configuration order.

    Every batch passes the processing stage (guards, derived signals, deadbands:
    :mod:`obisgate.gateway.processing.stage`) on its way from the pollers to the
    fan-out.

    A device with a load profile (``DevicePlan.profile``) is backfilled after a gap:
    its line's :class:`~obisgate.gateway.backfill.line.LineBackfill` reads the
    missing intervals in the line's free time and hands them to the outputs that
    keep a history (:meth:`Fanout.publish_backfill`). They go around the live
    path: the processing stage never sees them (its guards
    compare live readings only).

    Args:
        plans: the enabled devices.
        outputs: where updates go.
        read: the readout function (default: the real one, which keeps the
            connections of ``keep_open`` devices open between polls).
        group_limits: each throttle group's ``max_sessions``, instead of the plans'
            ``group_sessions``.
        shard: this instance's shard (``"I/N"``), for the read-success figures.
        sizes_path: the readout sizes file to read at start and keep up to date
            (:mod:`~obisgate.gateway.readsizes`); ``None``: none.
        processing: what the processing stage does (default: nothing; see
            :func:`obisgate.gateway.processing.build.processing_plan`).
        history: the SQLite history, where the gaps left by earlier runs are found
            at start (``None``: only gaps seen while running are filled).
        wall_clock: UTC now, for time stamps, gaps and the schedules' phases
            (injectable for tests).
        profile_read: reads one chunk of a load profile (default: the real one, on
            the line's kept connection when there is one).
    """

    def __init__(
        self,
        plans: Sequence[DevicePlan],
        outputs: Sequence[Output],
        *,
        read: ReadFunction = read_device,
        group_limits: Mapping[str, int] | None = None,
        shard: str | None = None,
        sizes_path: Path | None = None,
        processing: ProcessingPlan | None = None,
        history: Path | None = None,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        profile_read: ProfileRead | None = None,
    ) -> None:
        self.states = [DeviceState(plan) for plan in plans]
        self._by_alias = {state.plan.alias: state for state in self.states}
        self.fanout = Fanout(outputs, linger_s=STORE_LINGER_S)
        self.stage = ProcessingStage(processing or ProcessingPlan(), self.fanout.publish)
        self.connections: KeptConnections | None = None
        if read is read_device and any(plan.keep_open for plan in plans):
            self.connections = KeptConnections()
            read = self.connections.read
        self._read = read
        self._wall_clock = wall_clock
        self.shard = shard or "0/1"
        self.sizes_path = sizes_path
        self._history = history
        if profile_read is None:
            profile_read = (
                read_profile if self.connections is None else on_line(self.connections.run)
            )
        lines: dict[str, list[DeviceState]] = defaultdict(list)
        self.push_states: list[DeviceState] = []
        for state in self.states:
            if state.plan.options.mode is ProtocolMode.D:
                self.push_states.append(state)
            else:
                lines[state.plan.port_key].append(state)
        self.lines = dict(lines)
        limits = group_limits or {}
        self.limiters: dict[str, SessionLimiter] = {}
        self.group_reads: dict[str, ReadStats] = {}
        for plan in plans:
            name = plan.group
            if name is not None and name not in self.limiters:
                self.limiters[name] = SessionLimiter(name, limits.get(name, plan.group_sessions))
                self.group_reads[name] = ReadStats()
        #: The read-success figures of every scheduled poll of this instance.
        self.reads = ReadStats()
        self._shard_only = (self.reads,)
        self._group_totals = {name: (stats, self.reads) for name, stats in self.group_reads.items()}
        self.pollers: dict[str, LinePoller] = {}
        self._start_now: Callable[[str], LinePoller] | None = None
        self._sizes: dict[ReadSize, ReadSize] = {}
        self._saved: dict[str, ReadSize] = {}
        self._saver: asyncio.TimerHandle | None = None
        self._saving: asyncio.Task[None] | None = None
        self.backfills = {
            key: LineBackfill(
                states, self.fanout.publish_backfill, read=profile_read, wall_clock=wall_clock
            )
            for key, states in self.lines.items()
            if any(state.plan.profile is not None for state in states)
        }

    def _line_starts(self) -> list[tuple[float, str, dict[str, float | list[float]]]]:
        """Each line's first poll (seconds after start), key and its devices' first slots
        from then (one number, or one per rate group).

        A device with a phase gets the first slot of each rate group after now on the
        wall clock; without one (``scan_align = 1``) the first polls of all devices are
        spread evenly over their scan periods, in order.
        """
        count = len(self.states)
        wall = self._wall_clock().timestamp()
        firsts: dict[str, float | list[float]] = {}
        for i, state in enumerate(self.states):
            plan = state.plan
            spread = plan.scan_rate_s * i / count
            if plan.phase_s is None:
                firsts[plan.alias] = spread
            else:
                slots = first_slots(plan.rate_periods, phase_s=plan.phase_s, wall_now_s=wall)
                firsts[plan.alias] = slots[0] if len(slots) == 1 else slots
        starts = []
        for key, states in self.lines.items():
            first = min(_earliest(firsts[s.plan.alias]) for s in states)
            starts.append(
                (first, key, {s.plan.alias: _minus(firsts[s.plan.alias], first) for s in states})
            )
        starts.sort(key=lambda start: start[0])
        return starts

    async def run(
        self,
        stop: asyncio.Event | None = None,
        *,
        polling: Callable[[], object] | None = None,
    ) -> None:
        """Start the outputs, poll until ``stop`` is set (or the task is cancelled), shut down.

        ``polling`` is called once, when the outputs have started and polling
        begins (e.g. to start a ``--duration`` timer from there).

        Each line's task is started when its first poll is due (or a priority read
        asks for one of its devices), so that at 50 000 meters the first polls do not
        wait for every line to be set up.

        Shutdown abandons exchanges in progress (their ports are closed),
        delivers every queued update, writes the readout sizes file and closes the
        outputs.

        Raises:
            RuntimeError: a line poller or push listener stopped by itself, or
                could not be started (a bug: device failures never stop a line);
                everything was shut down first.
        """
        stop = stop or asyncio.Event()
        await self._load_sizes()
        await self.fanout.start()
        await self.stage.start()
        if polling is not None:
            polling()
        loop = asyncio.get_running_loop()
        tasks: set[asyncio.Task[None]] = set()
        failed: list[BaseException] = []
        broken = asyncio.Event()
        timers: dict[str, tuple[asyncio.TimerHandle, float, dict[str, float | list[float]]]] = {}

        def fail(exc: BaseException) -> None:
            failed.append(exc)
            broken.set()

        def finished(task: asyncio.Task[None]) -> None:
            # A line or push listener never ends by itself: returning is a bug too.
            tasks.discard(task)
            if not task.cancelled():
                fail(task.exception() or RuntimeError(f"{task.get_name()} returned"))

        def start(name: str, coro: Coroutine[Any, Any, None]) -> None:
            task = loop.create_task(coro, name=name)
            tasks.add(task)
            task.add_done_callback(finished)

        def start_line(key: str, offsets: Mapping[str, float | list[float]]) -> None:
            timers.pop(key, None)
            try:
                backfill = self.backfills.get(key)
                poller = LinePoller(
                    self.lines[key],
                    self.stage.publish if backfill is None else backfill.watch(self.stage.publish),
                    read=self._read,
                    start_offsets=offsets,
                    wall_clock=self._wall_clock,
                    limiters=self.limiters,
                    totals=self._totals_of,
                    sizes=self._sizes,
                    idle=backfill,
                )
                self.pollers[key] = poller
                start(f"line {key}", poller.run())
            except Exception as exc:  # in a timer callback: would only reach the loop's handler
                fail(exc)

        def start_now(key: str) -> LinePoller:
            """Start a line whose first poll is not due yet (a priority read asks for it)."""
            handle, due_at, offsets = timers[key]
            handle.cancel()
            early = max(0.0, due_at - loop.time())
            start_line(key, {a: _minus(o, -early) for a, o in offsets.items()})
            return self.pollers[key]

        loading = loop.create_task(self._load_history()) if self.backfills else None
        for first, key, offsets in self._line_starts():
            if first <= 0:
                start_line(key, offsets)
            else:
                handle = loop.call_later(first, start_line, key, offsets)
                timers[key] = (handle, loop.time() + first, offsets)
        for state in self.push_states:
            start(f"push {state.plan.alias}", PushListener(state, self.stage.publish).run())
        self._start_now = start_now
        self._saver = loop.call_later(SAVE_INTERVAL_S, self._save_sizes_later, loop)
        waits = [loop.create_task(stop.wait()), loop.create_task(broken.wait())]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._start_now = None
            if self._saver is not None:
                self._saver.cancel()
            for wait in waits:
                wait.cancel()
            for handle, _, _ in timers.values():
                handle.cancel()
            running = list(tasks)
            for task in running:
                task.remove_done_callback(finished)
                task.cancel()
            for task in running:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            if loading is not None:
                loading.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await loading
            for backfill in self.backfills.values():
                await backfill.aclose()
            if self.connections is not None:
                await self.connections.aclose()
            await self.stage.aclose()
            await self._save_sizes()
            await self.fanout.aclose()
        if failed:
            raise RuntimeError(f"a line poller stopped: {type(failed[0]).__name__}") from failed[0]

    def _totals_of(self, state: DeviceState) -> tuple[ReadStats, ...]:
        group = state.plan.group
        return self._shard_only if group is None else self._group_totals[group]

    def _state(self, alias: str) -> DeviceState | None:
        return self._by_alias.get(alias)

    # -- priority reads ---------------------------------------------------------

    def request_read(self, alias: str) -> asyncio.Future[list[SignalUpdate]]:
        """Read device ``alias`` now: at the head of its line's queue (after the poll in
        progress there), every signal, its group's session limit kept.

        Call on the gateway's event loop while it runs.

        Returns:
            A future with the updates the read published (also delivered to every
            output, as for any poll); cancelled if the gateway stops first.

        Raises:
            ReadRequestError: no such device here (``reason`` ``unknown``), a push
                meter (``push``), or the gateway is not polling (``stopped``).
        """
        state = self._state(alias)
        if state is None:
            raise ReadRequestError(f"no device {alias!r} here", "unknown")
        if state.plan.options.mode is ProtocolMode.D:
            raise ReadRequestError(
                f"{alias} is a push meter (type D): it sends by itself, it cannot be asked",
                "push",
            )
        start_now = self._start_now
        if start_now is None:
            raise ReadRequestError("the gateway is not polling", "stopped")
        key = state.plan.port_key
        poller = self.pollers.get(key)
        if poller is None:
            poller = start_now(key)
        return poller.request(state)

    def submit(
        self,
        alias: str,
        job: Callable[[], Awaitable[T]],
        *,
        background: bool = False,
    ) -> asyncio.Future[T]:
        """Run ``job`` on device ``alias``'s line between two polls, holding its throttle
        group's session: how another stage (a background profile reader, a backfill)
        takes its turn on the line instead of opening it beside the poller.

        ``background=False`` queues it at the head (after the poll in progress);
        ``True`` runs it when the line is idle (before the next scheduled poll is due).
        See :meth:`LinePoller.submit`. Call on the gateway's event loop while it runs.

        Raises:
            ReadRequestError: as :meth:`request_read`.
        """
        state = self._state(alias)
        if state is None:
            raise ReadRequestError(f"no device {alias!r} here", "unknown")
        if state.plan.options.mode is ProtocolMode.D:
            raise ReadRequestError(f"{alias} is a push meter (type D): its port is its own", "push")
        start_now = self._start_now
        if start_now is None:
            raise ReadRequestError("the gateway is not polling", "stopped")
        key = state.plan.port_key
        poller = self.pollers.get(key) or start_now(key)
        return poller.submit(state, job, background=background)

    # -- readout sizes ----------------------------------------------------------

    def sizes(self) -> dict[str, ReadSize]:
        """The size of every device's last readout, where one was recorded."""
        return {s.plan.alias: s.size for s in self.states if s.size is not None}

    async def _load_sizes(self) -> None:
        path = self.sizes_path
        if path is None:
            return
        known = await asyncio.to_thread(load_sizes, path)
        for state in self.states:
            size = known.get(state.plan.alias)
            if size is not None:
                state.size = self._sizes.setdefault(size, size)
        self._saved = self.sizes()

    def _save_sizes_later(self, loop: asyncio.AbstractEventLoop) -> None:
        """Timer: write the sizes file (when something changed) and set the next timer."""
        self._saver = loop.call_later(SAVE_INTERVAL_S, self._save_sizes_later, loop)
        task = loop.create_task(self._save_sizes(), name="readout sizes")
        self._saving = task  # keep a reference until done

    async def _save_sizes(self) -> None:
        path = self.sizes_path
        if path is None:
            return
        sizes = self.sizes()
        if sizes == self._saved:
            return
        try:
            await asyncio.to_thread(save_sizes, path, sizes)
        except OSError as exc:
            _LOGGER.warning("cannot write the readout sizes to %s: %s", path, exc.strerror)
            return
        self._saved = sizes

    # -- what outputs see -------------------------------------------------------

    async def _load_history(self) -> None:
        """Look for the gaps earlier runs left in the history (on a thread), then let the
        lines' backfills start."""
        plans = [s.plan for s in self.states if s.plan.profile is not None]
        gaps: dict[str, Any] = {}
        if self._history is not None:
            gaps = await asyncio.to_thread(history_gaps, self._history, plans, self._wall_clock())
        for backfill in self.backfills.values():
            backfill.load(gaps)

    def inform(self, context: OutputContext) -> None:
        """Let the outputs of ``context`` see this gateway: its counters, per device too,
        every output's health, the read-success figures, priority reads and every
        backfill's progress."""
        context.stats = self.stats
        context.device_stats = self.device_stats
        context.device_stats_of = self.device_stats_of
        context.health = self.fanout.health
        context.read_figures = self.read_figures
        context.read_figures_of = self.read_figures_of
        context.request_read = self.request_read
        context.backfill = self.backfill_progress

    def backfill_progress(self) -> dict[str, dict[str, Any]]:
        """Device alias -> its backfill's progress, for the devices with a load profile
        (see :meth:`obisgate.gateway.backfill.device.DeviceBackfill.progress`)."""
        found: dict[str, dict[str, Any]] = {}
        for backfill in self.backfills.values():
            found.update(backfill.progress())
        return found

    def stats(self) -> dict[str, Any]:
        """Counters for monitoring and benchmarks."""
        reads = self.reads
        return {
            "devices": len(self.states),
            "lines": len(self.lines) + len(self.push_states),
            "polls": sum(s.polls for s in self.states),
            "failures": sum(s.failures for s in self.states),
            "missed_scans": sum(s.missed_scans for s in self.states),
            "scheduled_reads": reads.scheduled,
            "succeeded_reads": reads.succeeded,
            "priority_reads": reads.priority,
            "waiting_polls": sum(limiter.waited_total for limiter in self.limiters.values()),
            "dropped_batches": dict(self.fanout.dropped),
            "failed_outputs": dict(self.fanout.failed),
            "processing": self.stage.counters.as_dict(),
            "backfill": self._backfill_stats(),
        }

    def _backfill_stats(self) -> dict[str, int]:
        """Devices with a load profile, those with intervals left (and how many), those
        refused, and the intervals filled so far."""
        progress = self.backfill_progress().values()
        return {
            "devices": len(progress),
            "filling": sum(
                1
                for p in progress
                if p["pending_intervals"] and p["phase"] not in ("refused", "gave up")
            ),
            "pending_intervals": sum(int(p["pending_intervals"]) for p in progress),
            "refused": sum(1 for p in progress if p["phase"] == "refused"),
            "intervals_total": sum(int(p["intervals_total"]) for p in progress),
        }

    def device_stats(self) -> dict[str, dict[str, float]]:
        """Per-device counters (for metrics): readouts, failures, missed scans, and the
        duration of the last readout and of all readouts (seconds, retries included)."""
        return {s.plan.alias: _counters(s) for s in self.states}

    def device_stats_of(self, aliases: Collection[str]) -> dict[str, dict[str, float]]:
        """:meth:`device_stats` of the given devices only (unknown aliases are left out)."""
        found = (self._by_alias.get(alias) for alias in aliases)
        return {s.plan.alias: _counters(s) for s in found if s is not None}

    def read_figures(self) -> ReadFigures:
        """A copy of the read-success figures: per device (with its line and group), per
        throttle group (with its sessions), and this shard's total. Cheap: the
        percentiles are computed from it later, off the event loop."""
        return self._figures(self.states)

    def read_figures_of(self, aliases: Collection[str]) -> ReadFigures:
        """:meth:`read_figures` with only the given devices (unknown aliases left out)."""
        found = (self._by_alias.get(alias) for alias in aliases)
        return self._figures([s for s in found if s is not None])

    def _figures(self, states: Iterable[DeviceState]) -> ReadFigures:
        return ReadFigures(
            shard=self.shard,
            total=self.reads.copy(),
            devices={
                s.plan.alias: (s.plan.port_key, s.plan.group, s.reads.copy())
                for s in states
                if s.plan.options.mode is not ProtocolMode.D
            },
            groups={
                name: (
                    self.group_reads[name].copy(),
                    limiter.max_sessions,
                    limiter.open,
                    limiter.waiting,
                    limiter.waited_total,
                    limiter.wait_seconds_total,
                    limiter.peak,
                )
                for name, limiter in self.limiters.items()
            },
        )


def _earliest(first: float | list[float]) -> float:
    return first if isinstance(first, float | int) else min(first)


def _minus(first: float | list[float], offset: float) -> float | list[float]:
    if isinstance(first, float | int):
        return first - offset
    return [value - offset for value in first]


def _counters(state: DeviceState) -> dict[str, float]:
    return {
        "polls": state.polls,
        "failures": state.failures,
        "missed_scans": state.missed_scans,
        "last_duration_s": state.last_duration_s,
        "total_duration_s": state.total_duration_s,
    }
