"""A mode E session reading 30 registers over a pty at 9600 Bd, against its wire-time floor.

Run:  .venv/bin/python bench/bench_mode_e.py [--runs 5] [--registers 30] [--list-limit 16]

Each run opens a new pseudo-terminal served by the simulator in realtime mode
(``serve_pty(zmd, realtime=True)``: the meter paces every byte it sends at its
wire time, takes the client's bytes after their wire time, and honours its
reaction times) and reads ``--registers`` registers of the ``zmd`` profile with
``read_dlms(..., opening=ReadoutOptions(mode=E), objects=[...@3])``: request at
300 Bd, identification, ``ACK 2 Z 2``, switch to 9600, confirmation, 8N1,
SNRM/UA, AARQ/AARE, GET-Request-With-List (value and scaler_unit of each
register, ``--list-limit`` attributes per request), RLRQ/RLRE, DISC/UA.

The floor is what the line makes unavoidable, from the bytes actually exchanged
(10 bits per character):

    wire(request + identification + ACK 2Z2, 300 Bd) + wire(confirmation, 9600 Bd)
    + 3 x tr_min                  meter before its identification, HHU before
                                  ACK 2Z2, meter before its confirmation (200 ms:
                                  the 3rd letter of LGZ is upper case)
    + wire(every HDLC frame both ways, 9600 Bd)
    + n x the meter's HDLC reaction time (20 ms in the profile) for the n
      frames obisgate sends after the opening

The session is timed from the request being written to the return of
``read_dlms`` (opening the port is shown apart). The client's reaction time t2
is set to the floor's 200 ms. The first run is a discarded warm-up.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from obisgate.dlms.client import DlmsOptions
from obisgate.dlms.cosem import parse_obis
from obisgate.dlms.reading import ObjectSpec
from obisgate.dlms_session import DlmsReadResult, read_dlms
from obisgate.protocol.chars import BITS_PER_CHAR
from obisgate.protocol.client import ReadoutOptions
from obisgate.protocol.identification import ProtocolMode
from obisgate.simulator import MeterProfile, get_profile, serve_pty
from obisgate.simulator.cosem_model import register_parts
from obisgate.trace import Trace

TARGET_RATIO = 1.05


def wire_s(nbytes: int, baud: int) -> float:
    return nbytes * BITS_PER_CHAR / baud


class Recorder(Trace):
    """Records when the first byte was written and every chunk's rate and size."""

    def __init__(self, clock: Callable[[], float]) -> None:
        super().__init__(io.StringIO(), clock)
        self.clock = clock
        self.first_sent: float | None = None
        self.sent_bytes: dict[int, int] = {}
        self.received_bytes: dict[int, int] = {}

    def sent(self, data: bytes, baud: int) -> None:
        if self.first_sent is None:
            self.first_sent = self.clock()
        self.sent_bytes[baud] = self.sent_bytes.get(baud, 0) + len(data)

    def received(self, data: bytes, baud: int) -> None:
        self.received_bytes[baud] = self.received_bytes.get(baud, 0) + len(data)

    def note(self, text: str) -> None:
        return None


@dataclass(frozen=True)
class Floor:
    opening_s: float
    hdlc_wire_s: float
    hdlc_reactions_s: float

    @property
    def total_s(self) -> float:
        return self.opening_s + self.hdlc_wire_s + self.hdlc_reactions_s


def floor_for(profile: MeterProfile, result: DlmsReadResult, options: ReadoutOptions) -> Floor:
    assert profile.dlms is not None
    tr = profile.ident.reaction_time_min_s
    request = len(f"{options.request_start}{options.address}!\r\n")
    ident = len(profile.identification_message())
    ack = 6
    high = profile.switch_baud
    opening = wire_s(request + ident + ack, 300) + wire_s(ack, high) + 3 * tr
    frames = result.frames
    sent = [f for f in frames if f.direction == ">"]
    hdlc_bytes = sum(len(f.data) for f in frames)
    return Floor(opening, wire_s(hdlc_bytes, high), len(sent) * profile.dlms.reaction_time_s)


def register_specs(profile: MeterProfile, count: int) -> list[ObjectSpec]:
    specs = []
    for ds in profile.datasets:
        if register_parts(ds.value) is not None and len(ds.values) == 1:
            specs.append(ObjectSpec(parse_obis(ds.address), 3))
    if len(specs) < count:
        raise SystemExit(f"the profile has only {len(specs)} registers")
    return specs[:count]


@dataclass
class Run:
    open_s: float
    session_s: float
    result: DlmsReadResult


async def one_run(
    profile: MeterProfile, specs: list[ObjectSpec], options: ReadoutOptions, dlms: DlmsOptions
) -> Run:
    loop = asyncio.get_running_loop()
    recorder = Recorder(loop.time)
    async with await serve_pty(profile, realtime=True) as sim:
        t0 = loop.time()
        result = await read_dlms(sim.path, dlms, opening=options, objects=specs, trace=recorder)
        t1 = loop.time()
    start = recorder.first_sent if recorder.first_sent is not None else t0
    return Run(start - t0, t1 - start, result)


async def main_async(args: argparse.Namespace) -> int:
    profile = get_profile("zmd")
    specs = register_specs(profile, args.registers)
    options = ReadoutOptions(address=profile.address, mode=ProtocolMode.E, reaction_time_s=0.2)
    dlms = DlmsOptions(get_list_limit=args.list_limit)
    runs: list[Run] = []
    failures = 0
    for i in range(args.runs + 1):
        try:
            run = await one_run(profile, specs, options, dlms)
        except Exception as exc:
            failures += 1
            print(f"run {i}: failed: {exc}", file=sys.stderr)
            continue
        if i:
            runs.append(run)
    if not runs:
        print("no successful run", file=sys.stderr)
        return 1
    floor = floor_for(profile, runs[0].result, options)
    sessions = [r.session_s for r in runs]
    median = statistics.median(sessions)
    result = runs[0].result
    print(
        f"mode E session, {len(specs)} registers ({2 * len(specs)} attributes, "
        f"{args.list_limit} per GET), pty at {profile.switch_baud} Bd, {len(runs)} runs"
    )
    print(
        f"  frames exchanged       {len(result.frames)}  ({sum(len(f.data) for f in result.frames)} bytes)"
    )
    print(f"  floor: opening         {floor.opening_s * 1000:8.1f} ms")
    print(f"  floor: HDLC wire time  {floor.hdlc_wire_s * 1000:8.1f} ms")
    print(f"  floor: meter reactions {floor.hdlc_reactions_s * 1000:8.1f} ms")
    print(f"  floor total            {floor.total_s * 1000:8.1f} ms")
    print(
        f"  session (median)       {median * 1000:8.1f} ms   min {min(sessions) * 1000:.1f}  "
        f"max {max(sessions) * 1000:.1f}"
    )
    print(f"  open port (median)     {statistics.median(r.open_s for r in runs) * 1000:8.1f} ms")
    ratio = median / floor.total_s
    verdict = "meets" if ratio <= TARGET_RATIO else "misses"
    print(f"  session / floor        {ratio:8.3f}   ({verdict} the {TARGET_RATIO}x goal)")
    if failures:
        print(f"  failed runs            {failures}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--registers", type=int, default=30)
    parser.add_argument("--list-limit", type=int, default=16)
    return asyncio.run(main_async(parser.parse_args(argv)))


if __name__ == "__main__":
    t = time.perf_counter()
    code = main()
    print(f"  bench wall time        {time.perf_counter() - t:8.1f} s")
    sys.exit(code)
