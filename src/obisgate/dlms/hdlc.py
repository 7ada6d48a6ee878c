"""HDLC frames of IEC 62056-46 (frame format type 3): encoding, decoding, addresses.

A frame on the line::

    7E | format (2) | destination (1, 2 or 4) | source (1, 2 or 4) | control |
         HCS (2) | information ... | FCS (2) | 7E

The format field is ``1010 S LLL LLLLLLLL``: type 3, the segmentation bit S
(more segments follow) and the 11-bit length of everything between the flags.
A frame without information carries only one check sequence after the control
byte. Both checks are CRC-16/X.25 (:mod:`obisgate.dlms.crc`), low byte first.

Addresses use HDLC address extension: each byte carries 7 bits, and the lowest
bit is 1 in the last byte only. A client address is one byte (its SAP); a
server address is its upper (logical device) and lower (physical) parts, one
byte (upper only), two bytes (7 bits each) or four bytes (14 bits each).

:class:`FrameReader` cuts a byte stream into checked frames: bytes before an
opening flag (line noise, a converter's banner) are skipped, a frame whose HCS
or FCS does not match is dropped and counted (the standard discards it
silently; the peer's timeout repairs it), and two frames may share one flag.
Pure functions and classes: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Final

from obisgate.dlms.crc import crc16_x25
from obisgate.errors import ConfigError

__all__ = [
    "FLAG",
    "MAX_FRAME_LENGTH",
    "Frame",
    "FrameKind",
    "FrameReader",
    "HdlcParameters",
    "client_address",
    "control_i",
    "control_rr",
    "control_u",
    "decode_server_address",
    "server_address",
]

FLAG: Final = 0x7E
#: Longest frame the 11-bit length field allows (between the flags).
MAX_FRAME_LENGTH: Final = 0x7FF
_FORMAT_TYPE3: Final = 0xA0
_SEGMENT_BIT: Final = 0x08
#: Smallest frame: format (2) + one-byte addresses (2) + control + check (2).
_MIN_LENGTH: Final = 7


class FrameKind(Enum):
    """What a control byte says a frame is."""

    I = "I"  # noqa: E741 - the standard's name of the information frame
    RR = "RR"
    RNR = "RNR"
    SNRM = "SNRM"
    DISC = "DISC"
    UA = "UA"
    DM = "DM"
    FRMR = "FRMR"
    UI = "UI"
    UNKNOWN = "?"


# Unnumbered frames: control byte without the P/F bit (0x10).
_U_CONTROLS: Final[dict[int, FrameKind]] = {
    0x83: FrameKind.SNRM,
    0x43: FrameKind.DISC,
    0x63: FrameKind.UA,
    0x0F: FrameKind.DM,
    0x87: FrameKind.FRMR,
    0x03: FrameKind.UI,
}
_U_CODES: Final[dict[FrameKind, int]] = {kind: code for code, kind in _U_CONTROLS.items()}


def control_i(ns: int, nr: int, *, poll: bool = True) -> int:
    """Control byte of an I frame with send / receive sequence numbers (mod 8)."""
    return ((nr & 7) << 5) | (0x10 if poll else 0) | ((ns & 7) << 1)


def control_rr(nr: int, *, poll: bool = True, not_ready: bool = False) -> int:
    """Control byte of an RR (or RNR) frame acknowledging up to ``nr`` (mod 8)."""
    return ((nr & 7) << 5) | (0x10 if poll else 0) | (0x05 if not_ready else 0x01)


def control_u(kind: FrameKind, *, poll: bool = True) -> int:
    """Control byte of an unnumbered frame (SNRM, DISC, UA, DM, FRMR, UI)."""
    return _U_CODES[kind] | (0x10 if poll else 0)


def client_address(sap: int) -> bytes:
    """The one-byte address of client ``sap`` (16 = public client, 1 = management).

    Raises:
        ConfigError: ``sap`` outside 0-127.
    """
    if not 0 <= sap <= 0x7F:
        raise ConfigError(f"DLMS client address {sap}: allowed 0-127")
    return bytes(((sap << 1) | 1,))


def server_address(logical: int, physical: int | None = None, size: int | None = None) -> bytes:
    """The address of a server: upper (logical device) and lower (physical) parts.

    Args:
        logical: the logical device (1 = management logical device).
        physical: the physical device (17 is common on optical ports);
            ``None`` for the one-byte form, which carries only ``logical``.
        size: 1, 2 or 4 bytes; ``None`` picks the shortest that fits.

    Raises:
        ConfigError: a part does not fit the size, or a size other than 1, 2, 4.
    """
    if size is None:
        if physical is None:
            size = 1 if logical <= 0x7F else 4
        else:
            size = 2 if logical <= 0x7F and physical <= 0x7F else 4
    if size == 1:
        if physical is not None or not 0 <= logical <= 0x7F:
            raise ConfigError(
                f"one-byte server address: logical {logical} must be 0-127, no physical part"
            )
        return bytes(((logical << 1) | 1,))
    lower = 0 if physical is None else physical
    if size == 2:
        if not (0 <= logical <= 0x7F and 0 <= lower <= 0x7F):
            raise ConfigError(
                f"two-byte server address: logical {logical} and physical {lower} must be 0-127"
            )
        return bytes((logical << 1, (lower << 1) | 1))
    if size == 4:
        if not (0 <= logical <= 0x3FFF and 0 <= lower <= 0x3FFF):
            raise ConfigError(
                f"four-byte server address: logical {logical} and physical {lower} must be 0-16383"
            )
        return bytes(
            (
                (logical >> 7) << 1,
                (logical & 0x7F) << 1,
                (lower >> 7) << 1,
                ((lower & 0x7F) << 1) | 1,
            )
        )
    raise ConfigError(f"server address size {size}: allowed 1, 2 or 4 bytes")


def decode_server_address(address: bytes) -> tuple[int, int | None]:
    """``(logical, physical)`` of an encoded server address (``physical`` ``None``: one byte).

    Raises:
        ValueError: not 1, 2 or 4 bytes.
    """
    n = len(address)
    if n == 1:
        return address[0] >> 1, None
    if n == 2:
        return address[0] >> 1, address[1] >> 1
    if n == 4:
        return (
            ((address[0] >> 1) << 7) | (address[1] >> 1),
            ((address[2] >> 1) << 7) | (address[3] >> 1),
        )
    raise ValueError(f"a server address has 1, 2 or 4 bytes, not {n}")


@dataclass(frozen=True, slots=True)
class Frame:
    """One HDLC frame.

    Attributes:
        dest: the destination address, encoded (1, 2 or 4 bytes).
        src: the source address, encoded.
        control: the control byte.
        info: the information field (``b""``: none).
        segmented: the S bit: more segments of this information follow.
    """

    dest: bytes
    src: bytes
    control: int
    info: bytes = b""
    segmented: bool = False

    @property
    def kind(self) -> FrameKind:
        """I, RR, RNR or the unnumbered kind the control byte says."""
        control = self.control
        if not control & 0x01:
            return FrameKind.I
        if control & 0x03 == 0x01:
            return FrameKind.RNR if control & 0x0F == 0x05 else FrameKind.RR
        return _U_CONTROLS.get(control & 0xEF, FrameKind.UNKNOWN)

    @property
    def poll_final(self) -> bool:
        """The P/F bit."""
        return bool(self.control & 0x10)

    @property
    def ns(self) -> int:
        """The send sequence number N(S) of an I frame."""
        return (self.control >> 1) & 7

    @property
    def nr(self) -> int:
        """The receive sequence number N(R) of an I, RR or RNR frame."""
        return self.control >> 5

    def encode(self) -> bytes:
        """The frame as sent, flags included.

        Raises:
            ConfigError: the frame would be longer than the 11-bit length allows.
        """
        header_len = 2 + len(self.dest) + len(self.src) + 1
        length = header_len + 2 + (len(self.info) + 2 if self.info else 0)
        if length > MAX_FRAME_LENGTH:
            raise ConfigError(f"HDLC frame of {length} bytes exceeds {MAX_FRAME_LENGTH}")
        first = _FORMAT_TYPE3 | (_SEGMENT_BIT if self.segmented else 0) | (length >> 8)
        header = bytes((first, length & 0xFF)) + self.dest + self.src + bytes((self.control,))
        hcs = crc16_x25(header)
        body = header + bytes((hcs & 0xFF, hcs >> 8))
        if self.info:
            body += self.info
            fcs = crc16_x25(body)
            body += bytes((fcs & 0xFF, fcs >> 8))
        return b"\x7e" + body + b"\x7e"

    def describe(self) -> str:
        """A short text for traces: ``I(S=1,R=2) 57 bytes``, ``UA``, ``RR(R=3)``."""
        kind = self.kind
        if kind is FrameKind.I:
            text = f"I(S={self.ns},R={self.nr})"
        elif kind in (FrameKind.RR, FrameKind.RNR):
            text = f"{kind.value}(R={self.nr})"
        else:
            text = kind.value
        if self.segmented:
            text += " segment"
        if self.info:
            text += f" {len(self.info)} bytes"
        return text


def _address_end(buf: bytes | bytearray, start: int, limit: int) -> int:
    """Index just past an extended address starting at ``start``, or -1 (none within 4 bytes)."""
    for i in range(start, min(start + 4, limit)):
        if buf[i] & 1:
            return i + 1 if i - start != 2 else -1  # three-byte addresses do not exist
    return -1


class FrameReader:
    """Cuts received bytes into checked frames.

    Attributes:
        skipped: bytes skipped that were not part of a frame (noise, banners).
        bad_frames: frames dropped for a wrong HCS or FCS, or a missing closing flag.
    """

    __slots__ = ("_buf", "bad_frames", "skipped")

    def __init__(self) -> None:
        self._buf = bytearray()
        self.skipped = 0
        self.bad_frames = 0

    @property
    def pending(self) -> int:
        """Bytes held that may be the start of a frame."""
        return len(self._buf)

    def feed(self, data: bytes | bytearray) -> list[Frame]:
        """Take received bytes; return the complete frames among what arrived so far."""
        buf = self._buf
        buf += data
        frames: list[Frame] = []
        pos = 0
        n = len(buf)
        while True:
            flag = buf.find(FLAG, pos)
            if flag < 0:
                self.skipped += n - pos
                pos = n
                break
            self.skipped += flag - pos
            pos = flag
            if n - pos < 3:
                break
            first = buf[pos + 1]
            if first & 0xF0 != _FORMAT_TYPE3:
                pos += 1  # a closing flag, a doubled flag, or noise holding 0x7E
                continue
            length = ((first & 0x07) << 8) | buf[pos + 2]
            if length < _MIN_LENGTH:
                self._drop()
                pos += 1
                continue
            start = pos + 1
            dest_end = _address_end(buf, start + 2, n)
            if dest_end < 0:
                if n - start >= 2 + 4:
                    self._drop()
                    pos += 1
                    continue
                break
            src_end = _address_end(buf, dest_end, n)
            if src_end < 0:
                if n - dest_end >= 4:
                    self._drop()
                    pos += 1
                    continue
                break
            header_end = src_end + 1  # past the control byte
            if header_end + 2 > start + length:
                self._drop()
                pos += 1
                continue
            if n < header_end + 2:
                break
            hcs = crc16_x25(memoryview(buf)[start:header_end])
            if buf[header_end] != hcs & 0xFF or buf[header_end + 1] != hcs >> 8:
                self._drop()
                pos += 1
                continue
            end = start + length  # index of the closing flag
            if n <= end:
                break
            if buf[end] != FLAG:
                self._drop()
                pos += 1
                continue
            info = b""
            if length > header_end + 2 - start:
                info_start = header_end + 2
                if end - info_start < 3:  # at least one byte and the FCS
                    self._drop()
                    pos += 1
                    continue
                fcs = crc16_x25(memoryview(buf)[start : end - 2])
                if buf[end - 2] != fcs & 0xFF or buf[end - 1] != fcs >> 8:
                    self._drop()
                    pos += 1
                    continue
                info = bytes(buf[info_start : end - 2])
            frames.append(
                Frame(
                    bytes(buf[start + 2 : dest_end]),
                    bytes(buf[dest_end:src_end]),
                    buf[src_end],
                    info,
                    bool(first & _SEGMENT_BIT),
                )
            )
            pos = end  # the closing flag may open the next frame
        del buf[:pos]
        return frames

    def _drop(self) -> None:
        self.bad_frames += 1

    def clear(self) -> None:
        """Forget held bytes (after a rate switch, or between sessions)."""
        self._buf.clear()


@dataclass(frozen=True, slots=True)
class HdlcParameters:
    """The link parameters of SNRM / UA (IEC 62056-46 6.4.4.4.3.2).

    Attributes:
        max_info_tx: longest information field the sender of the frame sends.
        max_info_rx: longest information field the sender of the frame accepts.
        window_tx: frames the sender sends before waiting for an acknowledgement.
        window_rx: frames the sender accepts before acknowledging.
    """

    max_info_tx: int = 128
    max_info_rx: int = 128
    window_tx: int = 1
    window_rx: int = 1

    def encode(self) -> bytes:
        """The information field ``81 80 len`` + the four parameters."""
        body = b""
        for code, value, width in (
            (0x05, self.max_info_tx, 2 if self.max_info_tx > 0xFF else 1),
            (0x06, self.max_info_rx, 2 if self.max_info_rx > 0xFF else 1),
            (0x07, self.window_tx, 4),
            (0x08, self.window_rx, 4),
        ):
            body += bytes((code, width)) + value.to_bytes(width, "big")
        return bytes((0x81, 0x80, len(body))) + body

    @classmethod
    def decode(cls, info: bytes, defaults: HdlcParameters | None = None) -> HdlcParameters:
        """Parse the information field of an SNRM or UA; absent parameters keep ``defaults``.

        Raises:
            ValueError: not a parameter negotiation field, or cut short.
        """
        base = defaults or cls()
        if not info:
            return base
        if len(info) < 3 or info[0] != 0x81 or info[1] != 0x80 or info[2] > len(info) - 3:
            raise ValueError("not an HDLC parameter negotiation field")
        values = {
            0x05: base.max_info_tx,
            0x06: base.max_info_rx,
            0x07: base.window_tx,
            0x08: base.window_rx,
        }
        pos, end = 3, 3 + info[2]
        while pos < end:
            if pos + 2 > end:
                raise ValueError("HDLC parameter cut short")
            code, width = info[pos], info[pos + 1]
            if pos + 2 + width > end or width == 0 or width > 4:
                raise ValueError("HDLC parameter cut short")
            if code in values:
                values[code] = int.from_bytes(info[pos + 2 : pos + 2 + width], "big")
            pos += 2 + width
        return cls(values[0x05], values[0x06], values[0x07], values[0x08])
