"""Profiles from files: TOML (inline lines, data file, base profile) and captured readouts."""

from __future__ import annotations

from pathlib import Path

import pytest

from obisgate.errors import ConfigError
from obisgate.protocol.bcc import BccMethod
from obisgate.protocol.identification import ProtocolMode
from obisgate.simulator import get_profile, load_profile, resolve_profile
from obisgate.simulator.shown import shown


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_toml_with_inline_lines(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "office.toml",
        """
identification = "/ISk5MT174-0001"
address = "00001234"
reaction_time_ms = 50
option_select_wait_ms = 2000
bcc = "sum7"
glued_end = true
line_end = "lf"
nak_repeats = 1
nak_window_ms = 800
request_starts = ["/?"]
description = "the office meter"
lines = ["1.8.0*24(0147238.4*kWh)", "0.9.1(131519)", "F.F(00)"]
""",
    )
    profile = load_profile(path)
    assert profile.name == "office"
    assert profile.identification_message() == b"/ISk5MT174-0001\r\n"
    assert (profile.manufacturer, profile.baud_char, profile.identification) == (
        "ISk",
        "5",
        "MT174-0001",
    )
    assert profile.address == "00001234"
    assert profile.reaction_time == pytest.approx(0.05)
    assert profile.option_select_wait_s == pytest.approx(2.0)
    assert profile.bcc_method is BccMethod.SUM7
    assert profile.nak_repeats == 1
    assert profile.nak_window_s == pytest.approx(0.8)
    assert profile.request_starts == ("/?",)
    assert profile.data_block() == b"1.8.0*24(0147238.4*kWh)\n0.9.1(131519)\nF.F(00)!\n"


def test_toml_with_a_data_file_and_enhanced_identification(tmp_path: Path) -> None:
    write(tmp_path, "capture.txt", "1.8.0(001234.120*kWh)\r\n\r\n0.0.0(  123 )\r\n!\r\n")
    path = write(
        tmp_path,
        "m.toml",
        'name = "aux2"\nidentification = "/AUX5\\\\2SX330"\ndata_file = "capture.txt"\n',
    )
    profile = load_profile(path)
    assert profile.name == "aux2"
    assert profile.enhanced == "\\2"
    assert profile.protocol_mode is ProtocolMode.E
    assert profile.lines == ("1.8.0(001234.120*kWh)", "0.0.0(  123 )")


def test_toml_based_on_a_builtin_profile(tmp_path: Path) -> None:
    path = write(tmp_path, "mine.toml", 'base = "e350"\naddress = "42"\nmode = "a"\n')
    profile = load_profile(path)
    assert profile.lines == get_profile("e350").lines
    assert profile.address == "42"
    assert profile.mode is ProtocolMode.A
    assert profile.name == "mine"


def test_mode_d_push_profile_from_toml(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "push.toml",
        'identification = "/EBZ3DD3"\nmode = "D"\nframed = false\npush_interval_s = 0\n'
        'lines = ["1-0:1.8.0*255(000123.4*kWh)"]\n',
    )
    profile = load_profile(path)
    assert profile.protocol_mode is ProtocolMode.D
    assert profile.push_interval_s is None
    assert profile.push_message() == b"/EBZ3DD3\r\n\r\n1-0:1.8.0*255(000123.4*kWh)\r\n!\r\n"


def test_captured_readout_file(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "kam.txt",
        "\n/KAM 685-382-QR-10\n\x021.8.0(0012345.6*kWh)\n1.6(000007,4*kW)!\n\x03\n",
    )
    profile = load_profile(path)
    assert profile.identification_message() == b"/KAM 685-382-QR-10\r\n"
    assert profile.protocol_mode is ProtocolMode.A
    assert profile.lines == ("1.8.0(0012345.6*kWh)", "1.6(000007,4*kW)")


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("a.toml", 'identification = "/ABC5X"\nbogus = 1\n', "unknown keys bogus"),
        ("b.toml", "lines = []\n", "'identification' is required"),
        ("c.toml", 'identification = "/ABC5X"\n', "'lines' or 'data_file'"),
        (
            "d.toml",
            'identification = "/ABC5X"\nlines = []\ndata_file = "x"\n',
            "either 'lines' or 'data_file'",
        ),
        ("e.toml", 'identification = "/ABC5X"\nlines = []\nbcc = "crc"\n', "'bcc'"),
        ("f.toml", 'identification = "/ABC5X"\nlines = []\nmode = "Q"\n', "'mode'"),
        ("g.toml", 'identification = "/ABC5X"\nlines = [1]\n', "'lines'"),
        ("h.toml", 'identification = "/ABC5X"\nlines = []\nframed = "yes"\n', "'framed'"),
        ("i.toml", 'identification = "/ABC5X"\nlines = []\nnak_repeats = true\n', "int"),
        ("j.toml", "identification = \n", "invalid TOML"),
        ("k.toml", 'identification = "/AB"\nlines = []\n', "identification"),
        ("l.toml", 'identification = "/ABC5X"\ndata_file = "missing.txt"\n', "data_file"),
        ("m.toml", 'identification = "/ABC5X"\nlines = ["1(2)!"]\n', "data line"),
        ("n.toml", 'base = "nope"\n', "unknown profile"),
        ("o.toml", 'identification = "/ABC5X"\nlines = []\nline_end = "cr"\n', "line_end"),
        ("capture.txt", "1.8.0(1)\n", "must start with the identification"),
    ],
)
def test_invalid_files_name_the_file_and_the_problem(
    tmp_path: Path, name: str, text: str, message: str
) -> None:
    path = write(tmp_path, name, text)
    with pytest.raises(ConfigError, match=message) as info:
        load_profile(path)
    assert str(path) in str(info.value)


def test_resolve_profile(tmp_path: Path) -> None:
    assert resolve_profile("mt174") == get_profile("mt174")
    path = write(tmp_path, "x.toml", 'base = "kamstrup"\n')
    assert resolve_profile(str(path)).lines == get_profile("kamstrup").lines
    with pytest.raises(ConfigError, match="no such built-in profile"):
        resolve_profile(str(tmp_path / "missing.toml"))


def test_logs_show_control_characters_and_never_passwords() -> None:
    assert shown(b"\x06040\r\n") == "<ACK>040<CR><LF>"
    assert shown(b"\xaf?!\x8d\x0a") == "/?!<CR><LF>"  # bit 7 cleared
    secret = b"\x01P1\x02(s3cret)\x03a"
    assert shown(secret) == "<SOH>P1<STX>(***)<ETX>a"
    assert "s3cret" not in shown(b"\x01P2\x02(s3cret")
    assert shown(b"x" * 200, limit=10).endswith("... (200 bytes)")
