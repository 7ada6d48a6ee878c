"""IEC 60870-5-104 frames: the APCI (I, S and U formats) and the ASDU, as bytes.

Sans-IO: no sockets, no clock. :class:`ApduReader` cuts a received byte
stream into frames; ``encode_*`` build them; :class:`Asdu` parses the header
of an application data unit and :func:`encode_asdu` builds one. Information
elements (the quality descriptors, the short float, the binary counter
reading and the CP56Time2a time tag) are in
:mod:`obisgate.gateway.outputs.iec104.elements`.

The 104 parameters are fixed as the standard's defaults: a two-octet cause of
transmission (with the originator address), a two-octet common address and
three-octet information object addresses.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from obisgate.errors import ProtocolError

__all__ = [
    "MAX_ASDU_LENGTH",
    "START",
    "ApduReader",
    "Asdu",
    "Cot",
    "FrameError",
    "IFrame",
    "SFrame",
    "TypeId",
    "UFrame",
    "UFunction",
    "encode_asdu",
    "encode_i",
    "encode_s",
    "encode_u",
]

#: The start octet of every APDU.
START = 0x68
#: Most octets after the length octet (4 control octets + the ASDU).
MAX_APDU_LENGTH = 253
#: Most octets of an ASDU.
MAX_ASDU_LENGTH = MAX_APDU_LENGTH - 4
#: Sequence numbers count modulo this.
MODULO = 32768


class FrameError(ProtocolError):
    """A peer sent bytes that are not an IEC 104 frame (the message says what was wrong)."""

    kind = "iec104 frame error"


class UFunction(enum.IntEnum):
    """The control octet of a U-format frame."""

    STARTDT_ACT = 0x07
    STARTDT_CON = 0x0B
    STOPDT_ACT = 0x13
    STOPDT_CON = 0x23
    TESTFR_ACT = 0x43
    TESTFR_CON = 0x83


class TypeId(enum.IntEnum):
    """Type identifications used by the outstation (IEC 60870-5-101/104)."""

    M_SP_NA_1 = 1
    M_ME_NC_1 = 13
    M_IT_NA_1 = 15
    M_SP_TB_1 = 30
    M_ME_TF_1 = 36
    M_IT_TB_1 = 37
    M_EI_NA_1 = 70
    C_IC_NA_1 = 100
    C_CI_NA_1 = 101
    C_RD_NA_1 = 102
    C_CS_NA_1 = 103
    C_TS_TA_1 = 107


class Cot(enum.IntEnum):
    """Causes of transmission (the low six bits of the first COT octet)."""

    PERIODIC = 1
    SPONTANEOUS = 3
    INITIALIZED = 4
    REQUEST = 5
    ACTIVATION = 6
    ACTIVATION_CON = 7
    DEACTIVATION = 8
    DEACTIVATION_CON = 9
    ACTIVATION_TERMINATION = 10
    INTERROGATED_BY_STATION = 20
    REQUESTED_BY_GENERAL_COUNTER = 37
    UNKNOWN_TYPE_ID = 44
    UNKNOWN_CAUSE = 45
    UNKNOWN_COMMON_ADDRESS = 46
    UNKNOWN_IOA = 47


@dataclass(frozen=True, slots=True)
class IFrame:
    """An information transfer frame: numbered, carries one ASDU."""

    send_seq: int
    recv_seq: int
    asdu: bytes


@dataclass(frozen=True, slots=True)
class SFrame:
    """A supervisory frame: acknowledges I-frames up to ``recv_seq`` (exclusive)."""

    recv_seq: int


@dataclass(frozen=True, slots=True)
class UFrame:
    """An unnumbered control frame (STARTDT, STOPDT, TESTFR act/con)."""

    function: UFunction


Frame = IFrame | SFrame | UFrame


def encode_i(send_seq: int, recv_seq: int, asdu: bytes) -> bytes:
    """An I-frame carrying ``asdu``.

    Raises:
        ValueError: the ASDU is empty or longer than :data:`MAX_ASDU_LENGTH`.
    """
    if not 0 < len(asdu) <= MAX_ASDU_LENGTH:
        raise ValueError(f"an ASDU has 1-{MAX_ASDU_LENGTH} octets, not {len(asdu)}")
    send, recv = (send_seq % MODULO) << 1, (recv_seq % MODULO) << 1
    return bytes((START, 4 + len(asdu), send & 0xFF, send >> 8, recv & 0xFF, recv >> 8)) + asdu


def encode_s(recv_seq: int) -> bytes:
    """An S-frame acknowledging every I-frame before ``recv_seq``."""
    recv = (recv_seq % MODULO) << 1
    return bytes((START, 4, 0x01, 0x00, recv & 0xFF, recv >> 8))


def encode_u(function: UFunction) -> bytes:
    """A U-frame."""
    return bytes((START, 4, function, 0, 0, 0))


class ApduReader:
    """Cuts a byte stream into frames; keeps an incomplete frame for the next call."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[Frame]:
        """The complete frames in what has arrived so far, in order.

        Raises:
            FrameError: the stream is not IEC 104 (a wrong start octet, a length
                below 4 or above 253, an unknown control field). The stream cannot
                be resynchronised after that: close the connection.
        """
        self._buffer += data
        frames: list[Frame] = []
        buffer = self._buffer
        position = 0
        while len(buffer) - position >= 2:
            if buffer[position] != START:
                raise FrameError(f"start octet 0x{buffer[position]:02X}, expected 0x68")
            length = buffer[position + 1]
            if not 4 <= length <= MAX_APDU_LENGTH:
                raise FrameError(f"APDU length {length}, allowed 4-{MAX_APDU_LENGTH}")
            end = position + 2 + length
            if len(buffer) < end:
                break
            frames.append(_decode(bytes(buffer[position + 2 : end])))
            position = end
        del buffer[:position]
        return frames


