"""TOML configuration: defaults, every field, every kind of error (all at once, located)."""

from __future__ import annotations

import datetime as dt
import textwrap
from pathlib import Path

import pytest
from pydantic import ValidationError

from obisgate import BccMethod, ConfigError, DataSet, LineSettings, ProtocolMode, Value
from obisgate.gateway.config import (
    ConfigFileError,
    DeviceConfig,
    GatewayConfig,
    SignalConfig,
    load_config,
)
from obisgate.gateway.config_build import table_fields
from obisgate.gateway.config_toml import read_toml
from obisgate.gateway.numbers import NumberType
from obisgate.gateway.outputs.registry import OUTPUT_SPECS
from obisgate.gateway.quality import Quality

DATA = Path(__file__).parent / "data"


def write(tmp_path: Path, text: str, name: str = "gateway.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def problems_of(path: Path) -> list[tuple[int | None, str | None, str | None, str]]:
    with pytest.raises(ConfigFileError) as info:
        load_config(path)
    return [(p.line, p.place, p.field, p.message) for p in info.value.problems]


MINIMAL = """\
    [[devices]]
    device_alias = "m1"
    device = "/dev/ttyUSB0"

    [[signals]]
    device_alias = "m1"
    signal_alias = "energy"
    tag_job_todo = "1.8.0"
    number_type = "FLOAT"
"""


def test_minimal_config_gets_the_documented_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL))
    (device,) = config.devices
    assert device.name == "m1"
    assert device.description == ""
    assert device.enable is True
    assert device.protocol == "IEC 62056-21"
    assert (device.poll_delay_ms, device.scan_rate_ms, device.timeout_ms) == (200, 10000, 2500)
    assert (device.baudrate, device.databits, device.stopbits) == (300, 7, 1.0)
    assert (device.parity, device.flowcontrol) == ("EVEN", "NONE")
    assert (device.serialnumber, device.address) == ("0", "")
    assert (device.serial_close_delay, device.type, device.t2) == (400, "C", 200)
    assert (device.ip, device.port, device.url, device.meter_model) == (None, None, None, None)
    assert device.max_baud is None and device.force_baud is None
    assert device.switch_baud is True
    assert (device.wakeup, device.request_start) == (0, "/?")
    assert device.strip_echo and device.verify_bcc and not device.decimal_comma
    assert device.bcc_method is BccMethod.XOR
    assert (device.retries, device.repeat_requests, device.baud_change_delay_ms) == (1, 1, 0)
    assert device.password is None and device.password_env is None

    (signal,) = config.signals
    assert signal.signal_name == "energy"
    assert signal.number_type is NumberType.FLOAT
    assert (signal.enable, signal.log, signal.logged) == (True, 0, False)
    assert (signal.value_index, signal.subvalue, signal.multiply, signal.add) == (1, None, 1, 0)
    assert signal.unit is None

    assert config.storage.path == tmp_path / "obisgate-history.sqlite"
    assert config.storage.synchronous == "NORMAL"
    assert config.output.format == "jsonl"
    assert config.warnings == ()
    assert config.source == tmp_path / "gateway.toml"


def test_defaults_make_standard_reader_options(tmp_path: Path) -> None:
    device = load_config(write(tmp_path, MINIMAL)).devices[0]
    options = device.readout_options()
    assert options.address == ""
    assert options.mode is ProtocolMode.C
    assert options.initial_baud == 300
    assert options.reaction_time_s == pytest.approx(0.2)
    assert options.response_timeout_s == pytest.approx(2.5)
    assert options.inter_byte_timeout_s == pytest.approx(1.5)
    assert options.wakeup_nuls == 0
    assert device.transport == "serial"
    assert device.url_or_port == "/dev/ttyUSB0"
    assert device.port_key == "/dev/ttyUSB0"
    assert device.line_settings() == LineSettings(baudrate=300, bytesize=7, parity="E", stopbits=1)


