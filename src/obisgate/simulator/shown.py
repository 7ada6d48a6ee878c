"""Bytes as the simulator's logs show them: control characters named, passwords masked."""

from __future__ import annotations

import re
from typing import Final

__all__ = ["Shown", "shown"]

_NAMES: Final = {
    0x00: "<NUL>",
    0x01: "<SOH>",
    0x02: "<STX>",
    0x03: "<ETX>",
    0x04: "<EOT>",
    0x06: "<ACK>",
    0x0A: "<LF>",
    0x0D: "<CR>",
    0x15: "<NAK>",
}
# A password command (P1, P2, ...) keeps its command letters; its data set is masked.
_PASSWORD = re.compile(rb"(\x01P[0-9]\x02)\([^)]*\)?")


def shown(data: bytes, limit: int = 120) -> str:
    """Printable form of ``data`` for a log line.

    Bit 7 is cleared first; ``<SOH>P1<STX>(secret)`` becomes
    ``<SOH>P1<STX>(***)``; output longer than ``limit`` characters is cut
    with a byte count.
    """
    data = _PASSWORD.sub(rb"\1(***)", bytes(b & 0x7F for b in data))
    parts: list[str] = []
    size = 0
    for b in data:
        part = _NAMES.get(b) or (chr(b) if 0x20 <= b < 0x7F else f"<{b:02X}>")
        parts.append(part)
        size += len(part)
        if size > limit:
            return "".join(parts) + f"... ({len(data)} bytes)"
    return "".join(parts)


class Shown:
    """Formats as :func:`shown` of its bytes, only when a log record is emitted."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data

    def __str__(self) -> str:
        return shown(self.data)
