"""Read plans in real time: 3 registers of a 323-line meter, planned, against its full readout.

Run:  .venv/bin/python bench/bench_plan.py [--rates 300 9600] [--runs 1]

The simulator serves the ``large`` profile (Landis+Gyr ZMD style, 323 data lines, 8162
bytes of data message, programming mode with password 00000000) on a pseudo-terminal
in ``--realtime`` mode: every byte takes its wire time at the line's current rate,
both ways, and the meter honours its reaction time (200 ms, upper-case ``LGZ``). At
each rate the gateway's own poll path (configuration -> plan -> ``LinePoller.poll``
over the real serial transport) reads the device of a configuration with three
signals (``1.8.0*01``, ``2.8.0*01``, ``5.8.0*01``) and ``register_reads = 1``:

1. the first poll: no readout recorded yet, so the read plan takes the full readout
   (which records its size);
2. the second poll: with the size known, the plan reads the three registers in
   programming mode (sign-on, P0, P1 password, three ``R1``, ``B0``).

At 300 Bd the device has ``max_baud = 300`` (the meter's 9600 Bd proposal is answered
with ``ACK 0 0 0`` / ``ACK 0 0 1``: everything stays at 300 Bd); at 9600 Bd the
exchange switches as usual. The script checks that both polls gave the same values
(value, unit, quality per signal), and prints each poll's measured time, the read
plan's estimate of it, and the ratio full / planned. A poll that fails (the pty
simulator can lose an option select that serialx flushes with the baud switch) is
repeated and counted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from obisgate.gateway.build import plans_from_config
from obisgate.gateway.config import load_config
from obisgate.gateway.poller import DeviceState, LinePoller
from obisgate.gateway.readplan import ReadKind, alternatives
from obisgate.gateway.updates import STATUS_SIGNAL, SignalUpdate
from obisgate.simulator import get_profile, serve_pty

TAGS = ("1.8.0*01", "2.8.0*01", "5.8.0*01")


def config_text(path: str, address: str, rate: int) -> str:
    text = f"""
[[devices]]
device_alias = "large"
device = "{path}"
serialnumber = "{address}"
poll_delay_ms = 0
serial_close_delay = 0
retries = 0
scan_rate_ms = 600000
total_timeout_ms = 900000
timeout_ms = 5000
register_reads = 1
password_env = "OBISGATE_BENCH_PW"
{"max_baud = 300" if rate == 300 else ""}
"""
    for i, tag in enumerate(TAGS):
        text += (
            f'[[signals]]\ndevice_alias = "large"\nsignal_alias = "r{i}"\n'
            f'tag_job_todo = "{tag}"\nnumber_type = "FLOAT"\n'
        )
    return text


def values(updates: Sequence[SignalUpdate]) -> dict[str, tuple[object, object, str]]:
    return {
        u.signal: (u.value, u.unit, str(u.quality)) for u in updates if u.signal != STATUS_SIGNAL
    }


async def one_rate(rate: int, folder: Path) -> dict[str, object]:
    profile = get_profile("large")
    os.environ["OBISGATE_BENCH_PW"] = "00000000"
    async with await serve_pty([profile], realtime=True) as sim:
        path = folder / f"plan-{rate}.toml"
        path.write_text(config_text(sim.path, profile.address, rate), encoding="utf-8")
        (plan,) = plans_from_config(load_config(path))
        state = DeviceState(plan)
        poller = LinePoller([state], lambda updates: None)
        got: dict[ReadKind, list[SignalUpdate]] = {}
        timed: dict[ReadKind, float] = {}
        estimates: dict[ReadKind, float | None] = {}
        failures = 0
        while len(timed) < 2:
            chosen, kind = state.read_for(None)
            if kind is ReadKind.REGISTERS and state.size is not None:
                found = alternatives(plan, plan.signals, state.size)
                estimates = {a.kind: a.seconds for a in found}
            began = time.monotonic()
            updates = await poller.poll(state, chosen, kind)
            elapsed = time.monotonic() - began
            if state.status != "ok":
                failures += 1
                if failures > 5:
                    raise SystemExit(f"{rate} Bd: {state.status} five times")
                continue
            timed[kind] = elapsed
            got[kind] = updates
        same = values(got[ReadKind.READOUT]) == values(got[ReadKind.REGISTERS])
    return {
        "rate": rate,
        "full_s": timed[ReadKind.READOUT],
        "planned_s": timed[ReadKind.REGISTERS],
        "full_estimate_s": estimates.get(ReadKind.READOUT),
        "planned_estimate_s": estimates.get(ReadKind.REGISTERS),
        "same": same,
        "failures": failures,
        "data_bytes": None if state.size is None else state.size.data_bytes,
        "stats": (sim.stats.readouts, sim.stats.programming_sessions),
    }


async def main(rates: Sequence[int]) -> None:
    print(
        f"{'rate':>6} {'full readout':>13} {'(estimate)':>11} {'3 registers':>12} "
        f"{'(estimate)':>11} {'full / planned':>15} {'same values':>12} {'retried':>8}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for rate in rates:
            r = await one_rate(rate, Path(tmp))
            full, planned = float(r["full_s"]), float(r["planned_s"])  # type: ignore[arg-type]
            fe, pe = r["full_estimate_s"], r["planned_estimate_s"]
            print(
                f"{rate:>6} {full:>12.2f}s {_s(fe):>11} {planned:>11.2f}s {_s(pe):>11} "
                f"{full / planned:>14.1f}x {'yes' if r['same'] else 'NO':>12} "
                f"{r['failures']:>8}",
                flush=True,
            )


def _s(value: object) -> str:
    return "-" if not isinstance(value, float) else f"{value:.2f}s"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", type=int, nargs="+", default=[300, 9600])
    args = parser.parse_args()
    asyncio.run(main(args.rates))
