"""Session time of a mode C readout over a pty, against the physical floor of the line.

Run:  .venv/bin/python bench/bench_session.py [--runs 5] [--profiles mt174 large large-ISk]
      [--t2 S] [--poll-ms MS]

Each run opens a new pseudo-terminal served by the simulator in realtime mode
(``serve_pty(profile, realtime=True)``: the meter paces every byte it sends at
its wire time and honours its reaction time tr) and reads it once with the real
client, ``read_meter(sim.path, ReadoutOptions(address=...))``, over the real
serial transport: request at 300 Bd, identification, option select, switch,
data message at the meter's mode C rate.

The floor is what the standard makes unavoidable, derived from the actual bytes
(10 bits per character, IEC 62056-21 1.2) and the minimum reaction times (7):

    wire(request + identification + option select, 300 Bd)
    + wire(data message incl. STX ... ETX BCC, Z rate)
    + 3 x tr_min   (meter before its identification, HHU before its option
                    select, meter before the data message; 20 ms when the 3rd
                    manufacturer letter is lower case, else 200 ms)

The session is timed from the call of ``read_meter`` to its return, so it
includes opening the port; the table also gives it without the port opening
(from the request being written). The first run is a discarded warm-up.

The breakdown splits every run at events seen by the client (a ``Trace``
subclass records the time of every chunk): request written, identification
LF received, option select written, first data byte received, BCC received.
Each phase is shown against its share of the physical floor and against a
reference: the floor itself when the line paces the client's bytes, otherwise
the best the pty simulator can deliver ("pty model"): a pty passes the client's
bytes at once (the request and option select take no wire time there) and the
simulator writes each byte at the start of its character slot, not at the end
of its stop bit, so the measured session can be shorter than the floor. Which
reference applies is detected: a line that paces the client's bytes cannot
deliver the first identification byte before the request has left the HHU.
The excess over the reference is the overhead of the client, the transport,
the event loop and the simulator's scheduling; "floor + excess" is then what
the session would take on a line that paces both directions.

A run that fails (``read_meter`` raises) is retried and listed, not counted. On a
pty this happens now and then: serialx flushes the port after every baud switch
(``tcflush(TCIOFLUSH)``), and on a pty that can discard the option select before
the simulator has read it; the meter then never switches.

Options: ``--runs N``, ``--profiles NAME...`` (``NAME-XYz`` re-identifies a
built-in profile with manufacturer ``XYz``), ``--t2 S`` (client reaction time
instead of its default), ``--poll-ms MS`` (the simulator's client-presence poll:
the first request after the port opens waits for it).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import io
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import pairwise

from obisgate import ObisgateError, ReadoutOptions, Trace, read_meter
from obisgate.protocol.chars import BAUD_TO_MODE_C_CHAR, BITS_PER_CHAR
from obisgate.protocol.client import option_select_message, request_message
from obisgate.simulator import MeterProfile, get_profile, serve_pty

TARGET_RATIO = 1.05
PHASES = (
    "open port",
    "request + identification",
    "HHU reaction (t2)",
    "option select + tr + 1st char",
    "data message",
    "completion",
)


def wire_s(nbytes: int, baud: int) -> float:
    """Wire time of ``nbytes`` characters at ``baud`` (10 bits each)."""
    return nbytes * BITS_PER_CHAR / baud


# -- the floor -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Floor:
    """The physical floor of one mode C readout, from its actual bytes."""

    request: int
    identification: int
    option_select: int
    data: int
    low_baud: int
    high_baud: int
    tr_meter: float
    tr_hhu: float

    @property
    def bytes_low(self) -> int:
        return self.request + self.identification + self.option_select

    @property
    def total_s(self) -> float:
        return sum(self.phases().values())

    def phases(self) -> dict[str, float]:
        """The floor split at the events the client sees (sums to :attr:`total_s`)."""
        low, high = self.low_baud, self.high_baud
        return {
            "open port": 0.0,
            "request + identification": wire_s(self.request, low)
            + self.tr_meter
            + wire_s(self.identification, low),
            "HHU reaction (t2)": self.tr_hhu,
            "option select + tr + 1st char": wire_s(self.option_select, low)
            + self.tr_meter
            + wire_s(1, high),
            "data message": wire_s(self.data - 1, high),
            "completion": 0.0,
        }

    def pty_model(self) -> dict[str, float]:
        """The best the pty simulator can do: client bytes take no time, and each
        meter byte arrives at the start of its slot."""
        low, high = self.low_baud, self.high_baud
        return {
            "open port": 0.0,
            "request + identification": self.tr_meter + wire_s(self.identification - 1, low),
            "HHU reaction (t2)": self.tr_hhu,
            "option select + tr + 1st char": self.tr_meter,
            "data message": wire_s(self.data - 1, high),
            "completion": 0.0,
        }


def floor_for(profile: MeterProfile, options: ReadoutOptions) -> Floor:
    """The floor of a mode C readout of ``profile`` with ``options``."""
    ident = profile.ident
    tr_min = ident.reaction_time_min_s  # 20 ms for a lower-case 3rd letter, else 200 ms
    high = profile.switch_baud
    return Floor(
        request=len(request_message(options.address, options.request_start)),
        identification=len(profile.identification_message()),
        option_select=len(option_select_message(BAUD_TO_MODE_C_CHAR[high], options.option)),
        data=len(profile.data_message()),
        low_baud=options.start_baud,
        high_baud=high,
        tr_meter=tr_min,
        tr_hhu=tr_min,
    )


# -- one run -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    at: float
    kind: str  # ">" sent, "<" received, "=" note
    baud: int
    data: bytes = b""
    text: str = ""


class Recorder(Trace):
    """A trace that only records (time, direction, rate, bytes): no formatting in the loop."""

    def __init__(self, clock: Callable[[], float]) -> None:
        super().__init__(io.StringIO(), clock)
        self.clock = clock
        self.events: list[Event] = []

    def sent(self, data: bytes, baud: int) -> None:
        self.events.append(Event(self.clock(), ">", baud, data))

    def received(self, data: bytes, baud: int) -> None:
        self.events.append(Event(self.clock(), "<", baud, data))

    def note(self, text: str) -> None:
        self.events.append(Event(self.clock(), "=", 0, text=text))


@dataclass
class Run:
    total_s: float
    open_s: float
    phases: dict[str, float] = field(default_factory=dict)
    first_ident_s: float = 0.0  # request written -> first identification byte in
    switch_s: float = 0.0  # option select written -> port switched (drain + reconfigure)
    chunks: int = 0


def split(events: Sequence[Event], start: float, end: float, floor: Floor) -> Run:
    """Split a run at: request written, identification LF in, option select
    written, first byte at the high rate in, last byte in."""
    sent = [e for e in events if e.kind == ">"]
    low_in = [e for e in events if e.kind == "<" and e.baud == floor.low_baud]
    high_in = [e for e in events if e.kind == "<" and e.baud == floor.high_baud]
    switched = next(e.at for e in events if e.kind == "=" and e.text.startswith("switched"))
    if len(sent) != 2 or not low_in or not high_in:
        raise RuntimeError(f"unexpected exchange: {len(sent)} messages sent")
    request_at, ack_at = sent[0].at, sent[1].at
    ident_lf = next(e.at for e in low_in if b"\n" in e.data)
    first, last = high_in[0].at, high_in[-1].at
    points = [start, request_at, ident_lf, ack_at, first, last, end]
    return Run(
        total_s=end - start,
        open_s=request_at - start,
        phases={name: b - a for name, (a, b) in zip(PHASES, pairwise(points), strict=True)},
        first_ident_s=low_in[0].at - request_at,
        switch_s=switched - ack_at,
        chunks=len(high_in),
    )


async def run_once(
    profile: MeterProfile, options: ReadoutOptions, floor: Floor, poll_s: float | None = None
) -> Run:
    """One full readout; raises if the result is not the profile's readout at the Z rate."""
    clock = time.monotonic  # the event loop's clock too
    server = (
        serve_pty(profile, realtime=True)
        if poll_s is None
        else serve_pty(profile, realtime=True, poll_interval_s=poll_s)
    )
    async with await server as sim:
        recorder = Recorder(clock)
        start = clock()
        # bounded: a lost option select makes the meter send its readout at 300 Bd,
        # which the client at the Z rate reads as garbage until ta (minutes for 'large')
        limit = 2 * floor.total_s + 5.0
        result = await read_meter(sim.path, options, trace=recorder, total_timeout_s=limit)
        end = clock()
    if result.baud != floor.high_baud or len(result.readout.datasets) != len(profile.datasets):
        raise RuntimeError(f"{profile.name}: wrong readout ({result.baud} Bd)")
    return split(recorder.events, start, end, floor)


