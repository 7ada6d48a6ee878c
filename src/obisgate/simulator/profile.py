"""What a simulated meter is: identification, address, timing, framing and data lines.

A :class:`MeterProfile` is immutable and holds no state of a conversation; the
same profile serves every connection. Its encoders build the exact bytes the
meter sends, reusing the protocol core (:class:`Identification`,
:func:`compute_bcc`).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from obisgate.errors import ConfigError
from obisgate.protocol.bcc import BccMethod
from obisgate.protocol.chars import (
    INITIAL_BAUD,
    MODE_B_BAUD,
    MODE_C_BAUD,
    MODE_D_BAUD,
)
from obisgate.protocol.commands import data_message
from obisgate.protocol.dataset import DataSet, parse_data_block
from obisgate.protocol.identification import Identification, ProtocolMode
from obisgate.simulator.faults import Faults

__all__ = [
    "DEFAULT_REQUEST_STARTS",
    "DlmsProfile",
    "MeterProfile",
    "address_matches",
    "consecutive_addresses",
]

#: Request starts every simulated meter accepts unless its profile says otherwise.
DEFAULT_REQUEST_STARTS: tuple[str, ...] = ("/?", "/#", "/2")

_ADDRESS = re.compile(r"[0-9A-Za-z ]{0,32}")
_TRAILING_DIGITS = re.compile(r"^(.*?)(\d*)$")
_LINE_ENDS = ("\r\n", "\n")


def address_matches(requested: str, own: str) -> bool:
    """Whether a meter with address ``own`` answers a request for ``requested``.

    The rules of IEC 62056-21 6.3.14 item 22: leading zeros are not evaluated
    on either side; an all-zeros address matches an all-zeros address of any
    length; an empty request (the general address) is answered by every meter.
    A meter without an address answers only the general address.
    """
    if not requested:
        return True
    if not own:
        return False
    return requested.lstrip("0") == own.lstrip("0")


def consecutive_addresses(start: str, count: int) -> list[str]:
    """``count`` addresses counting up from ``start``, keeping the width of its digits.

    The first address is ``start`` itself. ``"00000001"`` gives ``"00000001",
    "00000002", ...``; ``"ABC09"`` gives ``"ABC09", "ABC10", ...``; ``""`` with
    a count above 1 counts from ``"00000001"``.

    Raises:
        ConfigError: ``count`` < 1; ``start`` has no trailing digits to count
            with (count > 1); a generated address would exceed 32 characters.
    """
    if count < 1:
        raise ConfigError(f"count {count}: must be at least 1")
    if count == 1:
        return [start]
    if not start:
        start = "00000001"
    match = _TRAILING_DIGITS.match(start)
    assert match is not None  # the pattern matches every string
    prefix, digits = match.groups()
    if not digits:
        raise ConfigError(f"address {start!r}: must end in digits to count up from it")
    first = int(digits)
    width = len(digits)
    result = [f"{prefix}{first + i:0{width}d}" for i in range(count)]
    if len(result[-1]) > 32:
        raise ConfigError(f"address {result[-1]!r} would exceed 32 characters")
    return result


@dataclass(frozen=True, slots=True, kw_only=True)
class DlmsProfile:
    """The DLMS/COSEM side of a mode E or direct HDLC meter.

    Attributes:
        logical: its upper HDLC address (logical device).
        physical: its lower HDLC address (physical device).
        passwords: client SAP -> LLS password (the public client 16 needs none).
        max_info: the longest HDLC information field it sends and receives.
        block_size: GET answers longer than this go in data blocks.
        confirm: how it confirms ``ACK 2 Z 2``: ``"7E1"`` (at Z Bd, still 7E1)
            or ``"8N1"`` (already 8N1, the parity bit set by hand; same bytes
            for a 7E1 receiver).
        hdlc_baud: the line rate of a direct HDLC meter.
        reaction_time_s: the wait before each HDLC answer.
        idle_timeout_s: silence after which the meter drops the link.
    """

    logical: int = 1
    physical: int = 17
    passwords: tuple[tuple[int, str], ...] = ((1, "00000000"),)
    max_info: int = 128
    block_size: int = 1024
    confirm: str = "7E1"
    hdlc_baud: int = 9600
    reaction_time_s: float = 0.02
    idle_timeout_s: float = 120.0

    def __post_init__(self) -> None:
        if self.confirm not in ("7E1", "8N1"):
            raise ConfigError(f"dlms confirm {self.confirm!r}: allowed 7E1, 8N1")
        if not (0 <= self.logical <= 0x3FFF and 0 <= self.physical <= 0x3FFF):
            raise ConfigError("dlms logical and physical addresses: 0-16383")
        if not 32 <= self.max_info <= 2030 or not 64 <= self.block_size <= 0xFFFF:
            raise ConfigError("dlms max_info 32-2030, block_size 64-65535")
        if self.hdlc_baud <= 0 or not 0 <= self.reaction_time_s <= 10:
            raise ConfigError("dlms hdlc_baud must be positive, reaction_time_s 0-10 s")


@dataclass(frozen=True, slots=True, kw_only=True)
class MeterProfile:
    """A meter model: how it identifies, answers and frames its readout.

    Attributes:
        name: short name, used by ``--profile`` and in logs.
        manufacturer: the three-letter FLAG ID (a lower-case 3rd letter means
            a 20 ms minimum reaction time).
        baud_char: the baud-rate character ``Z``; it selects mode A, B or C/E.
        identification: the rest of the identification line.
        enhanced: ``\\W`` escape pairs sent after ``Z``, e.g. ``"\\\\2"``.
        address: device address (up to 32 of ``0-9A-Za-z`` and space; ``""``:
            the meter answers only the general address).
        mode: ``ProtocolMode.D`` for a push meter; ``None`` derives the mode
            from ``baud_char`` (A, B, C, or E with ``\\2``).
        reaction_time_s: tr before every answer; ``None``: 0.2 s, or 0.02 s
            when the 3rd manufacturer letter is lower case.
        option_select_wait_s: tt, how long a mode C meter waits for the option
            select after its identification before the 300 Bd readout.
        bcc_method: XOR (the standard) or SUM7.
        framed: ``STX ... ETX BCC`` around the readout; ``False`` sends the
            bare data block (no STX, ETX or BCC).
        glued_end: put ``!`` right after the last data line instead of on a
            line of its own.
        line_end: ``"\\r\\n"`` or ``"\\n"`` (LF-only meters).
        lines: the data lines exactly as the meter prints them, without line ends.
        lines_source: when set, gives the data lines at each readout instead of
            :attr:`lines` (a meter whose registers move with a clock a test sets:
            :mod:`obisgate.simulator.clocked`); :attr:`lines` still names its
            registers for programming mode and DLMS.
        nak_repeats: how many NAKs after a readout the meter answers with a
            repeat of the readout.
        nak_window_s: how long after the end of the readout a NAK is accepted.
        push_interval_s: mode D: seconds between pushes (the first goes out
            when the line opens); ``None`` pushes once per connection.
        request_starts: accepted request starts (``"/?"`` plus manufacturer
            variants such as ``"/#"`` and ``"/2"``).
        description: one line for ``--list-profiles``.
        programming: a ``obisgate.simulator.programming_meter.ProgrammingProfile``
            enabling programming mode (option select Y = 1), or ``None``.
        faults: fault names (see :mod:`obisgate.simulator.faults`) of this
            meter alone, added to the simulator's: one bad meter on a bus.
        dlms: the DLMS/COSEM server of a mode E (``\\2``) or direct HDLC
            (``mode`` HDLC) meter, serving :attr:`lines` as COSEM objects.
        lists: ``(request start, addresses)``: a request with that start (``/2!``)
            is answered with only the data lines of those addresses (in the order
            of :attr:`lines`) instead of the whole readout; the start must be one of
            :attr:`request_starts`.
    """

    name: str
    manufacturer: str
    baud_char: str
    identification: str
    enhanced: str = ""
    address: str = ""
    mode: ProtocolMode | None = None
    reaction_time_s: float | None = None
    option_select_wait_s: float = 1.8
    bcc_method: BccMethod = BccMethod.XOR
    framed: bool = True
    glued_end: bool = False
    line_end: str = "\r\n"
    lines: tuple[str, ...] = ()
    nak_repeats: int = 3
    nak_window_s: float = 1.5
    push_interval_s: float | None = 10.0
    request_starts: tuple[str, ...] = DEFAULT_REQUEST_STARTS
    description: str = ""
    programming: Any | None = None
    faults: tuple[str, ...] = ()
    dlms: DlmsProfile | None = None
    lists: tuple[tuple[str, tuple[str, ...]], ...] = ()
    lines_source: Callable[[], tuple[str, ...]] | None = None

    def __post_init__(self) -> None:
        where = f"profile {self.name!r}"
        Faults.from_names(self.faults)
        if len(self.manufacturer) != 3 or not _printable(self.manufacturer, "/!\\"):
            raise ConfigError(f"{where}: manufacturer must be 3 printable characters")
        if len(self.baud_char) != 1 or not _printable(self.baud_char, "/!\\"):
            raise ConfigError(f"{where}: baud character must be 1 printable character")
        if not _printable(self.identification, "/!"):
            raise ConfigError(f"{where}: identification must be printable, without '/' or '!'")
        if self.enhanced and not re.fullmatch(r"(\\[^/!\\\r\n])+", self.enhanced):
            raise ConfigError(f"{where}: enhanced must be pairs like '\\2'")
        if not _ADDRESS.fullmatch(self.address):
            raise ConfigError(
                f"{where}: address {self.address!r}: up to 32 characters 0-9, A-Z, a-z, space"
            )
        if self.mode is ProtocolMode.HDLC and self.dlms is None:
            raise ConfigError(f"{where}: a direct HDLC meter needs its dlms settings")
        if self.mode is ProtocolMode.D and self.baud_char != "3":
            raise ConfigError(f"{where}: a mode D meter identifies with baud character '3'")
        mode = self.protocol_mode
        if mode in (ProtocolMode.B, ProtocolMode.C, ProtocolMode.E):
            table = MODE_B_BAUD if mode is ProtocolMode.B else MODE_C_BAUD
            if self.baud_char not in table:
                raise ConfigError(
                    f"{where}: baud character {self.baud_char!r} is not a mode "
                    f"{mode.value} character (reserved or unknown rate)"
                )
        if self.line_end not in _LINE_ENDS:
            raise ConfigError(f"{where}: line_end must be CR LF or LF")
        for line in self.lines:
            if "!" in line or "\r" in line or "\n" in line:
                raise ConfigError(f"{where}: data line {line[:40]!r} contains '!' or a line end")
        if self.reaction_time_s is not None and not 0.0 <= self.reaction_time_s <= 10.0:
            raise ConfigError(f"{where}: reaction time must be 0-10 s")
        if not 0.0 < self.option_select_wait_s <= 60.0:
            raise ConfigError(f"{where}: option select wait (tt) must be 0-60 s")
        if self.nak_repeats < 0 or self.nak_window_s < 0:
            raise ConfigError(f"{where}: nak_repeats and nak_window_s must not be negative")
        if self.push_interval_s is not None and self.push_interval_s <= 0:
            raise ConfigError(f"{where}: push interval must be positive")
        for start in self.request_starts:
            if len(start) != 2 or start[0] != "/" or start[1] in "/!\r\n":
                raise ConfigError(f"{where}: request start {start!r} must be '/' and one character")
        for start, addresses in self.lists:
            if start not in self.request_starts or start == "/?":
                raise ConfigError(
                    f"{where}: list {start!r} must be one of the request starts other than /?"
                )
            if not addresses:
                raise ConfigError(f"{where}: list {start!r} names no address")

    # -- derived properties ---------------------------------------------------

    @property
    def ident(self) -> Identification:
        """The identification as the protocol core models it."""
        return Identification(self.manufacturer, self.baud_char, self.enhanced, self.identification)

    @property
    def protocol_mode(self) -> ProtocolMode:
        """The mode the meter runs: ``mode`` if set, else what ``baud_char`` announces."""
        return self.mode if self.mode is not None else self.ident.mode

    @property
    def reaction_time(self) -> float:
        """tr in seconds: the configured value or the identification's minimum."""
        if self.reaction_time_s is not None:
            return self.reaction_time_s
        return self.ident.reaction_time_min_s

    @property
    def initial_baud(self) -> int:
        """The rate the meter listens and identifies at (2400 in mode D, the HDLC
        rate of a direct HDLC meter, else 300)."""
        mode = self.protocol_mode
        if mode is ProtocolMode.HDLC and self.dlms is not None:
            return self.dlms.hdlc_baud
        return MODE_D_BAUD if mode is ProtocolMode.D else INITIAL_BAUD

    @property
    def switch_baud(self) -> int:
        """The rate the meter switches to (mode B/C/E), or its initial rate."""
        mode = self.protocol_mode
        if mode is ProtocolMode.B:
            return MODE_B_BAUD[self.baud_char]
        if mode in (ProtocolMode.C, ProtocolMode.E):
            return MODE_C_BAUD.get(self.baud_char, INITIAL_BAUD)
        return self.initial_baud

    @property
    def datasets(self) -> list[DataSet]:
        """The data sets of :attr:`lines`, parsed as a client would."""
        return parse_data_block("\r\n".join(self.lines))[0]

    # -- encoders -------------------------------------------------------------

    def identification_message(self) -> bytes:
        """``/XXXZ[\\W]ident CR LF``, as sent (always CR LF, as the standard requires)."""
        return self.ident.to_bytes()

    def lines_for(self, request_start: str = "/?") -> tuple[str, ...]:
        """The data lines a request with ``request_start`` gets now (from
        :attr:`lines_source` when set): a list's lines (see :attr:`lists`), else every
        line."""
        lines = self.lines if self.lines_source is None else self.lines_source()
        for start, addresses in self.lists:
            if start == request_start:
                wanted = frozenset(addresses)
                return tuple(line for line in lines if _address(line) in wanted)
        return lines

    def data_block(self, request_start: str = "/?") -> bytes:
        """The data lines (now) with line ends and the ``! <line end>`` terminator (only
        a list's lines for a list's ``request_start``)."""
        end = self.line_end
        lines = self.lines_for(request_start)
        if self.glued_end and lines:
            text = end.join(lines) + "!" + end
        else:
            text = "".join(line + end for line in lines) + "!" + end
        return text.encode("latin-1")

    def data_message(self, *, corrupt_bcc: bool = False, request_start: str = "/?") -> bytes:
        """The readout data message: ``STX block ETX BCC``, or the bare block if unframed.

        Args:
            corrupt_bcc: send a wrong BCC (fault injection); no effect when unframed.
            request_start: the request's start: a list's start sends only its lines.
        """
        block = self.data_block(request_start)
        if not self.framed:
            return block
        message = data_message(block.decode("latin-1"), bcc_method=self.bcc_method)
        if corrupt_bcc:
            message = message[:-1] + bytes((message[-1] ^ 0x01,))
        return message

    def push_message(self) -> bytes:
        """Mode D: ``/XXX3ident CR LF CR LF data ! CR LF``."""
        return self.identification_message() + self.line_end.encode() + self.data_message()

    # -- variants -------------------------------------------------------------

    def replace(self, **changes: Any) -> MeterProfile:
        """A copy with ``changes`` applied (validated again).

        Raises:
            ConfigError: a changed value is invalid.
            TypeError: an unknown field name.
        """
        return dataclasses.replace(self, **changes)

    def clones(self, count: int, first_address: str | None = None) -> list[MeterProfile]:
        """``count`` copies with consecutive addresses from ``first_address``.

        Args:
            count: how many meters.
            first_address: the first address; ``None`` starts at this profile's.

        Raises:
            ConfigError: ``count`` < 1, or an address would exceed 32 characters.
        """
        start = self.address if first_address is None else first_address
        if count == 1 and first_address is None:
            return [self]
        return [self.replace(address=a) for a in consecutive_addresses(start, count)]


def _address(line: str) -> str:
    """The address of a data line (the text before its first bracket)."""
    return line.partition("(")[0]


def _printable(text: str, banned: str) -> bool:
    return all(0x20 <= ord(c) < 0x7F and c not in banned for c in text)
