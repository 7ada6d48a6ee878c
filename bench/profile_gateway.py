"""Profile ``obisgate run`` polling simulated TCP meters (``bench_gateway``'s meters).

Starts ``--meters`` simulated meters (one process, ``bench_gateway.py --serve``), then
runs ``obisgate run`` in a child under ``cProfile`` for ``--duration`` seconds at one
readout per meter every ``--scan-ms``, and prints the functions with the most own time
and the most cumulative time (profiled: slower than a plain run, and the loop's idle
waits are in the total; compare shares and call counts per readout, not absolute times).

Usage: python bench/profile_gateway.py [--meters 300] [--scan-ms 3000] [--duration 40]
       [--event-loop asyncio|uvloop] [--top 40] [--out FILE.prof]
"""

from __future__ import annotations

import argparse
import json
import os
import pstats
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_gateway import config_text, wait_for


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meters", type=int, default=300)
    parser.add_argument("--scan-ms", type=int, default=3000)
    parser.add_argument("--duration", type=float, default=40.0)
    parser.add_argument("--event-loop", choices=["asyncio", "uvloop"])
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--out", type=Path, help="keep the profile here")
    args = parser.parse_args()
    here = Path(__file__).with_name("bench_gateway.py")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        ports_file = work / "ports.json"
        sim = subprocess.Popen(
            [sys.executable, str(here), "--serve", "0", str(args.meters), "1", str(ports_file)],
            stdin=subprocess.DEVNULL,
        )
        try:
            wait_for(ports_file.exists, 120, "the simulator")
            ports = json.loads(ports_file.read_text())
            config = work / "profile.toml"
            config.write_text(config_text(ports, scan_ms=args.scan_ms))
            stats_file = work / "stats.json"
            prof = args.out or work / "gateway.prof"
            env = dict(os.environ)
            if args.event_loop:
                env["OBISGATE_EVENT_LOOP"] = args.event_loop
            obisgate = Path(sys.executable).with_name("obisgate")
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "cProfile",
                    "-o",
                    str(prof),
                    str(obisgate),
                    "run",
                    str(config),
                    "--duration",
                    str(args.duration),
                    "--stats",
                    str(stats_file),
                ],
                stdin=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env=env,
                check=True,
            )
        finally:
            sim.terminate()
            sim.wait()
        polls = json.loads(stats_file.read_text())["polls"]
        stats = pstats.Stats(str(prof))
        total: float = getattr(stats, "total_tt", 0.0)  # not in the stubs
        # Profiled time includes the loop's idle waits (epoll): compare shares, not totals.
        print(f"readouts: {polls}; profiled time per readout: {total / polls * 1000:.3f} ms")
        stats.sort_stats("tottime").print_stats(args.top)
        stats.sort_stats("cumulative").print_stats(args.top)


if __name__ == "__main__":
    main()
