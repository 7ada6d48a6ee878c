"""How long ``obisgate probe`` takes to find the setting each simulated quirk needs.

Run:  .venv/bin/python bench/bench_probe.py [--timeout 2.5] [--only NAME]

For every personality of the simulator (a meter that needs a NUL wake-up, 7E1
carried as 8N1, an echoing head, a meter that needs a delay before the baud
change, one answering as mode A, one answering only a variant request, one
answering only its own address, a converter at a fixed rate) over a pty and raw
TCP, runs ``probe_meter`` with the default budget and prints the number of tries,
the settings found and the time taken. ``--timeout`` is the answer timeout of
each try (``obisgate probe --timeout``; 2.5 s by default, as for a user).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import time
from typing import Any

from obisgate.probe import probe_meter
from obisgate.protocol.client import ReadoutOptions
from obisgate.recipes import builtin_recipes
from obisgate.simulator import Faults, get_profile, serve_pty, serve_tcp
from obisgate.transport.base import LineSettings

E350 = get_profile("e350")
SMALL = E350.replace(lines=("F.F(00)", "0.0.0(00188123)", "1.8.0(001234.120*kWh)"))
#: name -> (profile, faults, realtime, address, transports, converter rate)
PERSONALITIES: dict[str, tuple[Any, tuple[str, ...], bool, str, tuple[str, ...], int | None]] = {
    "needs-wakeup": (E350, ("needs-wakeup",), False, "", ("pty", "tcp"), None),
    "7e1-as-8n1": (E350, ("parity", "strict-parity"), False, "", ("pty", "tcp"), None),
    "echo": (E350, ("echo",), False, "", ("pty", "tcp"), None),
    "long-switch-delay": (
        E350.replace(reaction_time_s=0.8),
        ("slow-switch",),
        False,
        "",
        ("pty", "tcp"),
        None,
    ),
    "mode-a-only": (SMALL, ("mode-a-only",), True, "", ("pty", "tcp"), None),
    "variant-request": (E350.replace(request_starts=("/#",)), (), False, "", ("pty", "tcp"), None),
    "own-address-only": (E350, ("address-only",), False, E350.address, ("pty", "tcp"), None),
    "converter-fixed-rate": (E350, (), False, "", ("tcp",), 300),
}


async def one(name: str, transport: str, timeout_s: float) -> None:
    profile, faults, realtime, address, _, converter = PERSONALITIES[name]
    chosen = Faults.from_names(faults)
    server: Any
    if transport == "pty":
        server = await serve_pty([profile], faults=chosen, realtime=realtime)
        url = server.path
    else:
        server = await serve_tcp(
            profile, faults=chosen, realtime=realtime, converter_baud=converter
        )
        url = server.url
    async with server:
        began = time.monotonic()
        report = await probe_meter(
            url,
            ReadoutOptions(address=address, response_timeout_s=timeout_s),
            LineSettings(),
            book=builtin_recipes(),
        )
        seconds = time.monotonic() - began
    winner = report.winner
    found = "nothing" if winner is None else (winner.attempt.label)
    print(f"{name:22} {transport:4} {len(report.tries):5} {seconds:7.1f} s  {found}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=2.5)
    parser.add_argument("--only", choices=sorted(PERSONALITIES))
    args = parser.parse_args()
    logging.getLogger("obisgate").setLevel(logging.ERROR)  # raw TCP's "cannot switch" warnings
    print(f"{'personality':22} {'over':4} {'tries':>5} {'time':>9}  settings found")
    for name, (*_, transports, _converter) in PERSONALITIES.items():
        if args.only and name != args.only:
            continue
        for transport in transports:
            await one(name, transport, args.timeout)


if __name__ == "__main__":
    asyncio.run(main())
