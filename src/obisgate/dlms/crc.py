"""CRC-16/X.25 (ISO/IEC 13239), the HCS and FCS of HDLC frames (IEC 62056-46).

Polynomial x^16 + x^12 + x^5 + 1, bits reflected (0x8408), initial value
0xFFFF, result inverted, sent low byte first. The check value of the nine
ASCII digits ``123456789`` is 0x906E.
"""

from __future__ import annotations

from typing import Final

__all__ = ["crc16_x25", "fcs_bytes"]


def _table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8408 if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_TABLE: Final = _table()


def crc16_x25(data: bytes | bytearray | memoryview) -> int:
    """The CRC-16/X.25 of ``data`` (already inverted: the value a frame carries)."""
    crc = 0xFFFF
    table = _TABLE
    for byte in data:
        crc = (crc >> 8) ^ table[(crc ^ byte) & 0xFF]
    return crc ^ 0xFFFF


def fcs_bytes(data: bytes | bytearray | memoryview) -> bytes:
    """The two check bytes of ``data`` as they follow it on the line (low byte first)."""
    crc = crc16_x25(data)
    return bytes((crc & 0xFF, crc >> 8))
