"""Block check character (§3.9) and the character helpers of chars.py."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from obisgate.protocol.bcc import BccMethod, compute_bcc
from obisgate.protocol.chars import MASK_7BIT, add_even_parity, wire_time_s
from tests.helpers import ref_bcc_sum7, ref_bcc_xor, to_7e1

# (frame after its first SOH/STX up to and including ETX, BCC) from §3.9 and §10.
XOR_VECTORS = [
    (b"P0\x02(1234567)\x03", 0x50),
    (bytes.fromhex("57 32 02 43 30 30 33 28 39 31 30 33 32 34 30 39 32 32 33 39 29 03"), 0x1B),
    (b"R5\x02P.01(;)\x03", 0x23),
    (b"B0\x03", 0x71),
    (b"P0\x02(12314330)\x03", 0x65),
    (b"P1\x02(00000000)\x03", 0x61),
    (b"R1\x021.8.0()\x03", 0x5A),
    (b"1.8.0(001234.120*kWh)\x03", 0x5C),
    (b"W1\x020.9.1(131600)\x03", 0x5B),
    (b"(ER04)\x03", 0x11),
    (b"R5\x02P.01(02403150000;02403151000)\x03", 0x22),
    (b"R3\x020000(20)\x03", 0x63),
    # §10.4: partial blocks whose BCC is itself STX / ETX
    (b"0000(0123456789ABCDEF)\r\n0010(0123456789ABCDEF)\x04", 0x02),
    (b"0020(0123456789ABCDEF)\r\n0030(01234567)\x03", 0x03),
]

SUM7_VECTORS = [
    (b"R1\x02ET0PE()\x03", 0x37),  # Energomera fixture, §3.9
]


@pytest.mark.parametrize(("block", "bcc"), XOR_VECTORS)
def test_xor_vectors(block: bytes, bcc: int) -> None:
    assert compute_bcc(block) == bcc
    assert compute_bcc(block, BccMethod.XOR) == bcc
    assert ref_bcc_xor(block) == bcc  # the reference agrees with the document


@pytest.mark.parametrize(("block", "bcc"), SUM7_VECTORS)
def test_sum7_vectors(block: bytes, bcc: int) -> None:
    assert compute_bcc(block, BccMethod.SUM7) == bcc
    assert compute_bcc(block, BccMethod("sum7")) == bcc


def test_sum7_differs_from_xor_on_the_same_block() -> None:
    block = b"R1\x02ET0PE()\x03"
    assert compute_bcc(block, BccMethod.XOR) == 0x57
    assert compute_bcc(block, BccMethod.SUM7) == 0x37


def test_empty_and_single_byte_blocks() -> None:
    assert compute_bcc(b"") == 0
    assert compute_bcc(b"", BccMethod.SUM7) == 0
    assert compute_bcc(b"\x03") == 0x03
    assert compute_bcc(b"\xff") == 0x7F
    assert compute_bcc(b"\x83") == 0x03


def test_bit7_is_ignored() -> None:
    block = b"F.F(00)\r\n!\r\n\x03"
    assert compute_bcc(to_7e1(block)) == compute_bcc(block)
    assert compute_bcc(to_7e1(block), BccMethod.SUM7) == compute_bcc(block, BccMethod.SUM7)


def test_large_blocks() -> None:
    block = bytes(range(256)) * 64  # 16 kB, exercises the folding for every width
    assert compute_bcc(block) == ref_bcc_xor(block)
    assert compute_bcc(block, BccMethod.SUM7) == ref_bcc_sum7(block)


def test_xor_matches_reference_at_every_length_around_the_fold_widths() -> None:
    # The fold masks blocks over 256 bytes and leaves the last eight halvings unmasked:
    # every length up to 1100 bytes crosses both, and the powers of two they turn on.
    rng = random.Random(1155)
    for size in range(1100):
        block = rng.randbytes(size)
        assert compute_bcc(block) == ref_bcc_xor(block), size


@given(st.binary(max_size=300))
def test_xor_matches_reference(block: bytes) -> None:
    assert compute_bcc(block) == ref_bcc_xor(block)


@given(st.binary(max_size=300))
def test_sum7_matches_reference(block: bytes) -> None:
    assert compute_bcc(block, BccMethod.SUM7) == ref_bcc_sum7(block)


def test_bcc_method_values() -> None:
    assert BccMethod("xor") is BccMethod.XOR
    assert BccMethod("sum7") is BccMethod.SUM7
    with pytest.raises(ValueError, match="crc"):
        BccMethod("crc")


# -- chars.py -----------------------------------------------------------------


def test_add_even_parity_annex_e_example() -> None:
    # Annex E / §5.5: <ACK>252<CR><LF> at 9600 8N1 arrives as 06 B2 35 B2 8D 0A.
    assert add_even_parity(b"\x06252\r\n") == bytes.fromhex("06 B2 35 B2 8D 0A")
    assert add_even_parity(b"/") == b"\xaf"
    assert add_even_parity(b"\r") == b"\x8d"


def test_add_even_parity_every_byte() -> None:
    for b in range(256):
        out = add_even_parity(bytes((b,)))[0]
        assert out & 0x7F == b & 0x7F
        assert bin(out).count("1") % 2 == 0
    assert add_even_parity(bytes(range(128))) == to_7e1(bytes(range(128)))


def test_mask_7bit() -> None:
    assert len(MASK_7BIT) == 256
    assert bytes(range(256)).translate(MASK_7BIT) == bytes(range(128)) * 2
    assert b"\xaf\x8d\x0a".translate(MASK_7BIT) == b"/\r\n"


def test_wire_time() -> None:
    assert wire_time_s(6, 300) == pytest.approx(0.2)  # the option select at 300 Bd
    assert wire_time_s(1, 9600) == pytest.approx(10 / 9600)


def test_method_given_as_plain_string() -> None:
    # Settings read from files arrive as text; "sum7" must not silently mean XOR.
    block = b"R1\x02ET0PE()\x03"
    assert compute_bcc(block, "sum7") == 0x37  # type: ignore[arg-type]
    assert compute_bcc(block, "xor") == 0x57  # type: ignore[arg-type]
