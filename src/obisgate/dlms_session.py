"""The asynchronous driver of mode E and direct HDLC: opening, association, GETs, release.

Mode E: the IEC 62056-21 opening at 300 Bd 7E1 (:class:`~obisgate.protocol.client.ReadoutClient`
with ``mode=E``: request, identification, ``ACK 2 Z 2``, the switch to Z Bd and
the meter's confirmation, then 8N1), then HDLC. Direct HDLC: HDLC from the
first byte, 8N1 at the configured rate. Both then run one
:class:`~obisgate.dlms.client.DlmsClient` association: the object list (when
needed), the values (GET-Request-With-List where the meter allows it, else one
by one), release and disconnect. The release never hides the reading's result:
a meter that does not answer RLRQ or DISC is left as it is.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

from obisgate.dlms.apdu import AttributeRequest, GetResult
from obisgate.dlms.client import DlmsClient, DlmsOptions, FrameLog
from obisgate.dlms.cosem import Obis
from obisgate.dlms.profile import (
    buffer_request,
    layout_requests,
    parse_capture_objects,
    profile_from_buffer,
    scaler_requests,
)
from obisgate.dlms.reading import (
    ASSOCIATION_OBJECT,
    ListedObject,
    ObjectReading,
    ObjectSpec,
    parse_object_list,
    plan_requests,
    readings_from_results,
    targets_for,
    to_dataset,
)
from obisgate.errors import ApduError, ConnectionLostError, ObisgateError, TotalTimeoutError
from obisgate.protocol.actions import Action
from obisgate.protocol.client import ReadoutClient, ReadoutOptions, ReadResult
from obisgate.protocol.identification import Identification, ProtocolMode
from obisgate.protocol.loadprofile import LoadProfile
from obisgate.protocol.readout import BccStatus, Readout
from obisgate.session import Exchange, ProgressCallback
from obisgate.trace import Trace, TraceTarget, open_trace
from obisgate.transport.base import LineSettings, Transport
from obisgate.transport.url import open_transport

__all__ = [
    "DIRECT_HDLC_IDENTIFICATION",
    "DlmsReadResult",
    "DlmsSession",
    "read_dlms",
    "read_dlms_on",
    "read_dlms_profile",
    "run_dlms_session",
]

_LOGGER = logging.getLogger(__name__)
T = TypeVar("T")

#: What a direct HDLC meter "identifies" as (it sends no identification message).
DIRECT_HDLC_IDENTIFICATION = Identification("", "", "", "")


@dataclass(frozen=True, slots=True)
class DlmsReadResult(ReadResult):
    """A readout of a DLMS/COSEM meter, shaped like a D0 one (``mode`` E or HDLC).

    Attributes:
        readings: each object's outcome with its scaler and unit code.
        frames: every HDLC frame sent and taken (``--format raw``), passwords masked.
    """

    readings: tuple[ObjectReading, ...] = ()
    frames: tuple[FrameLog, ...] = field(default=(), repr=False)


class _NotingClient:
    """The session's client, noting every frame in the trace when it is sent or taken."""

    def __init__(self, session: DlmsSession) -> None:
        self._session = session
        self._client = session.client

    @property
    def done(self) -> bool:
        return self._client.done

    @property
    def read_timeout_s(self) -> float:
        return self._client.read_timeout_s

    @property
    def waiting_for(self) -> str:
        return self._client.waiting_for

    def receive_data(self, data: bytes) -> list[Action]:
        try:
            return self._client.receive_data(data)
        finally:
            self._session._note_frames()

    def timeout(self) -> list[Action]:
        try:
            return self._client.timeout()
        finally:
            self._session._note_frames()

    def connection_lost(self, error: ConnectionLostError) -> list[Action]:
        return self._client.connection_lost(error)