def test_full_fixture_loads_every_field(tmp_path: Path) -> None:
    config = load_config(DATA / "full.toml")
    house = config.device("house")
    assert house.name == "House meter"
    assert house.parity == "EVEN"
    assert house.address == "12345678"
    assert house.wakeup == 66
    assert house.bcc_method is BccMethod.SUM7
    assert house.decimal_comma is True
    assert house.verify_bcc is False
    options = house.readout_options()
    assert options.address == "12345678"
    assert options.max_baud == 4800
    assert options.wakeup_nuls == 66
    assert options.wakeup_delay_s == pytest.approx(1.6)
    assert options.reaction_time_s == pytest.approx(0.25)
    assert options.baud_change_delay_s == pytest.approx(0.05)
    assert options.response_timeout_s == pytest.approx(3.0)
    assert options.bcc_method is BccMethod.SUM7
    assert options.verify_bcc is False
    assert house.line_settings().baudrate == 300

    tcp = config.device("tcp-meter")
    assert tcp.transport == "tcp"
    assert tcp.url_or_port == "tcp://192.0.2.10:4059"
    assert tcp.port_key == "tcp://192.0.2.10:4059"
    assert tcp.readout_options().mode is ProtocolMode.A

    converter = config.device("converter")
    assert converter.transport == "rfc2217"
    assert converter.url_or_port == "rfc2217://192.0.2.20:7000"
    assert converter.enable is False

    assert config.storage.path == DATA / "history" / "plant.sqlite"
    assert config.output.format == "table"
    assert [d.device_alias for d in config.enabled_devices] == [
        "house",
        "bus-a",
        "bus-b",
        "tcp-meter",
    ]
    assert [s.signal_alias for s in config.signals_for("house")] == ["energy", "demand_time"]
    assert [s.signal_alias for s in config.signals_for("house", enabled_only=False)] == [
        "energy",
        "demand_time",
        "error",
    ]
    # enabled, log > 0, on an enabled device
    assert [s.key for s in config.logged_signals] == [("house", "energy"), ("bus-b", "t_flow")]
    scaled = config.signals[-1]
    assert (scaled.multiply, scaled.add) == (0.001, -1.5)


def test_full_fixture_warnings() -> None:
    config = load_config(DATA / "full.toml")
    warnings = [(w.place, w.field, w.line) for w in config.warnings]
    assert warnings == [
        ("devices[1]", None, 38),  # bus-a has no signals
        ("devices[1]", "serialnumber", 41),
        ("devices[3]", None, 48),  # tcp-meter has no signals
        ("devices[3]", "device", 50),
        ("devices[3]", "password", 54),
        ("signals[2]", "multiply", 83),
    ]
    text = "\n".join(map(str, config.warnings))
    assert "every meter on the bus may answer" in text
    assert "using ip + port, device is ignored" in text
    assert "prefer password_env or password_file" in text
    assert "multiply/add are ignored for HEX" in text
    assert "hunter2" not in text


