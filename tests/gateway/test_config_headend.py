"""Configuration of read plans, schedules and throttle groups: TOML, Excel and CSV."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pytest

from obisgate.gateway.build import plans_from_config
from obisgate.gateway.config import ConfigFileError, load_config
from obisgate.gateway.plan import ListRequest
from obisgate.gateway.schedule import phase_of

DEVICE = """
[[devices]]
device_alias = "m1"
ip = "127.0.0.1"
port = 4001
serialnumber = "71234567"
"""
SIGNAL = """
[[signals]]
device_alias = "m1"
signal_alias = "energy"
tag_job_todo = "1.8.0"
number_type = "FLOAT"
"""


def load(tmp_path: Path, text: str, name: str = "gw.toml") -> object:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return load_config(path)


def problems(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "gw.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigFileError) as info:
        load_config(path)
    return [str(p) for p in info.value.problems]


def test_groups_lists_register_reads_and_signal_rates_in_toml(tmp_path: Path) -> None:
    path = tmp_path / "gw.toml"
    path.write_text(
        """
[groups.converter1]
max_sessions = 2

[groups."cell-7"]
max_sessions = 40
"""
        + DEVICE
        + """group = "converter1"
list_requests = "/2: 1.8.0 2.8.0, 1.6.0; /3: C.1.0"
register_reads = 1

[[devices]]
device_alias = "m2"
ip = "127.0.0.1"
port = 4002
group = "cell-7"
scan_rate_ms = 900000
scan_align = 1
list_requests = { "/4" = ["0.9.1", "0.9.2"] }
"""
        + SIGNAL
        + """scan_rate_ms = 900000

[[signals]]
device_alias = "m1"
signal_alias = "power"
tag_job_todo = "1.7.0"
number_type = "FLOAT"

[[signals]]
device_alias = "m2"
signal_alias = "date"
tag_job_todo = "0.9.2"
number_type = "FLOAT"
""",
        encoding="utf-8",
    )
    config = load_config(path)
    assert [(g.name, g.max_sessions) for g in config.groups] == [
        ("converter1", 2),
        ("cell-7", 40),
    ]
    assert config.max_sessions("converter1") == 2 and config.max_sessions("other") is None
    m1, m2 = plans_from_config(config)
    assert m1.group == "converter1"
    assert m1.lists == (
        ListRequest("/2", frozenset({"1.8.0", "2.8.0", "1.6.0"})),
        ListRequest("/3", frozenset({"C.1.0"})),
    )
    assert m1.registers is not None and m1.programming is None
    assert m1.registers.options.read_command == "R1"
    assert m1.rate_periods == (900.0, 10.0)
    assert m1.phase_s == pytest.approx(phase_of("m1", 10.0))
    assert m2.phase_s is None  # scan_align = 1
    assert m2.lists == (ListRequest("/4", frozenset({"0.9.1", "0.9.2"})),)
    assert m2.registers is None
    assert config.warnings == ()


def test_group_problems_and_warnings_are_located(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """
[groups.a]
maxsessions = 2

[groups.b]
name = "b"
max_sessions = 0

[groups]
c = 5
"""
        + DEVICE
        + SIGNAL,
    )
    # TOML merges [groups] into one table: each problem names its group.
    assert any("[groups.a]" in p and "did you mean 'max_sessions'" in p for p in found)
    assert any("[groups.a]" in p and "max_sessions: required field is missing" in p for p in found)
    assert any("[groups.b]" in p and "name: not a field here" in p for p in found)
    assert any("[groups.b]" in p and "allowed: 1 to 100000" in p for p in found)
    assert any("groups.c must be a table" in p for p in found)
    config = load(
        tmp_path,
        "[groups.unused]\nmax_sessions = 1\n" + DEVICE + 'group = "typo"\n' + SIGNAL,
    )
    warnings = [str(w) for w in config.warnings]  # type: ignore[attr-defined]
    assert any(
        "group: group 'typo' has no [groups.typo] entry: no session limit" in w for w in warnings
    )
    assert any("[groups.unused]" in w and "no enabled device is in group" in w for w in warnings)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ('"/2 1.8.0"', "expected a request start, ':' and its addresses"),
        ('"/?: 1.8.0"', "/? is the readout itself, not a list"),
        ('"/2: 1.8.0; /2: 2.8.0"', "/2 is given twice"),
        ('"/2:"', "/2: no addresses"),
        ('"/2: 1.8.0(1)"', "no ( )"),
        ('"2: 1.8.0"', "must start with '/'"),
    ],
)
def test_bad_lists_are_refused(tmp_path: Path, value: str, message: str) -> None:
    found = problems(tmp_path, DEVICE + f"list_requests = {value}\n" + SIGNAL)
    assert any("list_requests" in p and message in p for p in found), found


def test_plans_belong_to_meters_read_by_request(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        DEVICE
        + 'request_start = "/2"\nlist_requests = "/2: 1.8.0"\n'
        + """