class DlmsSession:
    """One association on an open transport: :meth:`open`, :meth:`get`, :meth:`close`.

    Args:
        transport: the open line.
        options: addresses, password, sizes, timeouts.
        trace: optional byte trace (frames are also noted by name).
        on_progress: called after every chunk received.
    """

    def __init__(
        self,
        transport: Transport,
        options: DlmsOptions,
        *,
        trace: Trace | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> None:
        self.client = DlmsClient(options)
        self.exchange = Exchange(transport, trace=trace, on_progress=on_progress)
        self._trace = trace
        self._noted = 0
        self._listed: list[ListedObject] | None = None
        if trace is not None and options.password is not None:
            trace.add_secret(options.password)

    async def _run(self, actions: Sequence[Action]) -> None:
        self._note_frames()
        await self.exchange.run(_NotingClient(self), actions)

    def _note_frames(self) -> None:
        trace = self._trace
        log = self.client.log
        if trace is not None:
            for entry in log[self._noted :]:
                trace.note(f"HDLC {entry.direction} {entry.text}")
        self._noted = len(log)

    async def open(self) -> None:
        """SNRM/UA, AARQ/AARE.

        Raises:
            AccessDeniedError: the association was refused (e.g. a wrong LLS password).
            NoAnswerError, HdlcFrameError, ApduError, ConnectionLostError: see
                :class:`~obisgate.dlms.client.DlmsClient`.
        """
        await self._run(self.client.open())

    async def get(self, requests: Sequence[AttributeRequest]) -> list[GetResult]:
        """GET every request, with lists of up to ``get_list_limit`` where the meter allows.

        Raises:
            The errors of :meth:`open`; ``DlmsServiceError`` for an exception answer.
        """
        client = self.client
        results: list[GetResult] = []
        step = client.options.get_list_limit if client.supports_lists else 1
        for i in range(0, len(requests), step):
            await self._run(client.get(list(requests[i : i + step])))
            results += client.results
        return results

    async def object_list(self) -> list[ListedObject]:
        """The association's object list (read once per session).

        Raises:
            ApduError: the meter refused it or sent something else.
        """
        if self._listed is None:
            (result,) = await self.get([ASSOCIATION_OBJECT])
            if not result.ok:
                raise ApduError(
                    f"the meter refused its object list (0-0:40.0.0*255 attribute 2): "
                    f"data-access-result {result.error}"
                )
            self._listed = parse_object_list(result.value)
        return self._listed

    async def read_objects(self, specs: Sequence[ObjectSpec] | None) -> list[ObjectReading]:
        """Read ``specs`` (``None``: every value object the object list holds).

        The object list is read when ``specs`` is ``None`` or names an object without its class.
        """
        listed: list[ListedObject] = []
        if specs is None or any(s.class_id is None for s in specs):
            listed = await self.object_list()
        requests = plan_requests(targets_for(specs, listed))
        if not requests:
            return []
        results = await self.get(requests)
        return readings_from_results(requests, results)

    async def read_profile(self, profile: Obis, start: datetime, end: datetime) -> LoadProfile:
        """Read profile generic ``profile`` between ``start`` and ``end`` (meter local time).

        Raises:
            ApduError: the meter refused the profile or sent something unexpected.
        """
        capture, period = await self.get(layout_requests(profile))
        columns = parse_capture_objects(capture)
        wanted = scaler_requests(columns)
        scalers: dict[Obis, tuple[int, int]] = {}
        for request, result in zip(wanted, await self.get(wanted) if wanted else [], strict=True):
            pair = result.value
            if result.ok and isinstance(pair, tuple) and len(pair) == 2:
                scalers[request.obis] = (int(pair[0]), int(pair[1]))
        period_s = int(period.value) if period.ok and isinstance(period.value, int) else 0
        (buffer,) = await self.get([buffer_request(profile, columns, start, end)])
        return profile_from_buffer(profile, columns, scalers, period_s, buffer)

    async def close(self) -> None:
        """RLRQ/RLRE and DISC/UA; a meter that stays silent or hangs up is left as it is."""
        if not self.client.connected:
            return
        try:
            await self._run(self.client.close())
        except ObisgateError as exc:
            _LOGGER.debug("closing the association: %s", exc)


async def _opening(
    transport: Transport,
    options: ReadoutOptions,
    trace: Trace | None,
    on_progress: ProgressCallback | None,
) -> ReadResult:
    """The IEC 62056-21 opening into mode E; returns identification and rate."""
    client = ReadoutClient(options)
    exchange = Exchange(transport, trace=trace, on_progress=on_progress)
    if transport.baud != client.baud and transport.can_set_baud:
        await transport.set_baud(client.baud)
    await exchange.run(client, client.start())
    assert client.result is not None
    return client.result


@dataclass(frozen=True, slots=True)
class Opened:
    """What the opening told: identification, mode and rate."""

    identification: Identification
    mode: ProtocolMode
    baud: int


async def run_dlms_session(
    transport: Transport,
    dlms: DlmsOptions,
    body: Callable[[DlmsSession], Awaitable[T]],
    *,
    opening: ReadoutOptions | None = None,
    trace: Trace | None = None,
    total_timeout_s: float | None = None,
    on_progress: ProgressCallback | None = None,
) -> tuple[Opened, DlmsSession, T]:
    """Open (mode E opening if given), associate, run ``body``, release; within the deadline.

    Raises:
        UnexpectedMessageError: the meter sent a mode C readout instead of switching.
        AccessDeniedError: the association was refused.
        NoAnswerError: silence (:class:`~obisgate.errors.TotalTimeoutError` past
            ``total_timeout_s``).
        HdlcFrameError, ApduError, DlmsServiceError, ConnectionLostError: see
            :class:`~obisgate.dlms.client.DlmsClient`; and what ``body`` raises.
    """
    deadline = asyncio.timeout(total_timeout_s)
    session: DlmsSession | None = None
    try:
        async with deadline:
            if opening is not None:
                opened = await _opening(transport, _mode_e(opening), trace, on_progress)
                info = Opened(opened.identification, ProtocolMode.E, opened.baud)
            else:
                info = Opened(DIRECT_HDLC_IDENTIFICATION, ProtocolMode.HDLC, transport.baud)
            session = DlmsSession(transport, dlms, trace=trace, on_progress=on_progress)
            await session.open()
            try:
                outcome = await body(session)
            finally:
                await session.close()
    except TimeoutError as exc:
        received = session.exchange.received if session is not None else 0
        if not deadline.expired() or total_timeout_s is None:
            raise
        raise TotalTimeoutError("DLMS session", total_timeout_s, received) from exc
    finally:
        if trace is not None:
            trace.flush()
    return info, session, outcome


async def read_dlms_on(
    transport: Transport,
    dlms: DlmsOptions,
    *,
    opening: ReadoutOptions | None = None,
    objects: Sequence[ObjectSpec] | None = None,
    trace: Trace | None = None,
    total_timeout_s: float | None = None,
    on_progress: ProgressCallback | None = None,
) -> DlmsReadResult:
    """Read a DLMS/COSEM meter over an open transport.

    Args:
        transport: the open line (7E1 at 300 Bd for mode E; 8N1 for direct HDLC).
        dlms: addresses, LLS password, sizes and timeouts.
        opening: the opening of mode E (its ``mode`` is set to E); ``None``
            speaks HDLC from the first byte.
        objects: what to read; ``None`` reads the object list and every
            register, extended register, demand register, data and clock.
        trace: optional byte trace.
        total_timeout_s: limit for the whole exchange.
        on_progress: called after every chunk received.

    Raises:
        The errors of :func:`run_dlms_session`.
    """

    async def body(session: DlmsSession) -> list[ObjectReading]:
        return await session.read_objects(objects)

    info, session, readings = await run_dlms_session(
        transport,
        dlms,
        body,
        opening=opening,
        trace=trace,
        total_timeout_s=total_timeout_s,
        on_progress=on_progress,
    )
    datasets = tuple(to_dataset(r) for r in readings)
    ident = info.identification
    readout = Readout(datasets, BccStatus.ABSENT, ident if opening is not None else None)
    return DlmsReadResult(
        ident,
        info.mode,
        info.baud,
        readout,
        readings=tuple(readings),
        frames=tuple(session.client.log),
    )


def _mode_e(options: ReadoutOptions) -> ReadoutOptions:
    if options.mode is ProtocolMode.E:
        return options
    import dataclasses  # noqa: PLC0415

    return dataclasses.replace(options, mode=ProtocolMode.E)


def dlms_line(opening: ReadoutOptions | None, line: LineSettings | None, baud: int) -> LineSettings:
    """The line to open: 7E1 at the opening's rate for mode E, else 8N1 at ``baud``."""
    if opening is not None:
        return line or LineSettings(baudrate=opening.start_baud)
    if line is None:
        return LineSettings(baudrate=baud, bytesize=8, parity="N")
    return line


async def read_dlms(
    url: str,
    dlms: DlmsOptions,
    *,
    opening: ReadoutOptions | None = None,
    objects: Sequence[ObjectSpec] | None = None,
    line: LineSettings | None = None,
    hdlc_baud: int = 9600,
    trace: TraceTarget = None,
    total_timeout_s: float | None = None,
    connect_timeout_s: float = 10.0,
    on_progress: ProgressCallback | None = None,
) -> DlmsReadResult:
    """Open ``url``, read the DLMS/COSEM meter once (mode E or direct HDLC), close.

    Args:
        url: a serial device path, ``tcp://host:port`` or ``rfc2217://host:port``.
        dlms: addresses, password, sizes and timeouts.
        opening: mode E's opening options; ``None`` for direct HDLC.
        objects: what to read (``None``: everything the object list holds).
        line: the line settings (default: 7E1 300 Bd for mode E, 8N1 at
            ``hdlc_baud`` for direct HDLC).
        hdlc_baud: the rate of a direct HDLC line without ``line``.
        trace: a :class:`~obisgate.trace.Trace`, an open text stream or a path.
        total_timeout_s: limit for the whole exchange.
        connect_timeout_s: limit for opening the port.
        on_progress: called with (bytes received, what is awaited).

    Raises:
        ConfigError: bad URL or options.
        ConnectError: the port cannot be opened.
        The errors of :func:`read_dlms_on`.
    """
    with ExitStack() as stack:
        tracer = open_trace(stack, trace)
        settings = dlms_line(opening, line, hdlc_baud)
        transport = await open_transport(url, settings, connect_timeout_s=connect_timeout_s)
        async with transport:
            if tracer:
                tracer.note(f"opened {url}")
            return await read_dlms_on(
                transport,
                dlms,
                opening=opening,
                objects=objects,
                trace=tracer,
                total_timeout_s=total_timeout_s,
                on_progress=on_progress,
            )
    raise AssertionError("unreachable")  # pragma: no cover


async def read_dlms_profile(
    url: str,
    dlms: DlmsOptions,
    start: datetime,
    end: datetime,
    *,
    profile: Obis,
    opening: ReadoutOptions | None = None,
    line: LineSettings | None = None,
    hdlc_baud: int = 9600,
    trace: TraceTarget = None,
    total_timeout_s: float | None = None,
    connect_timeout_s: float = 10.0,
) -> LoadProfile:
    """Open ``url`` and read profile generic ``profile`` between ``start`` and ``end``.

    Raises:
        The errors of :func:`read_dlms`.
    """

    async def body(session: DlmsSession) -> LoadProfile:
        return await session.read_profile(profile, start, end)

    with ExitStack() as stack:
        tracer = open_trace(stack, trace)
        settings = dlms_line(opening, line, hdlc_baud)
        transport = await open_transport(url, settings, connect_timeout_s=connect_timeout_s)
        async with transport:
            _, _, result = await run_dlms_session(
                transport,
                dlms,
                body,
                opening=opening,
                trace=tracer,
                total_timeout_s=total_timeout_s,
            )
            return result
    raise AssertionError("unreachable")  # pragma: no cover
