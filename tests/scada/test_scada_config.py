"""[modbus] / [iec104] sections and the SCADA signal columns in TOML, Excel and CSV."""

from __future__ import annotations

import ipaddress
import sys
import textwrap
from pathlib import Path

import openpyxl
import pytest

from obisgate.errors import ConfigError
from obisgate.gateway.config import ConfigFileError, load_config
from obisgate.gateway.outputs.context import OutputContext
from obisgate.gateway.outputs.factory import network_outputs
from obisgate.gateway.outputs.iec104.config import Iec104Columns, iec104_type_of
from obisgate.gateway.outputs.iec104.spec import IEC104
from obisgate.gateway.outputs.modbus.config import ModbusColumns, modbus_type_of
from obisgate.gateway.outputs.modbus.spec import MODBUS
from obisgate.gateway.outputs.opcua.spec import OPCUA

DEVICE = """\
[[devices]]
device_alias = "m1"
url = "tcp://127.0.0.1:1"
"""


def signal(alias: str, ntype: str, **columns: object) -> str:
    lines = [
        "[[signals]]",
        'device_alias = "m1"',
        f'signal_alias = "{alias}"',
        'tag_job_todo = "1.8.0"',
        f'number_type = "{ntype}"',
    ]
    lines += [f"{k} = {v!r}".replace("'", '"') for k, v in columns.items()]
    return "\n".join(lines) + "\n"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gw.toml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def problems_of(path: Path) -> list[tuple[str | None, str | None, str]]:
    with pytest.raises(ConfigFileError) as info:
        load_config(path)
    return [(p.place, p.field, p.message) for p in info.value.problems]


def test_sections_get_their_defaults(tmp_path: Path) -> None:
    config = load_config(
        write(
            tmp_path,
            "[modbus]\n[iec104]\n"
            + DEVICE
            + signal("energy", "FLOAT", modbus_address=0, ioa=1)
            + signal("count", "UINT32", modbus_address=2, ioa=2)
            + signal("flag", "DIGITAL", modbus_address=4, ioa=3)
            + signal("big", "HEX", modbus_address=5, ioa=4, iec104_type="m_it_tb_1"),
        )
    )
    modbus, iec104 = config.section(MODBUS), config.section(IEC104)
    assert modbus is not None
    assert iec104 is not None
    assert (modbus.listen, modbus.unit_id, modbus.word_order, modbus.byte_order) == (
        "127.0.0.1:5020", 1, "big", "big",
    )  # fmt: skip
    assert (iec104.listen, iec104.common_address, iec104.max_connections) == (
        "127.0.0.1:2404", 1, 4,
    )  # fmt: skip
    assert (iec104.t1, iec104.t2, iec104.t3, iec104.k, iec104.w) == (None,) * 5
    assert [modbus_type_of(s) for s in config.signals] == ["float32", "uint32", "uint16", "uint64"]
    assert [iec104_type_of(s) for s in config.signals] == [
        "M_ME_TF_1", "M_ME_TF_1", "M_SP_TB_1", "M_IT_TB_1",
    ]  # fmt: skip


def test_section_fields(tmp_path: Path) -> None:
    config = load_config(
        write(
            tmp_path,
            textwrap.dedent("""\
                [modbus]
                listen = "[::1]:0"
                unit_id = 17
                word_order = "Little"
                byte_order = "LITTLE"
                [iec104]
                listen = "0.0.0.0:2405"
                common_address = 47
                max_connections = 2
                allowed_clients = "10.0.0.5, 192.168.1.0/24"
                t1 = 30
                t2 = 20
                t3 = 60
                k = 24
                w = 16
            """)
            + DEVICE,
        )
    )
    modbus = config.section(MODBUS)
    assert modbus is not None
    assert (modbus.listen, modbus.unit_id) == ("[::1]:0", 17)
    assert (modbus.word_order, modbus.byte_order) == (
        "little",
        "little",
    )
    iec = config.section(IEC104)
    assert iec is not None
    assert iec.allowed_clients == (
        ipaddress.ip_network("10.0.0.5"),
        ipaddress.ip_network("192.168.1.0/24"),
    )
    assert (iec.t1, iec.t2, iec.t3, iec.k, iec.w) == (30, 20, 60, 24, 16)
    assert iec.allows("10.0.0.5")
    assert iec.allows("192.168.1.77")
    assert not iec.allows("127.0.0.1")
    assert not iec.allows("10.0.0.6")


