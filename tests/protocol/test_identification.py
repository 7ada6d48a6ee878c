"""Identification message parsing (§3.2, §4, field notes)."""

from __future__ import annotations

import pytest

from obisgate.errors import FramingError
from obisgate.protocol.identification import Identification, ProtocolMode

# line, manufacturer, Z, enhanced, identification, mode, proposed baud, fast (20 ms)
CASES = [
    ("/LGZ4ZMF100AC.M23", "LGZ", "4", "", "ZMF100AC.M23", ProtocolMode.C, 4800, False),
    ("/ISk5MT174-0001", "ISk", "5", "", "MT174-0001", ProtocolMode.C, 9600, True),
    (
        "/AUX5\\2SX330SKH10F10013",
        "AUX",
        "5",
        "\\2",
        "SX330SKH10F10013",
        ProtocolMode.E,
        9600,
        False,
    ),
    ("/EMH5\\@D4EM4TWII001--", "EMH", "5", "\\@", "D4EM4TWII001--", ProtocolMode.C, 9600, False),
    ("/KAM 685-382-QR-10", "KAM", " ", "", "685-382-QR-10", ProtocolMode.A, None, False),
    ("/nzr4SEM16_S_v1.12", "nzr", "4", "", "SEM16_S_v1.12", ProtocolMode.C, 4800, True),
    ("/MCS5\\@V0050710000051", "MCS", "5", "\\@", "V0050710000051", ProtocolMode.C, 9600, False),
    ("/XXX5\\2\\3ident", "XXX", "5", "\\2\\3", "ident", ProtocolMode.E, 9600, False),
    ("/HAgE2WR5 @ 1/x y", "HAg", "E", "", "2WR5 @ 1/x y", ProtocolMode.B, 9600, True),
    ("/EneA", "Ene", "A", "", "", ProtocolMode.B, 600, True),
    ("/ELSF", "ELS", "F", "", "", ProtocolMode.B, 19200, False),
    ("/XYZG1", "XYZ", "G", "", "1", ProtocolMode.B, None, False),  # G-I reserved mode B
    ("/XYZ0abc", "XYZ", "0", "", "abc", ProtocolMode.C, 300, False),
    ("/XYZ6abc", "XYZ", "6", "", "abc", ProtocolMode.C, 19200, False),
    ("/XYZ7abc", "XYZ", "7", "", "abc", ProtocolMode.C, None, False),  # reserved
    ("/XYZJabc", "XYZ", "J", "", "abc", ProtocolMode.A, None, False),
    ("/XYZ", "XYZ", "", "", "", ProtocolMode.A, None, False),
    ("/XYZ3\\", "XYZ", "3", "", "\\", ProtocolMode.C, 2400, False),  # lone escape kept
]


@pytest.mark.parametrize(
    ("line", "manufacturer", "z", "enhanced", "ident", "mode", "baud", "fast"), CASES
)
def test_parse(
    line: str,
    manufacturer: str,
    z: str,
    enhanced: str,
    ident: str,
    mode: ProtocolMode,
    baud: int | None,
    fast: bool,
) -> None:
    parsed = Identification.parse(line)
    assert parsed == Identification(manufacturer, z, enhanced, ident)
    assert parsed.mode is mode
    assert parsed.proposed_baud == baud
    assert parsed.fast_reaction is fast
    assert parsed.reaction_time_min_s == (0.02 if fast else 0.2)
    assert parsed.to_bytes() == line.encode("latin-1") + b"\r\n"


def test_lower_case_only_third_letter_counts() -> None:
    # §3.2: only the 3rd letter decides; "iSK" and "isK" are 200 ms meters.
    assert not Identification.parse("/iSK5x").fast_reaction
    assert not Identification.parse("/isK5x").fast_reaction
    assert Identification.parse("/ISk5x").fast_reaction
    assert Identification.parse("/ISk5x").reaction_time_min_s == 0.02


def test_long_identification_is_kept_whole() -> None:
    line = "/AUX5\\2" + "X" * 60
    parsed = Identification.parse(line)
    assert parsed.identification == "X" * 60
    assert len(parsed.to_bytes()) == len(line) + 2


@pytest.mark.parametrize("line", ["", "/", "/AB", "LGZ4ZMF100", "?LGZ4", " /LGZ4"])
def test_not_an_identification(line: str) -> None:
    with pytest.raises(FramingError, match="identification"):
        Identification.parse(line)


def test_mode_values() -> None:
    assert [m.value for m in ProtocolMode] == ["A", "B", "C", "D", "E", "HDLC"]
    assert ProtocolMode("C") is ProtocolMode.C


@pytest.mark.parametrize(
    "line", ["/ISk5M/TL1G7Z44-Z0M0F0110\r0", "/LGZ4ZMF\x00\x00100", "/LGZ4\x7fZMF100", "/ABC5\tX"]
)
def test_control_character_inside_an_identification_is_rejected(line: str) -> None:
    # two meters answering at once on a shared bus interleave their lines
    with pytest.raises(FramingError, match="control character"):
        Identification.parse(line)


def test_lenient_identifications_stay_accepted() -> None:
    for line in ("/AUX5\\2SX330SKH10F10013", "/EMH5\\@D4EM4TWII001--", "/ISk5M/T 174 @x  "):
        assert Identification.parse(line).to_bytes() == line.encode() + b"\r\n"
