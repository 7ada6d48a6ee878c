"""Modbus TCP for a read-only server, as bytes: frames in, answers out.

Sans-IO: no sockets. :class:`RequestReader` cuts a byte stream into requests
(the MBAP header: transaction id, protocol id 0, length, unit id; then the
PDU), however they arrive: several in one TCP segment (pipelined masters) or
one across several. :func:`answer` builds the response to one request from the
register and bit maps.

What is answered (Modbus Application Protocol V1.1b3 §6, §7):

* 3 (read holding registers) and 4 (read input registers): the same registers;
  quantity 1-125 (else exception 3), every register mapped (else exception 2).
* 1 (read coils) and 2 (read discrete inputs): the same bits, only when
  signals are mapped to bits; quantity 1-2000 (else exception 3), every bit
  mapped (else exception 2).
* Every other function code: exception 1 (illegal function); nothing is ever
  written.
* A request for another unit id than the server's: exception 11 (gateway
  target device failed to respond), unless the server answers every unit id.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass

from obisgate.errors import ProtocolError

__all__ = [
    "MAX_BITS",
    "MAX_REGISTERS",
    "MalformedFrame",
    "Request",
    "RequestReader",
    "answer",
    "exception_response",
]

#: Most registers one read may ask for (functions 3 and 4).
MAX_REGISTERS = 125
#: Most bits one read may ask for (functions 1 and 2).
MAX_BITS = 2000
#: Octets of the MBAP header, the unit id included.
_HEADER = 7

ILLEGAL_FUNCTION = 1
ILLEGAL_ADDRESS = 2
ILLEGAL_VALUE = 3
GATEWAY_NO_RESPONSE = 11


class MalformedFrame(ProtocolError):
    """A peer sent bytes that are not Modbus TCP (the message says what was wrong)."""

    kind = "modbus frame error"


@dataclass(frozen=True, slots=True)
class Request:
    """One request: its MBAP fields and PDU."""

    transaction: int
    unit: int
    function: int
    data: bytes


class RequestReader:
    """Cuts a byte stream into requests; keeps an incomplete one for the next call."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[Request]:
        """The complete requests in what has arrived so far, in order.

        Raises:
            MalformedFrame: a protocol id other than 0, or a length field below 2
                (no function code) or above 254 (the longest PDU is 253 octets).
                The stream cannot be followed after that: close the connection.
        """
        self._buffer += data
        buffer = self._buffer
        requests: list[Request] = []
        position = 0
        while len(buffer) - position >= _HEADER:
            transaction, protocol, length, unit = struct.unpack_from(">HHHB", buffer, position)
            if protocol != 0:
                raise MalformedFrame(f"protocol id {protocol}, expected 0 (Modbus)")
            if not 2 <= length <= 254:
                raise MalformedFrame(f"length field {length}, allowed 2-254")
            end = position + 6 + length
            if len(buffer) < end:
                break
            pdu = bytes(buffer[position + _HEADER : end])
            requests.append(Request(transaction, unit, pdu[0], pdu[1:]))
            position = end
        del buffer[:position]
        return requests


def _frame(request: Request, pdu: bytes) -> bytes:
    return struct.pack(">HHHB", request.transaction, 0, len(pdu) + 1, request.unit) + pdu


def exception_response(request: Request, code: int) -> bytes:
    """The exception response ``code`` to ``request`` (function code with bit 7 set)."""
    return _frame(request, bytes(((request.function | 0x80) & 0xFF, code)))


def answer(
    request: Request,
    *,
    unit_id: int,
    read_registers: Callable[[int, int], list[int] | None],
    read_bits: Callable[[int, int], list[bool] | None] | None,
) -> bytes:
    """The response to ``request``.

    Args:
        request: a request from :class:`RequestReader`.
        unit_id: the unit id answered (0: every unit id).
        read_registers: ``(first, count)`` -> the registers, or ``None`` when
            one of them is not mapped.
        read_bits: ``(first, count)`` -> the bits, or ``None`` when one is not
            mapped; ``None`` when no signal is mapped to a bit (functions 1 and
            2 are then illegal).
    """
    if unit_id not in (0, request.unit):
        return exception_response(request, GATEWAY_NO_RESPONSE)
    function = request.function
    if function in (3, 4):
        limit = MAX_REGISTERS
    elif function in (1, 2) and read_bits is not None:
        limit = MAX_BITS
    else:
        return exception_response(request, ILLEGAL_FUNCTION)
    if len(request.data) != 4:
        return exception_response(request, ILLEGAL_VALUE)
    first, count = struct.unpack(">HH", request.data)
    if not 1 <= count <= limit:
        return exception_response(request, ILLEGAL_VALUE)
    if first + count > 65536:
        return exception_response(request, ILLEGAL_ADDRESS)
    if function in (3, 4):
        registers = read_registers(first, count)
        if registers is None:
            return exception_response(request, ILLEGAL_ADDRESS)
        return _frame(request, struct.pack(f">BB{count}H", function, 2 * count, *registers))
    assert read_bits is not None
    bits = read_bits(first, count)
    if bits is None:
        return exception_response(request, ILLEGAL_ADDRESS)
    packed = bytearray((count + 7) // 8)
    for index, bit in enumerate(bits):
        if bit:
            packed[index // 8] |= 1 << (index % 8)
    return _frame(request, bytes((function, len(packed))) + bytes(packed))
