"""Programming mode over a real line: sign on once, then read and write registers.

::

    async with await ProgrammingSession.connect(
        "tcp://127.0.0.1:7000", scheme=PlainPassword(os.environ["METER_PW"])
    ) as session:
        energy = await session.read("1.8.0")          # Answer; .value -> Value
        await session.write("0.9.1", "131600")        # ACK, or MeterError
        profile = await session.read_load_profile(start, end)

The session signs off (``SOH B0 ETX BCC``) on every way out: a normal close, an
exception, or cancellation. While idle it reads a harmless register every
``keepalive_interval_s`` so that the meter does not leave programming mode
(meters give up after 60-120 s without a command). Passwords never reach the
trace, logs or exception messages: sent password messages are traced masked and
received bytes are masked too (an echoing line sends our message back), even
when a password arrives split across several reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import TracebackType

from obisgate.errors import (
    AccessDeniedError,
    ConfigError,
    MeterError,
    NoAnswerError,
    ObisgateError,
    TotalTimeoutError,
    UnexpectedMessageError,
)
from obisgate.protocol.actions import Action
from obisgate.protocol.commands import profile_range
from obisgate.protocol.dataset import DataSet
from obisgate.protocol.identification import Identification
from obisgate.protocol.loadprofile import (
    Channel,
    LoadProfile,
    ProfileRow,
    parse_load_profile,
    split_range,
)
from obisgate.protocol.passwords import NoPassword, PasswordScheme
from obisgate.protocol.programming_client import (
    Answer,
    CommandRejectedError,
    ProgrammingClient,
    ProgrammingOptions,
    SessionEndedError,
)
from obisgate.protocol.recipes import RecipeRules
from obisgate.session import Exchange
from obisgate.trace import Trace, TraceTarget, open_trace
from obisgate.transport.base import LineSettings, Transport
from obisgate.transport.url import open_transport

__all__ = [
    "Answer",
    "CommandRejectedError",
    "ProgrammingSession",
    "RegisterReading",
    "SessionEndedError",
    "read_load_profile_on",
    "read_registers",
    "read_registers_on",
]

_LOGGER = logging.getLogger(__name__)
_MASK = b"********"
#: Longest a sign-off may take when the session is being torn down.
_SIGN_OFF_TIMEOUT_S = 2.0


class _QuietTransportLogs:
    """Keeps serialx's debug logging off while a password session is open.

    serialx logs every chunk it writes at debug level, and a chunk may hold a
    password (or part of one, which no masking can recognise). Raising the
    level of the ``serialx`` logger covers its child loggers too, including
    ones created later; the previous level comes back with the last session.
    """

    def __init__(self) -> None:
        self._users = 0
        self._saved = logging.NOTSET
        self._lock = threading.Lock()

    def acquire(self) -> None:
        with self._lock:
            if self._users == 0:
                logger = logging.getLogger("serialx")
                self._saved = logger.level
                if logger.getEffectiveLevel() < logging.INFO:
                    logger.setLevel(logging.INFO)
            self._users += 1

    def release(self) -> None:
        with self._lock:
            self._users -= 1
            if self._users == 0:
                logging.getLogger("serialx").setLevel(self._saved)


_QUIET_TRANSPORT_LOGS = _QuietTransportLogs()


@dataclass(frozen=True, slots=True)
class RegisterReading:
    """The outcome of reading one register.

    Attributes:
        address: the register asked for.
        answer: the meter's answer, or ``None`` if it answered with an error.
        error: the meter's error answer (e.g. ``(ER04)``), or ``None``.
    """

    address: str
    answer: Answer | None
    error: MeterError | None = None

    @property
    def dataset(self) -> DataSet | None:
        """The data set that answers the read (``None`` on error or a bare ACK)."""
        return self.answer.dataset if self.answer else None


class ProgrammingSession:
    """A signed-on programming-mode session on one transport.

    Create it with :meth:`connect` (opens the URL) or :meth:`start` (an open
    transport, e.g. a shared bus). Use it as an async context manager, or call
    :meth:`close`. Commands are serialised; several tasks may share a session.

    Attributes:
        identification: the meter's identification message.
        operand: the P0 operand the meter sent.
        baud: the rate the session runs at.
    """

    def __init__(
        self,
        transport: Transport,
        client: ProgrammingClient,
        *,
        trace: Trace | None = None,
        keepalive_interval_s: float | None = 30.0,
        meter_idle_timeout_s: float = 60.0,
        owns_transport: bool = False,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self._transport = transport
        self._client = client
        if trace is not None:
            trace.add_secret_source(lambda: client.secrets)
        self._trace = trace
        self._exchange = Exchange(transport, trace=self._trace)
        self._keepalive_interval_s = keepalive_interval_s
        self._meter_idle_timeout_s = meter_idle_timeout_s
        self._owns_transport = owns_transport
        self._clock = clock or asyncio.get_running_loop().time
        self._lock = asyncio.Lock()
        self._last_activity = self._clock()
        self._keepalive_task: asyncio.Task[None] | None = None
        self._broken: BaseException | None = None
        self._closed = False
        self._hiding = not isinstance(client.scheme, NoPassword)
        if self._hiding:
            _QUIET_TRANSPORT_LOGS.acquire()
        self.keepalives = 0

    # -- construction -------------------------------------------------------

    @classmethod
    async def start(
        cls,
        transport: Transport,
        options: ProgrammingOptions | None = None,
        scheme: PasswordScheme | None = None,
        *,
        trace: Trace | None = None,
        keepalive_interval_s: float | None = 30.0,
        meter_idle_timeout_s: float = 60.0,
        sign_on_timeout_s: float | None = None,
        owns_transport: bool = False,
        rules: RecipeRules | None = None,
    ) -> ProgrammingSession:
        """Sign on over an open transport: request, option select ``1``, password.

        Args:
            transport: an open transport at any rate (it is set to 300 Bd first
                if it can switch).
            options: sign-on, command and retry settings.
            scheme: the password scheme (default: none).
            trace: byte trace; passwords are masked.
            keepalive_interval_s: read a register after this much idle time
                (``None``: never).
            meter_idle_timeout_s: after how long without a command the meter
                is assumed to have left programming mode (for error messages).
            sign_on_timeout_s: limit for the whole sign-on (``None``: only the
                per-message timeouts).
            owns_transport: close the transport on :meth:`close`.
            rules: recipes the sign-on applies after the identification (a
                recipe's ``read_command`` becomes the session's default).

        Raises:
            AccessDeniedError: the meter refused the password (it broke off).
            UnexpectedMessageError: the meter did not enter programming mode.
            NoAnswerError, ChecksumError, FramingError, ConnectionLostError:
                the sign-on failed; a sign-off was sent before raising.
        """
        client = ProgrammingClient(options, scheme, rules)
        session = cls(
            transport,
            client,
            trace=trace,
            keepalive_interval_s=keepalive_interval_s,
            meter_idle_timeout_s=meter_idle_timeout_s,
            owns_transport=owns_transport,
        )
        try:
            if transport.baud != client.baud and transport.can_set_baud:
                await transport.set_baud(client.baud)
            async with asyncio.timeout(sign_on_timeout_s):
                await session._exchange.run(client, client.start())
        except TimeoutError as exc:
            await session._abort()
            if isinstance(exc, NoAnswerError):
                raise
            assert sign_on_timeout_s is not None
            raise TotalTimeoutError("sign-on", sign_on_timeout_s) from None
        except BaseException:
            await session._abort()
            raise
        session._touch()
        if keepalive_interval_s is not None:
            session._keepalive_task = asyncio.create_task(session._keepalive_loop())
        _LOGGER.debug("programming session open at %d Bd", client.baud)
        return session

    @classmethod
    async def connect(
        cls,
        url: str,
        options: ProgrammingOptions | None = None,
        scheme: PasswordScheme | None = None,
        *,
        line: LineSettings | None = None,
        trace: Trace | None = None,
        connect_timeout_s: float = 10.0,
        keepalive_interval_s: float | None = 30.0,
        meter_idle_timeout_s: float = 60.0,
        sign_on_timeout_s: float | None = None,
    ) -> ProgrammingSession:
        """Open ``url`` and sign on; the session closes the connection on :meth:`close`.

        Raises:
            ConfigError: bad URL or options.
            ConnectError: the port or connection cannot be opened.
            Everything :meth:`start` raises.
        """
        options = options or ProgrammingOptions()
        line = line or LineSettings(baudrate=options.sign_on.start_baud)
        transport = await open_transport(url, line, connect_timeout_s=connect_timeout_s)
        try:
            if trace:
                trace.note(f"opened {url}")
            return await cls.start(
                transport,
                options,
                scheme,
                trace=trace,
                keepalive_interval_s=keepalive_interval_s,
                meter_idle_timeout_s=meter_idle_timeout_s,
                sign_on_timeout_s=sign_on_timeout_s,
                owns_transport=True,
            )
        except BaseException:
            await transport.aclose()
            raise

    async def __aenter__(self) -> ProgrammingSession:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- properties ---------------------------------------------------------

    @property
    def identification(self) -> Identification | None:
        """The meter's identification message."""
        return self._client.identification

    @property
    def operand(self) -> str | None:
        """The P0 operand (a serial number, a seed...)."""
        return self._client.operand

    @property
    def baud(self) -> int:
        """The session's line rate."""
        return self._client.baud

    @property
    def closed(self) -> bool:
        """True once the session signed off or broke down."""
        return self._closed

    # -- commands -----------------------------------------------------------

    async def read(
        self, address: str, argument: str | None = None, *, command: str | None = None
    ) -> Answer:
        """Read one register, e.g. ``await session.read("1.8.0")``.

        Args:
            address: the register address.
            argument: bracket content (default from the options, usually ``""``).
            command: ``R1``, ``R2``, ``R5``... (default from the options).

        Returns:
            The answer; :attr:`Answer.value` is the register's first value.

        Raises:
            MeterError: the meter answered with an error (the session goes on).
            UnexpectedMessageError: the meter acknowledged without data (some
                meters answer ``R1`` so; try ``R5``). The session goes on.
            NoAnswerError, ChecksumError, CommandRejectedError, SessionEndedError,
            ConnectionLostError: the session is over (it was signed off).
            ConfigError: a bad address or command; nothing was sent.
            RuntimeError: the session is closed.
        """
        answer = await self._command(lambda c: c.read(address, argument, command=command))
        if answer.acknowledged:
            raise UnexpectedMessageError(
                f"meter acknowledged {answer.command} {address} without data "
                "(this meter may need another read command, e.g. R5)"
            )
        return answer

    async def write(self, address: str, value: str, *, command: str | None = None) -> Answer:
        """Write one register; returns the answer (normally a bare ACK).

        Raises:
            MeterError: the meter refused (write protection, unknown address...);
                the session goes on.
            The session-ending errors of :meth:`read`.
        """
        return await self._command(lambda c: c.write(address, value, command=command))

    async def execute(self, code: str, value: str = "", *, command: str = "E2") -> Answer:
        """Execute a predefined function ``E2 code(value)``.

        Raises:
            The errors of :meth:`write`.
        """
        return await self._command(lambda c: c.execute(code, value, command=command))

    async def command(self, command: str, data: str | None) -> Answer:
        """Send any command message and return its answer.

        Raises:
            The errors of :meth:`write`.
        """
        return await self._command(lambda c: c.command(command, data))

    async def read_many(self, addresses: Sequence[str]) -> dict[str, RegisterReading]:
        """Read several registers; an error answer for one does not stop the others.

        Raises:
            The session-ending errors of :meth:`read`.
        """
        readings: dict[str, RegisterReading] = {}
        for address in addresses:
            try:
                readings[address] = RegisterReading(address, await self.read(address))
            except MeterError as exc:
                if isinstance(exc, AccessDeniedError | SessionEndedError):
                    raise
                readings[address] = RegisterReading(address, None, exc)
        return readings

    async def read_load_profile(
        self,
        start: datetime,
        end: datetime,
        *,
        profile: str = "P.01",
        command: str = "R5",
        max_span: timedelta = timedelta(days=1),
        season: str = "0",
        no_data_errors: Iterable[str] = ("ERROR",),
    ) -> LoadProfile:
        """Read a load profile for ``[start, end]``, in several requests if needed.

        The range is cut into pieces of at most ``max_span``; each is read with
        ``R5 P.01(ZYYMMDDhhmm;ZYYMMDDhhmm)``. Rows are merged in time order;
        a row that two pieces share is kept once; rows outside the range are
        dropped.

        Args:
            start: first time stamp wanted (naive, meter local time).
            end: last time stamp wanted.
            profile: ``P.01`` (load profile), ``P.98`` (log)...
            command: ``R5`` (VDEW), or ``R6``/``R1``/``R2`` as the meter wants.
            max_span: the longest range per request.
            season: the season flag written in the request times.
            no_data_errors: error texts that mean "no data in this piece".

        Raises:
            ConfigError: end before start, a bad span or profile address.
            MeterError: an error answer other than ``no_data_errors``.
            FramingError: a malformed header.
            The session-ending errors of :meth:`read`.
        """
        empty = {e.upper() for e in no_data_errors}
        rows: dict[datetime, ProfileRow] = {}
        channels: dict[Channel, None] = {}
        unparsed: list[str] = []
        for lo, hi in split_range(start, end, max_span):
            try:
                answer = await self._command(
                    _reader(profile, profile_range(lo, hi, season), command)
                )
            except MeterError as exc:
                if isinstance(exc, AccessDeniedError | SessionEndedError):
                    raise
                if exc.text.upper() in empty:
                    continue
                raise
            part = parse_load_profile(answer.text, profile)
            unparsed += part.unparsed
            for ch in part.channels:
                channels.setdefault(ch, None)
            for row in part.rows:
                if start <= row.timestamp <= end:
                    rows.setdefault(row.timestamp, row)
        ordered = tuple(rows[t] for t in sorted(rows))
        return LoadProfile(profile, tuple(channels), ordered, tuple(unparsed))

    async def keep_alive(self) -> None:
        """Send the keep-alive read now (any answer, even an error, will do).

        Raises:
            The session-ending errors of :meth:`read`.
        """
        await self._command(lambda c: c.keep_alive())
        self.keepalives += 1

    async def _keep_alive_if_idle(self, idle_s: float) -> None:
        async with self._lock:
            if self._clock() - self._last_activity < idle_s:
                return  # a command ran while we waited for the lock
            await self._command_locked(lambda c: c.keep_alive())
            self.keepalives += 1

    async def close(self) -> None:
        """Sign off (``B0``) unless already ended, stop the keep-alive, close an owned transport.

        Never raises for a failed sign-off; safe to call twice.
        """
        task, self._keepalive_task = self._keepalive_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if not self._closed:
            async with self._lock:
                await self._abort()
        elif self._owns_transport:
            await self._transport.aclose()

    # -- internals ----------------------------------------------------------

    def _touch(self) -> None:
        self._last_activity = self._clock()

    async def _command(self, make: Callable[[ProgrammingClient], list[Action]]) -> Answer:
        async with self._lock:
            return await self._command_locked(make)

    async def _command_locked(self, make: Callable[[ProgrammingClient], list[Action]]) -> Answer:
        """Run one command; the caller holds ``self._lock``."""
        if self._closed:
            if isinstance(self._broken, ObisgateError):
                raise self._broken  # what ended the session, typed as it was
            raise RuntimeError("the programming session is closed")
        client = self._client
        actions = make(client)  # ConfigError here sends nothing
        idle_s = self._clock() - self._last_activity
        try:
            await self._exchange.run(client, actions)
        except MeterError as exc:
            if client.ready:
                self._touch()
                raise
            self._broken = exc
            await self._abort()
            raise
        except NoAnswerError as exc:
            self._broken = exc
            await self._abort()
            if idle_s > self._meter_idle_timeout_s:
                raise NoAnswerError(
                    f"{exc.waiting_for}; the session was idle {idle_s:.0f} s and "
                    f"meters leave programming mode after "
                    f"{self._meter_idle_timeout_s:g} s without a command",
                    exc.timeout_s,
                    exc.received,
                ) from None
            raise
        except BaseException as exc:
            self._broken = exc
            await self._abort()
            raise
        self._touch()
        answer = client.result
        assert answer is not None
        return answer

    async def _abort(self) -> None:
        """Sign off if the session has not ended, then mark it closed (shielded)."""
        if self._closed:
            return
        self._closed = True
        actions = self._client.sign_off()
        try:
            if actions:
                # Shielded: a cancelled caller still gets its sign-off sent.
                sign_off = asyncio.ensure_future(self._send_sign_off(actions))
                try:
                    await asyncio.shield(sign_off)
                except asyncio.CancelledError:
                    with contextlib.suppress(Exception):
                        await sign_off
                    raise
        finally:
            if self._trace is not None:
                self._trace.flush()
            if self._owns_transport:
                await self._transport.aclose()
            if self._hiding:
                self._hiding = False
                _QUIET_TRANSPORT_LOGS.release()

    async def _send_sign_off(self, actions: Sequence[Action]) -> None:
        try:
            async with asyncio.timeout(_SIGN_OFF_TIMEOUT_S):
                await self._exchange.perform(actions)
                await self._transport.drain()
        except (TimeoutError, OSError) as exc:
            _LOGGER.debug("sign-off not sent: %s", exc)

    async def _keepalive_loop(self) -> None:
        interval = self._keepalive_interval_s
        assert interval is not None
        while not self._closed:
            wait = self._last_activity + interval - self._clock()
            if wait > 0:
                await asyncio.sleep(wait)
                continue
            try:
                await self._keep_alive_if_idle(interval)
            except Exception as exc:  # the next command reports the broken session
                _LOGGER.debug("keep-alive failed: %s", exc)
                return


