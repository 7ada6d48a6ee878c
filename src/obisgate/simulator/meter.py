"""Sans-IO state machine of one simulated meter on one line.

The meter does no I/O and reads no clock: every call gets ``now`` (seconds on
the driver's clock) and returns :class:`Transmit` / :class:`Hangup` outputs
stamped with the absolute time they are due. The driver sends each at its time.

Timeline of a session (tr = reaction time, tt = option select wait)::

    request ends ──tr── identification (300 Bd)
      mode A: readout right after it, 300 Bd
      mode B: ──tr── readout at the Z rate
      mode C/E: wait ≤ tt for ACK V Z Y CR LF
          Z = proposed, Y = 0  ──tr── readout at the Z rate
          Z = proposed/0, Y = 1, programming available ──tr── P0, programming mode
          anything else  ──tr── readout at 300 Bd
          nothing within tt      readout at 300 Bd
    after a readout: a NAK within ``nak_window_s`` repeats it (``nak_repeats`` times)

Only the tt wait (and mode D's next push) needs a timer, reported by
:attr:`SimulatedMeter.deadline`; the other expiries (NAK window, programming
idle time) are silent and evaluated lazily on the next call.

With ``realtime`` the meter counts each transmission's wire time (10 bits per
character) before the next; without it, transmissions take no time and only
the reaction times separate them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import Enum, auto
from typing import Any

from obisgate.dlms.server import DlmsServer, ServerSettings
from obisgate.protocol.chars import (
    ACK,
    INITIAL_BAUD,
    LF,
    MASK_7BIT,
    MODE_D_BAUD,
    NAK,
    add_even_parity,
    wire_time_s,
)
from obisgate.protocol.identification import ProtocolMode
from obisgate.simulator.faults import (
    INTER_BYTE_GAP_S,
    JUNK_BYTES,
    NOISE_BYTES,
    SLOW_REACTION_S,
    SWITCH_HOLD_S,
    TRAILING_BYTES,
    TRICKLE_BYTE,
    TRICKLE_INTERVAL_S,
    Faults,
    misread_total,
)
from obisgate.simulator.profile import MeterProfile
from obisgate.simulator.programming_hook import (
    ProgrammingSession,
    SessionFactory,
    programming_session_factory,
)
from obisgate.simulator.shown import Shown, shown
from obisgate.simulator.stats import SimulatorStats

__all__ = ["Hangup", "Output", "SimulatedMeter", "Transmit"]

_LOGGER = logging.getLogger("obisgate.simulator")
_OPTION_SELECT_LEN = 6  # ACK V Z Y CR LF


@dataclass(frozen=True, slots=True)
class Transmit:
    """Send ``data`` at time ``at``.

    Attributes:
        at: when the first bit goes out (driver clock, seconds).
        data: the bytes exactly as they go on the line.
        baud: the sender's rate; ``None`` for an echo of the client's own bytes,
            which comes back at the client's rate and is never garbled.
        what: a short label for logs.
    """

    at: float
    data: bytes
    baud: int | None
    what: str = ""


@dataclass(frozen=True, slots=True)
class Hangup:
    """Cut the line at time ``at`` (the ``drop`` fault)."""

    at: float


Output = Transmit | Hangup


class _State(Enum):
    IDLE = auto()
    HDLC = auto()
    WAIT_OPTION = auto()
    WAIT_SWITCH = auto()
    AFTER_READOUT = auto()
    PROGRAMMING = auto()
    PUSHING = auto()
    TRICKLING = auto()


class SimulatedMeter:
    """One meter's side of the conversation on one line. Does no I/O.

    A request is recognised by the line (:class:`~obisgate.simulator.bus.MeterBus`),
    which then calls :meth:`request`; later bytes go to :meth:`receive`.

    Args:
        profile: the meter model.
        faults: faults to inject.
        realtime: count wire time (10 bits per character) of each transmission.
        stats: counters to update, shared by a server.
        programming_factory: builds a programming session from
            ``profile.programming``; the default looks up
            ``obisgate.simulator.programming_meter.MeterProgrammingSession``.
    """

    def __init__(
        self,
        profile: MeterProfile,
        faults: Faults | None = None,
        *,
        realtime: bool = False,
        stats: SimulatorStats | None = None,
        programming_factory: SessionFactory | None = None,
    ) -> None:
        self.profile = profile
        self.faults = faults or Faults()
        self.realtime = realtime
        self.stats = stats if stats is not None else SimulatorStats()
        self._programming_factory = programming_factory
        self._state = _State.IDLE
        self._rx_baud = profile.initial_baud
        self._free_at = float("-inf")
        self._buf = bytearray()
        self._deadline: float | None = None
        self._window_end = 0.0
        self._readout_baud = INITIAL_BAUD
        self._programming_baud = INITIAL_BAUD
        self._repeats = 0
        self._readouts_sent = 0
        self._session: ProgrammingSession | None = None
        self._dlms: DlmsServer | None = None
        self._hdlc_baud = INITIAL_BAUD
        self._last_rx = 0.0
        self._request_start = "/?"
        self._label = f"meter {profile.address or '-'} ({profile.name})"

    # -- what the driver asks -------------------------------------------------

    @property
    def deadline(self) -> float | None:
        """When :meth:`on_timer` must be called, or ``None`` (no timer needed)."""
        return self._deadline

    @property
    def state(self) -> str:
        """The state's name, for tests and logs (``"IDLE"``, ``"WAIT_OPTION"``, ...)."""
        return self._state.name

    def is_idle(self, now: float) -> bool:
        """Whether the meter has no conversation going on at ``now``."""
        self._expire(now)
        return self._state is _State.IDLE

    def listen_baud(self, now: float) -> int:
        """The rate the meter's receiver runs at, at ``now``."""
        self._expire(now)
        return self._rx_baud

    @property
    def in_programming(self) -> bool:
        """Whether a programming session is running (a request does not end it)."""
        return self._state is _State.PROGRAMMING

    # -- inputs ---------------------------------------------------------------

    def request(self, now: float, request: bytes = b"") -> list[Output]:
        """A request for this meter ended at ``now``: identify, then run the mode.

        Args:
            now: when the request's last byte arrived.
            request: the request message, for the log.

        Returns:
            The identification (and in modes A and B the readout) to send.
        """
        self._reset()
        out: list[Output] = []
        if self.faults.silence:
            return out
        profile = self.profile
        self.stats.requests += 1
        slash = request.find(b"/")
        self._request_start = request[slash : slash + 2].decode("latin-1") if slash >= 0 else "/?"
        ident = profile.identification_message()
        if self.faults.junk:
            ident = JUNK_BYTES + ident
        mode = profile.protocol_mode
        if mode is ProtocolMode.B and self.faults.glued_data:
            self._send_readout(out, now + self._tr, profile.switch_baud, prefix=ident)
            return out
        end = self._emit(out, now + self._tr, ident, INITIAL_BAUD, "identification")
        _LOGGER.info(
            "%s: request %s -> identification %s (mode %s)",
            self._label,
            Shown(request),
            Shown(profile.identification_message()),
            mode.value,
        )
        if mode is ProtocolMode.A or (
            self.faults.mode_a_only and mode in (ProtocolMode.C, ProtocolMode.E)
        ):
            self._send_readout(out, end, INITIAL_BAUD)
        elif mode is ProtocolMode.B:
            self._send_readout(out, end + self._tr, profile.switch_baud)
        else:
            self._state = _State.WAIT_OPTION
            self._deadline = end + profile.option_select_wait_s
        return out

    def start_hdlc(self, now: float) -> list[Output]:
        """A direct HDLC meter: the line opened, listen for frames at the HDLC rate."""
        self._reset()
        if self.faults.silence or self.profile.dlms is None:
            return []
        self._enter_hdlc(self.profile.dlms.hdlc_baud, now)
        return []

    def start_push(self, now: float) -> list[Output]:
        """Mode D: begin pushing (the line opened); returns the first push."""
        self._reset()
        if self.faults.silence:
            return []
        self._state = _State.PUSHING
        self._rx_baud = MODE_D_BAUD
        return self._push(now)

    def receive(self, data: bytes, now: float) -> list[Output]:
        """Bytes the meter's receiver decoded, the last of them at ``now``."""
        self._expire(now)
        state = self._state
        if state is _State.WAIT_OPTION and self._deadline is not None and now >= self._deadline:
            return self.on_timer(now)  # tt ran out first: the 300 Bd readout is already due
        if state in (_State.IDLE, _State.PUSHING, _State.WAIT_SWITCH) or not data:
            return []
        if state is _State.HDLC:
            return self._feed_hdlc(data, now)
        data = data.translate(MASK_7BIT)
        out: list[Output] = []
        if state is _State.WAIT_OPTION:
            self._take_option_select(data, now, out)
        elif state is _State.AFTER_READOUT:
            if NAK in data:
                self._repeat(now, out)
        else:
            self._feed_programming(data, now, out)
        return out

    def on_timer(self, now: float, line_baud: int | None = None) -> list[Output]:
        """The :attr:`deadline` passed.

        Args:
            now: the driver's time.
            line_baud: the client's rate now, if the line knows it (``slow-switch``).
        """
        out: list[Output] = []
        deadline = self._deadline
        if deadline is None or now < deadline:
            return out
        self._deadline = None
        if self._state is _State.WAIT_SWITCH:
            self._state = _State.WAIT_OPTION
            if line_baud is not None and line_baud != INITIAL_BAUD:
                _LOGGER.info(
                    "%s: the client switched to %d Bd within %.1f s of its option select: "
                    "heard garbled -> readout at 300 Bd",
                    self._label,
                    line_baud,
                    SWITCH_HOLD_S,
                )
                self._send_readout(out, now + self._tr, INITIAL_BAUD)
            else:
                self._send_readout(out, now + self._tr, self.profile.switch_baud)
        elif self._state is _State.WAIT_OPTION:
            self._buf.clear()
            _LOGGER.info("%s: no option select within tt -> readout at 300 Bd", self._label)
            self._send_readout(out, now, INITIAL_BAUD)
        elif self._state is _State.PUSHING:
            out += self._push(now)
        elif self._state is _State.TRICKLING:
            end = self._emit(out, now, TRICKLE_BYTE, self._rx_baud, "trickle")
            self._deadline = end + TRICKLE_INTERVAL_S
        return out

    def abort(self) -> None:
        """End any conversation at once (another meter was addressed, the line closed)."""
        self._reset()

    # -- internals ------------------------------------------------------------

    @property
    def _tr(self) -> float:
        return SLOW_REACTION_S if self.faults.slow_reaction else self.profile.reaction_time

    def _reset(self) -> None:
        self._state = _State.IDLE
        self._dlms = None
        self._rx_baud = self.profile.initial_baud
        self._buf.clear()
        self._deadline = None
        self._repeats = 0
        self._readouts_sent = 0
        self._session = None

    def _expire(self, now: float) -> None:
        state = self._state
        if state is _State.AFTER_READOUT and now > self._window_end:
            self._reset()
        elif state is _State.HDLC and self.profile.dlms is not None:
            if now - self._last_rx > self.profile.dlms.idle_timeout_s:
                _LOGGER.info("%s: HDLC link idle, dropped", self._label)
                self._after_hdlc(now)
        elif state is _State.PROGRAMMING:
            session = self._session
            if session is None or now - self._last_rx > session.idle_timeout_s:
                _LOGGER.info("%s: programming session idle, back to idle", self._label)
                self._reset()

    def _emit(
        self, out: list[Output], at: float, data: bytes, baud: int, what: str, binary: bool = False
    ) -> float:
        """Queue a transmission no earlier than the end of the previous; returns its end.

        ``binary`` (HDLC frames, 8N1) never gets the ``parity`` fault's bit 7.
        """
        at = max(at, self._free_at)
        if self.faults.parity and not binary:
            data = add_even_parity(data)
        out.append(Transmit(at, data, baud, what))
        end = at + (wire_time_s(len(data), baud) if self.realtime else 0.0)
        self._free_at = end
        return end

    def _send_readout(self, out: list[Output], at: float, baud: int, prefix: bytes = b"") -> None:
        faults = self.faults
        self._readouts_sent += 1
        corrupt = faults.bad_bcc or (faults.bad_bcc_once and self._readouts_sent == 1)
        profile = self.profile
        count = self.stats.meter_readouts
        count[profile.name, profile.address] += 1
        if faults.misread_total:
            garbled = misread_total(profile.lines, count[profile.name, profile.address])
            if garbled is not None:
                profile = profile.replace(lines=garbled)
        message = profile.data_message(corrupt_bcc=corrupt, request_start=self._request_start)
        if faults.lost_byte and len(message) > 2:
            half = len(message) // 2
            message = message[:half] + message[half + 1 :]
        if faults.trailing:
            message += TRAILING_BYTES
        if faults.noise:
            message = NOISE_BYTES + message
        if faults.meter_ack and self._state is _State.WAIT_OPTION:
            message = b"\x06\r\n" + message
        send_baud = INITIAL_BAUD if faults.wrong_baud else baud
        self.stats.readouts += 1
        self.stats.readout_bauds[baud] += 1
        if any(start == self._request_start for start, _ in self.profile.lists):
            self.stats.list_readouts[self._request_start] += 1
        _LOGGER.info(
            "%s: readout at %d Bd (%d lines, %d bytes)%s",
            self._label,
            baud,
            len(self.profile.lines_for(self._request_start)),
            len(message),
            f" [faults: {', '.join(faults.names)}]" if faults else "",
        )
        if faults.cut_frame and (etx := message.rfind(b"\x03")) > 0:
            end = self._emit(out, at, prefix + message[:etx], send_baud, "readout (cut frame)")
            out.append(Hangup(end))
            self._reset()
            return
        half = len(message) // 2
        message = prefix + message
        half += len(prefix)
        if faults.trickle:
            end = self._emit(out, at, message[:half], send_baud, "readout (trickling)")
            self._state = _State.TRICKLING
            self._rx_baud = send_baud
            self._deadline = end + TRICKLE_INTERVAL_S
            return
        if faults.drop:
            end = self._emit(out, at, message[:half], send_baud, "readout (cut)")
            out.append(Hangup(end))
            self._reset()
            return
        if faults.inter_byte_gap:
            end = self._emit(out, at, message[:half], send_baud, "readout (1st half)")
            end = self._emit(out, end + INTER_BYTE_GAP_S, message[half:], send_baud, "readout")
        else:
            end = self._emit(out, at, message, send_baud, "readout")
        self._state = _State.AFTER_READOUT
        self._rx_baud = send_baud
        self._readout_baud = baud
        self._window_end = end + self.profile.nak_window_s
        self._deadline = None

    def _repeat(self, now: float, out: list[Output]) -> None:
        if self._repeats >= self.profile.nak_repeats:
            _LOGGER.info("%s: NAK ignored (%d repeats sent)", self._label, self._repeats)
            return
        if self.faults.close_after_nak:
            _LOGGER.info("%s: NAK -> closing the line", self._label)
            out.append(Hangup(now))
            self._reset()
            return
        self._repeats += 1
        self.stats.repeats += 1
        _LOGGER.info("%s: NAK -> repeating the readout", self._label)
        self._send_readout(out, now + self._tr, self._readout_baud)

    def _take_option_select(self, data: bytes, now: float, out: list[Output]) -> None:
        buf = self._buf
        buf += data
        ack = buf.find(ACK)
        if ack < 0:
            buf.clear()  # not an option select: a request is handled by the line
            return
        del buf[:ack]
        lf = buf.find(LF)
        if lf < 0 and len(buf) < _OPTION_SELECT_LEN:
            return
        message = bytes(buf[: lf + 1]) if 0 <= lf < _OPTION_SELECT_LEN else bytes(buf[:6])
        buf.clear()
        self._deadline = None
        self.stats.option_selects[message] += 1
        self._answer_option_select(message, now, out)

    def _answer_option_select(self, message: bytes, now: float, out: list[Output]) -> None:
        profile = self.profile
        proposed = profile.baud_char
        at = now + self._tr
        well_formed = len(message) == _OPTION_SELECT_LEN and message.endswith(b"\r\n")
        v, z, y = (chr(message[1]), chr(message[2]), chr(message[3])) if well_formed else "???"
        what = Shown(message)
        if well_formed and v == "0" and y == "1" and z in (proposed, "0"):
            factory = self._programming_factory or programming_session_factory()
            if profile.programming is not None and factory is not None:
                baud = profile.switch_baud if z == proposed else INITIAL_BAUD
                self._start_programming(factory, at, baud, now, out)
                _LOGGER.info(
                    "%s: option select %s -> programming mode at %d Bd", self._label, what, baud
                )
                return
            _LOGGER.info(
                "%s: option select %s -> no programming mode, readout at 300 Bd", self._label, what
            )
            self._send_readout(out, at, INITIAL_BAUD)
            return
        if well_formed and v == "2" and y == "2" and z == proposed and profile.dlms is not None:
            if self.faults.ignore_mode_e:
                _LOGGER.info(
                    "%s: option select %s -> mode E ignored, readout at %d Bd",
                    self._label,
                    what,
                    profile.switch_baud,
                )
                self._send_readout(out, at, profile.switch_baud)
                return
            self._confirm_mode_e(message, at, out)
            _LOGGER.info(
                "%s: option select %s -> mode E, HDLC at %d Bd (confirmed %s)",
                self._label,
                what,
                profile.switch_baud,
                profile.dlms.confirm,
            )
            return
        if well_formed and v == "0" and y == "0" and z == proposed:
            _LOGGER.info(
                "%s: option select %s -> readout at %d Bd", self._label, what, profile.switch_baud
            )
            if self.faults.slow_switch and profile.switch_baud != INITIAL_BAUD:
                self._state = _State.WAIT_SWITCH  # heard only if the client waits (on_timer)
                self._deadline = now + SWITCH_HOLD_S
                return
            self._send_readout(out, at, profile.switch_baud)
            return
        reason = (
            "300 Bd requested"
            if well_formed and (v, z, y) == ("0", "0", "0")
            else ("unsupported or malformed")
        )
        _LOGGER.info("%s: option select %s (%s) -> readout at 300 Bd", self._label, what, reason)
        self._send_readout(out, at, INITIAL_BAUD)

    def _confirm_mode_e(self, message: bytes, at: float, out: list[Output]) -> None:
        """Confirm ``ACK 2 Z 2`` at the Z rate (7E1, or 8N1 with the parity bit set) and
        serve HDLC."""
        profile = self.profile
        assert profile.dlms is not None
        baud = INITIAL_BAUD if self.faults.wrong_baud else profile.switch_baud
        confirm = add_even_parity(message) if profile.dlms.confirm == "8N1" else message
        self._emit(out, at, confirm, baud, "mode E confirmation")
        self._enter_hdlc(baud, at)

    def _enter_hdlc(self, baud: int, now: float) -> None:
        profile = self.profile
        assert profile.dlms is not None
        self._state = _State.HDLC
        self._rx_baud = baud
        self._hdlc_baud = baud
        self._last_rx = now
        self._dlms = _dlms_server(profile, self.faults, self._label)
        self.stats.hdlc_sessions += 1

    def _after_hdlc(self, now: float) -> None:
        """The link ended (DISC or idle): mode E meters go back to the opening at
        300 Bd, direct HDLC meters keep listening."""
        if self.profile.protocol_mode is ProtocolMode.HDLC:
            self._enter_hdlc(self._hdlc_baud, now)
        else:
            self._reset()

    def _feed_hdlc(self, data: bytes, now: float) -> list[Output]:
        server = self._dlms
        assert server is not None
        assert self.profile.dlms is not None
        self._last_rx = now
        out: list[Output] = []
        at = now + self.profile.dlms.reaction_time_s
        for frame in server.receive(data):
            at = self._emit(out, at, frame, self._hdlc_baud, "HDLC frame", binary=True)
        if server.disconnected:
            self._after_hdlc(now)
        return out

    def _start_programming(
        self, factory: SessionFactory, at: float, baud: int, now: float, out: list[Output]
    ) -> None:
        session = factory(self.profile.programming)
        self._session = session
        self._state = _State.PROGRAMMING
        send_baud = INITIAL_BAUD if self.faults.wrong_baud else baud
        self._rx_baud = send_baud
        self._programming_baud = send_baud
        self._last_rx = now
        self.stats.programming_sessions += 1
        self._emit(out, at, session.opening(), send_baud, "P0")

    def _feed_programming(self, data: bytes, now: float, out: list[Output]) -> None:
        session = self._session
        assert session is not None
        self._last_rx = now
        # Only the command letters: a chunk may hold part of a password.
        _LOGGER.debug("%s: programming received %s", self._label, _command_label(data))
        for reply in session.feed(data):
            self._emit(out, now + self._tr, reply, self._programming_baud, "programming answer")
            _LOGGER.debug("%s: programming answer %s", self._label, _command_label(reply))
        if session.ended:
            _LOGGER.info("%s: programming session ended", self._label)
            self._reset()

    def _push(self, now: float) -> list[Output]:
        out: list[Output] = []
        profile = self.profile
        message = profile.push_message()
        if self.faults.junk:
            message = JUNK_BYTES + message
        if self.faults.trailing:
            message += TRAILING_BYTES
        self.stats.pushes += 1
        _LOGGER.info("%s: mode D push (%d bytes)", self._label, len(message))
        self._emit(out, now, message, MODE_D_BAUD, "push")
        interval = profile.push_interval_s
        self._deadline = None if interval is None else now + interval
        return out


