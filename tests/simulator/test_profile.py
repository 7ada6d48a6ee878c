"""Meter profiles: address rules, encoders (byte-exact), validation, built-in profiles."""

from __future__ import annotations

import pytest
from tests.helpers import frame, ref_bcc_sum7

from obisgate.errors import ConfigError
from obisgate.protocol.bcc import BccMethod
from obisgate.protocol.identification import ProtocolMode
from obisgate.protocol.readout import BccStatus, parse_readout
from obisgate.simulator import (
    MeterProfile,
    address_matches,
    builtin_profiles,
    consecutive_addresses,
    get_profile,
)

# §10.1 of docs/iec62056-21.md, the E350 mode C readout, byte for byte.
E350_IDENT = bytes.fromhex("2F 4C 47 5A 34 5A 4D 46 31 30 30 41 43 2E 4D 32 33 0D 0A")
E350_DATA = bytes.fromhex(
    "02 46 2E 46 28 30 30 29 0D 0A 43 2E 31 2E 30 28 31 32 33 31 34 33 33 30 29 0D 0A"
    "30 2E 30 2E 30 28 30 30 31 38 38 31 32 33 29 0D 0A 31 2E 38 2E 30 28 30 30 31 32"
    "33 34 2E 31 32 30 2A 6B 57 68 29 0D 0A 32 2E 38 2E 30 28 30 30 30 30 30 30 2E 30"
    "30 30 2A 6B 57 68 29 0D 0A 33 32 2E 37 28 32 32 39 2A 56 29 0D 0A 33 31 2E 37 28"
    "30 30 30 2E 30 33 2A 41 29 0D 0A 30 2E 39 2E 31 28 31 33 31 35 31 39 29 0D 0A 30"
    "2E 39 2E 32 28 32 34 30 33 31 35 29 0D 0A 21 0D 0A 03 43"
)


def simple(**kw: object) -> MeterProfile:
    fields: dict[str, object] = {
        "name": "t",
        "manufacturer": "ABC",
        "baud_char": "5",
        "identification": "X1",
        "lines": ("1.8.0(1*kWh)", "2.8.0(2*kWh)"),
    }
    fields.update(kw)
    return MeterProfile(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("requested", "own", "matches"),
    [
        ("", "12345678", True),  # general address: every meter answers
        ("", "", True),
        ("12345678", "12345678", True),
        ("0012345678", "12345678", True),  # leading zeros not evaluated
        ("12345678", "00012345678", True),
        ("10203", "000010203", True),
        ("0", "0000", True),  # all zeros matches all zeros, any length
        ("000", "0", True),
        ("0", "", False),  # a meter without address answers only the general one
        ("1", "", False),
        ("12345679", "12345678", False),
        ("1234567", "12345678", False),  # the complete address is compared
        ("123456789", "12345678", False),
        ("abc", "ABC", False),  # letters are case-sensitive
        ("A B", "AB", False),  # the space is significant
        ("120", "12", False),  # trailing zeros are significant
    ],
)
def test_address_rules(requested: str, own: str, matches: bool) -> None:
    assert address_matches(requested, own) is matches


def test_consecutive_addresses_keep_the_width() -> None:
    assert consecutive_addresses("00000009", 3) == ["00000009", "00000010", "00000011"]
    assert consecutive_addresses("ABC98", 3) == ["ABC98", "ABC99", "ABC100"]
    assert consecutive_addresses("", 2) == ["00000001", "00000002"]
    assert consecutive_addresses("ABC", 1) == ["ABC"]


def test_consecutive_addresses_errors() -> None:
    with pytest.raises(ConfigError, match="digits"):
        consecutive_addresses("ABC", 2)
    with pytest.raises(ConfigError, match="at least 1"):
        consecutive_addresses("1", 0)
    with pytest.raises(ConfigError, match="32"):
        consecutive_addresses("9" * 32, 2)


def test_clones_have_consecutive_addresses() -> None:
    clones = get_profile("e350").clones(3, "00000100")
    assert [c.address for c in clones] == ["00000100", "00000101", "00000102"]
    assert all(c.lines == get_profile("e350").lines for c in clones)
    assert get_profile("e350").clones(1) == [get_profile("e350")]


def test_e350_encodes_the_documented_transcript_byte_for_byte() -> None:
    profile = get_profile("e350")
    assert profile.identification_message() == E350_IDENT
    assert profile.data_message() == E350_DATA
    assert profile.data_message(corrupt_bcc=True) == E350_DATA[:-1] + bytes((0x43 ^ 0x01,))
    assert profile.protocol_mode is ProtocolMode.C
    assert profile.switch_baud == 4800
    assert profile.reaction_time == 0.2


