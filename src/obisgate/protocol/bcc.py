"""Block check character (BCC): XOR per ISO/IEC 1155, or the 7-bit sum some meters use."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["BccMethod", "bcc_hint", "compute_bcc"]


class BccMethod(StrEnum):
    """How a meter computes its block check character."""

    XOR = "xor"
    """Longitudinal parity, as the standard requires."""
    SUM7 = "sum7"
    """Sum modulo 128 (Energomera and other GOST meters)."""


_SUM7 = BccMethod.SUM7


def compute_bcc(block: bytes, method: BccMethod = BccMethod.XOR) -> int:
    """Return the BCC of ``block``.

    Args:
        block: every byte after the first SOH or STX, up to and including the
            terminating ETX or EOT.
        method: XOR (the standard) or SUM7.

    Returns:
        The check value, 0x00-0x7F (bit 7 of the input is ignored).
    """
    if method == _SUM7:  # == also accepts the plain string "sum7"
        return sum(block) & 0x7F
    return _xor_all(block) & 0x7F


def bcc_hint(block: bytes, received: int, method: BccMethod) -> str:
    """What to try when ``received`` is wrong for ``method`` but right for the other
    one (a SUM7 meter read with XOR, or back); ``""`` otherwise."""
    other = BccMethod.XOR if method == BccMethod.SUM7 else BccMethod.SUM7
    if compute_bcc(block, other) != received & 0x7F:
        return ""
    how = "the standard XOR" if other == BccMethod.XOR else "the 7-bit sum"
    return (
        f'this meter may use --bcc {other.value} (bcc_method = "{other.value}" in the '
        f"configuration): its checksum matches {how}"
    )


def _xor_all(block: bytes) -> int:
    # Fold the block as one big integer: each halving XORs two halves in C,
    # so a 10 kB readout costs microseconds instead of a Python loop per byte.
    acc = int.from_bytes(block, "big")
    size = len(block)
    if size > 256:
        bits = (size - 1).bit_length()
        wide = _WIDE_HALVINGS[bits] if bits < len(_WIDE_HALVINGS) else _halvings(bits)[:-8]
        for shift, mask in wide:
            acc = (acc >> shift) ^ (acc & mask)
    # The last eight halvings (those of a 256-byte block) unrolled; the last four
    # unmasked: the low ``shift`` bits of ``acc ^ (acc >> shift)`` are the halves
    # XORed and later halvings read only those, so the bits left above never count.
    acc = (acc >> 1024) ^ (acc & _LOW_128)
    acc = (acc >> 512) ^ (acc & _LOW_64)
    acc = (acc >> 256) ^ (acc & _LOW_32)
    acc = (acc >> 128) ^ (acc & _LOW_16)
    acc ^= acc >> 64
    acc ^= acc >> 32
    acc ^= acc >> 16
    acc ^= acc >> 8
    return acc & 0xFF


def _halvings(bits: int) -> tuple[tuple[int, int], ...]:
    """(shift, mask of the lower half) of each halving of a block of ``2 ** bits`` bytes,
    widest first."""
    if bits < len(_HALVINGS):
        return _HALVINGS[bits]
    return tuple((8 << k, (1 << (8 << k)) - 1) for k in reversed(range(bits)))


# Built once for blocks up to 32 KiB (a readout is a few kB): 32 KiB of masks in all.
_LOW_HALVES = [(1 << (8 << k)) - 1 for k in range(15)]
_HALVINGS = [tuple((8 << k, _LOW_HALVES[k]) for k in reversed(range(bits))) for bits in range(16)]
# Blocks over 256 bytes are folded to 256 bytes by these, then by the unrolled eight.
_WIDE_HALVINGS = [halvings[:-8] for halvings in _HALVINGS]
_LOW_16, _LOW_32, _LOW_64, _LOW_128 = _LOW_HALVES[4:8]
