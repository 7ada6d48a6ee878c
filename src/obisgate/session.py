"""The asynchronous driver: runs a sans-IO client over a transport.

This is the only layer that waits: it carries out the core's actions (send,
drain, sleep, switch baud), reads with the deadlines the core asks for, and
reports silence back to the core, which decides which error it is.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from typing import Protocol, cast

from obisgate.errors import ConnectionLostError, TotalTimeoutError
from obisgate.protocol.actions import (
    Action,
    Drain,
    RecipesApplied,
    Send,
    SetBaud,
    SetFraming,
    Sleep,
)
from obisgate.protocol.client import ReadoutClient, ReadoutOptions, ReadResult
from obisgate.protocol.identification import ProtocolMode
from obisgate.protocol.recipes import RecipeRules
from obisgate.trace import Trace, TraceTarget, open_trace
from obisgate.transport.base import LineSettings, Transport
from obisgate.transport.url import open_transport

__all__ = [
    "Exchange",
    "SansIOClient",
    "describe_recipes",
    "read_meter",
    "read_meter_on",
    "read_meter_sync",
]

_LOGGER = logging.getLogger(__name__)
#: Transports already told that their converter's rate must match (warned once per process).
_WARNED_RATE: set[str] = set()
#: Transports warned about that one by one; the next is warned about with "and so on",
#: the rest at debug (a gateway with thousands of converters would print thousands).
_RATE_WARNINGS = 10
#: Meters already said to offer mode E (once per process and meter).
_TOLD_MODE_E: set[tuple[str, str]] = set()

ProgressCallback = Callable[[int, str], None]
"""Called with (bytes received so far, what is being waited for)."""


class SansIOClient(Protocol):
    """What :class:`Exchange` needs from a protocol state machine."""

    @property
    def done(self) -> bool: ...

    @property
    def read_timeout_s(self) -> float: ...

    @property
    def waiting_for(self) -> str: ...

    def receive_data(self, data: bytes) -> list[Action]: ...

    def timeout(self) -> list[Action]: ...

    def connection_lost(self, error: ConnectionLostError) -> list[Action]: ...


class RateSwitchAware(Protocol):
    """A client that holds bytes back until the driver reports its rate switch."""

    discarded: int

    def rate_switched(self, *, discard: bool) -> list[Action]: ...


class Exchange:
    """Carries out actions on one transport and feeds what it reads to a client.

    Args:
        transport: an open transport.
        trace: optional byte trace.
        on_progress: called after every chunk received.
    """

    def __init__(
        self,
        transport: Transport,
        *,
        trace: Trace | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> None:
        self.transport = transport
        self.trace = trace
        self.on_progress = on_progress
        self.received = 0
        self._warned_baud = False
        self._events_seen = 0

    async def perform(self, actions: Sequence[Action]) -> None:
        """Carry out ``actions`` in order.

        Raises:
            ConnectionLostError: the transport failed.
        """
        transport = self.transport
        for action in actions:
            match action:
                case Send(data=data):
                    if self.trace:
                        self.trace.sent(action.printable, transport.baud)
                    await transport.write(data)
                case Drain():
                    await transport.drain()
                case Sleep(seconds=seconds):
                    await asyncio.sleep(seconds)
                case SetBaud(baud=baud):
                    await self._set_baud(baud)
                case SetFraming(bytesize=bytesize, parity=parity):
                    await self._set_framing(bytesize, parity)

    async def _set_framing(self, bytesize: int, parity: str) -> None:
        transport = self.transport
        await transport.set_framing(bytesize, parity)
        if self.trace:
            if transport.framing_is_remote:
                self.trace.note(
                    f"line switches to {bytesize}{parity}1; the converter's own rate and "
                    "framing apply (bytes flow on unchanged)"
                )
            else:
                self.trace.note(f"switched to {bytesize}{parity}1")

    async def _set_baud(self, baud: int) -> None:
        transport = self.transport
        if transport.can_set_baud:
            await transport.set_baud(baud)
            if self.trace:
                self.trace.note(f"switched to {baud} Bd")
            return
        if not self.trace and (
            self._warned_baud
            or (
                (transport.url in _WARNED_RATE or len(_WARNED_RATE) > _RATE_WARNINGS)
                and not _LOGGER.isEnabledFor(logging.DEBUG)
            )
        ):
            self._warned_baud = True
            return  # nothing to say (a gateway comes here at every poll of such a meter)
        message = (
            f"{transport.url}: meter switches to {baud} Bd; this transport cannot "
            "switch, so the converter's own rate must match"
        )
        if self.trace:
            self.trace.note(message)
        if not self._warned_baud:
            self._warned_baud = True
            if transport.url in _WARNED_RATE or len(_WARNED_RATE) > _RATE_WARNINGS:
                _LOGGER.debug("%s", message)
            elif len(_WARNED_RATE) == _RATE_WARNINGS:
                _WARNED_RATE.add(transport.url)
                _LOGGER.warning(
                    "%s (and so on: more transports that cannot switch are logged at debug)",
                    message,
                )
            else:
                _WARNED_RATE.add(transport.url)
                _LOGGER.warning("%s", message)

    async def run(self, client: SansIOClient, actions: Sequence[Action] = ()) -> None:
        """Carry out ``actions``, then read and feed ``client`` until it is done.

        Raises:
            ProtocolError: from the client, for bad bytes.
            NoAnswerError: the client's read deadline passed.
            ConnectionLostError: end of stream or a failed port.
        """
        await self._perform_all(client, actions)
        while not client.done:
            try:
                data = await self._read(client.read_timeout_s)
            except ConnectionLostError as exc:
                if self.trace:
                    self.trace.note(f"connection closed: {exc}")
                actions = client.connection_lost(exc)
            else:
                if data is None:
                    if self.trace:
                        self.trace.note(f"no bytes for {client.read_timeout_s:g} s")
                    actions = client.timeout()
                else:
                    actions = client.receive_data(data)
                    self._report_events(client)
                    if self.on_progress:
                        self.on_progress(self.received, client.waiting_for)
            await self._perform_all(client, actions)

    def _report_events(self, client: SansIOClient) -> None:
        """Trace and log (debug) the recipes a client applied after the identification."""
        events = getattr(client, "events", None)
        if not isinstance(events, list) or len(events) <= self._events_seen:
            return
        new, self._events_seen = events[self._events_seen :], len(events)
        # Described only for someone to read: a gateway applies recipes at every poll.
        if not self.trace and not _LOGGER.isEnabledFor(logging.DEBUG):
            return
        for event in new:
            if isinstance(event, RecipesApplied):
                text = describe_recipes(event)
                if self.trace:
                    self.trace.note(text)
                _LOGGER.debug("%s: %s", self.transport.url, text)

    async def _perform_all(self, client: SansIOClient, actions: Sequence[Action]) -> None:
        """Carry out ``actions``; after a rate switch, tell a client that waits for it."""
        while actions:
            await self.perform(actions)
            switched = any(isinstance(a, SetBaud) for a in actions)
            # A method lookup, not isinstance() on a runtime-checkable Protocol: that
            # one inspects every member and cost 3 % of a readout's CPU.
            if not switched or not hasattr(client, "rate_switched"):
                return
            aware = cast(RateSwitchAware, client)
            before = aware.discarded
            actions = aware.rate_switched(discard=self.transport.can_set_baud)
            if aware.discarded > before and self.trace:
                self.trace.note(
                    f"discarded {aware.discarded - before} bytes received while the rate switched"
                )

    async def _read(self, timeout_s: float) -> bytes | None:
        data = await self.transport.read_within(timeout_s)
        if data is None:
            return None
        self.received += len(data)
        if self.trace:
            self.trace.received(data, self.transport.baud)
        return data


def describe_recipes(event: RecipesApplied) -> str:
    """``recipe lgz-zmd120: switch_baud=False`` for traces and logs."""
    parts = [f"{k}={v}" for k, v in event.changes]
    parts += [f"{k} kept as given" for k in event.kept]
    return f"recipe {', '.join(event.names)}: {', '.join(parts) or 'nothing to change'}"


async def read_meter_on(
    transport: Transport,
    options: ReadoutOptions | None = None,
    *,
    rules: RecipeRules | None = None,
    trace: Trace | None = None,
    total_timeout_s: float | None = None,
    on_progress: ProgressCallback | None = None,
) -> ReadResult:
    """Read one meter over an already open transport (e.g. a shared RS-485 bus).

    The transport is left open and, if it can, at the rate the readout ended
    with; the caller switches it back before the next request. ``rules``: the
    recipes to apply once the meter has identified itself (the trace notes
    which applied; :attr:`ReadResult.recipes` names them).

    Raises:
        NoAnswerError: silence longer than the options allow;
            :class:`~obisgate.errors.TotalTimeoutError` when the whole
            readout took longer than ``total_timeout_s``.
        ChecksumError, FramingError: the meter's bytes were wrong.
        ConnectionLostError: the connection dropped.
    """
    client = ReadoutClient(options, rules)
    exchange = Exchange(transport, trace=trace, on_progress=on_progress)
    if transport.baud != client.baud and transport.can_set_baud:
        await transport.set_baud(client.baud)
    try:
        if total_timeout_s is None:  # no deadline: no asyncio.timeout to enter and leave
            await exchange.run(client, client.start())
        else:
            deadline = asyncio.timeout(total_timeout_s)
            try:
                async with deadline:
                    await exchange.run(client, client.start())
            except TimeoutError as exc:
                if not deadline.expired():
                    raise
                raise TotalTimeoutError("readout", total_timeout_s, exchange.received) from exc
    finally:
        if trace is not None:
            trace.flush()
    result = client.result
    assert result is not None
    if options is None or options.mode is None:
        _tell_mode_e(transport.url, client.options.address, result)
    return result


def _tell_mode_e(url: str, address: str, result: ReadResult) -> None:
    """Say once per meter that a ``\\2`` meter read in mode C also offers mode E."""
    ident = result.identification
    if ident.mode is not ProtocolMode.E or result.mode is not ProtocolMode.C:
        return
    key = (url, address)
    if key in _TOLD_MODE_E:
        return
    _TOLD_MODE_E.add(key)
    _LOGGER.warning(
        "%s: meter /%s%s%s%s offers mode E (HDLC, DLMS/COSEM); read in mode C "
        '(--mode E or type = "E" reads it over HDLC)',
        url,
        ident.manufacturer,
        ident.baud_char,
        ident.enhanced,
        ident.identification,
    )


async def read_meter(
    url: str,
    options: ReadoutOptions | None = None,
    *,
    rules: RecipeRules | None = None,
    line: LineSettings | None = None,
    trace: TraceTarget = None,
    total_timeout_s: float | None = None,
    connect_timeout_s: float = 10.0,
    on_progress: ProgressCallback | None = None,
) -> ReadResult:
    """Open ``url``, read the meter once, close.

    Args:
        url: a serial device path, ``tcp://host:port`` or ``rfc2217://host:port``.
        options: the readout options (address, mode, baud policy, timeouts...).
        rules: recipes to apply after the identification (``None``: none).
        line: serial line settings; default 7E1 at the options' start rate.
        trace: a :class:`~obisgate.trace.Trace`, an open text stream or a file path.
        total_timeout_s: limit for the whole exchange (``None``: no limit beyond
            the per-message timeouts).
        connect_timeout_s: limit for opening the port or connection.
        on_progress: called with (bytes received, what is awaited) per chunk.

    Returns:
        Identification, mode, final baud and data sets.

    Raises:
        ConfigError: bad URL or options.
        ConnectError: the port or connection cannot be opened.
        NoAnswerError, ChecksumError, FramingError, ConnectionLostError: see
            :func:`read_meter_on`.
    """
    options = options or ReadoutOptions()
    line = line or LineSettings(baudrate=options.start_baud)
    with ExitStack() as stack:
        tracer = open_trace(stack, trace)
        transport = await open_transport(url, line, connect_timeout_s=connect_timeout_s)
        async with transport:
            if tracer:
                tracer.note(f"opened {url}")
            return await read_meter_on(
                transport,
                options,
                rules=rules,
                trace=tracer,
                total_timeout_s=total_timeout_s,
                on_progress=on_progress,
            )
    raise AssertionError("unreachable")  # pragma: no cover


def read_meter_sync(
    url: str, options: ReadoutOptions | None = None, **kwargs: object
) -> ReadResult:
    """Blocking :func:`read_meter` for scripts: runs its own event loop.

    Raises:
        The same errors as :func:`read_meter`.
    """
    return asyncio.run(read_meter(url, options, **kwargs))  # type: ignore[arg-type]