def test_passwords_never_shown(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        [[devices]]
        device_alias = "m1"
        device = "/dev/ttyUSB0"
        password = "hunter2"

        [[devices]]
        device_alias = "m2"
        device = "/dev/ttyUSB0"
        password = ["hunter3"]
        password_env = "hunter4 x"
        password_file = 12

        [[devices]]
        device_alias = "m3"
        device = "/dev/ttyUSB0"
        serialnumber = 2
        password_env = "SECRET_VAR_NAME"
        password_file = "pw.txt"
        """,
    )
    with pytest.raises(ConfigFileError) as info:
        load_config(path)
    text = str(info.value) + repr(info.value.problems) + repr(info.value.warnings)
    for secret in ("hunter2", "hunter3", "hunter4", "SECRET_VAR_NAME", "pw.txt"):
        assert secret not in text
    fields = {(p.place, p.field) for p in info.value.problems}
    assert ("devices[1]", "password") in fields
    assert ("devices[1]", "password_env") in fields
    assert ("devices[2]", "password_file") in fields  # only one of the three

    device = DeviceConfig(device_alias="x", device="/dev/x", password="hunter2")  # type: ignore[arg-type]
    assert "hunter2" not in repr(device)
    assert "hunter2" not in str(device)
    device = DeviceConfig(device_alias="x", device="/dev/x", password_env="SECRET_VAR_NAME")
    assert "SECRET_VAR_NAME" not in repr(device)


def test_resolve_password(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "pw.txt").write_text("s3cret\n", encoding="utf-8")
    path = write(
        tmp_path,
        """\
        [[devices]]
        device_alias = "file"
        device = "/dev/ttyUSB0"
        password_file = "pw.txt"

        [[devices]]
        device_alias = "env"
        device = "/dev/ttyUSB0"
        password_env = "OBISGATE_TEST_PW"

        [[devices]]
        device_alias = "none"
        device = "/dev/ttyUSB0"
        """,
    )
    config = load_config(path)
    from_file = config.device("file").resolve_password()
    assert from_file is not None and from_file.get_secret_value() == "s3cret"
    assert config.device("none").resolve_password() is None
    monkeypatch.delenv("OBISGATE_TEST_PW", raising=False)
    with pytest.raises(ConfigError) as info:
        config.device("env").resolve_password()
    assert str(info.value) == (
        "device env: the variable named in password_env (OBISGATE_TEST_PW) is not set"
    )
    monkeypatch.setenv("OBISGATE_TEST_PW", "from-env")
    from_env = config.device("env").resolve_password()
    assert from_env is not None and from_env.get_secret_value() == "from-env"
    (tmp_path / "pw.txt").unlink()
    with pytest.raises(ConfigError, match=r"password_file .*pw.txt: cannot read the password file"):
        config.device("file").resolve_password()


def test_every_error_is_reported_at_once_with_line_and_field(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        [[devices]]
        device_alias = "m1"
        device = "/dev/ttyUSB0"
        baudrate = 310
        t2 = "2000"
        type = "Q"

        [[devices]]
        device_alias = "m1"
        ip = "127.0.0.1"
        Baud = 9600

        [[devices]]
        device_alias = "bad alias!"
        url = "http://example.com"
        parity = "MARK"
        stopbits = 3

        [[devices]]
        device = "/dev/ttyUSB2"
        enable = 2
        scan_rate_ms = "fast"

        [[signals]]
        device_alias = "nope"
        signal_alias = "e"
        number_type = "FLOATY"
        tag_job_todo = "1.8.0"

        [[signals]]
        device_alias = "m1"
        signal_alias = "e"
        number_type = "FLOAT"
        tag_job_todo = "1.8.0(12)"
        value_index = 0
        multiply = "x"

        [[signals]]
        device_alias = "m1"
        signal_alias = "e"
        number_type = "FLOAT"
        tag_job_todo = "1.8.0"

        [[signals]]
        device_alias = "m1"
        signal_alias = "f"

        [storage]
        path = "h.sqlite"
        pathy = 1

        [output]
        format = "xml"
        """,
    )
    with pytest.raises(ConfigFileError) as info:
        load_config(path)
    got = [(p.line, p.place, p.field) for p in info.value.problems]
    assert got == [
        (4, "devices[0]", "baudrate"),
        (5, "devices[0]", "t2"),
        (6, "devices[0]", "type"),
        (8, "devices[1]", "port"),
        (9, "devices[1]", "device_alias"),
        (11, "devices[1]", "baud"),
        (14, "devices[2]", "device_alias"),
        (15, "devices[2]", "url"),
        (16, "devices[2]", "parity"),
        (17, "devices[2]", "stopbits"),
        (19, "devices[3]", "device_alias"),
        (21, "devices[3]", "enable"),
        (22, "devices[3]", "scan_rate_ms"),
        (25, "signals[0]", "device_alias"),
        (27, "signals[0]", "number_type"),
        (34, "signals[1]", "tag_job_todo"),
        (35, "signals[1]", "value_index"),
        (36, "signals[1]", "multiply"),
        (40, "signals[2]", "signal_alias"),
        (44, "signals[3]", "tag_job_todo"),
        (44, "signals[3]", "number_type"),
        (50, "[storage]", "pathy"),
        (53, "[output]", "format"),
    ]
    lines = str(info.value).splitlines()
    assert len(lines) == len(got)
    assert all(line.startswith(f"{path}:") for line in lines)
    by_field = {(p.place, p.field): str(p) for p in info.value.problems}
    assert by_field[("devices[0]", "baudrate")] == (
        f"{path}:4: devices[0]: baudrate: got 310; allowed: 300, 600, 1200, 2400, 4800, 9600, 19200"
    )
    assert "allowed: 200 to 1500 ms" in by_field[("devices[0]", "t2")]
    assert "allowed: A, B, C, D" in by_field[("devices[0]", "type")]
    assert "required with ip" in by_field[("devices[1]", "port")]
    assert "'m1' is already used by devices[0] (line 1)" in by_field[("devices[1]", "device_alias")]
    assert "did you mean 'max_baud'?" in by_field[("devices[1]", "baud")]
    assert "tcp://HOST:PORT or rfc2217://HOST:PORT" in by_field[("devices[2]", "url")]
    assert "allowed: NONE, EVEN, ODD" in by_field[("devices[2]", "parity")]
    assert "allowed: 1, 1.5, 2" in by_field[("devices[2]", "stopbits")]
    assert "required field is missing" in by_field[("devices[3]", "device_alias")]
    assert "allowed: 1 or 0" in by_field[("devices[3]", "enable")]
    assert "no device 'nope'; devices: bad alias!, m1" in by_field[("signals[0]", "device_alias")]
    assert "UINT64" in by_field[("signals[0]", "number_type")]
    assert "counted from 1" in by_field[("signals[1]", "value_index")]
    assert "already used for device 'm1' by signals[1]" in by_field[("signals[2]", "signal_alias")]
    assert "allowed: jsonl, table, none" in by_field[("[output]", "format")]
    assert info.value.warnings == ()


