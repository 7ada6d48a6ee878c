"""Meter side of programming mode: password check, reads, writes, load profile.

The simulator hands over to :class:`MeterProgrammingSession` after accepting an
option select with ``Y = 1`` and switching to the agreed rate:

1. it sends :meth:`MeterProgrammingSession.opening` (``SOH P0 STX (operand) ETX BCC``);
2. it passes every received chunk to :meth:`MeterProgrammingSession.feed` and
   sends each returned reply, one after the other, each after the meter's
   reaction time;
3. once :attr:`MeterProgrammingSession.ended` is true (sign-off ``B0``, a break
   after a wrong password), or after :attr:`MeterProgrammingSession.idle_timeout_s`
   of silence (the idle sign-off: nothing is sent), it returns to its idle
   state at 300 Bd.

Pure and synchronous: no I/O, no clock, no imports from the rest of the
simulator. Received passwords are never stored, logged or put in a reply.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from obisgate.errors import ConfigError, FramingError
from obisgate.protocol.bcc import BccMethod
from obisgate.protocol.chars import ACK, NAK
from obisgate.protocol.commands import (
    FrameKind,
    command_message,
    data_message,
    error_message,
    extract_frame,
    split_command_data,
)
from obisgate.protocol.dataset import parse_data_block
from obisgate.protocol.loadprofile import Channel, format_load_profile, parse_profile_time
from obisgate.protocol.passwords import elster_password

__all__ = [
    "MeterProgrammingSession",
    "ProfileRecord",
    "ProgrammingProfile",
    "demo_load_profile",
    "registers_from_lines",
]

PasswordCheck = Callable[[str, str], str]
"""``(operand, password) -> expected P2 value``: a custom challenge/response."""


@dataclass(frozen=True, slots=True)
class ProfileRecord:
    """One load-profile interval the simulated meter stores.

    Attributes:
        timestamp: the interval time stamp (naive, meter local time).
        values: one value text per channel, e.g. ``("0.18374", "0.00078")``.
        status: the status word (a new header is sent when it changes).
    """

    timestamp: datetime
    values: tuple[str, ...]
    status: str = "00"


@dataclass
class ProgrammingProfile:
    """What a simulated meter offers in programming mode, and how it misbehaves.

    Attributes:
        password: the meter's password (compared with P1, or the P2 input).
        scheme: ``"p1"`` (plain P1), ``"elster"`` (P2 per the Elster A1700
            algorithm, seed = operand), ``"none"`` (commands allowed right
            after P0), or a function ``(operand, password) -> P2 value``.
        operand: the P0 operand; ``None``: ``"12345678"``, or a fresh random
            16-hex-digit seed per session for the ``elster`` scheme.
        registers: address -> value text, e.g. ``{"1.8.0": "001234.120*kWh"}``.
        writable: addresses that accept writes (others answer ``error_readonly``).
        executes: execute codes -> answer text (``""``: a bare ACK).
        load_profile: stored intervals, answered to ``P.01(from;to)`` reads.
        load_profile_source: when set, gives the stored intervals at each request
            instead of :attr:`load_profile` (a profile that grows with a clock a test
            sets: :mod:`obisgate.simulator.clocked`).
        load_profile_channels: the profile's columns.
        load_profile_interval_min: interval length in minutes.
        load_profile_address: the profile's address.
        read_commands: read command types answered (others: ``error_command``).
        partial_block_size: > 0 sends data answers longer than this many
            characters as partial blocks (EOT), each awaiting ACK/NAK.
        idle_timeout_s: silence after which the meter leaves programming mode.
        bcc_method: checksum of the meter's messages and of what it accepts.
        nak_first_command: answer the first command after the password with NAK.
        corrupt_answers: send this many data messages with a wrong BCC first
            (a repeat after NAK is correct).
        ack_reads: answer reads with a bare ACK and no data (EMH and ``R1``),
            for the listed read commands.
        echo_break: answer ``B0`` with ``B0`` (Metcom) instead of silence.
        error_unknown: error text for an unknown register or code.
        error_readonly: error text for a write to a read-only register.
        error_command: error text for an unsupported command.
        error_access: error text for a command before the password.
    """

    password: str = "00000000"  # noqa: S105 - the common factory default
    scheme: str | PasswordCheck = "p1"
    operand: str | None = None
    registers: dict[str, str] = field(default_factory=dict)
    writable: frozenset[str] | set[str] = frozenset()
    executes: dict[str, str] = field(default_factory=dict)
    load_profile: list[ProfileRecord] = field(default_factory=list)
    load_profile_channels: tuple[Channel, ...] = (
        Channel("1.5", "kW"),
        Channel("2.5", "kW"),
    )
    load_profile_interval_min: int = 15
    load_profile_address: str = "P.01"
    load_profile_source: Callable[[], Sequence[ProfileRecord]] | None = None
    read_commands: frozenset[str] = frozenset({"R1", "R2", "R3", "R4", "R5", "R6"})
    partial_block_size: int = 0
    idle_timeout_s: float = 60.0
    bcc_method: BccMethod = BccMethod.XOR
    nak_first_command: bool = False
    corrupt_answers: int = 0
    ack_reads: frozenset[str] = frozenset()
    echo_break: bool = False
    error_unknown: str = "ER04"
    error_readonly: str = "ER03"
    error_command: str = "ER02"
    error_access: str = "ER01"

    @classmethod
    def from_lines(
        cls, lines: Iterable[str], *, writable: Iterable[str] = ("0.9.1", "0.9.2"), **kw: Any
    ) -> ProgrammingProfile:
        """A profile whose registers are the data sets of readout ``lines``.

        For wiring built-in meters: ``programming=ProgrammingProfile.from_lines(
        profile_lines, load_profile=demo_load_profile(...))``.
        """
        return cls(registers=registers_from_lines(lines), writable=set(writable), **kw)

    def __repr__(self) -> str:
        """Everything but the password."""
        return (
            f"ProgrammingProfile(scheme={self._scheme_name!r}, "
            f"registers={len(self.registers)}, profile_rows={len(self.load_profile)})"
        )

    @property
    def _scheme_name(self) -> str:
        return self.scheme if isinstance(self.scheme, str) else "custom"


class MeterProgrammingSession:
    """One programming-mode session of a simulated meter.

    Args:
        profile: registers, password and fault knobs. Writes change
            ``profile.registers`` (the meter's memory outlives the session).

    Attributes:
        ended: the session is over (sign-off, break); the simulator goes idle.
        idle_timeout_s: silence after which the simulator goes idle silently.
        authenticated: the password was accepted (or none is needed).
        commands: labels of the commands received, e.g. ``"R1 1.8.0"``
            (password messages appear as ``"P1"``/``"P2"``, without content).
        writes: (address, value) of every accepted write, in order.
    """

    def __init__(self, profile: ProgrammingProfile) -> None:
        if isinstance(profile.scheme, str) and profile.scheme not in ("p1", "elster", "none"):
            raise ConfigError(
                f"simulator password scheme {profile.scheme!r}: p1, elster, none or a function"
            )
        self.profile = profile
        self.ended = False
        self.idle_timeout_s = profile.idle_timeout_s
        self.authenticated = profile.scheme == "none"
        self.commands: list[str] = []
        self.writes: list[tuple[str, str]] = []
        self.operand = self._make_operand()
        self._buf = bytearray()
        self._last_reply: bytes | None = None
        self._blocks: list[bytes] = []
        self._block_index = 0
        self._write_parts: list[str] = []
        self._write_address = ""
        self._naks_left = 1 if profile.nak_first_command else 0
        self._corrupt_left = profile.corrupt_answers

    def __repr__(self) -> str:
        return f"MeterProgrammingSession(ended={self.ended}, authenticated={self.authenticated})"

    def _make_operand(self) -> str:
        if self.profile.operand is not None:
            return self.profile.operand
        if self.profile.scheme == "elster":
            return secrets.token_hex(8).upper()
        return "12345678"

    # -- interface used by the simulator ------------------------------------

    def opening(self) -> bytes:
        """The password prompt ``SOH P0 STX (operand) ETX BCC``."""
        return command_message("P0", f"({self.operand})", bcc_method=self.profile.bcc_method)

    def feed(self, data: bytes) -> list[bytes]:
        """Take received bytes; return the replies to send, in order.

        Incomplete messages are kept until the rest arrives. Nothing is
        returned once :attr:`ended` is set.
        """
        replies: list[bytes] = []
        if self.ended:
            return replies
        self._buf += data
        while self._buf and not self.ended:
            try:
                frame = extract_frame(self._buf, bcc_method=self.profile.bcc_method)
            except FramingError:
                replies.append(bytes((NAK,)))
                continue
            if frame is None:
                break
            if frame.kind is FrameKind.ACK:
                replies += self._on_ack()
            elif frame.kind is FrameKind.NAK:
                replies += self._on_nak()
            elif frame.kind is FrameKind.DATA or not frame.bcc_ok:
                replies.append(bytes((NAK,)))  # protocol error: bad BCC or syntax
            else:
                replies += self._on_command(frame.command, frame.data, partial=frame.partial)
        return replies

    # -- internals ----------------------------------------------------------

    def _on_ack(self) -> list[bytes]:
        if self._blocks and self._block_index + 1 < len(self._blocks):
            self._block_index += 1
            return [self._reply(self._blocks[self._block_index])]
        self._blocks = []
        return []

    def _on_nak(self) -> list[bytes]:
        # _last_reply always holds the uncorrupted message: the repeat is good.
        return [self._last_reply] if self._last_reply is not None else []

    def _reply(self, message: bytes) -> bytes:
        """Send ``message``, corrupting its BCC if a fault is still pending."""
        self._last_reply = message
        if message[:1] == b"\x02" and self._corrupt_left > 0:
            self._corrupt_left -= 1
            return message[:-1] + bytes(((message[-1] ^ 0x55) & 0x7F,))
        return message

    def _data(self, text: str) -> list[bytes]:
        size = self.profile.partial_block_size
        method = self.profile.bcc_method
        if size <= 0 or len(text) <= size:
            self._blocks = []
            return [self._reply(data_message(text, bcc_method=method))]
        pieces = [text[i : i + size] for i in range(0, len(text), size)]
        self._blocks = [
            data_message(p, partial=i < len(pieces) - 1, bcc_method=method)
            for i, p in enumerate(pieces)
        ]
        self._block_index = 0
        return [self._reply(self._blocks[0])]

    def _error(self, text: str) -> list[bytes]:
        self._blocks = []
        return [self._reply(error_message(text, bcc_method=self.profile.bcc_method))]

    def _ack(self) -> list[bytes]:
        self._blocks = []
        self._last_reply = bytes((ACK,))
        return [bytes((ACK,))]

    def _on_command(self, command: str, data: str | None, *, partial: bool) -> list[bytes]:
        self._blocks = []  # a new command aborts a partial transfer
        letter = command[:1]
        if letter != "W":
            self._write_parts = []
        self.commands.append(command if letter == "P" else _label(command, data))
        if letter == "B":
            self.ended = True
            if command == "B1":
                return [bytes((ACK,))]
            if self.profile.echo_break:
                return [command_message("B0", bcc_method=self.profile.bcc_method)]
            return []
        if letter == "P":
            return self._on_password(command, data)
        if self._naks_left and self.authenticated:
            self._naks_left -= 1
            self._last_reply = None
            return [bytes((NAK,))]
        if not self.authenticated:
            return self._error(self.profile.error_access)
        if data is None:
            return [bytes((NAK,))]
        if letter == "W":
            return self._on_write(command, data, partial=partial)
        if partial:
            return [bytes((NAK,))]
        try:
            address, value = split_command_data(data)
        except FramingError:
            return [bytes((NAK,))]
        if letter == "R":
            return self._on_read(command, address, value)
        if letter == "E":
            if address not in self.profile.executes:
                return self._error(self.profile.error_unknown)
            answer = self.profile.executes[address]
            return self._data(answer) if answer else self._ack()
        return self._error(self.profile.error_command)

    def _on_password(self, command: str, data: str | None) -> list[bytes]:
        if self.authenticated:
            return self._ack()
        text = (data or "").strip()
        given = text[1:-1] if text.startswith("(") and text.endswith(")") else None
        if given is not None and self._password_ok(command, given):
            self.authenticated = True
            return self._ack()
        self.ended = True
        return [command_message("B0", bcc_method=self.profile.bcc_method)]

    def _password_ok(self, command: str, given: str) -> bool:
        profile = self.profile
        scheme = profile.scheme
        if scheme == "p1":
            expected = profile.password
            wanted = "P1"
        elif scheme == "elster":
            try:
                expected = elster_password(profile.password, self.operand)
            except ConfigError:
                return False
            wanted = "P2"
        elif callable(scheme):
            expected = scheme(self.operand, profile.password)
            wanted = "P2"
        else:
            return True
        return command == wanted and secrets.compare_digest(
            given.encode("latin-1", "replace"), expected.encode("latin-1", "replace")
        )

    def _on_read(self, command: str, address: str, value: str) -> list[bytes]:
        profile = self.profile
        if command not in profile.read_commands:
            return self._error(profile.error_command)
        if command in profile.ack_reads:
            return self._ack()
        if address == profile.load_profile_address:
            return self._on_profile(value)
        if address not in profile.registers:
            return self._error(profile.error_unknown)
        return self._data(f"{address}({profile.registers[address]})")

    def _on_profile(self, value: str) -> list[bytes]:
        lo_text, sep, hi_text = value.partition(";")
        try:
            lo = parse_profile_time(lo_text)[0] if lo_text else None
            hi = parse_profile_time(hi_text)[0] if hi_text else None
        except FramingError:
            return self._error(self.profile.error_unknown)
        if value and not sep:
            return self._error(self.profile.error_unknown)
        source = self.profile.load_profile_source
        stored = self.profile.load_profile if source is None else source()
        rows = [
            (r.timestamp, r.status, r.values)
            for r in stored
            if (lo is None or r.timestamp >= lo) and (hi is None or r.timestamp <= hi)
        ]
        if not rows:
            return self._error("ERROR")
        return self._data(
            format_load_profile(
                self.profile.load_profile_address,
                self.profile.load_profile_channels,
                self.profile.load_profile_interval_min,
                _sorted(rows),
            )
        )

    def _on_write(self, command: str, data: str, *, partial: bool) -> list[bytes]:
        try:
            address, value = split_command_data(data)
        except FramingError:
            return [bytes((NAK,))]
        if self._write_parts and not address:
            self._write_parts.append(value)  # the next partial block continues the value
        else:  # a write naming an address starts anew (and aborts an unfinished one)
            self._write_address = address
            self._write_parts = [value]
        if partial:
            return self._ack()
        address = self._write_address
        full = "".join(self._write_parts)
        self._write_parts = []
        if address not in self.profile.registers and address not in self.profile.writable:
            return self._error(self.profile.error_unknown)
        if address not in self.profile.writable:
            return self._error(self.profile.error_readonly)
        self.profile.registers[address] = full
        self.writes.append((address, full))
        return self._ack()


def registers_from_lines(lines: Iterable[str]) -> dict[str, str]:
    """Address -> value text of readout data lines (the first value group of each)."""
    registers: dict[str, str] = {}
    for line in lines:
        datasets, _ = parse_data_block(line)
        for ds in datasets:
            if ds.address and ds.address not in registers:
                registers[ds.address] = ds.values[0].raw
    return registers


def demo_load_profile(
    start: datetime, count: int, *, interval_min: int = 15, channels: int = 2
) -> list[ProfileRecord]:
    """``count`` deterministic intervals from ``start`` (a status change halfway)."""
    step = timedelta(minutes=interval_min)
    return [
        ProfileRecord(
            start + i * step,
            tuple(f"{(i * 7 + c * 3) % 50 / 10:.5f}" for c in range(channels)),
            "00" if i < count // 2 else "08",
        )
        for i in range(count)
    ]


def _label(command: str, data: str | None) -> str:
    if data is None:
        return command
    address = data.partition("(")[0]
    return f"{command} {address}".rstrip()


def _sorted(
    rows: Sequence[tuple[datetime, str, tuple[str, ...]]],
) -> list[tuple[datetime, str, tuple[str, ...]]]:
    return sorted(rows, key=lambda r: r[0])
