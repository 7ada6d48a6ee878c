"""``obisgate check`` and ``obisgate history``."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from obisgate.cli import main
from obisgate.gateway.history import HistoryRecord, HistoryStore
from obisgate.gateway.quality import Quality

DATA = Path(__file__).parent / "data"
T0 = dt.datetime(2025, 11, 18, 9, 30, tzinfo=dt.UTC)


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def test_check_ok_prints_warnings_counts_and_outputs(tmp_path: Path) -> None:
    config = tmp_path / "full.toml"
    config.write_text((DATA / "full.toml").read_text("utf-8"), "utf-8")
    (tmp_path / "history").mkdir()  # its [storage] path is history/plant.sqlite
    code, out, err = run("check", str(config))
    assert code == 0
    assert out.splitlines() == [
        "ok: 5 devices, 5 signals",
        "outputs besides the printed updates:",
        f"  history  {tmp_path / 'history' / 'plant.sqlite'} (2 logged signals)",
    ]
    lines = err.splitlines()
    assert len(lines) == 6
    assert all(line.startswith(f"obisgate: warning: {config}:") for line in lines)
    idle = [line.split(": ", 4)[4] for line in lines if "has no signals" in line]
    assert idle == [
        "device bus-a has no signals: it is polled for its _status alone",
        "device tcp-meter has no signals: it is polled for its _status alone",
    ]
    assert "hunter2" not in out + err


def test_check_reports_every_problem_without_traceback(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(
        textwrap.dedent(
            """\
            [[devices]]
            device_alias = "m1"
            device = "/dev/ttyUSB0"
            baudrate = 310
            password = "hunter2"

            [[signals]]
            device_alias = "m2"
            signal_alias = "e"
            tag_job_todo = "1.8.0"
            number_type = "FLOAT"
            """
        ),
        encoding="utf-8",
    )
    code, out, err = run("check", str(path))
    assert code == 1
    assert out == ""
    assert err.splitlines() == [
        f"{path}:4: devices[0]: baudrate: got 310; allowed: 300, 600, 1200, 2400, 4800, 9600, 19200",
        f"{path}:8: signals[0]: device_alias: no device 'm2'; devices: m1",
        f"obisgate: error: 2 problems in {path}",
    ]
    assert "Traceback" not in err
    assert "hunter2" not in err


EXTRAS_CONFIG = """\
[mqtt]
url = "mqtt://127.0.0.1:1883"

[modbus]
listen = "127.0.0.1:0"

[opcua]
listen = "127.0.0.1:0"

[[devices]]
device_alias = "m1"
url = "tcp://127.0.0.1:1"

