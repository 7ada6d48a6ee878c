"""Processing stage benchmark: what guards, derived signals and deadbands cost per readout.

The stage runs on the event loop for every batch the pollers publish, so its cost is
CPU per readout. This feeds it readouts of N simulated three-phase meters (10 signals
each: two energy totals in kWh, three phase powers, three voltages, a status word, a
text) and reports microseconds per readout for:

* ``off``: no configuration (the stage hands batches on unchanged);
* ``totals by unit``: the default of ``obisgate run`` (the two kWh totals guarded);
* ``+ guards``: also ``max_rate`` on both totals and ``min_value`` / ``max_value`` on
  the voltages;
* ``+ derived``: also four derived signals per meter (the sum of the phases, a signed
  power from the status word, net energy, a rate per hour of the import);
* ``+ deadband``: also ``publish = "change"`` with a 1 % deadband on the powers.

It also times the expression language alone: parsing an expression, and evaluating
``power * -1 if status_bit(flags, 3) else power`` and ``sum(l1, l2, l3)``.

Usage: python bench/bench_processing.py [--meters 1000] [--rounds 20]
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from collections.abc import Sequence

from obisgate.gateway.numbers import NumberType
from obisgate.gateway.processing.deadband import PublishRules
from obisgate.gateway.processing.evaluation import compile_expression
from obisgate.gateway.processing.expression import parse
from obisgate.gateway.processing.guards import GuardRules
from obisgate.gateway.processing.specs import Definition, derived_specs
from obisgate.gateway.processing.stage import ProcessingPlan, ProcessingStage
from obisgate.gateway.quality import Quality
from obisgate.gateway.updates import STATUS_SIGNAL, SignalUpdate

T0 = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
READ = [
    ("import", "kWh"),
    ("export", "kWh"),
    ("p1", "kW"),
    ("p2", "kW"),
    ("p3", "kW"),
    ("u1", "V"),
    ("u2", "V"),
    ("u3", "V"),
    ("flags", None),
    ("serial", None),
]


def readout(meter: int, round_: int) -> list[SignalUpdate]:
    """One readout of meter ``meter`` in round ``round_`` (totals grow, powers move)."""
    time = T0 + dt.timedelta(seconds=10 * round_)
    device = f"m{meter}"
    values: dict[str, object] = {
        "import": 1000.0 + round_ * 0.01 + meter,
        "export": 10.0 + round_ * 0.001,
        "p1": 1.0 + (round_ % 7) * 0.1,
        "p2": 2.0 + (round_ % 5) * 0.1,
        "p3": 3.0,
        "u1": 230.0 + round_ % 3,
        "u2": 231.0,
        "u3": 229.0,
        "flags": 8 if round_ % 2 else 0,
        "serial": "12345678",
    }
    updates = [
        SignalUpdate(device, name, values[name], unit, time, Quality.VALID, None, True)
        for name, unit in READ
    ]
    updates.append(SignalUpdate(device, STATUS_SIGNAL, "ok", None, time, Quality.VALID))
    return updates


def plans(meters: int) -> dict[str, ProcessingPlan]:
    devices = [f"m{i}" for i in range(meters)]
    guards = {}
    for d in devices:
        guards[(d, "import")] = GuardRules(max_rate=100)
        guards[(d, "export")] = GuardRules(max_rate=100)
        for u in ("u1", "u2", "u3"):
            guards[(d, u)] = GuardRules(monotonic=False, min_value=180, max_value=260)
    definitions = []
    types: dict[str, dict[str, NumberType]] = {}
    for d in devices:
        types[d] = {name: NumberType.DOUBLE for name, _ in READ}
        types[d]["flags"] = NumberType.UINT16
        types[d]["serial"] = NumberType.STRING
        for key, source, operation, sources in (
            ("power", None, "sum", ("p1", "p2", "p3")),
            ("signed", "power * -1 if status_bit(flags, 3) else power", None, ()),
            ("net", "import - export", None, ()),
            ("rate", None, "rate", ("import",)),
        ):
            types[d][key] = NumberType.DOUBLE
            definitions.append(
                Definition(key=(d, key), source=source, operation=operation, sources=sources)
            )
    specs, problems = derived_specs(definitions, types)
    assert not problems
    derived = frozenset(s.key for s in specs)
    publishing = {
        (d, p): PublishRules(deadband=1, percent=True) for d in devices for p in ("p1", "p2", "p3")
    }
    return {
        "off": ProcessingPlan(),
        "totals by unit": ProcessingPlan(totals_by_unit=True),
        "+ guards": ProcessingPlan(guards=guards, totals_by_unit=True),
        "+ derived": ProcessingPlan(
            guards=guards, totals_by_unit=True, unguarded=derived, derived=tuple(specs)
        ),
        "+ deadband": ProcessingPlan(
            guards=guards,
            totals_by_unit=True,
            unguarded=derived,
            derived=tuple(specs),
            publishing=publishing,
        ),
    }


def run(plan: ProcessingPlan, batches: Sequence[list[SignalUpdate]]) -> tuple[float, int, int]:
    """Seconds to process ``batches``, updates handed on, and updates published."""
    handed = published = 0

    def deliver(out: Sequence[SignalUpdate], every: Sequence[SignalUpdate]) -> None:
        nonlocal handed, published
        handed += len(every)
        published += len(out)

    stage = ProcessingStage(plan, deliver)
    started = time.perf_counter()
    for batch in batches:
        stage.publish(batch)
    return time.perf_counter() - started, handed, published


def expressions(repeat: int) -> None:
    text = "power * -1 if status_bit(flags, 3) else power"
    started = time.perf_counter()
    for _ in range(repeat):
        parse(text)
    parse_us = (time.perf_counter() - started) / repeat * 1e6
    names = {"power": 0, "flags": 1, "l1": 0, "l2": 1, "l3": 2}
    signed = compile_expression(parse(text), lambda n: names[n.text])
    total = compile_expression(parse("sum(l1, l2, l3)"), lambda n: names[n.text])
    values = [2.5, 8, 1.0]
    started = time.perf_counter()
    for _ in range(repeat):
        signed(values)
    signed_us = (time.perf_counter() - started) / repeat * 1e6
    started = time.perf_counter()
    for _ in range(repeat):
        total(values)
    sum_us = (time.perf_counter() - started) / repeat * 1e6
    print(f"parse {text!r}: {parse_us:.1f} us")
    print(f"evaluate it: {signed_us:.2f} us; sum(l1, l2, l3): {sum_us:.2f} us")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meters", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    batches = [readout(m, r) for r in range(args.rounds) for m in range(args.meters)]
    count = len(batches)
    print(f"{args.meters} meters x {args.rounds} readouts, 10 signals + status each")
    print("| stage | us per readout | updates handed on | published |")
    print("|---|---|---|---|")
    baseline = None
    for name, plan in plans(args.meters).items():
        best = min(run(plan, batches)[0] for _ in range(3))
        _, handed, published = run(plan, batches)
        per = best / count * 1e6
        baseline = baseline if baseline is not None else per
        print(f"| {name} | {per:.1f} (+{per - baseline:.1f}) | {handed} | {published} |")
    expressions(100_000)


if __name__ == "__main__":
    main()
