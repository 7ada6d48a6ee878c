"""Readout parse throughput: obisgate.parse_readout against the PyPI package iec62056-21.

Run:  .venv/bin/python bench/bench_parse.py [--repeat 7] [--lines 320] [--node-peer DIR] [--cpu]

``--cpu``: time CPU instead of wall time, for every parser (Python's process time,
Node's ``process.cpuUsage()``): other work on a shared machine then slows the figures
less than it stretches wall time.

``--node-peer DIR``: also time the Node package smartmeter-obis (its D0 parser, warmed
up) on the same bytes, and every parser on shorter IEC readouts too (the 50-line
readout of bench_gateway.py, the simulator's mt174 and e350). DIR is a
``node_modules`` folder outside the repository (``npm install --prefix /tmp/peer
smartmeter-obis``; ``DIR`` = ``/tmp/peer/node_modules``): it is a benchmark peer only.

Both parsers get the SAME bytes: one framed readout (STX ... ! CR LF ETX BCC) of
300+ lines as an Elster/L+G/EMH meter sends it: energy registers with units,
``*NN`` billing-period values, maximum demand with a time stamp as a second value
group, instantaneous values, text values, empty and blank values, ``&``
sub-values and a short load profile of value-only lines. Both verify the BCC.

Besides the speed, the script checks what each parser kept: every value group
of the readout is known in advance, so a parser is *lossless* when it returns
every group with its address, its raw text and its grouping.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from obisgate import DataSet, Value, parse_readout

try:
    from iec62056_21 import messages as peer_messages
except ImportError:  # pragma: no cover - the bench needs the dev dependencies
    peer_messages = None


# -- the readout ---------------------------------------------------------------------------


def build_readout(lines_wanted: int = 320, seed: int = 62056) -> tuple[bytes, list[DataSet]]:
    """A framed readout and the data sets it holds (the ground truth)."""
    rng = random.Random(seed)
    sets: list[DataSet] = []

    def add(address: str, *raws: str) -> None:
        sets.append(DataSet(address, tuple(Value.from_raw(r) for r in raws)))

    def energy() -> str:
        return f"{rng.uniform(0, 999999):010.3f}"

    def stamp() -> str:
        return f"{rng.randint(20, 25):02d}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}" + (
            f"{rng.randint(0, 23):02d}{rng.choice(['00', '15', '30', '45'])}"
        )

    add("F.F", "00000000")
    add("0.0.0", "00188123")
    add("C.1.0", "12314330")
    add("C.1.1", "        ")  # blank value
    add("0.2.0", "M23")  # firmware, text
    add("0.9.1", "131519")
    add("0.9.2", "240315")
    add("C.90.1", "L1-L2-L3")  # text value
    add("C.7.0", "0012")
    add("0.1.0", "24")  # billing period counter
    add("0.1.2*24", "2402010000")
    registers = ["1.8.0", "1.8.1", "1.8.2", "2.8.0", "2.8.1", "2.8.2", "15.8.0"]
    reactive = ["5.8.0", "6.8.0", "7.8.0", "8.8.0"]
    for reg in registers:
        add(reg, f"{energy()}*kWh")
    for reg in reactive:
        add(reg, f"{energy()}*kvarh")
    add("1.6.0", f"{rng.uniform(0, 99):06.3f}*kW", stamp())  # max demand + time stamp
    add("2.6.0", f"{rng.uniform(0, 99):06.3f}*kW", stamp())
    add("9.4", "088*C&082*C")  # & sub-values (UH50)
    add("1.8.0&01", f"{energy()}*kWh")  # & before the billing period (EMH ITZ)
    add("C.2.1", "")  # empty value
    add("1.8.1", "013925.5*")  # '*' with an empty unit
    for phase, base in (("32", 229), ("52", 231), ("72", 230)):
        add(f"{phase}.7", f"{base + rng.randint(-3, 3)}*V")
    for phase in ("31", "51", "71"):
        add(f"{phase}.7", f"{rng.uniform(0, 60):06.2f}*A")
    add("14.7", "50.01*Hz")
    # historical (billing period) values, oldest last: the bulk of a real readout
    period = 24
    while len(sets) < lines_wanted - 12:
        for reg in registers[:4]:
            add(f"{reg}*{period:02d}", f"{energy()}*kWh")
        add(f"1.6.0*{period:02d}", f"{rng.uniform(0, 99):06.3f}*kW", stamp())
        add(f"0.1.2*{period:02d}", stamp())
        period = (period - 1) % 100
    # a short load profile: a header and value-only lines
    add("P.01", "1240315131500", "00", "15", "2", "1.5", "kW", "2.5", "kW")
    for _ in range(10):
        add("", f"{rng.uniform(0, 1):.5f}", f"{rng.uniform(0, 1):.5f}")
    text = "".join(ds.to_text() + "\r\n" for ds in sets) + "!\r\n"
    block = text.encode("latin-1") + b"\x03"
    bcc = 0
    for b in block:
        bcc ^= b
    return b"\x02" + block + bytes((bcc & 0x7F,)), sets


# -- what each parser kept ----------------------------------------------------------------


Group = tuple[str | None, str]  # (address the group is attached to, raw text)


def truth_groups(sets: list[DataSet]) -> list[Group]:
    return [(ds.address, v.raw) for ds in sets for v in ds.values]


def obisgate_groups(data: bytes) -> tuple[list[Group], int, int]:
    readout = parse_readout(data)
    groups: list[Group] = [(ds.address, v.raw) for ds in readout.datasets for v in ds.values]
    return groups, len(readout.datasets), len(readout.unparsed)


def peer_parse(data: bytes) -> Any:
    assert peer_messages is not None
    return peer_messages.ReadoutDataMessage.from_bytes(data)


def peer_groups(data: bytes) -> tuple[list[Group], int, list[str]]:
    """The peer's data sets as (address, raw); the raw text is rebuilt from value*unit.

    Also returns the raw texts whose value/unit split differs from the
    standard's (value before the first ``*``, unit after it, ``&`` ends both).
    """
    message = peer_parse(data)
    groups: list[Group] = []
    split_differs: list[str] = []
    for line in message.data_block.data_lines:
        for s in line.data_sets:
            raw = s.value if s.unit is None else f"{s.value}*{s.unit}"
            groups.append((s.address, raw))
            standard = Value.from_raw(raw)
            if (s.value, s.unit) != (standard.value, standard.unit):
                split_differs.append(f"({raw}) -> value {s.value!r} unit {s.unit!r}")
    return groups, len(groups), split_differs


def compare(truth: list[DataSet], groups: list[Group]) -> dict[str, int]:
    """Count what a parser lost against the ground truth, group by group."""
    expected = truth_groups(truth)
    lost = {"groups missing": max(len(expected) - len(groups), 0)}
    address_lost = raw_wrong = 0
    for (want_addr, want_raw), (got_addr, got_raw) in zip(expected, groups, strict=False):
        if got_raw != want_raw:
            raw_wrong += 1
        if (got_addr or "") != want_addr:
            address_lost += 1
    lost["raw text wrong"] = raw_wrong
    lost["address lost"] = address_lost
    return lost


# -- timing ----------------------------------------------------------------------------------

_clock = time.perf_counter  # --cpu: time.process_time (this process's CPU time)


def best_time(fn: Callable[[bytes], object], data: bytes, repeat: int) -> tuple[float, int]:
    """timeit-style: calibrate a loop of >= 0.2 s, return the best seconds per call."""
    number = 1
    while True:
        t0 = _clock()
        for _ in range(number):
            fn(data)
        if _clock() - t0 >= 0.2:
            break
        number *= 2
    best = float("inf")
    for _ in range(repeat):
        t0 = _clock()
        for _ in range(number):
            fn(data)
        best = min(best, (_clock() - t0) / number)
    return best, number


def framed(lines: list[str]) -> bytes:
    """``STX lines ! CR LF ETX BCC`` with a valid XOR BCC."""
    block = ("".join(line + "\r\n" for line in lines) + "!\r\n").encode("latin-1") + b"\x03"
    bcc = 0
    for byte in block:
        bcc ^= byte
    return b"\x02" + block + bytes((bcc & 0x7F,))


def node_time(modules: str, data: bytes, repeat: int) -> dict[str, Any]:
    """smartmeter-obis on ``data``: best microseconds per readout (after a warm-up)."""
    with tempfile.NamedTemporaryFile(suffix=".bin") as file:
        file.write(data)
        file.flush()
        script = Path(__file__).with_name("bench_parse_node.js")
        out = subprocess.run(
            ["node", str(script), modules, file.name, str(repeat)]
            + (["cpu"] if _clock is time.process_time else []),
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    result: dict[str, Any] = json.loads(out)
    return result


def compare_inputs(modules: str, long_readout: bytes, repeat: int) -> None:
    """Every parser on the same inputs, long and short: microseconds per readout."""
    sys.path.insert(0, str(Path(__file__).parent))
    from bench_gateway import bench_lines  # noqa: PLC0415 - the other bench's readout

    from obisgate.simulator import get_profile  # noqa: PLC0415

    inputs = {
        "320 lines (above)": long_readout,
        "50 lines (bench_gateway)": framed(list(bench_lines())),
        "mt174 (26 lines)": framed(list(get_profile("mt174").lines)),
        "e350 (9 lines)": framed(list(get_profile("e350").lines)),
    }
    print()
    print(
        f"{'input':26} {'bytes':>6} {'obisgate us':>12} {'iec62056-21 us':>15} "
        f"{'smartmeter-obis us':>19} {'vs Python':>10} {'vs Node':>8}"
    )
    for name, data in inputs.items():
        fns: list[Callable[[bytes], object]] = [parse_readout]
        if peer_messages is not None:
            fns.append(peer_parse)
        timed = best_times(fns, data, repeat)
        own = timed[0][0]
        peer = timed[1][0] if len(timed) > 1 else float("nan")
        node = node_time(modules, data, repeat)["us"] / 1e6
        print(
            f"{name:26} {len(data):>6} {own * 1e6:>12.1f} {peer * 1e6:>15.1f} "
            f"{node * 1e6:>19.1f} {peer / own:>9.2f}x {node / own:>7.2f}x"
        )


def best_times(
    fns: list[Callable[[bytes], object]], data: bytes, repeat: int
) -> list[tuple[float, int]]:
    """:func:`best_time` of each function, their repeats interleaved (a shared machine's
    load then weighs on all of them alike)."""
    loops = [best_time(fn, data, 1)[1] for fn in fns]
    best = [float("inf")] * len(fns)
    for _ in range(repeat):
        for i, (fn, number) in enumerate(zip(fns, loops, strict=True)):
            t0 = _clock()
            for _ in range(number):
                fn(data)
            best[i] = min(best[i], (_clock() - t0) / number)
    return list(zip(best, loops, strict=True))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=7, help="timing repeats (best is kept)")
    ap.add_argument("--lines", type=int, default=320, help="data lines in the readout")
    ap.add_argument("--node-peer", metavar="DIR", help="node_modules holding smartmeter-obis")
    ap.add_argument(
        "--cpu",
        action="store_true",
        help="time CPU (process time, Node's too) instead of wall time: steadier on a busy machine",
    )
    args = ap.parse_args(argv)
    if args.cpu:
        global _clock  # noqa: PLW0603 - one switch for every timing function
        _clock = time.process_time

    data, truth = build_readout(args.lines)
    n_groups = sum(len(ds.values) for ds in truth)
    n_lines = data.count(b"\r\n") - 1
    longest = max(len(line) for line in data.split(b"\r\n"))
    print(f"python {sys.version.split()[0]}")
    print(
        f"readout: {len(data)} bytes, {n_lines} data lines (longest {longest} chars), "
        f"{len(truth)} data sets, {n_groups} value groups, "
        f"{sum(1 for ds in truth if len(ds.values) > 1)} sets with several groups, "
        f"{sum(1 for ds in truth if not ds.address)} value-only lines"
    )

    results: dict[str, float] = {}
    own_groups, own_sets, own_unparsed = obisgate_groups(data)
    own_lost = compare(truth, own_groups)
    own_grouping = [len(ds.values) for ds in parse_readout(data).datasets] == [
        len(ds.values) for ds in truth
    ]
    parsers: list[tuple[str, Callable[[bytes], object]]] = [
        ("obisgate.parse_readout", parse_readout)
    ]
    if peer_messages is not None:
        parsers.append(("iec62056_21 ReadoutDataMessage.from_bytes", peer_parse))

    print()
    print(f"{'parser':44} {'readouts/s':>11} {'MB/s':>8} {'us/readout':>11}  loops")
    timed = best_times([fn for _, fn in parsers], data, args.repeat)
    for (name, _fn), (best, number) in zip(parsers, timed, strict=True):
        results[name] = best
        print(
            f"{name:44} {1 / best:11.0f} {len(data) / best / 1e6:8.2f} "
            f"{best * 1e6:11.1f}  {number}x{args.repeat}"
        )

    print()
    print("what each parser kept:")
    own_ok = not any(own_lost.values()) and own_grouping and own_unparsed == 0
    print(
        f"  obisgate: {own_sets} data sets, {len(own_groups)} value groups, "
        f"grouping kept: {own_grouping}, unparsed: {own_unparsed}, "
        f"losses: {own_lost} -> {'LOSSLESS' if own_ok else 'LOSSY'}"
    )
    if peer_messages is not None:
        peer_g, peer_sets, split_differs = peer_groups(data)
        peer_lost = compare(truth, peer_g)
        multi = [ds for ds in truth if len(ds.values) > 1 and ds.address]
        extra = sum(len(ds.values) - 1 for ds in multi)
        value_only = [ds for ds in truth if not ds.address]
        print(
            f"  peer:     {peer_sets} data set objects (one per value group), "
            f"losses: {peer_lost} -> "
            f"{'LOSSLESS' if not any(peer_lost.values()) else 'LOSSY'}"
        )
        sample = peer_parse(data).data_block.data_lines
        demand = next(line for line in sample if line.data_sets[0].address == "1.6.0")
        print(f"    1.6.0 line -> {demand.data_sets!r}")
        print(
            f"    {extra} value groups after the first of {len(multi)} addressed "
            f"multi-group sets: kept, but with address None (cut off from their register)"
        )
        print(
            f"    {len(value_only)} value-only lines: kept, address None "
            f"({sum(len(ds.values) for ds in value_only)} groups)"
        )
        print(f"    value/unit split differs from the standard's: {len(split_differs)}")
        for text in split_differs:
            print(f"      {text}")
        same = len(own_groups) == peer_sets
        print(
            f"  same number of value groups: {same} ({len(own_groups)} vs {peer_sets}); "
            f"data sets: obisgate {own_sets}, truth {len(truth)}"
        )
        own = results["obisgate.parse_readout"]
        peer = results["iec62056_21 ReadoutDataMessage.from_bytes"]
        print()
        print(f"speed ratio obisgate / peer: {peer / own:.2f}x (target >= 3x, lossless)")
    if args.node_peer:
        compare_inputs(args.node_peer, data, args.repeat)
    return 0 if own_ok else 1


if __name__ == "__main__":
    sys.exit(main())