def test_connection_rules(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        [[devices]]
        device_alias = "nothing"

        [[devices]]
        device_alias = "url-and-ip"
        url = "tcp://h:1"
        ip = "127.0.0.1"
        port = 2

        [[devices]]
        device_alias = "port-only"
        port = 4059

        [[devices]]
        device_alias = "bad-port"
        ip = "127.0.0.1"
        port = 70000
        """,
    )
    with pytest.raises(ConfigFileError) as info:
        load_config(path)
    got = [(p.place, p.field, p.message) for p in info.value.problems]
    assert got == [
        ("devices[0]", None, "no connection: set device (serial port), ip + port, or url"),
        ("devices[1]", "url", "give either url or ip + port, not both"),
        ("devices[2]", "ip", "required with port"),
        ("devices[3]", "port", "got 70000; allowed: 1 to 65535"),
    ]


@pytest.mark.parametrize(
    ("fields", "transport", "where"),
    [
        ({"device": "COM3"}, "serial", "COM3"),
        ({"ip": "10.0.0.5", "port": 4059}, "tcp", "tcp://10.0.0.5:4059"),
        ({"ip": "::1", "port": "4059"}, "tcp", "tcp://[::1]:4059"),
        ({"ip": "meter.local", "port": 4059.0}, "tcp", "tcp://meter.local:4059"),
        ({"url": "tcp://Gateway.example:10001"}, "tcp", "tcp://Gateway.example:10001"),
        ({"url": "rfc2217://10.0.0.9:2217"}, "rfc2217", "rfc2217://10.0.0.9:2217"),
        ({"url": "rfc2217://[::1]:2217", "device": "/dev/x"}, "rfc2217", "rfc2217://[::1]:2217"),
    ],
)
def test_where_the_meter_is(fields: dict[str, object], transport: str, where: str) -> None:
    device = DeviceConfig.model_validate({"device_alias": "m", **fields})
    assert device.transport == transport
    assert device.url_or_port == where
    assert device.port_key == (where if transport == "serial" else where.lower())


def test_cells_as_text_or_numbers(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        [[devices]]
        device_alias = "m1"
        device = "/dev/ttyUSB0"
        baudrate = "9600"
        databits = 8.0
        stopbits = "1.5"
        parity = " n "
        enable = "TRUE"
        switch_baud = 0
        strip_echo = "no"
        serialnumber = 12345678
        timeout_ms = " 4000 "
        t2 = "300.0"
        wakeup = 10
        description = ""
        software_parity = "on"

        [[signals]]
        device_alias = "m1"
        signal_alias = "e"
        tag_job_todo = " 1.8.0*24 "
        number_type = "uint32"
        log = "1"
        value_index = 2.0
        subvalue = "1"
        multiply = "0.001"
        add = 5
        enable = ""
        """,
    )
    config = load_config(path)
    device = config.devices[0]
    assert (device.baudrate, device.databits, device.stopbits, device.parity) == (
        9600,
        8,
        1.5,
        "NONE",
    )
    assert (device.enable, device.switch_baud, device.strip_echo) == (True, False, False)
    assert (device.serialnumber, device.timeout_ms, device.t2, device.wakeup) == (
        "12345678",
        4000,
        300,
        10,
    )
    assert device.software_parity is True
    assert device.line_settings().software_parity is True
    signal = config.signals[0]
    assert signal.tag_job_todo == "1.8.0*24"
    assert signal.number_type is NumberType.UINT32
    assert (signal.log, signal.value_index, signal.subvalue) == (1, 2, 1)
    assert (signal.value_offset, signal.subvalue_offset) == (1, 0)
    assert (signal.multiply, signal.add, signal.enable) == (0.001, 5.0, True)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("baudrate", "9600.5"),
        ("baudrate", True),
        ("databits", 9),
        ("enable", 2),
        ("enable", "maybe"),
        ("serialnumber", "12-34"),
        ("serialnumber", "1" * 33),
        ("t2", 199),
        ("t2", 1501),
        ("request_start", "?"),
        ("request_start", "/?!"),
        ("bcc_method", "crc"),
        ("wakeup", -1),
        ("protocol", "DLMS"),
        ("max_baud", 115200),
        ("retries", 11),
        ("ip", "not a host"),
        ("flowcontrol", "maybe"),
    ],
)
def test_bad_device_values(field: str, value: object) -> None:
    with pytest.raises(ValidationError) as info:
        DeviceConfig.model_validate({"device_alias": "m", "device": "/dev/x", field: value})
    assert [e["loc"] for e in info.value.errors()] == [(field,)]