def test_framing_options() -> None:
    assert simple().data_message() == frame("1.8.0(1*kWh)\r\n2.8.0(2*kWh)\r\n!\r\n")
    assert simple(glued_end=True).data_block() == b"1.8.0(1*kWh)\r\n2.8.0(2*kWh)!\r\n"
    assert simple(line_end="\n").data_block() == b"1.8.0(1*kWh)\n2.8.0(2*kWh)\n!\n"
    assert simple(framed=False).data_message() == b"1.8.0(1*kWh)\r\n2.8.0(2*kWh)\r\n!\r\n"
    assert simple(lines=()).data_message() == frame("!\r\n")


def test_sum7_bcc() -> None:
    block = b"1.8.0(1*kWh)\r\n2.8.0(2*kWh)\r\n!\r\n\x03"
    message = simple(bcc_method=BccMethod.SUM7).data_message()
    assert message == b"\x02" + block + bytes((ref_bcc_sum7(block),))


def test_mode_d_push_message() -> None:
    profile = get_profile("ehz-push")
    assert profile.protocol_mode is ProtocolMode.D
    assert profile.initial_baud == 2400
    expected = (
        b"/HAG3eHZ010C_EHZ1WA02\r\n\r\n" + "".join(f"{x}\r\n" for x in profile.lines).encode()
    ) + b"!\r\n"
    assert profile.push_message() == expected


def test_reaction_time_follows_the_third_letter() -> None:
    assert simple(manufacturer="ABc").reaction_time == 0.02
    assert simple(manufacturer="ABC").reaction_time == 0.2
    assert simple(manufacturer="ABc", reaction_time_s=0.5).reaction_time == 0.5


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"manufacturer": "AB"}, "manufacturer"),
        ({"manufacturer": "A/B"}, "manufacturer"),
        ({"baud_char": "!"}, "baud character"),
        ({"identification": "a!b"}, "identification"),
        ({"address": "12!"}, "address"),
        ({"address": "1" * 33}, "address"),
        ({"lines": ("1.8.0(1)!",)}, "data line"),
        ({"lines": ("1.8.0(1)\r\n2.8.0(2)",)}, "data line"),
        ({"mode": ProtocolMode.D}, "mode D"),
        ({"mode": ProtocolMode.B}, "not a mode B"),
        ({"line_end": "\r"}, "line_end"),
        ({"reaction_time_s": -1.0}, "reaction time"),
        ({"request_starts": ("?",)}, "request start"),
        ({"enhanced": "2"}, "enhanced"),
    ],
)
def test_invalid_profiles_are_refused(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        simple(**changes)


def test_builtin_profiles_required_by_the_issue() -> None:
    profiles = builtin_profiles()
    mt174 = profiles["mt174"]
    assert mt174.identification_message() == b"/ISk5MT174-0001\r\n"
    assert (mt174.protocol_mode, mt174.switch_baud, mt174.reaction_time) == (
        ProtocolMode.C,
        9600,
        0.02,
    )
    assert "1.6.0(02.468*kW)(2511180930)" in mt174.lines
    for line in ("1.8.0*24(0147238.4*kWh)", "0.2.2()", "C.1.1(        )", "31.7.0(  1.23*A)"):
        assert line in mt174.lines
    kam = profiles["kamstrup"]
    assert kam.identification_message() == b"/KAM 685-382-QR-10\r\n"
    assert kam.protocol_mode is ProtocolMode.A and kam.glued_end
    assert profiles["mode-b"].protocol_mode is ProtocolMode.B
    assert profiles["ehz-push"].protocol_mode is ProtocolMode.D
    uh50 = profiles["uh50"]
    assert any(line.count("(") >= 3 and "&" in line for line in uh50.lines)
    assert len(profiles["large"].lines) >= 300
    assert profiles["aux"].protocol_mode is ProtocolMode.E
    assert profiles["ce301"].bcc_method is BccMethod.SUM7
    nzr = profiles["nzr"]
    assert not nzr.framed and nzr.line_end == "\n"


@pytest.mark.parametrize("name", list(builtin_profiles()))
def test_builtin_readouts_parse_back_to_their_lines(name: str) -> None:
    profile = get_profile(name)
    message = profile.identification_message() + profile.data_message()
    readout = parse_readout(message, bcc_method=profile.bcc_method)
    assert readout.bcc is (BccStatus.VALID if profile.framed else BccStatus.ABSENT)
    assert list(readout.datasets) == profile.datasets
    assert readout.unparsed == ()
    assert readout.identification == profile.ident


def test_get_profile_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="e350"):
        get_profile("nope")
