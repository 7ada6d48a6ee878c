"""The readout data message: framing, BCC, parse_readout (§3.4, §3.9, §10.1, §12.1)."""

from __future__ import annotations

import pytest

from obisgate import parse_readout as exported_parse_readout
from obisgate.errors import ChecksumError, FramingError, ProtocolError
from obisgate.protocol.bcc import BccMethod
from obisgate.protocol.dataset import DataSet, Value
from obisgate.protocol.identification import Identification
from obisgate.protocol.readout import (
    BccStatus,
    RawMessage,
    Readout,
    maybe_extract_data_message,
    parse_readout,
)
from tests.helpers import all_bit7, frame, readout_frame, to_7e1

# §10.1, the meter's data message at 4800 Bd, byte for byte.
TRANSCRIPT_10_1 = bytes.fromhex(
    "02 46 2E 46 28 30 30 29 0D 0A 43 2E 31 2E 30 28 31 32 33 31 34 33 33 30 29 0D 0A"
    "30 2E 30 2E 30 28 30 30 31 38 38 31 32 33 29 0D 0A 31 2E 38 2E 30 28 30 30 31 32"
    "33 34 2E 31 32 30 2A 6B 57 68 29 0D 0A 32 2E 38 2E 30 28 30 30 30 30 30 30 2E 30"
    "30 30 2A 6B 57 68 29 0D 0A 33 32 2E 37 28 32 32 39 2A 56 29 0D 0A 33 31 2E 37 28"
    "30 30 30 2E 30 33 2A 41 29 0D 0A 30 2E 39 2E 31 28 31 33 31 35 31 39 29 0D 0A 30"
    "2E 39 2E 32 28 32 34 30 33 31 35 29 0D 0A 21 0D 0A 03 43"
)
IDENT_10_1 = bytes.fromhex("2F 4C 47 5A 34 5A 4D 46 31 30 30 41 43 2E 4D 32 33 0D 0A")
E350_SETS = (
    DataSet("F.F", (Value("00", "00", None),)),
    DataSet("C.1.0", (Value("12314330", "12314330", None),)),
    DataSet("0.0.0", (Value("00188123", "00188123", None),)),
    DataSet("1.8.0", (Value("001234.120*kWh", "001234.120", "kWh"),)),
    DataSet("2.8.0", (Value("000000.000*kWh", "000000.000", "kWh"),)),
    DataSet("32.7", (Value("229*V", "229", "V"),)),
    DataSet("31.7", (Value("000.03*A", "000.03", "A"),)),
    DataSet("0.9.1", (Value("131519", "131519", None),)),
    DataSet("0.9.2", (Value("240315", "240315", None),)),
)
LGZ = Identification("LGZ", "4", "", "ZMF100AC.M23")


def one(address: str, raw: str) -> DataSet:
    return DataSet(address, (Value.from_raw(raw),))


# -- the §10.1 transcript -----------------------------------------------------------


def test_transcript_vector_is_what_the_document_says() -> None:
    assert TRANSCRIPT_10_1[0] == 0x02
    assert TRANSCRIPT_10_1[-2:] == b"\x03C"
    assert IDENT_10_1 == b"/LGZ4ZMF100AC.M23\r\n"
    # our framing helper reproduces the document's bytes exactly
    lines = [d.to_text() for d in E350_SETS]
    assert readout_frame(lines) == TRANSCRIPT_10_1


def test_parse_transcript() -> None:
    readout = parse_readout(TRANSCRIPT_10_1)
    assert readout == Readout(E350_SETS, BccStatus.VALID)
    assert readout.identification is None
    assert readout.unparsed == ()
    assert exported_parse_readout is parse_readout


def test_parse_transcript_with_identification() -> None:
    readout = parse_readout(IDENT_10_1 + TRANSCRIPT_10_1)
    assert readout.identification == LGZ
    assert readout.datasets == E350_SETS
    assert readout.bcc is BccStatus.VALID


