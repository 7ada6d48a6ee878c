"""The gateway: line pollers for every device, outputs, and a clean shutdown."""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import Callable, Collection, Coroutine, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from obisgate import ProtocolMode
from obisgate.gateway.backfill.history_gaps import history_gaps
from obisgate.gateway.backfill.line import LineBackfill
from obisgate.gateway.backfill.reading import ProfileRead, on_line, read_profile
from obisgate.gateway.connections import KeptConnections
from obisgate.gateway.outputs import Fanout, Output
from obisgate.gateway.outputs.base import STORE_LINGER_S
from obisgate.gateway.outputs.context import OutputContext
from obisgate.gateway.plan import DevicePlan
from obisgate.gateway.poller import DeviceState, LinePoller, ReadFunction, read_device
from obisgate.gateway.processing.stage import ProcessingPlan, ProcessingStage
from obisgate.gateway.push import PushListener

__all__ = ["Gateway"]


class Gateway:
    """Polls every device plan and delivers the updates to the outputs.

    Devices are grouped into lines by ``port_key``; each line gets one
    :class:`LinePoller` task. A push meter (mode D) gets a
    :class:`~obisgate.gateway.push.PushListener` that keeps its port open. First polls are spread evenly over each device's
    scan period so that many meters do not all start at once.

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
        processing: what the processing stage does (default: nothing; see
            :func:`obisgate.gateway.processing.build.processing_plan`).
        history: the SQLite history, where the gaps left by earlier runs are found
            at start (``None``: only gaps seen while running are filled).
        wall_clock: UTC now, for time stamps and gaps (injectable for tests).
        profile_read: reads one chunk of a load profile (default: the real one, on
            the line's kept connection when there is one).
    """

    def __init__(
        self,
        plans: Sequence[DevicePlan],
        outputs: Sequence[Output],
        *,
        read: ReadFunction = read_device,
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
        self._history = history
        self._wall_clock = wall_clock
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
        self.backfills = {
            key: LineBackfill(
                states, self.fanout.publish_backfill, read=profile_read, wall_clock=wall_clock
            )
            for key, states in self.lines.items()
            if any(state.plan.profile is not None for state in states)
        }

    def _line_starts(self) -> list[tuple[float, str, dict[str, float]]]:
        """Each line's first poll (seconds after start), key and its devices' offsets from then.

        The first polls of all devices are spread evenly over their scan periods.
        """
        count = len(self.states)
        offsets = {s.plan.alias: s.plan.scan_rate_s * i / count for i, s in enumerate(self.states)}
        starts = []
        for key, states in self.lines.items():
            first = min(offsets[s.plan.alias] for s in states)
            starts.append(
                (first, key, {s.plan.alias: offsets[s.plan.alias] - first for s in states})
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

        Each line's task is started when its first poll is due, so that at
        50 000 meters the first polls do not wait for every line to be set up.

        Shutdown abandons exchanges in progress (their ports are closed),
        delivers every queued update and closes the outputs.

        Raises:
            RuntimeError: a line poller or push listener stopped by itself, or
                could not be started (a bug: device failures never stop a line);
                everything was shut down first.
        """
        stop = stop or asyncio.Event()
        await self.fanout.start()
        await self.stage.start()
        if polling is not None:
            polling()
        loop = asyncio.get_running_loop()
        tasks: set[asyncio.Task[None]] = set()
        failed: list[BaseException] = []
        broken = asyncio.Event()
        timers: dict[str, asyncio.TimerHandle] = {}

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

        def start_line(key: str, offsets: dict[str, float]) -> None:
            timers.pop(key, None)
            try:
                backfill = self.backfills.get(key)
                poller = LinePoller(
                    self.lines[key],
                    self.stage.publish if backfill is None else backfill.watch(self.stage.publish),
                    read=self._read,
                    start_offsets=offsets,
                    wall_clock=self._wall_clock,
                    idle=backfill,
                )
                start(f"line {key}", poller.run())
            except Exception as exc:  # in a timer callback: would only reach the loop's handler
                fail(exc)

        loading = loop.create_task(self._load_history()) if self.backfills else None
        for first, key, offsets in self._line_starts():
            if first <= 0:
                start_line(key, offsets)
            else:
                timers[key] = loop.call_later(first, start_line, key, offsets)
        for state in self.push_states:
            start(f"push {state.plan.alias}", PushListener(state, self.stage.publish).run())
        waits = [loop.create_task(stop.wait()), loop.create_task(broken.wait())]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()
            for timer in timers.values():
                timer.cancel()
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
            await self.fanout.aclose()
        if failed:
            raise RuntimeError(f"a line poller stopped: {type(failed[0]).__name__}") from failed[0]

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
        every output's health and every backfill's progress."""
        context.stats = self.stats
        context.device_stats = self.device_stats
        context.device_stats_of = self.device_stats_of
        context.health = self.fanout.health
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
        return {
            "devices": len(self.states),
            "lines": len(self.lines) + len(self.push_states),
            "polls": sum(s.polls for s in self.states),
            "failures": sum(s.failures for s in self.states),
            "missed_scans": sum(s.missed_scans for s in self.states),
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


def _counters(state: DeviceState) -> dict[str, float]:
    return {
        "polls": state.polls,
        "failures": state.failures,
        "missed_scans": state.missed_scans,
        "last_duration_s": state.last_duration_s,
        "total_duration_s": state.total_duration_s,
    }
