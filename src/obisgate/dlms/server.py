"""Sans-IO DLMS/COSEM server over HDLC: what the simulated meter runs after the opening.

:meth:`DlmsServer.receive` takes bytes from the line and returns the frames to
send. The server owns one HDLC address and answers nothing else (a client
with another address gets silence, as from a real meter). It keeps one
association with one client at a time:

* SNRM -> UA with its parameters (the shorter of both sides' information
  fields), DISC -> UA (DM when not connected); an I frame while disconnected
  -> DM.
* a segmented request is collected with an RR per segment; an answer longer
  than the information field goes out in segments, the next after each RR;
  a repeated frame (the client did not see our answer) gets the answer again.
* AARQ -> AARE: the public client (16) without password; other clients with
  their LLS password, or a rejection with diagnostic 13 (authentication failure).
* GET normal, with list and next: an answer longer than ``block_size`` goes in
  data blocks; a missing object or attribute is a data-access-result.
* a profile generic's buffer honours selective access by range (selector 1,
  restricting on the first capture object, the clock) and by entry (selector 2).
* RLRQ -> RLRE.

Errors in the client's bytes never raise: a malformed APDU is answered with an
exception response, a malformed frame is dropped, as a meter does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from obisgate.dlms.apdu import (
    AARQ_TAG,
    CLIENT_CONFORMANCE,
    GET_REQUEST_TAG,
    RLRQ_TAG,
    AssociationResult,
    AttributeRequest,
    Conformance,
    DataAccessResult,
    GetResult,
    decode_aarq,
    decode_get_request,
    encode_aare,
    encode_get_response_block,
    encode_get_response_list,
    encode_get_response_normal,
    encode_rlre,
)
from obisgate.dlms.axdr import DataType, Typed, encode_data, encode_length
from obisgate.dlms.cosem import CosemClass, Obis
from obisgate.dlms.hdlc import (
    Frame,
    FrameKind,
    FrameReader,
    HdlcParameters,
    control_i,
    control_rr,
    control_u,
    server_address,
)
from obisgate.errors import ObisgateError

__all__ = ["CosemObject", "DlmsServer", "ServerSettings"]

_LLC_REQUEST: Final = b"\xe6\xe6\x00"
_LLC_RESPONSE: Final = b"\xe6\xe7\x00"
#: exception-response: state-error service-not-allowed, service-error service-not-supported.
_EXCEPTION: Final = bytes.fromhex("D80102")
ASSOCIATION_LN: Final = Obis(0, 0, 40, 0, 0, 255)


@dataclass(frozen=True, slots=True)
class CosemObject:
    """One object the server serves.

    Attributes:
        class_id: the interface class.
        obis: its logical name.
        attributes: attribute index -> value (A-XDR encodable: see
            :mod:`obisgate.dlms.axdr`); attribute 1 (the logical name) is added.
        version: the class version listed in the object list.
        rows: for a profile generic: the buffer's rows (each a tuple whose
            first element is the capture time as a 12-byte date-time).
    """

    class_id: int
    obis: Obis
    attributes: dict[int, Any] = field(default_factory=dict)
    version: int = 0
    rows: tuple[tuple[Any, ...], ...] = ()

    def attribute(self, index: int) -> Any:
        """The value of attribute ``index``.

        Raises:
            KeyError: the object has no such attribute.
        """
        if index == 1:
            return self.obis.to_bytes()
        return self.attributes[index]


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerSettings:
    """How the simulated server behaves.

    Attributes:
        logical: its upper HDLC address.
        physical: its lower HDLC address.
        address_size: 2 or 4 bytes of address it answers (``None``: both forms).
        passwords: client SAP -> LLS password; the public client 16 needs none.
        max_info: the longest information field it sends and receives.
        max_pdu: the largest APDU it receives (told in the AARE).
        block_size: answers longer than this go in GET data blocks.
        conformance: what it offers (ANDed with the client's proposal).
        lose_first_ua: do not answer the first SNRM (the "UA lost" fault).
        busy_polls: answer each request with RNR (receiver not ready), and the
            client's RR polls after it until this many RNR were sent, then the
            answer (the "busy" fault; 0: never busy).
    """

    logical: int = 1
    physical: int = 17
    address_size: int | None = None
    passwords: dict[int, bytes] = field(default_factory=lambda: {1: b"00000000"})
    max_info: int = 128
    max_pdu: int = 1024
    block_size: int = 1024
    conformance: int = CLIENT_CONFORMANCE | Conformance.BLOCK_TRANSFER_GET
    lose_first_ua: bool = False
    busy_polls: int = 0


class DlmsServer:
    """One DLMS/COSEM server on one line, sans-IO.

    Args:
        objects: what it serves (the association object list is generated).
        settings: addresses, passwords, sizes and faults.
        on_event: called with a short text for each association event (logs, tests).
    """

    def __init__(
        self,
        objects: Sequence[CosemObject],
        settings: ServerSettings | None = None,
        *,
        on_event: Callable[[str], None] | None = None,
    ) -> None:
        self.settings = settings or ServerSettings()
        s = self.settings
        self._addresses = {
            server_address(s.logical, s.physical, size)
            for size in ((2, 4) if s.address_size is None else (s.address_size,))
            if _fits(s.logical, s.physical, size)
        }
        self._objects: dict[tuple[int, Obis], CosemObject] = {}
        for obj in objects:
            self._objects[(obj.class_id, obj.obis)] = obj
        self._by_obis = {obj.obis: obj for obj in objects}
        self._on_event = on_event or (lambda text: None)
        self._reader = FrameReader()
        self._disc = False
        self._snrms = 0
        self.associations = 0
        self.refused = 0
        self._reset_link()

    def _reset_link(self) -> None:
        self._connected = False
        self._client = b""
        self._me = b""
        self._vs = 0
        self._vr = 0
        self._tx_max = self.settings.max_info
        self._rx = bytearray()
        self._out: list[Frame] = []
        self._busy = 0
        self._last: list[bytes] = []
        self._associated = False
        self._client_max_pdu = 0xFFFF
        self._conformance = 0
        self._blocks: list[bytes] = []
        self._block_no = 0
        self._invoke = 0

    def reset(self) -> None:
        """Forget the link and the association (the line closed, back to the opening)."""
        self._reader.clear()
        self._reset_link()

    @property
    def connected(self) -> bool:
        """Whether an HDLC link is up."""
        return self._connected

    @property
    def disconnected(self) -> bool:
        """Whether the client ended the link with DISC (reset by the next SNRM)."""
        return self._disc

    def receive(self, data: bytes) -> list[bytes]:
        """Take bytes from the line; return the frames to send, encoded."""
        out: list[bytes] = []
        for frame in self._reader.feed(data):
            if frame.dest not in self._addresses or len(frame.src) != 1:
                continue  # another meter's address (or an echo of our own frame)
            out += self._on_frame(frame)
        return out

    # -- link ---------------------------------------------------------------------

    def _frame(self, control: int, info: bytes = b"", segmented: bool = False) -> Frame:
        return Frame(self._client, self._me, control, info, segmented)

    def _send(self, frames: list[Frame]) -> list[bytes]:
        encoded = [f.encode() for f in frames]
        self._last = encoded
        return encoded

    def _on_frame(self, frame: Frame) -> list[bytes]:
        kind = frame.kind
        if kind is FrameKind.SNRM:
            self._snrms += 1
            if self.settings.lose_first_ua and self._snrms == 1:
                self._on_event("SNRM ignored (lost UA)")
                return []
            return self._on_snrm(frame)
        if kind is FrameKind.DISC:
            was = self._connected
            self._client, self._me = frame.src, frame.dest
            self._reset_link()
            self._client, self._me = frame.src, frame.dest
            self._disc = True
            self._on_event("DISC")
            return self._send([self._frame(control_u(FrameKind.UA if was else FrameKind.DM))])
        if not self._connected or frame.src != self._client:
            if kind is FrameKind.I or kind is FrameKind.RR:
                client, me = self._client, self._me
                self._client, self._me = frame.src, frame.dest
                reply = self._frame(control_u(FrameKind.DM)).encode()
                self._client, self._me = client, me
                return [reply]
            return []
        if kind is FrameKind.RR:
            if self._busy:
                self._busy -= 1
                if self._busy:
                    return self._send([self._frame(control_rr(self._vr, not_ready=True))])
                return self._next_segment()
            if self._out and frame.nr == self._vs:
                return self._next_segment()
            return list(self._last)  # the client missed our last frame
        if kind is FrameKind.I:
            return self._on_i_frame(frame)
        return []

    def _on_snrm(self, frame: Frame) -> list[bytes]:
        try:
            proposed = HdlcParameters.decode(frame.info)
        except ValueError:
            proposed = HdlcParameters()
        self._reset_link()
        self._disc = False
        self._client, self._me = frame.src, frame.dest
        self._connected = True
        mine = self.settings.max_info
        self._tx_max = min(mine, proposed.max_info_rx)
        params = HdlcParameters(self._tx_max, min(mine, proposed.max_info_tx), 1, 1)
        self._on_event("SNRM -> UA")
        return self._send([self._frame(control_u(FrameKind.UA), params.encode())])

    def _on_i_frame(self, frame: Frame) -> list[bytes]:
        if frame.ns != self._vr:
            return list(self._last)  # a repetition: our answer was lost
        self._vr = (self._vr + 1) & 7
        self._rx += frame.info
        if frame.segmented:
            return self._send([self._frame(control_rr(self._vr))])
        payload = bytes(self._rx)
        self._rx.clear()
        apdu = payload[3:] if payload[:3] == _LLC_REQUEST else payload
        try:
            answer = self._on_apdu(apdu)
        except (ObisgateError, IndexError, ValueError) as exc:
            self._on_event(f"malformed APDU from the client ({exc}): exception response")
            answer = _EXCEPTION
        if answer is None:
            return self._send([self._frame(control_rr(self._vr))])
        payload = _LLC_RESPONSE + answer
        size = max(self._tx_max, 16)
        segments = [payload[i : i + size] for i in range(0, len(payload), size)]
        self._out = [self._frame(0, seg, i < len(segments) - 1) for i, seg in enumerate(segments)]
        if self.settings.busy_polls:
            self._busy = self.settings.busy_polls
            self._on_event(f"busy: RNR to the request and {self._busy - 1} polls")
            return self._send([self._frame(control_rr(self._vr, not_ready=True))])
        return self._next_segment()

    def _next_segment(self) -> list[bytes]:
        frame = self._out.pop(0)
        numbered = Frame(
            frame.dest, frame.src, control_i(self._vs, self._vr), frame.info, frame.segmented
        )
        self._vs = (self._vs + 1) & 7
        return self._send([numbered])

    # -- application ------------------------------------------------------------------

    def _on_apdu(self, apdu: bytes) -> bytes | None:
        if not apdu:
            return _EXCEPTION
        tag = apdu[0]
        if tag == AARQ_TAG:
            return self._on_aarq(apdu)
        if tag == RLRQ_TAG:
            self._associated = False
            self._on_event("RLRQ -> RLRE")
            return encode_rlre()
        if tag == GET_REQUEST_TAG and self._associated:
            return self._on_get(apdu)
        return _EXCEPTION

    def _on_aarq(self, apdu: bytes) -> bytes:
        aarq = decode_aarq(apdu)
        client_sap = self._client[0] >> 1
        needed = self.settings.passwords.get(client_sap)
        if not aarq.logical_names or aarq.ciphered:
            self.refused += 1
            self._on_event("AARQ refused: context not supported")
            return encode_aare(AssociationResult.REJECTED_PERMANENT, 2)
        if needed is not None and (not aarq.lls or aarq.password != needed):
            self.refused += 1
            self._on_event(f"AARQ refused: client {client_sap}, wrong or no password")
            return encode_aare(AssociationResult.REJECTED_PERMANENT, 13 if aarq.lls else 14)
        self._associated = True
        self.associations += 1
        self._client_max_pdu = max(aarq.max_pdu, 64)
        self._conformance = aarq.conformance & self.settings.conformance
        self._on_event(f"AARQ accepted: client {client_sap}")
        return encode_aare(
            AssociationResult.ACCEPTED,
            conformance=self._conformance,
            max_pdu=self.settings.max_pdu,
        )

    def _on_get(self, apdu: bytes) -> bytes:
        request = decode_get_request(apdu)
        invoke = request.invoke
        if request.kind == 2:
            if not self._blocks or request.block != self._block_no:
                self._blocks = []
                return encode_get_response_block(
                    b"",
                    request.block + 1,
                    True,
                    invoke,
                    error=DataAccessResult.NO_LONG_GET_IN_PROGRESS,
                )
            return self._next_block(invoke)
        if request.kind == 3 and not self._conformance & Conformance.MULTIPLE_REFERENCES:
            return _EXCEPTION
        results: list[GetResult | bytes] = [self._read(a) for a in request.attributes]
        if request.kind == 1:
            body = _result_body(results[0])
            answer = encode_get_response_normal(results[0], invoke)
        else:
            body = encode_length(len(results)) + b"".join(_result_body(r) for r in results)
            answer = encode_get_response_list(results, invoke)
        limit = min(self.settings.block_size, self._client_max_pdu)
        if len(answer) <= limit:
            return answer
        if not self._conformance & Conformance.BLOCK_TRANSFER_GET:
            return encode_get_response_normal(
                GetResult(None, DataAccessResult.OTHER_REASON), invoke
            )
        if request.kind == 1:
            if isinstance(results[0], GetResult) and results[0].error:
                return answer
            body = body[1:]  # raw data of a normal GET is the Data itself, without its choice
        chunk = max(limit - 16, 16)
        self._blocks = [body[i : i + chunk] for i in range(0, len(body), chunk)]
        self._block_no = 0
        return self._next_block(invoke)

    def _next_block(self, invoke: int) -> bytes:
        raw = self._blocks.pop(0)
        self._block_no += 1
        return encode_get_response_block(raw, self._block_no, not self._blocks, invoke)

    def _read(self, request: AttributeRequest) -> GetResult | bytes:
        if request.class_id == CosemClass.ASSOCIATION_LN and request.obis == ASSOCIATION_LN:
            if request.attribute == 2:
                return encode_data(self._object_list())
            if request.attribute == 1:
                return encode_data(ASSOCIATION_LN.to_bytes())
            return GetResult(None, DataAccessResult.READ_WRITE_DENIED)
        obj = self._objects.get((request.class_id, request.obis))
        if obj is None:
            if request.obis in self._by_obis:
                return GetResult(None, DataAccessResult.OBJECT_CLASS_INCONSISTENT)
            return GetResult(None, DataAccessResult.OBJECT_UNDEFINED)
        if obj.class_id == CosemClass.PROFILE_GENERIC and request.attribute == 2:
            return encode_data(_select_rows(obj, request))
        try:
            value = obj.attribute(request.attribute)
        except KeyError:
            return GetResult(None, DataAccessResult.READ_WRITE_DENIED)
        return encode_data(value)

    def _object_list(self) -> list[Any]:
        entries = [_list_entry(CosemClass.ASSOCIATION_LN, 1, ASSOCIATION_LN, 9)]
        for obj in self._objects.values():
            entries.append(
                _list_entry(obj.class_id, obj.version, obj.obis, max(obj.attributes, default=1))
            )
        return entries


def _fits(logical: int, physical: int, size: int) -> bool:
    limit = 0x7F if size == 2 else 0x3FFF
    return logical <= limit and physical <= limit


def _result_body(result: GetResult | bytes) -> bytes:
    if isinstance(result, bytes):
        return b"\x00" + result
    if result.error:
        return bytes((0x01, result.error))
    return b"\x00" + encode_data(result.value)


def _list_entry(class_id: int, version: int, obis: Obis, attributes: int) -> tuple[Any, ...]:
    access = [
        (Typed(DataType.INTEGER, i), Typed(DataType.ENUM, 1), None)
        for i in range(1, attributes + 1)
    ]
    return (
        Typed(DataType.LONG_UNSIGNED, class_id),
        Typed(DataType.UNSIGNED, version),
        obis.to_bytes(),
        (access, []),
    )


def _select_rows(obj: CosemObject, request: AttributeRequest) -> list[Any]:
    rows = list(obj.rows)
    params = request.parameters
    if request.selector == 1 and isinstance(params, tuple) and len(params) >= 3:
        start, end = params[1], params[2]
        if isinstance(start, bytes) and isinstance(end, bytes):
            low, high = _sortable(start), _sortable(end)
            rows = [r for r in rows if low <= _sortable(r[0]) <= high]
    elif request.selector == 2 and isinstance(params, tuple) and len(params) >= 2:
        first, last = int(params[0]), int(params[1])
        rows = rows[max(first, 1) - 1 : (last or len(rows))]
    return [tuple(r) for r in rows]


def _sortable(stamp: Any) -> bytes:
    """Year, month, day, hour, minute, second of a 12-byte date-time (compares in order)."""
    raw = bytes(stamp) if isinstance(stamp, bytes) else b""
    return raw[0:4] + raw[5:8] if len(raw) == 12 else raw
