"""Configuration load benchmark: time and peak memory of ``load_config`` for N devices.

The configuration is the one ``bench/bench_gateway.py`` writes (one TCP meter per
device, three signals each), generated in a temporary folder. Each repeat loads it
in a fresh child process, which reports its load time, CPU time and peak RSS.

With ``--gateway`` it also starts ``obisgate run`` on that configuration (every
meter unreachable: a closed local port) and reports the seconds from the
process start to the first poll (its first "cannot connect" warning), the CPU
it used until then, and the gateway's peak RSS. With ``--workers N`` that is
``obisgate run --workers N``: the seconds to each worker's first poll, the CPU the
supervisor and the workers had used by then, and the peak RSS of the supervisor and of
each worker (their ``VmHWM``, read every 0.1 s). The supervisor's CPU includes that of
the children it has waited for by then (``run --workers`` checks the shards' parts in
forked children before it starts the workers); those children's peaks are
``checker_peak_mb`` (their ``VmHWM`` counts the pages they share with the supervisor).

Usage: python bench/bench_config.py [--devices 50000] [--repeat 3] [--gateway] [--workers N]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_gateway import (
    LogReader,
    PeakWatcher,
    children,
    config_text,
    cpu_seconds,
    tree_cpu,
)

from obisgate.gateway.config import load_config


def load_once(path: str) -> None:
    """Child: load the configuration and print a JSON line of figures."""
    cpu0 = time.process_time()
    started = time.perf_counter()
    config = load_config(path)
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "devices": len(config.devices),
                "signals": len(config.signals),
                "load_s": round(seconds, 2),
                "cpu_s": round(cpu, 2),
                "peak_mb": round(peak_mb),
            }
        )
    )


def first_poll(config: Path, workers: int = 0) -> dict[str, object]:
    """Seconds from starting ``obisgate run`` to its first poll, and its peak RSS."""
    if workers:
        return first_polls(config, workers)
    obisgate = Path(sys.executable).with_name("obisgate")
    started = time.monotonic()
    gateway = subprocess.Popen(
        [str(obisgate), "run", str(config), "--duration", "2"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert gateway.stderr is not None
    seconds = cpu_s = -1.0
    for line in gateway.stderr:
        if seconds < 0 and "cannot connect" in line:
            seconds = time.monotonic() - started
            cpu_s = cpu_seconds(gateway.pid)
    _, status, usage = os.wait4(gateway.pid, 0)
    if status != 0:
        raise SystemExit(f"gateway exited with status {status}")
    return {
        "first_poll_s": round(seconds, 2),
        "cpu_to_first_poll_s": round(cpu_s, 2),
        "gateway_peak_mb": round(usage.ru_maxrss / 1024),
    }


def first_polls(config: Path, workers: int) -> dict[str, object]:
    """``obisgate run --workers N``: seconds to each worker's first poll (its first
    "cannot connect" line, ``obisgate[I/N]: ...``) and the peak RSS of every process."""
    obisgate = Path(sys.executable).with_name("obisgate")
    started = time.monotonic()
    gateway = subprocess.Popen(
        [str(obisgate), "run", str(config), "--duration", "2", "--workers", str(workers)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert gateway.stderr is not None
    watcher = PeakWatcher(gateway.pid)
    workers_seen: set[int] = set()

    def at_first() -> float:
        workers_seen.update(children(gateway.pid))
        return tree_cpu(gateway.pid) + waited_cpu(gateway.pid)

    log = LogReader(gateway.stderr, started, shown=0, marker="cannot connect", at_first=at_first)
    _, status, _usage = os.wait4(gateway.pid, 0)
    watcher.stop()
    log.join()
    if status != 0:
        raise SystemExit(f"gateway exited with status {status}")
    peaks = watcher.peaks
    supervisor = peaks.pop(gateway.pid, -1.0)
    return {
        "first_poll_s": dict(sorted(log.first.items())),
        "cpu_to_first_poll_s": dict(sorted(log.at.items())),
        "supervisor_peak_mb": round(supervisor),
        "worker_peak_mb": sorted(round(mb) for pid, mb in peaks.items() if pid in workers_seen),
        "checker_peak_mb": sorted(
            round(mb) for pid, mb in peaks.items() if pid not in workers_seen
        ),
    }


def waited_cpu(pid: int) -> float:
    """User + system CPU of the children ``pid`` has waited for (``cutime`` + ``cstime``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--gateway", action="store_true", help="also time obisgate run")
    parser.add_argument(
        "--workers", type=int, default=0, help="with --gateway: run --workers N (0: no)"
    )
    parser.add_argument("--load", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.load:
        load_once(args.load)
        return
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "bench.toml"
        config.write_text(config_text([20000 + i % 40000 for i in range(args.devices)]))
        print(f"{args.devices} devices, {config.stat().st_size / 1e6:.1f} MB of TOML")
        for _ in range(args.repeat):
            result = subprocess.run(
                [sys.executable, __file__, "--load", str(config)],
                check=True,
                capture_output=True,
                text=True,
            )
            print(result.stdout.strip())
            if args.gateway:
                print(json.dumps(first_poll(config, args.workers)))


if __name__ == "__main__":
    main()
