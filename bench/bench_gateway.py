"""Gateway benchmark: one gateway process polling N simulated TCP meters.

Each meter sends a 50-line mode C readout; every meter is read once per scan
(60 s, ``--scan-ms``). By default each meter has its own TCP port; with
``--meters-per-line K`` K meters share one port, as on an RS-485 bus behind a
converter (the request's address selects the meter, the gateway polls them in
turn), which is how 50 000 meters fit under this machine's file descriptor
limit. The simulated meters are spread over ``--simulators`` processes.

For each N the script reports achieved readouts per second, missed scans,
failures, the gateway's CPU time and peak memory (``obisgate run`` in a child
process, measured with wait4; with ``--workers`` the sum over the workers and
the largest worker), and the simulators' CPU. ``marginal`` is the steady-state CPU
per readout without start-up: the gateway's CPU (``/proc``, one process) from one
scan plus 5 s after its start to 3 s before its end, divided by the readouts the
scan rate makes in that window (exact when no scan is missed).

``first poll s`` is the time from starting ``obisgate run`` to the first readout of
each process (its first "cannot switch" warning: the simulated meters' converters
cannot change rate; those warnings, one per meter, are counted, not printed; of the
other log lines the first 10 are printed and the 5 most frequent kinds counted), and
``peak MB`` with ``--workers`` is each process's own peak (``VmHWM``, read every 0.1 s:
``sup`` the supervisor, ``w`` the largest worker).

``--history-mqtt`` turns on what a site runs: every signal logged (the history store,
SQLite in the run's folder) and the ``[mqtt]`` output to a mosquitto the benchmark
starts on 127.0.0.1 (its settings' defaults: ``json``, QoS 1, the disk outbox; only
Home Assistant discovery is off); the broker's CPU is shown, and the batches the
outputs dropped or failed (from ``--stats``, by output), which must be none.

Usage: python bench/bench_gateway.py [--counts 100 1000 10000] [--duration 125] [--keep-open]
       [--workers N] [--meters-per-line K] [--simulators S] [--event-loop asyncio|uvloop]
       [--history-mqtt]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from obisgate.simulator import MeterProfile, serve_tcp, serve_tcp_each

SCAN_MS = 60_000
LINES = 50


def bench_lines() -> tuple[str, ...]:
    """A realistic 50-line readout: registers, billing values, demand with stamps."""
    lines = [
        "F.F(00000000)",
        "C.1.0(71234567)",
        "0.0.0(71234567)",
        "0.9.1(131519)",
        "0.9.2(261124)",
    ]
    for tariff in range(5):
        lines.append(f"1.8.{tariff}(00{tariff}1234.567*kWh)")
        lines.append(f"2.8.{tariff}(00{tariff}0042.100*kWh)")
    for period in range(1, 13):
        lines.append(f"1.8.0*{period:02d}(00{period:02d}1000.0*kWh)")
    lines += ["1.6.0(02.468*kW)(2511180930)", "2.6.0(00.000*kW)(0000000000)"]
    for phase, base in ((1, 32), (2, 52), (3, 72)):
        lines.append(f"{base}.7.0(23{phase}.4*V)")
        lines.append(f"{base - 1}.7.0(00{phase}.25*A)")
    lines += ["14.7.0(50.01*Hz)", "16.7.0(001.234*kW)", "C.7.0(0003)", "C.5.0(0401)"]
    while len(lines) < LINES:
        lines.append(f"0.2.{len(lines)}(M{len(lines):02d})")
    return tuple(lines[:LINES])


def profiles(count: int, start: int = 0) -> list[MeterProfile]:
    return [
        MeterProfile(
            name=f"bench{i}",
            manufacturer="ISk",
            baud_char="5",
            identification="MT174-BENCH",
            address=f"{10000000 + i}",
            lines=bench_lines(),
        )
        for i in range(start, start + count)
    ]


async def serve(start: int, count: int, per_line: int, port_file: Path) -> None:
    """Serve meters ``start`` .. ``start + count - 1``; write each meter's port to ``port_file``."""
    _raise_fd_limit()
    meters = profiles(count, start)
    if per_line == 1:
        farm = await serve_tcp_each(meters, backlog=64)
        ports = [s.port for s in farm.servers]
    else:
        ports = []
        for first in range(0, count, per_line):
            group = meters[first : first + per_line]
            server = await serve_tcp(group)
            ports += [server.port] * len(group)
    port_file.write_text(json.dumps(ports))  # noqa: ASYNC240
    await asyncio.Event().wait()