def test_extract_transcript() -> None:
    msg = maybe_extract_data_message(TRANSCRIPT_10_1)
    assert msg == RawMessage(0, len(TRANSCRIPT_10_1), TRANSCRIPT_10_1[1:-1], 0x43)
    assert msg.terminator == 0x03
    assert msg.data_text() == TRANSCRIPT_10_1[1:-5].decode()


@pytest.mark.parametrize("junk", [b"\x7f", b"\x00\x00\x00", b"\x7f\x00\r\n", b"\xff\x80"])
def test_junk_before_identification(junk: bytes) -> None:
    readout = parse_readout(junk + IDENT_10_1 + TRANSCRIPT_10_1)
    assert readout.identification == LGZ
    assert readout.datasets == E350_SETS


@pytest.mark.parametrize("encode", [to_7e1, all_bit7])
def test_bit7_set_on_every_byte(encode: object) -> None:
    assert callable(encode)
    data = encode(IDENT_10_1 + TRANSCRIPT_10_1)
    assert data[0] == 0xAF  # "/" with its parity bit
    readout = parse_readout(data)
    assert readout.identification == LGZ
    assert readout.datasets == E350_SETS
    assert readout.bcc is BccStatus.VALID


@pytest.mark.parametrize("trailer", [b"/MCS5\\@V0050710000051\r\n", b"\x02\x03junk", b"!\r\n"])
def test_trailing_bytes_after_bcc_are_left_alone(trailer: bytes) -> None:
    data = TRANSCRIPT_10_1 + trailer
    msg = maybe_extract_data_message(data)
    assert msg is not None
    assert msg.end == len(TRANSCRIPT_10_1)
    assert data[msg.end :] == trailer
    assert parse_readout(data).datasets == E350_SETS


# -- BCC --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "method", "bcc"),
    [
        ("aac", "xor", 0x02),
        ("aab", "xor", 0x03),
        ("aae", "xor", 0x04),
        ("ADZ", "sum7", 0x02),
        ("AEZ", "sum7", 0x03),
        ("AFZ", "sum7", 0x04),
    ],
)
def test_bcc_equal_to_a_control_character(value: str, method: str, bcc: int) -> None:
    data = readout_frame([f"C.1.0({value})"], method=method)
    assert data[-1] == bcc  # the byte after ETX is the BCC, whatever it is
    for tail in (b"", b"\x03", b"\x02\x03X"):
        msg = maybe_extract_data_message(data + tail)
        assert msg is not None
        assert msg.bcc == bcc
        assert msg.end == len(data)
    readout = parse_readout(data + b"\x03", bcc_method=method)
    assert readout.datasets == (one("C.1.0", value),)
    assert readout.bcc is BccStatus.VALID
    with pytest.raises(ChecksumError):
        parse_readout(data, bcc_method="sum7" if method == "xor" else "xor")


def test_sum7_readout() -> None:
    data = readout_frame(["ET0PE(0012345.67)"], method="sum7")
    assert parse_readout(data, bcc_method=BccMethod.SUM7).bcc is BccStatus.VALID
    assert parse_readout(data, bcc_method="sum7").datasets == (one("ET0PE", "0012345.67"),)


def test_wrong_bcc() -> None:
    bad = TRANSCRIPT_10_1[:-1] + b"D"
    with pytest.raises(ChecksumError, match="checksum") as info:
        parse_readout(bad)
    assert info.value.expected == 0x43
    assert info.value.received == 0x44
    assert info.value.attempts == 1
    assert "0x43" in str(info.value)
    assert "0x44" in str(info.value)


def test_verify_bcc_off() -> None:
    bad = TRANSCRIPT_10_1[:-1] + b"D"
    readout = parse_readout(bad, verify_bcc=False)
    assert readout.bcc is BccStatus.NOT_CHECKED
    assert readout.datasets == E350_SETS
    assert parse_readout(TRANSCRIPT_10_1, verify_bcc=False).bcc is BccStatus.NOT_CHECKED


@pytest.mark.parametrize("cut", [1, 2, 50, len(TRANSCRIPT_10_1) - 2, len(TRANSCRIPT_10_1) - 1])
def test_truncated_framed_message(cut: int) -> None:
    with pytest.raises(FramingError, match="truncated"):
        parse_readout(TRANSCRIPT_10_1[:cut])
    with pytest.raises(FramingError, match="truncated"):
        parse_readout(IDENT_10_1 + TRANSCRIPT_10_1[:cut])
    assert maybe_extract_data_message(TRANSCRIPT_10_1[:cut]) is None


