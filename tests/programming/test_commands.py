"""Programming-mode message codecs: byte-exact vectors in both directions (§3.6-3.9, §10)."""

from __future__ import annotations

from datetime import datetime

import pytest

from obisgate.errors import ConfigError, FramingError
from obisgate.protocol.bcc import BccMethod
from obisgate.protocol.commands import (
    BREAK,
    Frame,
    FrameKind,
    break_message,
    command_message,
    data_message,
    error_message,
    error_text,
    execute_message,
    extract_frame,
    masked_password_message,
    password_message,
    profile_request,
    read_message,
    split_command_data,
    write_messages,
)
from tests.helpers import bytewise, ref_bcc_sum7, ref_bcc_xor, to_7e1

# Vectors from docs/iec62056-21.md §3.9 and §10.2-10.4 (hex as printed there).
P0_SERIAL = bytes.fromhex("01 50 30 02 28 31 32 33 31 34 33 33 30 29 03 65")
P1_ZEROS = bytes.fromhex("01 50 31 02 28 30 30 30 30 30 30 30 30 29 03 61")
R1_180 = bytes.fromhex("01 52 31 02 31 2E 38 2E 30 28 29 03 5A")
ANSWER_180 = bytes.fromhex(
    "02 31 2E 38 2E 30 28 30 30 31 32 33 34 2E 31 32 30 2A 6B 57 68 29 03 5C"
)
W1_091 = bytes.fromhex("01 57 31 02 30 2E 39 2E 31 28 31 33 31 36 30 30 29 03 5B")
ERROR_ER04 = bytes.fromhex("02 28 45 52 30 34 29 03 11")
B0 = bytes.fromhex("01 42 30 03 71")
W2_C003 = bytes.fromhex("01 57 32 02 43 30 30 33 28 39 31 30 33 32 34 30 39 32 32 33 39 29 03 1B")
R5_RANGE = bytes.fromhex(
    "01 52 35 02 50 2E 30 31 28 30 32 34 30 33 31 35 30 30 30 30 3B"
    " 30 32 34 30 33 31 35 31 30 30 30 29 03 22"
)
R5_ALL = bytes.fromhex("01 52 35 02 50 2E 30 31 28 3B 29 03 23")
R3_0000 = bytes.fromhex("01 52 33 02 30 30 30 30 28 32 30 29 03 63")
PARTIAL_1 = b"\x020000(0123456789ABCDEF)\r\n0010(0123456789ABCDEF)\x04\x02"  # BCC is STX
PARTIAL_2 = b"\x020020(0123456789ABCDEF)\r\n0030(01234567)\x03\x03"  # BCC is ETX
# Gurux's published Elster A1700 exchange (gurux.fi/node/5415): P0 BCC 'm', P2 BCC 0x60.
ELSTER_P0 = b"\x01P0\x02(FD2BA0E29731D230)\x03m"
ELSTER_P2 = b"\x01P2\x02(BE2C10B158593B3E)\x03\x60"


# -- encoders -----------------------------------------------------------------


def test_encoders_match_the_published_vectors() -> None:
    assert command_message("P0", "(12314330)") == P0_SERIAL
    assert password_message("P1", "00000000") == P1_ZEROS
    assert read_message("1.8.0") == R1_180
    assert data_message("1.8.0(001234.120*kWh)") == ANSWER_180
    assert write_messages("0.9.1", "131600") == [W1_091]
    assert error_message("ER04") == ERROR_ER04
    assert break_message() == B0 == BREAK
    assert write_messages("C003", "910324092239", command="W2") == [W2_C003]
    assert read_message("P.01", ";", command="R5") == R5_ALL
    assert read_message("0000", "20", command="R3") == R3_0000
    assert data_message("0000(0123456789ABCDEF)\r\n0010(0123456789ABCDEF)", partial=True) == (
        PARTIAL_1
    )
    assert data_message("0020(0123456789ABCDEF)\r\n0030(01234567)") == PARTIAL_2
    assert command_message("P0", "(FD2BA0E29731D230)") == ELSTER_P0
    assert password_message("P2", "BE2C10B158593B3E") == ELSTER_P2