def config_text(
    ports: list[int], keep_open: bool = False, scan_ms: int = SCAN_MS, mqtt_port: int = 0
) -> str:
    """The gateway's configuration; with ``mqtt_port``, every signal logged and ``[mqtt]``."""
    out = ['[output]\nformat = "none"\n']
    if mqtt_port:
        out.append(
            '[storage]\npath = "history.sqlite"\n\n'
            f'[mqtt]\nurl = "mqtt://127.0.0.1:{mqtt_port}"\ndiscovery_prefix = "none"\n'
        )
    log = "log = 1\n" if mqtt_port else ""
    for i, port in enumerate(ports):
        out.append(
            f'[[devices]]\ndevice_alias = "m{i}"\nip = "127.0.0.1"\nport = {port}\n'
            f'serialnumber = "{10000000 + i}"\ntype = "C"\nscan_rate_ms = {scan_ms}\n'
            "poll_delay_ms = 0\nserial_close_delay = 0\nretries = 0\n"
            f"keep_open = {int(keep_open)}\n"
        )
        for alias, tag in (("energy", "1.8.0"), ("power", "16.7.0"), ("voltage", "32.7.0")):
            out.append(
                f'[[signals]]\ndevice_alias = "m{i}"\nsignal_alias = "{alias}"\n'
                f'tag_job_todo = "{tag}"\nnumber_type = "FLOAT"\n{log}'
            )
    return "\n".join(out)