def test_identification_without_line_end() -> None:
    with pytest.raises(FramingError, match="CR LF"):
        parse_readout(b"/LGZ4ZMF100AC.M23")


def test_bad_bcc_method() -> None:
    with pytest.raises(ValueError, match="crc"):
        parse_readout(TRANSCRIPT_10_1, bcc_method="crc")


# -- unframed readouts and field variants -------------------------------------------

UNFRAMED_VARIANTS = [
    b"1.8.0(001234.120*kWh)\r\n2.8.0(000000.000*kWh)\r\n!\r\n",  # standard
    b"1.8.0(001234.120*kWh)\r\n2.8.0(000000.000*kWh)!\r\n",  # "!" glued to the line
    b"1.8.0(001234.120*kWh)\n2.8.0(000000.000*kWh)\n!\n",  # LF only
    b"1.8.0(001234.120*kWh)\r\n2.8.0(000000.000*kWh)\r\n!",  # no final CR LF
    b"1.8.0(001234.120*kWh)2.8.0(000000.000*kWh)!\r\n",  # one line
    b"1.8.0(001234.120*kWh)\r\n2.8.0(000000.000*kWh)\r\n",  # no "!" at all
]
UNFRAMED_SETS = (one("1.8.0", "001234.120*kWh"), one("2.8.0", "000000.000*kWh"))


@pytest.mark.parametrize("data", UNFRAMED_VARIANTS)
def test_unframed_readout(data: bytes) -> None:
    readout = parse_readout(data)
    assert readout.datasets == UNFRAMED_SETS
    assert readout.bcc is BccStatus.ABSENT
    assert readout.unparsed == ()
    with_ident = parse_readout(b"/EMH5\\@D4EM4TWII001--\r\n" + data)
    assert with_ident.datasets == UNFRAMED_SETS
    assert with_ident.identification == Identification("EMH", "5", "\\@", "D4EM4TWII001--")


@pytest.mark.parametrize(
    "data",
    [
        b"\x021.8.0(001234.120*kWh)\r\n2.8.0(000000.000*kWh)!\r\n\x03",
        b"\x021.8.0(001234.120*kWh)\n2.8.0(000000.000*kWh)\n!\n\x03",
        b"\x021.8.0(001234.120*kWh)\r\n2.8.0(000000.000*kWh)\r\n!\x03",
        b"\x021.8.0(001234.120*kWh)\r\n2.8.0(000000.000*kWh)\r\n\x03",  # no "!"
    ],
)
def test_framed_variants(data: bytes) -> None:
    data = frame(data[1:-1])
    readout = parse_readout(data)
    assert readout.datasets == UNFRAMED_SETS
    assert readout.bcc is BccStatus.VALID


def test_mode_d_push() -> None:
    # §5.4: identification, an empty line, data, no STX/ETX/BCC.
    data = b"/ESY3EasyMeter\r\n\r\n1-0:1.8.0*255(00012345.6789*kWh)\r\n0.0.0(1ESY1160)\r\n!\r\n"
    readout = parse_readout(data)
    assert readout.identification == Identification("ESY", "3", "", "EasyMeter")
    assert readout.datasets == (
        one("1-0:1.8.0*255", "00012345.6789*kWh"),
        one("0.0.0", "1ESY1160"),
    )
    assert readout.bcc is BccStatus.ABSENT


def test_slash_inside_a_framed_value() -> None:
    data = readout_frame(["0.2.0(/SX330)", "C.90(P/S)"])
    sets = (one("0.2.0", "/SX330"), one("C.90", "P/S"))
    assert parse_readout(data).datasets == sets
    assert parse_readout(data).identification is None
    readout = parse_readout(b"/AUX5\\2SX330SKH10F10013\r\n" + data)
    assert readout.identification == Identification("AUX", "5", "\\2", "SX330SKH10F10013")
    assert readout.datasets == sets


