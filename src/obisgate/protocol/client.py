"""Sans-IO state machine of a readout: sign-on, identification, mode A/B/C/D, data.

Theory of operation: :meth:`ReadoutClient.start` returns the first actions
(wake-up, request). The driver carries them out, then waits for bytes for at
most :attr:`ReadoutClient.read_timeout_s` and passes what arrives to
:meth:`ReadoutClient.receive_data`, or calls :meth:`ReadoutClient.timeout` when
nothing came. Each call returns further actions until :attr:`result` is set.
Any exception puts the client in the error state; it cannot be reused.

Recipes (:class:`~obisgate.protocol.recipes.RecipeRules`, optional): once the
identification is parsed, every recipe matching it changes the options it
names (mode, baud policy, reaction time, baud-change delay, timeouts, BCC,
echo) before the client answers, except those given explicitly; the change is
reported as a :class:`~obisgate.protocol.actions.RecipesApplied` event and in
:attr:`ReadResult.recipes`, and is visible in the actions that follow (e.g. a
``Sleep`` for a baud-change delay).

No received byte is dropped: bytes behind the identification (a mode B meter
whose converter delivers its data in the same TCP segment), behind the echo of
our acknowledgement, or behind a meter's own ``ACK`` CR LF are parsed. Only
after a mode B rate switch that the driver really made on a serial port does
:meth:`ReadoutClient.rate_switched` discard what arrived at the old rate (it
was sent at the new one), and :attr:`ReadoutClient.discarded` counts it.
Line noise before the STX of the data message is not data: it is skipped and
the BCC is checked as for any framed message (see
:func:`~obisgate.protocol.readout.maybe_extract_data_message`); the trace shows
those bytes.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
from dataclasses import dataclass
from enum import Enum, auto

from obisgate.errors import (
    ChecksumError,
    ConfigError,
    ConnectionLostError,
    FramingError,
    NoAnswerError,
    UnexpectedMessageError,
)
from obisgate.protocol.actions import (
    Action,
    Drain,
    Event,
    IdentificationReceived,
    RecipesApplied,
    Send,
    SetBaud,
    SetFraming,
    Sleep,
)
from obisgate.protocol.bcc import BccMethod
from obisgate.protocol.chars import (
    ACK,
    BAUD_TO_MODE_C_CHAR,
    CRLF,
    INITIAL_BAUD,
    INTER_CHAR_MAX_S,
    MASK_7BIT,
    MODE_D_BAUD,
    NAK,
    OPTION_SELECT_WAIT_MAX_S,
)
from obisgate.protocol.echo import EchoFilter
from obisgate.protocol.identification import Identification, ProtocolMode
from obisgate.protocol.readout import (
    BccStatus,
    Readout,
    check_bcc,
    cut_frame_message,
    ends_in_partial_acknowledgement,
    maybe_extract_data_message,
    readout_from_message,
    skip_acknowledgements,
)
from obisgate.protocol.recipes import RecipeRules, split_adjustments

__all__ = ["ReadResult", "ReadoutClient", "ReadoutOptions", "request_message"]

_ADDRESS = re.compile(r"[0-9A-Za-z ]{0,32}")
_MAX_IDENT_LINE = 256
_MAX_JUNK = 4096
_MAX_DELAY_S = 10.0


@dataclass(frozen=True, slots=True, kw_only=True)
class ReadoutOptions:
    """How to read one meter. Every field has the standard's default.

    Attributes:
        address: device address sent in the request (``""`` = every meter answers).
        request_start: what precedes the address: ``"/?"``, or a manufacturer
            variant such as ``"/2"`` or ``"/#"``.
        wakeup_nuls: NUL bytes sent before the request (0 = no wake-up; 66 is
            the standard's 2.2 s at 300 Bd), followed by ``wakeup_delay_s``.
        mode: force a protocol mode instead of the one the meter announces;
            ``D`` listens to a meter that pushes its data.
        initial_baud: rate of the request (``None``: 300, or 2400 in mode D).
        max_baud: never switch above this rate.
        force_baud: switch to this rate whatever the meter proposes.
        switch_baud: ``False`` keeps the initial rate (answers ``0`` in mode C).
        option: the mode-control character Y of the option select (``"0"`` readout).
        reaction_time_s: wait before our acknowledgement (t2; 0.2-1.5 s).
        honour_fast_reaction: use 20 ms instead for meters whose manufacturer
            ID has a lower-case 3rd letter (when the client has no recipe
            rules: with rules, the recipe table carries that rule).
        baud_change_delay_s: extra wait after the acknowledgement has drained,
            before switching (USB adapters that report drained too early).
        response_timeout_s: how long to wait for the first byte of an answer.
        inter_byte_timeout_s: longest silence inside a message (ta).
        bcc_method: XOR (standard) or SUM7.
        verify_bcc: check the BCC (``False`` reports it as not checked).
        repeat_requests: NAKs sent after a wrong BCC before giving up.
        strip_echo: drop a received copy of what we just sent.
        max_message_bytes: largest message accepted.
    """

    address: str = ""
    request_start: str = "/?"
    wakeup_nuls: int = 0
    wakeup_delay_s: float = 1.6
    mode: ProtocolMode | None = None
    initial_baud: int | None = None
    max_baud: int | None = None
    force_baud: int | None = None
    switch_baud: bool = True
    option: str = "0"
    reaction_time_s: float = 0.2
    honour_fast_reaction: bool = True
    baud_change_delay_s: float = 0.0
    response_timeout_s: float = 2.5
    inter_byte_timeout_s: float = INTER_CHAR_MAX_S
    bcc_method: BccMethod = BccMethod.XOR
    verify_bcc: bool = True
    repeat_requests: int = 1
    strip_echo: bool = True
    max_message_bytes: int = 4 << 20

    def __post_init__(self) -> None:
        if not _ADDRESS.fullmatch(self.address):
            raise ConfigError(
                f"device address {self.address!r}: up to 32 characters 0-9, A-Z, a-z, space"
            )
        bcc_method = _checked_settings(
            self.request_start,
            self.option,
            self.bcc_method,
            self.initial_baud,
            self.reaction_time_s,
            self.max_baud,
            self.force_baud,
            self.response_timeout_s,
            self.inter_byte_timeout_s,
            self.wakeup_delay_s,
            self.baud_change_delay_s,
            self.repeat_requests,
            self.wakeup_nuls,
        )
        object.__setattr__(self, "bcc_method", bcc_method)

    @property
    def start_baud(self) -> int:
        """The rate the exchange starts at."""
        if self.initial_baud is not None:
            return self.initial_baud
        return MODE_D_BAUD if self.mode is ProtocolMode.D else INITIAL_BAUD


@functools.lru_cache(maxsize=256)
def _checked_settings(
    request_start: str,
    option: str,
    bcc_method: BccMethod | str,
    initial_baud: int | None,
    reaction_time_s: float,
    max_baud: int | None,
    force_baud: int | None,
    response_timeout_s: float,
    inter_byte_timeout_s: float,
    wakeup_delay_s: float,
    baud_change_delay_s: float,
    repeat_requests: int,
    wakeup_nuls: int,
) -> BccMethod:
    """Check the settings of :class:`ReadoutOptions` other than the address; the BCC method.

    Cached: the meters of a large configuration mostly share their settings.

    Raises:
        ConfigError: the first setting out of range, named.
    """
    for name, text in (("request_start", request_start), ("option", option)):
        if not (text.isascii() and text.isprintable()):
            raise ConfigError(f"{name} {text!r}: printable ASCII characters only")
    try:
        method = BccMethod(bcc_method)
    except ValueError:
        methods = ", ".join(m.value for m in BccMethod)
        raise ConfigError(f"bcc_method {bcc_method!r}: allowed {methods}") from None
    if initial_baud is not None and initial_baud <= 0:
        raise ConfigError(f"initial_baud {initial_baud}: must be positive")
    if not request_start.startswith("/") or any(c in request_start[1:] for c in "/!\r\n"):
        raise ConfigError(
            f"request start {request_start!r}: must start with '/' and contain no other '/' or '!'"
        )
    if not 0.0 <= reaction_time_s <= 1.5:
        raise ConfigError(f"reaction time {reaction_time_s:g} s: allowed 0-1.5 s")
    for name, baud in (("max_baud", max_baud), ("force_baud", force_baud)):
        if baud is not None and baud not in BAUD_TO_MODE_C_CHAR:
            rates = ", ".join(map(str, BAUD_TO_MODE_C_CHAR))
            raise ConfigError(f"{name} {baud}: allowed {rates}")
    if len(option) != 1:
        raise ConfigError(f"option {option!r}: one character, e.g. '0' or '1'")
    for name, value in (
        ("response timeout", response_timeout_s),
        ("inter-byte timeout", inter_byte_timeout_s),
    ):
        if not (math.isfinite(value) and value > 0):
            raise ConfigError(f"{name} {value:g} s: a finite number of seconds above 0")
    for name, value in (
        ("wake-up delay", wakeup_delay_s),
        ("baud change delay", baud_change_delay_s),
    ):
        if not (math.isfinite(value) and 0 <= value <= _MAX_DELAY_S):
            raise ConfigError(f"{name} {value:g} s: allowed 0-{_MAX_DELAY_S:g} s")
    if repeat_requests < 0 or wakeup_nuls < 0:
        raise ConfigError("repeat_requests and wakeup_nuls must not be negative")
    return method


def request_message(address: str = "", request_start: str = "/?") -> bytes:
    """Encode the request ``/?<address>!CR LF``."""
    return f"{request_start}{address}!".encode("ascii") + CRLF


def option_select_message(baud_char: str, option: str = "0", protocol: str = "0") -> bytes:
    """Encode the acknowledgement / option select ``ACK V Z Y CR LF``."""
    return bytes((ACK,)) + f"{protocol}{baud_char}{option}".encode("ascii") + CRLF


@dataclass(frozen=True, slots=True)
class ReadResult:
    """The outcome of a readout.

    Attributes:
        identification: what the meter sent in its identification message.
        mode: the protocol mode actually run.
        baud: the rate the data message was sent at.
        readout: the data sets and BCC status.
        recipes: the names of the recipes applied after the identification.
    """

    identification: Identification
    mode: ProtocolMode
    baud: int
    readout: Readout
    recipes: tuple[str, ...] = ()


class _State(Enum):
    IDLE = auto()
    WAIT_IDENT = auto()
    WAIT_DATA = auto()
    WAIT_CONFIRM = auto()
    DONE = auto()
    ERROR = auto()


_WAITING = frozenset({_State.WAIT_IDENT, _State.WAIT_DATA, _State.WAIT_CONFIRM})


class ReadoutClient:
    """One readout exchange, as a hand-held unit runs it. Does no I/O.

    Args:
        options: how to read.
        rules: recipes to apply once the identification is known (``None``:
            none, and the lower-case 3rd letter rule of ``options`` applies).

    Attributes:
        recipes: names of the recipes applied (after the identification).
        programming_changes: settings the recipes give for a programming
            session after this sign-on (``read_command``).

    Raises (from every method): :class:`~obisgate.errors.ProtocolError`
    subclasses for bad input, :class:`~obisgate.errors.NoAnswerError` from
    :meth:`timeout`, ``RuntimeError`` when called in the wrong state.
    """

    def __init__(
        self, options: ReadoutOptions | None = None, rules: RecipeRules | None = None
    ) -> None:
        self.options = options or ReadoutOptions()
        self.rules = rules
        self.recipes: tuple[str, ...] = ()
        self.programming_changes: dict[str, object] = {}
        self.baud = self.options.start_baud
        self.bytes_received = 0
        self.result: ReadResult | None = None
        self.events: list[Event] = []
        self._state = _State.IDLE
        self._buf = bytearray()
        self._scan = 0
        self._echo = EchoFilter()
        self._phase_bytes = 0
        self._first_byte_timeout = self.options.response_timeout_s
        self._ident: Identification | None = None
        self._mode = ProtocolMode.A
        self._repeats_left = self.options.repeat_requests
        self._checksum_error: ChecksumError | None = None
        self._switch_pending = False
        self._option_select = b""
        self.discarded = 0

    # -- public API ---------------------------------------------------------

    @property
    def done(self) -> bool:
        """True once :attr:`result` is available."""
        return self._state is _State.DONE

    @property
    def read_timeout_s(self) -> float:
        """How long the driver may wait for the next bytes before :meth:`timeout`."""
        if self._phase_bytes:
            return self.options.inter_byte_timeout_s
        return self._first_byte_timeout

    @property
    def waiting_for(self) -> str:
        """What the client waits for, in words (for progress and errors)."""
        if self._state is _State.WAIT_IDENT:
            return "identification"
        if self._state is _State.WAIT_CONFIRM:
            return "mode E confirmation ACK 2Z2"
        return "data message"

    def start(self) -> list[Action]:
        """Begin the exchange; returns the wake-up and request actions."""
        self._require(_State.IDLE)
        opts = self.options
        self._state = _State.WAIT_IDENT
        if opts.mode is ProtocolMode.D:
            return []
        actions: list[Action] = []
        if opts.wakeup_nuls:
            actions += [
                Send(bytes(opts.wakeup_nuls)),
                Drain(),
                Sleep(opts.wakeup_delay_s),
            ]
        actions.append(self._send(request_message(opts.address, opts.request_start)))
        return actions

    def receive_data(self, data: bytes) -> list[Action]:
        """Take bytes from the line; returns what to do next.

        Raises:
            FramingError: junk without an identification, an identification
                holding a control character (several meters answering at once),
                an oversize message, a message that cannot start here, or
                noise before STX holding ``/`` or SOH.
            ChecksumError: a wrong BCC and no repeat request left.
        """
        if self._state not in _WAITING:
            self._require(_State.WAIT_DATA)
        data = data.translate(MASK_7BIT)
        self.bytes_received += len(data)
        data = self._echo.filter(data)
        self._switch_pending = False
        if not data:
            return []
        self._phase_bytes += len(data)
        self._buf += data
        return self._guarded_process()

    def rate_switched(self, *, discard: bool) -> list[Action]:
        """The driver carried out a :class:`SetBaud` of this client; returns what to do next.

        Args:
            discard: the line rate really changed (a serial port): bytes that
                arrived behind a mode B identification were received at the old
                rate while the meter sent at the new one, so they are dropped
                and counted in :attr:`discarded`. ``False`` (a converter that
                cannot switch, e.g. raw TCP) keeps and parses them.
        """
        if not self._switch_pending:
            return []
        self._switch_pending = False
        if discard:
            self.discarded += len(self._buf)
            self._buf.clear()
            self._phase_bytes = 0
            return []
        return self._guarded_process() if self._buf else []

    def take_buffered(self) -> bytes:
        """Hand over the bytes received but not parsed yet (to a client taking over the line)."""
        data = bytes(self._buf)
        self._buf.clear()
        self._phase_bytes = 0
        return data

    def connection_lost(self, error: ConnectionLostError) -> list[Action]:
        """Report that the line closed while an answer was awaited.

        Raises:
            ChecksumError: the meter closed instead of repeating a message with
                a wrong BCC (the checksum failure is what went wrong).
            FramingError: a framed message was cut after ``!`` CR LF and the
                BCC is verified.
            ConnectionLostError: ``error``, otherwise.
        """
        if self._state not in _WAITING:
            raise error
        self._finish_cut_frame()
        if self.done:
            return []
        self._state = _State.ERROR
        if self._checksum_error is not None:
            raise self._checksum_error from error
        raise error

    def timeout(self) -> list[Action]:
        """Report that :attr:`read_timeout_s` passed without bytes.

        Silence may also complete the readout: bytes held back for a rate
        switch the driver did not report are parsed, and a frame cut after
        ``!`` CR LF is accepted when the BCC is not verified.

        Raises:
            ChecksumError: the meter did not repeat a message with a wrong BCC.
            FramingError: a frame cut after ``!`` CR LF with BCC verification
                on, or held bytes that are not a data message.
            NoAnswerError: otherwise.
            RuntimeError: the client is not waiting for an answer.
        """
        if self._state not in _WAITING:
            self._require(_State.WAIT_DATA)
        if self._switch_pending:
            actions = self.rate_switched(discard=False)
            if actions or self.done:
                return actions
        hint = ""
        if (
            self._state is _State.WAIT_IDENT
            and not self._phase_bytes
            and self.options.address
            and self.options.mode is not ProtocolMode.D
        ):
            hint = (
                f"an addressed request (/?{self.options.address}!) is answered only by the "
                "meter with that address; without an address (/?!) any single meter answers"
            )
        error = NoAnswerError(self.waiting_for, self.read_timeout_s, self._phase_bytes, hint=hint)
        self._finish_cut_frame()
        if self.done:
            return []
        self._state = _State.ERROR
        if self._checksum_error is not None:
            raise self._checksum_error
        raise error

    # -- internals ----------------------------------------------------------

    def _require(self, state: _State) -> None:
        if self._state is not state:
            raise RuntimeError(f"ReadoutClient is {self._state.name}, needs {state.name}")

    def _send(self, data: bytes) -> Send:
        if self.options.strip_echo:
            self._echo.expect(data)
        return Send(data)

    def _guarded_process(self) -> list[Action]:
        try:
            return self._process()
        except BaseException:
            self._state = _State.ERROR
            raise

    def _process(self) -> list[Action]:
        actions: list[Action] = []
        if self._state is _State.WAIT_IDENT and not self._maybe_take_identification(actions):
            return actions
        if self._state is _State.WAIT_CONFIRM:
            self._maybe_take_confirmation(actions)
            return actions
        if self._state is _State.WAIT_DATA and not self._switch_pending:
            self._maybe_take_data(actions)
        return actions

    def _finish_cut_frame(self) -> None:
        """At silence or end of stream: accept a frame cut after ``!`` CR LF, or say it was cut.

        Raises:
            FramingError: the frame was cut and the BCC is verified.
        """
        if self._state is not _State.WAIT_DATA:
            return
        buf = self._buf
        cut = cut_frame_message(buf[skip_acknowledgements(buf) :])
        if cut is None:
            return
        if self.options.verify_bcc:
            self._state = _State.ERROR
            raise FramingError(
                "data message is truncated: no ETX and BCC after STX "
                "(read with BCC verification off to accept it)"
            )
        assert self._ident is not None
        readout = readout_from_message(cut, BccStatus.MISSING, self._ident)
        self.result = ReadResult(self._ident, self._mode, self.baud, readout, self.recipes)
        self._checksum_error = None
        self._state = _State.DONE

    def _maybe_take_identification(self, actions: list[Action]) -> bool:
        buf = self._buf
        while True:
            slash = buf.find(b"/")
            if slash < 0:
                if len(buf) > _MAX_JUNK:
                    raise FramingError(f"no identification message: {len(buf)} bytes of junk")
                return False
            del buf[:slash]
            lf = buf.find(b"\n")
            if lf < 0:
                if len(buf) > _MAX_IDENT_LINE:
                    raise FramingError("identification line too long (no CR LF)")
                return False
            line = bytes(buf[:lf]).rstrip(b"\r").decode("latin-1")
            del buf[: lf + 1]
            if line.startswith("/?") or len(line) < 4 or line.endswith("!"):
                # an echoed or foreign request (/?..!, /2..!, /#..!; an identification
                # never holds "!"), or noise: not an identification
                continue
            break
        ident = Identification.parse(line)
        self._ident = ident
        self.events.append(IdentificationReceived(ident))
        if self.rules is not None:
            self._apply_recipes(self.rules, ident)
        self._enter_mode(ident, actions)
        return True

    def _apply_recipes(self, rules: RecipeRules, ident: Identification) -> None:
        """Change the options the recipes matching ``ident`` name (never those in ``keep``).

        Raises:
            ConfigError: a recipe value the options refuse.
        """
        recipes, changes = rules.adjustments(ident)
        if not recipes:
            return
        readout, self.programming_changes = split_adjustments(changes)
        changed = {k: v for k, v in readout.items() if getattr(self.options, k) != v}
        if changed:
            self.options = _adjusted(self.options, tuple(changed.items()))
            self._repeats_left = self.options.repeat_requests
        self.recipes = tuple(r.name for r in recipes)
        applied = (*changed.items(), *self.programming_changes.items())
        kept = dict.fromkeys(k for r in recipes for k, _ in r.adjust if k in rules.keep)
        self.events.append(RecipesApplied(self.recipes, tuple(applied), tuple(kept)))

    def _enter_mode(self, ident: Identification, actions: list[Action]) -> None:
        opts = self.options
        if opts.mode is ProtocolMode.E:
            self._enter_mode_e(ident, actions)
            return
        mode = opts.mode or ident.mode
        if mode is ProtocolMode.E:
            mode = ProtocolMode.C  # a \2 meter serves mode C readouts: read it so
        self._mode = mode
        self._state = _State.WAIT_DATA
        self._phase_bytes = len(self._buf)
        self._first_byte_timeout = opts.response_timeout_s
        if mode is ProtocolMode.C:
            target = self._target_baud(ident)
            delay = self._reaction_delay(ident)
            actions += [
                Sleep(delay),
                self._send(
                    option_select_message(BAUD_TO_MODE_C_CHAR.get(target, "0"), opts.option)
                ),
                Drain(),
            ]
            if opts.baud_change_delay_s:
                actions.append(Sleep(opts.baud_change_delay_s))
            self._switch(target, actions)
        elif mode is ProtocolMode.B:
            # No acknowledgement: the meter switches to its own rate, whatever
            # max_baud / force_baud say (only "never switch" keeps ours).
            proposed = ident.proposed_baud or self.baud
            self._switch(proposed if opts.switch_baud else self.baud, actions)
            # What came behind the identification waits for rate_switched().
            self._switch_pending = any(isinstance(a, SetBaud) for a in actions)
        elif mode is ProtocolMode.A and ident.mode in (ProtocolMode.C, ProtocolMode.E):
            # Forced mode A on a mode C meter: it sends at 300 Bd after tt.
            self._first_byte_timeout += OPTION_SELECT_WAIT_MAX_S

    def _enter_mode_e(self, ident: Identification, actions: list[Action]) -> None:
        """Answer ``ACK 2 Z 2`` (HDLC procedure, binary mode) and switch to Z.

        Not put through the echo filter: the meter's confirmation is the same
        six bytes, so an echo and a confirmation cannot be told apart; the
        first such line is taken and a second one is skipped by the HDLC reader.
        """
        opts = self.options
        self._mode = ProtocolMode.E
        self._state = _State.WAIT_CONFIRM
        self._phase_bytes = len(self._buf)
        self._first_byte_timeout = opts.response_timeout_s
        target = self._target_baud(ident)
        self._option_select = option_select_message(
            BAUD_TO_MODE_C_CHAR.get(target, "0"), "2", protocol="2"
        )
        actions += [Sleep(self._reaction_delay(ident)), Send(self._option_select), Drain()]
        if opts.baud_change_delay_s:
            actions.append(Sleep(opts.baud_change_delay_s))
        self._switch(target, actions)

    def _maybe_take_confirmation(self, actions: list[Action]) -> None:
        """Find the meter's ``ACK 2 Z 2 CR LF`` (bit 7 already masked: 7E1 or 8N1 with parity).

        Raises:
            UnexpectedMessageError: a readout, a NAK or another answer came instead.
        """
        buf = self._buf
        while buf and buf[0] in b"\r\n\x00\x7f":
            del buf[0]
        if not buf:
            return
        first = buf[0]
        if first == ACK:
            lf = buf.find(b"\n")
            if lf < 0:
                if len(buf) > 16:
                    raise FramingError(f"mode E confirmation malformed: {bytes(buf[:16])!r}")
                return
            line = bytes(buf[: lf + 1])
            del buf[: lf + 1]
            if line.rstrip(b"\r\n") != self._option_select.rstrip(b"\r\n"):
                raise UnexpectedMessageError(
                    f"the meter answered {line!r} instead of confirming mode E with "
                    f"{self._option_select!r}"
                )
            assert self._ident is not None
            actions.append(SetFraming(8, "N"))
            readout = Readout((), BccStatus.ABSENT, self._ident)
            self.result = ReadResult(self._ident, ProtocolMode.E, self.baud, readout, self.recipes)
            self._state = _State.DONE
            return
        if first == NAK:
            raise UnexpectedMessageError("the meter refused the switch to HDLC (NAK to ACK 2Z2)")
        if first in (0x02, 0x2F) or b"\x02" in buf:
            raise UnexpectedMessageError(
                "the meter ignored the mode E request (ACK 2Z2) and sent a mode C readout "
                "instead; read it with --mode C"
            )
        if len(buf) > _MAX_JUNK:
            raise FramingError(f"no mode E confirmation: {len(buf)} bytes of junk")

    def _reaction_delay(self, ident: Identification) -> float:
        """Our wait before answering the meter (t2; 20 ms meters honoured)."""
        delay = self.options.reaction_time_s
        honour = self.options.honour_fast_reaction and self.rules is None
        if honour and ident.fast_reaction:
            delay = min(delay, ident.reaction_time_min_s)
        return delay

    def _target_baud(self, ident: Identification) -> int:
        opts = self.options
        if not opts.switch_baud:
            return self.baud
        if opts.force_baud is not None:
            return opts.force_baud
        proposed = ident.proposed_baud or self.baud
        if opts.max_baud is not None and proposed > opts.max_baud:
            return max(b for b in BAUD_TO_MODE_C_CHAR if b <= opts.max_baud)
        return proposed

    def _switch(self, baud: int, actions: list[Action]) -> None:
        if baud != self.baud:
            self.baud = baud
            actions.append(SetBaud(baud))

    def _maybe_take_data(self, actions: list[Action]) -> None:
        buf = self._buf
        # The echo of our option select and a meter's own ACK CR LF precede the data.
        skipped = skip_acknowledgements(buf)
        if skipped:
            del buf[:skipped]
            self._scan = max(self._scan - skipped, 0)
        if ends_in_partial_acknowledgement(buf):
            return
        message = maybe_extract_data_message(buf, self._scan)
        if message is None:
            if len(buf) > self.options.max_message_bytes:
                raise FramingError(f"data message exceeds {self.options.max_message_bytes} bytes")
            self._scan = max(len(buf) - 2, 0)
            return
        try:
            bcc = check_bcc(message, self.options.bcc_method, verify=self.options.verify_bcc)
        except ChecksumError as exc:
            attempts = self.options.repeat_requests - self._repeats_left + 1
            error = ChecksumError(exc.expected, exc.received, attempts=attempts, hint=exc.hint)
            if not self._repeats_left:
                raise error from None
            self._repeats_left -= 1
            self._checksum_error = error
            buf.clear()
            self._scan = 0
            self._phase_bytes = 0
            assert self._ident is not None
            actions += [
                Sleep(self._reaction_delay(self._ident)),
                self._send(bytes((NAK,))),
            ]
            return
        assert self._ident is not None
        readout = readout_from_message(message, bcc, self._ident)
        self.result = ReadResult(self._ident, self._mode, self.baud, readout, self.recipes)
        self._checksum_error = None
        self._state = _State.DONE


@functools.lru_cache(maxsize=1024)
def _adjusted(options: ReadoutOptions, changes: tuple[tuple[str, object], ...]) -> ReadoutOptions:
    """``options`` with a recipe's ``changes``; remembered, as the same meters identify
    themselves at every poll (the options are frozen and checked when built)."""
    return dataclasses.replace(options, **dict(changes))  # type: ignore[arg-type]
