"""Derived signals, guards and publishing in the configuration: fields, located errors, plans."""

from __future__ import annotations

import logging
import textwrap
from pathlib import Path

import openpyxl
import pytest

from obisgate.gateway.build import plans_from_config
from obisgate.gateway.config import ConfigFileError, load_config
from obisgate.gateway.config_cells import Deadband
from obisgate.gateway.numbers import NumberType
from obisgate.gateway.processing.build import processing_plan
from obisgate.gateway.processing.deadband import PublishRules
from obisgate.gateway.processing.guards import GuardRules

DEVICES = """\
[[devices]]
device_alias = "m1"
ip = "127.0.0.1"
port = 4001

[[devices]]
device_alias = "meter-2"
ip = "127.0.0.1"
port = 4002

[[signals]]
device_alias = "m1"
signal_alias = "import"
tag_job_todo = "1.8.0"
number_type = "DOUBLE"

[[signals]]
device_alias = "m1"
signal_alias = "export"
tag_job_todo = "2.8.0"
number_type = "DOUBLE"

[[signals]]
device_alias = "meter-2"
signal_alias = "power"
tag_job_todo = "16.7.0"
number_type = "FLOAT"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gateway.toml"
    path.write_text(DEVICES + textwrap.dedent(text), encoding="utf-8")
    return path


def problems(path: Path) -> list[tuple[int | None, str | None, str]]:
    with pytest.raises(ConfigFileError) as info:
        load_config(path)
    return [(p.line, p.field, p.message) for p in info.value.problems]


def line_of(path: Path, text: str) -> int:
    """The first line of ``path`` that starts with ``text``, from 1."""
    lines = path.read_text().splitlines()
    return next(n for n, line in enumerate(lines, 1) if line.startswith(text))


def test_fields_of_derived_guarded_and_published_signals(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        [[signals]]
        device_alias = "m1"
        signal_alias = "net"
        source = "import - export"
        unit = "kWh"
        log = 1

        [[signals]]
        device_alias = "m1"
        signal_alias = "site"
        operation = "SUM"
        sources = ["m1.net", "`meter-2:power`"]
        number_type = "FLOAT"
        deadband = "2.5%"
        max_value = 1e6
        """,
    )
    config = load_config(path)
    imported, _, power, net, site = config.signals
    assert (net.derived, net.source, net.number_type, net.monotonic) == (
        True,
        "import - export",
        NumberType.DOUBLE,
        False,
    )
    assert net.guard_rules() is None
    assert (site.operation, site.sources, site.processed.publish) == (
        "sum",
        ("m1.net", "`meter-2:power`"),
        "change",
    )
    assert site.processed.deadband == Deadband(2.5, percent=True)
    assert imported.processing is None  # no processing column: nothing kept for it
    assert site.publish_rules() == PublishRules(deadband=2.5, percent=True, max_silence_s=300)
    assert site.guard_rules() == GuardRules(monotonic=False, max_value=1e6)
    assert not imported.derived
    assert imported.guard_rules() is None  # guarded by its unit, if it is a total's
    assert imported.publish_rules() is None
    # derived signals are computed, never read
    plans = plans_from_config(config)
    assert [[s.alias for s in p.signals] for p in plans] == [["import", "export"], ["power"]]
    assert power.key == ("meter-2", "power")