def _reader(
    address: str, argument: str, command: str
) -> Callable[[ProgrammingClient], list[Action]]:
    def make(client: ProgrammingClient) -> list[Action]:
        return client.read(address, argument, command=command)

    return make


async def read_registers_on(
    transport: Transport,
    addresses: Sequence[str],
    *,
    options: ProgrammingOptions | None = None,
    scheme: PasswordScheme | None = None,
    trace: Trace | None = None,
    total_timeout_s: float | None = None,
    rules: RecipeRules | None = None,
) -> dict[str, RegisterReading]:
    """Sign on over an open transport, read ``addresses``, sign off.

    For the gateway: a signal read by command instead of from the readout.
    The transport stays open. ``rules``: recipes applied after the sign-on's
    identification (e.g. EMH's ``R5``).

    Raises:
        NoAnswerError: silence, or the whole exchange took longer than
            ``total_timeout_s``.
        AccessDeniedError: the password was refused.
        ChecksumError, FramingError, UnexpectedMessageError, CommandRejectedError,
        SessionEndedError, ConnectionLostError: the session failed.
        An error answer for one register is returned in its reading instead.
    """
    deadline = asyncio.timeout(total_timeout_s)
    try:
        async with deadline:
            session = await ProgrammingSession.start(
                transport, options, scheme, trace=trace, keepalive_interval_s=None, rules=rules
            )
            async with session:
                return await session.read_many(addresses)
    except TimeoutError as exc:
        if isinstance(exc, NoAnswerError) or not deadline.expired():
            raise
        assert total_timeout_s is not None
        raise TotalTimeoutError("programming session", total_timeout_s) from None