def test_slash_inside_an_unframed_value() -> None:
    # §11 #13: "/" in a value must not be taken for an identification, framed or not.
    data = b"1.8.0(001234.120*kWh)\r\n0.2.0(/SX330)\r\n!\r\n"
    readout = parse_readout(data)
    assert readout.identification is None
    assert readout.datasets == (one("1.8.0", "001234.120*kWh"), one("0.2.0", "/SX330"))
    readout = parse_readout(b"/AUX5\\2SX330\r\n" + data)
    assert readout.identification == Identification("AUX", "5", "\\2", "SX330")
    assert len(readout.datasets) == 2


def test_framed_lines_of_300_characters_and_more() -> None:
    uh50 = "".join(f"6.{i}({i:08d}*GJ)" for i in range(30))  # L+G UH50 style
    assert len(uh50) > 300
    data = readout_frame([uh50, "9.4(088*C&082*C)", "1.8.0(" + "1" * 500 + "*kWh)"])
    readout = parse_readout(b"/LUGCUH50\r\n" + data)
    assert readout.identification == Identification("LUG", "C", "", "UH50")
    assert [d.address for d in readout.datasets[:30]] == [f"6.{i}" for i in range(30)]
    assert readout.datasets[29] == one("6.29", "00000029*GJ")
    assert readout.datasets[30].value.subvalues[1] == Value("082*C", "082", "C")
    assert readout.datasets[31].value == Value("1" * 500 + "*kWh", "1" * 500, "kWh")
    assert readout.unparsed == ()


def test_unparsed_fragments_are_reported() -> None:
    readout = parse_readout(readout_frame(["1.8.0(1)", "noise", "2.8.0(2"]))
    assert readout.datasets == (one("1.8.0", "1"),)
    # the text between two data sets is kept as one fragment
    assert readout.unparsed == ("noise\r\n2.8.0(2",)


def test_empty_readout() -> None:
    readout = parse_readout(readout_frame([]))
    assert readout == Readout((), BccStatus.VALID)
    assert parse_readout(b"").datasets == ()
    assert parse_readout(b"").bcc is BccStatus.ABSENT


def test_readout_get() -> None:
    readout = parse_readout(readout_frame(["1.8.0(1)", "2.8.0(2)", "1.8.0(3)", "(4)"]))
    assert readout.get("1.8.0") == one("1.8.0", "1")  # the first one wins
    assert readout.get("2.8.0") == one("2.8.0", "2")
    assert readout.get("") == one("", "4")
    assert readout.get("9.9.9") is None
    assert Readout((), BccStatus.VALID).get("1.8.0") is None


# -- maybe_extract_data_message -----------------------------------------------------


def test_extract_needs_more_bytes() -> None:
    assert maybe_extract_data_message(b"") is None
    assert maybe_extract_data_message(b"\r\n\x00\x7f") is None
    assert maybe_extract_data_message(b"\x02abc") is None
    assert maybe_extract_data_message(b"\x02abc\x03") is None  # BCC not yet there
    assert maybe_extract_data_message(b"1.8.0(1)") is None
    assert maybe_extract_data_message(b"1.8.0(1)!") is None
    assert maybe_extract_data_message(b"1.8.0(1)!\r") is None


def test_extract_unframed_end_variants() -> None:
    assert maybe_extract_data_message(b"a(1)!\r\nrest") == RawMessage(0, 7, b"a(1)!", None)
    assert maybe_extract_data_message(b"a(1)!\nrest") == RawMessage(0, 6, b"a(1)!", None)
    assert maybe_extract_data_message(b"a(1)!\rrest") == RawMessage(0, 6, b"a(1)!", None)
    assert maybe_extract_data_message(b"a(1)!rest") == RawMessage(0, 5, b"a(1)!", None)
    msg = maybe_extract_data_message(b"\r\n\x00a(1)!\r\n")
    assert msg == RawMessage(3, 10, b"a(1)!", None)
    assert msg.terminator is None
    assert msg.data_text() == "a(1)"


