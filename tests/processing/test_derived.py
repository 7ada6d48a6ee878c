"""Derived signals: name resolution, checks at load, dependency order, quality and time."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest

from obisgate.errors import ExpressionError
from obisgate.gateway.numbers import NumberType
from obisgate.gateway.processing.derived import DerivedSignals, DerivedSpec, find_cycles
from obisgate.gateway.processing.expression import Name, parse
from obisgate.gateway.processing.references import resolve
from obisgate.gateway.processing.specs import Definition, DefinitionProblem, derived_specs
from obisgate.gateway.quality import Quality
from obisgate.gateway.updates import SignalUpdate

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
F = NumberType.DOUBLE
SIGNALS = {
    "m1": {
        "import": F,
        "export": F,
        "power": F,
        "flags": NumberType.UINT16,
        "text": NumberType.STRING,
        "power.l1": F,
    },
    "m2": {"power": F, "l1": F},
    "meter-3": {"1.8.0": F},
    "power": {"l1": F},
}
NAMES = {device: set(signals) for device, signals in SIGNALS.items()}


def name(text: str) -> Name:
    tree = parse(text).tree
    assert isinstance(tree, Name)
    return tree


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("import", ("m1", "import")),
        ("m2.power", ("m2", "power")),
        ("`meter-3:1.8.0`", ("meter-3", "1.8.0")),
        ("`power.l1`", ("m1", "power.l1")),
        ("`text`", ("m1", "text")),
    ],
)
def test_resolve(text: str, key: tuple[str, str]) -> None:
    assert resolve(name(text), "m1", NAMES) == key


@pytest.mark.parametrize(
    ("text", "own", "message"),
    [
        ("imprt", "m1", "no signal 'imprt' on device m1; did you mean 'import'?"),
        ("m9.power", "m1", "no signal 'm9.power' on device m1; did you mean 'power'?"),
        ("`m9:power`", "m1", "no device 'm9'"),
        ("`meter3:1.8.0`", "m1", "no device 'meter3'; did you mean 'meter-3'?"),
        ("m2.pwr", "m1", "no signal 'pwr' on device m2; did you mean 'power'?"),
        (
            "power.l1",
            "m1",
            "'power.l1' is ambiguous: signal 'power.l1' of m1 or signal 'l1' of device power; "
            "write `power.l1` or `power:l1`",
        ),
    ],
)
def test_resolve_errors(text: str, own: str, message: str) -> None:
    with pytest.raises(ExpressionError) as caught:
        resolve(name(text), own, NAMES)
    assert caught.value.reason == message
    assert caught.value.column == 1


def spec_of(**fields: object) -> Definition:
    fields.setdefault("key", ("m1", "d"))
    return Definition(**fields)  # type: ignore[arg-type]


def test_specs_and_their_problems() -> None:
    signals = {**SIGNALS, "m1": {**SIGNALS["m1"], "net": F, "loop_a": F, "loop_b": F, "bad": F}}
    definitions = [
        spec_of(key=("m1", "net"), source="import - export"),
        spec_of(key=("m1", "loop_a"), source="loop_b + 1"),
        spec_of(key=("m1", "loop_b"), source="1 + loop_a"),
        spec_of(key=("m1", "bad"), source="power +  text"),
        spec_of(key=("m2", "total"), operation="sum", sources=("power", "`m1:power`")),
        spec_of(key=("m2", "twice"), operation="sum", sources=("power", "power")),
        spec_of(key=("m2", "nothing"), operation="delta", sources=()),
        spec_of(key=("m2", "two"), operation="rate", sources=("power", "l1")),
        spec_of(key=("m2", "expr"), operation="max", sources=("power + 1",)),
        spec_of(key=("m2", "self"), source="self * 2"),
        spec_of(key=("m2", "op"), operation="mean", sources=("power",)),
    ]
    signals["m2"] = {**signals["m2"], "self": F}
    specs, problems = derived_specs(definitions, signals)
    assert [s.key for s in specs] == [("m1", "net"), ("m2", "total")]
    assert specs[1].sources == (("m2", "power"), ("m1", "power"))
    assert problems == [
        DefinitionProblem(
            ("m1", "bad"),
            "source",
            "column 10: signal m1.text is STRING: expressions compute with numbers",
        ),
        DefinitionProblem(("m2", "twice"), "sources", "'power' is given twice"),
        DefinitionProblem(("m2", "nothing"), "sources", "delta needs sources"),
        DefinitionProblem(("m2", "two"), "sources", "rate takes exactly one source, got 2"),
        DefinitionProblem(("m2", "expr"), "sources", "'power + 1': a source is one signal's name"),
        DefinitionProblem(("m2", "self"), "source", "column 1: a derived signal cannot use itself"),
        DefinitionProblem(
            ("m2", "op"),
            "operation",
            "unknown operation 'mean'; allowed: sum, avg, min, max, median, delta, rate",
        ),
        DefinitionProblem(
            ("m1", "loop_a"), "source", "a cycle: m1.loop_a -> m1.loop_b -> m1.loop_a"
        ),
        DefinitionProblem(
            ("m1", "loop_b"), "source", "a cycle: m1.loop_a -> m1.loop_b -> m1.loop_a"
        ),
    ]


def test_find_cycles_reports_each_once_and_ignores_read_signals() -> None:
    def spec(key: str, *sources: str) -> DerivedSpec:
        return DerivedSpec(key=("d", key), sources=tuple(("d", s) for s in sources), compute=None)

    specs = [
        spec("a", "b", "x"),
        spec("b", "c"),
        spec("c", "a"),
        spec("e", "e"),
        spec("f", "a", "x"),
    ]
    assert find_cycles(specs) == [
        [("d", "a"), ("d", "b"), ("d", "c"), ("d", "a")],
        [("d", "e"), ("d", "e")],
    ]
    with pytest.raises(
        ValueError, match=r"derived signals in a cycle: d\.a -> d\.b -> d\.c -> d\.a"
    ):
        DerivedSignals(specs)


def update(
    device: str,
    signal: str,
    value: object,
    seconds: float = 0,
    quality: Quality = Quality.VALID,
    unit: str | None = "kW",
) -> SignalUpdate:
    return SignalUpdate(
        device, signal, value, unit, T0 + dt.timedelta(seconds=seconds), quality, None, True
    )


def engine(*definitions: Definition) -> DerivedSignals:
    signals = {d: dict(s) for d, s in SIGNALS.items()}
    for definition in definitions:
        signals[definition.key[0]][definition.key[1]] = definition.number_type
    specs, problems = derived_specs(definitions, signals)
    assert not problems
    return DerivedSignals(specs)


def compute_all(derived: DerivedSignals, *updates: SignalUpdate) -> list[SignalUpdate]:
    for u in updates:
        derived.record(u)
    out = []
    for spec in derived.affected((u.device, u.signal) for u in updates):
        result = derived.compute(spec)
        if result is not None:
            derived.record(result.update)
            out.append(result.update)
    return out


def test_dependencies_first_each_once_and_the_newest_time() -> None:
    derived = engine(
        spec_of(key=("m1", "sum2"), source="total * 2", log=True),
        spec_of(key=("m1", "total"), operation="sum", sources=("power", "m2.power")),
    )
    assert compute_all(derived, update("m1", "power", 1.5, 3)) == [
        replace(update("m1", "total", None, 3, Quality.NOT_TOPICAL, None), log=False),
        update("m1", "sum2", None, 3, Quality.NOT_TOPICAL, None),  # m2.power not read yet
    ]
    out = compute_all(derived, update("m2", "power", 2.0, 7))
    assert [(u.signal, u.value, u.quality, u.time, u.unit) for u in out] == [
        ("total", 3.5, Quality.VALID, T0 + dt.timedelta(seconds=7), "kW"),
        ("sum2", 7.0, Quality.VALID, T0 + dt.timedelta(seconds=7), None),
    ]
    assert out[1].log


def test_quality_propagates_whatever_branch_is_taken() -> None:
    derived = engine(spec_of(source="power * -1 if status_bit(flags, 3) else import", log=True))
    good = compute_all(
        derived, update("m1", "power", 2.0), update("m1", "flags", 8), update("m1", "import", 5.0)
    )
    assert (good[-1].value, good[-1].quality) == (-2.0, Quality.VALID)
    # the branch not taken still counts: its source is stale
    stale = compute_all(derived, update("m1", "import", 5.0, 10, Quality.NOT_TOPICAL))
    assert (stale[-1].value, stale[-1].quality) == (-2.0, Quality.NOT_TOPICAL)
    assert not stale[-1].log  # the last value again
    bad = compute_all(derived, update("m1", "flags", None, 20, Quality.OVERFLOW))
    assert (bad[-1].value, bad[-1].quality) == (None, Quality.INVALID | Quality.NOT_TOPICAL)
    assert bad[-1].log


def test_a_failed_evaluation_is_invalid_with_its_reason() -> None:
    derived = engine(spec_of(source="import / export"))
    derived.record(update("m1", "import", 1.0))
    derived.record(update("m1", "export", 0.0))
    (spec,) = derived.affected([("m1", "export")])
    result = derived.compute(spec)
    assert result is not None
    assert (result.update.value, result.update.quality) == (None, Quality.INVALID)
    assert result.error == "division by zero (/)"
    derived.record(update("m1", "export", 1e-320))
    result = derived.compute(spec)
    assert result is not None
    assert (result.update.value, result.update.quality) == (None, Quality.OVERFLOW)
    assert result.error == "inf is not a finite number"


def test_the_result_takes_its_number_type() -> None:
    derived = engine(spec_of(source="import / 2", number_type=NumberType.INT16))
    assert compute_all(derived, update("m1", "import", 8.0))[-1].value == 4
    assert compute_all(derived, update("m1", "import", 7.0))[-1].quality is Quality.INVALID
    assert compute_all(derived, update("m1", "import", 1e6))[-1].quality is Quality.OVERFLOW
    flag = engine(spec_of(source="status_bit(flags, 0)", number_type=NumberType.DIGITAL))
    assert compute_all(flag, update("m1", "flags", 5))[-1].value is True


@pytest.mark.parametrize(
    ("operation", "expected"),
    [("sum", 6.0), ("avg", 2.0), ("min", 1.0), ("max", 3.0), ("median", 2.0)],
)
def test_operations(operation: str, expected: float) -> None:
    derived = engine(
        spec_of(key=("m2", "d"), operation=operation, sources=("power", "l1", "m1.power"))
    )
    out = compute_all(
        derived, update("m2", "power", 3.0), update("m2", "l1", 1.0), update("m1", "power", 2.0)
    )
    assert (out[-1].value, out[-1].unit) == (expected, "kW")
    mixed = compute_all(derived, update("m2", "l1", 1.0, unit="W"))
    assert mixed[-1].unit is None  # no common unit


def test_delta_and_rate_per_hour() -> None:
    derived = engine(
        spec_of(key=("m1", "delta"), operation="delta", sources=("import",)),
        spec_of(key=("m1", "rate"), operation="rate", sources=("import",), unit="kW"),
    )
    first = compute_all(derived, update("m1", "import", 100.0, 0, unit="kWh"))
    assert [(u.value, u.quality) for u in first] == [(None, Quality.NOT_TOPICAL)] * 2
    second = compute_all(derived, update("m1", "import", 100.5, 1800, unit="kWh"))
    assert [(u.signal, u.value, u.unit) for u in second] == [
        ("delta", 0.5, "kWh"),
        ("rate", 1.0, "kW"),
    ]
    assert compute_all(derived, update("m1", "import", 100.5, 1800, unit="kWh")) == []  # not newer
    stale = compute_all(derived, update("m1", "import", 100.5, 3600, Quality.NOT_TOPICAL, "kWh"))
    assert [(u.value, u.quality) for u in stale] == [(None, Quality.NOT_TOPICAL)] * 2
    # the previous valid reading is kept across a failure: the delta covers the gap
    after = compute_all(derived, update("m1", "import", 102.5, 5400, unit="kWh"))
    assert [u.value for u in after] == [2.0, 2.0]
    assert derived.changed_previous == {("m1", "delta"), ("m1", "rate")}
    assert derived.previous[("m1", "rate")] == (102.5, T0 + dt.timedelta(seconds=5400))


def test_restored_previous_readings() -> None:
    derived = engine(spec_of(key=("m1", "delta"), operation="delta", sources=("import",)))
    derived.restore({("m1", "delta"): (90.0, T0), ("m1", "unknown"): (1.0, T0)})
    assert derived.previous == {("m1", "delta"): (90.0, T0)}
    assert compute_all(derived, update("m1", "import", 100.0, 60))[-1].value == 10.0
