"""Excel workbooks and CSV pairs: the same tables, cells as text or numbers, located errors."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

import openpyxl
import pytest

from obisgate.gateway.config import ConfigFileError, load_config
from obisgate.gateway.numbers import NumberType

DATA = Path(__file__).parent / "data"

Rows = Sequence[Sequence[object]]


def workbook(path: Path, sheets: dict[str, Rows]) -> Path:
    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(list(row))
    book.save(path)
    return path


DEVICES: Rows = [
    [" Device Alias ", "NAME", "device", "serialnumber", "baudrate", "Enable", "t2", "type"],
    ["m1", "Meter 1", "/dev/ttyUSB0", "00012345", 9600, 1, 300.0, "c"],
    ["m2", "Meter 2", "/dev/ttyUSB0", 12346, None, "", "", None],
]
SIGNALS: Rows = [
    ["device_alias", "signal_alias", "tag_job_todo", "number_type", "value_index", "log"],
    ["m1", "energy", "1.8.0", "FLOAT", 1, 1],
    ["m1", "demand_time", "1.6.0", "DATETIME", 2.0, None],
]


def problems(path: Path) -> list[str]:
    with pytest.raises(ConfigFileError) as info:
        load_config(path)
    return [str(p) for p in info.value.problems]


def test_excel_workbook(tmp_path: Path) -> None:
    path = workbook(
        tmp_path / "plant.xlsx",
        {
            "Notes": [["anything", "at all"]],
            "Signals": SIGNALS,
            "Devices": DEVICES,
            "Signals-2": [
                ["Signal Alias", "Device Alias", "Tag Job Todo", "Number Type"],
                ["serial", "m2", "C.1.0", "string"],
            ],
        },
    )
    config = load_config(path)
    assert [d.device_alias for d in config.devices] == ["m1", "m2"]
    m1, m2 = config.devices
    assert (m1.name, m1.serialnumber, m1.baudrate, m1.t2, m1.type) == (
        "Meter 1",
        "00012345",
        9600,
        300,
        "C",
    )
    # empty cells: defaults
    assert (m2.serialnumber, m2.baudrate, m2.enable, m2.type) == ("12346", 300, True, "C")
    assert [s.key for s in config.signals] == [
        ("m1", "energy"),
        ("m1", "demand_time"),
        ("m2", "serial"),
    ]
    assert config.signals[1].value_index == 2
    assert config.signals[2].number_type is NumberType.STRING
    assert config.storage.path == tmp_path / "obisgate-history.sqlite"
    assert config.warnings == ()


def test_excel_first_empty_row_ends_a_sheet(tmp_path: Path) -> None:
    path = workbook(
        tmp_path / "plant.xlsx",
        {
            "Devices": [*DEVICES, [None, None], ["m3", "Meter 3", "/dev/ttyUSB1"]],
            "Signals": SIGNALS,
        },
    )
    config = load_config(path)
    assert [d.device_alias for d in config.devices] == ["m1", "m2"]
    (warning,) = [w for w in config.warnings if "has no signals" not in w.message]
    assert str(warning) == (
        f"{path}: sheet Devices: rows after the empty row 4 are ignored (row 5 has values)"
    )


def test_excel_errors_name_sheet_row_and_field(tmp_path: Path) -> None:
    path = workbook(
        tmp_path / "bad.xlsx",
        {
            "Devices": [
                ["device_alias", "device", "baudrate", "baud", "databits"],
                ["m1", "/dev/ttyUSB0", 310, 9600, 7],
                ["m1", "/dev/ttyUSB0", 300, None, "seven", "stray"],
            ],
            "Signals": [
                ["device_alias", "signal_alias", "tag_job_todo", "number_type"],
                ["m9", "energy", "1.8.0", "FLOAT"],
            ],
            "signals extra": [
                ["device_alias", "signal_alias", "tag_job_todo", "number_type"],
                ["m1", "e", "1.8.0", "INT"],
            ],
        },
    )
    assert problems(path) == [
        f"{path}: sheet Devices row 1 column D: baud: unknown field 'baud'; "
        "did you mean 'max_baud'?",
        f"{path}: sheet Devices row 3: value in column 6, which has no field name",
        f"{path}: sheet Devices row 2: baudrate: got 310; "
        "allowed: 300, 600, 1200, 2400, 4800, 9600, 19200",
        f"{path}: sheet Devices row 3: databits: got 'seven'; "
        "expected a whole number; allowed: 5, 6, 7, 8",
        f"{path}: sheet Devices row 3: device_alias: 'm1' is already used by sheet Devices row 2",
        f"{path}: sheet Signals row 2: device_alias: no device 'm9'; devices: m1",
        f"{path}: sheet signals extra row 2: number_type: "
        "number type 'INT' is ambiguous: use INT16 or INT32",
    ]


def test_excel_sheets_missing(tmp_path: Path) -> None:
    path = workbook(tmp_path / "x.xlsx", {"Meters": [["a"]]})
    assert problems(path) == [
        f"{path}: no sheet 'Devices' (sheets: Meters)",
        f"{path}: no sheet 'Signals' (sheets: Meters)",
    ]
    path = workbook(tmp_path / "y.xlsx", {"Devices": [], "Signals": SIGNALS})
    assert problems(path)[0] == (
        f"{path}: sheet Devices: sheet is empty: row 1 must hold the field names"
    )


def test_not_a_workbook(tmp_path: Path) -> None:
    path = tmp_path / "broken.xlsx"
    path.write_bytes(b"this is not a zip file")
    (message,) = problems(path)
    assert message.startswith(f"{path}: not a readable Excel workbook")
    old = tmp_path / "old.xls"
    old.write_bytes(b"\xd0\xcf\x11\xe0")
    assert problems(old) == [f"{old}: .xls files are not supported; save as .xlsx"]


# -- CSV ------------------------------------------------------------------------------


def test_csv_directory(tmp_path: Path) -> None:
    config = load_config(DATA / "csvdir")
    m1, m2 = config.devices
    assert (m1.name, m1.serialnumber, m1.baudrate) == ("Meter; one", "00012345", 9600)
    assert (m2.baudrate, m2.enable) == (300, False)
    assert [(s.key, s.value_index, s.log, s.multiply) for s in config.signals] == [
        (("m1", "energy"), 1, 1, 0.5),
        (("m1", "demand"), 1, 0, 1.0),
        (("m2", "energy"), 1, 0, 1.0),
    ]
    assert config.storage.path == DATA / "csvdir" / "obisgate-history.sqlite"


@pytest.mark.parametrize("given", ["Plant1_Devices.csv", "Plant1_Signals.csv"])
def test_csv_pair_by_name(tmp_path: Path, given: str) -> None:
    shutil.copy(DATA / "csvdir" / "devices.csv", tmp_path / "Plant1_Devices.csv")
    shutil.copy(DATA / "csvdir" / "signals.csv", tmp_path / "Plant1_Signals.csv")
    config = load_config(tmp_path / given)
    assert (len(config.devices), len(config.signals)) == (2, 3)
    assert config.storage.path == tmp_path / "obisgate-history.sqlite"


def test_csv_errors_name_file_and_line(tmp_path: Path) -> None:
    devices = tmp_path / "devices.csv"
    signals = tmp_path / "signals.csv"
    devices.write_text(
        "device_alias,device,notes,parity\n"
        'm1,/dev/ttyUSB0,,"EVEN\n'
        'ODD"\n'
        "m2,/dev/ttyUSB0,,X,extra\n",
        encoding="utf-8",
    )
    signals.write_text(
        "\n"
        "device_alias,signal_alias,tag_job_todo,number_type,multiply\n"
        'm2,e,1.8.0,FLOAT,"1,5"\n'
        "m2,f,1.8.0,FLOAT\n",
        encoding="utf-8",
    )
    found = problems(signals)
    assert found[0].startswith(
        f"{devices}:1: column 3: notes: unknown field 'notes'; allowed: allow_write, backfill_chunk, backfill_max_days, baud_change_delay_ms, "
    )
    assert found[1:] == [
        f"{devices}:2: parity: got 'EVEN\\nODD'; allowed: NONE, EVEN, ODD (or N, E, O)",
        f"{devices}:4: value in column 5, which has no field name",
        f"{devices}:4: parity: got 'X'; allowed: NONE, EVEN, ODD (or N, E, O)",
        f"{signals}:3: multiply: got '1,5'; expected a number such as 0.001 or -5 "
        "(decimal point, not comma)",
    ]


def test_csv_pair_problems(tmp_path: Path) -> None:
    lonely = tmp_path / "meters_devices.csv"
    lonely.write_text("device_alias,device\nm1,/dev/x\n", encoding="utf-8")
    assert problems(lonely) == [f"{lonely}: the signals file meters_signals.csv is missing"]
    other = tmp_path / "meters.csv"
    other.write_text("x\n", encoding="utf-8")
    assert "pair of files named *devices*.csv and *signals*.csv" in problems(other)[0]
    empty_dir = tmp_path / "empty"
    empty_dir.mkdir()
    assert problems(empty_dir) == [
        f"{empty_dir}: no devices.csv in this directory",
        f"{empty_dir}: no signals.csv in this directory",
    ]


def test_csv_encoding_and_empty_files(tmp_path: Path) -> None:
    (tmp_path / "devices.csv").write_bytes(b"device_alias,name,device\nm1,Z\xe4hler,/dev/x\n")
    (tmp_path / "signals.csv").write_text("", encoding="utf-8")
    assert problems(tmp_path) == [
        f"{tmp_path / 'devices.csv'}:2: not UTF-8 text (save as 'CSV UTF-8')",
        f"{tmp_path / 'signals.csv'}: empty file: the first line must hold the field names",
    ]


def test_csv_tab_delimited_with_only_headers_for_signals(tmp_path: Path) -> None:
    (tmp_path / "devices.csv").write_text("device_alias\tdevice\nm1\t/dev/x\n", encoding="utf-8")
    (tmp_path / "signals.csv").write_text(
        "device_alias\tsignal_alias\ttag_job_todo\tnumber_type\n", encoding="utf-8"
    )
    config = load_config(tmp_path)
    assert [d.device for d in config.devices] == ["/dev/x"]
    assert config.signals == ()