def test_extract_skips_line_ends_before_stx() -> None:
    data = b"\r\n\x00\x7f" + TRANSCRIPT_10_1
    msg = maybe_extract_data_message(data)
    assert msg is not None
    assert (msg.start, msg.end, msg.bcc) == (4, len(data), 0x43)


def test_extract_partial_block_ends_at_eot() -> None:
    # §10.4: a partial block ends at EOT, and its BCC (here 0x02) follows.
    data = b"\x020000(0123456789ABCDEF)\r\n0010(0123456789ABCDEF)\x04\x02"
    msg = maybe_extract_data_message(data + b"\x020020(...)")
    assert msg is not None
    assert msg.end == len(data)
    assert msg.terminator == 0x04
    assert msg.bcc == 0x02
    assert msg.data_text() == "0000(0123456789ABCDEF)\r\n0010(0123456789ABCDEF)"
    assert parse_readout(data).datasets == (
        one("0000", "0123456789ABCDEF"),
        one("0010", "0123456789ABCDEF"),
    )


def test_extract_resumes_with_scan_from() -> None:
    data = TRANSCRIPT_10_1
    for scan in (0, 1, 50, len(data) - 2):
        assert maybe_extract_data_message(data, scan) == maybe_extract_data_message(data)
    unframed = UNFRAMED_VARIANTS[0]
    bang = unframed.index(b"!")
    assert maybe_extract_data_message(unframed, bang) == maybe_extract_data_message(unframed)


@pytest.mark.parametrize(
    ("data", "what"),
    [
        (b"/LGZ4ZMF100AC.M23\r\n", "identification"),
        (b"\x01P0\x02(1)\x03a", "0x01"),
        (b"\x06", "0x06"),
        (b"\x15", "0x15"),
        (b"\x03C", "0x03"),
        (b"\x04", "0x04"),
        (b"\r\n\x00\x1b[0m", "0x1B"),
    ],
)
def test_extract_rejects_what_cannot_start_a_data_message(data: bytes, what: str) -> None:
    with pytest.raises(FramingError, match=what):
        maybe_extract_data_message(data)


def test_parse_readout_rejects_a_second_identification() -> None:
    with pytest.raises(ProtocolError):
        parse_readout(IDENT_10_1 + IDENT_10_1 + TRANSCRIPT_10_1)


# -- line noise before STX (a glitch, a rate switch, two meters answering at once) -----

# What glitches look like once the parity bit is masked: 0xFF, 0xF8, 0xE0, 0xC0, 0x80.
NOISE = [b"A", b"x", b"A" + b"\x00" * 20, b"`@\x7f~", b"\xf8\xe0\xc0\x80", b"x\r\nA\r\n"]


@pytest.mark.parametrize("noise", NOISE)
def test_noise_before_stx_with_a_correct_bcc_is_read_and_checked(noise: bytes) -> None:
    readout = parse_readout(noise + TRANSCRIPT_10_1)
    assert readout.bcc is BccStatus.VALID
    assert readout.datasets == E350_SETS  # the noise is not part of the first address
    with_ident = parse_readout(IDENT_10_1 + noise + TRANSCRIPT_10_1)
    assert with_ident.identification == LGZ
    assert with_ident.datasets == E350_SETS
    assert parse_readout(noise + TRANSCRIPT_10_1, verify_bcc=False).bcc is BccStatus.NOT_CHECKED
    msg = maybe_extract_data_message(noise + TRANSCRIPT_10_1)
    assert msg == RawMessage(
        len(noise), len(noise) + len(TRANSCRIPT_10_1), TRANSCRIPT_10_1[1:-1], 0x43
    )


@pytest.mark.parametrize("noise", NOISE)
def test_noise_before_stx_with_a_wrong_bcc_is_a_checksum_error(noise: bytes) -> None:
    bad = TRANSCRIPT_10_1[:-1] + b"D"
    with pytest.raises(ChecksumError):
        parse_readout(noise + bad)
    with pytest.raises(ChecksumError):
        parse_readout(IDENT_10_1 + noise + bad)


