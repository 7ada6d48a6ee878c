"""Control characters and baud-rate identification tables of IEC 62056-21."""

from __future__ import annotations

from typing import Final

SOH: Final = 0x01
STX: Final = 0x02
ETX: Final = 0x03
EOT: Final = 0x04
ACK: Final = 0x06
NAK: Final = 0x15
LF: Final = 0x0A
CR: Final = 0x0D
CRLF: Final = b"\r\n"

#: Mode C/E baud characters (option select and identification).
MODE_C_BAUD: Final[dict[str, int]] = {
    "0": 300,
    "1": 600,
    "2": 1200,
    "3": 2400,
    "4": 4800,
    "5": 9600,
    "6": 19200,
}
#: Mode B baud characters (switch without acknowledgement).
MODE_B_BAUD: Final[dict[str, int]] = {
    "A": 600,
    "B": 1200,
    "C": 2400,
    "D": 4800,
    "E": 9600,
    "F": 19200,
}
BAUD_TO_MODE_C_CHAR: Final[dict[int, str]] = {b: c for c, b in MODE_C_BAUD.items()}

INITIAL_BAUD: Final = 300
MODE_D_BAUD: Final = 2400

#: Reaction-time minimum (tr) of meters with an upper- / lower-case 3rd letter.
REACTION_TIME_MIN_S: Final = 0.2
FAST_REACTION_TIME_MIN_S: Final = 0.02
#: Inter-character limit (ta).
INTER_CHAR_MAX_S: Final = 1.5
#: Longest a mode C meter waits for the option select before a 300 Bd readout (tt).
OPTION_SELECT_WAIT_MAX_S: Final = 2.2

#: Bits on the wire per character (start + 7 data + parity + stop).
BITS_PER_CHAR: Final = 10

#: Masks bit 7 of every byte: 7E1 characters carried over an 8N1 link.
MASK_7BIT: Final = bytes(b & 0x7F for b in range(256))


def wire_time_s(nbytes: int, baud: int) -> float:
    """Time ``nbytes`` characters take on the line at ``baud`` (10 bits each)."""
    return nbytes * BITS_PER_CHAR / baud


def add_even_parity(data: bytes) -> bytes:
    """Set bit 7 of each byte so that every byte has even parity (software 7E1)."""
    return data.translate(_EVEN_PARITY)


_EVEN_PARITY: Final = bytes(
    (b & 0x7F) | (0x80 if bin(b & 0x7F).count("1") % 2 else 0) for b in range(256)
)
