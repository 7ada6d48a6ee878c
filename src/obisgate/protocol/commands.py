"""Programming-mode messages in both directions: encoders and a frame splitter.

Messages (docs/iec62056-21.md §3.6-3.8)::

    SOH C D STX data-set ETX BCC     command (HHU -> meter; also the meter's P0)
    SOH C D STX data-set EOT BCC     command, partial block (more follow)
    SOH B 0 ETX BCC                  break (either direction; no STX, no data set)
    STX data-block ETX BCC           data answer (meter -> HHU), or error ``(ERnn)``
    STX data-block EOT BCC           partial data answer: the HHU acknowledges it
    ACK | NAK                        single bytes

The BCC covers every byte after the first SOH or STX up to and including ETX
or EOT; the byte after ETX/EOT is the BCC whatever its value (it may be 0x02,
0x03 or 0x04). Everything here is pure: no I/O, no clock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from obisgate.errors import ConfigError, FramingError
from obisgate.protocol.bcc import BccMethod, compute_bcc
from obisgate.protocol.chars import ACK, EOT, ETX, MASK_7BIT, NAK, STX
from obisgate.protocol.dataset import DataSet, parse_data_block

__all__ = [
    "BREAK",
    "MASK",
    "SOH",
    "Frame",
    "FrameKind",
    "break_message",
    "command_message",
    "data_message",
    "error_message",
    "error_text",
    "execute_message",
    "extract_frame",
    "format_profile_time",
    "masked_password_message",
    "password_message",
    "profile_range",
    "profile_request",
    "read_message",
    "split_command_data",
    "write_messages",
]

SOH = 0x01

#: Command identifiers (``C``) and the types (``D``) this module encodes.
_COMMAND = re.compile(r"[PWREB][0-9]")
#: Characters a value or address of a data set must not contain.
_BANNED_IN_VALUE = frozenset("()*/!")
_BANNED_IN_ADDRESS = frozenset("()/!")
#: Bytes skipped between messages (line noise, CR LF some meters append).
_SKIP_BETWEEN = frozenset(b"\r\n\x00\x7f")

#: Mask used where a password would be shown.
MASK = "********"


class FrameKind(StrEnum):
    """What a received programming-mode message is."""

    ACK = "ack"
    NAK = "nak"
    COMMAND = "command"
    """``SOH C D [STX data] ETX|EOT BCC``: a command, P0, or a break ``B0``."""
    DATA = "data"
    """``STX data ETX|EOT BCC``: a data or error answer."""


@dataclass(frozen=True, slots=True)
class Frame:
    """One received programming-mode message.

    Attributes:
        kind: ACK, NAK, command or data.
        command: for a command frame, its two characters (``"P0"``, ``"B0"``,
            ``"R1"``...); ``""`` otherwise.
        data: the text between STX and ETX/EOT (``None`` when the command has
            no STX, and for ACK/NAK).
        partial: the message ended with EOT (a partial block; more follow).
        bcc: the BCC byte received (``None`` for ACK/NAK).
        expected_bcc: the BCC computed over the received block.
        raw: the message bytes as received (bit 7 cleared).
    """

    kind: FrameKind
    command: str = ""
    data: str | None = None
    partial: bool = False
    bcc: int | None = None
    expected_bcc: int | None = None
    raw: bytes = b""

    @property
    def bcc_ok(self) -> bool:
        """True when the BCC matches (always true for ACK and NAK)."""
        return self.bcc == self.expected_bcc

    @property
    def is_break(self) -> bool:
        """True for ``SOH B0 ETX BCC`` (also accepts ``B1``)."""
        return self.kind is FrameKind.COMMAND and self.command in ("B0", "B1")


BREAK = b"\x01B0\x03q"
"""The complete-sign-off / break message ``SOH B0 ETX BCC`` (XOR BCC)."""


def _check_command(command: str) -> None:
    if not _COMMAND.fullmatch(command):
        raise ConfigError(f"command {command!r}: a letter P, W, R, E or B followed by a digit")


def _frame(start: int, body: bytes, terminator: int, method: BccMethod) -> bytes:
    block = body + bytes((terminator,))
    return bytes((start,)) + block + bytes((compute_bcc(block, method),))


def command_message(
    command: str,
    data: str | None = None,
    *,
    partial: bool = False,
    bcc_method: BccMethod = BccMethod.XOR,
) -> bytes:
    """Encode ``SOH C D [STX data] ETX|EOT BCC``.

    Args:
        command: identifier and type, e.g. ``"R1"``, ``"P1"``, ``"B0"``.
        data: the data set text (``address(value)``); ``None`` omits STX.
        partial: end with EOT (a partial block) instead of ETX.
        bcc_method: XOR (standard) or SUM7.

    Raises:
        ConfigError: the command is not ``[PWREB][0-9]`` or data is not ASCII.
    """
    _check_command(command)
    body = command.encode("ascii")
    if data is not None:
        try:
            body += bytes((STX,)) + data.encode("ascii")
        except UnicodeEncodeError:
            raise ConfigError("command data must be ASCII") from None
    return _frame(SOH, body, EOT if partial else ETX, bcc_method)


def break_message(command: str = "B0", *, bcc_method: BccMethod = BccMethod.XOR) -> bytes:
    """Encode the break / sign-off ``SOH B0 ETX BCC`` (``B1`` for fast wake-up devices)."""
    if command not in ("B0", "B1"):
        raise ConfigError(f"break command {command!r}: B0 or B1")
    return command_message(command, bcc_method=bcc_method)


def _check_value(text: str, what: str) -> None:
    bad = sorted(set(text) & _BANNED_IN_VALUE)
    if bad:
        raise ConfigError(f"{what} must not contain {' '.join(bad)}")
    if any(not 0x20 <= ord(c) < 0x7F for c in text):
        raise ConfigError(f"{what} must be printable ASCII")


def _check_address(address: str) -> None:
    bad = sorted(set(address) & _BANNED_IN_ADDRESS)
    if bad or any(not 0x20 < ord(c) < 0x7F for c in address):
        raise ConfigError(f"register address {address!r}: printable ASCII without spaces, ( ) / !")


def password_message(
    command: str, password: str, *, bcc_method: BccMethod = BccMethod.XOR
) -> bytes:
    """Encode ``SOH P1|P2 STX (password) ETX BCC``.

    Raises:
        ConfigError: not P1/P2, or the password holds a character a data set
            cannot carry (the message does not repeat the password).
    """
    if command not in ("P1", "P2"):
        raise ConfigError(f"password command {command!r}: P1 or P2")
    if set(password) & _BANNED_IN_VALUE or any(not 0x20 <= ord(c) < 0x7F for c in password):
        # Name no character: the message must not reveal anything about the password.
        raise ConfigError("the password holds a character a password message cannot carry")
    return command_message(command, f"({password})", bcc_method=bcc_method)


def masked_password_message(command: str, *, bcc_method: BccMethod = BccMethod.XOR) -> bytes:
    """What traces show for a password message: ``(********)`` with its own BCC.

    The BCC is computed over the mask, so the shown frame reveals neither the
    password, its length, nor the XOR of its characters.
    """
    return command_message(command, f"({MASK})", bcc_method=bcc_method)


def read_message(
    address: str,
    value: str = "",
    *,
    command: str = "R1",
    bcc_method: BccMethod = BccMethod.XOR,
) -> bytes:
    """Encode a read ``SOH R1 STX address(value) ETX BCC``.

    Args:
        address: register address (OBIS code, memory address, ``P.01``...).
        value: what goes in the brackets: ``""`` for registers, the number of
            locations for data strings, ``from;to`` for load profiles.
        command: ``R1`` ... ``R6``.

    Raises:
        ConfigError: not a read command, or a banned character.
    """
    if not command.startswith("R"):
        raise ConfigError(f"read command {command!r}: R1, R2, R3, R4, R5 or R6")
    _check_address(address)
    _check_value(value, "the read argument")
    return command_message(command, f"{address}({value})", bcc_method=bcc_method)


def write_messages(
    address: str,
    value: str,
    *,
    command: str = "W1",
    block_size: int = 0,
    bcc_method: BccMethod = BccMethod.XOR,
) -> list[bytes]:
    """Encode a write ``SOH W1 STX address(value) ETX BCC``, maybe in partial blocks.

    With ``block_size`` > 0 and a longer value, the value is cut into pieces of
    at most ``block_size`` characters: the first message carries the address,
    later ones ``(data)`` only; all but the last end with EOT (§6.4).

    Raises:
        ConfigError: not a write command, or a banned character.
    """
    if not command.startswith("W"):
        raise ConfigError(f"write command {command!r}: W1, W2, W3, W4 or W5")
    _check_address(address)
    _check_value(value, "the value")
    if block_size <= 0 or len(value) <= block_size:
        return [command_message(command, f"{address}({value})", bcc_method=bcc_method)]
    pieces = [value[i : i + block_size] for i in range(0, len(value), block_size)]
    messages = []
    for i, piece in enumerate(pieces):
        prefix = address if i == 0 else ""
        messages.append(
            command_message(
                command,
                f"{prefix}({piece})",
                partial=i < len(pieces) - 1,
                bcc_method=bcc_method,
            )
        )
    return messages


def execute_message(
    code: str,
    value: str = "",
    *,
    command: str = "E2",
    bcc_method: BccMethod = BccMethod.XOR,
) -> bytes:
    """Encode an execute ``SOH E2 STX code(value) ETX BCC``.

    Raises:
        ConfigError: not an execute command, or a banned character.
    """
    if not command.startswith("E"):
        raise ConfigError(f"execute command {command!r}: E1 or E2")
    _check_address(code)
    _check_value(value, "the execute argument")
    return command_message(command, f"{code}({value})", bcc_method=bcc_method)


def data_message(
    block: str, *, partial: bool = False, bcc_method: BccMethod = BccMethod.XOR
) -> bytes:
    """Encode a meter answer ``STX data-block ETX|EOT BCC`` (no ``!`` CR LF)."""
    return _frame(STX, block.encode("latin-1"), EOT if partial else ETX, bcc_method)


def error_message(text: str, *, bcc_method: BccMethod = BccMethod.XOR) -> bytes:
    """Encode a meter error answer ``STX (text) ETX BCC``, e.g. ``(ER04)``."""
    return data_message(f"({text})", bcc_method=bcc_method)


def error_text(block: str) -> str | None:
    """Return the error text if a data answer is an error message, else ``None``.

    An answer is an error when it is a single data set with one value group,
    no unit, and a value starting with ``ER`` (the standard's recommendation,
    which ``(ERnn)``, ``(ERROR)`` and ``(ERRORnn)`` all follow).
    """
    datasets, unparsed = parse_data_block(block)
    if len(datasets) != 1 or unparsed:
        return None
    values = datasets[0].values
    if len(values) != 1 or values[0].unit is not None:
        return None
    text = values[0].value.strip()
    return text if text.startswith("ER") else None


def split_command_data(data: str) -> tuple[str, str]:
    """Split a command's data set ``address(value)`` into address and value.

    Raises:
        FramingError: the text is not exactly one ``address(value)``.
    """
    datasets, unparsed = parse_data_block(data)
    if len(datasets) != 1 or unparsed or len(datasets[0].values) != 1:
        raise FramingError("command data is not one data set address(value)")
    ds: DataSet = datasets[0]
    return ds.address, ds.values[0].raw


def extract_frame(
    buf: bytearray,
    *,
    bcc_method: BccMethod = BccMethod.XOR,
    max_bytes: int = 1 << 20,
) -> Frame | None:
    """Take one complete message from the front of ``buf`` (consumed bytes are removed).

    CR, LF, NUL and DEL before a message are dropped. Bit 7 of every byte is
    cleared. A framed message ends at the first ETX or EOT after its start, and
    the byte after that is its BCC.

    Args:
        buf: received bytes; the message and anything before it is deleted.
        bcc_method: how the expected BCC is computed.
        max_bytes: longest message accepted.

    Returns:
        The frame, or ``None`` when ``buf`` does not yet hold a complete one.

    Raises:
        FramingError: a byte that cannot start a message (the offending bytes
            up to the next SOH/STX/ACK/NAK are removed first), or a message
            longer than ``max_bytes``.
    """
    buf[:] = buf.translate(MASK_7BIT)
    start = 0
    n = len(buf)
    while start < n and buf[start] in _SKIP_BETWEEN:
        start += 1
    if start:
        del buf[:start]
        n = len(buf)
    if not n:
        return None
    first = buf[0]
    if first in (ACK, NAK):
        del buf[:1]
        return Frame(FrameKind.ACK if first == ACK else FrameKind.NAK, raw=bytes((first,)))
    if first not in (SOH, STX):
        junk = 1
        while junk < n and buf[junk] not in (SOH, STX, ACK, NAK):
            junk += 1
        del buf[:junk]
        raise FramingError(f"unexpected byte 0x{first:02X} in programming mode")
    etx = buf.find(ETX, 1)
    eot = buf.find(EOT, 1, etx if etx >= 0 else n)
    term = eot if eot >= 0 else etx
    if term < 0 or term + 1 >= n:
        if n > max_bytes:
            del buf[:]
            raise FramingError(f"programming-mode message exceeds {max_bytes} bytes")
        return None
    raw = bytes(buf[: term + 2])
    del buf[: term + 2]
    block = raw[1 : term + 1]
    bcc = raw[term + 1]
    expected = compute_bcc(block, bcc_method)
    partial = raw[term] == EOT
    if first == STX:
        return Frame(
            FrameKind.DATA,
            data=block[:-1].decode("latin-1"),
            partial=partial,
            bcc=bcc,
            expected_bcc=expected,
            raw=raw,
        )
    command = block[:2].decode("latin-1")
    rest = block[2:-1]
    data: str | None = None
    if rest[:1] == bytes((STX,)):
        data = rest[1:].decode("latin-1")
    elif rest:
        data = rest.decode("latin-1")  # malformed: text without STX; keep it visible
        expected = -1  # never valid
    if len(command) < 2:
        expected = -1
    return Frame(
        FrameKind.COMMAND,
        command=command,
        data=data,
        partial=partial,
        bcc=bcc,
        expected_bcc=expected,
        raw=raw,
    )


def format_profile_time(moment: datetime | None, season: str = "0") -> str:
    """Encode a load-profile bound ``ZYYMMDDhhmm`` (11 characters; §9.4).

    Args:
        moment: the time (naive, meter local time); ``None`` gives ``""`` (open).
        season: the leading season / time-zone flag (``"0"`` normal time).
    """
    if moment is None:
        return ""
    return f"{season}{moment:%y%m%d%H%M}"


def profile_request(
    profile: str = "P.01",
    start: datetime | None = None,
    end: datetime | None = None,
    *,
    command: str = "R5",
    season: str = "0",
    bcc_method: BccMethod = BccMethod.XOR,
) -> bytes:
    """Encode a VDEW load-profile read ``SOH R5 STX P.01(from;to) ETX BCC``."""
    value = profile_range(start, end, season)
    return read_message(profile, value, command=command, bcc_method=bcc_method)


def profile_range(start: datetime | None, end: datetime | None, season: str = "0") -> str:
    """The bracket content of a load-profile read: ``from;to`` (either may be open)."""
    return f"{format_profile_time(start, season)};{format_profile_time(end, season)}"
