"""Sans-IO DLMS/COSEM client over HDLC: link, association, GET, release.

Theory of operation, in the style of :class:`~obisgate.protocol.client.ReadoutClient`:
each operation (:meth:`DlmsClient.open`, :meth:`DlmsClient.get`,
:meth:`DlmsClient.close`) returns the first actions; the driver carries them
out, reads for at most :attr:`DlmsClient.read_timeout_s` and passes what
arrives to :meth:`DlmsClient.receive_data`, or calls :meth:`DlmsClient.timeout`
when nothing came, until :attr:`DlmsClient.done` is true again. Then
:attr:`DlmsClient.results` holds the outcome of a GET.

The link (IEC 62056-46): SNRM -> UA (the UA's parameters set the longest
information field each side sends, and the windows), I frames numbered mod 8,
an APDU longer than the peer's information field sent in segments (each
acknowledged by an RR), a segmented answer collected by sending RR for each
segment. Silence is repaired by retransmission: :meth:`timeout` resends the
last frame up to ``retries`` times before it raises.

Frames are told apart by their addresses: only a frame from the server to this
client is taken. The echo of our own frames (optical heads), frames of other
stations and bytes outside frames are skipped; frames with a wrong HCS or FCS
are dropped (the retransmission repairs them) and named in the error when
nothing usable ever came.

Any exception puts the client in the error state; it cannot be reused.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import Enum, auto
from typing import Final

from obisgate.dlms.apdu import (
    AARE_TAG,
    GET_RESPONSE_TAG,
    RLRE_TAG,
    AttributeRequest,
    Conformance,
    GetResult,
    apdu_name,
    decode_aare,
    decode_get_response,
    decode_get_results,
    encode_aarq,
    encode_get_list,
    encode_get_next,
    encode_get_normal,
    encode_rlrq,
    password_span,
    service_error_text,
)
from obisgate.dlms.axdr import decode_data, decode_length
from obisgate.dlms.hdlc import (
    Frame,
    FrameKind,
    FrameReader,
    HdlcParameters,
    client_address,
    control_i,
    control_rr,
    control_u,
    server_address,
)
from obisgate.errors import (
    AccessDeniedError,
    ApduError,
    ConfigError,
    ConnectionLostError,
    DlmsServiceError,
    HdlcFrameError,
    NoAnswerError,
    UnexpectedMessageError,
)
from obisgate.protocol.actions import Action, Send

__all__ = ["DlmsClient", "DlmsOptions", "FrameLog"]

#: LLC headers of IEC 62056-46 8.1: client -> server, server -> client.
LLC_REQUEST: Final = b"\xe6\xe6\x00"
LLC_RESPONSE: Final = b"\xe6\xe7\x00"
_MAX_APDU: Final = 1 << 20
_MAX_BLOCKS: Final = 10000


@dataclass(frozen=True, slots=True, kw_only=True)
class DlmsOptions:
    """How to talk to one DLMS/COSEM server over HDLC.

    Attributes:
        client: the client SAP (16 = public client, no password; 1 = management).
        logical: the server's upper HDLC address (logical device, usually 1).
        physical: the server's lower HDLC address (physical device; 17 is
            common on optical ports); ``None`` for a one-byte server address.
        address_size: bytes of the server address (1, 2 or 4); ``None`` picks.
        password: the low-level-security password (``None``: no authentication).
        max_info: the longest information field obisgate sends and receives
            (proposed in the SNRM; the UA decides).
        window: frames in flight (proposed; obisgate uses one).
        max_pdu: the largest APDU obisgate accepts (proposed in the AARQ).
        response_timeout_s: silence after which a frame is sent again.
        retries: retransmissions of a frame before giving up.
        snrm_parameters: send our parameters in the SNRM (some meters want an
            empty SNRM).
        release: send RLRQ before DISC (a meter that does not answer it is
            disconnected all the same).
        get_list_limit: most attributes in one GET-Request-With-List.
        busy_polls: how many RNR (receiver not ready) answers in a row the
            meter may give: after an RNR obisgate waits ``response_timeout_s``
            and polls with RR, then goes on when the meter answers RR or sends.
    """

    client: int = 16
    logical: int = 1
    physical: int | None = 17
    address_size: int | None = None
    password: bytes | None = field(default=None, repr=False)
    max_info: int = 128
    window: int = 1
    max_pdu: int = 0xFFFF
    response_timeout_s: float = 3.0
    retries: int = 3
    snrm_parameters: bool = True
    release: bool = True
    get_list_limit: int = 16
    busy_polls: int = 10

    def __post_init__(self) -> None:
        client_address(self.client)
        server_address(self.logical, self.physical, self.address_size)
        if not 32 <= self.max_info <= 2030:
            raise ConfigError(f"HDLC max information length {self.max_info}: allowed 32-2030")
        if not 0 <= self.busy_polls <= 100:
            raise ConfigError(f"HDLC busy polls {self.busy_polls}: allowed 0-100")
        if not 1 <= self.window <= 7:
            raise ConfigError(f"HDLC window {self.window}: allowed 1-7")
        if not 64 <= self.max_pdu <= 0xFFFF:
            raise ConfigError(f"DLMS max PDU size {self.max_pdu}: allowed 64-65535")
        if not (math.isfinite(self.response_timeout_s) and self.response_timeout_s > 0):
            raise ConfigError(f"response timeout {self.response_timeout_s:g} s: must be above 0")
        if not 0 <= self.retries <= 10:
            raise ConfigError(f"HDLC retries {self.retries}: allowed 0-10")
        if not 1 <= self.get_list_limit <= 64:
            raise ConfigError(f"get_list_limit {self.get_list_limit}: allowed 1-64")
        if self.password is not None and len(self.password) > 64:
            raise ConfigError("the LLS password may have at most 64 bytes")


@dataclass(frozen=True, slots=True)
class FrameLog:
    """One frame of the exchange, for ``--format raw``.

    Attributes:
        direction: ``">"`` sent, ``"<"`` received.
        data: the frame's bytes (a password masked).
        text: what the frame is (``SNRM``, ``I(S=0,R=0) 42 bytes AARQ`` ...).
    """

    direction: str
    data: bytes
    text: str


class _State(Enum):
    IDLE = auto()
    WAIT_UA = auto()
    WAIT_AARE = auto()
    CONNECTED = auto()
    WAIT_GET = auto()
    WAIT_RLRE = auto()
    WAIT_DISC = auto()
    CLOSED = auto()
    ERROR = auto()


_WAITING: Final = {
    _State.WAIT_UA: "UA to SNRM",
    _State.WAIT_AARE: "AARE",
    _State.WAIT_GET: "GET-Response",
    _State.WAIT_RLRE: "RLRE",
    _State.WAIT_DISC: "UA to DISC",
}


class DlmsClient:
    """One client association over HDLC, as a sans-IO state machine. Does no I/O.

    Raises (from every method): :class:`~obisgate.errors.ProtocolError`
    subclasses for bad input (:class:`~obisgate.errors.HdlcFrameError`,
    :class:`~obisgate.errors.ApduError`), :class:`~obisgate.errors.AccessDeniedError`
    for a rejected association, :class:`~obisgate.errors.DlmsServiceError` for
    an exception answer, :class:`~obisgate.errors.NoAnswerError` from
    :meth:`timeout`, ``RuntimeError`` when called in the wrong state.

    Attributes:
        results: the outcomes of the last :meth:`get`, one per attribute.
        conformance: what the server agreed to (after :meth:`open`).
        server_max_pdu: the largest APDU the server accepts.
        link: the negotiated HDLC parameters (from the server's view).
        log: every frame sent and taken, for ``--format raw``.
    """

    def __init__(self, options: DlmsOptions | None = None) -> None:
        self.options = options or DlmsOptions()
        opts = self.options
        self._me = client_address(opts.client)
        self._server = server_address(opts.logical, opts.physical, opts.address_size)
        self._reader = FrameReader()
        self._state = _State.IDLE
        self._vs = 0
        self._vr = 0
        self._tx_max = 128
        self._rx_max = opts.max_info
        self._last: list[Send] = []
        self._tries = 0
        self._busy = 0
        self._segments: list[bytes] = []
        self._shown_segments: list[bytes] | None = None
        self._sent_first = False
        self._rx_apdu = bytearray()
        self._requests: list[AttributeRequest] = []
        self._list = False
        self._block_data = bytearray()
        self._block = 0
        self._junk = bytearray()
        self.results: list[GetResult] = []
        self.conformance = 0
        self.server_max_pdu = 0xFFFF
        self.link = HdlcParameters()
        self.log: list[FrameLog] = []
        self.bytes_received = 0

    # -- public API ---------------------------------------------------------

    @property
    def done(self) -> bool:
        """True when no operation is in progress (connected, or closed)."""
        return self._state in (_State.CONNECTED, _State.CLOSED, _State.IDLE)

    @property
    def connected(self) -> bool:
        """True once associated, until :meth:`close`."""
        return self._state is _State.CONNECTED

    @property
    def read_timeout_s(self) -> float:
        """How long the driver may wait for bytes before :meth:`timeout`."""
        return self.options.response_timeout_s

    @property
    def waiting_for(self) -> str:
        """What the client waits for, in words."""
        return _WAITING.get(self._state, "nothing")

    @property
    def supports_lists(self) -> bool:
        """Whether the server allows GET-Request-With-List (multiple references)."""
        return bool(self.conformance & Conformance.MULTIPLE_REFERENCES)

    @property
    def supports_selective_access(self) -> bool:
        """Whether the server allows selective access (profile ranges)."""
        return bool(self.conformance & Conformance.SELECTIVE_ACCESS)

    def open(self) -> list[Action]:
        """Connect the link (SNRM) and associate (AARQ); done when the AARE accepted."""
        self._require(_State.IDLE)
        opts = self.options
        info = b""
        if opts.snrm_parameters:
            info = HdlcParameters(opts.max_info, opts.max_info, opts.window, opts.window).encode()
        self._state = _State.WAIT_UA
        return self._send_frames([self._frame(control_u(FrameKind.SNRM), info)])

    def get(self, requests: list[AttributeRequest]) -> list[Action]:
        """GET ``requests`` (with-list when more than one); done when :attr:`results` holds them.

        Raises:
            ConfigError: no requests, or more than ``get_list_limit``.
        """
        self._require(_State.CONNECTED)
        if not requests or len(requests) > self.options.get_list_limit:
            raise ConfigError(f"a GET takes 1-{self.options.get_list_limit} attributes")
        self._requests = list(requests)
        self._list = len(requests) > 1
        self._block_data.clear()
        self._block = 0
        self.results = []
        self._state = _State.WAIT_GET
        if self._list:
            return self._send_apdu(encode_get_list(self._requests))
        return self._send_apdu(encode_get_normal(self._requests[0]))

    def close(self) -> list[Action]:
        """Release the association (RLRQ, if configured) and disconnect (DISC)."""
        if self._state in (_State.CLOSED, _State.IDLE):
            self._state = _State.CLOSED
            return []
        self._require(_State.CONNECTED)
        if self.options.release:
            self._state = _State.WAIT_RLRE
            return self._send_apdu(encode_rlrq())
        return self._disconnect()

    def receive_data(self, data: bytes) -> list[Action]:
        """Take bytes from the line; returns what to do next.

        Raises:
            HdlcFrameError: a DM or FRMR from the server, or a broken sequence.
            ApduError: a malformed APDU.
            AccessDeniedError: the association was rejected.
            DlmsServiceError: the server answered with an exception.
        """
        if self._state is _State.ERROR:
            raise RuntimeError("DlmsClient failed; it cannot be reused")
        self.bytes_received += len(data)
        before = self._reader.skipped
        frames = self._reader.feed(data)
        if self._reader.skipped > before and len(self._junk) < 4096:
            self._junk += data[-(self._reader.skipped - before) :][: 4096 - len(self._junk)]
        actions: list[Action] = []
        try:
            for frame in frames:
                if frame.dest != self._me or frame.src != self._server:
                    continue  # our own echo, or another station's frame
                self.log.append(FrameLog("<", frame.encode(), self._describe(frame)))
                actions += self._on_frame(frame)
        except BaseException:
            self._state = _State.ERROR
            raise
        return actions

    def timeout(self) -> list[Action]:
        """Report that :attr:`read_timeout_s` passed without a usable frame.

        Retransmits the last frame while retries are left. The release and the
        disconnect end quietly when the meter does not answer them.

        Raises:
            UnexpectedMessageError: the meter sent a mode C readout instead of frames.
            HdlcFrameError: only frames with a wrong check sequence came.
            NoAnswerError: nothing came.
            RuntimeError: no operation is in progress.
        """
        state = self._state
        if self.done or state is _State.ERROR:
            raise RuntimeError(f"DlmsClient is {state.name}, not waiting for an answer")
        if self._tries < self.options.retries and self._last:
            self._tries += 1
            actions: list[Action] = list(self._last)
            note = "RR poll: the meter said it was busy (RNR)" if self._busy else "retransmitted"
            for send in self._last:
                self.log.append(FrameLog(">", send.printable, note))
            return actions
        if state is _State.WAIT_RLRE:
            return self._disconnect()
        if state is _State.WAIT_DISC:
            self._state = _State.CLOSED
            return []
        self._state = _State.ERROR
        waited = self.waiting_for_state(state)
        attempts = self._tries + 1
        junk = bytes(self._junk)
        if b"\x02" in junk and (b"!\r\n" in junk or b"\x03" in junk):
            raise UnexpectedMessageError(
                "the meter sent a mode C readout (STX ... ETX) instead of HDLC frames: "
                "it ignored the mode E request; read it with --mode C"
            )
        if self._reader.bad_frames:
            raise HdlcFrameError(
                f"no valid {waited} after {attempts} attempts: {self._reader.bad_frames} "
                "frames with a wrong check sequence (HCS/FCS) were dropped "
                "(wrong line settings, or noise on the line)"
            )
        raise NoAnswerError(
            f"{waited}, {attempts} attempts; check the HDLC addresses "
            f"(client {self.options.client}, logical {self.options.logical}, "
            f"physical {self.options.physical})",
            self.read_timeout_s,
            self.bytes_received,
        )

    def connection_lost(self, error: ConnectionLostError) -> list[Action]:
        """The line closed: ends a release/disconnect quietly, otherwise raises ``error``.

        Raises:
            ConnectionLostError: ``error``, unless the client was closing.
        """
        if self._state in (_State.WAIT_RLRE, _State.WAIT_DISC, _State.CLOSED):
            self._state = _State.CLOSED
            return []
        self._state = _State.ERROR
        raise error

    @staticmethod
    def waiting_for_state(state: _State) -> str:
        """The words for what ``state`` waits for."""
        return _WAITING.get(state, "answer")

    # -- frames -------------------------------------------------------------

    def _require(self, state: _State) -> None:
        if self._state is not state:
            raise RuntimeError(f"DlmsClient is {self._state.name}, needs {state.name}")

    def _frame(self, control: int, info: bytes = b"", segmented: bool = False) -> Frame:
        return Frame(self._server, self._me, control, info, segmented)

    def _describe(self, frame: Frame, apdu: bytes = b"") -> str:
        text = frame.describe()
        if apdu:
            text += f" {apdu_name(apdu)}"
        return text

    def _send_frames(self, frames: list[Frame], shown: list[bytes] | None = None) -> list[Action]:
        sends = []
        for i, frame in enumerate(frames):
            data = frame.encode()
            printable = shown[i] if shown is not None else None
            sends.append(Send(data, printable))
            self.log.append(FrameLog(">", printable or data, self._describe(frame)))
        self._last = sends
        self._tries = 0
        self._busy = 0
        return list(sends)

    def _send_apdu(self, apdu: bytes, shown_apdu: bytes | None = None) -> list[Action]:
        """Send an APDU in one I frame, or its first segment (the rest follow each RR)."""
        payload = LLC_REQUEST + apdu
        shown_payload = LLC_REQUEST + shown_apdu if shown_apdu is not None else None
        size = self._tx_max
        self._segments = [payload[i : i + size] for i in range(0, len(payload), size)]
        self._shown_segments = (
            [shown_payload[i : i + size] for i in range(0, len(shown_payload), size)]
            if shown_payload is not None
            else None
        )
        self._rx_apdu.clear()
        self._sent_first = False
        return self._next_segment()

    def _next_segment(self) -> list[Action]:
        first = not self._sent_first
        self._sent_first = True
        info = self._segments.pop(0)
        shown_info = self._shown_segments.pop(0) if self._shown_segments else None
        more = bool(self._segments)
        frame = self._frame(control_i(self._vs, self._vr), info, more)
        self._vs = (self._vs + 1) & 7
        shown = None
        if shown_info is not None:
            shown = [self._frame(frame.control, shown_info, more).encode()]
        actions = self._send_frames([frame], shown)
        if first:
            entry = self.log[-1]
            self.log[-1] = FrameLog(">", entry.data, f"{entry.text} {apdu_name(info[3:])}")
        return actions

    def _disconnect(self) -> list[Action]:
        self._state = _State.WAIT_DISC
        return self._send_frames([self._frame(control_u(FrameKind.DISC))])

    def _on_frame(self, frame: Frame) -> list[Action]:
        kind = frame.kind
        state = self._state
        if kind is FrameKind.UA:
            if state is _State.WAIT_UA:
                return self._on_ua(frame)
            if state is _State.WAIT_DISC:
                self._state = _State.CLOSED
                return []
            return []  # a late duplicate UA
        if kind is FrameKind.DM:
            if state is _State.WAIT_DISC or state is _State.WAIT_RLRE:
                self._state = _State.CLOSED
                return []
            raise HdlcFrameError(
                f"the meter answered DM (disconnected mode) while obisgate waited for "
                f"{self.waiting_for}: it refused the connection or dropped it"
            )
        if kind is FrameKind.FRMR:
            raise HdlcFrameError(f"the meter rejected a frame (FRMR {frame.info.hex()})")
        if kind is FrameKind.RNR:
            return self._on_not_ready()
        if kind is FrameKind.RR:
            self._busy = 0
            if self._segments:
                return self._next_segment()  # the server took a segment of ours
            return []
        if kind is FrameKind.I:
            return self._on_i_frame(frame)
        return []

    def _on_not_ready(self) -> list[Action]:
        """The meter is busy (RNR): wait a response timeout, then poll with RR (the
        repetition of :meth:`timeout`); it answers RR or sends once it is ready."""
        self._busy += 1
        if self._busy > self.options.busy_polls:
            raise HdlcFrameError(
                f"the meter stayed busy: RNR (receiver not ready) {self._busy} times in a row"
            )
        self._last = [Send(self._frame(control_rr(self._vr)).encode())]
        self._tries = 0
        return []

    def _on_ua(self, frame: Frame) -> list[Action]:
        try:
            params = HdlcParameters.decode(frame.info)
        except ValueError as exc:
            raise HdlcFrameError(f"UA parameters malformed: {exc}") from None
        self.link = params
        # The server's receive limit bounds what we send; its transmit limit what it sends.
        self._tx_max = max(16, min(params.max_info_rx, 2030))
        self._vs = self._vr = 0
        self._state = _State.WAIT_AARE
        opts = self.options
        aarq = encode_aarq(password=opts.password, max_pdu=opts.max_pdu)
        shown = None
        if opts.password is not None:
            span = password_span(aarq)
            if span is not None:
                start, end = span
                shown = aarq[:start] + b"*" * (end - start) + aarq[end:]
        return self._send_apdu(aarq, shown)

    def _on_i_frame(self, frame: Frame) -> list[Action]:
        self._busy = 0
        if frame.ns != self._vr:
            # A repetition of a frame we already took (our RR was lost): acknowledge again.
            return self._send_frames([self._frame(control_rr(self._vr))])
        self._vr = (self._vr + 1) & 7
        self._rx_apdu += frame.info
        if len(self._rx_apdu) > _MAX_APDU:
            raise HdlcFrameError(f"answer longer than {_MAX_APDU} bytes")
        if frame.segmented:
            return self._send_frames([self._frame(control_rr(self._vr))])
        payload = bytes(self._rx_apdu)
        self._rx_apdu.clear()
        apdu = payload[3:] if payload[:2] == LLC_RESPONSE[:2] else payload
        if self.log:
            self.log[-1] = FrameLog("<", self.log[-1].data, self._describe(frame, apdu))
        return self._on_apdu(apdu)

    # -- APDUs ----------------------------------------------------------------

    def _on_apdu(self, apdu: bytes) -> list[Action]:
        state = self._state
        error = service_error_text(apdu)
        if error is not None:
            raise DlmsServiceError(error, command=self.waiting_for)
        if not apdu:
            raise ApduError("empty APDU")
        tag = apdu[0]
        if state is _State.WAIT_AARE and tag == AARE_TAG:
            aare = decode_aare(apdu)
            if not aare.accepted:
                raise AccessDeniedError(f"the meter rejected the association: {aare.reason()}")
            self.conformance = aare.conformance
            self.server_max_pdu = aare.max_pdu or 0xFFFF
            self._state = _State.CONNECTED
            return []
        if state is _State.WAIT_GET and tag == GET_RESPONSE_TAG:
            return self._on_get_response(apdu)
        if state is _State.WAIT_RLRE and tag == RLRE_TAG:
            return self._disconnect()
        raise UnexpectedMessageError(
            f"the meter sent {apdu_name(apdu)} while obisgate waited for {self.waiting_for}"
        )

    def _on_get_response(self, apdu: bytes) -> list[Action]:
        response = decode_get_response(apdu)
        expected = 3 if self._list else 1
        if response.kind == 2:
            if response.results:  # the block transfer failed
                self.results = [response.results[0]] * len(self._requests)
                self._state = _State.CONNECTED
                return []
            if response.block != self._block + 1 and response.block != self._block:
                raise ApduError(
                    f"data block {response.block} arrived, {self._block + 1} was expected"
                )
            if response.block == self._block + 1:
                self._block = response.block
                self._block_data += response.raw
            if len(self._block_data) > _MAX_APDU or self._block > _MAX_BLOCKS:
                raise ApduError(f"block transfer longer than {_MAX_APDU} bytes")
            if not response.last_block:
                return self._send_apdu(encode_get_next(self._block))
            data = bytes(self._block_data)
            if self._list:
                count, pos = decode_length(data, 0)
                results, _ = decode_get_results(data, pos, count)
            else:
                value, _ = decode_data(data, 0)
                results = (GetResult(value),)
        elif response.kind == expected:
            results = response.results
        else:
            raise ApduError(f"GET-Response choice {response.kind} does not answer this request")
        if len(results) != len(self._requests):
            raise ApduError(
                f"GET-Response holds {len(results)} results for {len(self._requests)} attributes"
            )
        self.results = list(results)
        self._state = _State.CONNECTED
        return []