async def read_load_profile_on(
    transport: Transport,
    start: datetime,
    end: datetime,
    *,
    options: ProgrammingOptions | None = None,
    scheme: PasswordScheme | None = None,
    profile: str = "P.01",
    command: str = "R5",
    max_span: timedelta = timedelta(days=1),
    season: str = "0",
    trace: Trace | None = None,
    total_timeout_s: float | None = None,
) -> LoadProfile:
    """Sign on over an open transport, read a load profile for ``[start, end]``, sign off.

    For the gateway's backfill: the intervals a meter recorded while nobody read
    it. The transport stays open. See :meth:`ProgrammingSession.read_load_profile`
    for the range, the pieces and the no-data answers (``ERROR``: an empty part).

    Raises:
        NoAnswerError: silence, or the whole exchange took longer than
            ``total_timeout_s`` (a :class:`TotalTimeoutError`).
        AccessDeniedError: the password was refused.
        MeterError: the meter answered the profile request with an error other
            than "no data" (an unknown profile, an unsupported command).
        ConfigError: end before start, a bad span or profile address.
        ChecksumError, FramingError, UnexpectedMessageError, CommandRejectedError,
        SessionEndedError, ConnectionLostError: the session failed.
    """
    deadline = asyncio.timeout(total_timeout_s)
    try:
        async with deadline:
            session = await ProgrammingSession.start(
                transport, options, scheme, trace=trace, keepalive_interval_s=None
            )
            async with session:
                return await session.read_load_profile(
                    start, end, profile=profile, command=command, max_span=max_span, season=season
                )
    except TimeoutError as exc:
        if isinstance(exc, NoAnswerError) or not deadline.expired():
            raise
        assert total_timeout_s is not None
        raise TotalTimeoutError("programming session", total_timeout_s) from None