def _command_label(data: bytes) -> str:
    """``<SOH>R1 (13 bytes)`` for a command, ``<ACK>``, or a byte count: never the content."""
    if len(data) == 1:
        return shown(data)
    if data[:1] in (b"\x01", b"\x02") and len(data) >= 3:
        head = shown(data[:1]) + (data[1:3].decode("latin-1") if data[:1] == b"\x01" else "")
        return f"{head} ({len(data)} bytes)"
    return f"({len(data)} bytes)"


def _dlms_server(profile: MeterProfile, faults: Faults, label: str) -> DlmsServer:
    """The DLMS server of ``profile``, serving its data sets (and load profile) as objects."""
    from obisgate.simulator.cosem_model import cosem_objects  # noqa: PLC0415

    dlms = profile.dlms
    assert dlms is not None
    programming = profile.programming
    rows: list[tuple[Any, tuple[str, ...]]] = []
    channels: list[tuple[str, str]] = [("1.5.0", "kW"), ("2.5.0", "kW")]
    interval = 15
    if programming is not None and getattr(programming, "load_profile", None):
        rows = [(r.timestamp, r.values) for r in programming.load_profile]
        channels = [
            (c.code if c.code.count(".") >= 2 else c.code + ".0", c.unit)
            for c in programming.load_profile_channels
        ]
        interval = programming.load_profile_interval_min
    objects = cosem_objects(
        profile.datasets,
        profile_rows=rows,
        profile_channels=channels,
        profile_interval_min=interval,
    )
    settings = ServerSettings(
        logical=dlms.logical,
        physical=dlms.physical,
        passwords={sap: pw.encode("latin-1") for sap, pw in dlms.passwords},
        max_info=32 if faults.segmented else dlms.max_info,
        block_size=64 if faults.segmented else dlms.block_size,
        lose_first_ua=faults.lost_ua,
        busy_polls=1 if faults.busy else 0,
    )
    return DlmsServer(
        objects, settings, on_event=lambda text: _LOGGER.info("%s: HDLC %s", label, text)
    )
