"""Sans-IO programming-mode client: sign-on, password, commands, sign-off.

Theory of operation (docs/iec62056-21.md §6, §12.2)::

    start()            -> request /?addr!         (sign-on by ReadoutClient, Y = 1)
    identification     -> ACK 0 Z 1, switch to Z  (still ReadoutClient's logic)
    SOH P0 (operand)   -> P1/P2 from the password scheme (or nothing)
    ACK                -> ready: ``done`` is true, no answer is awaited
    read()/write()/execute()/command()  -> one command; ``done`` false until answered
    sign_off()         -> SOH B0 ETX BCC; ``ended``

The driver (``obisgate.session.Exchange``) runs it like any sans-IO client:
``done``, ``read_timeout_s``, ``waiting_for``, ``receive_data()`` and
``timeout()``. A command method may be called only while :attr:`ready`.

Answers handled: a data message (several partial blocks ending in EOT, each
acknowledged with ACK, or NAK when its BCC is wrong), a bare ACK, an error
message ``(ERnn)`` (:class:`~obisgate.errors.MeterError`), a NAK (the command
is sent again, at most ``retries`` times), and a break ``SOH B0`` from the
meter. Any exception leaves the client unusable except for :meth:`sign_off`,
which the driver must call on every way out unless :attr:`ended` is set.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from enum import Enum, auto

from obisgate.errors import (
    AccessDeniedError,
    ChecksumError,
    CommandRejectedError,
    ConfigError,
    ConnectionLostError,
    FramingError,
    MeterError,
    NoAnswerError,
    SessionEndedError,
    UnexpectedMessageError,
)
from obisgate.protocol.actions import Action, Event, IdentificationReceived, Send, Sleep
from obisgate.protocol.bcc import BccMethod, bcc_hint
from obisgate.protocol.chars import ACK, INTER_CHAR_MAX_S, MASK_7BIT, NAK
from obisgate.protocol.client import ReadoutClient, ReadoutOptions
from obisgate.protocol.commands import (
    Frame,
    FrameKind,
    break_message,
    command_message,
    error_text,
    execute_message,
    extract_frame,
    masked_password_message,
    password_message,
    read_message,
    split_command_data,
    write_messages,
)
from obisgate.protocol.dataset import DataSet, Value, parse_data_block
from obisgate.protocol.echo import EchoFilter
from obisgate.protocol.identification import Identification, ProtocolMode
from obisgate.protocol.passwords import NoPassword, PasswordScheme
from obisgate.protocol.recipes import RecipeRules

__all__ = [
    "Answer",
    "CommandRejectedError",
    "ProgrammingClient",
    "ProgrammingOptions",
    "SessionEndedError",
]

_READ_COMMANDS = ("R1", "R2", "R3", "R4", "R5", "R6")
_WRITE_COMMANDS = ("W1", "W2", "W3", "W4", "W5")


@dataclass(frozen=True, slots=True, kw_only=True)
class ProgrammingOptions:
    """How to run a programming session. Every field has a working default.

    Attributes:
        sign_on: the mode C sign-on (address, baud policy, echo, BCC method,
            timeouts); its ``option`` is forced to ``"1"`` (programming).
        read_command: ``R1`` (ASCII), ``R2`` (formatted), ``R5`` (VDEW/OBIS,
            EMH), ``R3``/``R4``/``R6`` (partial-block forms).
        write_command: ``W1``, ``W2`` or ``W5`` (``W3``/``W4`` with partial blocks).
        read_argument: what goes in the brackets of a register read: ``""``
            (``1.8.0()``) or e.g. ``"1"`` for meters that want a count.
        write_block_size: > 0 splits long written values into partial blocks.
        answer_timeout_s: how long to wait for the first byte of an answer
            (the standard's 1.5 s plus a margin for converters and links).
        inter_byte_timeout_s: longest silence inside a message (ta).
        retries: how often a command is repeated after a NAK, and how many
            NAKs are sent for a message with a wrong BCC (Fig. 23: 3).
        command_delay_s: wait before each message we send after the meter's
            (the HHU's reaction time); ``None``: the meter's minimum tr
            (200 ms, or 20 ms for a lower-case 3rd manufacturer letter).
        keepalive_address: the register read to keep an idle session alive.
        max_message_bytes: largest answer accepted (all partial blocks together).
    """

    sign_on: ReadoutOptions = field(default_factory=lambda: ReadoutOptions(option="1"))
    read_command: str = "R1"
    write_command: str = "W1"
    read_argument: str = ""
    write_block_size: int = 0
    answer_timeout_s: float = 3.0
    inter_byte_timeout_s: float = INTER_CHAR_MAX_S
    retries: int = 3
    command_delay_s: float | None = None
    keepalive_address: str = "0.0.0"
    max_message_bytes: int = 1 << 20

    def __post_init__(self) -> None:
        if self.sign_on.option != "1":
            object.__setattr__(self, "sign_on", dataclasses.replace(self.sign_on, option="1"))
        if self.read_command not in _READ_COMMANDS:
            raise ConfigError(
                f"read command {self.read_command!r}: allowed {', '.join(_READ_COMMANDS)}"
            )
        if self.write_command not in _WRITE_COMMANDS:
            raise ConfigError(
                f"write command {self.write_command!r}: allowed {', '.join(_WRITE_COMMANDS)}"
            )
        for name, value in (
            ("answer timeout", self.answer_timeout_s),
            ("inter-byte timeout", self.inter_byte_timeout_s),
        ):
            if not (math.isfinite(value) and value > 0):
                raise ConfigError(f"{name} {value:g} s: a finite number of seconds above 0")
        if self.retries < 0 or self.write_block_size < 0:
            raise ConfigError("retries and write_block_size must not be negative")
        if self.command_delay_s is not None and not 0 <= self.command_delay_s <= 1.5:
            raise ConfigError(f"command delay {self.command_delay_s:g} s: allowed 0-1.5 s")

    @property
    def bcc_method(self) -> BccMethod:
        """The checksum method (from the sign-on options)."""
        return self.sign_on.bcc_method


@dataclass(frozen=True, slots=True)
class Answer:
    """The meter's answer to one command.

    Attributes:
        command: the command sent, e.g. ``"R1"``.
        address: the address it named (``""`` when none).
        acknowledged: the meter answered with a bare ACK (no data).
        text: the data block (all partial blocks joined; ``""`` after an ACK).
        datasets: the data sets of ``text``.
        unparsed: text fragments that are not data sets.
        blocks: how many data messages made up the answer (1 without partial blocks).
    """

    command: str
    address: str
    acknowledged: bool
    text: str = ""
    datasets: tuple[DataSet, ...] = ()
    unparsed: tuple[str, ...] = ()
    blocks: int = 0

    @property
    def dataset(self) -> DataSet | None:
        """The data set for :attr:`address` (or, if none names it, the first one)."""
        for ds in self.datasets:
            if ds.address == self.address:
                return ds
        return self.datasets[0] if self.datasets else None

    @property
    def value(self) -> Value | None:
        """The first value group of :attr:`dataset`."""
        ds = self.dataset
        return ds.values[0] if ds and ds.values else None


class _State(Enum):
    SIGN_ON = auto()
    WAIT_P0 = auto()
    WAIT_PASSWORD = auto()
    READY = auto()
    WAIT_ANSWER = auto()
    ENDED = auto()
    FAILED = auto()


@dataclass(slots=True)
class _Pending:
    """A command in flight: its messages, which one is out, and what it is for."""

    label: str
    command: str
    address: str
    messages: list[bytes]
    index: int = 0
    naks: int = 0
    tolerate_error: bool = False
    blocks: list[str] = field(default_factory=list)
    bad_blocks: int = 0
    size: int = 0


class ProgrammingClient:
    """A programming-mode session as a hand-held unit runs it. Does no I/O.

    Args:
        options: sign-on, command and retry settings.
        scheme: how to answer the P0 prompt (default: no password).
        rules: recipes the sign-on applies after the identification; a recipe's
            ``read_command`` becomes the default read command unless
            ``read_command`` is in ``rules.keep``.

    Raises (from every method): :class:`~obisgate.errors.ProtocolError`
    subclasses for bad or unexpected bytes, :class:`~obisgate.errors.MeterError`
    for error answers (:class:`~obisgate.errors.AccessDeniedError` for a refused
    password), :class:`~obisgate.errors.NoAnswerError` from :meth:`timeout`,
    ``RuntimeError`` when called in the wrong state. No message ever contains
    the password.
    """

    def __init__(
        self,
        options: ProgrammingOptions | None = None,
        scheme: PasswordScheme | None = None,
        rules: RecipeRules | None = None,
    ) -> None:
        self.options = options or ProgrammingOptions()
        self.scheme: PasswordScheme = scheme or NoPassword()
        self.read_command = self.options.read_command
        self.identification: Identification | None = None
        self.operand: str | None = None
        self.result: Answer | None = None
        self.bytes_received = 0
        self._signon = ReadoutClient(self.options.sign_on, rules)
        self._state = _State.SIGN_ON
        self._buf = bytearray()
        self._echo = EchoFilter()
        self._pending: _Pending | None = None
        self._password_msg: tuple[bytes, bytes] | None = None
        self._password_naks = 0
        self._checksum_error: ChecksumError | None = None
        self._secrets: list[bytes] = [
            s.reveal().encode("latin-1") for s in self.scheme.secrets() if s
        ]

    # -- state --------------------------------------------------------------

    @property
    def events(self) -> list[Event]:
        """What the sign-on reported (identification, recipes applied)."""
        return self._signon.events

    @property
    def done(self) -> bool:
        """True when no answer is awaited (ready for a command, or ended)."""
        return self._state in (_State.READY, _State.ENDED, _State.FAILED)

    @property
    def ready(self) -> bool:
        """True when a command may be sent."""
        return self._state is _State.READY

    @property
    def ended(self) -> bool:
        """True once the session is over (we signed off or the meter broke off)."""
        return self._state is _State.ENDED

    @property
    def baud(self) -> int:
        """The line rate the session runs at."""
        return self._signon.baud

    @property
    def secrets(self) -> tuple[bytes, ...]:
        """Byte strings a trace must mask (the password, computed responses)."""
        return tuple(self._secrets)

    @property
    def read_timeout_s(self) -> float:
        """How long the driver may wait for the next bytes before :meth:`timeout`."""
        if self._state is _State.SIGN_ON:
            return self._signon.read_timeout_s
        if self._buf:
            return self.options.inter_byte_timeout_s
        if self._state is _State.WAIT_P0:
            return self.options.sign_on.response_timeout_s
        return self.options.answer_timeout_s

    @property
    def waiting_for(self) -> str:
        """What the client waits for, in words (never holds a password)."""
        state = self._state
        if state is _State.SIGN_ON:
            return self._signon.waiting_for
        if state is _State.WAIT_P0:
            return "password prompt (P0)"
        if state is _State.WAIT_PASSWORD:
            return "password answer"
        if state is _State.WAIT_ANSWER and self._pending is not None:
            return f"answer to {self._pending.label}"
        return "nothing"

    # -- driving ------------------------------------------------------------

    def start(self) -> list[Action]:
        """Begin the sign-on; returns the wake-up and request actions."""
        if self._state is not _State.SIGN_ON or self._signon.events:
            raise RuntimeError("ProgrammingClient.start() may be called once")
        return self._signon.start()

    def receive_data(self, data: bytes) -> list[Action]:
        """Take bytes from the line; returns what to do next.

        Raises:
            AccessDeniedError: the meter refused the password.
            MeterError: an error answer to a command.
            SessionEndedError: the meter broke off the session.
            CommandRejectedError: NAK to every repetition of a command.
            ChecksumError: a wrong BCC and no repeat request left.
            FramingError, UnexpectedMessageError: bytes that make no sense here.
        """
        if self._state in (_State.ENDED, _State.FAILED):
            return []
        try:
            if self._state is _State.SIGN_ON:
                return self._receive_sign_on(data)
            return self._receive(data)
        except BaseException:
            self._fail()
            raise

    def timeout(self) -> list[Action]:
        """Report that :attr:`read_timeout_s` passed without bytes.

        Raises:
            ChecksumError: the meter did not repeat a message with a wrong BCC.
            NoAnswerError: otherwise.
        """
        if self._state is _State.SIGN_ON:
            try:
                return self._signon.timeout()
            finally:
                self._state = _State.FAILED
        waiting = self.waiting_for
        timeout = self.read_timeout_s
        self._state = _State.FAILED
        if self._checksum_error is not None:
            raise self._checksum_error
        raise NoAnswerError(waiting, timeout, len(self._buf))

    def connection_lost(self, error: ConnectionLostError) -> list[Action]:
        """Report that the line closed while an answer was awaited.

        Raises:
            ChecksumError: the meter closed instead of repeating a message with
                a wrong BCC.
            ConnectionLostError: ``error``, otherwise.
        """
        if self._state is _State.SIGN_ON:
            try:
                return self._signon.connection_lost(error)
            finally:
                self._state = _State.FAILED
        self._state = _State.FAILED
        if self._checksum_error is not None:
            raise self._checksum_error from error
        raise error

    # -- commands -----------------------------------------------------------

    def read(
        self, address: str, argument: str | None = None, *, command: str | None = None
    ) -> list[Action]:
        """Send a read ``SOH R1 STX address(argument) ETX BCC``.

        Args:
            address: the register (OBIS code, memory address, ``P.01``...).
            argument: bracket content (default :attr:`ProgrammingOptions.read_argument`).
            command: ``R1``...``R6`` (default :attr:`read_command`: the options',
                or a recipe's for this meter).

        Raises:
            ConfigError: a bad command or a banned character.
            RuntimeError: not :attr:`ready`.
        """
        cmd = command or self.read_command
        arg = self.options.read_argument if argument is None else argument
        message = read_message(address, arg, command=cmd, bcc_method=self.options.bcc_method)
        return self._begin(f"{cmd} {address}", cmd, address, [message])

    def write(self, address: str, value: str, *, command: str | None = None) -> list[Action]:
        """Send a write ``SOH W1 STX address(value) ETX BCC`` (partial blocks if set).

        Raises:
            ConfigError: a bad command or a banned character.
            RuntimeError: not :attr:`ready`.
        """
        cmd = command or self.options.write_command
        messages = write_messages(
            address,
            value,
            command=cmd,
            block_size=self.options.write_block_size,
            bcc_method=self.options.bcc_method,
        )
        return self._begin(f"{cmd} {address}", cmd, address, messages)

    def execute(self, code: str, value: str = "", *, command: str = "E2") -> list[Action]:
        """Send an execute ``SOH E2 STX code(value) ETX BCC``.

        Raises:
            ConfigError: a bad command or a banned character.
            RuntimeError: not :attr:`ready`.
        """
        message = execute_message(code, value, command=command, bcc_method=self.options.bcc_method)
        return self._begin(f"{command} {code}", command, code, [message])

    def command(self, command: str, data: str | None) -> list[Action]:
        """Send any command message ``SOH C D [STX data] ETX BCC`` and await its answer.

        Raises:
            ConfigError: a bad command (``B0``/``B1``: use :meth:`sign_off`).
            RuntimeError: not :attr:`ready`.
        """
        if command.startswith(("B", "P")):
            raise ConfigError(f"{command}: use sign_off() or the password scheme")
        message = command_message(command, data, bcc_method=self.options.bcc_method)
        address = ""
        if data is not None:
            try:
                address = split_command_data(data)[0]
            except FramingError:
                address = ""
        return self._begin(f"{command} {address}".rstrip(), command, address, [message])

    def keep_alive(self) -> list[Action]:
        """Read :attr:`ProgrammingOptions.keepalive_address`; any answer, even an error, will do.

        Raises:
            RuntimeError: not :attr:`ready`.
        """
        cmd = self.read_command
        address = self.options.keepalive_address
        message = read_message(
            address, self.options.read_argument, command=cmd, bcc_method=self.options.bcc_method
        )
        return self._begin("keep-alive", cmd, address, [message], tolerate_error=True)

    def sign_off(self, command: str = "B0") -> list[Action]:
        """End the session: send ``SOH B0 ETX BCC`` (no answer is awaited).

        Safe in any state, also after an exception; returns ``[]`` when the
        session already ended (signed off, or the meter broke off).
        """
        if self._state is _State.ENDED:
            return []
        self._state = _State.ENDED
        self._pending = None
        # After the reaction time like every message of ours: a break sent too
        # early can be lost on a half-duplex line, leaving the meter signed on.
        return [*self._delay(), Send(break_message(command, bcc_method=self.options.bcc_method))]

    # -- internals: sign-on -------------------------------------------------

    def _receive_sign_on(self, data: bytes) -> list[Action]:
        signon = self._signon
        actions = signon.receive_data(data)
        if signon.done:
            raise UnexpectedMessageError(
                "meter sent a readout instead of the password prompt: "
                "it did not enter programming mode"
            )
        ident = next(
            (e.identification for e in signon.events if isinstance(e, IdentificationReceived)),
            None,
        )
        if ident is None:
            return actions
        self.identification = ident
        command = signon.programming_changes.get("read_command")
        if isinstance(command, str):
            self.read_command = command
        mode = signon.options.mode or ident.mode
        if mode not in (ProtocolMode.C, ProtocolMode.E):
            raise UnexpectedMessageError(
                f"programming mode needs protocol mode C; the meter announced mode {mode.value}"
            )
        for action in actions:
            if isinstance(action, Send) and self.options.sign_on.strip_echo:
                self._echo.expect(action.data)
        self._state = _State.WAIT_P0
        self._buf += signon.take_buffered()  # bytes behind the identification are kept
        return actions

    # -- internals: programming mode ----------------------------------------

    def _delay(self) -> list[Action]:
        delay = self.options.command_delay_s
        if delay is None:
            ident = self.identification
            delay = ident.reaction_time_min_s if ident else 0.2
        return [Sleep(delay)] if delay > 0 else []

    def _send(self, data: bytes, shown: bytes | None = None) -> list[Action]:
        if self.options.sign_on.strip_echo:
            self._echo.expect(data)
        return [*self._delay(), Send(data, shown)]

    def _begin(
        self,
        label: str,
        command: str,
        address: str,
        messages: list[bytes],
        *,
        tolerate_error: bool = False,
    ) -> list[Action]:
        if self._state is not _State.READY:
            raise RuntimeError(f"ProgrammingClient is {self._state.name}, needs READY")
        self._pending = _Pending(label, command, address, messages, tolerate_error=tolerate_error)
        self.result = None
        self._checksum_error = None
        self._state = _State.WAIT_ANSWER
        return self._send(messages[0])

    def _receive(self, data: bytes) -> list[Action]:
        data = data.translate(MASK_7BIT)
        self.bytes_received += len(data)
        data = self._echo.filter(data)
        self._buf += data
        actions: list[Action] = []
        while self._buf and self._state in (
            _State.WAIT_P0,
            _State.WAIT_PASSWORD,
            _State.WAIT_ANSWER,
        ):
            frame = extract_frame(
                self._buf,
                bcc_method=self.options.bcc_method,
                max_bytes=self.options.max_message_bytes,
            )
            if frame is None:
                break
            actions += self._on_frame(frame)
        return actions

    def _on_frame(self, frame: Frame) -> list[Action]:
        if self._state is _State.WAIT_P0:
            return self._on_p0(frame)
        if self._state is _State.WAIT_PASSWORD:
            return self._on_password_answer(frame)
        return self._on_answer(frame)

    def _on_p0(self, frame: Frame) -> list[Action]:
        if frame.kind is FrameKind.DATA and frame.bcc_ok and "!" in (frame.data or ""):
            raise UnexpectedMessageError(
                "meter sent a readout instead of the password prompt: "
                "it did not enter programming mode"
            )
        if frame.kind is not FrameKind.COMMAND or frame.command != "P0":
            raise UnexpectedMessageError(
                f"expected the password prompt (P0), got {_describe(frame)}"
            )
        if not frame.bcc_ok:
            # Annex A: an error in the operand message is answered with a break.
            raise ChecksumError(
                (frame.expected_bcc or 0) & 0x7F, frame.bcc or 0, hint=self._bcc_hint(frame)
            )
        operand = ""
        if frame.data:
            try:
                operand = split_command_data(frame.data)[1]
            except FramingError:
                operand = frame.data.strip("()")
        self.operand = operand
        reply = self.scheme.reply(operand)
        if reply is None:
            self._state = _State.READY
            return []
        secret = reply.secret.reveal()
        if secret:
            encoded = secret.encode("latin-1", "replace")
            if encoded not in self._secrets:
                self._secrets.append(encoded)
        message = password_message(reply.command, secret, bcc_method=self.options.bcc_method)
        shown = masked_password_message(reply.command, bcc_method=self.options.bcc_method)
        self._password_msg = (message, shown)
        self._state = _State.WAIT_PASSWORD
        return self._send(message, shown)

    def _on_password_answer(self, frame: Frame) -> list[Action]:
        if frame.kind is FrameKind.ACK:
            self._state = _State.READY
            self._password_msg = None
            return []
        if frame.is_break:
            self._state = _State.ENDED
            raise AccessDeniedError()
        if frame.kind is FrameKind.NAK:
            assert self._password_msg is not None
            if self._password_naks >= self.options.retries:
                raise CommandRejectedError("the password message", self._password_naks + 1)
            self._password_naks += 1
            return self._send(*self._password_msg)
        if frame.kind is FrameKind.DATA and frame.bcc_ok and error_text(frame.data or ""):
            raise AccessDeniedError(
                f"meter refused the password with error ({error_text(frame.data or '')})"
            )
        raise UnexpectedMessageError(f"expected ACK to the password, got {_describe(frame)}")

    def _on_answer(self, frame: Frame) -> list[Action]:
        pending = self._pending
        assert pending is not None
        last = pending.index == len(pending.messages) - 1
        if frame.kind is FrameKind.NAK:
            if pending.naks >= self.options.retries:
                raise CommandRejectedError(pending.label, pending.naks + 1)
            pending.naks += 1
            return self._send(pending.messages[pending.index])
        if frame.is_break:
            self._state = _State.ENDED
            raise SessionEndedError(pending.label)
        if frame.kind is FrameKind.ACK:
            if pending.blocks:
                raise UnexpectedMessageError(
                    f"ACK in the middle of the partial answer to {pending.label}"
                )
            if not last:
                pending.index += 1
                pending.naks = 0
                return self._send(pending.messages[pending.index])
            return self._finish(Answer(pending.command, pending.address, acknowledged=True))
        if frame.kind is FrameKind.COMMAND:
            raise UnexpectedMessageError(
                f"expected an answer to {pending.label}, got {_describe(frame)}"
            )
        return self._on_data(pending, frame, last)

    def _bcc_hint(self, frame: Frame) -> str:
        """The other BCC method, when the frame's BCC is right for it."""
        if frame.bcc is None or len(frame.raw) < 3:
            return ""
        return bcc_hint(frame.raw[1:-1], frame.bcc, self.options.bcc_method)

    def _on_data(self, pending: _Pending, frame: Frame, last: bool) -> list[Action]:
        if not frame.bcc_ok:
            error = ChecksumError(
                frame.expected_bcc or 0,
                frame.bcc or 0,
                attempts=pending.bad_blocks + 1,
                hint=self._bcc_hint(frame),
            )
            if pending.bad_blocks >= self.options.retries:
                raise error
            pending.bad_blocks += 1
            self._checksum_error = error
            return self._send(bytes((NAK,)))
        self._checksum_error = None
        pending.bad_blocks = 0
        text = frame.data or ""
        if not pending.blocks and not frame.partial:
            problem = error_text(text)
            if problem is not None:
                if pending.tolerate_error:
                    return self._finish(
                        Answer(pending.command, pending.address, False, text, blocks=1)
                    )
                # The command was understood but refused: the session goes on.
                self._finish(Answer(pending.command, pending.address, False, text, blocks=1))
                raise MeterError(problem, command=pending.label)
        if not last:
            raise UnexpectedMessageError(
                f"data answer in the middle of the partial write {pending.label}"
            )
        pending.size += len(text)
        if pending.size > self.options.max_message_bytes:
            raise FramingError(
                f"answer to {pending.label} exceeds {self.options.max_message_bytes} bytes"
            )
        pending.blocks.append(text)
        if frame.partial:
            return self._send(bytes((ACK,)))
        full = "".join(pending.blocks)
        datasets, unparsed = parse_data_block(full)
        return self._finish(
            Answer(
                pending.command,
                pending.address,
                False,
                full,
                tuple(datasets),
                tuple(unparsed),
                len(pending.blocks),
            )
        )

    def _fail(self) -> None:
        if self._state not in (_State.ENDED, _State.READY):
            self._state = _State.FAILED

    def _finish(self, answer: Answer) -> list[Action]:
        self.result = answer
        self._pending = None
        self._state = _State.READY
        return []


def _describe(frame: Frame) -> str:
    if frame.kind is FrameKind.COMMAND:
        return f"a {frame.command} command message"
    if frame.kind is FrameKind.DATA:
        return "a data message"
    return str(frame.kind).upper()