def test_client_addresses_default_to_loopback_unless_allow_any(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "[iec104]\n" + DEVICE))
    iec104 = config.section(IEC104)
    assert iec104 is not None
    assert iec104.allows("127.0.0.1")
    assert iec104.allows("::1")
    assert not iec104.allows("10.0.0.1")
    config = load_config(write(tmp_path, "[iec104]\nallow_any = 1\n" + DEVICE))
    iec104 = config.section(IEC104)
    assert iec104 is not None
    assert iec104.allows("10.0.0.1")


def test_bad_section_fields_are_located(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        textwrap.dedent("""\
            [modbus]
            listen = "localhost"
            unit_id = 300
            word_order = "middle"
            [iec104]
            common_address = 0
            allowed_clients = ["10.0.0.1", "nonsense"]
            max_connections = 0
        """)
        + DEVICE,
    )
    got = problems_of(path)
    fields = [(place, field) for place, field, _ in got]
    assert fields == [
        ("[modbus]", "listen"),
        ("[modbus]", "unit_id"),
        ("[modbus]", "word_order"),
        ("[iec104]", "common_address"),
        ("[iec104]", "allowed_clients"),
        ("[iec104]", "max_connections"),
    ]
    assert "HOST:PORT" in got[0][2]
    assert "'nonsense' is not an IP address" in got[4][2]


def test_protocol_parameters_are_checked_together(tmp_path: Path) -> None:
    got = problems_of(write(tmp_path, "[iec104]\nt2 = 15\nk = 4\nw = 8\n" + DEVICE))
    assert got == [("[iec104]", None, "t2 (15 s) must be less than t1 (15 s)")]
    got = problems_of(write(tmp_path, "[iec104]\nk = 4\n" + DEVICE))
    assert got == [("[iec104]", None, "w (8) must not exceed k (4)")]


def test_every_map_problem_at_once(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "[modbus]\n[iec104]\n"
        + DEVICE
        + signal("a", "FLOAT", modbus_address=10, modbus_quality_address=100, ioa=5)
        + signal("b", "DOUBLE", modbus_address=11, modbus_type="float64", ioa=5)
        + signal("c", "INT32", modbus_address=65534, modbus_type="int64")
        + signal("d", "INT16", modbus_address=200, modbus_quality_address=100)
        + signal("e", "FLOAT", modbus_address=300, modbus_type="int32")
        + signal("f", "STRING", modbus_address=400, ioa=6)
        + signal("g", "FLOAT", ioa=7, iec104_type="M_SP_TB_1")
        + signal("h", "DIGITAL", ioa=8, iec104_type="M_IT_TB_1")
        + signal("i", "INT16", modbus_address=99, modbus_quality_address=99),
    )
    assert problems_of(path) == [
        ("signals[1]", "modbus_address",
         "registers 11-14 overlap m1/a modbus_address"),
        ("signals[1]", "ioa", "ioa 5 is already used by m1/a"),
        ("signals[2]", "modbus_address", "registers 65534-65537 run past 65535"),
        ("signals[3]", "modbus_quality_address",
         "register 100 overlaps m1/a modbus_quality_address"),
        ("signals[4]", "modbus_type",
         "int32 holds whole numbers: give modbus_scale (e.g. 1000 for Wh from kWh; 1 rounds "
         "the FLOAT value)"),
        ("signals[5]", "modbus_address",
         "a STRING signal cannot be served over Modbus (numbers, HEX and DIGITAL only)"),
        ("signals[5]", "ioa",
         "a STRING signal cannot be served over IEC 104 (numbers, HEX and DIGITAL only)"),
        ("signals[6]", "iec104_type",
         "M_SP_TB_1 cannot carry FLOAT values; allowed: M_ME_TF_1, M_ME_NC_1, M_IT_TB_1"),
        ("signals[7]", "iec104_type",
         "M_IT_TB_1 cannot carry DIGITAL values; allowed: M_SP_TB_1, M_ME_TF_1, M_ME_NC_1"),
        ("signals[8]", "modbus_quality_address",
         "register 99 overlaps m1/i modbus_address"),
    ]  # fmt: skip


def test_cell_validators(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        DEVICE
        + signal("a", "FLOAT", modbus_address=65536, modbus_type="real", ioa=0)
        + signal("b", "FLOAT", iec104_type="M_XX_1", iec104_scale="x"),
    )
    got = problems_of(path)
    assert [(place, field) for place, field, _ in got] == [
        ("signals[0]", "modbus_address"),
        ("signals[0]", "modbus_type"),
        ("signals[0]", "ioa"),
        ("signals[1]", "iec104_type"),
        ("signals[1]", "iec104_scale"),
    ]


