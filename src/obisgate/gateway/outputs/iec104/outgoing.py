"""What the outstation sends: events (one information object each) and ASDUs made of them.

Pure. An :class:`Event` is one spontaneous information object; events are kept
one by one (in a redundancy group's buffer, a connection's queue) and packed
into ASDUs only when they are queued for a connection (:func:`pack`), so a
buffer is bounded in events and an unacknowledged ASDU can be taken apart and
sent again on another connection.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from obisgate.gateway.outputs.iec104.apdu import MAX_ASDU_LENGTH, Cot, encode_asdu

__all__ = ["Event", "Outgoing", "pack", "pack_objects"]

#: Octets of the ASDU header (type, VSQ, two COT octets, two address octets).
_HEADER = 6


@dataclass(frozen=True, slots=True)
class Event:
    """One information object to send as an event.

    Attributes:
        type_id: the ASDU type it goes in.
        ioa: information object address.
        element: the information element(s) after the address (value, quality, time tag).
        cot: the cause of transmission (spontaneous; initialised for the end of
            initialisation).
    """

    type_id: int
    ioa: int
    element: bytes
    cot: int = Cot.SPONTANEOUS


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One ASDU waiting to be sent on a connection.

    Attributes:
        asdu: the ASDU's bytes.
        events: the events it carries (empty for a confirmation or an
            interrogation answer): when the ASDU is never acknowledged they are
            sent again on the next connection of the redundancy group.
        serial: the number of the batch the events were published in (the
            hub counts batches to know which connection already had them).
    """

    asdu: bytes
    events: tuple[Event, ...] = ()
    serial: int = 0


def pack_objects(
    type_id: int, cot: int, common_address: int, objects: Iterable[tuple[int, bytes]]
) -> list[bytes]:
    """ASDUs of ``type_id`` holding ``objects`` (``(ioa, element)``) in order, as many per ASDU
    as fit."""
    asdus: list[bytes] = []
    chunk: list[tuple[int, bytes]] = []
    size = _HEADER
    for ioa, element in objects:
        length = 3 + len(element)
        if chunk and (size + length > MAX_ASDU_LENGTH or len(chunk) == 127):
            asdus.append(encode_asdu(type_id, cot, common_address, chunk))
            chunk, size = [], _HEADER
        chunk.append((ioa, element))
        size += length
    if chunk:
        asdus.append(encode_asdu(type_id, cot, common_address, chunk))
    return asdus


def pack(events: Iterable[Event], common_address: int, serial: int = 0) -> list[Outgoing]:
    """ASDUs of ``events`` (of batch ``serial``): runs of one type and cause share an ASDU,
    order kept."""
    result: list[Outgoing] = []
    run: list[Event] = []

    def flush() -> None:
        if not run:
            return
        first = 0
        first_event = run[0]
        objects = ((e.ioa, e.element) for e in run)
        for asdu in pack_objects(first_event.type_id, first_event.cot, common_address, objects):
            count = asdu[1] & 0x7F
            result.append(Outgoing(asdu, tuple(run[first : first + count]), serial))
            first += count
        run.clear()

    for event in events:
        if run and (event.type_id, event.cot) != (run[0].type_id, run[0].cot):
            flush()
        run.append(event)
    flush()
    return result