[[signals]]
device_alias = "m1"
signal_alias = "e"
tag_job_todo = "1.8.0"
number_type = "FLOAT"
"""


def missing(module: str, extra: str, section: str) -> str:
    return (
        f"[{section}] needs the optional extra {extra} ({module} is not installed): "
        f"pip install '.[{extra}]' in obisgate's source folder"
    )


def test_check_and_run_list_every_missing_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for module in ("aiomqtt", "asyncua"):
        monkeypatch.setitem(sys.modules, module, None)  # as if it were not installed
    path = tmp_path / "site.toml"
    path.write_text(EXTRAS_CONFIG, encoding="utf-8")
    code, out, err = run("check", str(path))
    assert (code, out) == (1, "")
    assert err.splitlines() == [
        f"{path}: {missing('aiomqtt', 'mqtt', 'mqtt')}",
        f"{path}: {missing('asyncua', 'opcua', 'opcua')}",
        f"obisgate: error: 2 problems in {path}",
    ]
    code, out, err = run("run", str(path), "--format", "none", "--duration", "1")
    assert code == 2
    assert err.splitlines() == [
        f"obisgate: error: {missing('aiomqtt', 'mqtt', 'mqtt')}",
        f"obisgate: error: {missing('asyncua', 'opcua', 'opcua')}",
    ]


def test_check_missing_file(tmp_path: Path) -> None:
    code, _, err = run("check", str(tmp_path / "nope.toml"))
    assert code == 1
    assert err.splitlines()[0] == f"{tmp_path / 'nope.toml'}: no such file or directory"


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "h.sqlite"
    with HistoryStore(path) as store:
        store.append(
            [
                HistoryRecord("m1", "energy", T0, 147238.4, "kWh"),
                HistoryRecord("m1", "energy", T0 + dt.timedelta(minutes=1), 147238.5, "kWh"),
                HistoryRecord(
                    "m1", "energy", T0 + dt.timedelta(minutes=2), None, "kWh", Quality.INVALID
                ),
                HistoryRecord("m1", "clock", T0, dt.time(9, 32, 15)),
            ]
        )
    return path


def test_history_table(db: Path) -> None:
    code, out, _ = run("history", "m1", "energy", "--db", str(db))
    assert code == 0
    assert out.splitlines() == [
        "time (UTC)               value     unit  quality",
        "2025-11-18 09:30:00.000  147238.4  kWh   valid",
        "2025-11-18 09:31:00.000  147238.5  kWh   valid",
        "2025-11-18 09:32:00.000            kWh   invalid",
    ]


def test_history_csv_with_range(db: Path) -> None:
    code, out, _ = run(
        "history", "m1", "energy", "--db", str(db), "--format", "csv",
        "--from", "2025-11-18T10:31:00+01:00", "--to", "2025-11-18T09:32:00",
    )  # fmt: skip
    assert code == 0
    assert list(csv.reader(io.StringIO(out))) == [
        ["time", "value", "unit", "quality"],
        ["2025-11-18T09:31:00+00:00", "147238.5", "kWh", "valid"],
    ]


def test_history_json_limit_takes_the_newest(db: Path) -> None:
    code, out, _ = run(
        "history", "m1", "energy", "--db", str(db), "--format", "json", "--limit", "2"
    )
    assert code == 0
    assert json.loads(out) == [
        {
            "time": "2025-11-18T09:31:00+00:00",
            "value": 147238.5,
            "unit": "kWh",
            "quality": ["valid"],
        },
        {"time": "2025-11-18T09:32:00+00:00", "value": None, "unit": "kWh", "quality": ["invalid"]},
    ]
    code, out, _ = run("history", "m1", "clock", "--db", str(db), "--format", "json")
    assert json.loads(out)[0]["value"] == "09:32:15"


def test_history_through_the_config(tmp_path: Path, db: Path) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text(
        textwrap.dedent(
            """\
            [storage]
            path = "h.sqlite"

            [[devices]]
            device_alias = "m1"
            device = "/dev/ttyUSB0"

            [[signals]]
            device_alias = "m1"
            signal_alias = "voltage"
            tag_job_todo = "32.7.0"
            number_type = "FLOAT"
            """
        ),
        encoding="utf-8",
    )
    code, out, _ = run("history", "m1", "energy", "--config", str(config), "--limit", "1")
    assert (code, out.splitlines()[1:]) == (0, ["2025-11-18 09:32:00.000         kWh   invalid"])
    code, out, err = run("history", "m1", "voltage", "--config", str(config))
    assert code == 1
    assert err == f"obisgate: error: no history for m1/voltage in {db} (its log is 0 in {config})\n"
    code, _, err = run("history", "m1", "nothing", "--config", str(config))
    assert code == 1
    assert f"({config} has no signal 'nothing' on device 'm1')" in err


def test_history_through_the_config_reads_every_shards_file(tmp_path: Path) -> None:
    """After ``run --workers 2`` the history is in h-shard0 and h-shard1 (a device's rows in
    both when its line moved): --config reads them all, merged by time."""
    for shard, minutes in ((1, (0, 2)), (0, (1, 3))):
        with HistoryStore(tmp_path / f"h-shard{shard}.sqlite") as store:
            store.append(
                [
                    HistoryRecord("m1", "energy", T0 + dt.timedelta(minutes=m), 100.0 + m, "kWh")
                    for m in minutes
                ]
            )
    config = tmp_path / "gateway.toml"
    config.write_text(
        '[storage]\npath = "h.sqlite"\n[[devices]]\ndevice_alias = "m1"\n'
        'device = "/dev/ttyUSB0"\n[[signals]]\ndevice_alias = "m1"\nsignal_alias = "energy"\n'
        'tag_job_todo = "1.8.0"\nnumber_type = "FLOAT"\nlog = 1\n',
        encoding="utf-8",
    )
    code, out, _ = run("history", "m1", "energy", "--config", str(config), "--format", "csv")
    assert code == 0
    assert [row[1] for row in csv.reader(io.StringIO(out))][1:] == [
        "100.0",
        "101.0",
        "102.0",
        "103.0",
    ]
    code, out, _ = run(
        "history", "m1", "energy", "--config", str(config), "--format", "csv", "--limit", "3"
    )
    assert [row[1] for row in csv.reader(io.StringIO(out))][1:] == ["101.0", "102.0", "103.0"]
    # --db names one file: only that one.
    code, out, _ = run("history", "m1", "energy", "--db", str(tmp_path / "h-shard1.sqlite"))
    assert code == 0
    assert len(out.splitlines()) == 3


def test_history_errors(tmp_path: Path, db: Path) -> None:
    code, _, err = run("history", "m1", "energy")
    assert code == 2 and "give either --config or --db" in err
    code, _, err = run("history", "m1", "energy", "--db", str(db), "--config", "x.toml")
    assert code == 2 and "give either --config or --db" in err
    code, _, err = run("history", "m1", "energy", "--db", str(tmp_path / "none.sqlite"))
    assert code == 2 and "no history database at" in err
    assert not (tmp_path / "none.sqlite").exists()
    code, _, err = run("history", "m1", "energy", "--db", str(db), "--from", "yesterday")
    assert code == 2 and "expected ISO 8601" in err
    code, _, err = run("history", "m1", "energy", "--db", str(db), "--limit", "-1")
    assert code == 2
    bad = tmp_path / "bad.toml"
    bad.write_text("[[devices]]\n", encoding="utf-8")
    code, _, err = run("history", "m1", "energy", "--config", str(bad))
    assert code == 2 and "device_alias: required field is missing" in err


@pytest.mark.parametrize(
    "selection",
    [
        ["--from", "2030-01-01", "--to", "2030-01-02"],  # a range with no rows
        ["--limit", "0"],
    ],
)
@pytest.mark.parametrize("fmt", ["table", "csv", "json"])
def test_history_empty_selection_says_so(db: Path, selection: list[str], fmt: str) -> None:
    code, out, err = run("history", "m1", "energy", "--db", str(db), "--format", fmt, *selection)
    assert code == 0
    assert "Traceback" not in out + err
    if fmt == "table":
        assert out.split() == ["time", "(UTC)", "value", "unit", "quality"]
        assert err == "obisgate: no values of m1/energy in this selection\n"
    elif fmt == "csv":
        assert out == "time,value,unit,quality\n"
    else:
        assert json.loads(out) == []


def test_history_from_after_to_is_a_usage_error(db: Path) -> None:
    code, out, err = run(
        "history", "m1", "energy", "--db", str(db), "--from", "2026-01-02", "--to", "2026-01-01"
    )
    assert (code, out) == (2, "")
    assert err.startswith(
        "obisgate: error: Invalid value for '--from': 2026-01-02T00:00:00+00:00 is after --to"
    )


def test_history_with_a_missing_config_is_one_error_line(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    code, out, err = run("history", "m1", "energy", "--config", str(missing))
    assert (code, out) == (2, "")
    assert err == f"obisgate: error: {missing}: no such file or directory\n"