def run_one(
    count: int,
    duration: float,
    workdir: Path,
    keep_open: bool = False,
    workers: int = 0,
    scan_ms: int = SCAN_MS,
    per_line: int = 1,
    simulators: int = 1,
    event_loop: str | None = None,
    history_mqtt: bool = False,
) -> dict[str, Any]:
    # Simulator processes serve whole lines: each takes a multiple of per_line meters.
    lines = -(-count // per_line)
    bounds = [per_line * (lines * k // simulators) for k in range(simulators + 1)]
    bounds[-1] = count
    sims = []
    port_files = []
    broker = None
    for k in range(simulators):
        port_file = workdir / f"ports-{count}-{k}.json"
        port_files.append(port_file)
        first, last = bounds[k], bounds[k + 1]
        sims.append(
            subprocess.Popen(
                [
                    sys.executable,
                    __file__,
                    "--serve",
                    str(first),
                    str(last - first),
                    str(per_line),
                    str(port_file),
                ],
                stdin=subprocess.DEVNULL,
            )
        )
    try:
        mqtt_port = 0
        if history_mqtt:
            from bench_mqtt import Broker, free_port  # noqa: PLC0415 - only for this option

            mqtt_port = free_port()
            broker = Broker(workdir, mqtt_port)
            broker.start()
        ready = wait_for(
            lambda: (
                all(f.exists() for f in port_files) or any(sim.poll() is not None for sim in sims)
            ),
            300,
            "the simulators",
            fail=False,
        )
        if not ready or any(sim.returncode is not None for sim in sims):
            raise SystemExit("simulator did not start")
        ports = [port for f in port_files for port in json.loads(f.read_text())]
        config = workdir / f"bench-{count}.toml"
        config.write_text(config_text(ports, keep_open, scan_ms, mqtt_port))
        stats_file = workdir / f"stats-{count}.json"
        obisgate = Path(sys.executable).with_name("obisgate")
        env = dict(os.environ)
        if event_loop:
            env["OBISGATE_EVENT_LOOP"] = event_loop
        started = time.monotonic()
        gateway = subprocess.Popen(
            [
                str(obisgate),
                "run",
                str(config),
                "--duration",
                str(duration),
                "--stats",
                str(stats_file),
                *(["--workers", str(workers)] if workers else []),
            ],
            stdin=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            preexec_fn=_raise_fd_limit,  # noqa: PLW1509 - only sets a resource limit
        )
        assert gateway.stderr is not None
        peaks = PeakWatcher(gateway.pid)
        log = LogReader(gateway.stderr, started)
        marginal = float("nan")
        window = (scan_ms / 1000 + 5, duration - 3)
        if not workers and window[1] - window[0] > 10:
            cpu_from = _cpu_at(gateway, started + window[0])
            cpu_to = _cpu_at(gateway, started + window[1])
            if cpu_from is not None and cpu_to is not None:
                rate = count / (scan_ms / 1000)
                marginal = (cpu_to[1] - cpu_from[1]) / (rate * (cpu_to[0] - cpu_from[0]))
        _, status, usage = os.wait4(gateway.pid, 0)
        elapsed = time.monotonic() - started
        peaks.stop()
        log.join()
        if status != 0:
            raise SystemExit(f"gateway exited with status {status}")
        files = [stats_file] if not workers else sorted(workdir.glob(f"stats-{count}-shard*.json"))
        parts = [json.loads(f.read_text()) for f in files]
        stats = {k: sum(p[k] for p in parts) for k in ("polls", "missed_scans", "failures")}
        # By output (summed over the workers): which of them could not keep up.
        lost: dict[str, Counter[str]] = {
            k: sum((Counter(p[k]) for p in parts), Counter())
            for k in ("dropped_batches", "failed_outputs")
        }
    finally:
        broker_cpu = float("nan")
        if broker is not None and broker.process is not None:
            broker_cpu = cpu_seconds(broker.process.pid)
            broker.stop()
        sim_cpu = 0.0
        running = [sim for sim in sims if sim.returncode is None]  # not reaped by poll()
        for sim in running:
            sim.terminate()
        for sim in running:
            _, _, sim_usage = os.wait4(sim.pid, 0)
            sim_cpu += sim_usage.ru_utime + sim_usage.ru_stime
    supervisor = peaks.peaks.pop(gateway.pid, float("nan")) if workers else float("nan")
    return {
        "meters": count,
        "lines": lines,
        "seconds": elapsed,
        "readouts": stats["polls"],
        "readouts_per_s": stats["polls"] / duration,
        "expected_per_s": count / (scan_ms / 1000),
        "missed_scans": stats["missed_scans"],
        "failures": stats["failures"],
        "cpu_s": usage.ru_utime + usage.ru_stime,
        # wait4 gives the largest descendant for ru_maxrss: with --workers, the largest process.
        "peak_mb": usage.ru_maxrss / 1024,
        "supervisor_peak_mb": supervisor,
        "worker_peak_mb": sorted(round(mb) for mb in peaks.peaks.values()) if workers else [],
        "first_poll_s": log.first,
        "log_lines": dict(log.other.most_common(5)),
        "sim_cpu_s": sim_cpu,
        "broker_cpu_s": broker_cpu,
        "marginal_s": marginal,
        **lost,
    }


class PeakWatcher:
    """Until :meth:`stop`: the peak RSS (MB, ``VmHWM``) of a process and of each of its
    children (the workers of ``run --workers``), read every 0.1 s, by PID in ``peaks``."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peaks: dict[int, float] = {}
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._done.set()
        self._thread.join()

    def _watch(self) -> None:
        while not self._done.wait(0.1):
            for each in (self.pid, *children(self.pid)):
                try:
                    status = Path(f"/proc/{each}/status").read_text()
                except OSError:
                    continue
                for line in status.splitlines():
                    if line.startswith("VmHWM:"):
                        mb = int(line.split()[1]) / 1024
                        self.peaks[each] = max(self.peaks.get(each, 0.0), mb)


class LogReader:
    """Reads the gateway's stderr in a thread: the seconds (from ``started``) to each
    process's first line with ``marker`` (its first readout: "cannot switch", which the
    simulated meters' converters cause; ``first``, by the name in ``obisgate[I/N]:``,
    ``-`` for one process), with ``at_first()`` then in ``at``; those lines counted. Of
    the other lines the first ``shown`` are printed as they come; all are counted by
    kind (the line with its numbers as ``N``: ``other``), for a summary."""

    def __init__(
        self,
        stream: IO[str],
        started: float,
        shown: int = 10,
        marker: str = "cannot switch",
        at_first: Callable[[], float] | None = None,
    ) -> None:
        self.first: dict[str, float] = {}
        self.at: dict[str, float] = {}
        self.marked = 0
        self.other: Counter[str] = Counter()
        self._shown = shown
        self._marker = marker
        self._at_first = at_first
        self._stream = stream
        self._started = started
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def join(self) -> None:
        self._thread.join()

    def _read(self) -> None:
        for line in self._stream:
            if self._marker not in line:
                if sum(self.other.values()) < self._shown:
                    sys.stderr.write(line)
                self.other[re.sub(r"\d+", "N", line.strip())] += 1
                continue
            self.marked += 1
            name = line.partition(":")[0].partition("[")[2].rstrip("]") or "-"
            if name not in self.first:
                self.first[name] = round(time.monotonic() - self._started, 2)
                if self._at_first is not None:
                    self.at[name] = round(self._at_first(), 2)


def _cpu_at(process: subprocess.Popen[Any], when: float) -> tuple[float, float] | None:
    """(monotonic time, CPU seconds) of the process at ``when`` (None: no longer there).

    Sleeps until then (a benchmark's pacing, not a wait for a condition); the process
    is not reaped here, so ``wait4`` still gets its usage afterwards.
    """
    delay = when - time.monotonic()
    if delay > 0:
        time.sleep(delay)
    try:
        return time.monotonic(), cpu_seconds(process.pid)
    except OSError:
        return None


def wait_for(
    condition: Callable[[], object], deadline_s: float, what: str, *, fail: bool = True
) -> bool:
    """Poll ``condition`` every 50 ms until it holds (``True``) or ``deadline_s`` passes:
    then ``SystemExit`` naming ``what``, or ``False`` with ``fail=False``."""
    end = time.monotonic() + deadline_s
    while not condition():
        if time.monotonic() > end:
            if fail:
                raise SystemExit(f"timed out waiting for {what}")
            return False
        time.sleep(0.05)
    return True


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a running process so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    """The child processes of ``pid`` (Linux ``/proc``; none once it has ended)."""
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def tree_cpu(pid: int) -> float:
    """CPU seconds so far of ``pid`` and of its children (a supervisor and its workers)."""
    total = 0.0
    for each in (pid, *children(pid)):
        with contextlib.suppress(OSError):
            total += cpu_seconds(each)
    return total


def _raise_fd_limit() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", type=int, nargs="+", default=[100, 1000, 10000])
    parser.add_argument("--duration", type=float, default=125.0, help="seconds per run")
    parser.add_argument("--keep-open", action="store_true", help="devices with keep_open = 1")
    parser.add_argument("--workers", type=int, default=0, help="run --workers N (0: no)")
    parser.add_argument(
        "--scan-ms",
        type=int,
        default=SCAN_MS,
        help="scan rate of every meter (shorter: more readouts per meter, so the CPU per "
        "readout is less weighted by start-up and first connections)",
    )
    parser.add_argument(
        "--meters-per-line", type=int, default=1, help="meters sharing one TCP port (a bus)"
    )
    parser.add_argument("--simulators", type=int, default=1, help="simulator processes")
    parser.add_argument(
        "--event-loop",
        choices=["auto", "asyncio", "uvloop"],
        help="OBISGATE_EVENT_LOOP for the gateway (default: as set, else auto: uvloop if installed)",
    )
    parser.add_argument("--uvloop", action="store_true", help="--event-loop uvloop")
    parser.add_argument(
        "--history-mqtt",
        action="store_true",
        help="every signal logged (history store) and [mqtt] to a local mosquitto",
    )
    parser.add_argument("--serve", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        start, count, per_line, port_file = args.serve
        asyncio.run(serve(int(start), int(count), int(per_line), Path(port_file)))
        return
    print(
        f"{'meters':>7} {'lines':>6} {'readouts/s':>11} {'expected':>9} {'missed':>7} "
        f"{'failed':>7} {'CPU s':>7} {'CPU %':>6} {'peak MB':>8} {'CPU ms/readout':>14} "
        f"{'sim CPU %':>9} {'marginal ms':>11} {'first poll s':>12}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for count in args.counts:
            r = run_one(
                count,
                args.duration,
                Path(tmp),
                args.keep_open,
                args.workers,
                args.scan_ms,
                args.meters_per_line,
                args.simulators,
                "uvloop" if args.uvloop else args.event_loop,
                args.history_mqtt,
            )
            print(
                f"{r['meters']:>7} {r['lines']:>6} {r['readouts_per_s']:>11.1f} "
                f"{r['expected_per_s']:>9.1f} {r['missed_scans']:>7} {r['failures']:>7} "
                f"{r['cpu_s']:>7.1f} {100 * r['cpu_s'] / r['seconds']:>6.1f} "
                f"{r['peak_mb']:>8.1f} {1000 * r['cpu_s'] / max(1, r['readouts']):>14.2f} "
                f"{100 * r['sim_cpu_s'] / r['seconds']:>9.1f} {1000 * r['marginal_s']:>11.3f} "
                f"{max(r['first_poll_s'].values(), default=float('nan')):>12.2f}",
                flush=True,
            )
            details = {
                "first_poll_s": r["first_poll_s"],
                "peak_mb": {
                    "supervisor": round(r["supervisor_peak_mb"]),
                    "workers": r["worker_peak_mb"],
                }
                if args.workers
                else round(r["peak_mb"]),
                "dropped_batches": dict(r["dropped_batches"]),
                "failed_outputs": dict(r["failed_outputs"]),
                "other_log_lines": r["log_lines"],
            }
            if args.history_mqtt:
                details["broker_cpu_s"] = round(r["broker_cpu_s"], 1)
            print("  " + json.dumps(details), flush=True)


if __name__ == "__main__":
    main()