def test_profile_request_encodes_vdew_times() -> None:
    start = datetime(2024, 3, 15, 0, 0)
    end = datetime(2024, 3, 15, 10, 0)
    assert profile_request("P.01", start, end) == R5_RANGE
    assert profile_request("P.01") == R5_ALL
    open_end = profile_request("P.01", start, None)
    assert open_end[:-1] == b"\x01R5\x02P.01(02403150000;)\x03"
    assert open_end[-1] == ref_bcc_xor(open_end[1:-1])


@pytest.mark.parametrize(
    ("command", "data", "body"),
    [
        ("R2", "C003()", b"R2\x02C003()"),
        ("R5", "1.8.0()", b"R5\x021.8.0()"),
        ("R6", "P.01(;)", b"R6\x02P.01(;)"),
        ("W5", "0.9.1(131600)", b"W5\x020.9.1(131600)"),
        ("E2", "F001()", b"E2\x02F001()"),
        ("B1", None, b"B1"),
    ],
)
def test_every_command_type_is_framed_with_its_bcc(
    command: str, data: str | None, body: bytes
) -> None:
    block = body + b"\x03"
    assert command_message(command, data) == b"\x01" + block + bytes((ref_bcc_xor(block),))
    sum7 = command_message(command, data, bcc_method=BccMethod.SUM7)
    assert sum7 == b"\x01" + block + bytes((ref_bcc_sum7(block),))


def test_execute_message() -> None:
    block = b"E2\x02F001(01)\x03"
    assert execute_message("F001", "01") == b"\x01" + block + bytes((ref_bcc_xor(block),))


def test_energomera_sum7_vector() -> None:
    # §3.9: <SOH>R1<STX>ET0PE()<ETX> -> '7' with the 7-bit sum.
    assert read_message("ET0PE", bcc_method=BccMethod.SUM7)[-1] == 0x37


def test_partial_write_puts_the_address_only_in_the_first_block() -> None:
    messages = write_messages("FFFF", "0123456789ABCDEF01234", command="W3", block_size=6)
    bodies = [m[1:-2] for m in messages]
    assert bodies == [
        b"W3\x02FFFF(012345)",
        b"W3\x02(6789AB)",
        b"W3\x02(CDEF01)",
        b"W3\x02(234)",
    ]
    assert [m[-2] for m in messages] == [0x04, 0x04, 0x04, 0x03]
    for m in messages:
        assert m[-1] == ref_bcc_xor(m[1:-1])


def test_masked_password_message_reveals_nothing() -> None:
    shown = masked_password_message("P1")
    assert shown == command_message("P1", "(********)")
    assert masked_password_message("P2")[1:3] == b"P2"


@pytest.mark.parametrize(
    "call",
    [
        lambda: command_message("X1"),
        lambda: command_message("R"),
        lambda: password_message("P0", "x"),
        lambda: read_message("1.8.0", command="W1"),
        lambda: read_message("1.8(0"),
        lambda: read_message("1.8.0", "a)b"),
        lambda: write_messages("1.8.0", "1*2"),
        lambda: write_messages("0.9.1", "1", command="R1"),
        lambda: execute_message("F001", command="R1"),
        lambda: break_message("B2"),
        lambda: command_message("R1", "1.8.0(\u00e9)"),
    ],
)
def test_encoders_refuse_what_cannot_be_sent(call: object) -> None:
    with pytest.raises(ConfigError):
        call()  # type: ignore[operator]


def test_password_error_names_no_character_of_the_password() -> None:
    with pytest.raises(ConfigError) as info:
        password_message("P1", "Zq(9")
    text = str(info.value)
    assert "(" not in text
    assert "Zq" not in text
    assert "9" not in text


# -- frame extraction ---------------------------------------------------------


def _extract_all(chunks: list[bytes]) -> list[Frame]:
    buf = bytearray()
    frames = []
    for chunk in chunks:
        buf += chunk
        while (frame := extract_frame(buf)) is not None:
            frames.append(frame)
    assert buf == b""
    return frames