def test_excel_columns_are_checked_without_sections(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    book.remove(book.active)
    devices = book.create_sheet("Devices")
    devices.append(["device_alias", "url"])
    devices.append(["m1", "tcp://127.0.0.1:1"])
    signals = book.create_sheet("Signals")
    signals.append(
        ["device_alias", "signal_alias", "tag_job_todo", "number_type", "Modbus Address",
         "Modbus Type", "IOA", "IEC104 Type", "IEC104 Scale"]
    )  # fmt: skip
    signals.append(["m1", "energy", "1.8.0", "FLOAT", 0, "float64", 1, "M_ME_NC_1", None])
    signals.append(["m1", "count", "1.8.0", "UINT32", "2", None, 1.0, "m_it_tb_1", 1000])
    signals.append(["m1", "bad", "1.8.0", "UINT32", 9, "word", None, None, None])
    path = tmp_path / "plant.xlsx"
    book.save(path)
    got = problems_of(path)
    assert got == [
        ("sheet Signals row 4", "modbus_type",
         "got 'word'; allowed: float32, float64, int16, uint16, int32, uint32, int64, uint64"),
        ("sheet Signals row 3", "modbus_address", "registers 2-3 overlap m1/energy modbus_address"),
        ("sheet Signals row 3", "ioa", "ioa 1 is already used by m1/energy"),
    ]  # fmt: skip
    signals.delete_rows(4)
    signals["G3"] = 2
    signals["E3"] = 4
    book.save(path)
    config = load_config(path)
    count = config.signals[1]
    modbus_columns, iec104_columns = count.columns(ModbusColumns), count.columns(Iec104Columns)
    assert (
        modbus_columns.modbus_address, iec104_columns.ioa, iec104_columns.iec104_type,
        iec104_columns.iec104_scale,
    ) == (4, 2, "M_IT_TB_1", 1000.0)  # fmt: skip


def test_csv_columns(tmp_path: Path) -> None:
    (tmp_path / "devices.csv").write_text("device_alias;url\nm1;tcp://127.0.0.1:1\n")
    (tmp_path / "signals.csv").write_text(
        "device_alias;signal_alias;tag_job_todo;number_type;modbus_address;"
        "modbus_quality_address;ioa\n"
        "m1;a;1.8.0;INT64;10;20;7\n"
        "m1;b;1.8.0;INT16;13;;7\n"
    )
    got = [(p.line, p.field, p.message) for p in _problems(tmp_path)]
    assert got == [
        (3, "modbus_address", "register 13 overlaps m1/a modbus_address"),
        (3, "ioa", "ioa 7 is already used by m1/a"),
    ]


def _problems(path: Path) -> list:  # type: ignore[type-arg]
    with pytest.raises(ConfigFileError) as info:
        load_config(path)
    return list(info.value.problems)


def test_modbus_and_iec104_need_no_library(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = load_config(write(tmp_path, "[modbus]\n[iec104]\n" + DEVICE))
    monkeypatch.setitem(sys.modules, "pymodbus", None)
    monkeypatch.setitem(sys.modules, "c104", None)
    assert [o.name for o in network_outputs(config, OutputContext())] == ["modbus", "iec104"]


@pytest.mark.parametrize(("section", "module", "extra"), [("opcua", "asyncua", "opcua")])
def test_a_missing_extra_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, section: str, module: str, extra: str
) -> None:
    config = load_config(write(tmp_path, f"[{section}]\n" + DEVICE))
    monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(ConfigError) as info:
        network_outputs(config, OutputContext())
    assert f"pip install '.[{extra}]'" in str(info.value)
    assert "\n" not in str(info.value)


def test_opcua_section(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "[opcua]\n" + DEVICE))
    opcua = config.section(OPCUA)
    assert opcua is not None
    assert opcua.listen == "127.0.0.1:4840"
    got = problems_of(write(tmp_path, '[opcua]\nlisten = "x"\nsecurity = 1\n' + DEVICE))
    assert [(place, field) for place, field, _ in got] == [
        ("[opcua]", "listen"),
        ("[opcua]", "security"),
    ]


