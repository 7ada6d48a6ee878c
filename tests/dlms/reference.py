"""Reference implementations written independently of the code under test.

A bitwise CRC-16/X.25 (straight from the definition: reflected 0x1021, init
0xFFFF, inverted result) and a frame builder that lays out HDLC frame format
type 3 field by field, so the tests compare two implementations.
"""

from __future__ import annotations


def ref_crc(data: bytes) -> int:
    """CRC-16/X.25 bit by bit."""
    crc = 0xFFFF
    for byte in data:
        for bit in range(8):
            mix = (crc ^ (byte >> bit)) & 1
            crc >>= 1
            if mix:
                crc ^= 0x8408
    return crc ^ 0xFFFF


def ref_frame(
    dest: bytes, src: bytes, control: int, info: bytes = b"", segmented: bool = False
) -> bytes:
    """``7E format dest src control HCS [info FCS] 7E`` with both checks computed here."""
    length = 2 + len(dest) + len(src) + 1 + 2 + (len(info) + 2 if info else 0)
    fmt = bytes(((0xA8 if segmented else 0xA0) | (length >> 8), length & 0xFF))
    header = fmt + dest + src + bytes((control,))
    hcs = ref_crc(header)
    body = header + hcs.to_bytes(2, "little")
    if info:
        body += info
        body += ref_crc(body).to_bytes(2, "little")
    return b"\x7e" + body + b"\x7e"