ALL_MESSAGES = [
    P0_SERIAL,
    P1_ZEROS,
    b"\x06",
    R1_180,
    ANSWER_180,
    W1_091,
    b"\x15",
    ERROR_ER04,
    PARTIAL_1,
    PARTIAL_2,
    ELSTER_P0,
    ELSTER_P2,
    B0,
]


@pytest.mark.parametrize("chunking", ["whole", "bytewise", "7e1-bytewise"])
def test_extract_frame_splits_a_stream_of_every_message_kind(chunking: str) -> None:
    stream = b"".join(ALL_MESSAGES)
    if chunking.startswith("7e1"):
        stream = to_7e1(stream)
    chunks = [stream] if chunking == "whole" else bytewise(stream)
    frames = _extract_all(chunks)
    assert [f.raw for f in frames] == ALL_MESSAGES
    assert all(f.bcc_ok for f in frames)
    kinds = [f.kind for f in frames]
    assert kinds == [
        FrameKind.COMMAND,
        FrameKind.COMMAND,
        FrameKind.ACK,
        FrameKind.COMMAND,
        FrameKind.DATA,
        FrameKind.COMMAND,
        FrameKind.NAK,
        FrameKind.DATA,
        FrameKind.DATA,
        FrameKind.DATA,
        FrameKind.COMMAND,
        FrameKind.COMMAND,
        FrameKind.COMMAND,
    ]
    p0, p1 = frames[0], frames[1]
    assert (p0.command, p0.data, p0.partial) == ("P0", "(12314330)", False)
    assert (p1.command, p1.data) == ("P1", "(00000000)")
    assert frames[4].data == "1.8.0(001234.120*kWh)"
    assert frames[8].partial and frames[8].bcc == 0x02
    assert not frames[9].partial and frames[9].bcc == 0x03
    assert frames[-1].is_break and frames[-1].data is None
    assert not frames[3].is_break


def test_extract_frame_reports_a_wrong_bcc_and_waits_for_the_bcc_byte() -> None:
    buf = bytearray(ANSWER_180[:-1])
    assert extract_frame(buf) is None
    buf += b"\x00"
    frame = extract_frame(buf)
    assert frame is not None
    assert not frame.bcc_ok
    assert (frame.expected_bcc, frame.bcc) == (0x5C, 0x00)


def test_extract_frame_skips_line_ends_and_rejects_junk() -> None:
    buf = bytearray(b"\r\n\x00" + b"\x06")
    frame = extract_frame(buf)
    assert frame is not None
    assert frame.kind is FrameKind.ACK
    buf = bytearray(b"xyz" + B0)
    with pytest.raises(FramingError, match="0x78"):
        extract_frame(buf)
    assert bytes(buf) == B0  # junk removed, the message kept
    frame = extract_frame(buf)
    assert frame is not None
    assert frame.is_break


def test_extract_frame_limits_size() -> None:
    buf = bytearray(b"\x02" + b"a" * 100)
    with pytest.raises(FramingError, match="exceeds"):
        extract_frame(buf, max_bytes=50)


def test_command_text_without_stx_is_never_valid() -> None:
    block = b"R11.8.0()\x03"
    buf = bytearray(b"\x01" + block + bytes((ref_bcc_xor(block),)))
    frame = extract_frame(buf)
    assert frame is not None
    assert not frame.bcc_ok


# -- answer interpretation ----------------------------------------------------


@pytest.mark.parametrize(
    ("block", "expected"),
    [
        ("(ER04)", "ER04"),
        ("(ERROR)", "ERROR"),
        ("(ERROR12)", "ERROR12"),
        ("P.01(ERROR)", "ERROR"),
        ("1.8.0(001234.120*kWh)", None),
        ("(ER04*kWh)", None),
        ("(ER01)(ER02)", None),
        ("1.8.0(1)\r\n2.8.0(ERR)", None),
        ("", None),
    ],
)
def test_error_text(block: str, expected: str | None) -> None:
    assert error_text(block) == expected


def test_split_command_data() -> None:
    assert split_command_data("1.8.0()") == ("1.8.0", "")
    assert split_command_data("(12345678)") == ("", "12345678")
    with pytest.raises(FramingError):
        split_command_data("1.8.0")
    with pytest.raises(FramingError):
        split_command_data("a(1)b(2)")
