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
    for shift, mask in _halvings((len(block) - 1).bit_length()):
        acc = (acc >> shift) ^ (acc & mask)
    return acc


def _halvings(bits: int) -> tuple[tuple[int, int], ...]:
    """(shift, mask of the lower half) of each halving of a block of ``2 ** bits`` bytes,
    widest first."""
    if bits < len(_HALVINGS):
        return _HALVINGS[bits]
    return tuple((8 << k, (1 << (8 << k)) - 1) for k in reversed(range(bits)))


# Built once for blocks up to 32 KiB (a readout is a few kB): 32 KiB of masks in all.
_LOW_HALVES = [(1 << (8 << k)) - 1 for k in range(15)]
_HALVINGS = [tuple((8 << k, _LOW_HALVES[k]) for k in reversed(range(bits))) for bits in range(16)]