def test_iec104_outstation_fields(tmp_path: Path) -> None:
    config = load_config(
        write(
            tmp_path,
            textwrap.dedent("""\
                [iec104]
                redundancy_groups = "cc1 = 10.0.0.5 10.0.0.6; backup = 10.2.0.0/24"
                event_buffer = 500
                cyclic_s = 60
                gi_without_time = 1
                clock_sync = "Refuse"
            """)
            + DEVICE,
        )
    )
    iec = config.section(IEC104)
    assert iec is not None
    assert iec.redundancy_groups == (
        ("cc1", (ipaddress.ip_network("10.0.0.5"), ipaddress.ip_network("10.0.0.6"))),
        ("backup", (ipaddress.ip_network("10.2.0.0/24"),)),
    )
    assert (iec.event_buffer, iec.cyclic_s, iec.gi_without_time, iec.clock_sync) == (
        500, 60, True, "refuse",
    )  # fmt: skip
    assert iec.allows("10.2.0.9")  # a group's addresses may connect
    assert not iec.allows("10.3.0.1")
    defaults = load_config(write(tmp_path, "[iec104]\n" + DEVICE)).section(IEC104)
    assert defaults is not None
    assert (defaults.event_buffer, defaults.cyclic_s, defaults.clock_sync) == (10_000, 0, "accept")
    assert not defaults.gi_without_time
    table = load_config(
        write(tmp_path, '[iec104.redundancy_groups]\ncc1 = ["10.0.0.5", "10.0.0.6"]\n' + DEVICE)
    ).section(IEC104)
    assert table is not None
    assert [name for name, _ in table.redundancy_groups] == ["cc1"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('redundancy_groups = "10.0.0.5"', "expected NAME = ADDRESSES"),
        ('redundancy_groups = "a = 10.0.0.5; a = 10.0.0.6"', "group 'a' is given twice"),
        ('redundancy_groups = "a = 10.0.0.0/24; b = 10.0.0.7"', "10.0.0.7/32 of group 'b' is in group 'a' too"),
        ('redundancy_groups = "a b = 10.0.0.5"', "group name 'a b'"),
        ('redundancy_groups = "a = "', "group 'a' has no address"),
        ('clock_sync = "ignore"', "allowed: accept, refuse"),
        ("event_buffer = 0", "allowed: 1 to 1000000"),
        ("cyclic_s = -1", "allowed: 0 to 86400 s"),
    ],
)  # fmt: skip
def test_iec104_bad_outstation_fields(tmp_path: Path, text: str, message: str) -> None:
    ((place, _field, got),) = problems_of(write(tmp_path, f"[iec104]\n{text}\n" + DEVICE))
    assert place == "[iec104]"
    assert message in got


def test_modbus_scaled_integers_coils_and_their_problems(tmp_path: Path) -> None:
    config = load_config(
        write(
            tmp_path,
            "[modbus]\n"
            + DEVICE
            + signal("wh", "FLOAT", modbus_address=0, modbus_type="int32", modbus_scale=1000)
            + signal("rounded", "DOUBLE", modbus_address=2, modbus_type="uint32", modbus_scale=1)
            + signal("door", "DIGITAL", modbus_coil=3, modbus_quality_address=10),
        )
    )
    columns = [s.columns(ModbusColumns) for s in config.signals]
    assert [(c.modbus_scale, c.modbus_coil) for c in columns] == [
        (1000.0, None), (1.0, None), (None, 3),
    ]  # fmt: skip
    got = problems_of(
        write(
            tmp_path,
            "[modbus]\n"
            + DEVICE
            + signal("a", "FLOAT", modbus_address=0, modbus_type="uint16")
            + signal("b", "FLOAT", modbus_address=1, modbus_scale=0)
            + signal("c", "INT16", modbus_coil=5)
            + signal("d", "DIGITAL", modbus_coil=6)
            + signal("e", "DIGITAL", modbus_coil=6)
            + signal("f", "FLOAT", modbus_scale=10),
        )
    )
    assert got == [
        ("signals[0]", "modbus_type",
         "uint16 holds whole numbers: give modbus_scale (e.g. 1000 for Wh from kWh; 1 rounds "
         "the FLOAT value)"),
        ("signals[1]", "modbus_scale", "must not be 0"),
        ("signals[2]", "modbus_coil", "only DIGITAL signals have a bit"),
        ("signals[4]", "modbus_coil", "bit 6 is already used by m1/d"),
        ("signals[5]", "modbus_scale", "needs a modbus_address"),
    ]  # fmt: skip