# -- report --------------------------------------------------------------------------------


def profiles_by_name(names: Sequence[str]) -> list[MeterProfile]:
    """Built-in profiles; ``<name>-ISk`` re-identifies one with a lower-case 3rd letter."""
    out = []
    for name in names:
        base, _, maker = name.partition("-")
        profile = get_profile(base)
        if maker:
            profile = profile.replace(name=name, manufacturer=maker)
        out.append(profile)
    return out


def ms(x: float) -> str:
    return f"{x * 1e3:8.1f}"


def min_med(values: Sequence[float], fmt: str = ".3f") -> str:
    return f"{min(values):{fmt}}/{statistics.median(values):{fmt}}"


def print_table(results: Sequence[tuple[MeterProfile, Floor, list[Run]]]) -> None:
    head = (
        f"{'profile':<10} {'ident':<5} {'tr':>6} {'B@300':>5} {'B@9600':>6} {'floor s':>7}"
        f"  {'session s min/med':>17}  {'ratio min/med':>13}"
        f"  {'excl. open: s':>13}  {'ratio':>11}"
    )
    print(head)
    print("-" * len(head))
    for profile, floor, runs in results:
        f = floor.total_s
        totals = [r.total_s for r in runs]
        bare = [r.total_s - r.open_s for r in runs]
        high = f"{floor.data}" if floor.high_baud == 9600 else f"{floor.data}@{floor.high_baud}"
        print(
            f"{profile.name:<10} {profile.manufacturer:<5} {floor.tr_meter * 1e3:4.0f}ms"
            f" {floor.bytes_low:5d} {high:>6} {f:7.3f}"
            f"  {min_med(totals):>17}  {min_med([t / f for t in totals]):>13}"
            f"  {min_med(bare):>13}  {min_med([t / f for t in bare]):>11}"
        )
    print(
        f"floor: 10 bits/char, tr_min for meter (x2) and HHU; target session <= {TARGET_RATIO}x floor"
    )