def test_a_cell_lists_sources_and_takes_a_percent(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    devices = book.active
    assert devices is not None
    devices.title = "Devices"
    devices.append(["device_alias", "ip", "port"])
    devices.append(["m1", "127.0.0.1", 4001])
    signals = book.create_sheet("Signals")
    signals.append(
        [
            "device_alias",
            "signal_alias",
            "tag_job_todo",
            "number_type",
            "operation",
            "sources",
            "publish",
            "deadband",
            "monotonic",
            "reset_confirm",
        ]
    )
    signals.append(["m1", "a", "1.8.0", "FLOAT", None, None, None, None, 1, 5])
    signals.append(["m1", "b", "2.8.0", "FLOAT", None, None, "change", 0.5, 0, None])
    signals.append(["m1", "avg", None, None, "avg", "a; b", None, "1 %", None, None])
    path = tmp_path / "gateway.xlsx"
    book.save(path)
    config = load_config(path)
    a, b, avg = config.signals
    assert a.guard_rules() == GuardRules(monotonic=True, reset_confirm=5)
    assert b.guard_rules() is None
    assert b.publish_rules() == PublishRules(deadband=0.5)
    assert (avg.sources, avg.processed.deadband) == (("a", "b"), Deadband(1.0, percent=True))


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        (
            'signal_alias = "x"\nsource = "import -"',
            [
                (
                    "source",
                    "got 'import -'; column 9: expected a number, a signal, a function or '(', but the expression ends",
                )
            ],
        ),
        (
            'signal_alias = "x"\nsource = "imprt - export"',
            [("source", "column 1: no signal 'imprt' on device m1; did you mean 'import'?")],
        ),
        (
            'signal_alias = "x"\nsource = "export + meter-2.power"',
            [
                (
                    "source",
                    "got 'export + meter-2.power'; column 16: malformed number '2.p'; a name "
                    "with '-', or a part starting with a digit, goes in backquotes: "
                    "`meter-2:power`, `1.8.0`",
                )
            ],
        ),
        (
            'signal_alias = "x"\nsource = "x + 1"',
            [("source", "column 1: a derived signal cannot use itself")],
        ),
        (
            'signal_alias = "x"\nnumber_type = "FLOAT"',
            [("tag_job_todo", "required (or source / operation for a derived signal)")],
        ),
        (
            'signal_alias = "x"\nsource = "import"\noperation = "sum"\nsources = ["import"]',
            [
                ("operation", "give either source (an expression) or operation, not both"),
                ("sources", "only with operation (an expression names its sources)"),
            ],
        ),
        ('signal_alias = "x"\noperation = "sum"', [("sources", "required with operation")]),
        (
            'signal_alias = "x"\noperation = "mean"\nsources = ["import"]',
            [("operation", "got 'mean'; allowed: sum, avg, min, max, median, delta, rate")],
        ),
        (
            'signal_alias = "x"\noperation = "rate"\nsources = ["import", "export"]',
            [("sources", "rate takes exactly one source, got 2")],
        ),
        (
            'signal_alias = "x"\noperation = "max"\nsources = "import, , export"',
            [
                (
                    "sources",
                    "got 'import, , export'; expected signal names separated by commas (an empty one is not)",
                )
            ],
        ),
        (
            'signal_alias = "x"\nsource = "import"\ntag_job_todo = "1.8.0"\nread_by = "command"',
            [
                ("tag_job_todo", "not for a derived signal (it is computed, not read)"),
                ("read_by", "not for a derived signal (it is computed, not read)"),
            ],
        ),
        (
            'signal_alias = "x"\nsource = "import"\nprofile_channel = "1.8.0"',
            [("profile_channel", "not for a derived signal (it is computed, not read)")],
        ),
        (
            'signal_alias = "x"\nsource = "import"\nnumber_type = "STRING"',
            [(None, "number_type: a derived signal is a number, not STRING")],
        ),
        (
            'signal_alias = "x"\ntag_job_todo = "C.1"\nnumber_type = "STRING"\nmin_value = 1\nmonotonic = 1',
            [
                (
                    None,
                    "min_value: only for numbers, not STRING; monotonic: only for numbers, not STRING",
                )
            ],
        ),
        (
            'signal_alias = "x"\nsource = "import"\nmin_value = 5\nmax_value = 1',
            [(None, "max_value: below min_value 5")],
        ),
        (
            'signal_alias = "x"\nsource = "import"\npublish = "every"\ndeadband = 1',
            [(None, 'deadband: only with publish = "change"')],
        ),
        (
            'signal_alias = "x"\nsource = "import"\ndeadband = "-1%"',
            [("deadband", "got '-1%'; a deadband is not negative")],
        ),
        (
            'signal_alias = "x"\nsource = "import"\nmax_rate = 0',
            [("max_rate", "got 0; expected a number above 0")],
        ),
        (
            'signal_alias = "x"\nsource = "import"\nreset_confirm = 0',
            [("reset_confirm", "got 0; allowed: 1 to 1000")],
        ),
    ],
)
def test_every_problem_is_located(
    tmp_path: Path, rows: str, expected: list[tuple[str | None, str]]
) -> None:
    path = write(tmp_path, f'\n[[signals]]\ndevice_alias = "m1"\n{rows}\n')
    found = problems(path)
    assert [(field, message) for _, field, message in found] == expected
    lines = path.read_text().splitlines()
    for line, field, _ in found:
        assert line is not None
        if field is not None and f"\n{field} =" in f"\n{rows}":  # the field's own line
            assert lines[line - 1].startswith(field), (line, field)