def test_keys_are_matched_leniently_but_strictly(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        [[devices]]
        "Device Alias" = "m1"
        DEVICE = "/dev/ttyUSB0"
        scan-rate-ms = 5000

        [[devices]]
        device_alias = "m2"
        device = "/dev/ttyUSB0"
        Device = "/dev/ttyUSB1"
        """,
    )
    with pytest.raises(ConfigFileError) as info:
        load_config(path)
    (problem,) = info.value.problems
    assert (problem.line, problem.field) == (9, "device")
    assert "given twice" in problem.message


def test_syntax_error_has_line(tmp_path: Path) -> None:
    path = write(tmp_path, '[[devices]]\ndevice_alias = "m1"\nbaudrate = = 3\n')
    line, _, _, message = problems_of(path)[0]
    assert line == 3
    assert message.startswith("TOML syntax error")
    assert "column" in message


def test_structure_errors(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        title = "x"

        [devices]
        device_alias = "m1"

        [[storage]]
        path = "a"

        [extra]
        a = 1
        """,
    )
    got = problems_of(path)
    assert [(line, message.split(";")[0]) for line, _, _, message in got] == [
        (1, "unknown top-level entry 'title'"),
        (3, "devices must be an array of tables: [[devices]]"),
        (6, "storage must be a table: [storage]"),
        (9, "unknown top-level entry 'extra'"),
    ]


