"""HDLC frame format type 3: CRC, addresses, frames, the frame reader, SNRM/UA parameters."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from obisgate.dlms.crc import crc16_x25, fcs_bytes
from obisgate.dlms.hdlc import (
    Frame,
    FrameKind,
    FrameReader,
    HdlcParameters,
    client_address,
    control_i,
    control_rr,
    control_u,
    decode_server_address,
    server_address,
)
from obisgate.errors import ConfigError
from tests.dlms.reference import ref_crc, ref_frame
from tests.helpers import bytewise

# The SNRM of the notes (mode-e-notes.md, "Testing without hardware"): client 16
# to server 1/17, P bit set, no information field; HCS BD 64.
SNRM = bytes.fromhex("7EA00802232193BD647E")


def test_crc_check_value_and_reference() -> None:
    assert crc16_x25(b"123456789") == 0x906E
    assert crc16_x25(b"") == ref_crc(b"") == 0x0000
    assert fcs_bytes(bytes.fromhex("A008022321 93")) == bytes.fromhex("BD64")


@given(st.binary(max_size=200))
def test_crc_matches_the_bitwise_reference(data: bytes) -> None:
    assert crc16_x25(data) == ref_crc(data)


def test_snrm_vector_from_the_notes() -> None:
    frame = Frame(server_address(1, 17), client_address(16), control_u(FrameKind.SNRM))
    assert frame.encode() == SNRM
    (parsed,) = FrameReader().feed(SNRM)
    assert parsed == frame
    assert parsed.kind is FrameKind.SNRM
    assert parsed.poll_final


@pytest.mark.parametrize(
    ("logical", "physical", "size", "encoded"),
    [
        (1, None, 1, "03"),
        (1, 17, 2, "0223"),
        (1, 17, None, "0223"),
        (1, 256, None, "00020401"),
        (0x3FFF, 0x3FFF, 4, "FEFEFEFF"),
        (1, 17, 4, "00020023"),
    ],
)
def test_server_addresses(
    logical: int, physical: int | None, size: int | None, encoded: str
) -> None:
    address = server_address(logical, physical, size)
    assert address.hex().upper() == encoded
    assert decode_server_address(address) == (logical, physical)


@pytest.mark.parametrize(
    "args", [(128, None, 1), (1, 128, 2), (1, 0x4000, 4), (1, 17, 3), (1, 5, 1)]
)
def test_server_addresses_that_do_not_fit(args: tuple[int, int | None, int]) -> None:
    with pytest.raises(ConfigError):
        server_address(*args)


def test_client_address() -> None:
    assert client_address(16) == b"\x21"
    assert client_address(1) == b"\x03"
    with pytest.raises(ConfigError):
        client_address(128)


@pytest.mark.parametrize(
    ("control", "kind", "ns", "nr", "pf"),
    [
        (0x10, FrameKind.I, 0, 0, True),
        (control_i(3, 5), FrameKind.I, 3, 5, True),
        (control_i(7, 7, poll=False), FrameKind.I, 7, 7, False),
        (control_rr(2), FrameKind.RR, None, 2, True),
        (control_rr(6, not_ready=True), FrameKind.RNR, None, 6, True),
        (0x93, FrameKind.SNRM, None, None, True),
        (0x53, FrameKind.DISC, None, None, True),
        (0x73, FrameKind.UA, None, None, True),
        (0x1F, FrameKind.DM, None, None, True),
        (0x97, FrameKind.FRMR, None, None, True),
        (0x13, FrameKind.UI, None, None, True),
        (0x03, FrameKind.UI, None, None, False),
        (0xFF, FrameKind.UNKNOWN, None, None, True),
    ],
)
def test_control_bytes(
    control: int, kind: FrameKind, ns: int | None, nr: int | None, pf: bool
) -> None:
    frame = Frame(b"\x03", b"\x21", control)
    assert frame.kind is kind
    assert frame.poll_final is pf
    if ns is not None:
        assert frame.ns == ns
    if nr is not None:
        assert frame.nr == nr


frames = st.builds(
    Frame,
    st.sampled_from([b"\x03", b"\x02\x23", b"\x00\x02\x00\x23"]),
    st.sampled_from([b"\x21", b"\x03"]),
    st.integers(0, 255),
    st.binary(max_size=300),
    st.booleans(),
)


@given(frames)
def test_frames_encode_like_the_reference_and_parse_back(frame: Frame) -> None:
    encoded = frame.encode()
    assert encoded == ref_frame(frame.dest, frame.src, frame.control, frame.info, frame.segmented)
    assert FrameReader().feed(encoded) == [frame]


@given(st.lists(frames, min_size=1, max_size=5), st.binary(max_size=30), st.booleans())
def test_reader_skips_junk_and_shares_flags(many: list[Frame], junk: bytes, shared: bool) -> None:
    stream = junk.replace(b"\x7e", b"")
    for frame in many:
        encoded = frame.encode()
        stream += encoded[1:] if shared and stream.endswith(b"\x7e") else encoded
    reader = FrameReader()
    assert reader.feed(stream) == many
    bytewise_reader = FrameReader()
    got = [f for chunk in bytewise(stream) for f in bytewise_reader.feed(chunk)]
    assert got == many


def test_bad_check_sequences_are_dropped_and_counted() -> None:
    good = Frame(b"\x21", b"\x02\x23", control_i(0, 1), b"\xe6\xe7\x00hello").encode()
    bad_fcs = bytearray(good)
    bad_fcs[-3] ^= 0x01
    bad_hcs = bytearray(good)
    bad_hcs[8] ^= 0x40
    reader = FrameReader()
    assert reader.feed(bytes(bad_fcs) + bytes(bad_hcs)) == []
    assert reader.bad_frames >= 2
    assert reader.feed(good) == [FrameReader().feed(good)[0]]


def test_frame_longer_than_the_length_field_is_refused() -> None:
    with pytest.raises(ConfigError):
        Frame(b"\x03", b"\x21", 0x10, bytes(2100)).encode()


def test_hdlc_parameters_round_trip_and_defaults() -> None:
    params = HdlcParameters(512, 256, 1, 7)
    assert HdlcParameters.decode(params.encode()) == params
    # one-byte values, as many meters send them
    ua = bytes.fromhex("818012050180060180070400000001080400000001")
    assert HdlcParameters.decode(ua) == HdlcParameters(128, 128, 1, 1)
    assert HdlcParameters.decode(b"") == HdlcParameters()
    assert HdlcParameters.decode(bytes.fromhex("8180030501FF")) == HdlcParameters(max_info_tx=255)
    for bad in (b"\x81", bytes.fromhex("818005050400"), bytes.fromhex("818102050180")):
        with pytest.raises(ValueError):
            HdlcParameters.decode(bad)