[[devices]]
device_alias = "push"
device = "/dev/ttyUSB9"
type = "D"
register_reads = 1
"""
        + SIGNAL
        + """
[[signals]]
device_alias = "push"
signal_alias = "energy"
tag_job_todo = "1.8.0"
number_type = "FLOAT"
scan_rate_ms = 1000
""",
    )
    assert any("/2 is this device's readout request" in p for p in found)
    assert any("register_reads is for D0 meters read by request" in p for p in found)
    assert any("no scan rate per signal" in p for p in found)


def test_groups_from_a_workbook_and_from_csv(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, rows in {
        "Devices": [["device_alias", "ip", "port", "group"], ["m1", "127.0.0.1", 4001, "pool"]],
        "Signals": [
            ["device_alias", "signal_alias", "tag_job_todo", "number_type", "scan_rate_ms"],
            ["m1", "energy", "1.8.0", "FLOAT", 60000],
        ],
        "Groups": [["name", "max_sessions"], ["pool", 3]],
    }.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
    book.save(tmp_path / "plant.xlsx")
    config = load_config(tmp_path / "plant.xlsx")
    assert [(g.name, g.max_sessions) for g in config.groups] == [("pool", 3)]
    assert config.signals[0].scan_rate_ms == 60000
    folder = tmp_path / "csv"
    folder.mkdir()
    (folder / "devices.csv").write_text(
        "device_alias,ip,port,group\nm1,127.0.0.1,4001,pool\n", encoding="utf-8"
    )
    (folder / "signals.csv").write_text(
        "device_alias,signal_alias,tag_job_todo,number_type\nm1,energy,1.8.0,FLOAT\n",
        encoding="utf-8",
    )
    (folder / "groups.csv").write_text("name;max_sessions\npool;4\nother;x\n", encoding="utf-8")
    with pytest.raises(ConfigFileError) as info:
        load_config(folder)
    (problem,) = info.value.problems
    assert "groups.csv:3" in str(problem) and "max_sessions" in str(problem)
    (folder / "groups.csv").write_text("name;max_sessions\npool;4\n", encoding="utf-8")
    assert [(g.name, g.max_sessions) for g in load_config(folder).groups] == [("pool", 4)]


def test_a_recipe_named_in_meter_model_gives_lists_and_register_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    recipes = tmp_path / "recipes.toml"
    recipes.write_text(
        """
[[recipe]]
name = "site-meter"
manufacturer = "ABC"
title = "our meters answer /2! with a short list and read registers"
source = "the site's commissioning notes"
settings = { list_requests = "/2: 1.8.0 2.8.0", register_reads = true }
""",
        encoding="utf-8",
    )
    monkeypatch.setenv("OBISGATE_RECIPES", str(recipes))
    config = load(tmp_path, DEVICE + 'meter_model = "site-meter"\n' + SIGNAL)
    (plan,) = plans_from_config(config)  # type: ignore[arg-type]
    assert plan.lists == (ListRequest("/2", frozenset({"1.8.0", "2.8.0"})),)
    assert plan.registers is not None
    # The device's own fields win over the recipe's.
    config = load(
        tmp_path, DEVICE + 'meter_model = "site-meter"\nlist_requests = "/3: C.1.0"\n' + SIGNAL
    )
    (plan,) = plans_from_config(config)  # type: ignore[arg-type]
    assert plan.lists == (ListRequest("/3", frozenset({"C.1.0"})),)


def test_meters_share_their_line_strings_and_equal_signal_plans(tmp_path: Path) -> None:
    # Memory at 50 000 meters: one string per line, not two per meter; one tuple of
    # signal plans for meters that read the same signals.
    path = tmp_path / "bus.toml"
    path.write_text(
        "".join(
            f'[[devices]]\ndevice_alias = "m{i}"\nip = "10.0.0.{1 + i // 2}"\nport = 4001\n'
            f'serialnumber = "{100 + i}"\n[[signals]]\ndevice_alias = "m{i}"\n'
            'signal_alias = "energy"\ntag_job_todo = "1.8.0"\nnumber_type = "FLOAT"\n'
            for i in range(4)
        ),
        encoding="utf-8",
    )
    m0, m1, m2, m3 = plans_from_config(load_config(path))
    assert (m0.url, m0.port_key, m2.url) == ("tcp://10.0.0.1:4001",) * 2 + ("tcp://10.0.0.2:4001",)
    assert m0.url is m0.port_key is m1.url is m1.port_key
    assert m2.port_key is m3.port_key and m2.port_key is not m0.port_key
    assert len(m0.signals) == 1 and m0.signals is m1.signals is m3.signals