def print_breakdown(profile: MeterProfile, floor: Floor, runs: Sequence[Run]) -> None:
    phys = floor.phases()
    # A line that paces the HHU's bytes cannot deliver the first identification byte
    # before the request has left the HHU; a pty that does not, can.
    first_ident = statistics.median(r.first_ident_s for r in runs)
    paced = first_ident >= wire_s(floor.request, floor.low_baud)
    model = phys if paced else floor.pty_model()
    print(f"\nbreakdown {profile.name} (ms; measured min/median of {len(runs)} runs)")
    what = (
        "the floor"
        if paced
        else "the pty model (client bytes take no time, meter bytes at slot start)"
    )
    print(f"  reference = {what}")
    print(f"  {'phase':<30} {'floor':>8} {'reference':>9} {'measured':>17} {'excess':>7}")
    for name in PHASES:
        values = [r.phases[name] for r in runs]
        print(
            f"  {name:<30} {ms(phys[name])} {ms(model[name]):>9}"
            f" {min_med([v * 1e3 for v in values], '.1f'):>17}"
            f" {ms(statistics.median(values) - model[name]):>7}"
        )
    total_model = sum(model.values())
    totals = [r.total_s for r in runs]
    print(
        f"  {'total':<30} {ms(floor.total_s)} {ms(total_model):>9}"
        f" {min_med([t * 1e3 for t in totals], '.1f'):>17}"
        f" {ms(statistics.median(totals) - total_model):>7}"
    )
    print(
        f"  request written -> 1st identification byte: {first_ident * 1e3:.1f} ms"
        f" (meter tr {floor.tr_meter * 1e3:.0f} ms)\n "
        f" option select written -> port at {floor.high_baud} Bd:"
        f" {statistics.median(r.switch_s for r in runs) * 1e3:.1f} ms;"
        f" data read in {statistics.median(r.chunks for r in runs):.0f} chunks"
    )
    if not paced:
        projected = [(floor.total_s + t - total_model) / floor.total_s for t in totals]
        print(
            "  the pty does not pace the HHU's bytes (request and option select arrive at once)"
            " and each meter byte\n  arrives at the start of its slot: measured < floor."
            f" Floor + excess, as a ratio: {min_med(projected)}"
        )


async def main_async(args: argparse.Namespace) -> int:
    profiles = profiles_by_name(args.profiles)
    poll_s = None if args.poll_ms is None else args.poll_ms / 1e3
    results: list[tuple[MeterProfile, Floor, list[Run]]] = []
    failures: list[str] = []
    for i, profile in enumerate(profiles):
        options = ReadoutOptions(address=profile.address)
        floor = floor_for(profile, options)  # the standard's minimum t2, whatever the client uses
        if args.t2 is not None:
            options = dataclasses.replace(options, reaction_time_s=args.t2)
        if i == 0:
            with contextlib.suppress(ObisgateError):
                await run_once(profile, options, floor, poll_s)  # warm-up, discarded
        runs: list[Run] = []
        while len(runs) < args.runs and len(failures) <= args.runs:
            try:
                runs.append(await run_once(profile, options, floor, poll_s))
            except ObisgateError as exc:
                failures.append(f"{profile.name}: {type(exc).__name__}: {exc}")
        if not runs:
            raise SystemExit(f"{profile.name}: every run failed: {failures}")
        results.append((profile, floor, runs))

    t2 = (
        "default (0.3 s; 20 ms for a lower-case 3rd letter)"
        if args.t2 is None
        else f"{args.t2:g} s"
    )
    poll = "" if poll_s is None else f", simulator poll {args.poll_ms:g} ms"
    print(
        f"Mode C readout over a pty, simulator realtime, {args.runs} runs each, client t2 {t2}{poll}"
    )
    print_table(results)
    print(f"failed runs (retried, not in the figures): {len(failures)}")
    for failure in failures:
        print(f"  {failure}")
    for profile, floor, runs in results:
        print_breakdown(profile, floor, runs)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=5, help="measured runs per profile")
    parser.add_argument(
        "--profiles",
        nargs="+",
        default=["mt174", "large", "large-ISk"],
        help="built-in profiles; NAME-XYz re-identifies NAME with manufacturer XYz",
    )
    parser.add_argument(
        "--t2", type=float, default=None, help="client reaction time (default: the client's)"
    )
    parser.add_argument(
        "--poll-ms",
        type=float,
        default=None,
        help="simulator's client-presence poll interval (default: serve_pty's, 20 ms)",
    )
    args = parser.parse_args(argv)
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
