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
    width = 1 << (len(block) - 1).bit_length()
    acc = int.from_bytes(block, "big")
    masks = _LOW_BYTES
    while width > 1:
        width //= 2
        acc = (acc >> (width * 8)) ^ (acc & (masks.get(width) or _low_bytes(width)))
    return acc


_LOW_BYTES: dict[int, int] = {}
"""``width`` -> an int of ``width`` bytes 0xFF: the masks of the halves, built once (up
to 32 KiB wide; 64 KiB of masks in all)."""


def _low_bytes(width: int) -> int:
    mask = (1 << (width * 8)) - 1
    if width <= 32768:
        _LOW_BYTES[width] = mask
    return mask
