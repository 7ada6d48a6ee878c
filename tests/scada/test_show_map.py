"""``obisgate check --show-map``: the register and IOA tables a SCADA engineer copies."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from obisgate.cli import main

MAP = Path(__file__).parent / "map.toml"


def test_show_map_prints_every_table() -> None:
    result = CliRunner().invoke(main, ["check", "--show-map", str(MAP)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[:5] == [
        "ok: 1 devices, 3 signals",
        "outputs besides the printed updates:",
        "  modbus  0.0.0.0:5020",
        "  iec104  0.0.0.0:2404",
        "  opcua   127.0.0.1:4840",
    ]
    lines = [lines[0], *lines[5:]]  # the maps follow the outputs
    assert lines[2].startswith("Modbus TCP 0.0.0.0:5020, unit 1, word order big")
    assert lines[3].split() == [
        "address",
        "registers",
        "type",
        "scale",
        "device",
        "signal",
        "unit",
        "quality",
        "coil",
    ]
    assert [line.split() for line in lines[4:7]] == [
        ["0", "2", "float32", "feeder1", "energy_import", "kWh", "100"],
        ["2", "2", "float32", "feeder1", "voltage_l1", "V", "101"],
        ["4", "2", "uint32", "feeder1", "error_code"],
    ]
    assert lines[8].startswith("IEC 60870-5-104 0.0.0.0:2404, common address 47")
    assert [line.split() for line in lines[10:13]] == [
        ["1001", "M_ME_TF_1", "1", "feeder1", "voltage_l1", "V", "general"],
        ["1002", "M_ME_NC_1", "1", "feeder1", "error_code", "general"],
        ["2001", "M_IT_TB_1", "1000", "feeder1", "energy_import", "kWh", "counter"],
    ]
    assert lines[14].startswith("OPC UA opc.tcp://127.0.0.1:4840/obisgate/, namespace urn:obisgate")
    assert lines[14].endswith("no security; anonymous (loopback only)")
    assert [line.split() for line in lines[15:]] == [
        ["identifier", "type", "device", "signal", "unit"],
        ["feeder1.energy_import", "Double", "feeder1", "energy_import", "kWh"],
        ["feeder1.voltage_l1", "Double", "feeder1", "voltage_l1", "V"],
        ["feeder1.error_code", "Double", "feeder1", "error_code"],
        ["feeder1._status", "String", "feeder1", "_status"],
    ]


def test_servers_without_authentication_on_the_network_are_warned(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["check", str(MAP)])
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [
        "obisgate: warning: [modbus] listen = '0.0.0.0:5020' is reachable from other machines "
        "and Modbus TCP has no authentication: any client that reaches it reads every value; "
        "keep it on a trusted network",
    ]
    loopback = MAP.read_text().replace("0.0.0.0:5020", "127.0.0.1:5020")
    path = tmp_path / "loopback.toml"
    path.write_text(loopback, encoding="utf-8")
    result = CliRunner().invoke(main, ["check", str(path)])
    assert (result.exit_code, result.stderr) == (0, "")


def test_without_show_map_no_table(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["check", str(MAP)])
    assert "address" not in result.stdout
    assert result.stdout.splitlines()[0] == "ok: 1 devices, 3 signals"


def test_columns_without_a_section_are_shown_as_off(tmp_path: Path) -> None:
    text = MAP.read_text().split("[[devices]]", 1)[1]
    path = tmp_path / "gw.toml"
    path.write_text("[[devices]]" + text)
    result = CliRunner().invoke(main, ["check", "--show-map", str(path)])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[1] == (
        "outputs: only the printed updates (no history, no network output)"
    )
    assert "(output off)" in result.stdout.splitlines()[3]
    assert "counter interrogation: M_IT (output off)" in result.output


def test_a_map_problem_fails_the_check(tmp_path: Path) -> None:
    path = tmp_path / "gw.toml"
    path.write_text(MAP.read_text().replace("modbus_address = 4", "modbus_address = 3"))
    result = CliRunner().invoke(main, ["check", "--show-map", str(path)])
    assert result.exit_code == 1
    assert (
        "modbus_address: registers 3-4 overlap feeder1/voltage_l1 modbus_address" in result.output
    )


def test_an_opc_ua_server_on_the_network_needs_its_security(tmp_path: Path) -> None:
    path = tmp_path / "gw.toml"
    path.write_text(MAP.read_text().replace("127.0.0.1:4840", "0.0.0.0:4840"))
    result = CliRunner().invoke(main, ["check", str(path)])
    assert result.exit_code == 1
    assert "is reachable from other machines: give certificate and private_key" in result.output
    assert "obisgate opcua-cert" in result.output
    secured = path.read_text().replace(
        'listen = "0.0.0.0:4840"',
        'listen = "0.0.0.0:4840"\ncertificate = "c.der"\nprivate_key = "k.pem"\n'
        'users_file = "users"',
    )
    path.write_text(secured)
    result = CliRunner().invoke(main, ["check", "--show-map", str(path)])
    assert result.exit_code == 0, result.output
    assert "Basic256Sha256 Sign and SignAndEncrypt only; user name and password" in result.stdout
    assert f"{tmp_path / 'c.der'} does not exist: the OPC UA server will not start" in (
        result.stderr
    )