def _decode(body: bytes) -> Frame:
    """One frame from its four control octets and the ASDU that follows them."""
    c1, c2, c3, c4 = body[0], body[1], body[2], body[3]
    if c1 & 0x01 == 0:
        if c3 & 0x01:
            raise FrameError("I-frame with bit 1 of control octet 3 set")
        if len(body) == 4:
            raise FrameError("I-frame without an ASDU")
        return IFrame((c1 >> 1) | (c2 << 7), (c3 >> 1) | (c4 << 7), body[4:])
    if len(body) != 4:
        raise FrameError(
            f"{'S' if c1 & 0x03 == 0x01 else 'U'}-frame with {len(body) - 4} octets of ASDU"
        )
    if c1 & 0x03 == 0x01:
        if c1 != 0x01 or c2 != 0 or c3 & 0x01:
            raise FrameError(f"S-frame control field {body.hex(' ')}")
        return SFrame((c3 >> 1) | (c4 << 7))
    try:
        function = UFunction(c1)
    except ValueError:
        raise FrameError(f"U-frame control octet 0x{c1:02X}") from None
    if c2 or c3 or c4:
        raise FrameError(f"U-frame control field {body.hex(' ')}")
    return UFrame(function)


@dataclass(frozen=True, slots=True)
class Asdu:
    """A received ASDU: its header and the information objects as bytes.

    Attributes:
        type_id: the type identification.
        sequence: the SQ bit (one address, consecutive elements).
        count: the number of information objects (or elements).
        cot: the cause of transmission.
        negative: the P/N bit.
        test: the T bit.
        originator: the originator address.
        common_address: the common address of the ASDU.
        body: the octets after the header (information objects).
        raw: the whole ASDU as received.
    """

    type_id: int
    sequence: bool
    count: int
    cot: int
    negative: bool
    test: bool
    originator: int
    common_address: int
    body: bytes
    raw: bytes

    @classmethod
    def parse(cls, data: bytes) -> Asdu:
        """The header of ``data``.

        Raises:
            FrameError: shorter than a header (six octets).
        """
        if len(data) < 6:
            raise FrameError(f"ASDU of {len(data)} octets, a header has 6")
        cot = data[2]
        return cls(
            type_id=data[0],
            sequence=bool(data[1] & 0x80),
            count=data[1] & 0x7F,
            cot=cot & 0x3F,
            negative=bool(cot & 0x40),
            test=bool(cot & 0x80),
            originator=data[3],
            common_address=data[4] | (data[5] << 8),
            body=data[6:],
            raw=data,
        )

    def single_object(self, element_length: int) -> tuple[int, bytes]:
        """``(ioa, element)`` of an ASDU that must hold one object of ``element_length`` octets.

        Raises:
            FrameError: not exactly one such object.
        """
        if self.count != 1 or len(self.body) != 3 + element_length:
            raise FrameError(
                f"type {self.type_id} with {self.count} objects in {len(self.body)} octets, "
                f"expected one of {3 + element_length}"
            )
        ioa = self.body[0] | (self.body[1] << 8) | (self.body[2] << 16)
        return ioa, self.body[3:]

    def mirror(self, cot: int, *, negative: bool = False) -> bytes:
        """This ASDU sent back with another cause (and the P/N bit), as a confirmation."""
        flags = (0x40 if negative else 0) | (0x80 if self.test else 0)
        return self.raw[:2] + bytes((cot | flags,)) + self.raw[3:]


def encode_asdu(
    type_id: int,
    cot: int,
    common_address: int,
    objects: Sequence[tuple[int, bytes]],
    *,
    negative: bool = False,
    originator: int = 0,
) -> bytes:
    """An ASDU with one address per object (SQ = 0).

    Args:
        type_id: the type identification.
        cot: the cause of transmission.
        common_address: the station's common address.
        objects: ``(ioa, element)`` of each information object.
        negative: the P/N bit.
        originator: the originator address (0: none).

    Raises:
        ValueError: more than 127 objects, or longer than :data:`MAX_ASDU_LENGTH`.
    """
    if len(objects) > 127:
        raise ValueError(f"{len(objects)} objects; an ASDU holds at most 127")
    parts = [
        bytes(
            (
                type_id,
                len(objects),
                cot | (0x40 if negative else 0),
                originator,
                common_address & 0xFF,
                common_address >> 8,
            )
        )
    ]
    for ioa, element in objects:
        parts.append(bytes((ioa & 0xFF, (ioa >> 8) & 0xFF, ioa >> 16)))
        parts.append(element)
    asdu = b"".join(parts)
    if len(asdu) > MAX_ASDU_LENGTH:
        raise ValueError(f"ASDU of {len(asdu)} octets; at most {MAX_ASDU_LENGTH}")
    return asdu