async def read_registers(
    url: str,
    addresses: Sequence[str],
    *,
    options: ProgrammingOptions | None = None,
    scheme: PasswordScheme | None = None,
    line: LineSettings | None = None,
    trace: TraceTarget = None,
    connect_timeout_s: float = 10.0,
    total_timeout_s: float | None = None,
) -> dict[str, RegisterReading]:
    """Open ``url``, sign on in programming mode, read ``addresses``, sign off, close.

    Args:
        url: a serial device path, ``tcp://host:port`` or ``rfc2217://host:port``.
        addresses: the registers, e.g. ``["1.8.0", "2.8.0"]``.
        options: sign-on and command settings (read command, retries...).
        scheme: the password scheme.
        line: serial line settings (default 7E1 at the sign-on rate).
        trace: a :class:`~obisgate.trace.Trace`, an open text stream or a path.
        connect_timeout_s: limit for opening the port or connection.
        total_timeout_s: limit for the whole exchange.

    Returns:
        One :class:`RegisterReading` per address, in the order given.

    Raises:
        ConfigError, ConnectError: bad URL or options; cannot connect.
        The errors of :func:`read_registers_on`.
    """
    if not addresses:
        raise ConfigError("no register address given")
    options = options or ProgrammingOptions()
    line = line or LineSettings(baudrate=options.sign_on.start_baud)
    async with AsyncExitStack() as stack:
        tracer = open_trace(stack, trace)
        transport = await open_transport(url, line, connect_timeout_s=connect_timeout_s)
        await stack.enter_async_context(transport)
        if tracer:
            tracer.note(f"opened {url}")
        return await read_registers_on(
            transport,
            addresses,
            options=options,
            scheme=scheme,
            trace=tracer,
            total_timeout_s=total_timeout_s,
        )
    raise AssertionError("unreachable")  # pragma: no cover
