"""What one gateway process keeps in memory per device, with history + MQTT on.

Starts ``--devices`` simulated meters (``bench_gateway.py --serve``, 10 per line) and a
local mosquitto, then runs ``obisgate run`` in this process under ``tracemalloc`` on
``bench_gateway``'s configuration (every signal logged, ``[mqtt]`` with discovery off).
At ``--at`` seconds (after the first full scan: make it longer than ``--scan-ms``) it
prints the Python memory traced then and the lines that allocated most of it
(``file:line``, what is still alive). Compare two device counts for what is per device;
compare two trees (``PYTHONPATH``) for what a change saved. tracemalloc traces Python's
allocations only (not SQLite's page caches) and slows the process: readouts that a
saturated loop had not taken yet at ``--at`` are missing, so check that the counts of
per-device lines (``build.py``, ``app.py``) equal ``--devices``.

Usage: python bench/bench_memory.py [--devices 10000] [--scan-ms 20000] [--at 45]
       [--top 30] [--dump FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path

from bench_gateway import config_text, wait_for
from bench_mqtt import Broker, free_port


def report(devices: int, top: int, dump: Path | None) -> None:
    """Print the traced memory and its largest allocation sites (a snapshot of now)."""
    current, peak = tracemalloc.get_traced_memory()
    snapshot = tracemalloc.take_snapshot().filter_traces(
        [tracemalloc.Filter(False, tracemalloc.__file__)]
    )
    if dump is not None:
        snapshot.dump(str(dump))
    src = str(Path(__file__).resolve().parent.parent / "src") + os.sep
    print(
        f"{devices} devices: traced {current / 1e6:.1f} MB (peak {peak / 1e6:.1f} MB), "
        f"{current / devices / 1e3:.2f} KB per device",
        flush=True,
    )
    for stat in snapshot.statistics("lineno")[:top]:
        frame = stat.traceback[0]
        print(
            f"{stat.size / 1e6:8.2f} MB {stat.count:9d}  {frame.filename.replace(src, '')}:{frame.lineno}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=10000)
    parser.add_argument("--scan-ms", type=int, default=20000)
    parser.add_argument("--at", type=float, default=45.0, help="seconds after the start")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--dump", type=Path, help="keep the snapshot here (Snapshot.load)")
    args = parser.parse_args()
    here = Path(__file__).resolve().parent
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        ports_file = work / "ports.json"
        meters = subprocess.Popen(
            [
                sys.executable,
                str(here / "bench_gateway.py"),
                "--serve",
                "0",
                str(args.devices),
                "10",
                str(ports_file),
            ],
            stdin=subprocess.DEVNULL,
        )
        port = free_port()
        broker = Broker(work, port)
        broker.start()
        try:
            wait_for(ports_file.exists, 300, "the simulated meters")
            ports = json.loads(ports_file.read_text())
            config = work / "gw.toml"
            config.write_text(config_text(ports, False, args.scan_ms, port))
            os.chdir(work)

            def at_time() -> None:
                time.sleep(args.at)
                report(args.devices, args.top, args.dump)

            threading.Thread(target=at_time, daemon=True).start()
            tracemalloc.start()
            from obisgate.cli.main import main as obisgate  # noqa: PLC0415 - traced from here

            obisgate(["run", str(config), "--duration", str(args.at + 3)], standalone_mode=False)
        finally:
            meters.terminate()
            meters.wait()
            if broker.process is not None:
                broker.process.terminate()
                broker.process.wait()


if __name__ == "__main__":
    main()