def test_no_devices(tmp_path: Path) -> None:
    path = write(tmp_path, '[output]\nformat = "none"\n')
    assert problems_of(path) == [(None, None, None, "no devices: add at least one device")]


def test_missing_file(tmp_path: Path) -> None:
    message = problems_of(tmp_path / "nope.toml")[0][3]
    assert message == "no such file or directory"


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes(b'[[devices]]\nname = "Z\xe4hler"\n')
    assert problems_of(path)[0][3] == "not UTF-8 text"


def test_shared_bus_warnings(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        [[devices]]
        device_alias = "a"
        device = "/dev/ttyUSB0"
        serialnumber = "0"

        [[devices]]
        device_alias = "b"
        device = "/dev/ttyUSB0"
        serialnumber = "1111"

        [[devices]]
        device_alias = "c"
        device = "/dev/ttyUSB0"
        serialnumber = "1111"

        [[devices]]
        device_alias = "alone"
        device = "/dev/ttyUSB1"

        [[devices]]
        device_alias = "disabled-twin"
        device = "/dev/ttyUSB1"
        enable = 0
        """,
    )
    warnings = [
        (w.place, w.field, w.message)
        for w in load_config(path).warnings
        if "has no signals" not in w.message  # none of them has
    ]
    assert warnings == [
        (
            "devices[0]",
            "serialnumber",
            "serialnumber 0 sends /?! on /dev/ttyUSB0, shared with a, b, c: "
            "every meter on the bus may answer",
        ),
        ("devices[2]", "serialnumber", "serialnumber 1111 is also used by b on /dev/ttyUSB0"),
    ]


def test_str_is_one_line_per_problem(tmp_path: Path) -> None:
    path = write(tmp_path, '[[devices]]\ndevice_alias = "m1"\nbaudrate = 1\ndatabits = 1\n')
    with pytest.raises(ConfigFileError) as info:
        load_config(path)
    assert isinstance(info.value, ConfigError)
    assert str(info.value).splitlines() == [str(p) for p in info.value.problems]
    assert len(info.value.problems) == 3


# -- signals: picking and converting values ------------------------------------------


def _signal(**fields: object) -> SignalConfig:
    base: dict[str, object] = {
        "device_alias": "m",
        "signal_alias": "s",
        "tag_job_todo": "1.6.0",
        "number_type": "FLOAT",
    }
    return SignalConfig.model_validate(base | fields)


DEMAND = DataSet("1.6.0", (Value.from_raw("02.468*kW"), Value.from_raw("2511180930")))
HEAT = DataSet("9.4", (Value.from_raw("088*C&082*C"),))


def test_extract_value_groups_counted_from_one() -> None:
    assert _signal().extract(DEMAND)[:3] == (2.468, Quality.VALID, "kW")
    stamp = _signal(value_index=2, number_type="DATETIME").extract(DEMAND)
    assert stamp[:3] == (dt.datetime(2025, 11, 18, 9, 30), Quality.VALID, None)
    missing = _signal(value_index=3).extract(DEMAND)
    assert (missing.value, missing.quality) == (None, Quality.INVALID)
    assert missing.note == "1.6.0 has no value group 3"


def test_extract_subvalues_and_scaling() -> None:
    signal = _signal(tag_job_todo="9.4", number_type="UINT8", subvalue=2)
    assert signal.extract(HEAT)[:3] == (82, Quality.VALID, "°C")
    assert _signal(tag_job_todo="9.4", number_type="UINT8").extract(HEAT).value == 88
    assert _signal(subvalue=3, tag_job_todo="9.4").extract(HEAT).quality is Quality.INVALID
    scaled = _signal(multiply=1000, unit="W").extract(DEMAND)
    assert scaled[:3] == (2468.0, Quality.VALID, "W")


def test_extract_missing_address_is_not_topical() -> None:
    result = _signal(unit="kW").extract(None)
    assert (result.value, result.quality, result.unit) == (None, Quality.NOT_TOPICAL, "kW")


def test_extract_decimal_comma_is_the_devices_option() -> None:
    dataset = DataSet("1.6", (Value.from_raw("000007,4*kW"),))
    signal = _signal(tag_job_todo="1.6")
    assert signal.extract(dataset).quality is Quality.INVALID
    assert signal.extract(dataset, decimal_comma=True).value == 7.4


def test_gateway_config_checks_references() -> None:
    device = DeviceConfig(device_alias="m", device="/dev/x")
    with pytest.raises(ValidationError, match="duplicate device_alias: m"):
        GatewayConfig(devices=(device, device))
    with pytest.raises(ValidationError, match="signals name missing devices: other"):
        GatewayConfig(devices=(device,), signals=(_signal(device_alias="other"),))
    with pytest.raises(ValidationError, match="duplicate signal_alias: m/s"):
        GatewayConfig(devices=(device,), signals=(_signal(), _signal()))
    config = GatewayConfig(devices=(device,), signals=(_signal(),))
    assert config.device("m") is device
    with pytest.raises(KeyError):
        config.device("x")


def test_models_are_frozen() -> None:
    device = DeviceConfig(device_alias="m", device="/dev/x")
    with pytest.raises(ValidationError):
        device.baudrate = 9600


def test_signals_equal_but_for_their_device_are_each_their_own(tmp_path: Path) -> None:
    """Signals validated once for many devices keep their own device, row and line."""
    devices = "".join(
        f'[[devices]]\ndevice_alias = "{alias}"\nip = "127.0.0.1"\nport = {port}\n'
        for alias, port in (("m1", 4001), ("m2", 4002))
    )
    signal = (
        '[[signals]]\ndevice_alias = "{alias}"\nsignal_alias = "text"\n'
        'tag_job_todo = "0.0.0"\nnumber_type = "STRING"\nmultiply = 2\n'
    )
    text = devices + signal.format(alias="m1") + signal.format(alias="m2")
    config = load_config(write(tmp_path, text))
    assert [s.key for s in config.signals] == [("m1", "text"), ("m2", "text")]
    assert config.signals[1] == config.signals[0].model_copy(update={"device_alias": "m2"})
    assert config.signals[1].model_fields_set == config.signals[0].model_fields_set
    warnings = [(w.place, w.field, w.line) for w in config.warnings]
    assert warnings == [("signals[0]", "multiply", 14), ("signals[1]", "multiply", 20)]
    bad = text + signal.format(alias="m2").replace('"text"', '"t2"').replace("= 2", '= "x"')
    got = problems_of(write(tmp_path, bad, "bad.toml"))
    assert [p[:3] for p in got] == [(26, "signals[2]", "multiply")]
    assert got[0][3].startswith("got 'x'")


def test_lines_are_found_only_in_the_text_that_was_parsed(tmp_path: Path) -> None:
    """The text is read again for lines when a problem needs one: a file changed in
    between gives the problem without a line, never another text's line."""
    path = tmp_path / "gw.toml"
    text = '[[devices]]\ndevice_alias = "a"\nurl = "tcp://h:1"\n\n[[devices]]\nport = 1\n'
    for changed, line in ((False, 5), (True, None)):
        path.write_text(text, encoding="utf-8")
        tables = read_toml(path, table_fields(OUTPUT_SPECS))
        if changed:
            path.write_text("# moved\n" + text, encoding="utf-8")
        problem = tables.devices[1].problem("broken")
        assert (problem.place, problem.line) == ("devices[1]", line)
