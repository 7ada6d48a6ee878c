"""``run --workers``: the configuration checked in its shard parts, in forked children,
says what the whole configuration's load says, and hands each worker its part."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from obisgate.gateway.config import ConfigFileError, load_config, read_config_tables
from obisgate.gateway.config_parts import PartsReport, check_parts, parts_apply
from obisgate.gateway.outputs.registry import OUTPUT_SPECS
from obisgate.gateway.preflight import readiness
from obisgate.gateway.shard import Shard
from obisgate.gateway.shard_parts import PARTS_VARIABLE, read_part
from tests.scale.configs import tcp_config
from tests.scale.test_shard_load import DERIVED, mixed_config, same_part


def checked(path: Path, count: int, folder: Path, at_once: int = 0) -> PartsReport:
    folder.mkdir(exist_ok=True)
    return check_parts(read_config_tables(path), OUTPUT_SPECS, count, folder, at_once=at_once)


@pytest.mark.parametrize(("count", "at_once"), [(2, 0), (3, 2), (5, 0), (2, 1)])
def test_parts_checked_apart_are_the_loaded_parts_and_say_what_the_whole_load_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, count: int, at_once: int
) -> None:
    path = mixed_config(tmp_path)
    # Warnings of every kind: a group without an enabled device, a plain password, a
    # device without signals, a shared bus's serial number given twice.
    text = path.read_text(encoding="utf-8") + "\n[groups.empty]\nmax_sessions = 1\n"
    text = text.replace('"l2m0"\nip', '"l2m0"\npassword = "secret"\nip', 1)
    text += '\n[[devices]]\ndevice_alias = "lonely"\nurl = "tcp://127.0.0.1:29999"\n'
    text += '\n[[devices]]\ndevice_alias = "twin"\ndevice = "/dev/ttyS0"\nserialnumber = "00"\n'
    path.write_text(text, encoding="utf-8")
    whole = load_config(path)
    assert any(w.table == "groups" for w in whole.warnings)
    assert {"password", "serialnumber"} <= {w.field for w in whole.warnings}
    folder = tmp_path / "parts"
    report = checked(path, count, folder, at_once)
    assert report.warnings == whole.warnings
    ready = readiness(whole, workers=count)
    assert (report.ready.problems, sorted(report.ready.warnings)) == (
        ready.problems,
        sorted(ready.warnings),
    )
    kept = []
    for index in range(count):
        shard = Shard(index, count)
        monkeypatch.setenv(PARTS_VARIABLE, str(folder))
        part = read_part(shard)
        assert part is not None
        same_part(part, load_config(path, shard=shard))
        assert part.warnings == ()
        kept += [d.device_alias for d in part.devices]
    assert sorted(kept) == sorted(d.device_alias for d in whole.devices)
    assert sorted(p.name for p in folder.iterdir()) == [
        f"part-{i}-of-{count}.pickle" for i in range(count)
    ]


def bad_configs() -> dict[str, str]:
    base = tcp_config([20000 + i for i in range(20)], [1 + i % 2 for i in range(20)])
    base += DERIVED.format(alias="l0m0", name="sum", source="energy + l9m1.nothing")
    return {
        "fields": base.replace("port = 20003", "port = 99999")
        .replace("port = 20012", 'port = "x"')
        .replace('number_type = "FLOAT"', 'number_type = "FLOATY"', 2)
        .replace("retries = 1", "retries = -1", 1),
        "alias twice": base.replace('"l7m0"', '"l3m0"', 1),
        "no such device": base + DERIVED.format(alias="ghost", name="x", source="1"),
        "signal twice": base + DERIVED.format(alias="l5m1", name="energy", source="2"),
        "no signals": base.replace("\n[[devices]]", "\n[[devices]]\nenable = 0", 40)
        + "\n[groups.g]\nmax_sessions = 0\n",
    }


@pytest.mark.parametrize("name", sorted(bad_configs()))
@pytest.mark.parametrize("count", [2, 3])
def test_problems_found_in_parts_are_the_whole_loads(tmp_path: Path, name: str, count: int) -> None:
    path = tmp_path / "gw.toml"
    path.write_text(bad_configs()[name], encoding="utf-8")
    with pytest.raises(ConfigFileError) as whole:
        load_config(path)
    with pytest.raises(ConfigFileError) as parts:
        checked(path, count, tmp_path / "parts")
    assert parts.value.problems == whole.value.problems
    assert str(parts.value) == str(whole.value)
    assert list((tmp_path / "parts").iterdir()) == []  # nothing for a worker


def test_no_enabled_device_anywhere_is_the_whole_configurations_problem(tmp_path: Path) -> None:
    path = tmp_path / "gw.toml"
    text = tcp_config([20000 + i for i in range(6)], [1] * 6)
    path.write_text(text.replace("\n[[devices]]", "\n[[devices]]\nenable = 0"), encoding="utf-8")
    report = checked(path, 2, tmp_path / "parts")
    assert report.ready.problems == readiness(load_config(path), workers=2).problems
    assert report.ready.problems[0] == "no enabled device in the configuration"


def test_a_part_that_cannot_be_written_is_an_os_error(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    path = mixed_config(tmp_path)
    with pytest.raises(OSError, match="shard 0/2, 1/2"):
        check_parts(read_config_tables(path), OUTPUT_SPECS, 2, tmp_path / "gone")
    assert capfd.readouterr().err.count("No such file or directory") == 2


@pytest.mark.parametrize(
    ("extra", "applies"),
    [
        ("", True),
        ('[mqtt]\nurl = "mqtt://127.0.0.1:1883"\n', True),  # each worker runs its own
        ('[http]\nlisten = "127.0.0.1:0"\n', False),  # the supervisor serves every meter
        ("[modbus]\n", False),
    ],
)
def test_parts_apply_unless_the_supervisor_serves_every_meter(
    tmp_path: Path, extra: str, applies: bool
) -> None:
    path = tmp_path / "gw.toml"
    path.write_text(extra + tcp_config([20000, 20001], [1, 1]), encoding="utf-8")
    assert parts_apply(read_config_tables(path), OUTPUT_SPECS) is applies


def test_shared_columns_or_reading_problems_are_checked_whole(tmp_path: Path) -> None:
    path = tmp_path / "gw.toml"
    text = tcp_config([20000, 20001], [1, 1])
    path.write_text(text + "modbus_address = 100\n", encoding="utf-8")
    assert parts_apply(read_config_tables(path), OUTPUT_SPECS) is False
    path.write_text(text + "colour = 1\n", encoding="utf-8")
    assert parts_apply(read_config_tables(path), OUTPUT_SPECS) is False


def test_a_csv_pair_is_checked_whole(tmp_path: Path) -> None:
    """Its problems are ordered by the file the whole load met first."""
    (tmp_path / "devices.csv").write_text("device_alias,ip,port\nm1,127.0.0.1,20000\n")
    (tmp_path / "signals.csv").write_text(
        "device_alias,signal_alias,tag_job_todo,number_type\nm1,e,1.8.0,FLOAT\n"
    )
    tables = read_config_tables(tmp_path)
    assert not tables.problems
    assert [row.fields["device_alias"] for row in tables.devices] == ["m1"]
    assert parts_apply(tables, OUTPUT_SPECS) is False


def test_run_workers_fails_on_a_bad_configuration_as_run_does(tmp_path: Path) -> None:
    path = tmp_path / "gw.toml"
    path.write_text(bad_configs()["fields"], encoding="utf-8")
    results = [
        subprocess.run(
            [sys.executable, "-m", "obisgate", "run", str(path), "--duration", "1", *workers],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "COLUMNS": "200"},
            check=False,
        )
        for workers in ([], ["--workers", "2"])
    ]
    assert [r.returncode for r in results] == [2, 2]
    assert results[0].stderr.startswith("obisgate: error: ")
    assert results[1].stderr == results[0].stderr
