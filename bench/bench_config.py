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
each worker (their ``VmHWM``, read every 0.1 s).

Usage: python bench/bench_config.py [--devices 50000] [--repeat 3] [--gateway] [--workers N]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_gateway import PeakWatcher, config_text, cpu_seconds

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
    firsts: dict[str, float] = {}
    cpu: dict[str, float] = {}
    for line in gateway.stderr:
        shard = line.partition("]")[0].partition("[")[2]
        if shard and shard not in firsts and "cannot connect" in line:
            firsts[shard] = round(time.monotonic() - started, 2)
            cpu[shard] = round(_tree_cpu(gateway.pid), 2)
    _, status, _usage = os.wait4(gateway.pid, 0)
    watcher.stop()
    if status != 0:
        raise SystemExit(f"gateway exited with status {status}")
    peaks = watcher.peaks
    supervisor = peaks.pop(gateway.pid, -1.0)
    return {
        "first_poll_s": dict(sorted(firsts.items())),
        "cpu_to_first_poll_s": dict(sorted(cpu.items())),
        "supervisor_peak_mb": round(supervisor),
        "worker_peak_mb": sorted(round(mb) for mb in peaks.values()),
    }


def _tree_cpu(pid: int) -> float:
    """CPU seconds so far of ``pid`` and its children (the supervisor and its workers)."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        children = []
    total = 0.0
    for each in (pid, *map(int, children)):
        with contextlib.suppress(OSError):
            total += cpu_seconds(each)
    return total


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
