"""The gateway: line pollers for every device, outputs, and a clean shutdown."""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from obisgate import ProtocolMode
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

    Args:
        plans: the enabled devices.
        outputs: where updates go.
        read: the readout function (default: the real one, which keeps the
            connections of ``keep_open`` devices open between polls).
        processing: what the processing stage does (default: nothing; see
            :func:`obisgate.gateway.processing.build.processing_plan`).
    """

    def __init__(
        self,
        plans: Sequence[DevicePlan],
        outputs: Sequence[Output],
        *,
        read: ReadFunction = read_device,
        processing: ProcessingPlan | None = None,
    ) -> None:
        self.states = [DeviceState(plan) for plan in plans]
        self.fanout = Fanout(outputs, linger_s=STORE_LINGER_S)
        self.stage = ProcessingStage(processing or ProcessingPlan(), self.fanout.publish)
        self.connections: KeptConnections | None = None
        if read is read_device and any(plan.keep_open for plan in plans):
            self.connections = KeptConnections()
            read = self.connections.read
        self._read = read
        lines: dict[str, list[DeviceState]] = defaultdict(list)
        self.push_states: list[DeviceState] = []
        for state in self.states:
            if state.plan.options.mode is ProtocolMode.D:
                self.push_states.append(state)
            else:
                lines[state.plan.port_key].append(state)
        self.lines = dict(lines)

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
                poller = LinePoller(
                    self.lines[key], self.stage.publish, read=self._read, start_offsets=offsets
                )
                start(f"line {key}", poller.run())
            except Exception as exc:  # in a timer callback: would only reach the loop's handler
                fail(exc)

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
            if self.connections is not None:
                await self.connections.aclose()
            await self.stage.aclose()
            await self.fanout.aclose()
        if failed:
            raise RuntimeError(f"a line poller stopped: {type(failed[0]).__name__}") from failed[0]

    def inform(self, context: OutputContext) -> None:
        """Let the outputs of ``context`` see this gateway: its counters, per device too,
        and every output's health."""
        context.stats = self.stats
        context.device_stats = self.device_stats
        context.health = self.fanout.health

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
        }

    def device_stats(self) -> dict[str, dict[str, float]]:
        """Per-device counters (for metrics): readouts, failures, missed scans, and the
        duration of the last readout and of all readouts (seconds, retries included)."""
        return {
            s.plan.alias: {
                "polls": s.polls,
                "failures": s.failures,
                "missed_scans": s.missed_scans,
                "last_duration_s": s.last_duration_s,
                "total_duration_s": s.total_duration_s,
            }
            for s in self.states
        }