def test_two_meters_at_once_noise_inside_the_block_is_a_checksum_error() -> None:
    # The collision as the simulator shows it: junk and NULs before STX, a byte
    # of the block garbled (NULs alone would not change an XOR).
    body = TRANSCRIPT_10_1[1:-1]
    garbled = b"A" + bytes(16) + b"\x02" + body[:2] + b" " + body[3:] + b"\x43"
    with pytest.raises(ChecksumError):
        parse_readout(b"/ISk5M/TL1G7Z44-Z0M0F01100\r\n" + garbled)


@pytest.mark.parametrize(
    "data",
    [
        b"A\x021.8.0(001234.120*kWh)\r\n2.8.0(000000.000*kWh)\r\n!\r\n",  # no ETX, no BCC
        b"A\x00\x00\x021.8.0(1)\r\n!\r\n\x03",  # ETX but the BCC not yet there
        b"x\r\n\x021.8.0(001234.120*kWh)\r\n",  # STX after a line end, no "!"
    ],
)
def test_junk_and_stx_is_never_an_unframed_readout(data: bytes) -> None:
    with pytest.raises(FramingError, match="truncated"):
        parse_readout(data)
    with pytest.raises(FramingError, match="truncated"):
        parse_readout(b"/EMH5\\@D4EM4TWII001--\r\n" + data)
    assert maybe_extract_data_message(data) is None  # waits for ETX and BCC


def test_frame_cut_after_noise_follows_the_cut_frame_rule() -> None:
    data = b"A\x00\x021.8.0(001234.120*kWh)\r\n2.8.0(000000.000*kWh)\r\n!\r\n"
    readout = parse_readout(data, verify_bcc=False)
    assert readout.bcc is BccStatus.MISSING
    assert readout.datasets == UNFRAMED_SETS


def test_stx_after_the_end_of_an_unframed_readout_is_a_trailer() -> None:
    data = UNFRAMED_VARIANTS[0] + TRANSCRIPT_10_1
    readout = parse_readout(data)
    assert readout.bcc is BccStatus.ABSENT
    assert readout.datasets == UNFRAMED_SETS


@pytest.mark.parametrize(
    ("noise", "what"),
    [(b"x/LGZ4ZMF100AC.M23\r\n", "identification"), (b"x\x01P0", "command message")],
)
def test_a_message_start_before_stx_is_not_noise(noise: bytes, what: str) -> None:
    with pytest.raises(FramingError, match=what):
        maybe_extract_data_message(noise + TRANSCRIPT_10_1)
    with pytest.raises(FramingError, match=what):
        parse_readout(IDENT_10_1 + noise + TRANSCRIPT_10_1)


def test_noise_before_stx_arriving_byte_by_byte() -> None:
    data = b"A\x00\x00" + TRANSCRIPT_10_1
    scan = 0
    for n in range(1, len(data)):
        assert maybe_extract_data_message(data[:n], scan) is None
        scan = max(n - 2, 0)  # what the client passes
    msg = maybe_extract_data_message(data, scan)
    assert msg is not None
    assert (msg.start, msg.bcc) == (3, 0x43)


def test_a_checksum_of_the_other_method_is_named() -> None:
    """Byte-exact: a SUM7 frame read as XOR (and back) says which method matches."""
    sum7 = readout_frame(["ET0PE(0012345.67)"], method="sum7")
    with pytest.raises(ChecksumError) as as_xor:
        parse_readout(sum7)
    assert as_xor.value.hint == (
        'this meter may use --bcc sum7 (bcc_method = "sum7" in the configuration): '
        "its checksum matches the 7-bit sum"
    )
    assert str(as_xor.value).endswith(f"; {as_xor.value.hint}")
    xor = readout_frame(["ET0PE(0012345.67)"], method="xor")
    assert xor[-1] != sum7[-1]
    with pytest.raises(ChecksumError) as as_sum7:
        parse_readout(xor, bcc_method="sum7")
    assert "--bcc xor" in as_sum7.value.hint and "the standard XOR" in as_sum7.value.hint
    with pytest.raises(ChecksumError) as neither:
        parse_readout(TRANSCRIPT_10_1[:-1] + b"D")
    assert neither.value.hint == ""
    assert ";" not in str(neither.value)