def test_cycles_and_disabled_sources(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        [[signals]]
        device_alias = "m1"
        signal_alias = "a"
        source = "b + 1"

        [[signals]]
        device_alias = "m1"
        signal_alias = "b"
        operation = "max"
        sources = ["a", "import"]

        [[signals]]
        device_alias = "m1"
        signal_alias = "off"
        tag_job_todo = "3.8.0"
        number_type = "FLOAT"
        enable = 0

        [[signals]]
        device_alias = "m1"
        signal_alias = "c"
        source = "off * 2"

        [[signals]]
        device_alias = "m1"
        signal_alias = "unused"
        source = "off * 2"
        enable = 0
        """,
    )
    assert problems(path) == [
        (line_of(path, 'source = "b + 1"'), "source", "a cycle: m1.a -> m1.b -> m1.a"),
        (line_of(path, "sources = "), "sources", "a cycle: m1.a -> m1.b -> m1.a"),
        (
            line_of(path, 'source = "off * 2"'),
            "source",
            "column 1: signal m1.off is disabled (enable = 0, or its device's): it never updates",
        ),
    ]


def test_a_derived_signal_using_a_broken_row_is_not_blamed(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        [[signals]]
        device_alias = "m1"
        signal_alias = "broken"
        tag_job_todo = "3.8.0"
        number_type = "NOPE"

        [[signals]]
        device_alias = "m1"
        signal_alias = "fine"
        source = "broken * 2"
        """,
    )
    assert [field for _, field, _ in problems(path)] == ["number_type"]


def test_the_processing_plan(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = write(
        tmp_path,
        """
        [[signals]]
        device_alias = "m1"
        signal_alias = "total"
        source = "import + meter-2.power"
        number_type = "FLOAT"

        [[signals]]
        device_alias = "m1"
        signal_alias = "counter"
        tag_job_todo = "C.7.0"
        number_type = "UINT32"
        monotonic = 1
        max_rate = 100

        [[signals]]
        device_alias = "m1"
        signal_alias = "temperature"
        tag_job_todo = "C.8.0"
        number_type = "FLOAT"
        monotonic = 0
        publish = "change"
        """.replace("meter-2.power", "`meter-2:power`"),
    )
    config = load_config(path)
    plan = processing_plan(config, state_file=tmp_path / "state.sqlite")
    assert plan.guards == {("m1", "counter"): GuardRules(monotonic=True, max_rate=100)}
    assert plan.totals_by_unit
    assert plan.unguarded == {("m1", "total"), ("m1", "temperature")}
    assert plan.publishing == {("m1", "temperature"): PublishRules()}
    assert [(s.key, s.sources) for s in plan.derived] == [
        (("m1", "total"), (("m1", "import"), ("meter-2", "power")))
    ]
    assert plan.state_file == tmp_path / "state.sqlite"
    # a shard polling m1 only: the derived signal is its, its source on meter-2 is not
    with caplog.at_level(logging.WARNING):
        shard = processing_plan(config, devices={"m1"})
    assert [s.key for s in shard.derived] == [("m1", "total")]
    assert (
        "m1/total uses meter-2.power, polled by another shard: it stays not topical here"
        in caplog.text
    )
    assert processing_plan(config, devices={"meter-2"}).derived == ()
